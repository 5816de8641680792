//! Every form of an echo: a credential comes back in a redirect or an
//! answer as base64 at any offset of a longer base64 text, broken into
//! lines, as a `basic_auth` pair or password, or HTML-escaped, and is caught
//! as the raw one is. The scan stays inside the call's time, and a withheld
//! answer says so with body headers that match what is returned.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeReply, FakeUpstream};
use nexus_sdk::{
    CredentialScope, FetchOptions, FetchResponse, NexusClient, NexusClientOptions, TokenCache, code,
};

fn setup(provider: FakeProvider) -> (FakeGateway, FakeUpstream, FakeUpstream, NexusClient) {
    let (gateway, api, elsewhere) = (
        FakeGateway::start(),
        FakeUpstream::start(),
        FakeUpstream::start(),
    );
    gateway.add_provider("ws", "p", provider.api_base_url(&api.url()));
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    (gateway, api, elsewhere, client)
}

fn fetch(client: &NexusClient, url: &str, withhold: bool) -> FetchResponse {
    let options = FetchOptions::default().withhold_credential_echo(withhold);
    let cache = TokenCache::new();
    client
        .authenticated_fetch(&cache, "ws", "p", url, options)
        .unwrap()
}

/// Answers `body` at `/echo` and checks it comes back withheld, whole, with
/// headers that describe the text that replaced it.
fn withheld(api: &FakeUpstream, client: &NexusClient, body: &str) {
    let reply = FakeReply::new(403)
        .header("Content-Type", "text/html; charset=utf-8")
        .body(body);
    api.set_reply("/echo", reply);
    let (status, headers, got) = fetch(client, &format!("{}/echo", api.url()), true);
    assert_eq!(status, 403);
    assert_eq!(got, b"<withheld: the text echoed a credential>", "{body}");
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(headers["content-length"], got.len().to_string().as_str());
    assert_eq!(headers["x-nexus-withheld"], "body");
    let (_, _, plain) = fetch(client, &format!("{}/echo", api.url()), false);
    assert_eq!(plain, body.as_bytes(), "unasked, the answer comes as it is");
}

