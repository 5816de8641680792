//! `nexus git-credential get` answers only for the provider's own hosts
//! over https (http to a loopback host): its listed API host, that host
//! without `api.`, the hosts of its NEXUS_ALLOWED_ORIGINS and each `--host`.
//! Anything else gets nothing on stdout, exit 0, a note on stderr, and no
//! credential is resolved. A real `git credential fill` through a helper
//! set without a URL scope sends nothing to another host.

mod common;

use std::process::Command;

use common::{gateway, git_get, nexus, run_with_input};
use nexus_gateway_fake::{FakeGateway, FakeProvider};

/// `git-credential get` for github, with `args` added, asked `input`.
fn get(gateway: &FakeGateway, args: &[&str], input: &str) -> (i32, String, String) {
    git_get(gateway, "github", args, input)
}

fn asked(protocol: &str, host: &str) -> String {
    format!("protocol={protocol}\nhost={host}\n\n")
}

#[test]
fn the_providers_own_hosts_get_the_token() {
    let gateway = gateway();
    for host in [
        "github.com",
        "api.github.com",
        "GitHub.com",
        "github.com:443",
    ] {
        let (code, out, err) = get(&gateway, &[], &asked("https", host));
        assert_eq!(code, 0, "{host}: {err}");
        let (answer, expiry) = out.split_at(out.find("password_expiry_utc=").unwrap_or(0));
        assert_eq!(
            answer, "username=x-access-token\npassword=gho_cli\n",
            "{host}: {err}"
        );
        let expiry: u64 = expiry
            .trim_end()
            .trim_start_matches("password_expiry_utc=")
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        assert!(
            expiry > now.as_secs(),
            "git is told when the token expires: {out}"
        );
    }
}

#[test]
fn any_other_host_protocol_or_port_gets_nothing_and_nothing_is_resolved() {
    let gateway = gateway();
    let refused = [
        asked("https", "attacker.example"),
        asked("https", "github.com.attacker.example"),
        asked("https", "attacker.example/github.com"),
        asked("https", "gitlab.com"),
        asked("https", "github.com:8443"),
        asked("https", "x@github.com"),
        asked("http", "github.com"),
        asked("ssh", "github.com"),
        asked("", "github.com"),
        "host=github.com\n\n".to_owned(),
        String::new(),
    ];
    for input in &refused {
        let (code, out, err) = get(&gateway, &[], input);
        assert_eq!((code, out.as_str()), (0, ""), "{input:?}");
        assert!(
            err.starts_with("nexus: git-credential: not answering for ")
                && err.lines().count() == 1,
            "{input:?}: {err}"
        );
        assert!(!err.contains("gho_cli"), "{err}");
    }
    assert_eq!(
        gateway.resolves("ws", "github"),
        0,
        "no credential was resolved"
    );
    // The note says which host, which hosts are the provider's, and how to allow one.
    let (_, _, err) = get(&gateway, &[], &asked("https", "git.corp.example:8443"));
    assert!(
        err.contains("https://git.corp.example:8443")
            && err.contains("api.github.com, github.com")
            && err.contains("--host git.corp.example:8443"),
        "{err}"
    );
}

#[test]
fn a_hosts_text_is_shown_not_obeyed() {
    let gateway = gateway();
    let (code, out, err) = get(
        &gateway,
        &[],
        &asked("https", "evil\u{1b}]0;owned\u{7}.example"),
    );
    assert_eq!((code, out.as_str()), (0, ""));
    assert!(
        !err.contains('\u{1b}') && err.contains("\\u{1b}"),
        "{err:?}"
    );
}

#[test]
fn host_flags_and_allowed_origins_add_hosts() {
    let gateway = gateway();
    let (_, out, _) = get(
        &gateway,
        &["--host", "ghe.corp.example"],
        &asked("https", "ghe.corp.example"),
    );
    assert!(out.contains("password=gho_cli"), "{out}");
    let (_, out, _) = get(
        &gateway,
        &["--host", "ghe.corp.example:8443"],
        &asked("https", "ghe.corp.example:8443"),
    );
    assert!(out.contains("password=gho_cli"), "{out}");
    let (_, out, _) = get(
        &gateway,
        &["--host", "ghe.corp.example"],
        &asked("https", "ghe.corp.example:8443"),
    );
    assert!(out.is_empty(), "another port is another host");
    let mut command = nexus(&gateway);
    command
        .env(
            "NEXUS_ALLOWED_ORIGINS",
            "github=https://uploads.github.com,gitlab=https://gitlab.com",
        )
        .args([
            "git-credential",
            "--workspace",
            "ws",
            "--provider",
            "github",
            "get",
        ]);
    let (_, out, _) = run_with_input(&mut command, &asked("https", "uploads.github.com"));
    assert!(out.contains("password=gho_cli"), "{out}");
    let (_, out, _) = run_with_input(&mut command, &asked("https", "gitlab.com"));
    assert!(out.is_empty(), "another provider's origin");
}

#[test]
fn http_only_to_a_loopback_host() {
    let gateway = FakeGateway::start();
    let local = FakeProvider::oauth2("gho_local").api_base_url("http://127.0.0.1:3000");
    gateway.add_provider("ws", "github", local);
    let (_, out, err) = get(&gateway, &[], &asked("http", "127.0.0.1:3000"));
    assert!(out.contains("password=gho_local"), "{err}");
    let (_, out, _) = get(
        &gateway,
        &["--host", "localhost:3000"],
        &asked("http", "localhost:3000"),
    );
    assert!(out.contains("password=gho_local"));
    let (_, out, err) = get(
        &gateway,
        &["--host", "git.example"],
        &asked("http", "git.example"),
    );
    assert!(out.is_empty() && err.contains("only over https"), "{err}");
}

#[test]
fn an_unscoped_helper_in_a_real_git_gives_another_host_nothing() {
    let gateway = gateway();
    let helper = format!(
        "!{} git-credential --workspace ws --provider github",
        env!("CARGO_BIN_EXE_nexus")
    );
    let fill = |url: &str| {
        let mut git = Command::new("git");
        git.args(["-c", "credential.helper=", "-c"])
            .arg(format!("credential.helper={helper}"))
            .args(["credential", "fill"])
            .env("NEXUS_GATEWAY_URL", gateway.url())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("SSH_ASKPASS", "")
            .env("HOME", std::env::temp_dir());
        run_with_input(&mut git, &format!("url={url}\n\n"))
    };
    let (code, out, err) = fill("https://git.attacker.example/evil/repo.git");
    assert!(
        !out.contains("gho_cli") && !err.contains("gho_cli"),
        "{out}{err}"
    );
    assert_ne!(code, 0, "git found no credential: {err}");
    assert!(
        err.contains("not answering for https://git.attacker.example"),
        "{err}"
    );
    assert_eq!(gateway.resolves("ws", "github"), 0);
    let (code, out, err) = fill("https://github.com/octo/repo.git");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("password=gho_cli\n"), "{out}");
}
