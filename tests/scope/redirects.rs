//! A credential never follows a redirect to another origin, in any form:
//! a `query_param` key that a server copies into a cross-origin `Location`
//! (as nginx's `$request_uri` does, or inside a sign-in page's
//! `return_to`), raw, percent-, form- or doubly encoded, on every redirect
//! code, and on the second try after a 401 too.

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeReply, FakeUpstream};
use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// A key with characters that every encoding changes.
const KEY: &str = "k/ey+1=z:";

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The forms a server may copy `key` (sent as `?key=<percent-encoded>` in a
/// request to `from`) into a `Location` on `to`.
fn locations(from: &str, to: &str, key: &str) -> Vec<String> {
    let request_uri = format!("/list?key={}", enc(key));
    vec![
        // nginx: `return 301 https://new$request_uri`, the query as received.
        format!("{to}{request_uri}"),
        format!("{to}/x?key={key}"),
        format!("{to}/x?k={}", enc(key).to_lowercase()),
        format!("{to}/x?k={}", enc(key).replace("%20", "+")),
        // A sign-in page: the request URL, encoded, in `return_to`.
        format!(
            "{to}/login?return_to={}",
            enc(&format!("{from}{request_uri}"))
        ),
        // Doubly encoded.
        format!("{to}/login?next={}", enc(&enc(key))),
        format!("{to}/{}", enc(key)),
    ]
}

fn setup(key: FakeProvider) -> (FakeGateway, FakeUpstream, FakeUpstream, NexusClient) {
    let (gateway, api, elsewhere) = (
        FakeGateway::start(),
        FakeUpstream::start(),
        FakeUpstream::start(),
    );
    gateway.add_provider("ws", "maps", key.api_base_url(&api.url()));
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    (gateway, api, elsewhere, client)
}

#[test]
fn a_query_credential_copied_into_a_cross_origin_location_is_not_followed() {
    let (_gateway, api, elsewhere, client) = setup(FakeProvider::query_param("key", KEY));
    let cache = TokenCache::new();
    for status in [301, 302, 303, 307, 308] {
        for location in locations(&api.url(), &elsewhere.url(), KEY) {
            api.set_reply(
                "/list",
                FakeReply::new(status).header("Location", &location),
            );
            let url = format!("{}/list", api.url());
            let (got, headers, _) = client
                .authenticated_fetch(&cache, "ws", "maps", &url, FetchOptions::default())
                .unwrap();
            assert_eq!(got, status, "the redirect is the answer: {location}");
            assert_eq!(headers["location"], location.as_str());
        }
    }
    assert_eq!(
        elsewhere.connections(),
        0,
        "the other origin received nothing"
    );
    // A cross-origin redirect that does not hold the key is still followed.
    let to = format!("{}/moved?page=2", elsewhere.url());
    api.set_reply("/list", FakeReply::new(302).header("Location", &to));
    let url = format!("{}/list", api.url());
    let (status, _, _) = client
        .authenticated_fetch(&cache, "ws", "maps", &url, FetchOptions::default())
        .unwrap();
    assert_eq!(status, 200);
    let landed = elsewhere.last_request().unwrap();
    assert_eq!(
        (landed.path.as_str(), landed.query.as_str()),
        ("/moved", "page=2")
    );
    assert!(!landed.query.contains("k"), "and without the key");
}

#[test]
fn nor_on_the_second_try_after_a_401() {
    let elsewhere = FakeUpstream::start();
    for status in [302, 307] {
        let (_gateway, api, _, client) = setup(FakeProvider::query_param("key", "tok").rotating());
        for n in 0..locations("", "", "").len() {
            // Each time: tok-<2n+1> sent first and refused, then tok-<2n+2>.
            let (first, second) = (format!("tok-{}", 2 * n + 1), format!("tok-{}", 2 * n + 2));
            let location = locations(&api.url(), &elsewhere.url(), &second).swap_remove(n);
            let cache = TokenCache::new();
            cache.set("ws", "maps", client.resolve_token("ws", "maps").unwrap());
            api.reject_token(&first);
            api.set_reply(
                "/list",
                FakeReply::new(status).header("Location", &location),
            );
            let url = format!("{}/list", api.url());
            let (got, _, _) = client
                .authenticated_fetch(&cache, "ws", "maps", &url, FetchOptions::default())
                .unwrap();
            assert_eq!(got, status, "{location}");
        }
    }
    assert_eq!(
        elsewhere.connections(),
        0,
        "the other origin received nothing"
    );
}

#[test]
#[cfg(feature = "echo")]
fn an_answer_echoing_the_credential_is_withheld_when_asked() {
    let (_gateway, api, _, client) = setup(FakeProvider::oauth2("gho/Ab+cd=9"));
    let cache = TokenCache::new();
    let url = format!("{}/echo", api.url());
    let echoes = [
        r#"{"Authorization":"Bearer gho/Ab+cd=9"}"#.to_owned(),
        r#"{"Authorization":"Bearer gho\/Ab+cd=9"}"#.to_owned(),
        format!("seen: {}", enc("Bearer gho/Ab+cd=9")),
        format!("seen: {}", enc(&enc("gho/Ab+cd=9"))),
        "seen: Z2hvL0FiK2NkPTk".to_owned(),
    ];
    for body in &echoes {
        let reply = FakeReply::new(401)
            .header("X-Seen", &enc("gho/Ab+cd=9"))
            .body(body.as_str());
        api.set_reply("/echo", reply.header("X-Other", "kept"));
        let asked = FetchOptions::default().withhold_credential_echo(true);
        let (status, headers, got) = client
            .authenticated_fetch(&cache, "ws", "maps", &url, asked)
            .unwrap();
        assert_eq!(status, 401);
        assert_eq!(got, b"<withheld: the text echoed a credential>", "{body}");
        assert!(headers.get("x-seen").is_none() && headers["x-other"] == "kept");
        // Not asked: the tuple is the answer as it came.
        let plain = client.authenticated_fetch(&cache, "ws", "maps", &url, FetchOptions::default());
        assert_eq!(plain.unwrap().2, body.as_bytes());
    }
}

/// `x-nexus-redirected-to` and `x-nexus-withheld` are the SDK's alone: an
/// upstream's own copies (any case, several values) are removed, so a
/// caller (or a model) never reads an upstream's claim as the SDK's.
#[test]
#[cfg(feature = "echo")]
fn an_upstreams_own_sdk_headers_are_removed() {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho_t").api_base_url(&api.url()),
    );
    let forged = [
        (nexus_sdk::X_NEXUS_REDIRECTED_TO, "https://trusted.example"),
        ("X-Nexus-Withheld", "body"),
        ("X-NEXUS-REDIRECTED-TO", "https://second.example"),
    ];
    let mut reply = FakeReply::new(200).body("plain answer");
    for (name, value) in forged {
        reply = reply.header(name, value);
    }
    api.set_reply("/forged", reply);
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let url = format!("{}/forged", api.url());
    for withhold in [false, true] {
        let options = FetchOptions::default().withhold_credential_echo(withhold);
        let (status, headers, body) = client
            .authenticated_fetch(&TokenCache::new(), "ws", "github", &url, options)
            .unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"plain answer"[..]));
        for name in [
            nexus_sdk::X_NEXUS_REDIRECTED_TO,
            nexus_sdk::X_NEXUS_WITHHELD,
        ] {
            assert_eq!(
                headers.get(name),
                None,
                "withhold {withhold}: {name} is the SDK's alone"
            );
        }
    }
}

