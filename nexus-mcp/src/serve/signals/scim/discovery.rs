//! What `/scim/v2` says of itself (RFC 7644 §4, RFC 7643 §5–§7): the
//! service provider's configuration (PATCH and filtering supported, bulk,
//! sorting, ETags and password changes not; a bearer token), the User
//! schema as far as it is kept (`userName`, `active`; `id` and
//! `externalId` are every resource's), and the one resource type, User;
//! and what it declines, the SCIM way (RFC 7644 §3.12): groups (an empty
//! list where Entra's Test Connection asks), bulk, `.search` and `/Me`
//! 501, an unknown path 404, a method a path does not take 405, a Tenant
//! URL outside [`BASE`] told the right one, and everything 501 naming the
//! store where there is none. The documents are pure functions of `base`
//! (the Tenant URL).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::user::USER;
use super::{BASE, Provider, Refused, scim_json};
use crate::serve::signals::Receivers;

/// The ListResponse message (RFC 7644 §3.4.2).
pub(crate) const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The most users one page gives (`filter.maxResults`).
pub(crate) const MOST_RESULTS: usize = 200;

/// `/ServiceProviderConfig`.
pub(crate) fn service_provider_config(base: &str) -> Value {
    let unsupported = json!({"supported": false});
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/nexus-gateway/nexus-gateway-sdk-rust/blob/main/nexus-mcp/docs/serve.md",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MOST_RESULTS},
        "changePassword": unsupported,
        "sort": unsupported,
        "etag": unsupported,
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Secret Token",
            "description": "the bearer token `nexus-mcp serve scim token` makes (Entra: Secret Token)",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

/// The User schema, as far as this server keeps it.
pub(crate) fn user_schema(base: &str) -> Value {
    let attribute = |name: &str, kind: &str, required: bool, description: &str| {
        json!({
            "name": name, "type": kind, "multiValued": false, "description": description,
            "required": required, "caseExact": false, "mutability": "readWrite",
            "returned": "default", "uniqueness": if name == "userName" { "server" } else { "none" },
        })
    };
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER,
        "name": "User",
        "description": "A person this server lets in, or holds out (active false)",
        "attributes": [
            attribute("userName", "string", true, "Unique among the users, compared without regard to case"),
            attribute("active", "boolean", true, "Whether the person is let in; false holds them out of every sign-in and token. Kept for every user (true unless a request says otherwise), so replaced, never removed"),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{USER}")},
    })
}

/// The User resource type.
pub(crate) fn user_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "The people the identity provider provisions",
        "schema": USER,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    })
}

/// `resources` as a ListResponse, all of them on one page, from `start`
/// (1-based) of `total`.
pub(crate) fn listed(resources: Vec<Value>, (start, total): (usize, usize)) -> Value {
    json!({
        "schemas": [LIST],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// `GET` of a document this server says itself by: the configuration,
/// the schemas, the resource types, each list or one of it by its id.
pub(super) async fn described(
    State(here): State<Arc<Receivers>>,
    uri: Uri,
) -> Result<Response, Refused> {
    let base = format!("{}{BASE}", here.origin);
    let path = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy();
    let (schema, user) = (user_schema(&base), user_type(&base));
    let document = match path.trim_end_matches('/') {
        "/ServiceProviderConfig" => service_provider_config(&base),
        "/Schemas" => listed(vec![schema], (1, 1)),
        "/ResourceTypes" => listed(vec![user], (1, 1)),
        "/ResourceTypes/User" => user,
        path if path.strip_prefix("/Schemas/") == Some(USER) => schema,
        _ => {
            let why = format!("this server keeps one resource type, User, of the schema {USER}");
            return Err(Refused(StatusCode::NOT_FOUND, None, why));
        }
    };
    Ok(scim_json(StatusCode::OK, &document))
}

/// `GET /Groups`: none are kept (Entra's Test Connection asks when it
/// provisions groups).
pub(super) async fn groups(_: Provider) -> Response {
    scim_json(StatusCode::OK, &listed(Vec::new(), (1, 0)))
}

/// A path under [`BASE`], as the words about it show it.
fn shown(uri: &Uri) -> String {
    nexus_sdk::one_line_within(&format!("{BASE}{}", uri.path()), 200)
}

/// What this server declines: groups, bulk, `.search`, `/Me`.
pub(super) async fn declined(_: Provider, uri: Uri) -> Refused {
    let why = format!(
        "{} is not implemented: this server keeps users alone (their userName, externalId and \
         active), searched by GET /Users?filter=",
        shown(&uri)
    );
    Refused(StatusCode::NOT_IMPLEMENTED, None, why)
}

/// A path under [`BASE`] that is no endpoint.
pub(super) async fn unknown(uri: Uri) -> Refused {
    let why = format!(
        "{} is no SCIM endpoint here: Users, Groups (none are kept), ServiceProviderConfig, \
         Schemas and ResourceTypes are",
        shown(&uri)
    );
    Refused(StatusCode::NOT_FOUND, None, why)
}

/// A method an endpoint does not take.
pub(super) async fn not_allowed(uri: Uri) -> Refused {
    let why = format!("{} does not take this method", shown(&uri));
    Refused(StatusCode::METHOD_NOT_ALLOWED, None, why)
}

/// A SCIM path outside [`BASE`]: the Tenant URL to give instead.
pub(super) async fn misplaced(State(here): State<Arc<Receivers>>, uri: Uri) -> Refused {
    let why = format!(
        "{} is not this server's SCIM endpoint: its Tenant URL is {}{BASE}",
        nexus_sdk::one_line_within(uri.path(), 200),
        here.origin
    );
    Refused(StatusCode::NOT_FOUND, None, why)
}

/// Under [`BASE`] without a store: refused, naming it.
pub(super) async fn unserved() -> Refused {
    let why = "SCIM is served with a store every replica shares (--store): a deactivation \
               holds on every replica through it";
    Refused(StatusCode::NOT_IMPLEMENTED, None, why.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_discovery_documents_name_what_is_kept_where_it_is() {
        let base = "https://mcp.example.com/scim/v2";
        let config = service_provider_config(base);
        assert_eq!(config["patch"]["supported"], true);
        assert_eq!(config["bulk"]["supported"], false);
        assert_eq!(
            config["authenticationSchemes"][0]["type"],
            "oauthbearertoken"
        );
        let schema = user_schema(base);
        let names: Vec<&Value> = schema["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["name"])
            .collect();
        assert_eq!(names, ["userName", "active"]);
        assert_eq!(user_type(base)["schema"], USER);
        let page = listed(vec![json!({"id": "x"})], (1, 3));
        assert_eq!(
            (page["totalResults"].as_u64(), page["itemsPerPage"].as_u64()),
            (Some(3), Some(1))
        );
    }
}
