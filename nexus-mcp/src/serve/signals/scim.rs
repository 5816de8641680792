//! `/scim/v2` (SCIM 2.0, RFC 7643/7644), as an identity provider's
//! provisioning service (Entra's, Okta's) and the public conformance
//! checkers send it. A user is kept in the store every replica shares
//! ([`crate::serve::store`]): its `userName`, `externalId` and `active`,
//! found by id, `userName` (any case) or `externalId`; a user made
//! inactive, or deleted, holds its person out of every grant (the
//! provisioning's own fact in the list of revocations, which no other
//! revocation replaces) until the provider makes them active again; what
//! was granted before stays refused. The person is the one whose
//! `--subject-claim` the attribute `--scim-subject-attribute` holds; a
//! value that could never be one (a mail nickname where people are named by
//! Entra's object id) is refused, naming the mapping to mend.
//!
//! What it declines is declined the SCIM way: groups (an empty list where
//! Entra's Test Connection asks), bulk, `.search` and `/Me` answer 501;
//! an unknown path 404, a method a path does not take 405, each in
//! `application/scim+json` with RFC 7644 §3.12's error; a Tenant URL typed
//! under the MCP URL is told the right one. The provider authenticates
//! with the bearer secret `serve scim token` made, sealed with the replicas'
//! keyring for this server's origin; every refusal of it leaves a line.
//!
//! Its rooms: [`user`], a user read from what a provider sends (pure);
//! [`discovery`], the documents the endpoint says itself by, and what it
//! declines.

mod discovery;
mod secret;
mod user;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get};
use scim_v2::models::errors::ScimType;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use self::discovery::{MOST_RESULTS, declined, misplaced, not_allowed, unknown, unserved};
pub(crate) use self::secret::{Provider, ScimToken};
use self::user::{Invalid, User, Wanted};
use super::Receivers;
use super::subject::{self, Outcome};
use crate::serve::revoked::{MAIL_CLAIMS, PERSON_DIGITS, Revoked};
use crate::serve::store::{Changed, Down, Record};

/// Where SCIM is served, on the authorization server's origin: the Tenant
/// URL a provider asks for.
pub(crate) const BASE: &str = "/scim/v2";

/// The channel's word in the log and the counter.
const CHANNEL: &str = "scim";

/// A refusal (RFC 7644 §3.12): its status, its `scimType`, and why.
#[derive(Debug)]
pub(crate) struct Refused(StatusCode, Option<ScimType>, String);

impl Refused {
    fn bad(Invalid(kind, why): Invalid) -> Refused {
        Refused(StatusCode::BAD_REQUEST, Some(kind), why)
    }

    fn unavailable() -> Refused {
        let why = "the store does not answer: nothing was done; try again shortly";
        Refused(StatusCode::SERVICE_UNAVAILABLE, None, why.into())
    }

    fn missing() -> Refused {
        Refused(StatusCode::NOT_FOUND, None, "no such user here".into())
    }
}

impl From<Down> for Refused {
    fn from(_: Down) -> Refused {
        Refused::unavailable()
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let Refused(status, kind, detail) = self;
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": status.as_str(),
            "detail": detail,
        });
        if let Some(kind) = kind {
            body["scimType"] = json!(kind.as_str());
        }
        scim_json(status, &body)
    }
}

/// `body` as SCIM answers it (`application/scim+json`), never cached.
fn scim_json(status: StatusCode, body: &Value) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "application/scim+json"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (status, headers, body.to_string()).into_response()
}

/// A user as kept: itself, and when it was made and last changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Kept {
    #[serde(flatten)]
    user: User,
    created: String,
    modified: String,
}

