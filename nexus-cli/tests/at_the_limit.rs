//! `nexus` at the Gateway's rate limit and at its edges: a 429 is waited
//! out within `--timeout` (at least its `Retry-After`, backing off, with
//! jitter), or refused at once saying how long it asked and which setting
//! would have waited; a fleet of processes beyond the burst all succeed
//! with a bounded number of resolves; git's `protocol` in any case; a
//! provider the Gateway does not list named with those it does; `--host`
//! as `host[:port]` only.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{gateway, git_get, nexus, run, run_with_input};
use nexus_gateway_fake::{FakeGateway, RateLimits, Route};

fn token(gateway: &FakeGateway, args: &[&str]) -> Command {
    let mut command = nexus(gateway);
    command.args(["token", "ws", "github"]).args(args);
    command
}

fn limits(resolve_rpm: i64, minute: Duration) -> RateLimits {
    RateLimits {
        enabled: true,
        resolve_rpm,
        minute,
        ..RateLimits::default()
    }
}

#[test]
fn a_429_is_waited_out_within_the_timeout_or_refused_at_once_saying_so() {
    let gateway = gateway();
    // A burst of one, then one a second: a minute shortened to 1 s, so the
    // wait is a second or two here.
    gateway.set_rate_limits(limits(1, Duration::from_secs(1)));
    let mut notes = 0;
    for _ in 0..3 {
        let (code, out, err) = run(&mut token(&gateway, &[]));
        assert_eq!((code, out.trim()), (0, "gho_cli"), "{err}");
        // The library's wait reaches stderr as one note per wait.
        notes += err
            .lines()
            .filter(|l| l.contains("trying again in"))
            .count();
    }
    assert!(notes >= 2, "a note on stderr for each wait: {notes}");
    // One every 10 minutes: longer than a 2 s --timeout leaves. Refused at once.
    gateway.set_rate_limits(limits(1, Duration::from_secs(600)));
    let (code, _, _) = run(&mut token(&gateway, &[]));
    assert_eq!(code, 0, "the burst");
    let before = gateway.requests(Route::Resolve);
    let (code, out, err) = run(&mut token(&gateway, &["--timeout", "2s"]));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("rate limit") && err.contains("must wait 600 s") && err.contains("2.0 s left"),
        "{err}"
    );
    assert!(
        err.contains("--timeout"),
        "the setting that would have waited: {err}"
    );
    assert_eq!(
        gateway.requests(Route::Resolve),
        before + 1,
        "not retried in vain"
    );
}

