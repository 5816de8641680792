//! The Gateway's rate limiter, as its middleware does it (the shared
//! contract's "The real Gateway, measured", item 4): off unless enabled; a
//! GCRA bucket per limited route and per workspace or client address; a
//! burst of n a minute, then one every minute / n; refusals not counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::request::RecordedRequest;
use crate::server::Reply;

/// The rate limits a [`FakeGateway`](crate::FakeGateway) applies, named and
/// defaulted as the real Gateway's settings are: off unless `enabled`, then
/// per minute 10 request-connections, 20 callbacks, 60 token reads and 60
/// refreshes (each its own bucket, both from `token_rpm`) and 60 resolves.
/// A figure of 0 or less leaves its routes unlimited.
///
/// A [`TestClock`](crate::TestClock) given to the fake drives the
/// limiter's time too (the crate's README has the same test from curl):
///
/// ```
/// use std::time::Duration;
/// use nexus_gateway_fake::{FakeGateway, FakeProvider, RateLimits, TestClock};
/// use nexus_sdk::{ErrorKind, NexusClient, NexusClientOptions};
///
/// let (gateway, clock) = (FakeGateway::start(), TestClock::stopped());
/// gateway.use_clock(&clock);
/// gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x"));
/// gateway.set_rate_limits(RateLimits { enabled: true, resolve_rpm: 6, ..RateLimits::default() });
/// let client = NexusClient::new(NexusClientOptions::new(gateway.url()))?;
/// for _ in 0..6 {
///     client.resolve_token("ws-1", "github")?;
/// }
/// let refused = client.resolve_token("ws-1", "github").unwrap_err();
/// assert_eq!(refused.kind(), ErrorKind::RateLimited); // Retry-After: 10
/// clock.advance(Duration::from_secs(10));
/// client.resolve_token("ws-1", "github")?; // one more every ten seconds
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// `RATE_LIMIT_ENABLED`: the limiter is off unless this is set.
    pub enabled: bool,
    /// `RATE_LIMIT_REQUEST_CONNECTION_RPM`: `POST /v1/request-connection`.
    pub request_connection_rpm: i64,
    /// `RATE_LIMIT_CALLBACK_RPM`: `/v1/callback` and `/auth/callback`, any method.
    pub callback_rpm: i64,
    /// `RATE_LIMIT_TOKEN_RPM`: `GET /v1/token/…` and, in a bucket of its
    /// own, `POST /v1/refresh/…`.
    pub token_rpm: i64,
    /// `RATE_LIMIT_RESOLVE_RPM`: `GET /v1/resolve`.
    pub resolve_rpm: i64,
    /// How long a minute lasts: 60 s, as at the Gateway. A test that cannot
    /// wait a minute shortens it, and every interval with it.
    pub minute: Duration,
}

impl Default for RateLimits {
    /// The real Gateway's defaults, off.
    fn default() -> Self {
        RateLimits {
            enabled: false,
            request_connection_rpm: 10,
            callback_rpm: 20,
            token_rpm: 60,
            resolve_rpm: 60,
            minute: Duration::from_secs(60),
        }
    }
}

/// The figures by name, lower case: the control API's keys, and after
/// `RATE_LIMIT_` in upper case the Gateway's variables.
pub(crate) const FIGURES: [&str; 4] = [
    "request_connection_rpm",
    "callback_rpm",
    "token_rpm",
    "resolve_rpm",
];

/// With the limiter on, `Err` naming the first of `names` that starts
/// with `RATE_LIMIT_` and is none of the Gateway's variables.
fn known_variables(enabled: bool, names: impl Iterator<Item = String>) -> Result<(), String> {
    let known = |name: &str| {
        let figure = name
            .strip_prefix("RATE_LIMIT_")
            .map(str::to_ascii_lowercase);
        name == "RATE_LIMIT_ENABLED" || figure.is_some_and(|f| FIGURES.contains(&f.as_str()))
    };
    let mut unknown = names.filter(|n| n.starts_with("RATE_LIMIT_") && !known(n));
    match unknown.next() {
        Some(name) if enabled => {
            let figures = FIGURES.map(|f| format!("RATE_LIMIT_{}", f.to_ascii_uppercase()));
            Err(format!(
                "{name} is not one of the Gateway's rate-limit variables, and would change \
                 nothing: RATE_LIMIT_ENABLED, {}",
                figures.join(", ")
            ))
        }
        _ => Ok(()),
    }
}

