//! What the fake Gateway does on behalf of its Broker: the Broker's state
//! ([`Broker`]), and the Gateway's reading of its answers and typed
//! re-serialisation of tokens, each as the real Gateway was measured to do it.

use serde_json::{Map, Value, json};

use crate::reply::{Route, bare, error_reply, json_reply, text_reply};
use crate::server::Reply;
use crate::time::is_strict_rfc3339;

/// The state of the Broker behind a [`FakeGateway`](crate::FakeGateway),
/// set with [`set_broker`](crate::FakeGateway::set_broker).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Broker {
    /// The Broker answers (the default).
    #[default]
    Healthy,
    /// The Broker answers 500: `check-connection` then says `pending`,
    /// resolve and the token routes pass the 500 on (bare on the token
    /// routes under [`bodyless_errors`](crate::FakeGateway::bodyless_errors)),
    /// and request-connection answers 502 `broker_error` with
    /// `"status":500` (retryable).
    Failing,
    /// The Broker cannot be reached: `check-connection` answers 502 in plain
    /// text, every other Broker route 502 `broker_unavailable`.
    Unreachable,
    /// The Broker accepts the request and never answers: after the
    /// Gateway's Broker timeout (30 s, see
    /// [`set_broker_timeout`](crate::FakeGateway::set_broker_timeout)) the
    /// Gateway answers as for [`Unreachable`](Self::Unreachable).
    Hung,
}

/// The answer of a Broker route while the Broker is not healthy: a failing
/// Broker's 500 goes through the Gateway's own handling of a Broker answer.
pub(crate) fn broker_down(route: Route, broker: Broker, bodyless: bool) -> Reply {
    match (route, broker) {
        (_, Broker::Failing) => {
            let answer = BrokerAnswer::json(
                500,
                &json!({"error": "internal_error",
                                                         "message": "broker failed"}),
            );
            through_gateway(route, &answer, bodyless)
                .unwrap_or_else(|| error_reply(502, "broker_unavailable", "broker did not answer"))
        }
        (Route::CheckConnection, _) => text_reply(502, "broker unavailable\n"),
        _ => error_reply(502, "broker_unavailable", "broker did not answer"),
    }
}

/// An answer the Broker gives, scripted with
/// [`FakeGateway::script_broker`](crate::FakeGateway::script_broker): what
/// the Gateway then answers is the fake's own handling of it, as the real
/// Gateway's was measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAnswer {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl BrokerAnswer {
    /// A Broker answer of `status` with no body (a 204, a bare 500).
    pub fn status(status: u16) -> BrokerAnswer {
        BrokerAnswer {
            status,
            content_type: None,
            body: Vec::new(),
        }
    }

    /// A Broker answer of `status` with a JSON body.
    pub fn json(status: u16, body: &Value) -> BrokerAnswer {
        let body = body.to_string().into_bytes();
        let content_type = Some("application/json".to_owned());
        BrokerAnswer {
            status,
            content_type,
            body,
        }
    }

    /// A Broker answer of `status` with any body (HTML, plain text, JSON).
    pub fn body(status: u16, content_type: Option<&str>, body: &str) -> BrokerAnswer {
        let content_type = content_type.map(str::to_owned);
        BrokerAnswer {
            status,
            content_type,
            body: body.as_bytes().to_vec(),
        }
    }
}

