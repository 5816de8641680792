//! A Shared Signals stream with a transmitter (OpenID SSF 1.0 §8): made by
//! `nexus-mcp serve ssf connect` at the transmitter's
//! `configuration_endpoint`, delivering by push to this server's
//! `/ssf/events` (with an authorization header of its own, sealed with the
//! replicas' keyring) or, with `--poll`, for this server to poll (RFC 8936);
//! and the polling, by every replica with `NEXUS_MCP_SSF_TOKEN`, each SET
//! taken once across them ([`super::ssf::taken`]) and acknowledged.
//! Blocking HTTP, off the runtime's threads; the transmitter's words are
//! shown as text, never followed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Receivers;
use super::ssf::{self, POLL, PUSH, PushToken, REQUESTED, Refused};
use super::subject::withheld;
use crate::keys::{Keys, Sealing};
use crate::serve::issuer::{Issuer, well_known};

/// What one exchange with a transmitter may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How often a replica polls each poll stream.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// The most SETs one poll asks for.
const MOST_EVENTS: u64 = 50;

/// The transmitter at `transmitter`'s configuration (its
/// `ssf-configuration`, naming it as its issuer), or why not.
fn configuration(
    agent: &ureq::Agent,
    transmitter: &str,
    secrets: &[&str],
) -> Result<Value, String> {
    let url = well_known(transmitter, "ssf-configuration");
    let config = exchanged(agent.get(&url).call(), &url, secrets)?;
    if config["issuer"] != transmitter {
        return Err(format!(
            "{url} names the issuer {}, not {transmitter:?}: the two must be equal to the byte",
            withheld(&config["issuer"].to_string(), secrets)
        ));
    }
    Ok(config)
}

/// `serve ssf connect`: a stream made at `transmitter` for the server at
/// `origin` (its `keys`), pushing to it or (`poll`) for it to poll, the
/// transmitter asked with `token`; and verified. The stream's configuration
/// as the transmitter answered it (the push authorization this server gave
/// it redacted), and what the operator should know of it (its audience not
/// this server's, its verification not asked); or why not. Neither the
/// token nor the authorization is in anything it returns, whatever the
/// transmitter echoes.
pub(crate) fn connect(
    (transmitter, token): (&str, &str),
    (origin, keys): (&str, &Keys),
    poll: bool,
) -> Result<(Value, Vec<String>), String> {
    let mut said = Vec::new();
    let agent = crate::http::agent(TIMEOUT);
    let sealed = PushToken {
        ssf_for: origin.to_owned(),
    };
    let header = Sealing::named(&keys.oauth.ssf, &sealed, crate::serve::grant::CLIENT_LIFE);
    let secrets = [token, header.as_str()];
    let config = configuration(&agent, transmitter, &secrets)?;
    let endpoint = config["configuration_endpoint"].as_str();
    let endpoint = endpoint.ok_or("the transmitter names no configuration_endpoint")?;
    let delivery = match poll {
        true => json!({"method": POLL}),
        false => json!({
            "method": PUSH,
            "endpoint_url": format!("{origin}{}", ssf::EVENTS),
            "authorization_header": format!("Bearer {header}"),
        }),
    };
    // `aud` is the transmitter's to set (SSF 1.0 §8.1.1); this server's
    // issuer identifier is what it checks, offered to one that takes it.
    let asked = json!({
        "aud": origin,
        "delivery": delivery,
        "events_requested": REQUESTED,
        "description": format!("nexus-mcp serve at {origin}"),
    });
    let bearer = format!("Bearer {token}");
    let made = sent(&agent, (endpoint, &bearer), &asked);
    let mut stream = exchanged(made, endpoint, &secrets)?;
    if stream["delivery"]["authorization_header"].is_string() {
        let given = "<redacted: the authorization this command gave the transmitter>";
        stream["delivery"]["authorization_header"] = json!(given);
    }
    let aud = &stream["aud"];
    let named = |aud: &Value| {
        aud == origin
            || aud
                .as_str()
                .is_some_and(|a| a.starts_with(&format!("{origin}/")))
    };
    if !(aud.is_null() || named(aud) || aud.as_array().is_some_and(|all| all.iter().any(named))) {
        let aud = withheld(&aud.to_string(), &secrets);
        said.push(format!(
            "the transmitter addresses this stream's events to {aud}, not to this server \
             ({origin}): they will be refused (invalid_audience) until it names {origin}"
        ));
    }
    if let (Some(verify), Some(id)) = (
        config["verification_endpoint"].as_str(),
        stream["stream_id"].as_str(),
    ) {
        let asked = json!({"stream_id": id, "state": crate::serve::page::random()});
        let verified = sent(&agent, (verify, &bearer), &asked);
        if let Err(why) = exchanged(verified, verify, &secrets) {
            said.push(format!(
                "the stream is made, and its verification was not asked: {why}"
            ));
        }
    }
    let stream = serde_json::from_str(&withheld(&stream.to_string(), &secrets));
    Ok((stream.unwrap_or(Value::Null), said))
}

