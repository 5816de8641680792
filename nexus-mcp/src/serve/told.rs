//! What a refusal tells the operator: one line per refusal on stderr, the
//! reason and the values to compare (the token's `iss`, `aud`, `exp`,
//! `nbf` and `kid` against what this replica expects and its clock; the
//! `Host` or `Origin` against the allowed ones), never a token, a subject
//! or a workspace. At most one line per reason every [`EVERY`]; the next
//! says how many were left unsaid, so a flood cannot fill a disk.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderName, header};
use serde_json::{Map, Value};

/// How often one reason is said at most.
pub(crate) const EVERY: Duration = Duration::from_secs(10);

/// At most this many reasons are said apart in one period; past it, those
/// not said lately share [`OTHERS`], so a flood of distinct reasons (text a
/// request chose) is a bounded number of lines and of entries.
const REASONS: usize = 64;

/// The reason the rest share once [`REASONS`] are held.
const OTHERS: &str = "other reasons";

/// When each reason was last said, and how many since went unsaid.
#[derive(Default)]
pub(crate) struct Told {
    said: Mutex<HashMap<String, (Instant, u64)>>,
}

impl Told {
    /// Says `line` at WARN for `reason`, unless that reason was said less
    /// than [`EVERY`] ago (then it is counted, and the next line says so).
    pub(crate) fn warn(&self, reason: &str, line: &str) {
        let Ok(mut said) = self.said.lock() else {
            return;
        };
        let now = Instant::now();
        if said.len() >= REASONS && !said.contains_key(reason) {
            said.retain(|_, (at, _)| now.duration_since(*at) < EVERY);
        }
        let held = said.len() < REASONS || said.contains_key(reason);
        let reason = if held { reason } else { OTHERS };
        if let Some((at, unsaid)) = said.get_mut(reason) {
            if now.duration_since(*at) < EVERY {
                *unsaid += 1;
                return;
            }
            let more = std::mem::take(unsaid);
            *at = now;
            let more = match more {
                0 => String::new(),
                n => format!(
                    " ({n} more like it unsaid in the last {}s)",
                    EVERY.as_secs()
                ),
            };
            log::warn!(target: "nexus_mcp", "{line}{more}");
            return;
        }
        said.insert(reason.to_owned(), (now, 0));
        log::warn!(target: "nexus_mcp", "{line}");
    }
}

/// What an operator compares in a refused `token`, read without trusting
/// it (it was refused): its `iss` and `aud` beside `issuer` and
/// `audiences`, its `exp` and `nbf` beside `now` (the skew said), its
/// `kid`. An opaque token says only that it is opaque.
pub(crate) fn token_facts(token: &str, issuer: &str, audiences: &[&str], now: u64) -> String {
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return "an opaque token (not a JWS)".to_owned();
    };
    let read = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(token);
    let claims = read.unwrap_or_default();
    let shown = |name: &str| claims.get(name).map_or("none".to_owned(), Value::to_string);
    let mut facts = vec![
        format!("iss {} (expected {issuer:?})", shown("iss")),
        format!("aud {} (expected {})", shown("aud"), quoted(audiences)),
    ];
    for (name, past) in [("exp", "past"), ("nbf", "before")] {
        if let Some(at) = claims.get(name).and_then(Value::as_u64) {
            facts.push(format!("{name} {at} ({})", skew(at, now, past)));
        }
    }
    facts.push(format!("this replica's clock {now}"));
    // What it grants, beside the scope a 403 says it lacks.
    for name in ["scope", "scp", "roles"] {
        if let Some(granted) = claims.get(name) {
            facts.push(format!("{name} {}", cut(&granted.to_string())));
        }
    }
    if let Some(kid) = header.kid {
        facts.push(format!("kid {:?}", cut(&kid)));
    }
    if let Some(typ) = header.typ {
        facts.push(format!("typ {:?}", cut(&typ)));
    }
    facts.push(format!("alg {:?}", header.alg));
    facts.extend(entra_hints(&claims, issuer, audiences));
    facts.join(", ")
}

/// Microsoft Graph's application id, the audience of its tokens.
const GRAPH: [&str; 2] = [
    "00000003-0000-0000-c000-000000000000",
    "https://graph.microsoft.com",
];