impl RateLimits {
    /// The limits the Gateway's own variables set (`RATE_LIMIT_ENABLED`,
    /// `RATE_LIMIT_REQUEST_CONNECTION_RPM`, `RATE_LIMIT_CALLBACK_RPM`,
    /// `RATE_LIMIT_TOKEN_RPM`, `RATE_LIMIT_RESOLVE_RPM`), so that a staging
    /// Gateway's settings configure the fake the same way. An unset or
    /// empty variable keeps its default.
    ///
    /// # Errors
    ///
    /// Which variable is not what it should be: `RATE_LIMIT_ENABLED` is
    /// `true` or `false`, the figures whole numbers; with the limiter on, a
    /// `RATE_LIMIT_*` variable that is none of these (a misspelt figure,
    /// which would leave its default in silence) is named.
    pub fn from_env() -> Result<RateLimits, String> {
        let limits = RateLimits::from_vars(|name| std::env::var_os(name).map(|v| v.into_string()))?;
        let names = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
        known_variables(limits.enabled, names)?;
        Ok(limits)
    }

    /// The `RATE_LIMIT_*` figures set while `RATE_LIMIT_ENABLED` is not
    /// `true`, each in a sentence: the Gateway ignores them, and so does
    /// [`from_env`](Self::from_env); the program warns of each at start.
    pub fn ignored_from_env() -> Vec<String> {
        if std::env::var("RATE_LIMIT_ENABLED").is_ok_and(|v| v == "true") {
            return Vec::new();
        }
        let variables = FIGURES
            .iter()
            .map(|name| format!("RATE_LIMIT_{}", name.to_ascii_uppercase()));
        let set = variables.filter(|v| std::env::var_os(v).is_some_and(|value| !value.is_empty()));
        set.map(|variable| {
            format!(
                "{variable} is set but RATE_LIMIT_ENABLED is not `true`, so the Gateway ignores \
                 it, and so does the fake: set RATE_LIMIT_ENABLED=true for a limit"
            )
        })
        .collect()
    }

    fn from_vars(
        var: impl Fn(&str) -> Option<Result<String, std::ffi::OsString>>,
    ) -> Result<RateLimits, String> {
        let read = |name: &str| match var(name) {
            Some(Ok(value)) if value.trim().is_empty() => Ok(None),
            Some(Ok(value)) => Ok(Some(value.trim().to_owned())),
            Some(Err(_)) => Err(format!("{name} is not valid UTF-8")),
            None => Ok(None),
        };
        // As the Gateway reads it: on for exactly `true`, anything else off;
        // a value it would read as off without saying so is refused here.
        let enabled = match var("RATE_LIMIT_ENABLED") {
            Some(Ok(value)) if value == "true" => true,
            None => false,
            Some(Ok(value)) if value == "false" || value.is_empty() => false,
            Some(_) => {
                return Err(
                    "RATE_LIMIT_ENABLED is `true` or `false`: the Gateway turns its \
                            limiter on for exactly `true` and reads anything else as off"
                        .to_owned(),
                );
            }
        };
        let mut limits = RateLimits {
            enabled,
            ..RateLimits::default()
        };
        for name in FIGURES {
            let variable = format!("RATE_LIMIT_{}", name.to_ascii_uppercase());
            // With the limiter off the Gateway ignores a figure, and so does
            // the fake (the program warns: `ignored_from_env`).
            if let Some(value) = read(&variable)?.filter(|_| enabled) {
                let figure = value.parse().map_err(|_| {
                    format!("{variable} is not a whole number of requests a minute")
                })?;
                limits.set(name, figure);
            }
        }
        Ok(limits)
    }

    /// Sets the figure `name` (one of [`FIGURES`]); false for another name.
    pub(crate) fn set(&mut self, name: &str, per_minute: i64) -> bool {
        let figure = match name {
            "request_connection_rpm" => &mut self.request_connection_rpm,
            "callback_rpm" => &mut self.callback_rpm,
            "token_rpm" => &mut self.token_rpm,
            "resolve_rpm" => &mut self.resolve_rpm,
            _ => return false,
        };
        *figure = per_minute;
        true
    }

