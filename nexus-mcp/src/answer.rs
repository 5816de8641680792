//! What a tool hands the model: an upstream answer as text (its status line
//! and body, cut and saying so, a binary body described) and as structured
//! content; pure functions, tested alone.

use std::collections::BTreeMap;

use nexus_sdk::http::StatusCode;
use nexus_sdk::http::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderName};
use nexus_sdk::{
    Headers, NexusError, X_NEXUS_REDIRECTED_TO, X_NEXUS_WITHHELD, one_line, one_line_within,
    setting,
};
use rmcp::schemars::{self, JsonSchema};
use serde::Serialize;

/// Where a redirect off the provider's origin was answered from, as the
/// library says it.
const REDIRECTED_TO: HeaderName = HeaderName::from_static(X_NEXUS_REDIRECTED_TO);

/// The most of a body a model reads.
pub(crate) const BODY_CAP: usize = 64 << 10;

/// Response headers a model may need to read an answer or page through it,
/// by name or prefix; no other header is passed on.
const SHOWN: [&str; 9] = [
    "content-type",
    "link",
    "location",
    "retry-after",
    "etag",
    X_NEXUS_WITHHELD,
    "x-ratelimit-",
    "x-rate-limit-",
    "ratelimit",
];

/// An upstream answer, as `structuredContent`.
#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub(crate) struct Fetched {
    /// The HTTP status.
    #[schemars(with = "i64")]
    pub(crate) status: u16,
    /// The headers a model may need: content type, pagination (`link`),
    /// redirects, rate limits, and `x-nexus-withheld` when the answer echoed
    /// the credential and was withheld.
    pub(crate) headers: BTreeMap<String, String>,
    /// The body as text, cut at 64 KiB; null when it is binary.
    pub(crate) body: Option<String>,
    /// The body's whole size in bytes.
    #[schemars(with = "i64")]
    pub(crate) body_bytes: usize,
    /// Whether `body` holds less than the whole body.
    pub(crate) truncated: bool,
    /// The origin the answer came from when a redirect led away from the
    /// URL's: it is that server's answer, not the provider's API's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redirected_to: Option<String>,
}

/// The answer as the model reads it: the text, and the structured content.
pub(crate) fn fetched(status: u16, headers: &Headers, body: &[u8]) -> (String, Fetched) {
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let wanted = headers
        .iter()
        .filter(|(n, _)| SHOWN.iter().any(|s| n.as_str().starts_with(s)));
    for (name, value) in wanted {
        let Ok(value) = value.to_str() else { continue };
        // Every line of a repeated header, joined as HTTP joins them.
        let joined = shown.entry(name.to_string()).or_default();
        if !joined.is_empty() {
            joined.push_str(", ");
        }
        joined.push_str(value);
    }
    let header = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let redirected_to = header(REDIRECTED_TO).map(str::to_owned);
    let encoding = header(CONTENT_ENCODING).filter(|e| !e.eq_ignore_ascii_case("identity"));
    let text = encoding
        .is_none()
        .then(|| text_of(body, header(CONTENT_TYPE)))
        .flatten();
    let truncated = text.as_ref().is_some_and(|t| t.cut);
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    let mut said = format!("HTTP {status} {}\n", reason.unwrap_or(""));
    if let Some(origin) = &redirected_to {
        said += &format!(
            "[after a redirect: this is the answer of {origin}, not of the provider's API]\n"
        );
    }
    if status == 401 && redirected_to.is_none() {
        said += "[the provider may have refused the credential: after a 401 this server resolves \
                  a fresh one and sends once more by itself, so if so, the user may need to \
                  reconnect this provider in Nexus]\n";
    }
    said.push('\n');
    let size = body.len();
    let kind = shown
        .get("content-type")
        .map_or("unknown type", String::as_str);
    match (&text, encoding) {
        (Some(text), _) => said.push_str(&text.text),
        (None, Some(encoding)) => {
            said += &format!(
                "[a {encoding}-compressed body of {size} bytes ({kind}), not shown: this server does not decode {encoding}]"
            )
        }
        (None, None) => said += &format!("[a binary body of {size} bytes ({kind}), not shown]"),
    }
    if truncated {
        said += &format!(
            "\n\n[cut: the body is {size} bytes; the first {BODY_CAP} are shown. Ask for less: \
             the API's pagination (the link header) or its filters]"
        );
    }
    let fetched = Fetched {
        status,
        headers: shown,
        body: text.map(|t| t.text),
        body_bytes: size,
        truncated,
        redirected_to,
    };
    (said, fetched)
}

/// A body's text as the model reads it, and whether it was cut.
struct Text {
    text: String,
    cut: bool,
}