/// The setting that mends each Entra ID mistake the token and this
/// server's `issuer` and `audiences` show: a v1 token, a Microsoft Graph
/// token, the application named in the form no `--audience` has, an
/// `--issuer` that is not the tenant's v2 one.
fn entra_hints(claims: &Map<String, Value>, issuer: &str, audiences: &[&str]) -> Vec<String> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
    let (aud, tid) = (text("aud"), text("tid"));
    let mut hints = Vec::new();
    if text("ver") == "1.0" || text("iss").starts_with("https://sts.windows.net/") {
        hints.push("hint: an Entra ID v1 token; set accessTokenAcceptedVersion to 2 in the application's manifest".to_owned());
    }
    if GRAPH.contains(&aud) {
        hints.push("hint: a Microsoft Graph token; the host asked Graph's scope, and must ask the API's as this server's metadata lists it (api://…)".to_owned());
    }
    let other = aud
        .strip_prefix("api://")
        .map_or(format!("api://{aud}"), str::to_owned);
    let unnamed = !aud.is_empty() && !audiences.contains(&aud) && !GRAPH.contains(&aud);
    if unnamed && audiences.contains(&other.as_str()) {
        hints.push(format!("hint: the token names the application as {aud:?}, the form no --audience gives (add --audience {})", cut(aud)));
    } else if unnamed && !tid.is_empty() {
        // Entra names the application by its id (a GUID) or its
        // Application ID URI, whichever the host asked the scope under.
        hints.push(format!("hint: an Entra ID token for the application {aud:?}: if that is this server's application, add --audience {}", cut(aud)));
    }
    let shared = [
        "/common/",
        "/organizations/",
        "/consumers/",
        "sts.windows.net",
    ];
    if !tid.is_empty() && shared.iter().any(|s| issuer.contains(s)) {
        hints.push(format!("hint: --issuer is not a tenant's v2 issuer; this token's is https://login.microsoftonline.com/{}/v2.0", cut(tid)));
    }
    hints
}

/// `value` cut to 64 characters, as a line shows what a client sent.
pub(crate) fn cut(value: &str) -> String {
    value.chars().take(64).collect()
}

/// `["a" or "b"]`.
fn quoted(audiences: &[&str]) -> String {
    let quoted: Vec<String> = audiences.iter().map(|a| format!("{a:?}")).collect();
    quoted.join(" or ")
}

/// How far `at` is from `now`, in words an operator reads as skew.
fn skew(at: u64, now: u64, past: &str) -> String {
    match at.cmp(&now) {
        std::cmp::Ordering::Less => format!("{}s {past} this clock's now", now - at),
        _ => format!("in {}s by this clock", at - now),
    }
}

/// What a request said of itself, as an operator compares it with the
/// body's: its MCP version and method headers, and its size. Held as sent
/// (each value shares the request's bytes) and written only for a line,
/// when the request is refused.
pub(crate) struct Asked([Option<axum::http::HeaderValue>; 4]);

/// The headers [`Asked`] holds, in the order its line names them.
const ASKED: [HeaderName; 4] = [
    HeaderName::from_static("mcp-protocol-version"),
    HeaderName::from_static("mcp-method"),
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
];

/// What `headers` say of the request.
pub(crate) fn asked(headers: &axum::http::HeaderMap) -> Asked {
    Asked(ASKED.map(|name| headers.get(name).cloned()))
}

