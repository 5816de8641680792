//! `/scim/v2/Users` (SCIM 2.0, RFC 7643/7644), as an identity provider's
//! provisioning service (Entra's, Okta's) sends it: a person deactivated
//! (`active: false`, by `PATCH` or `PUT`) or deleted is revoked until
//! lifted, every grant refused ([`STANDING`]); reactivated, what was granted
//! before stays refused and new sign-ins hold. Nothing is kept beyond that
//! revocation: a user's `id` is their subject (the attribute
//! `--scim-subject-attribute` names), base64url-encoded, so that any
//! replica reads any request; a search finds nobody, and the provider then
//! creates the user, answered 201 as if kept. The provider authenticates
//! with the bearer secret `serve scim token` made: sealed with the
//! replicas' keyring for this server's origin, checked by every replica,
//! stored by none. Served with `--store` alone.
//!
//! [`STANDING`]: crate::serve::revoked::STANDING

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Receivers;
use super::subject::{self, Outcome};
use crate::keys::Sealing;
use crate::serve::revoked::Revoked;

/// Where SCIM is served, on the authorization server's origin: the Tenant
/// URL a provider asks for.
pub(crate) const BASE: &str = "/scim/v2";

/// The channel's word in the log and the counter.
const CHANNEL: &str = "scim";

/// What a SCIM bearer secret seals: the origin of the server it is for.
#[derive(Serialize, Deserialize)]
pub(crate) struct ScimToken {
    pub(crate) scim_for: String,
}

/// A refusal: its status and why (RFC 7644 §3.12).
#[derive(Debug)]
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let Refused(status, detail) = self;
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": status.as_str(),
            "detail": detail,
        });
        scim_json(status, body)
    }
}

/// `body` as SCIM answers it (`application/scim+json`), never cached.
fn scim_json(status: StatusCode, body: Value) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "application/scim+json"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (status, headers, body.to_string()).into_response()
}

/// The request authenticated by a secret `serve scim token` made for this
/// server, or 401.
fn authenticated(here: &Receivers, headers: &HeaderMap) -> Result<(), Refused> {
    let refused = || {
        let why = "the request is authenticated by the Secret Token `nexus-mcp serve scim token` made for this server";
        Refused(StatusCode::UNAUTHORIZED, why.to_owned())
    };
    let token = crate::serve::refusal::bearer(headers).map_err(|_| refused())?;
    let opened = Sealing::opened::<ScimToken>(&here.keys.now().oauth.scim, token);
    match opened {
        Ok(sealed) if sealed.scim_for == here.origin => Ok(()),
        _ => Err(refused()),
    }
}

/// `GET /scim/v2/Users`: nobody is kept, so a search finds nobody.
pub(crate) async fn search(State(here): State<Arc<Receivers>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authenticated(&here, &headers) {
        return refused.into_response();
    }
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    });
    scim_json(StatusCode::OK, body)
}

/// `POST /scim/v2/Users`: 201 with the user, revoked at once when it comes
/// deactivated.
pub(crate) async fn create(
    State(here): State<Arc<Receivers>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let made = async {
        authenticated(&here, &headers)?;
        let user = json_of(&body)?;
        let attribute = here.signals.scim_subject.as_str();
        let subject = user.get(attribute).and_then(Value::as_str);
        let subject = subject.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            let why = format!("the user lacks its {attribute} (--scim-subject-attribute)");
            Refused(StatusCode::BAD_REQUEST, why)
        })?;
        let id = URL_SAFE_NO_PAD.encode(subject);
        let active = user.get("active").and_then(active).unwrap_or(true);
        changed(&here, ("created", &id), (!active).then_some(false)).await?;
        Ok::<_, Refused>(resource(&here, &id, Some(&user)))
    };
    match made.await {
        Ok(user) => scim_json(StatusCode::CREATED, user),
        Err(refused) => refused.into_response(),
    }
}

/// `GET /scim/v2/Users/{id}`: the user, active unless revoked until lifted.
pub(crate) async fn read(
    State(here): State<Arc<Receivers>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let read = authenticated(&here, &headers).and_then(|()| person(&here, &id).map(drop));
    match read {
        Ok(()) => scim_json(StatusCode::OK, resource(&here, &id, None)),
        Err(refused) => refused.into_response(),
    }
}

/// `PATCH` or `PUT /scim/v2/Users/{id}`: `active` false revokes the person
/// until lifted, true lifts it; 200 with the user.
pub(crate) async fn update(
    State(here): State<Arc<Receivers>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let updated = async {
        authenticated(&here, &headers)?;
        let asked = json_of(&body)?;
        let set = match asked.get("Operations") {
            Some(operations) => patched(operations)?,
            None => asked.get("active").and_then(active),
        };
        let event = match set {
            Some(false) => "deactivated",
            Some(true) => "reactivated",
            None => "updated",
        };
        changed(&here, (event, &id), set).await?;
        Ok::<_, Refused>(resource(&here, &id, None))
    };
    match updated.await {
        Ok(user) => scim_json(StatusCode::OK, user),
        Err(refused) => refused.into_response(),
    }
}