#[test]
fn a_fleet_beyond_the_burst_all_succeed_with_bounded_resolves() {
    let gateway = gateway();
    // The Gateway's default limits: a burst of 60 resolves, then one a second.
    gateway.set_rate_limits(RateLimits {
        enabled: true,
        ..RateLimits::default()
    });
    let (fleet, started) = (70, std::time::Instant::now());
    let children: Vec<_> = (0..fleet)
        .map(|_| {
            let mut command = token(&gateway, &[]);
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            command.spawn().unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{err}");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "gho_cli");
    }
    let resolves = gateway.requests(Route::Resolve);
    // The figure docs/fleet.md gives (shown with --nocapture).
    eprintln!(
        "fleet: {fleet} processes, {resolves} resolves, {:?}",
        started.elapsed()
    );
    assert!(resolves >= fleet, "{resolves}");
    assert!(
        resolves <= 2 * fleet,
        "no retry storm: {resolves} resolves for {fleet} processes"
    );
}

#[test]
fn git_protocol_is_compared_without_regard_to_case() {
    let gateway = gateway();
    let (_, out, err) = git_get(
        &gateway,
        "github",
        &[],
        "protocol=HTTP\nhost=github.com\n\n",
    );
    assert!(out.is_empty(), "plain http to a remote host: {out}");
    assert!(err.contains("only over https"), "{err}");
    let (_, out, err) = git_get(
        &gateway,
        "github",
        &[],
        "protocol=HTTPS\nhost=github.com\n\n",
    );
    assert!(out.contains("password=gho_cli"), "{err}");
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

#[test]
fn a_provider_the_gateway_does_not_list_is_named_with_those_it_does() {
    let gateway = gateway();
    let (code, out, err) = git_get(
        &gateway,
        "githb",
        &[],
        "protocol=https\nhost=github.com\n\n",
    );
    assert_eq!(code, 0);
    assert!(out.is_empty());
    assert!(
        err.contains("the Gateway lists no provider `githb`"),
        "{err}"
    );
    assert!(err.contains("github") && !err.contains("--host"), "{err}");
    let (_, out, err) = git_get(
        &gateway,
        "GitHub",
        &[],
        "protocol=https\nhost=github.com\n\n",
    );
    assert!(
        out.contains("password=gho_cli"),
        "found as the Gateway finds it: {err}"
    );
}

#[test]
fn host_takes_host_or_host_and_port_only() {
    let gateway = gateway();
    for (bad, says) in [
        ("https://github.com", "is a URL"),
        ("github.com/org", "has a path"),
        ("bob@github.com", "has a user name"),
        ("github.com:x", "is not a host name"),
    ] {
        let (code, out, err) = git_get(&gateway, "github", &["--host", bad], "");
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(out.is_empty());
        assert!(err.contains(says), "{bad}: {err}");
    }
}

/// `git credential fill` for `url` through git's cache in front of `nexus`,
/// as the README sets them up for a CI machine, then `approve` (what git
/// does after the credential worked: the cache keeps it).
fn fill_through_cache(
    gateway: &FakeGateway,
    socket: &std::path::Path,
    url: &str,
) -> (i32, String, String) {
    let filled = git_credential(gateway, socket, "fill", &format!("url={url}\n\n"));
    if filled.0 == 0 {
        let approved = git_credential(gateway, socket, "approve", &format!("{}\n", filled.1));
        assert_eq!(approved.0, 0, "{}", approved.2);
    }
    filled
}

fn git_credential(
    gateway: &FakeGateway,
    socket: &std::path::Path,
    action: &str,
    input: &str,
) -> (i32, String, String) {
    let helper = format!(
        "!{} git-credential --workspace ws --provider github",
        env!("CARGO_BIN_EXE_nexus")
    );
    let cache = format!("cache --timeout 3600 --socket {}", socket.display());
    let mut git = Command::new("git");
    git.args(["-c", "credential.helper=", "-c"])
        .arg(format!("credential.helper={cache}"))
        .arg("-c")
        .arg(format!("credential.helper={helper}"))
        .args(["credential", action])
        .env("NEXUS_GATEWAY_URL", gateway.url())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("HOME", std::env::temp_dir());
    run_with_input(&mut git, input)
}

#[test]
fn gits_cache_in_front_keeps_the_token_until_its_expiry_and_no_longer() {
    let gateway = gateway();
    let dir = std::env::temp_dir().join(format!("nexus-git-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // git's cache refuses a socket directory others may enter.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = dir.join("socket");
    let url = "https://github.com/octo/repo.git";
    for _ in 0..3 {
        let (code, out, err) = fill_through_cache(&gateway, &socket, url);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("password=gho_cli\n"), "{out}");
    }
    assert_eq!(
        gateway.resolves("ws", "github"),
        1,
        "git's cache answered after the first"
    );
    let version = Command::new("git")
        .arg("--version")
        .output()
        .unwrap()
        .stdout;
    let version = String::from_utf8_lossy(&version).replace("git version ", "");
    let numbers: Vec<u32> = version
        .trim()
        .split('.')
        .take(2)
        .filter_map(|n| n.parse().ok())
        .collect();
    if numbers < vec![2, 41] {
        eprintln!(
            "git {version} does not read password_expiry_utc (2.41 does): expiry not checked"
        );
        let _ = Command::new("git")
            .args(["credential-cache", "--socket"])
            .arg(&socket)
            .arg("exit")
            .status();
        return;
    }
    // A token that expires within the next second: the cache does not keep it past then.
    let _ = Command::new("git")
        .args(["credential-cache", "--socket"])
        .arg(&socket)
        .arg("exit")
        .status();
    let short = nexus_gateway_fake::FakeProvider::oauth2("gho_short")
        .api_base_url("https://api.github.com");
    gateway.add_provider("ws", "github", short.expires_in(Duration::from_secs(1)));
    let (_, out, _) = fill_through_cache(&gateway, &socket, url);
    assert!(out.contains("password_expiry_utc="), "{out}");
    let expiry: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("password_expiry_utc="))
        .unwrap()
        .parse()
        .unwrap();
    let until = std::time::UNIX_EPOCH + Duration::from_secs(expiry + 1);
    while std::time::SystemTime::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = gateway.resolves("ws", "github");
    let (code, _, err) = fill_through_cache(&gateway, &socket, url);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        gateway.resolves("ws", "github"),
        before + 1,
        "expired: asked again"
    );
    let _ = Command::new("git")
        .args(["credential-cache", "--socket"])
        .arg(&socket)
        .arg("exit")
        .status();
    let _ = std::fs::remove_dir_all(&dir);
}