#[test]
fn base64_of_a_longer_text_is_caught_at_every_offset() {
    let key = "qk_9f/Ab+Zz=Q";
    let (_gateway, api, elsewhere, client) = setup(FakeProvider::query_param("key", key));
    let cache = TokenCache::new();
    let request = format!("{}/list?key={}", api.url(), "qk_9f%2FAb%2BZz%3DQ");
    // The SSO RelayState pattern: the request URL, base64url, after text of any length.
    for pad in ["", "x", "xy", "xyz"] {
        let state = URL_SAFE_NO_PAD.encode(format!("{pad}{request}"));
        let location = format!("{}/login?state={state}", elsewhere.url());
        api.set_reply("/list", FakeReply::new(302).header("Location", &location));
        let url = format!("{}/list", api.url());
        let (status, _, _) = client
            .authenticated_fetch(&cache, "ws", "p", &url, FetchOptions::default())
            .unwrap();
        assert_eq!(status, 302, "not followed ({pad:?})");
    }
    assert_eq!(
        elsewhere.connections(),
        0,
        "the sign-in origin received nothing"
    );
    // A body holding the request head, base64, at any offset.
    for head in ["GET", "GET /", "POST /list"] {
        let raw = format!("{head} /list?key={key} HTTP/1.1\r\nHost: api\r\n\r\n");
        withheld(
            &api,
            &client,
            &format!(r#"{{"raw_b64":"{}"}}"#, STANDARD.encode(raw)),
        );
    }
}

#[test]
fn a_basic_auth_pair_and_its_password_are_caught_as_the_header_is() {
    let (_gateway, api, elsewhere, client) =
        setup(FakeProvider::basic_auth("svc-bot", "Pa55-w0rd!x"));
    for body in [
        "svc-bot:Pa55-w0rd!x".to_owned(),
        r#"{"PHP_AUTH_USER":"svc-bot","PHP_AUTH_PW":"Pa55-w0rd!x"}"#.to_owned(),
        "password=Pa55-w0rd%21x".to_owned(),
        STANDARD.encode("xx:svc-bot:Pa55-w0rd!x"),
    ] {
        withheld(&api, &client, &body);
    }
    let location = format!("{}/reset?password=Pa55-w0rd%21x", elsewhere.url());
    api.set_reply("/go", FakeReply::new(302).header("Location", &location));
    let (status, _, _) = fetch(&client, &format!("{}/go", api.url()), false);
    assert_eq!(status, 302);
    assert_eq!(elsewhere.connections(), 0);
}

#[test]
fn html_entities_numeric_and_named_are_caught() {
    let (_gateway, api, _, client) = setup(FakeProvider::oauth2("gho_Zr8+Tm4/Qa=="));
    for body in [
        "<p>Bearer gho_Zr8&#43;Tm4&#47;Qa&#61;&#61;</p>",
        "<p>Bearer gho_Zr8&#x2B;Tm4&#x2f;Qa&#x3D;&#x3d;</p>",
        "<p>Bearer gho_Zr8&plus;Tm4&sol;Qa&equals;&equals;</p>",
        "<a href=\"/x?t=gho_Zr8%2BTm4%2FQa%3D%3D&amp;x=1\">",
    ] {
        withheld(&api, &client, body);
    }
}

#[test]
fn an_echoing_header_is_dropped_and_named() {
    let (_gateway, api, _, client) = setup(FakeProvider::oauth2("gho_hdr_echo_1"));
    let reply = FakeReply::new(200)
        .header("X-Debug-Auth", &STANDARD.encode("Bearer gho_hdr_echo_1"))
        .header("X-Other", "kept")
        .body("fine");
    api.set_reply("/h", reply);
    let (_, headers, body) = fetch(&client, &format!("{}/h", api.url()), true);
    assert_eq!(body, b"fine");
    assert!(headers.get("x-debug-auth").is_none() && headers["x-other"] == "kept");
    assert_eq!(headers["x-nexus-withheld"], "x-debug-auth");
}

#[test]
fn a_hostile_body_is_scanned_within_the_calls_time() {
    // 15 MiB of escapes that decode into more escapes, four times over; and
    // 8 MiB built to cost each decoder most: `&#` and millions of digits,
    // `\u005c` repeated, CSS escapes of `\`, a list of one-digit numbers;
    // and for the search, the credential but its last character, each of its
    // characters and their hex far apart (what a view drops between them);
    // base64 that reads as text from every place, or as many short texts;
    // a hex dump whose first line follows 8 MiB of other text.
    let eight = 8 << 20;
    let apart = |text: &str| {
        text.chars()
            .map(|c| format!("{c}{}", " ".repeat(999)))
            .collect::<String>()
    };
    let near = format!(
        "{}{}",
        apart("gho_never_in_iX"),
        apart("67686f5f6e657665725f696e5f6958")
    );
    for hostile in [
        "\\u0025\\/%2525+".repeat(15 << 20 >> 4),
        format!("&#{}", "7".repeat(eight)),
        "\\u005c".repeat(eight / 6),
        "\\5c \\5c ".repeat(eight / 8),
        "1,".repeat(eight / 2),
        near.repeat(eight / near.len()),
        // Base64 whose every group reads as text from each place (NULs),
        // and base64 of a stretch of text every nine bytes.
        "A".repeat(eight),
        STANDARD.encode("AAAAAAAA\x01".repeat(eight / 12)),
        // One byte's base64 repeated: a single run of base64's alphabet.
        STANDARD.encode(vec![7u8; eight / 4 * 3]),
        // MIME encoded-words without end, and one of 8 MiB.
        "=?a?Q?".repeat(eight / 6),
        format!("=?a?B?{}?=", "QUJD".repeat(eight / 4)),
        // A hex dump whose first line is preceded by 8 MiB on its line.
        format!(
            "{}\n00000010: 4142\n00000020: 4344\n",
            "0000 ".repeat(eight / 5)
        ),
    ] {
        scanned_within_the_calls_time(&hostile);
    }
}

fn scanned_within_the_calls_time(hostile: &str) {
    let (_gateway, api, _, client) = setup(FakeProvider::oauth2("gho_never_in_it"));
    api.set_reply("/big", FakeReply::new(200).body(hostile));
    let limit = std::time::Duration::from_secs(4);
    let options = FetchOptions::default()
        .withhold_credential_echo(true)
        .timeout(limit);
    let started = std::time::Instant::now();
    let url = format!("{}/big", api.url());
    let answer = client.authenticated_fetch(&TokenCache::new(), "ws", "p", &url, options);
    let took = started.elapsed();
    if std::env::var("ECHO_OVERRUN").is_ok() {
        eprintln!(
            "OVERRUN {:>6} bytes {:?} past",
            hostile.len(),
            took.saturating_sub(limit)
        );
    }
    // Whatever the machine: the body was cleared, or withheld saying it
    // could not be checked in time, or (on a machine too busy to even
    // read 15 MiB in 4 s) the read itself ran out of time.
    match answer {
        Ok((_, headers, body)) if body.len() != hostile.len() => {
            assert_eq!(headers["x-nexus-withheld"], "body");
            let said = String::from_utf8(body).unwrap();
            assert!(
                said.contains("could not be checked") && said.contains("time limit"),
                "a body not cleared in time says so: {said}"
            );
        }
        Ok(_) => {}
        Err(e) => assert_eq!(
            e.code,
            code::TIMEOUT,
            "only the call's time may end it: {e}"
        ),
    }
    // The scan looks at the clock after every 64 KiB of work, whatever it
    // does: in a debug build beside two busy loops it ends within about
    // 0.1 s of the limit (0.10: up to 0.8 s, and 5 s with more load). The
    // bound is that promise's 0.7 s with room for a loaded machine.
    assert!(
        took < limit + Duration::from_secs(2),
        "the call should end near its 4 s limit, not run on: it took {took:?}"
    );
}

fn client(gateway: &FakeGateway) -> NexusClient {
    let options =
        NexusClientOptions::new(gateway.url()).credential_scope(CredentialScope::anywhere());
    NexusClient::new(options.timeout(Duration::from_secs(10))).unwrap()
}

/// `text` cut every `width` characters and joined by `eol`: lines, as Ruby,
/// PEM and MIME encoders write base64, or groups split by any separator.
fn wrapped(text: &str, width: usize, eol: &str) -> String {
    let lines: Vec<&str> = (0..text.len())
        .step_by(width)
        .map(|i| &text[i..(i + width).min(text.len())])
        .collect();
    lines.join(eol)
}

#[test]
fn base64_broken_into_lines_is_an_echo_in_a_body_and_a_redirect() {
    let token = "gho_wrapped_7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a";
    let (gateway, api, elsewhere) = (
        FakeGateway::start(),
        FakeUpstream::start(),
        FakeUpstream::start(),
    );
    gateway.add_provider(
        "ws",
        "p",
        FakeProvider::oauth2(token).api_base_url(&api.url()),
    );
    let client = client(&gateway);
    let cache = TokenCache::new();
    let withhold = || FetchOptions::default().withhold_credential_echo(true);
    let encoded = STANDARD.encode(format!(
        "GET /user HTTP/1.1\r\nAuthorization: Bearer {token}\r\n"
    ));
    for (width, eol) in [
        (60, "\n"),
        (64, "\n"),
        (76, "\r\n"),
        (64, "\r\n"),
        (17, "\n"),
    ] {
        let body = format!(
            "-----BEGIN REQUEST-----\n{}\n-----END-----",
            wrapped(&encoded, width, eol)
        );
        api.set_reply("/echo", FakeReply::new(200).body(body.clone()));
        let url = format!("{}/echo", api.url());
        let (_, headers, got) = client
            .authenticated_fetch(&cache, "ws", "p", &url, withhold())
            .unwrap();
        assert_eq!(headers["x-nexus-withheld"], "body", "{width} {eol:?}");
        assert!(
            !String::from_utf8_lossy(&got).contains(&encoded[..40]),
            "{width}"
        );
        // In a redirect's target, the line breaks percent-encoded.
        let state = wrapped(&encoded, width, eol)
            .replace('\n', "%0A")
            .replace('\r', "%0D");
        let state = state
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let location = format!("{}/login?state={state}", elsewhere.url());
        api.set_reply("/go", FakeReply::new(302).header("Location", &location));
        let url = format!("{}/go", api.url());
        let (status, _, _) = client
            .authenticated_fetch(&cache, "ws", "p", &url, withhold())
            .unwrap();
        assert_eq!(status, 302, "not followed: {width} {eol:?}");
        assert!(
            elsewhere.requests().is_empty(),
            "nothing reached the other origin"
        );
    }
}

#[test]
fn base64_split_by_the_other_alphabets_characters_is_an_echo() {
    // A decoder of one alphabet drops the two characters only the other has.
    let token = "gho_grouped_9d2f4b6a8c0e1f3a5c7e9b1d";
    let (_gateway, api, _elsewhere, client) = setup(FakeProvider::oauth2(token));
    let head = format!("Authorization: Bearer {token}");
    let (standard, url_safe) = (STANDARD.encode(&head), URL_SAFE_NO_PAD.encode(&head));
    for body in [
        wrapped(&standard, 4, "-"),
        wrapped(&standard, 4, "_"),
        wrapped(&url_safe, 4, "+"),
        wrapped(&url_safe, 4, "/"),
        format!("id: {}", wrapped(&standard, 4, "-_")),
    ] {
        withheld(&api, &client, &body);
    }
}

/// A caller that shows only the body's start (`withhold_within`) has that
/// start scanned, and as far again past it: a credential there, or one the
/// cut splits, is withheld; one only past that reach comes back as it came,
/// for the caller to leave unshown.
#[test]
fn withhold_within_scans_what_is_shown_and_what_its_cut_splits() {
    let token = "gho_shown_or_not_9f3k";
    let (_gateway, api, _elsewhere, client) = setup(FakeProvider::oauth2(token));
    let within = 4096;
    let fetch_within = |body: String| {
        api.set_reply("/page", FakeReply::new(200).body(body.clone()));
        let mut options = FetchOptions::default().withhold_credential_echo(true);
        options.withhold_within = Some(within);
        let cache = TokenCache::new();
        let url = format!("{}/page", api.url());
        let (_, headers, got) = client
            .authenticated_fetch(&cache, "ws", "p", &url, options)
            .unwrap();
        (
            headers.contains_key("x-nexus-withheld"),
            got == body.as_bytes(),
        )
    };
    let hex: String = token.bytes().map(|b| format!("{b:02x}")).collect();
    let at = |offset: usize, form: &str| {
        let mut body = "a".repeat(offset);
        body.push_str(form);
        body.push_str(&"z".repeat(3 * within));
        body
    };
    // Inside what is shown, split by the cut, and inside the reach past it.
    for offset in [10, within - hex.len() / 2, 2 * within - hex.len() - 1] {
        assert_eq!(fetch_within(at(offset, &hex)), (true, false), "at {offset}");
    }
    // Past the reach: never shown, not scanned, the body whole.
    assert_eq!(fetch_within(at(2 * within + 1, &hex)), (false, true));
    assert_eq!(fetch_within(at(2 * within + 1, token)), (false, true));
    // Unset: the whole body is scanned, as before.
    let body = at(5 * within, token);
    api.set_reply("/page", FakeReply::new(200).body(body));
    let (_, headers, _) = fetch(&client, &format!("{}/page", api.url()), true);
    assert!(headers.contains_key("x-nexus-withheld"));
}