impl Kept {
    /// The words its record is found by: its `userName` folded (unique),
    /// its `externalId`, and the `person` it names (unique), when known.
    fn words(&self, person: Option<&str>) -> [String; 3] {
        let name = format!("userName:{}", self.user.user_name.to_lowercase());
        let external = (self.user.external_id.as_ref()).map(|id| format!("externalId:{id}"));
        let person = person.map(|person| format!("person:{person}"));
        [
            name,
            external.unwrap_or_default(),
            person.unwrap_or_default(),
        ]
    }
}

/// SCIM's routes, under [`BASE`]; with no store, every one refused naming
/// it; and a Tenant URL typed under the MCP URL told the right one.
pub(crate) fn routes(here: Arc<Receivers>) -> Router {
    let mcp =
        url::Url::parse(&here.resource).map(|url| url.path().trim_end_matches('/').to_owned());
    let mcp = mcp.unwrap_or_default();
    let scim = match here.store.shared() {
        true => served(),
        false => Router::new()
            .route("/", any(unserved))
            .route("/{*rest}", any(unserved)),
    };
    let router = Router::new().nest(BASE, scim.with_state(Arc::clone(&here)));
    let elsewhere = any(misplaced).with_state(here);
    let router = router
        .route("/scim", elsewhere.clone())
        .route("/scim/{*rest}", elsewhere.clone());
    match mcp.is_empty() {
        true => router,
        false => router
            .route(&format!("{mcp}/scim"), elsewhere.clone())
            .route(&format!("{mcp}/scim/{{*rest}}"), elsewhere),
    }
}

/// The endpoints SCIM is served at, with a store.
fn served() -> Router<Arc<Receivers>> {
    let allowed = |route: MethodRouter<Arc<Receivers>>| route.fallback(not_allowed);
    let described = || allowed(get(discovery::described));
    let user = get(read)
        .put(replace)
        .patch(patch)
        .delete(delete)
        .post(declined);
    Router::new()
        .route("/ServiceProviderConfig", described())
        .route("/Schemas", described())
        .route("/Schemas/{id}", described())
        .route("/ResourceTypes", described())
        .route("/ResourceTypes/{id}", described())
        .route("/Users", allowed(get(search).post(create)))
        .route("/Users/{id}", allowed(user))
        .route("/Groups", allowed(get(discovery::groups).post(declined)))
        .route("/Groups/{*rest}", any(declined))
        .route("/Bulk", any(declined))
        .route("/.search", any(declined))
        .route("/Me", any(declined))
        .route("/", any(unknown))
        .route("/{*rest}", any(unknown))
}

/// A search's query (RFC 7644 §3.4.2), and the attributes asked (§3.9).
#[derive(Deserialize)]
struct Searched {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start: Option<String>,
    count: Option<String>,
    #[serde(flatten)]
    shown: Shown,
}

/// The attributes a request asks returned, or not (RFC 7644 §3.9).
#[derive(Deserialize, Default)]
struct Shown {
    attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    excluded: Option<String>,
}

impl Shown {
    /// `resource` as asked.
    fn of(&self, resource: Value) -> Value {
        user::projected(
            resource,
            (self.attributes.as_deref(), self.excluded.as_deref()),
        )
    }
}

/// `GET /Users`: the user a filter names, or a page of them all.
async fn search(
    State(here): State<Arc<Receivers>>,
    _: Provider,
    Query(asked): Query<Searched>,
) -> Result<Response, Refused> {
    let number = |text: &Option<String>| text.as_deref().and_then(|t| t.trim().parse::<i64>().ok());
    let start = number(&asked.start).unwrap_or(1).max(1) as usize;
    let count =
        number(&asked.count).map_or(MOST_RESULTS, |c| c.clamp(0, MOST_RESULTS as i64) as usize);
    let found = match asked.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        Some(filter) => found(&here, user::wanted(filter).map_err(Refused::bad)?).await?,
        None => {
            let mut all = read_all(&here).await?;
            all.sort_by(|(_, a), (_, b)| a.created.cmp(&b.created));
            all
        }
    };
    let total = found.len();
    let page = found.iter().skip(start - 1).take(count);
    let page = page
        .map(|(id, kept)| asked.shown.of(resource(&here, id, kept)))
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &discovery::listed(page, (start, total)),
    ))
}

