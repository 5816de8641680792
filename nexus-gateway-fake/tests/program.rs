//! The program as a test in another language meets it: started with flags
//! and a seed, scripted over its control API. Every `curl` line of the
//! README's control-API and connection-flow sections runs here, in order.

mod common;

use std::process::Command;

use common::Program;

fn sh(gateway: &str, line: &str) -> (bool, String) {
    let output = Command::new("sh")
        .args(["-c", &format!("G=\"$NEXUS_GATEWAY_URL\"; {line}")])
        .env("NEXUS_GATEWAY_URL", gateway)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    (
        output.status.success(),
        out + &String::from_utf8_lossy(&output.stderr),
    )
}

/// The lines of the README's section `heading` that run `curl` in its
/// shell blocks (a `for` loop included), in order.
fn curl_lines(heading: &str) -> Vec<String> {
    let readme = include_str!("../README.md");
    let section = &readme[readme.find(heading).expect("the section")..];
    let rest = &section[heading.len()..];
    let section = &rest[..rest.find("\n##").unwrap_or(rest.len())];
    let mut in_shell = false;
    let mut lines = Vec::new();
    for line in section.lines() {
        if line.starts_with("```") {
            in_shell = line == "```sh";
        } else if in_shell && (line.starts_with("curl ") || line.starts_with("for ")) {
            lines.push(line.to_owned());
        }
    }
    lines
}