/// What the Gateway answers for `route` when its Broker answered `answer`
/// (`None` on a route the Broker does not serve):
/// - resolve and the token routes: a 2xx JSON object is the token (typed
///   and re-encoded); a 2xx that is not JSON, not labelled JSON by its
///   `Content-Type`, or a 204, is 502 `broker_unexpected_status`; a 4xx or 5xx passes through, status and
///   body (the body dropped on the token routes of a bodyless Gateway);
/// - request-connection: a 2xx passes; anything else is 502 `broker_error`
///   carrying the Broker's status;
/// - check-connection: 200 `active`, a 4xx `failed`, a 5xx `pending`.
pub(crate) fn through_gateway(
    route: Route,
    answer: &BrokerAnswer,
    bodyless: bool,
) -> Option<Reply> {
    let status = answer.status;
    // The Gateway's generated Broker client reads a body only when its
    // Content-Type names JSON.
    let typed = answer
        .content_type
        .as_deref()
        .is_some_and(|t| t.contains("json"));
    let json = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .filter(|body| typed && body.is_object());
    Some(match route {
        Route::CheckConnection => {
            let said = match status {
                200..=299 => "active",
                400..=499 => "failed",
                _ => "pending",
            };
            json_reply(200, &json!({"status": said}))
        }
        Route::RequestConnection => match (status, json) {
            (200..=299, Some(json)) => json_reply(status, &json),
            _ => json_reply(
                502,
                &json!({"error": "broker_error",
                "message": format!("broker returned status {status}"), "status": status}),
            ),
        },
        Route::Resolve | Route::Token | Route::Refresh | Route::Revoke => match (status, json) {
            (200..=203, Some(json)) if route == Route::Revoke => json_reply(status, &json),
            (200..=203, Some(json)) => {
                reserialise(json).map_or_else(|reply| reply, |token| json_reply(200, &token))
            }
            (200..=299, _) => error_reply(
                502,
                "broker_unexpected_status",
                &format!("unexpected status {status}"),
            ),
            _ if bodyless && route != Route::Resolve => bare(status),
            _ => Reply::Answer {
                status,
                headers: answer
                    .content_type
                    .iter()
                    .map(|t| ("Content-Type".to_owned(), t.clone()))
                    .collect(),
                body: answer.body.clone(),
            },
        },
        _ => return None,
    })
}

/// The keys of a token answer the Gateway's typed struct keeps.
const TOKEN_KEYS: [&str; 8] = [
    "access_token",
    "token_type",
    "refresh_token",
    "id_token",
    "expiry",
    "health_status",
    "strategy",
    "credentials",
];

/// A Broker token answer as the Gateway re-encodes it: unknown top-level
/// keys dropped; an `expiry` that is not RFC 3339 (with an offset) fails
/// the decoding, 502 `broker_unavailable`; an answer that is not a JSON
/// object is 502 `broker_unexpected_status`.
pub(crate) fn reserialise(answer: Value) -> Result<Value, Reply> {
    let Value::Object(fields) = answer else {
        return Err(error_reply(
            502,
            "broker_unexpected_status",
            "broker answered something that is not a token",
        ));
    };
    if let Some(expiry) = fields.get("expiry").filter(|v| !v.is_null()) {
        if !expiry.as_str().is_some_and(is_strict_rfc3339) {
            return Err(error_reply(
                502,
                "broker_unavailable",
                "broker answer could not be decoded",
            ));
        }
    }
    let kept: Map<String, Value> = fields
        .into_iter()
        .filter(|(key, _)| TOKEN_KEYS.contains(&key.as_str()))
        .collect();
    Ok(Value::Object(kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserialisation_drops_unknown_keys_and_checks_expiry() {
        let kept = reserialise(json!({"access_token": "t", "api_base_url": "x",
                                      "expires_at": "2030-01-01T00:00:00Z",
                                      "credentials": {"api_base_url": "kept"}}))
        .unwrap_or_default();
        assert_eq!(
            kept,
            json!({"access_token": "t", "credentials": {"api_base_url": "kept"}})
        );
        for good in ["2030-01-01T00:00:00Z", "2030-01-01T00:00:00.5+02:00"] {
            assert!(reserialise(json!({"expiry": good})).is_ok(), "{good}");
        }
        for bad in [
            json!("2030-01-01"),
            json!("2030-01-01T00:00:00"),
            json!("soon"),
            json!(1_900_000_000),
        ] {
            assert!(reserialise(json!({"expiry": bad})).is_err(), "{bad}");
        }
        assert!(reserialise(json!([1])).is_err());
    }
}
