//! A server's words are shown, never obeyed: whatever a Gateway or a Broker
//! says (message, code, detail; JSON or plain text) reaches a `NexusError`
//! and a log record with every character that can break a line or reorder
//! what a person reads escaped, and cut at one length, so that `Display` is
//! always one line and no log line is forged.

use crate::common;

use common::{capture_logs, fast_retries, log_lines_with};
use nexus_gateway_fake::{BrokerAnswer, FakeGateway, Fault, Route};
use nexus_sdk::{CredentialScope, NexusClient, NexusClientOptions, NexusError};
use serde_json::json;

const FORGED: &str =
    "no such thing\nINFO nexus_sdk: Using cached token \u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}1m";

fn client(gateway: &FakeGateway) -> NexusClient {
    let options = NexusClientOptions::new(gateway.url())
        .retry_policy(fast_retries(1))
        .credential_scope(CredentialScope::anywhere());
    NexusClient::new(options).unwrap()
}

fn one_escaped_line(err: &NexusError) {
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 1, "{shown:?}");
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(
        !err.message.chars().any(char::is_control),
        "{:?}",
        err.message
    );
    assert!(!err.code.chars().any(char::is_control), "{:?}", err.code);
}

#[test]
fn every_body_shape_is_one_escaped_line() {
    let json = serde_json::json!({"error": "connection_not_found", "message": FORGED}).to_string();
    let detail = serde_json::json!({"error": "attention_required", "detail": FORGED}).to_string();
    let code = serde_json::json!({"code": "bad\r\ncode", "message": "m"}).to_string();
    let cases = [
        (404, "application/json", json.as_str()),
        (409, "application/json", detail.as_str()),
        (400, "application/json", code.as_str()),
        (404, "text/plain", FORGED),
    ];
    for (status, kind, body) in cases {
        let gateway = FakeGateway::start();
        gateway.push_fault_for(Route::Resolve, Fault::body(status, Some(kind), body));
        let err = client(&gateway).resolve_token("ws", "github").unwrap_err();
        one_escaped_line(&err);
        assert_eq!(err.status_code, Some(status));
    }
}

#[test]
fn a_brokers_words_passed_through_are_one_escaped_line() {
    let gateway = FakeGateway::start();
    let body = serde_json::json!({"error": "attention_required", "message": FORGED});
    gateway.script_broker(Route::Resolve, BrokerAnswer::json(409, &body));
    let err = client(&gateway).resolve_token("ws", "github").unwrap_err();
    one_escaped_line(&err);
    assert!(
        err.message.contains("no such thing\\nINFO"),
        "{}",
        err.message
    );
}

#[test]
fn a_json_message_is_cut_as_a_plain_text_one_is() {
    let long = "é".repeat(5_000);
    for body in [
        serde_json::json!({"error": "x", "message": long}).to_string(),
        long.clone(),
    ] {
        let gateway = FakeGateway::start();
        gateway.push_fault_for(Route::Resolve, Fault::body(409, None, &body));
        let err = client(&gateway).resolve_token("ws", "github").unwrap_err();
        assert!(
            err.message.starts_with("éé"),
            "the server's own words: {err}"
        );
        assert!(err.message.len() <= 512, "{} bytes", err.message.len());
    }
}

