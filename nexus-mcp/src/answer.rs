//! What a tool hands the model: an upstream answer as text (its status line
//! and body, cut and saying so, a binary body described) and as structured
//! content; pure functions, tested alone.

use std::collections::BTreeMap;

use nexus_sdk::Headers;
use nexus_sdk::http::StatusCode;
use rmcp::schemars::{self, JsonSchema};
use serde::Serialize;

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
    "x-nexus-withheld",
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
}

/// The answer as the model reads it: the text, and the structured content.
pub(crate) fn fetched(status: u16, headers: &Headers, body: &[u8]) -> (String, Fetched) {
    let shown: BTreeMap<String, String> = headers
        .iter()
        .filter(|(name, _)| SHOWN.iter().any(|s| name.as_str().starts_with(s)))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    let text = text_of(body);
    let truncated = text.is_some_and(|t| t.len() < body.len());
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    let mut said = format!("HTTP {status} {}\n\n", reason.unwrap_or(""));
    match text {
        Some(text) => said.push_str(text),
        None => {
            let kind = shown
                .get("content-type")
                .map_or("unknown type", String::as_str);
            let size = body.len();
            said.push_str(&format!(
                "[a binary body of {size} bytes ({kind}), not shown]"
            ));
        }
    }
    if truncated {
        let (size, cap) = (body.len(), BODY_CAP);
        said.push_str(&format!(
            "\n\n[cut: the body is {size} bytes; the first {cap} are shown]"
        ));
    }
    let fetched = Fetched {
        status,
        headers: shown,
        body: text.map(str::to_owned),
        body_bytes: body.len(),
        truncated,
    };
    (said, fetched)
}

/// The body's text up to [`BODY_CAP`] (a character cut there dropped), or
/// `None` when it is binary: not UTF-8, or holding a NUL.
fn text_of(body: &[u8]) -> Option<&str> {
    let head = &body[..body.len().min(BODY_CAP)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // Cut inside a character: the characters before it.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    (!text.contains('\0')).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let said = format!("[cut: the body is {size} bytes; the first {BODY_CAP} are shown]");
        assert!(text.ends_with(&said), "{}", &text[text.len() - 80..]);
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
}
