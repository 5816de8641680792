//! Literals a policy compares with what no request can be are refused
//! where they are written: `policy check` and the start name a method in
//! lower case or a host in upper case by file, line and column with the
//! fix; `serve --check` names each `Provider::"…"` the Gateway does not
//! list, and the nearest it does.

mod common;

use std::process::{Command, Stdio};

use common::served::{command, free_port, policy_file};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider};

#[test]
fn a_method_in_lower_case_or_a_host_in_upper_case_is_refused_where_it_is_written() {
    let text = "permit (principal, action, resource);\n\
                forbid (principal, action == Action::\"call\", resource) when { context.method == \"delete\" };\n\
                forbid (principal, action == Action::\"call\", resource)\n  when { context.host like \"*.GitHub.com\" };\n";
    let (_dir, file) = policy_file(text);
    let program = || Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
    let checked = program().args(["policy", "check", &file]).output().unwrap();
    let said = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(2), "{said}");
    assert!(
        said.contains(&format!("{file}:2:")) && said.contains("write \"DELETE\""),
        "{said}"
    );
    assert!(
        said.contains(&format!("{file}:4:")) && said.contains("write \"*.github.com\""),
        "{said}"
    );
    let gateway = FakeGateway::start();
    let started = common::server(&gateway, &["--policy", &file])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&started.stderr);
    assert!(
        !started.status.success() && said.contains(&format!("{file}:2:")),
        "{said}"
    );
    // The explanation agrees: such a file decides nothing.
    let explained = program()
        .args(["policy", "explain", "--policy", &file, "--person", "p"])
        .args([
            "--provider",
            "github",
            "--method",
            "DELETE",
            "--url",
            "https://api.github.com/x",
        ])
        .output()
        .unwrap();
    assert!(!explained.status.success(), "{explained:?}");
}

#[test]
fn a_host_or_path_literal_that_normalising_would_change_is_refused_at_its_place_with_its_fix() {
    let text = "permit (principal, action, resource);\n\
                forbid (principal, action == Action::\"call\", resource) when { context.host == \"api.github.com.\" };\n\
                forbid (principal, action == Action::\"call\", resource) when { context.path like \"/repos/acme/../secret/*\" };\n\
                forbid (principal, action == Action::\"call\", resource) when { context.path == \"repos/acme/x\" };\n\
                forbid (principal, action == Action::\"call\", resource)\n  when { [\"/a%2fb\", \"/ok\"].contains(context.path) };\n\
                forbid (principal, action == Action::\"call\", resource) when { context.path like \"/repos/acme;v=1/*\" };\n\
                forbid (principal, action == Action::\"call\", resource) when { context.path like \"api.github.com/repos/*\" };\n\
                forbid (principal, action == Action::\"call\", resource) when { context.path like \"//api.github.com/repos/*\" };\n\
                forbid (principal, action == Action::\"call\", resource) when { context.path like \"HTTPS://api.github.com/repos/*\" };\n";
    let (_dir, file) = policy_file(text);
    let program = || Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
    let checked = program().args(["policy", "check", &file]).output().unwrap();
    let said = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(2), "{said}");
    for (place, fix) in [
        (":2:", "write \"api.github.com\""),
        (":3:", "write \"/repos/secret/*\""),
        (":4:", "write \"/repos/acme/x\""),
        (":6:", "write \"/a/b\""),
        (":7:", "write \"/repos/acme/*\""),
        // A URL where a path goes, with or without its scheme: its path.
        (":8:", "write \"/repos/*\""),
        (":9:", "write \"/repos/*\""),
        (":10:", "write \"/repos/*\""),
    ] {
        let line = said.lines().find(|l| l.contains(&format!("{file}{place}")));
        assert!(
            line.is_some_and(|l| l.contains(fix)),
            "{place} {fix}: {said}"
        );
    }
    assert!(!said.contains("\"/ok\""), "{said}");
    // Written as its fixes say, the same file holds.
    let fixed = "permit (principal, action, resource);\n\
                 forbid (principal, action == Action::\"call\", resource) when { context.host == \"api.github.com\" };\n\
                 forbid (principal, action == Action::\"call\", resource) when { context.path like \"/repos/secret/*\" };\n\
                 forbid (principal, action == Action::\"call\", resource) when { context.path == \"/repos/acme/x\" };\n";
    let (_dir, file) = policy_file(fixed);
    let checked = program().args(["policy", "check", &file]).output().unwrap();
    assert!(checked.status.success(), "{checked:?}");
}

#[test]
fn serve_check_names_a_provider_the_gateway_does_not_list_and_the_nearest_it_does() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x"));
    gateway.add_provider("ws-1", "stripe", FakeProvider::oauth2("sk_x"));
    let issuer = FakeIssuer::start();
    let checking = |text: &str| {
        let (_dir, file) = policy_file(text);
        let args = ["--policy", &file, "--check"];
        let out = command(&gateway, &issuer.url(), free_port(), &args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let named = "permit (principal, action, resource == Provider::\"GitHub\");\n\
                 forbid (principal, action, resource) when { resource == Provider::\"strip\" };\n";
    let (code, said) = checking(named);
    assert_eq!(code, Some(2), "{said}");
    for (named, nearest) in [("GitHub", "github"), ("strip", "stripe")] {
        let line = said
            .lines()
            .find(|l| l.contains(&format!("Provider::\"{named}\"")));
        assert!(
            line.is_some_and(|l| l.contains(&format!("the nearest it lists is \"{nearest}\""))),
            "{named}: {said}"
        );
    }
    let listed = "permit (principal, action, resource == Provider::\"github\");\n";
    let (code, said) = checking(listed);
    assert!(
        code == Some(0) && said.contains("the configuration holds"),
        "{said}"
    );
}

#[test]
fn a_github_path_is_decided_whatever_its_case_and_a_literal_in_upper_case_refused() {
    let program = || Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
    let text = "permit (principal, action, resource);\n\
                @id(\"contoso's repositories are not deleted\")\n\
                forbid (principal, action == Action::\"call\", resource == Provider::\"github\")\n  \
                when { context.method == \"DELETE\" && context.path like \"/repos/contoso/*\" };\n";
    let (_dir, file) = policy_file(text);
    let checked = program().args(["policy", "check", &file]).output().unwrap();
    let said = String::from_utf8_lossy(&checked.stderr);
    assert!(
        checked.status.success() && said.contains("github reads parts of a path in any case"),
        "{said}"
    );
    for url in [
        "https://api.github.com/repos/Contoso/api",
        "https://api.github.com/repos/CONTOSO/API",
    ] {
        let explained = program()
            .args([
                "policy",
                "explain",
                "--policy",
                &file,
                "--provider",
                "github",
                "--person",
                "alice",
            ])
            .args(["--method", "DELETE", "--url", url])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&explained.stdout);
        assert_eq!(explained.status.code(), Some(1), "{url}: {said}");
        assert!(said.starts_with("denied"), "{url}: {said}");
    }
    // A literal that can never match the path as GitHub serves it: refused, its fix named.
    let upper = text.replace("/repos/contoso/*", "/repos/Contoso/*");
    let (_dir, file) = policy_file(&upper);
    let checked = program().args(["policy", "check", &file]).output().unwrap();
    let said = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(2), "{said}");
    assert!(
        said.contains(&format!("{file}:4:")) && said.contains("write \"/repos/contoso/*\""),
        "{said}"
    );
}