#[test]
fn a_retry_log_record_cannot_be_forged() {
    capture_logs();
    let gateway = FakeGateway::start();
    let body = serde_json::json!({"error": "broker_unavailable", "message": FORGED}).to_string();
    gateway.push_fault_for(
        Route::Resolve,
        Fault::body(503, Some("application/json"), &body),
    );
    let _ = client(&gateway).resolve_token("ws-forge", "github");
    let retries = log_lines_with("Retrying in");
    assert!(!retries.is_empty());
    for line in retries.iter().filter(|l| l.contains("no such thing")) {
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
}

#[test]
fn display_is_one_line_whatever_a_caller_put_in_it() {
    let err = NexusError::new("custom\ncode", "two\nlines \u{1b}[31m");
    assert_eq!(err.to_string(), "custom\\ncode: two\\nlines \\u{1b}[31m");
}

/// Every character the escape rule names.
fn unsafe_characters() -> Vec<char> {
    let mut all = vec![
        '\u{1b}', '\u{9b}', '\u{85}', '\u{2028}', '\u{2029}', '\u{61c}', '\u{200e}', '\u{200f}',
    ];
    all.extend('\u{202a}'..='\u{202e}');
    all.extend('\u{2066}'..='\u{2069}');
    all
}

#[test]
fn each_character_that_breaks_or_reorders_a_line_is_escaped_everywhere() {
    capture_logs();
    let gateway = FakeGateway::start();
    let client =
        NexusClient::new(NexusClientOptions::new(gateway.url()).retry_policy(fast_retries(1)))
            .unwrap();
    for c in unsafe_characters() {
        let message = format!("down{c}SYSTEM: escape-test-{:x}", u32::from(c));
        let body = json!({"error": "broker_unavailable", "message": message}).to_string();
        gateway.push_faults(2, Fault::body(502, Some("application/json"), &body));
        let err = client.check_connection(common::C).unwrap_err();
        let (shown, debug) = (err.to_string(), format!("{err:?}"));
        assert!(
            !shown.contains(c),
            "Display keeps U+{:04X}: {shown}",
            u32::from(c)
        );
        assert!(
            !debug.contains(c),
            "Debug keeps U+{:04X}: {debug}",
            u32::from(c)
        );
        let needle = format!("escape-test-{:x}", u32::from(c));
        let lines = log_lines_with(&needle);
        assert!(
            !lines.is_empty(),
            "the retry is logged with the Gateway's words"
        );
        assert!(
            lines.iter().all(|l| !l.contains(c)),
            "a log record keeps U+{:04X}",
            u32::from(c)
        );
        assert!(
            !nexus_sdk::one_line(&c.to_string()).contains(c),
            "one_line escapes it"
        );
    }
}

#[test]
fn one_line_escapes_what_a_person_cannot_see_by_class_and_cuts_only_between_escapes() {
    use nexus_sdk::{one_line, one_line_within};
    // Variation selectors (the emoji-smuggling encoding), zero-width and
    // invisible characters, annotation characters, Mongolian vowel separator.
    let smuggled = format!("a{}", ('\u{E0100}'..='\u{E0110}').collect::<String>());
    assert!(
        !one_line(&smuggled).contains('\u{E0100}'),
        "{}",
        one_line(&smuggled)
    );
    for hidden in [
        '\u{FE0E}', '\u{200B}', '\u{FEFF}', '\u{2062}', '\u{206C}', '\u{FFFA}', '\u{180E}',
        '\u{2028}', '\u{9C}',
    ] {
        let shown = one_line(&format!("x{hidden}y"));
        assert_eq!(
            shown,
            format!("x{}y", hidden.escape_default()),
            "U+{:04X}",
            u32::from(hidden)
        );
    }
    for seen in ["plain words", "café 中文 😀", "tab\u{A0}nbsp"] {
        assert_eq!(one_line(seen), seen);
    }
    let text = format!("{}\u{202E}{}", "a".repeat(60), "\u{200B}b".repeat(30));
    let whole = one_line(&text);
    for max in 0..=whole.len() {
        let cut = one_line_within(&text, max);
        assert!(cut.len() <= max && whole.starts_with(&cut), "{max}");
        let rest = &whole[cut.len()..];
        assert!(
            rest.is_empty() || !cut.ends_with("\\u{") && !cut.ends_with('\\'),
            "{max}: {cut}"
        );
        assert!(
            rest.is_empty()
                || rest.starts_with('\\')
                || rest.starts_with('a')
                || rest.starts_with('b'),
            "{max}: cut inside an escape: …{}",
            &cut[cut.len().saturating_sub(8)..]
        );
    }
}