    /// The bucket a request falls in, and its limit, when the limiter is
    /// on and limits it. Routes match by path prefix and method.
    fn bucket(&self, method: &str, path: &str) -> Option<(&'static str, u32)> {
        if !self.enabled {
            return None;
        }
        let (bucket, per_minute) = match (method, path) {
            ("POST", p) if p.starts_with("/v1/request-connection") => {
                ("request-connection", self.request_connection_rpm)
            }
            (_, p) if p.starts_with("/v1/callback") || p.starts_with("/auth/callback") => {
                ("callback", self.callback_rpm)
            }
            ("GET", p) if p.starts_with("/v1/token") => ("token", self.token_rpm),
            ("POST", p) if p.starts_with("/v1/refresh") => ("refresh", self.token_rpm),
            ("GET", p) if p.starts_with("/v1/resolve") => ("resolve", self.resolve_rpm),
            _ => return None,
        };
        let per_minute = u32::try_from(per_minute).unwrap_or(u32::MAX);
        (per_minute > 0).then_some((bucket, per_minute))
    }
}

/// The limiter: its limits, and each bucket's theoretical arrival time
/// (GCRA's state), as time since the Unix epoch on the Gateway's clock.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limiter {
    limits: RateLimits,
    arrivals: HashMap<(&'static str, String), Duration>,
    /// Buckets past their arrival time are forgotten when the map reaches this.
    purge_at: usize,
}

impl Limiter {
    pub(crate) fn new(limits: RateLimits) -> Limiter {
        Limiter {
            limits,
            ..Limiter::default()
        }
    }

    /// `None` when the request may pass (and is counted), else the 429.
    pub(crate) fn check(&mut self, request: &RecordedRequest, now: Duration) -> Option<Reply> {
        // Routes match on the decoded path, as Go's `r.URL.Path` holds it.
        let path = crate::request::percent_decode(&request.path, false);
        let (bucket, per_minute) = self.limits.bucket(&request.method, &path)?;
        let key = (bucket, client(request));
        let arrival = self.arrivals.get(&key).copied();
        match gcra(arrival, now, per_minute, self.limits.minute) {
            Ok(next) => {
                self.arrivals.insert(key, next);
                self.purge(now);
                None
            }
            Err(wait) => Some(refusal(wait)),
        }
    }

    /// Forgets buckets that are full again, once the map has doubled since
    /// the last purge: a stream of new keys costs memory for a minute only.
    fn purge(&mut self, now: Duration) {
        if self.arrivals.len() < self.purge_at.max(1024) {
            return;
        }
        self.arrivals.retain(|_, arrival| *arrival > now);
        self.purge_at = 2 * self.arrivals.len();
    }
}

/// Who a request counts against, as the Gateway's middleware reads it:
/// its workspace (`X-Workspace-Id`'s whole value, else the `workspace_id`
/// query parameter as Go's query parser reads it), else its client address
/// (`X-Real-IP`'s whole value, else, when `X-Forwarded-For` is present and
/// not empty, its first entry trimmed, even a blank one, else the peer
/// address the router's real-IP step set, cut at its last `:`).
///
/// That step (chi's `RealIP`, mounted before the limiter) takes the first of
/// `True-Client-IP`, `X-Real-IP` and `X-Forwarded-For`'s first entry that is
/// an IP address, else the TCP peer as `ip:port`. The last two were read
/// whole just before, so only `True-Client-IP` is left for it; cut at its
/// last `:`, an IPv6 address loses its last group (`2001:db8::1` keys as
/// `2001:db8:`) and the TCP peer its port.
fn client(request: &RecordedRequest) -> String {
    let whole = |name: &str| {
        let value = request.header(name).map(str::trim);
        value.filter(|v| !v.is_empty()).map(str::to_owned)
    };
    let forwarded = || {
        let value = request
            .header("x-forwarded-for")
            .filter(|v| !v.is_empty())?;
        Some(
            value
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        )
    };
    let workspace = || go_query_param(&request.query, "workspace_id").filter(|w| !w.is_empty());
    let true_client_ip = || whole("true-client-ip").filter(|v| v.parse::<IpAddr>().is_ok());
    let peer = || request.peer.map(|peer| peer.to_string());
    let real_ip = true_client_ip().or_else(peer).unwrap_or_default();
    let cut = real_ip
        .rfind(':')
        .map_or(real_ip.as_str(), |at| &real_ip[..at]);
    whole("x-workspace-id")
        .or_else(workspace)
        .or_else(|| whole("x-real-ip"))
        .or_else(forwarded)
        .unwrap_or_else(|| cut.to_owned())
}