/// The body's text up to [`BODY_CAP`] (a character cut there dropped),
/// decoded from the charset `content_type` declares (UTF-8, US-ASCII, or
/// ISO-8859-1 and its Windows-1252 superset, read as Latin-1); `None` when
/// it is binary: not text in that charset, or holding a NUL.
fn text_of(body: &[u8], content_type: Option<&str>) -> Option<Text> {
    let head = &body[..body.len().min(BODY_CAP)];
    let charset = content_type
        .and_then(|t| t.split(';').find_map(|p| p.trim().strip_prefix("charset=")))
        .map(|c| c.trim_matches('"').to_ascii_lowercase());
    let text = match charset.as_deref() {
        None | Some("utf-8" | "utf8" | "us-ascii" | "ascii") => match std::str::from_utf8(head) {
            Ok(text) => text.to_owned(),
            // Cut inside a character: the characters before it.
            Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()])
                .ok()?
                .to_owned(),
            Err(_) => return None,
        },
        Some("iso-8859-1" | "latin1" | "latin-1" | "windows-1252") => {
            head.iter().map(|b| char::from(*b)).collect()
        }
        Some(_) => return None,
    };
    let cut = head.len() < body.len();
    (!text.contains('\0')).then_some(Text { text, cut })
}

/// An SDK error as the model and stderr read it: `code: message`, one
/// line, the setting it blames named as the operator sets it (the library
/// names it once: `NEXUS_TIMEOUT` becomes `--timeout (NEXUS_TIMEOUT)`).
pub(crate) fn said(error: &NexusError) -> String {
    let said = error.to_string();
    match error.setting {
        Some(name @ setting::NEXUS_TIMEOUT) => {
            one_line(&said.replacen(name, "--timeout (NEXUS_TIMEOUT)", 1))
        }
        _ => one_line(&said),
    }
}

/// A stranger's `text` as a page shows a value of it: on one line, at most
/// `max` bytes of it, `…` where cut.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    let shown = one_line_within(text, max);
    match shown.len() < one_line(text).len() {
        true => format!("{shown}…"),
        false => shown,
    }
}

/// `text` as a quoted field of a log line, in one escape, as Rust writes a
/// string: `\\` and `"` after a `\\`, each character a person cannot see
/// (those `one_line` escapes) as `\\n`, `\\u{200b}`…, every other one as it
/// is; at most `max` bytes, never an escape split, with `…` when cut. A
/// reader that undoes those escapes reads back the field as it was sent,
/// and no field can close its quotes early or break its line.
pub(crate) fn quoted(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let before = out.len();
        match c {
            '\\' | '"' => out.extend(['\\', c]),
            _ if one_line(c.encode_utf8(&mut [0; 4])).len() > c.len_utf8() => {
                out.extend(c.escape_default());
            }
            _ => out.push(c),
        }
        if out.len() > max {
            out.truncate(before);
            out.push('…');
            break;
        }
    }
    out
}