impl std::fmt::Display for Asked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [version, method, kind, length] = self
            .0
            .each_ref()
            .map(|v| cut(v.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("none")));
        write!(
            f,
            "MCP-Protocol-Version {version:?}, Mcp-Method {method:?}, Content-Type {kind:?}, \
             Content-Length {length}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_request_said_is_written_only_as_its_line_asks() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("mcp-method", "tools/call".parse().unwrap());
        headers.insert("content-length", "42".parse().unwrap());
        assert_eq!(
            asked(&headers).to_string(),
            "MCP-Protocol-Version \"none\", Mcp-Method \"tools/call\", Content-Type \"none\", \
             Content-Length 42"
        );
    }

    #[test]
    fn a_reason_is_said_once_per_period_and_the_next_line_counts_the_rest() {
        let told = Told::default();
        told.warn("expired", "one");
        told.warn("expired", "two");
        told.warn("expired", "three");
        let said = told.said.lock().unwrap();
        assert_eq!(said["expired"].1, 2, "two left unsaid, counted");
    }

    #[test]
    fn a_flood_of_distinct_reasons_is_held_to_a_bounded_number_of_lines() {
        let told = Told::default();
        for i in 0..1000 {
            told.warn(&format!("Host \"attacker-{i}.example\""), "refused");
        }
        let said = told.said.lock().unwrap();
        assert_eq!(
            said.len(),
            REASONS + 1,
            "the reasons held, and the one the rest share"
        );
        assert_eq!(
            said[OTHERS].1,
            (1000 - REASONS - 1) as u64,
            "the rest counted"
        );
    }

    #[test]
    fn a_tokens_grants_are_shown_beside_what_it_is_refused_for() {
        use base64::Engine as _;
        let part = |v: Value| {
            let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            engine.encode(v.to_string())
        };
        let claims = serde_json::json!({"iss": "https://i", "scp": "User.Read", "roles": ["Task.Write\nforged"]});
        let token = format!(
            "{}.{}.sig",
            part(serde_json::json!({"alg": "RS256"})),
            part(claims)
        );
        let facts = token_facts(&token, "https://i", &["https://r/mcp"], 5);
        assert!(facts.contains(r#"scp "User.Read""#), "{facts}");
        assert!(
            facts.contains(r#"roles ["Task.Write\nforged"]"#),
            "escaped: {facts}"
        );
        assert!(!facts.contains("scope "), "{facts}");
    }

    #[test]
    fn each_entra_mistake_a_token_shows_is_told_with_its_mend() {
        let claims = |v: Value| v.as_object().cloned().unwrap_or_default();
        let tenant = "https://login.microsoftonline.com/t-1/v2.0";
        let hints = |c: Value, issuer: &str, audiences: &[&str]| {
            entra_hints(&claims(c), issuer, audiences).join(" | ")
        };
        let v1 = serde_json::json!({"iss": "https://sts.windows.net/t-1/", "ver": "1.0"});
        assert!(hints(v1, tenant, &[]).contains("accessTokenAcceptedVersion to 2"));
        let graph = serde_json::json!({"aud": "00000003-0000-0000-c000-000000000000"});
        assert!(hints(graph, tenant, &[]).contains("Microsoft Graph token"));
        let guid = serde_json::json!({"aud": "0b7f"});
        let told = hints(guid.clone(), tenant, &["api://0b7f"]);
        assert!(told.contains("add --audience 0b7f"), "{told}");
        assert!(hints(guid, tenant, &["0b7f"]).is_empty(), "the form given");
        let uri = serde_json::json!({"aud": "api://0b7f"});
        assert!(hints(uri, tenant, &["0b7f"]).contains("add --audience api://0b7f"));
        // The application's id alone, and no --audience at all.
        let alone =
            serde_json::json!({"aud": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "tid": "t-1"});
        let told = hints(alone, tenant, &["https://mcp.example/mcp"]);
        assert!(
            told.contains("add --audience 6e74172b-be56-4843-9ff4-e66a39bb12e3"),
            "{told}"
        );
        let common = "https://login.microsoftonline.com/common/v2.0";
        let told = hints(serde_json::json!({"tid": "t-1"}), common, &[]);
        assert!(told.contains(tenant), "{told}");
        // A token of another issuer's shape: nothing to hint.
        let okta = serde_json::json!({"aud": "api://default", "ver": 1, "uid": "u"});
        assert!(
            hints(
                okta,
                "https://acme.okta.com/oauth2/default",
                &["api://default"]
            )
            .is_empty()
        );
    }

    #[test]
    fn an_opaque_token_is_said_to_be_opaque_and_nothing_else() {
        let facts = token_facts("abc123opaque", "https://i", &["https://r/mcp"], 5);
        assert_eq!(facts, "an opaque token (not a JWS)");
    }
}