/// `DELETE /scim/v2/Users/{id}`: the person revoked until lifted; 204.
pub(crate) async fn delete(
    State(here): State<Arc<Receivers>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let deleted = async {
        authenticated(&here, &headers)?;
        changed(&here, ("deleted", &id), Some(false)).await
    };
    match deleted.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// The person `id` names (their whole hash), or 404.
fn person(here: &Receivers, id: &str) -> Result<Revoked, Refused> {
    let subject = URL_SAFE_NO_PAD
        .decode(id)
        .ok()
        .and_then(|s| String::from_utf8(s).ok());
    let subject = subject.filter(|s| !s.trim().is_empty());
    let hash = subject.map(|subject| here.people.named(&subject).folded);
    let person = hash.and_then(|hash| Revoked::person(&hash));
    person.ok_or_else(|| Refused(StatusCode::NOT_FOUND, "no such user here".to_owned()))
}

/// The person `id` names revoked until lifted (`set` false), lifted (true)
/// or left (none), said in the log and counted as `event`; or why not
/// (503 while the store does not answer, nothing done).
async fn changed(
    here: &Receivers,
    (event, id): (&str, &str),
    set: Option<bool>,
) -> Result<(), Refused> {
    let who = person(here, id)?;
    let Some(active) = set else {
        subject::said(
            (CHANNEL, event),
            Some(&who),
            Outcome::Left,
            "nothing to revoke",
        );
        return Ok(());
    };
    let Revoked::Person(hash) = &who else {
        return Ok(());
    };
    match here.store.hold(hash, !active).await {
        Ok(()) => {
            let (outcome, why) = match active {
                false => (Outcome::Revoked, "until the provider reactivates them"),
                true => (Outcome::Lifted, "what was granted before stays refused"),
            };
            subject::said((CHANNEL, event), Some(&who), outcome, why);
            Ok(())
        }
        Err(crate::serve::store::Down(why)) => {
            let said = format!("the store does not answer ({why}): nothing was done");
            subject::said((CHANNEL, event), Some(&who), Outcome::Unavailable, &said);
            let why = "the store does not answer: nothing was done; try again shortly";
            Err(Refused(StatusCode::SERVICE_UNAVAILABLE, why.to_owned()))
        }
    }
}

/// The `active` a `PATCH`'s `operations` set (RFC 7644 §3.5.2: a `replace`
/// or `add` with the path `active`, or with no path and a value naming it),
/// if any; or 400.
fn patched(operations: &Value) -> Result<Option<bool>, Refused> {
    let operations = operations.as_array().ok_or_else(|| {
        Refused(
            StatusCode::BAD_REQUEST,
            "Operations is a list of operations".to_owned(),
        )
    })?;
    let mut set = None;
    for operation in operations {
        let op = operation
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !["replace", "add"].contains(&op.to_ascii_lowercase().as_str()) {
            continue;
        }
        let value = operation.get("value");
        let set_here = match operation.get("path").and_then(Value::as_str) {
            Some(path) if path.eq_ignore_ascii_case("active") => value.and_then(active),
            Some(_) => None,
            None => value.and_then(Value::as_object).and_then(|fields| {
                let (_, value) = fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("active"))?;
                active(value)
            }),
        };
        set = set_here.or(set);
    }
    Ok(set)
}

/// An `active` value: a boolean, or the string Entra sometimes sends.
fn active(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(active) => Some(*active),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A request's body as JSON, or 400.
fn json_of(body: &[u8]) -> Result<Value, Refused> {
    serde_json::from_slice(body).map_err(|_| {
        Refused(
            StatusCode::BAD_REQUEST,
            "the body is a SCIM resource, as JSON".to_owned(),
        )
    })
}

/// The user `id` as SCIM answers it: active unless revoked until lifted,
/// its names as `sent` gave them.
fn resource(here: &Receivers, id: &str, sent: Option<&Value>) -> Value {
    let standing = person(here, id).is_ok_and(|who| match who {
        Revoked::Person(hash) => here.store.revocations().held_out(&hash),
        _ => false,
    });
    let mut user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": id,
        "active": !standing,
        "meta": {
            "resourceType": "User",
            "location": format!("{}{BASE}/Users/{id}", here.origin),
        },
    });
    for name in ["externalId", "userName", "displayName"] {
        if let Some(value) = sent.and_then(|sent| sent.get(name)) {
            user[name] = value.clone();
        }
    }
    user
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_is_read_from_every_shape_a_provider_sends() {
        let set = |operations: Value| patched(&operations).unwrap();
        // Entra: a string, with a path or without one.
        let entra = json!([{"op": "Replace", "path": "active", "value": "False"}]);
        assert_eq!(set(entra), Some(false));
        let pathless = json!([{"op": "replace", "value": {"active": false}}]);
        assert_eq!(set(pathless), Some(false));
        let okta = json!([{"op": "replace", "value": {"Active": true}}]);
        assert_eq!(set(okta), Some(true));
        let others = json!([{"op": "Replace", "path": "displayName", "value": "A"},
            {"op": "remove", "path": "active"}]);
        assert_eq!(set(others), None);
        let last = json!([{"op": "Add", "path": "active", "value": true},
            {"op": "Replace", "path": "ACTIVE", "value": false}]);
        assert_eq!(set(last), Some(false));
        assert_eq!(
            set(json!([{"op": "replace", "path": "active", "value": "no"}])),
            None
        );
        assert!(patched(&json!({"op": "replace"})).is_err());
    }
}