/// A server's or a model's `text` as one field of a line: escaped by
/// `one_line`, at most `max` bytes of it (never a character or an escape
/// split), with `…` when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    let shown = one_line_within(text, max);
    if shown.len() < one_line(text).len() {
        return shown + "…";
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one decoder of [`quoted`]'s escape: `\\\\`, `\\"`, `\\n`, `\\r`,
    /// `\\t`, `\\u{…}`.
    fn read_back(field: &str) -> String {
        let mut chars = field.chars();
        let mut out = String::new();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next().unwrap() {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let code: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&code, 16).unwrap()).unwrap());
                }
                other => out.push(other),
            }
        }
        out
    }

    #[test]
    fn a_quoted_field_reads_back_as_sent_whatever_it_holds() {
        let classes = [
            "plain name 1.0",
            "back\\slash and \\n written out",
            "quote \" inside \"\"",
            "line\nbreak\r\nand\ttab",
            "\u{0}\u{1b}[31mred\u{7f}",
            "invisible\u{200b}\u{202e}\u{feff}\u{2063}",
            "accents é ü and 日本語 and 😀",
            "mixed \\\" \\\n \"\\",
        ];
        for sent in classes {
            let field = quoted(sent, 1000);
            assert!(!field.contains('\n') && !field.contains('\r'), "{field}");
            assert!(
                !field.replace("\\\\", "").replace("\\\"", "").contains('"'),
                "no quote closes the field early: {field}"
            );
            assert_eq!(read_back(&field), sent, "{field}");
        }
        let cut = quoted("\u{200b}".repeat(10).as_str(), 20);
        assert!(
            cut.ends_with('…')
                && read_back(cut.trim_end_matches('…'))
                    .chars()
                    .all(|c| c == '\u{200b}')
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> Headers {
        let mut headers = Headers::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn a_text_body_is_shown_with_the_headers_a_model_needs() {
        let h = headers(&[
            ("content-type", "application/json"),
            ("link", "<https://api.example/p2>; rel=\"next\""),
            ("x-ratelimit-remaining", "59"),
            ("set-cookie", "session=s3cret"),
            ("server", "nginx"),
        ]);
        let (text, fetched) = fetched(200, &h, br#"{"ok":true}"#);
        assert_eq!(text, "HTTP 200 OK\n\n{\"ok\":true}");
        let names: Vec<&str> = fetched.headers.keys().map(String::as_str).collect();
        assert_eq!(names, ["content-type", "link", "x-ratelimit-remaining"]);
        assert_eq!(fetched.body.as_deref(), Some(r#"{"ok":true}"#));
        assert!(!fetched.truncated);
    }

    #[test]
    fn a_long_body_is_cut_on_a_character_and_says_so() {
        let mut body = "é".repeat(BODY_CAP / 2 + 10).into_bytes();
        body.insert(0, b'x'); // so the cap falls inside an `é`
        let (text, fetched) = fetched(200, &Headers::new(), &body);
        assert!(fetched.truncated);
        let shown = fetched.body.unwrap();
        assert_eq!(shown.len(), BODY_CAP - 1, "the cut `é` dropped");
        let size = body.len();
        let said = format!("[cut: the body is {size} bytes; the first {BODY_CAP} are shown. Ask");
        assert!(text.contains(&said), "{}", &text[text.len() - 200..]);
        assert!(text.ends_with("pagination (the link header) or its filters]"));
    }

    #[test]
    fn every_line_of_a_repeated_header_is_kept() {
        let h = headers(&[
            ("link", "<https://api.example/p2>; rel=\"next\""),
            ("link", "<https://api.example/p9>; rel=\"last\""),
        ]);
        let (_, fetched) = fetched(200, &h, b"[]");
        assert_eq!(
            fetched.headers["link"],
            "<https://api.example/p2>; rel=\"next\", <https://api.example/p9>; rel=\"last\""
        );
    }

    #[test]
    fn a_declared_charset_is_decoded_and_a_compressed_body_said_so() {
        let h = headers(&[("content-type", "text/plain; charset=ISO-8859-1")]);
        let (text, latin) = fetched(200, &h, b"caf\xe9");
        assert_eq!(latin.body.as_deref(), Some("café"));
        assert!(text.ends_with("café"), "{text}");
        let h = headers(&[("content-type", "text/plain; charset=\"utf-16\"")]);
        assert_eq!(
            fetched_with(&h, b"\xff\xfea\0").body,
            None,
            "a charset not read: not shown"
        );
        let h = headers(&[
            ("content-type", "application/json"),
            ("content-encoding", "br"),
        ]);
        let (text, compressed) = fetched(200, &h, b"\x1b\x02");
        assert_eq!(compressed.body, None);
        assert!(text.contains("a br-compressed body of 2 bytes"), "{text}");
    }

    fn fetched_with(h: &Headers, body: &[u8]) -> Fetched {
        fetched(200, h, body).1
    }

    #[test]
    fn an_answer_from_elsewhere_and_a_401_say_so() {
        let h = headers(&[("x-nexus-redirected-to", "https://login.example")]);
        let (text, away) = fetched(200, &h, b"<html>");
        assert_eq!(away.redirected_to.as_deref(), Some("https://login.example"));
        assert!(
            text.contains("this is the answer of https://login.example, not of the provider's API")
        );
        assert!(!away.headers.contains_key("x-nexus-redirected-to"));
        let (text, _) = fetched_text_401();
        let said = "[the provider may have refused the credential: after a 401 this server \
                    resolves a fresh one and sends once more by itself, so if so, the user may \
                    need to reconnect this provider in Nexus]";
        assert!(text.contains(said), "{text}");
    }

    fn fetched_text_401() -> (String, Fetched) {
        fetched(401, &Headers::new(), b"Bad credentials")
    }

    #[test]
    fn a_binary_body_is_described_not_dumped() {
        let h = headers(&[("content-type", "image/png")]);
        let body = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let (text, fetched) = fetched(200, &h, body);
        assert_eq!(
            text,
            "HTTP 200 OK\n\n[a binary body of 16 bytes (image/png), not shown]"
        );
        assert_eq!((fetched.body, fetched.body_bytes), (None, 16));
        let (_, nul) = fetched_text("a\0b");
        assert_eq!(nul.body, None);
    }

    fn fetched_text(body: &str) -> (String, Fetched) {
        fetched(404, &Headers::new(), body.as_bytes())
    }

    #[test]
    fn an_empty_body_and_an_unknown_status() {
        let (text, _) = fetched_text("");
        assert_eq!(text, "HTTP 404 Not Found\n\n");
        let (text, _) = fetched(599, &Headers::new(), b"x");
        assert_eq!(text, "HTTP 599 \n\nx");
    }

    #[test]
    fn a_cut_field_never_ends_inside_an_escape() {
        let text = format!("{}\u{202E}tail", "a".repeat(60));
        assert_eq!(cut(&text, 64), format!("{}…", "a".repeat(60)));
        assert_eq!(cut("short", 64), "short");
    }
}
