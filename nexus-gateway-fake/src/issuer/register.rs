//! Dynamic client registration (RFC 7591): a public client for any
//! redirect URI, or a confidential one, which gets a secret, when it asks
//! to authenticate with one (as a resource server's introspection client
//! does, with no redirect URI at all).

use serde_json::{Value, json};

use super::{State, answer, refused};
use crate::server::Reply;

/// `POST /register`: the client as registered, `client_id` (and, for a
/// confidential one, `client_secret`) added.
pub(super) fn register(state: &mut State, body: &[u8]) -> Reply {
    let asked: Value = serde_json::from_slice(body).unwrap_or_default();
    let uris: Vec<String> = (asked["redirect_uris"].as_array().into_iter().flatten())
        .filter_map(|u| u.as_str().map(str::to_owned))
        .collect();
    let method = asked["token_endpoint_auth_method"]
        .as_str()
        .unwrap_or("none");
    let confidential = matches!(method, "client_secret_basic" | "client_secret_post");
    if uris.is_empty() && !confidential {
        return refused("invalid_redirect_uri", "redirect_uris is required");
    }
    let client = format!("client-{}", state.serial);
    state.clients.insert(client.clone(), uris);
    let mut registered = asked.as_object().cloned().unwrap_or_default();
    registered.insert("client_id".into(), json!(client));
    registered.insert("client_id_issued_at".into(), json!(0));
    if confidential {
        let secret = format!("secret-{}-{client}", state.serial);
        state.secrets.insert(client, secret.clone());
        registered.insert("client_secret".into(), json!(secret));
        registered.insert("client_secret_expires_at".into(), json!(0));
    } else {
        registered.insert("token_endpoint_auth_method".into(), json!("none"));
    }
    answer(201, &Value::Object(registered))
}