/// `FetchOptions::before_redirect` is asked before each redirect the call
/// follows (its method after the redirect's rules, its URL), one to another
/// origin (which the credential does not reach) too, never before the
/// first request; its error ends the call there, nothing sent to the hop.
#[test]
fn before_redirect_decides_each_hop_the_call_follows() {
    use std::sync::{Arc, Mutex};
    let (_gateway, api, elsewhere, client) = setup(FakeProvider::oauth2("gho_x"));
    let cache = TokenCache::new();
    let moved = |status: u16, to: &str| FakeReply::new(status).header("Location", to);
    api.set_reply("/a", moved(302, "/b"));
    api.set_reply("/b", moved(307, &format!("{}/c", elsewhere.url())));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&asked);
    let options = FetchOptions::default()
        .method("POST")
        .before_redirect(move |method, uri| {
            kept.lock()
                .unwrap()
                .push(format!("{method} {}", uri.path()));
            Ok(())
        });
    let url = format!("{}/a", api.url());
    let (status, _, _) = client
        .authenticated_fetch(&cache, "ws", "maps", &url, options)
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        *asked.lock().unwrap(),
        ["GET /b", "GET /c"],
        "a 302 makes a POST a GET; the hop to another origin is asked too"
    );
    assert_eq!(
        elsewhere.request_count(),
        1,
        "the other origin reached, uncredentialed"
    );
    let refused = FetchOptions::default().before_redirect(|_, uri| {
        Err(nexus_sdk::NexusError::new(
            "policy_denied",
            format!("not {}", uri.path()),
        ))
    });
    let sent = api.request_count();
    let error = client
        .authenticated_fetch(&cache, "ws", "maps", &url, refused)
        .unwrap_err();
    assert_eq!(
        (error.code.as_str(), error.message.as_str()),
        ("policy_denied", "not /b")
    );
    assert_eq!(api.request_count(), sent + 1, "nothing sent to /b");
    // A hop to another origin refused: nothing reaches it.
    let reached = elsewhere.request_count();
    let elsewhere_refused = FetchOptions::default().before_redirect(|_, uri| {
        let away = uri.path() == "/c";
        let refused = nexus_sdk::NexusError::new("origin_not_allowed", "not there");
        if away { Err(refused) } else { Ok(()) }
    });
    let error = client
        .authenticated_fetch(&cache, "ws", "maps", &url, elsewhere_refused)
        .unwrap_err();
    assert_eq!(error.code.as_str(), "origin_not_allowed");
    assert_eq!(
        elsewhere.request_count(),
        reached,
        "nothing sent to the other origin"
    );
}