/// The first value of `name` in `query` as Go's `url.ParseQuery` reads it:
/// a pair holding `;`, or a bad `%` escape in its name or value, is dropped.
fn go_query_param(query: &str, name: &str) -> Option<String> {
    let unescape = |s: &str| {
        let spaced = s.replace('+', " ");
        let bytes = spaced.as_bytes();
        let bad = bytes.iter().enumerate().any(|(i, b)| {
            *b == b'%'
                && !bytes
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        });
        (!bad).then(|| crate::request::percent_decode(&spaced, false))
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((unescape(key)?, unescape(value)?))
        })
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// GCRA with a burst of `per_minute`: a request at `now` against a bucket
/// whose theoretical arrival time is `arrival` passes when that is at most
/// a minute ahead, and moves it one interval on; `Err` holds the wait until
/// it would pass.
fn gcra(
    arrival: Option<Duration>,
    now: Duration,
    per_minute: u32,
    minute: Duration,
) -> Result<Duration, Duration> {
    let interval = minute / per_minute;
    let next = arrival.map_or(now, |at| at.max(now)) + interval;
    let allowed_at = next.saturating_sub(interval * per_minute);
    match allowed_at.checked_sub(now) {
        Some(wait) if !wait.is_zero() => Err(wait),
        _ => Ok(next),
    }
}

