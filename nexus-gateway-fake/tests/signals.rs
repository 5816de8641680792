//! The fake issuer as a transmitter, driven over its control API: each
//! sender reaches a receiver (a raw `TcpListener` here) as a provider
//! does, signed with the issuer's published keys, and answers what the
//! receiver said; a stream made at `/ssf/stream` is pushed to or polled.

#![cfg(feature = "issuer")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use base64::Engine as _;
use nexus_gateway_fake::FakeIssuer;
use serde_json::{Value, json};

/// A receiver answering one request with `status`: its URL, and the
/// request it got (its head and body) once it came.
fn receiver(status: u16) -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (sent, got) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            head += &line;
            if line == "\r\n" {
                break;
            }
        }
        let length = common::header(&head, "content-length").map_or(0, |l| l.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let answer =
            format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}");
        (&stream).write_all(answer.as_bytes()).unwrap();
        sent.send((head, String::from_utf8(body).unwrap())).unwrap();
    });
    (url, got)
}

/// The claims of a compact JWS.
fn claims(jws: &str) -> Value {
    let part = jws.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn a_global_logout_reaches_the_endpoint_signed_as_okta_signs_it() {
    let issuer = FakeIssuer::start();
    let (url, got) = receiver(204);
    let endpoint = format!("{url}/global-token-revocation");
    let sub_id = json!({"format": "iss_sub", "iss": issuer.url(), "sub": "alice"});
    let asked = json!({"endpoint": endpoint, "sub_id": sub_id}).to_string();
    let (status, _, said) = common::send(&issuer.url(), "POST", "/_fake/logout", &asked);
    let said: Value = serde_json::from_str(&said).unwrap();
    assert_eq!((status, &said["status"]), (200, &json!(204)), "{said}");
    let (head, body) = got.recv().unwrap();
    let bearer = common::header(&head, "authorization").unwrap();
    let jwt = claims(bearer.trim_start_matches("Bearer "));
    assert_eq!(
        (&jwt["iss"], &jwt["aud"]),
        (&json!(issuer.url()), &json!(url)),
        "{jwt}"
    );
    assert!(jwt["jti"].is_string() && jwt["exp"].as_u64() <= jwt["iat"].as_u64().map(|i| i + 300));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["sub_id"],
        sub_id
    );
}

#[test]
fn a_stream_is_pushed_to_or_polled_and_scim_is_sent_as_given() {
    let issuer = FakeIssuer::start();
    let (status, _, config) = common::get(&issuer.url(), "/.well-known/ssf-configuration");
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!((status, &config["issuer"]), (200, &json!(issuer.url())));
    let (url, got) = receiver(202);
    let push = json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": format!("{url}/ssf/events"), "authorization_header": "Bearer s"}});
    let make = |body: &Value| {
        let head = format!(
            "POST /ssf/stream HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer t\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.to_string().len()
        );
        common::raw(&issuer.url(), &head, body.to_string().as_bytes())
    };
    assert_eq!(make(&push).0, 201);
    let (status, _, poll) = make(&json!({"delivery": {"method": "urn:ietf:rfc:8936"}}));
    let poll: Value = serde_json::from_str(&poll).unwrap();
    assert_eq!(status, 201);
    assert_eq!(
        common::send(&issuer.url(), "POST", "/ssf/stream", "{}").0,
        401,
        "no bearer"
    );
    let event = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
    let asked = json!({"event": event, "sub_id": {"format": "email", "email": "a@b.c"}});
    let (_, _, said) = common::send(&issuer.url(), "POST", "/_fake/ssf/emit", &asked.to_string());
    let said: Value = serde_json::from_str(&said).unwrap();
    assert_eq!(said["delivered"][0]["status"], 202, "{said}");
    let (head, set) = got.recv().unwrap();
    assert_eq!(
        common::header(&head, "authorization").as_deref(),
        Some("Bearer s")
    );
    let set_claims = claims(&set);
    assert!(
        set_claims["events"][event].is_object() && set_claims.get("exp").is_none(),
        "{set_claims}"
    );
    // The poll stream holds the same event until it is acknowledged.
    let path = poll["delivery"]["endpoint_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&issuer.url())
        .to_owned();
    let polled = |body: &Value| {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer t\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.to_string().len()
        );
        let (_, _, answer) = common::raw(&issuer.url(), &head, body.to_string().as_bytes());
        serde_json::from_str::<Value>(&answer).unwrap()
    };
    let sets = polled(&json!({}))["sets"].as_object().unwrap().clone();
    assert_eq!(sets.len(), 1, "{sets:?}");
    let jti = sets.keys().next().unwrap().clone();
    assert_eq!(polled(&json!({"ack": [jti]}))["sets"], json!({}));
    // SCIM, as given.
    let (url, got) = receiver(204);
    let asked = json!({"tenant": format!("{url}/scim/v2"), "token": "secret", "method": "DELETE", "path": "/Users/abc"});
    let (_, _, said) = common::send(&issuer.url(), "POST", "/_fake/scim", &asked.to_string());
    assert!(said.contains("\"status\":204"), "{said}");
    let (head, _) = got.recv().unwrap();
    assert!(head.starts_with("DELETE /scim/v2/Users/abc "), "{head}");
    assert_eq!(
        common::header(&head, "authorization").as_deref(),
        Some("Bearer secret")
    );
}
