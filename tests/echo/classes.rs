//! The echo rule as a class, through `authenticated_fetch`: a credential
//! in any form a standard decoder undoes, however it is split, is withheld;
//! an answer that does not hold it comes back whole.

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeReply, FakeUpstream};
use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache};

const TOKEN: &str = "gho_Wq7Lm2Xv9Tb4Rz8Kp1Nd6Fs3Hc5Jy0Ae";

/// What an answer of `body` comes back as, the credential `TOKEN`.
fn answered(body: &str) -> Vec<u8> {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws",
        "p",
        FakeProvider::oauth2(TOKEN).api_base_url(&api.url()),
    );
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    api.set_reply("/echo", FakeReply::new(200).body(body));
    let options = FetchOptions::default().withhold_credential_echo(true);
    let url = format!("{}/echo", api.url());
    let (_, _, got) = client
        .authenticated_fetch(&TokenCache::new(), "ws", "p", &url, options)
        .unwrap();
    got
}

fn is_withheld(body: &str) -> bool {
    answered(body) == b"<withheld: the text echoed a credential>"
}

fn split(text: &str, sep: &str, every: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let parts: Vec<String> = chars.chunks(every).map(|c| c.iter().collect()).collect();
    parts.join(sep)
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_token_split_by_what_a_reader_skips_is_withheld() {
    for (sep, every) in [
        ("\n      ", 11),
        ("\n> ", 8),
        ("\u{200B}", 1),
        ("\u{00AD}", 3),
        ("\u{2060}", 2),
        (" | ", 6),
        ("-", 4),
        ("\0", 1),
    ] {
        let body = format!("debug: {}", split(TOKEN, sep, every));
        assert!(is_withheld(&body), "split by {sep:?} every {every}");
    }
}

#[test]
fn hex_in_either_case_and_its_escapes_are_withheld() {
    let lower = hex(TOKEN);
    for body in [
        format!("authorization: {lower}"),
        lower.to_uppercase(),
        split(&lower, ":", 2),
        split(&lower, " ", 4),
        TOKEN
            .bytes()
            .map(|b| format!("\\x{b:02X}"))
            .collect::<String>(),
        format!(
            "b'{}'",
            TOKEN
                .bytes()
                .map(|b| format!("\\x{b:02x}"))
                .collect::<String>()
        ),
        TOKEN
            .bytes()
            .map(|b| format!("0x{b:02X}, "))
            .collect::<String>(),
    ] {
        assert!(is_withheld(&body), "{body}");
    }
}

#[test]
fn forms_nested_three_deep_are_withheld() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let json = format!(r#"{{"h":"Bearer {}"}}"#, TOKEN.replace('_', "\\u005f"));
    let escaped: String = json.bytes().map(|b| format!("%{b:02X}")).collect();
    for body in [
        STANDARD.encode(&json),
        hex(&STANDARD.encode(&json)),
        STANDARD.encode(hex(TOKEN)),
        escaped,
    ] {
        assert!(is_withheld(&body), "{body}");
    }
}

#[test]
fn an_answer_that_does_not_hold_the_token_comes_back_whole() {
    let mut changed = TOKEN.to_owned().into_bytes();
    changed[20] = if changed[20] == b'Q' { b'R' } else { b'Q' };
    let changed = String::from_utf8(changed).unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let noise: String = (0..48 << 10)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            char::from(alphabet[(seed % 62) as usize])
        })
        .collect();
    for body in [
        TOKEN[..24].to_owned(),
        changed.clone(),
        split(&changed, "\u{200B}", 1),
        hex(&changed),
        hex("another credential altogether, 0123456789"),
        noise.clone(),
        hex(&noise[..20_000]),
    ] {
        assert_eq!(
            answered(&body),
            body.as_bytes(),
            "{}",
            &body[..body.len().min(60)]
        );
    }
}