/// `body` posted to `url` as JSON, with the `Authorization` `bearer`.
fn sent(
    agent: &ureq::Agent,
    (url, bearer): (&str, &str),
    body: &Value,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let request = agent.post(url).header("Authorization", bearer);
    let request = request.header("Content-Type", "application/json");
    request.send(body.to_string())
}

/// The JSON a transmitter answered at `url` (2xx; none for 204), or why not
/// (its words as text, none of `secrets` in them).
fn exchanged(
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    url: &str,
    secrets: &[&str],
) -> Result<Value, String> {
    let failed = |e: ureq::Error| withheld(&format!("{url}: {e}"), secrets);
    let mut answer = sent.map_err(failed)?;
    let status = answer.status().as_u16();
    let body = answer.body_mut().with_config().limit(1 << 20).read_to_vec();
    let body = body.map_err(failed)?;
    if !(200..300).contains(&status) {
        let text = withheld(&String::from_utf8_lossy(&body), secrets);
        return Err(format!(
            "{url} answered {status}: {}",
            nexus_sdk::one_line_within(&text, 200)
        ));
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body).map_err(|_| format!("{url} is not JSON"))
}

/// Polls the poll streams `transmitter` holds for this server, asked with
/// `token`, every [`POLL_EVERY`], from start to the end of the process: a
/// task of each transmitter's own, so that a slow, failing or hostile one
/// holds back no other's revocations.
pub(crate) async fn poll(here: Arc<Receivers>, transmitter: Arc<Issuer>, token: String) {
    let agent = crate::http::agent(TIMEOUT);
    // Per poll endpoint: the SETs taken to acknowledge, and those refused.
    let mut owed: HashMap<String, (Vec<String>, serde_json::Map<String, Value>)> = HashMap::new();
    loop {
        let endpoints = {
            let (agent, url, token) = (agent.clone(), transmitter.url().to_owned(), token.clone());
            tokio::task::spawn_blocking(move || poll_endpoints(&agent, &url, &token)).await
        };
        match endpoints {
            Ok(Ok(endpoints)) => {
                for endpoint in endpoints {
                    let owed = owed.entry(endpoint.clone()).or_default();
                    polled(&here, (&agent, &endpoint, &token), owed).await;
                }
            }
            Ok(Err(why)) => {
                log::debug!(target: "nexus_mcp", "no stream polled at {}: {why}", transmitter.url());
            }
            Err(_) => {}
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The streams the transmitter at `transmitter` holds for the bearer of
/// `token`, each as its configuration.
fn streams(agent: &ureq::Agent, transmitter: &str, token: &str) -> Result<Vec<Value>, String> {
    let config = configuration(agent, transmitter, &[token])?;
    let endpoint = config["configuration_endpoint"].as_str();
    let endpoint = endpoint.ok_or("the transmitter names no configuration_endpoint")?;
    let bearer = format!("Bearer {token}");
    let streams = exchanged(
        agent.get(endpoint).header("Authorization", &bearer).call(),
        endpoint,
        &[token],
    )?;
    Ok(match streams {
        Value::Array(all) => all,
        Value::Null => Vec::new(),
        one => vec![one],
    })
}

/// The poll endpoints of the streams the transmitter at `transmitter`
/// holds for the bearer of `token`.
fn poll_endpoints(
    agent: &ureq::Agent,
    transmitter: &str,
    token: &str,
) -> Result<Vec<String>, String> {
    let streams = streams(agent, transmitter, token)?;
    let polled = streams.iter().filter(|s| s["delivery"]["method"] == POLL);
    Ok(polled
        .filter_map(|s| s["delivery"]["endpoint_url"].as_str().map(str::to_owned))
        .collect())
}

/// `serve --check`: whether the transmitter at `transmitter` holds a
/// stream for the server at `origin` (pushing to it, or for it to poll),
/// asked with `token`; the line that says so, or why not.
pub(crate) fn checked(transmitter: &str, origin: &str, token: &str) -> Result<String, String> {
    let agent = crate::http::agent(TIMEOUT);
    let streams = streams(&agent, transmitter, token)?;
    let events = format!("{origin}{}", ssf::EVENTS);
    let pushed = streams
        .iter()
        .any(|s| s["delivery"]["endpoint_url"] == events.as_str());
    let polled = streams.iter().any(|s| s["delivery"]["method"] == POLL);
    match (pushed, polled) {
        (true, _) => Ok(format!("the transmitter {transmitter} pushes to {events}")),
        (false, true) => Ok(format!(
            "the transmitter {transmitter} holds a stream the replicas poll"
        )),
        (false, false) => Err(format!(
            "--ssf-transmitter {transmitter}: no stream delivers to this server; make one with \
             `nexus-mcp serve ssf connect --transmitter {transmitter} --public-url …`"
        )),
    }
}

/// One round at the poll `endpoint` (asked with `token`): what was taken
/// acknowledged (and what was refused, told), then each SET it gives taken
/// or refused, until it has no more. A SET is acknowledged only once its
/// revocation is written (now, or when it was taken before); one that could
/// not be had now (the store does not answer) is neither acknowledged nor
/// refused, and comes again.
async fn polled(
    here: &Receivers,
    (agent, endpoint, token): (&ureq::Agent, &str, &str),
    (acks, errors): &mut (Vec<String>, serde_json::Map<String, Value>),
) {
    for _ in 0..10 {
        let asked = json!({
            "ack": acks,
            "setErrs": errors,
            "maxEvents": MOST_EVENTS,
            "returnImmediately": true,
        });
        let (agent, url, owned) = (agent.clone(), endpoint.to_owned(), token.to_owned());
        let answered = tokio::task::spawn_blocking(move || {
            let bearer = format!("Bearer {owned}");
            exchanged(sent(&agent, (&url, &bearer), &asked), &url, &[&owned])
        });
        let answer = match answered.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(why)) => {
                log::warn!(target: "nexus_mcp", "a Shared Signals poll failed: {why}");
                return;
            }
            Err(_) => return,
        };
        acks.clear();
        errors.clear();
        let sets = answer["sets"].as_object().cloned().unwrap_or_default();
        for (jti, set) in &sets {
            match ssf::taken(here, set.as_str().unwrap_or_default(), &[token]).await {
                Ok(()) | Err(Refused::TakenBefore) => acks.push(jti.clone()),
                Err(refused) => {
                    if let Some(error) = refused.as_error() {
                        let error = withheld(&error.to_string(), &[token]);
                        let error = serde_json::from_str(&error).unwrap_or_default();
                        errors.insert(jti.clone(), error);
                    }
                }
            }
        }
        if answer["moreAvailable"] != true {
            return;
        }
    }
}
