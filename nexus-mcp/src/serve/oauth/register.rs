//! `POST /register` of the hosts' authorization server (RFC 7591): a
//! host registers, and its client id is the registration sealed
//! ([`Front::client_id`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::client::{Asked, metadata, registered};
use super::front::Front;
use crate::serve::grant::{CLIENT_LIFE, ClientAuth, GrantType};

/// `POST /register` (RFC 7591 §3): 201 with the client's id and metadata,
/// or 400 with the error and why.
pub(crate) async fn register(State(front): State<Arc<Front>>, body: axum::body::Bytes) -> Response {
    let asked = serde_json::from_slice::<Asked>(&body)
        .map_err(|_| metadata("the body is a JSON object of client metadata"));
    let registered = asked.and_then(registered);
    let outcome = registered
        .as_ref()
        .map_or_else(|refused| refused.code.as_str(), |_| "ok");
    crate::metrics::oauth("registration", outcome);
    match registered {
        Ok(client) => {
            let issued = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            let issued = issued.map_or(0, |d| d.as_secs());
            let answer = json!({
                "client_id": front.client_id(&client),
                "client_id_issued_at": issued,
                "client_id_expires_at": issued + CLIENT_LIFE.as_secs(),
                "client_name": client.name,
                "redirect_uris": client.redirect_uris,
                "application_type": if client.native { "native" } else { "web" },
                "grant_types": GrantType::REGISTERED.map(GrantType::as_str),
                "response_types": ["code"],
                "token_endpoint_auth_method": ClientAuth::None.as_str(),
            });
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Err(refused) => {
            log::info!(target: "nexus_mcp", "registration refused ({}): {}", refused.code, refused.why);
            refused.into_response()
        }
    }
}
