//! `hmac_payload` and `aws_sigv4` end to end: the FakeGateway serves the
//! strategy, `authenticated_fetch` signs, and the upstream re-verifies each
//! signature from the exact bytes it received, with a verifier written here
//! from AWS's published rules (not the crate's signer).
#![cfg(feature = "signing")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::client;
use hmac::{Hmac, Mac};
use nexus_gateway_fake::{
    FakeGateway, FakeProvider, FakeReply, FakeUpstream, RecordedRequest, Route,
};
use nexus_sdk::{FetchOptions, TokenCache};
use sha2::{Digest, Sha256};

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// AWS's URI encoding: everything but `A-Z a-z 0-9 - _ . ~` as `%XX`.
fn uri_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    out
}

/// What a SigV4 server computes from the request bytes alone, for a
/// service other than S3 (the path encoded once more; it has no dot
/// segments here). `Ok(())` when the signature matches under `secret`.
fn verify_sigv4(request: &RecordedRequest, secret: &str) -> Result<(), String> {
    let head = String::from_utf8(request.raw_head.clone()).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let request_line: Vec<&str> = lines.next().unwrap().split(' ').collect();
    let (method, target) = (request_line[0], request_line[1]);
    let headers: Vec<(String, String)> = lines
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let header = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let authorization = header("authorization").first().copied().ok_or("unsigned")?;
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not SigV4")?;
    let field = |key: &str| {
        fields
            .split(", ")
            .find_map(|f| f.strip_prefix(key))
            .unwrap_or_default()
    };
    let credential: Vec<&str> = field("Credential=").split('/').collect();
    let (date, region, service) = (credential[1], credential[2], credential[3]);
    let signed_headers = field("SignedHeaders=");
    for required in ["host", "x-amz-date", "x-amz-content-sha256"] {
        if !signed_headers.split(';').any(|h| h == required) {
            return Err(format!("{required} is not signed"));
        }
    }
    let payload = hex(&Sha256::digest(&request.body));
    if header("x-amz-content-sha256") != [payload.as_str()] {
        return Err("x-amz-content-sha256 is not the body's hash".into());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = path
        .split('/')
        .map(|s| uri_encode(s.as_bytes()))
        .collect::<Vec<_>>()
        .join("/");
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical_headers: String = signed_headers
        .split(';')
        .map(|name| {
            let values: Vec<String> = header(name)
                .iter()
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            format!("{name}:{}\n", values.join(","))
        })
        .collect();
    let canonical = format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{signed_headers}\n{payload}",
        query.join("&")
    );
    let amz_date = header("x-amz-date")
        .first()
        .copied()
        .ok_or("no x-amz-date")?;
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac256(&key, part.as_bytes());
    }
    let expected = hex(&hmac256(&key, to_sign.as_bytes()));
    if field("Signature=") == expected {
        Ok(())
    } else {
        Err(format!("signature mismatch over\n{canonical}"))
    }
}

fn setup(provider: FakeProvider) -> (FakeGateway, FakeUpstream, nexus_sdk::NexusClient) {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "aws", provider);
    let upstream = FakeUpstream::start();
    let client = client(&gateway);
    (gateway, upstream, client)
}

#[test]
fn aws_get_with_an_encoded_query_on_a_non_default_port() {
    let (_gateway, upstream, client) = setup(FakeProvider::aws_sigv4(
        "AKIDEXAMPLE",
        "sk-secret",
        "eu-west-1",
        "execute-api",
    ));
    upstream.verify_with(|r| verify_sigv4(r, "sk-secret").is_ok());
    let url = format!(
        "{}/items/a%20b/ሴ?z=last&a=caf%C3%A9&a=%2F&sp ace=x+y&empty=",
        upstream.url()
    );
    let (status, _, _) = client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "aws",
            &url,
            FetchOptions::default(),
        )
        .unwrap();
    assert_eq!(status, 200);
    let sent = upstream.last_request().unwrap();
    verify_sigv4(&sent, "sk-secret").unwrap();
    // The upstream is on a non-default port: Host (signed) carries it.
    let host = sent.header("Host").unwrap();
    assert!(host.starts_with("127.0.0.1:") && upstream.url().ends_with(host));
    assert!(
        sent.header("Authorization")
            .unwrap()
            .contains("/eu-west-1/execute-api/aws4_request")
    );
    // Another secret does not verify: the check can fail.
    assert!(verify_sigv4(&sent, "sk-other").is_err());
}