/// The users `wanted` names (one at most).
async fn found(here: &Receivers, wanted: Wanted) -> Result<Vec<(String, Kept)>, Refused> {
    let (id, record) = match &wanted {
        Wanted::Id(id) => (Some(id.clone()), here.store.provisioned(id).await?),
        Wanted::UserName(name) => split(
            here.store
                .provisioned_as(&format!("userName:{}", name.to_lowercase()))
                .await?,
        ),
        Wanted::ExternalId(external) => split(
            here.store
                .provisioned_as(&format!("externalId:{external}"))
                .await?,
        ),
    };
    let kept = record.and_then(|record| serde_json::from_str::<Kept>(&record).ok());
    let matches = |kept: &Kept| match &wanted {
        Wanted::ExternalId(external) => kept.user.external_id.as_ref() == Some(external),
        _ => true,
    };
    Ok(id.zip(kept.filter(matches)).into_iter().collect())
}

/// An index's answer as an id and a record.
fn split(found: Option<(String, String)>) -> (Option<String>, Option<String>) {
    match found {
        Some((id, record)) => (Some(id), Some(record)),
        None => (None, None),
    }
}

/// Every user kept.
async fn read_all(here: &Receivers) -> Result<Vec<(String, Kept)>, Refused> {
    let all = here.store.every_provisioned().await?;
    Ok(all
        .into_iter()
        .filter_map(|(id, record)| Some((id, serde_json::from_str(&record).ok()?)))
        .collect())
}

/// The user `id`, as kept, or 404.
async fn kept(here: &Receivers, id: &str) -> Result<Kept, Refused> {
    let record = here
        .store
        .provisioned(id)
        .await?
        .ok_or_else(Refused::missing)?;
    serde_json::from_str(&record).map_err(|_| Refused::missing())
}

