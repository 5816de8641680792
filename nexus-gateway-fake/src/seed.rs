//! The seed format, shared by `FakeGateway::seed`, the program's `--seed
//! FILE` and `POST /_fake/seed` (see the crate's README): read strictly, so
//! that a misspelt key is a refusal naming it and where it was, never a
//! seed that "works" and a test that fails later for another reason.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::provider::{FakeConnection, FakeProvider, known_status};
use crate::request::is_uuid;
use crate::state::State;
use crate::time::last_date;

/// What `$UPSTREAM_URL` stands for in a seed: the fake provider API's URL.
const UPSTREAM: &str = "$UPSTREAM_URL";

/// The keys every provider takes, beside its strategy's own.
const PROVIDER_KEYS: [&str; 6] = [
    "workspace",
    "name",
    "strategy",
    "api_base_url",
    "expires_in",
    "rotating",
];

/// The keys a connection takes.
const CONNECTION_KEYS: [&str; 5] = ["id", "provider", "token", "status", "workspace"];

/// The strategies a seed names, each with its own keys.
const STRATEGIES: [(&str, &[&str]); 6] = [
    ("oauth2", &["token"]),
    ("header", &["header_name", "value_prefix", "api_key"]),
    ("basic_auth", &["username", "password"]),
    ("query_param", &["param_name", "api_key"]),
    ("hmac_payload", &["header_name", "secret"]),
    (
        "aws_sigv4",
        &["access_key", "secret_key", "region", "service"],
    ),
];

/// Adds (or replaces) the seed's providers and connections: all of them,
/// or, when one is wrong, none and what is wrong with it.
pub(crate) fn seed(state: &mut State, seed: &Value) -> Result<(), String> {
    let mut seed = seed.clone();
    substitute(&mut seed, state.upstream_url.as_deref())?;
    let top = Fields::of(&seed, "the seed".into(), &["providers", "connections"])?;
    let now = state.now();
    let mut providers = Vec::new();
    for (at, entry) in top.list("providers")?.iter().enumerate() {
        providers.push(provider(entry, format!("providers[{at}]"), now)?);
    }
    let mut connections = Vec::new();
    for (at, entry) in top.list("connections")?.iter().enumerate() {
        connections.push(connection(entry, format!("connections[{at}]"))?);
    }
    for (workspace, name, provider) in providers {
        let workspace = state.providers.entry(workspace).or_default();
        workspace.insert(name, provider);
    }
    state.connections.extend(connections);
    Ok(())
}

/// Replaces `$UPSTREAM_URL` (or `${UPSTREAM_URL}`, as a shell writes it)
/// in every text of `value` with `upstream`; refuses any other `${…}`, by
/// name, which would otherwise stay in the text as it is.
fn substitute(value: &mut Value, upstream: Option<&str>) -> Result<(), String> {
    match value {
        Value::String(text) if text.contains(UPSTREAM) || text.contains("${") => {
            *text = text.replace("${UPSTREAM_URL}", UPSTREAM);
            if let Some(at) = text.find("${") {
                let name: String = text[at..]
                    .chars()
                    .take_while(|c| *c != '}')
                    .take(64)
                    .collect();
                return Err(format!(
                    "`{name}}}` is not a variable the seed knows: only `$UPSTREAM_URL` (or \
                     `${{UPSTREAM_URL}}`) stands for something, the fake provider API's URL"
                ));
            }
            let url = upstream.ok_or(
                "`$UPSTREAM_URL` names the fake provider API, and this Gateway knows none \
                 (FakeGateway::set_upstream_url)",
            )?;
            *text = text.replace(UPSTREAM, url);
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| substitute(v, upstream))?,
        Value::Object(map) => map.values_mut().try_for_each(|v| substitute(v, upstream))?,
        _ => {}
    }
    Ok(())
}

