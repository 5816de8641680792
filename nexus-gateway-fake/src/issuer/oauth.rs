//! The fake issuer's OAuth endpoints: the test's own (`/_fake/…`), dynamic
//! registration, `/authorize` (the person the test named approves at once)
//! and `/token` (a code exchanged once, with its verifier), each in the
//! provider's shape the issuer takes.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::issued::issued;
use super::{
    Grant, Shape, State, answer, entra, exchange, introspect, mint, refresh, refused, register,
};
use crate::request::{RecordedRequest, query_pairs};
use crate::server::Reply;

/// Registration, `/authorize` and `/token`.
pub(super) fn oauth(state: &Mutex<State>, url: &str, request: &RecordedRequest) -> Reply {
    let mut state = state.lock();
    state.serial += 1;
    let form: HashMap<String, String> = if request.method == "GET" {
        query_pairs(&request.query).into_iter().collect()
    } else {
        query_pairs(&String::from_utf8_lossy(&request.body))
            .into_iter()
            .collect()
    };
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/_fake/mint") => mint::asked(&mut state, url, &request.body),
        ("POST", "/_fake/approve") => {
            let asked: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let Some(subject) = asked["sub"].as_str().filter(|s| !s.is_empty()) else {
                return refused(
                    "invalid_request",
                    "{\"sub\": \"…\"} names who /authorize approves",
                );
            };
            state.person = subject.to_owned();
            state.claims = asked["claims"].as_object().cloned().unwrap_or_default();
            let claims = state.claims.clone();
            state.people.insert(subject.to_owned(), claims);
            state.refusal = None;
            answer(200, &json!({"approves": subject}))
        }
        ("POST", "/_fake/disable") => {
            let asked: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let Some(subject) = asked["sub"].as_str().filter(|s| !s.is_empty()) else {
                return refused("invalid_request", "{\"sub\": \"…\"} names whom to disable");
            };
            state.disabled.insert(subject.to_owned());
            answer(200, &json!({"disabled": subject}))
        }
        ("POST", "/_fake/refuse") => {
            let asked: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let said = |name: &str| asked[name].as_str().unwrap_or_default().to_owned();
            if said("error").is_empty() {
                let why = "{\"error\": \"…\", \"error_description\": \"…\"} names the refusal";
                return refused("invalid_request", why);
            }
            state.refusal = Some((said("error"), said("error_description")));
            answer(200, &json!({"refuses": said("error")}))
        }
        ("POST", "/_fake/clients") => client_added(&mut state, &request.body),
        ("POST", "/_fake/cross-app") => {
            let asked: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let said = |name: &str| asked[name].as_str().filter(|s| !s.is_empty());
            let names = (said("client_id"), said("audience"), said("client_id_there"));
            let (Some(client), Some(audience), Some(there)) = names else {
                let why = "{\"client_id\", \"audience\", \"client_id_there\"} names the reach";
                return refused("invalid_request", why);
            };
            let reach = (client.to_owned(), audience.to_owned());
            state.cross_app.insert(reach, there.to_owned());
            answer(200, &json!({"reaches": audience}))
        }
        ("POST", "/_fake/groups-filter") => {
            let asked: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            state.groups_filter = asked["starts_with"].as_str().map(str::to_owned);
            answer(200, &json!({"groups_filter": state.groups_filter}))
        }
        ("POST", "/_fake/rotate") => {
            state.rotate();
            answer(200, &json!({"signer": state.signer}))
        }
        ("POST", "/register") => match state.shape.registration_refused() {
            Some((status, body)) => answer(status, &body),
            None => register::register(&mut state, &request.body),
        },
        ("GET", "/authorize") => authorize(&mut state, url, &form),
        ("GET", "/userinfo") => super::userinfo::answered(&state, request),
        ("POST", "/token") => token(&mut state, url, &with_basic(form, request)),
        ("POST", "/introspect") if state.shape != Shape::Google => {
            introspect::answer(&mut state, url, &with_basic(form, request))
        }
        _ => answer(404, &json!({"error": "not_found"})),
    }
}

/// `POST /_fake/clients`: a client added as an administrator adds one, in
/// every shape (Entra's and Google's register none), as `add_client` and
/// `add_confidential_client` do, for a test in any language.
fn client_added(state: &mut State, body: &[u8]) -> Reply {
    let asked: Value = serde_json::from_slice(body).unwrap_or_default();
    let said = |name: &str| asked[name].as_str().filter(|s| !s.is_empty());
    let (Some(id), Some(redirect)) = (said("client_id"), said("redirect_uri")) else {
        let why = "{\"client_id\": \"…\", \"redirect_uri\": \"…\", \"client_secret\"?: \"…\"} names the client";
        return refused("invalid_request", why);
    };
    state
        .clients
        .insert(id.to_owned(), vec![redirect.to_owned()]);
    if let Some(secret) = said("client_secret") {
        state.secrets.insert(id.to_owned(), secret.to_owned());
    }
    answer(201, &json!({"client_id": id}))
}