#[test]
fn a_header_sigv4_cannot_sign_is_refused_not_sent_unsigned() {
    let (_gateway, upstream, client) = setup(FakeProvider::aws_sigv4(
        "AKIDEXAMPLE",
        "sk-secret",
        "us-east-1",
        "s3",
    ));
    for (name, value) in [
        ("X-Amz-Meta-Name", "café"),
        ("x-amz-meta-x", "\u{a0}nbsp"),
        ("Content-Type", "text/plain; charset=ünï"),
    ] {
        let err = client
            .authenticated_fetch(
                &TokenCache::new(),
                "ws",
                "aws",
                &upstream.url(),
                FetchOptions::default().header(name, value),
            )
            .unwrap_err();
        assert_eq!(err.code, "invalid_input", "{name}");
    }
    assert_eq!(upstream.request_count(), 0, "nothing went out unsigned");
    // An ASCII meta header is sent, and signed.
    upstream.verify_with(|r| verify_sigv4(r, "sk-secret").is_ok());
    let (status, _, _) = client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "aws",
            &upstream.url(),
            FetchOptions::default().header("X-Amz-Meta-Name", "cafe"),
        )
        .unwrap();
    assert_eq!(status, 200);
    let sent = upstream.last_request().unwrap();
    assert!(
        sent.header("authorization")
            .unwrap()
            .contains("x-amz-meta-name")
    );
}

#[test]
fn aws_post_signs_the_body_and_content_type_and_the_session_token() {
    let provider = FakeProvider::aws_sigv4("AKID", "sk", "us-east-1", "bedrock")
        .credential("session_token", "st-session/token+=");
    let (_gateway, upstream, client) = setup(provider);
    upstream.verify_with(|r| verify_sigv4(r, "sk").is_ok());
    let options = FetchOptions::default()
        .method("POST")
        .header("Content-Type", "application/json")
        .header("X-Amz-Target", "Bedrock.Invoke")
        .data(r#"{"prompt":"hé"}"#);
    let url = format!("{}/model/invoke", upstream.url());
    let (status, _, _) = client
        .authenticated_fetch(&TokenCache::new(), "ws", "aws", &url, options)
        .unwrap();
    assert_eq!(status, 200);
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.body, r#"{"prompt":"hé"}"#.as_bytes());
    assert_eq!(
        sent.header("X-Amz-Security-Token"),
        Some("st-session/token+=")
    );
    let authorization = sent.header("Authorization").unwrap();
    assert!(
        authorization.contains(
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-target,"
        ),
        "{authorization}"
    );
    verify_sigv4(&sent, "sk").unwrap();
}

#[test]
fn a_401_re_resolves_and_the_retry_is_signed_with_the_rotated_secret() {
    let provider = FakeProvider::aws_sigv4("AKID", "sk", "us-east-1", "lambda").rotating();
    let (gateway, upstream, client) = setup(provider);
    // The upstream knows only the second secret: the first request fails.
    upstream.verify_with(|r| verify_sigv4(r, "sk-2").is_ok());
    let url = format!(
        "{}/2015-03-31/functions/arn%3Aaws%3Alambda/invocations",
        upstream.url()
    );
    let options = FetchOptions::default().method("POST").data("{}");
    let (status, _, _) = client
        .authenticated_fetch(&TokenCache::new(), "ws", "aws", &url, options)
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(gateway.requests(Route::Resolve), 2);
    let sent = upstream.requests();
    assert_eq!(sent.len(), 2);
    verify_sigv4(&sent[0], "sk-1").unwrap();
    verify_sigv4(&sent[1], "sk-2").unwrap();
    assert_eq!(sent[1].body, b"{}");
}

#[test]
fn a_same_origin_303_is_signed_again_over_the_new_request() {
    let (_gateway, upstream, client) = setup(FakeProvider::aws_sigv4(
        "AKID",
        "sk",
        "us-east-1",
        "execute-api",
    ));
    upstream.set_reply(
        "/create",
        FakeReply::new(303).header("Location", "/result?id=7"),
    );
    let options = FetchOptions::default().method("POST").data("name=x");
    let url = format!("{}/create", upstream.url());
    let (status, _, _) = client
        .authenticated_fetch(&TokenCache::new(), "ws", "aws", &url, options)
        .unwrap();
    assert_eq!(status, 200);
    let sent = upstream.requests();
    assert_eq!(
        (sent[0].method.as_str(), sent[1].method.as_str()),
        ("POST", "GET")
    );
    assert_eq!(sent[1].query, "id=7");
    assert!(sent[1].body.is_empty());
    for request in &sent {
        verify_sigv4(request, "sk").unwrap();
    }
    assert_ne!(
        sent[0].header("Authorization"),
        sent[1].header("Authorization")
    );
}

#[test]
fn a_cross_origin_redirect_carries_no_signature() {
    for provider in [
        FakeProvider::aws_sigv4("AKID", "sk", "us-east-1", "s3").credential("session_token", "st"),
        FakeProvider::hmac_payload("X-Signature", "hmac-secret"),
    ] {
        let (_gateway, upstream, client) = setup(provider);
        let elsewhere = FakeUpstream::start();
        upstream.set_reply(
            "/go",
            FakeReply::new(307).header("Location", &format!("{}/landed", elsewhere.url())),
        );
        let url = format!("{}/go", upstream.url());
        let options = FetchOptions::default().method("PUT").data("payload");
        let (status, _, _) = client
            .authenticated_fetch(&TokenCache::new(), "ws", "aws", &url, options)
            .unwrap();
        assert_eq!(status, 200);
        let first = upstream.last_request().unwrap();
        assert!(first.header("Authorization").is_some() || first.header("X-Signature").is_some());
        let landed = elsewhere.last_request().unwrap();
        assert_eq!(landed.body, b"payload", "307 keeps the body");
        for (name, value) in &landed.headers {
            let name = name.to_ascii_lowercase();
            assert!(
                !(name == "authorization" || name.starts_with("x-amz-") || name == "x-signature"),
                "{name}: {value} crossed origins"
            );
        }
    }
}

#[test]
fn hmac_payload_signs_the_exact_body_bytes() {
    let cases = [
        (
            FakeProvider::hmac_payload("X-Signature", "whsec"),
            "sha256",
            "hex",
        ),
        (
            FakeProvider::hmac_payload("X-Hub-Signature", "whsec")
                .config("algo", "sha1")
                .config("encoding", "base64"),
            "sha1",
            "base64",
        ),
    ];
    for (provider, algo, encoding) in cases {
        let header = if algo == "sha1" {
            "X-Hub-Signature"
        } else {
            "X-Signature"
        };
        let (_gateway, upstream, client) = setup(provider);
        let cache = TokenCache::new();
        for body in [
            None,
            Some(&b"{\"amount\": 100}"[..]),
            Some(&b"\x00\xffraw"[..]),
        ] {
            let mut options = FetchOptions::default();
            if let Some(body) = body {
                options = options.method("POST").data(body);
            }
            let url = format!("{}/charge", upstream.url());
            client
                .authenticated_fetch(&cache, "ws", "aws", &url, options)
                .unwrap();
            let sent = upstream.last_request().unwrap();
            let expected = python_hmac(algo, encoding, "whsec", &sent.body);
            assert_eq!(
                sent.header(header),
                Some(expected.as_str()),
                "{algo} {encoding}"
            );
            assert_eq!(sent.body, body.unwrap_or_default());
        }
    }
}

/// The HMAC as Python's standard library computes it: an implementation
/// outside this crate and its dependencies.
fn python_hmac(algo: &str, encoding: &str, secret: &str, body: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let script = format!(
        "import hmac,hashlib,base64,sys\n\
         m=hmac.new({secret:?}.encode(),sys.stdin.buffer.read(),hashlib.{algo}).digest()\n\
         print(m.hex() if {encoding:?}=='hex' else base64.b64encode(m).decode(),end='')"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (it is on every CI machine)");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn no_signing_secret_in_debug_or_on_the_wire() {
    let provider = FakeProvider::aws_sigv4("AKID", "sk-very-secret", "us-east-1", "s3")
        .credential("session_token", "st-very-secret");
    let (_gateway, upstream, client) = setup(provider);
    let token = client.resolve_token("ws", "aws").unwrap();
    let debug = format!("{token:?}");
    assert!(
        !debug.contains("sk-very-secret") && !debug.contains("st-very-secret"),
        "{debug}"
    );
    assert_eq!(token.strategy(), "aws_sigv4");
    assert_eq!(
        token.header_value(),
        "",
        "a signing secret is never a header value"
    );
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    upstream.verify_with(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        true
    });
    let (status, _, _) = client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "aws",
            &format!("{}/bucket/key", upstream.url()),
            FetchOptions::default(),
        )
        .unwrap();
    assert_eq!((status, seen.load(Ordering::SeqCst)), (200, 1));
    let sent = upstream.last_request().unwrap();
    let head = String::from_utf8_lossy(&sent.raw_head);
    assert!(
        !head.contains("sk-very-secret"),
        "the secret key itself is never sent"
    );
}