#[test]
fn every_curl_line_of_the_readme_works_against_the_program() {
    let program = Program::start(&[], &[]);
    let gateway = program.gateway.clone();
    let lines = curl_lines("### The control API");
    assert!(lines.len() >= 15, "{lines:?}");
    for line in &lines {
        let (ok, out) = sh(&gateway, line);
        assert!(ok, "{line}\n{out}");
        if line.contains("http_code") {
            assert_eq!(
                out.trim(),
                "500",
                "the scripted Broker error passed through"
            );
        }
        if line.contains("/v1/token/") {
            assert!(out.contains("gho_c"), "{out}");
        }
    }
    let flow = curl_lines("### The whole connection flow");
    assert_eq!(flow.len(), 6, "{flow:?}");
    for line in &flow {
        let (ok, out) = sh(&gateway, line);
        assert!(ok, "{line}\n{out}");
        if line.contains("check-connection") {
            assert!(out.contains(r#""status":"active""#), "{out}");
        }
    }
}

#[test]
fn the_readme_rate_limit_test_meets_the_gateways_refusal() {
    let env = [
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_RESOLVE_RPM", "6"),
    ];
    let program = Program::start(&[], &env);
    let lines = curl_lines("### Testing rate-limit handling");
    assert_eq!(lines.len(), 2, "{lines:?}");
    let (ok, out) = sh(&program.gateway, &lines[0]);
    assert!(ok, "six resolves pass: {out}");
    let (ok, out) = sh(&program.gateway, &lines[1]);
    assert!(ok, "{out}");
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 429 Too Many Requests"), "{out}");
    assert!(
        head.contains("Content-Type: text/plain; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains("X-Content-Type-Options: nosniff"), "{head}");
    let retry_after = common::header(head, "retry-after").unwrap();
    assert!(["9", "10"].contains(&retry_after.as_str()), "{head}");
    assert_eq!(body, "Too Many Requests\n");
}

#[test]
fn host_port_and_seed_flags() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let seed = std::env::temp_dir().join(format!("nexus-fake-seed-{port}.json"));
    let text = r#"{"providers": [
        {"workspace": "ws-1", "name": "github", "token": "gho_seed", "api_base_url": "$UPSTREAM_URL"},
        {"workspace": "ws-2", "name": "aws", "strategy": "aws_sigv4", "access_key": "AKID",
         "secret_key": "s", "region": "eu-west-1", "service": "s3"}],
      "connections": [{"id": "6a1f3c2e-9b8d-4e7f-a012-3b4c5d6e7f80", "provider": "github",
                       "token": "gho_c", "status": "revoked"}]}"#;
    std::fs::write(&seed, text).unwrap();
    let port = port.to_string();
    let args = [
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--seed",
        seed.to_str().unwrap(),
    ];
    let program = Program::start(&args, &[]);
    let (gateway, upstream) = (program.gateway.clone(), program.upstream.clone());
    assert_eq!(gateway, format!("http://127.0.0.1:{port}"));
    let (ok, out) = sh(
        &gateway,
        r#"curl -fsS "$G/v1/resolve?workspace_id=ws-1&provider_name=github""#,
    );
    assert!(ok && out.contains("gho_seed"), "{out}");
    let (ok, out) = sh(&gateway, "curl -fsS $G/v1/providers/metadata");
    assert!(
        ok && out.contains(&upstream),
        "the seed's $UPSTREAM_URL: {out}"
    );
    let (ok, out) = sh(
        &gateway,
        r#"curl -fsS "$G/v1/resolve?workspace_id=ws-2&provider_name=aws""#,
    );
    assert!(ok && out.contains("aws_sigv4"), "{out}");
    let (_, out) = sh(
        &gateway,
        "curl -sS -o /dev/null -w '%{http_code}' $G/v1/token/6a1f3c2e-9b8d-4e7f-a012-3b4c5d6e7f80",
    );
    assert_eq!(out, "410", "a revoked connection");
    drop(program);
    // A seed that is wrong is a clear exit.
    std::fs::write(&seed, r#"{"connections": [{"id": "conn-1"}]}"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_nexus-gateway-fake"))
        .args(["--seed", seed.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a UUID"));
    let _ = std::fs::remove_file(seed);
}

/// A flag the program would ignore is refused, naming it; an unknown name
/// in the control API is answered with the names it takes.
#[test]
fn ignored_flags_are_refused_and_unknown_names_list_the_known() {
    let seed = std::env::temp_dir().join(format!("fake-seed-{}.json", std::process::id()));
    std::fs::write(&seed, r#"{"providers": []}"#).unwrap();
    for flag in ["--workspace", "--provider", "--token"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_nexus-gateway-fake"))
            .args(["--seed", seed.to_str().unwrap(), flag, "x-secret-value"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{flag} beside --seed: it started");
        assert!(
            err.contains(flag) && err.contains("--seed"),
            "{flag}: {err}"
        );
        assert!(!err.contains("x-secret-value"), "no value repeated: {err}");
    }
    let _ = std::fs::remove_file(&seed);
    let program = common::Program::start(&[], &[]);
    let control = |path: &str, body: &str| common::send(&program.gateway, "POST", path, body).2;
    let said = control("/_fake/broker", r#"{"state": "asleep"}"#);
    assert!(
        said.contains("healthy, failing, unreachable, hung"),
        "{said}"
    );
    let said = control("/_fake/faults", r#"{"route": "tokens", "status": 500}"#);
    assert!(
        said.contains("resolve") && said.contains("request-connection"),
        "{said}"
    );
    program.stop();
}

/// What a new user types by mistake is refused at start, naming what was
/// meant, before anything is served in silence.
#[test]
fn a_first_hours_mistakes_are_refused_at_start_by_name() {
    let os = |args: &[&str]| {
        args.iter()
            .map(std::ffi::OsString::from)
            .collect::<Vec<_>>()
    };
    let (code, err) = common::refused(&os(&["s.json"]), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("`s.json`") && err.contains("--seed s.json"),
        "{err}"
    );
    for flag in ["--token", "--provider", "--workspace"] {
        let (code, err) = common::refused(&os(&[flag, ""]), &[]);
        assert_eq!(code, Some(2), "{flag} ''");
        assert!(
            err.contains(&format!("{flag} needs a value that is not empty")),
            "{err}"
        );
    }
    let misspelt = [
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_RESOLVE_RMP", "1"),
    ];
    let (code, err) = common::refused(&os(&["--port", "0"]), &misspelt);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("RATE_LIMIT_RESOLVE_RMP is not one of"),
        "{err}"
    );
    assert!(
        err.contains("RATE_LIMIT_RESOLVE_RPM"),
        "the known names: {err}"
    );
    let seed = std::env::temp_dir().join(format!("fake-status-{}.json", std::process::id()));
    let connection = r#"{"id": "3f1b2c4d-0000-4000-8000-000000000001", "provider": "github",
                         "token": "t", "status": "actve"}"#;
    std::fs::write(&seed, format!(r#"{{"connections": [{connection}]}}"#)).unwrap();
    let (code, err) = common::refused(&os(&["--seed", seed.to_str().unwrap()]), &[]);
    let _ = std::fs::remove_file(&seed);
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains("\"actve\" is not a connection status the fake knows"),
        "{err}"
    );
    assert!(
        err.contains("active, pending, failed, revoked, attention, superseded"),
        "{err}"
    );
}

/// `--issuer` serves a fake authorization server beside the Gateway, for a
/// resource server's tests in any language: its metadata, its JWKS, and
/// tokens minted over HTTP.
#[test]
fn the_issuer_flag_serves_metadata_keys_and_minted_tokens() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexus-gateway-fake"))
        .arg("--issuer")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = |name: &str| {
        let line = lines.next().unwrap().unwrap();
        line.strip_prefix(&format!("{name}=")).unwrap().to_owned()
    };
    let (_gateway, _upstream, issuer) = (
        next("NEXUS_GATEWAY_URL"),
        next("UPSTREAM_URL"),
        next("ISSUER_URL"),
    );
    let (ok, metadata) = sh(
        &issuer,
        "curl -fsS $G/.well-known/oauth-authorization-server",
    );
    assert!(
        ok && metadata.contains(&format!("\"issuer\":\"{issuer}\"")),
        "{metadata}"
    );
    let (ok, keys) = sh(&issuer, "curl -fsS $G/jwks");
    assert!(
        ok && keys.contains("\"kid\":\"ec-1\"") && keys.contains("\"kid\":\"rsa-1\""),
        "{keys}"
    );
    let (ok, token) = sh(
        &issuer,
        r#"curl -fsS -X POST $G/_fake/mint -d '{"sub": "alice", "aud": "https://mcp.example.com/mcp", "kid": "rsa-1"}'"#,
    );
    assert!(ok && token.split('.').count() == 3, "{token}");
    let (_, refused) = sh(
        &issuer,
        r#"curl -sS -X POST $G/_fake/mint -d '{"aud": "x"}'"#,
    );
    assert!(refused.contains("invalid_request"), "{refused}");
    the_issuer_mints_every_shape_over_http(&issuer);
    let _ = child.kill();
    let _ = child.wait();
}

/// Over HTTP as in Rust: a JWS typed and with `crit` as asked, and an
/// opaque token that only `/introspect` tells, to a confidential client
/// registered by RFC 7591 (its secret in the answer).
fn the_issuer_mints_every_shape_over_http(issuer: &str) {
    use base64::Engine as _;
    let (ok, token) = sh(
        issuer,
        r#"curl -fsS -X POST $G/_fake/mint -d '{"sub": "00u1", "typ": "at+jwt", "crit": ["exp"], "claims": {"uid": "00u1"}}'"#,
    );
    assert!(ok, "{token}");
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert_eq!(header["crit"], serde_json::json!(["exp"]), "{header}");
    let (ok, opaque) = sh(
        issuer,
        r#"curl -fsS -X POST $G/_fake/mint -d '{"sub": "alice", "aud": "https://mcp.example.com/mcp", "opaque": true}'"#,
    );
    assert!(
        ok && !opaque.contains('.') && opaque.len() >= 32,
        "{opaque}"
    );
    let (ok, client) = sh(
        issuer,
        r#"curl -fsS -X POST $G/register -d '{"token_endpoint_auth_method": "client_secret_basic"}'"#,
    );
    let client: serde_json::Value = serde_json::from_str(&client).unwrap();
    let (id, secret) = (&client["client_id"], &client["client_secret"]);
    assert!(ok && id.is_string() && secret.is_string(), "{client}");
    let ask = |user: &str| {
        let (id, secret) = (id.as_str().unwrap(), secret.as_str().unwrap());
        let user = user.replace("ID", id).replace("SECRET", secret);
        sh(
            issuer,
            &format!("curl -sS -u '{user}' -d 'token={opaque}' $G/introspect"),
        )
    };
    let (_, told) = ask("ID:SECRET");
    let told: serde_json::Value = serde_json::from_str(&told).unwrap();
    assert_eq!(told["active"], true, "{told}");
    assert_eq!(told["sub"], "alice", "{told}");
    assert_eq!(told["aud"], "https://mcp.example.com/mcp", "{told}");
    let (_, refused) = ask("ID:not-the-secret");
    assert!(refused.contains("invalid_client"), "{refused}");
}

/// The program started with `args`, and the issuer URL it prints.
fn issuer_of(args: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexus-gateway-fake"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .map(Result::unwrap)
        .find_map(|l| l.strip_prefix("ISSUER_URL=").map(str::to_owned));
    (child, url.expect("ISSUER_URL"))
}

/// `--issuer-tenant`: the issuer as Entra ID's v2 endpoint, its URL under
/// the tenant, its metadata at the OpenID path only, and tokens minted
/// there in Entra's shape.
#[test]
fn the_issuer_tenant_flag_shapes_the_issuer_as_entra_ids() {
    let (mut child, issuer) =
        issuer_of(&["--issuer-tenant", "9188040d-6c67-4c5b-b112-36a304b66dad"]);
    let issuer = issuer.as_str();
    assert!(
        issuer.ends_with("/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"),
        "{issuer}"
    );
    let (ok, metadata) = sh(issuer, "curl -fsS $G/.well-known/openid-configuration");
    assert!(
        ok && metadata.contains(&format!("\"issuer\":\"{issuer}\"")),
        "{metadata}"
    );
    let (ok, _) = sh(
        issuer,
        "curl -fsS $G/.well-known/oauth-authorization-server",
    );
    assert!(!ok, "RFC 8414's path is not Entra's");
    let (ok, token) = sh(
        issuer,
        r#"curl -fsS -X POST $G/_fake/mint -d '{"sub": "pairwise", "aud": "00000000-0000-0000-0000-0000000000aa", "claims": {"oid": "o-1", "tid": "t-1", "scp": "mcp"}}'"#,
    );
    assert!(ok && token.split('.').count() == 3, "{token}");
    let _ = child.kill();
    let _ = child.wait();
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-gateway-fake"))
        .args(["--issuer-tenant", "t", "--issuer-mints-for-anyone"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("loopback only"),
        "{said}"
    );
}

/// `--issuer-shape`: the issuer as Google's or Okta's org server, on
/// loopback only; any other shape is a usage error.
#[test]
fn the_issuer_shape_flag_shapes_the_issuer_as_googles_or_oktas() {
    for (shape, rfc8414) in [("google", false), ("okta-org", true)] {
        let (mut child, issuer) = issuer_of(&["--issuer-shape", shape]);
        let issuer = issuer.as_str();
        let (ok, metadata) = sh(issuer, "curl -fsS $G/.well-known/openid-configuration");
        assert!(
            ok && metadata.contains("introspection") != (shape == "google"),
            "{metadata}"
        );
        let (ok, _) = sh(
            issuer,
            "curl -fsS $G/.well-known/oauth-authorization-server",
        );
        assert_eq!(ok, rfc8414, "{shape}");
        let _ = child.kill();
        let _ = child.wait();
    }
    for args in [
        &["--issuer-shape", "github"][..],
        &["--issuer-shape", "google", "--issuer-mints-for-anyone"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_nexus-gateway-fake"))
            .args(args)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && said.contains("usage"),
            "{args:?}: {said}"
        );
    }
}

#[test]
fn the_issuer_listens_beyond_loopback_only_when_told_it_mints_for_anyone() {
    // The library: a loopback address, or one asked for by name.
    let refused = nexus_gateway_fake::FakeIssuer::start_on("0.0.0.0:0")
        .err()
        .unwrap();
    assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(
        refused.to_string().contains("mints tokens for anyone"),
        "{refused}"
    );
    assert!(nexus_gateway_fake::FakeIssuer::start_on("127.0.0.1:0").is_ok());
    assert!(nexus_gateway_fake::FakeIssuer::start_minting_for_anyone_on("0.0.0.0:0").is_ok());
    // The program: refused at start, naming the flag; started with it.
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-gateway-fake"))
        .args(["--host", "0.0.0.0", "--issuer"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("--issuer-mints-for-anyone"), "{said}");
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexus-gateway-fake"))
        .args(["--host", "0.0.0.0", "--issuer-mints-for-anyone"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(3)
        .map(Result::unwrap)
        .collect();
    assert!(
        lines[2].starts_with("ISSUER_URL=http://0.0.0.0:"),
        "{lines:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn an_entra_shaped_issuer_answers_under_its_tenant_path_at_the_openid_path_only() {
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let issuer = nexus_gateway_fake::FakeIssuer::start_entra(tenant);
    let url = issuer.url();
    assert!(url.ends_with(&format!("/{tenant}/v2.0")), "{url}");
    let (ok, metadata) = sh(&url, "curl -fsS $G/.well-known/openid-configuration");
    assert!(
        ok && metadata.contains(&format!("\"issuer\":\"{url}\"")),
        "{metadata}"
    );
    assert!(
        metadata.contains(&format!("\"jwks_uri\":\"{url}/jwks\"")),
        "{metadata}"
    );
    let (ok, keys) = sh(&url, "curl -fsS $G/jwks");
    assert!(ok && keys.contains("\"kid\":\"ec-1\""), "{keys}");
    // RFC 8414's path, and anything outside the tenant's, answer 404.
    let origin = url.trim_end_matches(&format!("/{tenant}/v2.0")).to_owned();
    for path in [
        format!("/.well-known/oauth-authorization-server/{tenant}/v2.0"),
        format!("/{tenant}/v2.0/.well-known/oauth-authorization-server"),
        "/.well-known/openid-configuration".to_owned(),
    ] {
        let line = format!("curl -sS -o /dev/null -w '%{{http_code}}' $G{path}");
        assert_eq!(sh(&origin, &line).1, "404", "{path}");
    }
    let token = issuer.mint(&nexus_gateway_fake::FakeToken::new("alice"));
    let claims = token.split('.').nth(1).unwrap().to_owned();
    let (_, decoded) = sh(
        &url,
        &format!("printf '%s' '{claims}' | tr '_-' '/+' | base64 -d 2>/dev/null; true"),
    );
    assert!(decoded.contains(&format!("\"iss\":\"{url}\"")), "{decoded}");
}