/// `form` with the client HTTP Basic names (a confidential client's id and
/// secret) where the form itself does not.
fn with_basic(
    mut form: HashMap<String, String>,
    request: &RecordedRequest,
) -> HashMap<String, String> {
    let basic = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Basic "));
    let pair = basic.and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
    let id = pair.and_then(|p| String::from_utf8(p).ok());
    if let Some((client, secret)) = id.as_deref().and_then(|p| p.split_once(':')) {
        let decoded = |v| percent_encoding::percent_decode_str(v).decode_utf8_lossy();
        form.entry("client_id".into())
            .or_insert_with(|| decoded(client).into_owned());
        form.entry("client_secret".into())
            .or_insert_with(|| decoded(secret).into_owned());
    }
    form
}

/// `/authorize`: the person the test named approves at once, and the
/// browser is sent back with a code, the state and the issuer.
fn authorize(state: &mut State, url: &str, form: &HashMap<String, String>) -> Reply {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let (client, redirect_uri) = (field("client_id"), field("redirect_uri"));
    let known = (state.clients.get(&client)).is_some_and(|uris| uris.contains(&redirect_uri));
    if !known || field("response_type") != "code" {
        return refused("invalid_request", "an unknown client or redirect_uri");
    }
    if field("code_challenge_method") != "S256" || field("code_challenge").is_empty() {
        return refused("invalid_request", "PKCE with S256 is required");
    }
    if matches!(state.shape, Shape::Entra(_)) && form.contains_key("resource") {
        return refused("invalid_target", entra::NO_RESOURCE);
    }
    if let Some((error, description)) = &state.refusal {
        let sent = [
            ("error", error.as_str()),
            ("error_description", description.as_str()),
            ("state", &field("state")),
            ("iss", url),
        ];
        return sent_back(&redirect_uri, &sent);
    }
    let code = format!("code-{}", state.serial);
    let grant = Grant {
        client,
        redirect_uri: redirect_uri.clone(),
        challenge: field("code_challenge"),
        resource: form.get("resource").cloned(),
        scope: form.get("scope").cloned(),
        subject: state.person.clone(),
        claims: state.claims.clone(),
        nonce: form.get("nonce").cloned(),
        offline: refresh::offline(&state.shape, form),
        auth_time: form.get("max_age").map(|_| now_secs()),
    };
    state.codes.insert(code.clone(), grant);
    let sent = [
        ("code", code.as_str()),
        ("state", &field("state")),
        ("iss", url),
    ];
    sent_back(&redirect_uri, &sent)
}

/// Seconds since the Unix epoch.
fn now_secs() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |since| since.as_secs())
}

/// The browser sent back to `redirect_uri` with `sent` in its query.
fn sent_back(redirect_uri: &str, sent: &[(&str, &str)]) -> Reply {
    let query: Vec<String> = (sent.iter())
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
        .collect();
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    Reply::Answer {
        status: 302,
        headers: vec![(
            "Location".into(),
            format!("{redirect_uri}{sep}{}", query.join("&")),
        )],
        body: Vec::new(),
    }
}

/// `/token`: a code exchanged once, by its client, with its verifier, for
/// a token whose audience is the `resource` asked for; or a refresh token
/// ([`refresh`]).
fn token(state: &mut State, url: &str, form: &HashMap<String, String>) -> Reply {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let secret = state.secrets.get(&field("client_id"));
    let known = state.clients.contains_key(&field("client_id"));
    if !known || secret.is_some_and(|secret| *secret != field("client_secret")) {
        let why = "an unknown client, or a confidential one without its secret";
        return answer(
            401,
            &json!({"error": "invalid_client", "error_description": why}),
        );
    }
    match field("grant_type").as_str() {
        "authorization_code" => exchanged(state, url, form),
        "refresh_token" => refresh::refreshed(state, url, form),
        exchange::TOKEN_EXCHANGE => exchange::exchanged(state, url, form),
        _ => refused(
            "unsupported_grant_type",
            "authorization_code, refresh_token or token-exchange",
        ),
    }
}

/// A code exchanged once, by its client, with its verifier.
fn exchanged(state: &mut State, url: &str, form: &HashMap<String, String>) -> Reply {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let Some(grant) = state.codes.remove(&field("code")) else {
        return refused("invalid_grant", "an unknown or used code");
    };
    let verifier = Sha256::digest(field("code_verifier").as_bytes());
    let proven = URL_SAFE_NO_PAD.encode(verifier) == grant.challenge;
    let same = grant.client == field("client_id") && grant.redirect_uri == field("redirect_uri");
    let resource = form.get("resource").or(grant.resource.as_ref()).cloned();
    if !proven || !same || (grant.resource.is_some() && resource != grant.resource) {
        return refused(
            "invalid_grant",
            "the code, verifier, client or resource do not match",
        );
    }
    let mut issued = issued(state, url, &grant, resource.as_deref());
    super::userinfo::remembered(state, &issued, &grant);
    if grant.offline && !state.unrefreshed.contains(&grant.client) {
        issued["refresh_token"] = json!(refresh::kept(state, &grant));
    }
    answer(200, &issued)
}