/// One provider of the seed: its key, and what resolve answers for it.
fn provider(
    entry: &Value,
    what: String,
    now: SystemTime,
) -> Result<(String, String, FakeProvider), String> {
    let strategy = match entry.get("strategy") {
        None => "oauth2",
        Some(name) => name
            .as_str()
            .ok_or_else(|| format!("{what}: `strategy` is text"))?,
    };
    let Some((_, own)) = STRATEGIES.iter().find(|(name, _)| *name == strategy) else {
        let known = STRATEGIES.map(|(name, _)| name).join(", ");
        let strategy: String = strategy.chars().take(64).collect();
        return Err(format!(
            "{what}: unknown strategy {strategy:?} (known: {known})"
        ));
    };
    let f = Fields::of(entry, what, &[&PROVIDER_KEYS[..], own].concat())?;
    let (workspace, name) = (f.need("workspace")?, f.need("name")?);
    let mut provider = match strategy {
        "header" => {
            let prefix = f.text("value_prefix")?;
            FakeProvider::header(f.need("header_name")?, prefix, f.need("api_key")?)
        }
        "basic_auth" => FakeProvider::basic_auth(f.need("username")?, f.need("password")?),
        "query_param" => FakeProvider::query_param(f.need("param_name")?, f.need("api_key")?),
        "hmac_payload" => FakeProvider::hmac_payload(f.need("header_name")?, f.need("secret")?),
        "aws_sigv4" => {
            let (access, secret) = (f.need("access_key")?, f.need("secret_key")?);
            let region = f.text("region")?.unwrap_or("us-east-1");
            FakeProvider::aws_sigv4(access, secret, region, f.need("service")?)
        }
        _ => FakeProvider::oauth2(f.need("token")?),
    };
    if let Some(url) = f.text("api_base_url")? {
        provider = provider.api_base_url(url);
    }
    match f.lifetime(now)? {
        Some(Ok(lifetime)) => provider = provider.expires_in(lifetime),
        Some(Err(ago)) => provider = provider.expired(ago),
        None => {}
    }
    if f.flag("rotating")? {
        provider = provider.rotating();
    }
    Ok((workspace.to_owned(), name.to_owned(), provider))
}

/// One connection of the seed, by its id.
fn connection(entry: &Value, what: String) -> Result<(String, FakeConnection), String> {
    let f = Fields::of(entry, what, &CONNECTION_KEYS)?;
    let id = f.need("id")?;
    if !is_uuid(id) {
        let why = "is not a UUID, as the Gateway requires (8-4-4-4-12 hexadecimal digits)";
        return Err(format!("{}: `id` {}", f.what, why));
    }
    let mut connection = FakeConnection::active(f.need("provider")?, f.need("token")?);
    if let Some(status) = f.text("status")? {
        connection.status = known_status(&format!("{}: `status`", f.what), status)?;
    }
    if let Some(workspace) = f.text("workspace")? {
        connection = connection.workspace(workspace);
    }
    Ok((id.to_owned(), connection))
}

/// A seed object's fields, read by type, each refusal naming `what`.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    what: String,
}

impl<'a> Fields<'a> {
    /// `value` as an object whose keys are all `known`.
    fn of(value: &'a Value, what: String, known: &[&str]) -> Result<Fields<'a>, String> {
        let map = value
            .as_object()
            .ok_or_else(|| format!("{what} is not a JSON object"))?;
        if let Some(key) = map.keys().find(|key| !known.contains(&key.as_str())) {
            let key: String = key.chars().take(64).collect();
            let known = known.join(", ");
            return Err(format!("{what}: unknown key {key:?} (it takes: {known})"));
        }
        Ok(Fields { map, what })
    }

    fn refusal(&self, key: &str, wanted: &str) -> String {
        format!("{}: `{key}` {wanted}", self.what)
    }

    /// The text at `key`, if there is one.
    fn text(&self, key: &str) -> Result<Option<&'a str>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_str()
                .map(Some)
                .ok_or_else(|| self.refusal(key, "is text")),
        }
    }

    /// The text at `key`, which must be there and not blank.
    fn need(&self, key: &str) -> Result<&'a str, String> {
        let text = self.text(key)?.filter(|t| !t.trim().is_empty());
        text.ok_or_else(|| self.refusal(key, "is required, as text"))
    }

    /// The list at `key`, empty when absent.
    fn list(&self, key: &str) -> Result<&'a [Value], String> {
        match self.map.get(key) {
            None => Ok(&[]),
            Some(value) => value
                .as_array()
                .map(Vec::as_slice)
                .ok_or_else(|| self.refusal(key, "is a list")),
        }
    }

    /// The flag at `key`, false when absent.
    fn flag(&self, key: &str) -> Result<bool, String> {
        let flag = self.map.get(key).map(Value::as_bool);
        flag.unwrap_or(Some(false))
            .ok_or_else(|| self.refusal(key, "is true or false"))
    }

    /// `expires_in`, seconds from `now` that a date can still name; a
    /// negative number is a token that had expired that long before.
    fn lifetime(&self, now: SystemTime) -> Result<Option<Result<Duration, Duration>>, String> {
        let Some(value) = self.map.get("expires_in") else {
            return Ok(None);
        };
        if let Some(ago) = value.as_i64().filter(|s| *s < 0) {
            return Ok(Some(Err(Duration::from_secs(ago.unsigned_abs()))));
        }
        let seconds = value.as_u64().map(Duration::from_secs);
        let seconds = seconds.ok_or_else(|| self.refusal("expires_in", "is whole seconds"))?;
        if now.checked_add(seconds).is_none_or(|at| at > last_date()) {
            return Err(self.refusal("expires_in", "reaches past 9999-12-31"));
        }
        Ok(Some(Ok(seconds)))
    }
}