/// `GET /Users/{id}`.
async fn read(
    State(here): State<Arc<Receivers>>,
    _: Provider,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Response, Refused> {
    let kept = kept(&here, &id).await?;
    Ok(scim_json(
        StatusCode::OK,
        &shown.of(resource(&here, &id, &kept)),
    ))
}

/// A request's body as JSON, or 400.
fn json_of(body: &[u8]) -> Result<Value, Refused> {
    serde_json::from_slice(body).map_err(|_| {
        let why = "the body is a SCIM message, as JSON";
        Refused(
            StatusCode::BAD_REQUEST,
            Some(ScimType::InvalidSyntax),
            why.into(),
        )
    })
}

/// `POST /Users`: 201 with the user and its `Location`; its person held
/// out at once when it comes inactive, let in when it comes active (a
/// user the provider deleted and makes again).
async fn create(
    State(here): State<Arc<Receivers>>,
    _: Provider,
    body: axum::body::Bytes,
) -> Result<Response, Refused> {
    let user = User::given(&json_of(&body)?).map_err(Refused::bad)?;
    let id = crate::serve::page::random().ok_or_else(Refused::unavailable)?;
    let now = now();
    let kept = Kept {
        user,
        created: now.clone(),
        modified: now,
    };
    changed(&here, (&id, None), Some(&kept)).await?;
    let user = resource(&here, &id, &kept);
    let mut answer = scim_json(StatusCode::CREATED, &user);
    if let Ok(location) = header::HeaderValue::from_str(&location(&here, &id)) {
        answer.headers_mut().insert(header::LOCATION, location);
    }
    Ok(answer)
}

/// `PUT /Users/{id}`: the user replaced by the body's.
async fn replace(
    State(here): State<Arc<Receivers>>,
    _: Provider,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, Refused> {
    let body = json_of(&body)?;
    updated(&here, &id, |_| User::given(&body)).await
}

/// `PATCH /Users/{id}`: the body's operations applied.
async fn patch(
    State(here): State<Arc<Receivers>>,
    _: Provider,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, Refused> {
    let body = json_of(&body)?;
    updated(&here, &id, |user| user.patched(&body)).await
}

/// The user `id` changed as `change` says, read again and changed again
/// when another change came between; 200 with the user.
async fn updated(
    here: &Receivers,
    id: &str,
    change: impl Fn(&User) -> Result<User, Invalid>,
) -> Result<Response, Refused> {
    for _ in 0..3 {
        let before = kept(here, id).await?;
        let user = change(&before.user).map_err(Refused::bad)?;
        let after = Kept {
            user,
            created: before.created.clone(),
            modified: now(),
        };
        match changed(here, (id, Some(&before)), Some(&after)).await {
            Err(Refused(StatusCode::CONFLICT, None, _)) => continue,
            Err(refused) => return Err(refused),
            Ok(()) => return Ok(scim_json(StatusCode::OK, &resource(here, id, &after))),
        }
    }
    Err(Refused(
        StatusCode::CONFLICT,
        None,
        "the user changed meanwhile: send it again".into(),
    ))
}

/// `DELETE /Users/{id}`: its person held out, the user gone (404 to every
/// request after); 204.
async fn delete(
    State(here): State<Arc<Receivers>>,
    _: Provider,
    Path(id): Path<String>,
) -> Result<Response, Refused> {
    let before = kept(&here, &id).await?;
    changed(&here, (&id, Some(&before)), None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The user `id` changed from `before` to `after` (none: deleted), its
/// person held out before any record says so and let in after one says
/// they are active; its line and count. A meanwhile change is 409 with no
/// `scimType`, for the caller to read again.
async fn changed(
    here: &Receivers,
    (id, before): (&str, Option<&Kept>),
    after: Option<&Kept>,
) -> Result<(), Refused> {
    // The person each side names: a change may name another.
    let before_person = before.and_then(|kept| person(here, &kept.user).ok());
    let person = match after.or(before) {
        Some(kept) => person(here, &kept.user)?,
        None => return Ok(()),
    };
    let held = after.is_none_or(|kept| !kept.user.active);
    let was_held = before.is_some_and(|kept| !kept.user.active);
    let event = match (before, after) {
        (_, None) => "deleted",
        _ if held && !was_held => "deactivated",
        _ if !held && was_held => "reactivated",
        (None, _) => "created",
        _ => "updated",
    };
    let who = Revoked::person(&person);
    let line =
        |outcome: Outcome, why: &str| subject::said((CHANNEL, event), who.as_ref(), outcome, why);
    if held {
        here.store.hold(&person, true).await.inspect_err(|_| {
            line(
                Outcome::Unavailable,
                "the store does not answer: nothing was done",
            )
        })?;
    }
    let texts = (before.map(text), after.map(text));
    let words = (
        before.map(|kept| kept.words(before_person.as_deref())),
        after.map(|kept| kept.words(Some(&person))),
    );
    let change = (record(&texts.0, &words.0), record(&texts.1, &words.1));
    match here
        .store
        .provision(id, (change.0.as_ref(), change.1.as_ref()))
        .await?
    {
        Changed::Done => {}
        Changed::Taken => {
            let why = "another user has this userName (RFC 7643: unique, in any case)";
            return Err(Refused(
                StatusCode::CONFLICT,
                Some(ScimType::Uniqueness),
                why.into(),
            ));
        }
        Changed::Named => {
            let why = "another user names the same person (its --scim-subject-attribute): \
                       a person is one user here";
            return Err(Refused(
                StatusCode::CONFLICT,
                Some(ScimType::Uniqueness),
                why.into(),
            ));
        }
        Changed::Meanwhile => return Err(Refused(StatusCode::CONFLICT, None, String::new())),
    }
    if !held {
        here.store.hold(&person, false).await?;
    }
    let seen = here.store.seen(&person).await.unwrap_or(true);
    let (outcome, why) = said(here, event, seen);
    line(outcome, &why);
    Ok(())
}

/// What a change did, for its line: held out, let in again, or nothing;
/// and, for a person held out whom no sign-in here is known as, the
/// mapping to check.
fn said(here: &Receivers, event: &str, seen: bool) -> (Outcome, String) {
    let attribute = &here.signals.scim_subject;
    match event {
        "deactivated" | "deleted" if !seen => (
            Outcome::Revoked,
            format!(
                "held out of every sign-in to come; no sign-in here is known under this user's \
                 {attribute} lately: if the person does sign in here, the mapping does not match \
                 (--scim-subject-attribute {attribute} must hold their --subject-claim {})",
                here.people.claim
            ),
        ),
        "deactivated" | "deleted" => (
            Outcome::Revoked,
            "held out until the provider reactivates them".into(),
        ),
        "reactivated" => (
            Outcome::Lifted,
            "let in again; what was granted before stays refused".into(),
        ),
        _ => (Outcome::Left, "nothing to revoke".into()),
    }
}

/// A record as the store takes it: its `text` and its `words`.
fn record<'a>(text: &'a Option<String>, words: &'a Option<[String; 3]>) -> Option<Record<'a>> {
    let [name, external, person] = words.as_ref()?;
    let text = text.as_deref()?;
    Some(Record {
        text,
        words: [name, external, person],
    })
}

/// The record of `kept`.
fn text(kept: &Kept) -> String {
    serde_json::to_string(kept).unwrap_or_default()
}

/// The person (12 digits, as the list names them) whose `--subject-claim`
/// the user's `--scim-subject-attribute` holds; or 400 where it lacks it,
/// or holds what that claim never carries.
fn person(here: &Receivers, user: &User) -> Result<String, Refused> {
    let attribute = here.signals.scim_subject.as_str();
    let value = match attribute.eq_ignore_ascii_case("userName") {
        true => Some(user.user_name.as_str()),
        false => user.external_id.as_deref(),
    };
    let invalid = |why: String| Refused(StatusCode::BAD_REQUEST, Some(ScimType::InvalidValue), why);
    let value = value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
        invalid(format!(
            "the user lacks its {attribute}, which names the person here (--scim-subject-attribute)"
        ))
    })?;
    let claim = here.people.claim.as_str();
    let fits = match claim {
        "oid" => crate::serve::issuer::is_guid(value),
        _ if MAIL_CLAIMS.contains(&claim) => value.contains('@'),
        _ => true,
    };
    if !fits {
        let mapping = match claim {
            "oid" => "at Entra, map externalId ← objectId (its default maps mailNickname)",
            _ => "map it from the person's e-mail address (userPrincipalName at Entra)",
        };
        return Err(invalid(format!(
            "{attribute} {} can never name a person here, whom --subject-claim {claim} names: {mapping}",
            crate::answer::quoted(value, 128)
        )));
    }
    Ok(here.people.named(value).folded[..PERSON_DIGITS].to_owned())
}

/// Now, as SCIM writes a time (RFC 3339, to the second).
fn now() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Where the user `id` is.
fn location(here: &Receivers, id: &str) -> String {
    format!("{}{BASE}/Users/{id}", here.origin)
}

/// The user `id` as SCIM answers it.
fn resource(here: &Receivers, id: &str, kept: &Kept) -> Value {
    let mut user = json!({
        "schemas": [user::USER],
        "id": id,
        "userName": kept.user.user_name,
        "active": kept.user.active,
        "meta": {
            "resourceType": "User",
            "created": kept.created,
            "lastModified": kept.modified,
            "location": location(here, id),
        },
    });
    if let Some(external) = &kept.user.external_id {
        user["externalId"] = json!(external);
    }
    user
}