/// The Gateway's refusal, byte for byte: Go's `http.Error` of 429 with a
/// `Retry-After` of the whole seconds left, truncated.
fn refusal(wait: Duration) -> Reply {
    let headers = vec![
        ("Content-Type".into(), "text/plain; charset=utf-8".into()),
        ("X-Content-Type-Options".into(), "nosniff".into()),
        ("Retry-After".into(), wait.as_secs().to_string()),
    ];
    let body = b"Too Many Requests\n".to_vec();
    Reply::Answer {
        status: 429,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    /// `n` requests at `at`, against `arrival`: the outcomes, and the arrival after.
    fn burst(
        arrival: &mut Option<Duration>,
        at: Duration,
        n: usize,
        rpm: u32,
    ) -> Vec<Result<(), u64>> {
        let mut outcomes = Vec::new();
        for _ in 0..n {
            match gcra(*arrival, at, rpm, MINUTE) {
                Ok(next) => {
                    *arrival = Some(next);
                    outcomes.push(Ok(()));
                }
                Err(wait) => outcomes.push(Err(wait.as_secs())),
            }
        }
        outcomes
    }

    #[test]
    fn a_burst_of_n_then_one_every_minute_over_n_and_refusals_are_not_counted() {
        let t0 = Duration::from_secs(1_800_000_000);
        let mut arrival = None;
        let outcomes = burst(&mut arrival, t0, 8, 6);
        assert_eq!(outcomes[..6], [Ok(()); 6]);
        assert_eq!(
            outcomes[6..],
            [Err(10), Err(10)],
            "the 7th and 8th wait 10 s"
        );
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(
            burst(&mut arrival, t0 + ms(9_500), 1, 6),
            [Err(0)],
            "truncated"
        );
        assert_eq!(burst(&mut arrival, t0 + s(10), 2, 6), [Ok(()), Err(10)]);
        // A minute of quiet fills the bucket again: a burst of 6.
        let later = burst(&mut arrival, t0 + s(80), 7, 6);
        assert_eq!(later.iter().filter(|o| o.is_ok()).count(), 6, "{later:?}");
    }

    #[test]
    fn a_burst_of_one_refuses_the_second_for_a_whole_interval() {
        let mut arrival = None;
        let t0 = Duration::from_secs(100);
        assert_eq!(burst(&mut arrival, t0, 2, 1), [Ok(()), Err(60)]);
        let ms = Duration::from_millis;
        assert_eq!(burst(&mut arrival, t0 + ms(59_999), 1, 1), [Err(0)]);
        assert_eq!(burst(&mut arrival, t0 + ms(60_000), 1, 1), [Ok(())]);
    }

    fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> RecordedRequest {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut request = RecordedRequest::for_tests(method, path, query);
        for (name, value) in headers {
            request.headers.push(((*name).into(), (*value).into()));
        }
        request
    }

    #[test]
    fn buckets_by_route_prefix_and_method_keys_by_workspace_then_address() {
        let limits = RateLimits {
            enabled: true,
            callback_rpm: 0,
            ..RateLimits::default()
        };
        let bucket = |m: &str, p: &str| limits.bucket(m, p);
        assert_eq!(bucket("GET", "/v1/resolve"), Some(("resolve", 60)));
        assert_eq!(bucket("POST", "/v1/refresh/x"), Some(("refresh", 60)));
        assert_eq!(bucket("GET", "/v1/token/x"), Some(("token", 60)));
        assert_eq!(
            bucket("POST", "/v1/request-connection"),
            Some(("request-connection", 10))
        );
        for unlimited in [
            ("GET", "/v1/callback"),
            ("GET", "/v1/check-connection/x"),
            ("DELETE", "/v1/connections/x"),
            ("GET", "/v1/providers/metadata"),
            ("GET", "/health"),
            ("POST", "/v1/resolve"),
        ] {
            assert_eq!(bucket(unlimited.0, unlimited.1), None, "{unlimited:?}");
        }
        let off = RateLimits::default();
        assert_eq!(off.bucket("GET", "/v1/resolve"), None, "off unless enabled");
        let key = |target: &str, headers: &[(&str, &str)]| client(&request("GET", target, headers));
        let all = [
            ("X-Workspace-Id", "ws-h"),
            ("X-Real-IP", "10.0.0.1"),
            ("X-Forwarded-For", "10.0.0.2, 10.0.0.3"),
        ];
        assert_eq!(key("/v1/resolve?workspace_id=ws-q", &all), "ws-h");
        assert_eq!(key("/v1/resolve?workspace_id=ws-q", &all[1..]), "ws-q");
        assert_eq!(key("/v1/token/x", &all[1..]), "10.0.0.1");
        assert_eq!(key("/v1/token/x", &all[2..]), "10.0.0.2");
        let commas = [
            ("X-Workspace-Id", "ws-a, ws-b"),
            ("X-Real-IP", "10.0.0.1, 10.0.0.9"),
        ];
        assert_eq!(key("/v1/resolve", &commas), "ws-a, ws-b", "read whole");
        assert_eq!(
            key("/v1/token/x", &commas[1..]),
            "10.0.0.1, 10.0.0.9",
            "read whole"
        );
        let router = [("True-Client-IP", "203.0.113.9")];
        assert_eq!(
            key("/v1/token/x", &router),
            "203.0.113.9",
            "the router's real IP"
        );
        let not_ip = [("True-Client-IP", "not-an-ip")];
        assert_eq!(
            key("/v1/token/x", &not_ip),
            "192.0.2.7",
            "not an IP: the peer"
        );
        assert_eq!(
            bucket("GET", "/v1/tokens/x"),
            Some(("token", 60)),
            "a plain prefix"
        );
        assert_eq!(
            bucket("POST", "/v1/refreshx"),
            Some(("refresh", 60)),
            "a plain prefix"
        );
        assert_eq!(
            key("/v1/token/x", &[]),
            "192.0.2.7",
            "the peer, without its port"
        );
    }

    #[test]
    fn the_four_details_of_the_gateways_middleware() {
        let key = |target: &str, headers: &[(&str, &str)]| client(&request("GET", target, headers));
        // A blank first X-Forwarded-For entry is the key, shared by all such.
        for blank in [", 10.0.0.3", " ,x", ","] {
            assert_eq!(
                key("/v1/token/x", &[("X-Forwarded-For", blank)]),
                "",
                "{blank:?}"
            );
        }
        assert_eq!(
            key("/v1/token/x", &[("X-Forwarded-For", "")]),
            "192.0.2.7",
            "empty: absent"
        );
        // An IPv6 client address is cut at its last colon.
        for (ip, keyed) in [
            ("2001:db8::1", "2001:db8:"),
            ("::1", ":"),
            ("fe80::a:b", "fe80::a"),
        ] {
            assert_eq!(key("/v1/token/x", &[("True-Client-IP", ip)]), keyed, "{ip}");
        }
        let mut v6 = request("GET", "/v1/token/x", &[]);
        v6.peer = Some("[2001:db8::7]:4321".parse().unwrap());
        assert_eq!(client(&v6), "[2001:db8::7]", "a TCP peer loses its port");
        // A workspace Go's query parser drops is no key at all.
        for dropped in [
            "workspace_id=ws;x",
            "workspace_id=ws%zz",
            "work%space_id=ws",
            "a=1;workspace_id=ws",
        ] {
            assert_eq!(
                key(&format!("/v1/resolve?{dropped}"), &[]),
                "192.0.2.7",
                "{dropped}"
            );
        }
        assert_eq!(
            key("/v1/resolve?x=%zz&workspace_id=ws+1%21", &[]),
            "ws 1!",
            "other pairs go alone"
        );
        // The path is matched decoded.
        let limits = RateLimits {
            enabled: true,
            ..RateLimits::default()
        };
        let mut limiter = Limiter::new(RateLimits {
            token_rpm: 1,
            ..limits
        });
        let encoded = request("GET", "/v1/%74oken/x", &[]);
        assert!(limiter.check(&encoded, Duration::ZERO).is_none(), "counted");
        assert!(
            limiter.check(&encoded, Duration::ZERO).is_some(),
            "and limited"
        );
    }

    #[test]
    fn the_gateways_variables_configure_it() {
        let vars = |pairs: &'static [(&str, &str)]| {
            move |name: &str| {
                let value = pairs.iter().find(|(n, _)| *n == name);
                value.map(|(_, v)| Ok((*v).to_owned()))
            }
        };
        let limits = RateLimits::from_vars(vars(&[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_RESOLVE_RPM", "6"),
            ("RATE_LIMIT_TOKEN_RPM", "-1"),
            ("RATE_LIMIT_CALLBACK_RPM", ""),
        ]));
        let expected = RateLimits {
            enabled: true,
            resolve_rpm: 6,
            token_rpm: -1,
            ..RateLimits::default()
        };
        assert_eq!(limits, Ok(expected));
        assert_eq!(RateLimits::from_vars(vars(&[])), Ok(RateLimits::default()));
        for off in ["false", ""] {
            let pairs: &'static [(&str, &str)] = Box::leak(Box::new([("RATE_LIMIT_ENABLED", off)]));
            let limits = RateLimits::from_vars(vars(pairs)).unwrap();
            assert!(!limits.enabled, "{off:?} leaves it off");
        }
        // What the Gateway would read as off in silence is refused, loudly.
        for silent in ["1", "TRUE", "True", "t", " true", "yes"] {
            let pairs: &'static [(&str, &str)] =
                Box::leak(Box::new([("RATE_LIMIT_ENABLED", silent)]));
            let refused = RateLimits::from_vars(vars(pairs));
            assert!(
                refused.is_err_and(|e| e.contains("exactly `true`")),
                "{silent:?}"
            );
        }
        // A figure the Gateway ignores while the limiter is off, the fake
        // ignores too (the program warns).
        let ignored = RateLimits::from_vars(vars(&[("RATE_LIMIT_RESOLVE_RPM", "5")]));
        assert_eq!(ignored, Ok(RateLimits::default()));
        let bad = RateLimits::from_vars(vars(&[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_TOKEN_RPM", "6x"),
        ]));
        assert!(bad.is_err_and(|e| e.starts_with("RATE_LIMIT_TOKEN_RPM is not")));
    }

    #[test]
    fn a_misspelt_variable_is_named_when_the_limiter_is_on() {
        let names = |list: &[&str]| {
            list.iter()
                .map(|n| (*n).to_owned())
                .collect::<Vec<_>>()
                .into_iter()
        };
        let misspelt = ["PATH", "RATE_LIMIT_ENABLED", "RATE_LIMIT_RESOLVE_RMP"];
        let said = known_variables(true, names(&misspelt)).unwrap_err();
        assert!(
            said.starts_with("RATE_LIMIT_RESOLVE_RMP is not one of"),
            "{said}"
        );
        assert!(said.contains("RATE_LIMIT_RESOLVE_RPM"), "{said}");
        assert!(
            known_variables(false, names(&misspelt)).is_ok(),
            "off: nothing it changes"
        );
        let right = ["RATE_LIMIT_ENABLED", "RATE_LIMIT_TOKEN_RPM", "RATE_LIMITED"];
        assert!(known_variables(true, names(&right)).is_ok());
    }
}