#[test]
fn authorize_signs_a_request_sent_with_another_client() {
    let provider = FakeProvider::aws_sigv4("AKID", "sk", "us-east-1", "bedrock")
        .credential("session_token", "st");
    let (_gateway, upstream, client) = setup(provider);
    upstream.verify_with(|r| verify_sigv4(r, "sk").is_ok());
    let mut request =
        nexus_sdk::http::Request::post(format!("{}/model/invoke?x=1", upstream.url()))
            .header("content-type", "application/json")
            .body(br#"{"prompt":"hi"}"#.to_vec())
            .unwrap();
    let authorization = client
        .authorize(&TokenCache::new(), "ws", "aws", &mut request)
        .unwrap();
    assert_eq!(authorization.strategy(), "aws_sigv4");
    assert!(
        request.headers()["authorization"]
            .to_str()
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKID/")
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .build()
        .into();
    let answer = agent.run(request).unwrap();
    assert_eq!(answer.status(), 200, "the upstream verified the signature");
    verify_sigv4(&upstream.last_request().unwrap(), "sk").unwrap();
}

#[test]
fn authorize_signs_the_hmac_of_the_exact_body() {
    let (_gateway, upstream, client) = setup(FakeProvider::hmac_payload("X-Signature", "whsec"));
    let body = br#"{"event":"push"}"#.to_vec();
    let mut request = nexus_sdk::http::Request::post(upstream.url())
        .body(body.clone())
        .unwrap();
    let _ = client
        .authorize(&TokenCache::new(), "ws", "aws", &mut request)
        .unwrap();
    let expected: String = hmac256(b"whsec", &body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(request.headers()["x-signature"], expected.as_str());
}
