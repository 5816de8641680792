//! One check for every signed token `serve` reads (RFC 8725): a bearer's
//! access token, the provider's ID token at sign-in, an ID-JAG, a client's
//! assertion. Every kind shares one rule: an asymmetric algorithm of
//! [`ALGORITHMS`], no critical extension (`crit`), no key the token brings
//! (`jku`, `x5u`, `x5c`, `jwk`: the key is the issuer's, by its `kid`),
//! [`LEEWAY`] for clocks, `exp` a whole number to come, `nbf` and `iat` (when
//! given) whole numbers not to come, `iss` and `sub` strings, and every time
//! added with checked arithmetic, so no value panics or poses as another
//! fault. What differs by kind is a [`Kind`]: its `typ`, its issuer, its
//! audiences (and whether it must name one alone), its subject, the claims
//! it must carry, and the longest it may live. [`verify`] is the one check,
//! its key found where the token's [`Keys`] are: every caller answers a
//! [`Rejected`].

use std::borrow::Cow;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::{Map, Value};

use super::issuer::{Issuer, Missing};

/// The algorithms a token may be signed with: asymmetric only (never
/// `none`, never an HMAC, whose key a forger could take from the JWKS).
pub(crate) const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

/// How far `exp`, `nbf` and `iat` may be off, for clocks that drift.
pub(crate) const LEEWAY: u64 = 60;

/// Why a token is refused, as a clause after its name ("the token has
/// expired (exp)"): never a value of the token's.
#[derive(Debug, PartialEq)]
pub(crate) struct Refused(pub(crate) Cow<'static, str>);

/// What one kind of token must be, beside the rule every kind shares.
pub(crate) struct Kind<'a> {
    /// The types (`typ`) it may carry, lower-case, `application/` aside.
    pub(crate) types: &'a [&'a str],
    /// Whether it may carry none.
    pub(crate) untyped: bool,
    /// Its issuer (`iss`), to the byte.
    pub(crate) issuer: &'a str,
    /// The audiences it may name (`aud`).
    pub(crate) audiences: &'a [&'a str],
    /// Whether it names one of them alone (a list of one, or a string).
    pub(crate) sole_audience: bool,
    /// The subject it names (`sub`), when only one will do.
    pub(crate) subject: Option<&'a str>,
    /// The claims it carries, beside `exp`, `iss` and `aud`.
    pub(crate) required: &'a [&'a str],
    /// The longest it may live: `exp` at most this past its `iat` (or past
    /// now, when it has none).
    pub(crate) longest: Option<Duration>,
    /// Whether it may carry no `exp` (a Security Event Token, RFC 8417):
    /// it then lives `longest` from its `iat`.
    pub(crate) without_exp: bool,
}

/// A token's claims, verified, how long a record of it need be kept (until
/// its `exp` has passed by the leeway), and the first moment it could have
/// been taken ([`usable_from`]).
#[derive(Debug)]
pub(crate) struct Verified {
    pub(crate) claims: Map<String, Value>,
    pub(crate) lives: Duration,
    /// Milliseconds since the Unix epoch.
    pub(crate) from: u64,
}

/// Where a token's key is: the keys its issuer publishes, by the `kid` it
/// names; or a set a client's document holds (by `kid`, or its one key when
/// the token names none).
pub(crate) enum Keys<'a> {
    Issuer(&'a Issuer),
    Set(&'a JwkSet),
}

/// Why a token is not taken, as each caller answers it.
#[derive(Debug, PartialEq)]
pub(crate) enum Rejected {
    /// Its signature does not verify.
    Unsigned,
    /// Signed with a key its issuer does not publish (or its set lacks).
    NoSuchKey,
    /// Its issuer's keys cannot be read now (why, for the operator): the
    /// token may be good; its sender tries again.
    KeysUnavailable(String),
    /// Anything else of the rule or its kind.
    Refused(Refused),
}

impl Rejected {
    /// Why, as a clause after the token's name (never a value of it).
    pub(crate) fn clause(&self) -> &str {
        match self {
            Rejected::Unsigned => UNSIGNED,
            Rejected::NoSuchKey => "is signed with a key its issuer does not publish",
            Rejected::KeysUnavailable(_) => {
                "cannot be checked now: its issuer's keys cannot be read"
            }
            Rejected::Refused(Refused(why)) => why,
        }
    }
}

impl From<Refused> for Rejected {
    fn from(refused: Refused) -> Rejected {
        match refused.0 == UNSIGNED {
            true => Rejected::Unsigned,
            false => Rejected::Refused(refused),
        }
    }
}

/// `token` verified as `kind` asks at this moment, its key found in `keys`:
/// its header and its claims.
///
/// # Errors
/// Why it is not taken ([`Rejected`]).
pub(crate) async fn verify(
    token: &str,
    kind: &Kind<'_>,
    keys: Keys<'_>,
) -> Result<(Header, Verified), Rejected> {
    let header = header(token, kind)?;
    let jwk = match (keys, header.kid.as_deref()) {
        (Keys::Issuer(issuer), Some(kid)) => match issuer.key(kid).await {
            Ok(jwk) => jwk,
            Err(Missing::Unknown) => return Err(Rejected::NoSuchKey),
            Err(Missing::Unreadable(why)) => return Err(Rejected::KeysUnavailable(why)),
        },
        (Keys::Issuer(_), None) => return Err(Rejected::Refused(why("names no key (kid)"))),
        (Keys::Set(set), kid) => {
            let found = match kid {
                Some(kid) => set.find(kid),
                None if set.keys.len() == 1 => set.keys.first(),
                None => None,
            };
            found.cloned().ok_or(Rejected::NoSuchKey)?
        }
    };
    let key = DecodingKey::from_jwk(&jwk);
    let key = key.map_err(|_| Rejected::Refused(why("is signed with a key that does not read")))?;
    let now = jsonwebtoken::get_current_timestamp();
    let verified = verified(token, &header, &key, (kind, now))?;
    Ok((header, verified))
}

/// The header of `token`, checked as every kind's and as `kind`'s `typ`.
///
/// # Errors
/// Why it is refused: not a JWS, an algorithm not of [`ALGORITHMS`], a
/// `crit`, a key of its own, or a `typ` not the kind's.
pub(crate) fn header(token: &str, kind: &Kind<'_>) -> Result<Header, Refused> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| why("is not a JWS"))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(why(
            "is signed with an algorithm this server refuses: asymmetric keys only (alg)",
        ));
    }
    // RFC 7515 §4.1.11: a `crit` header names extensions the verifier
    // must understand, and this one understands none.
    if header.crit.is_some() {
        return Err(why("names critical header extensions (crit)"));
    }
    let keyed = header.jku.is_some() || header.x5u.is_some();
    if keyed || header.x5c.is_some() || header.jwk.is_some() {
        return Err(why("brings a key of its own (jku, x5u, x5c or jwk)"));
    }
    let typ = header.typ.as_deref().map(str::to_ascii_lowercase);
    let typ = typ.as_deref().map(|t| t.trim_start_matches("application/"));
    let typed = match typ {
        None => kind.untyped,
        Some(typ) => kind.types.contains(&typ),
    };
    if !typed {
        return Err(why("is typed as another kind of token (typ)"));
    }
    Ok(header)
}

/// The claims of `token` (its `header` checked by [`header`]), signed with
/// `key` and holding as `kind` asks at `now` (seconds since the epoch).
///
/// # Errors
/// Why it is refused: its signature, its issuer, audience or subject, a
/// claim it lacks or that is not of its type, or its times.
fn verified(
    token: &str,
    header: &Header,
    key: &DecodingKey,
    (kind, now): (&Kind<'_>, u64),
) -> Result<Verified, Refused> {
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[kind.issuer]);
    validation.set_audience(kind.audiences);
    validation.sub = kind.subject.map(str::to_owned);
    let mut required = vec!["iss", "aud"];
    if !kind.without_exp {
        required.push("exp");
    }
    required.extend(kind.required.iter().filter(|c| ["sub", "nbf"].contains(c)));
    validation.set_required_spec_claims(&required);
    // Every time is checked below, with this module's arithmetic.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let decoded = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation);
    let claims = decoded.map_err(|e| refused_because(e.kind()))?.claims;
    let lives = claims_checked(&claims, kind, now)?;
    let from = usable_from(&claims, kind.longest);
    Ok(Verified {
        claims,
        lives,
        from,
    })
}

/// The first moment a token of `claims` (checked by [`times`] with
/// `longest`) could have been taken anywhere, in milliseconds since the
/// Unix epoch: its `iat` or its `nbf`, the later, or without either `exp`
/// less `longest` (0 without that too), all less [`LEEWAY`]. What a store
/// emptied at a moment may have spent is any token usable before it.
pub(crate) fn usable_from(claims: &Map<String, Value>, longest: Option<Duration>) -> u64 {
    let number = |name: &str| claims.get(name).and_then(Value::as_u64);
    let stated = number("iat").max(number("nbf"));
    let bounded = || Some(number("exp")?.saturating_sub(longest?.as_secs()));
    let from = stated.or_else(bounded).unwrap_or_default();
    from.saturating_sub(LEEWAY).saturating_mul(1000)
}

/// Verified `claims` checked as `kind` asks at `now`, beside what the
/// signature's check saw: `iss` and `sub` strings, one audience where it
/// must be alone, every required claim, and the times: how long a record
/// of the token need be kept.
///
/// # Errors
/// Why they are refused.
pub(crate) fn claims_checked(
    claims: &Map<String, Value>,
    kind: &Kind<'_>,
    now: u64,
) -> Result<Duration, Refused> {
    for name in ["iss", "sub"] {
        if claims.get(name).is_some_and(|v| !v.is_string()) {
            return Err(Refused(format!("has a {name} that is not a string").into()));
        }
    }
    let alone = match claims.get("aud") {
        Some(Value::String(_)) => true,
        Some(Value::Array(all)) => all.len() == 1,
        _ => false,
    };
    if kind.sole_audience && !alone {
        return Err(why("names more than this server as its audience (aud)"));
    }
    let absent = kind.required.iter().find(|name| match claims.get(**name) {
        Some(Value::String(text)) => text.trim().is_empty(),
        Some(Value::Null) | None => true,
        Some(_) => false,
    });
    if let Some(name) = absent {
        return Err(Refused(format!("lacks its {name} claim").into()));
    }
    // A token that may carry no `exp` lives `longest` from its `iat`.
    let iat = claims.get("iat").and_then(Value::as_u64);
    let lived = iat
        .zip(kind.longest)
        .map(|(iat, most)| iat.saturating_add(most.as_secs()));
    match lived.filter(|_| kind.without_exp && !claims.contains_key("exp")) {
        Some(exp) => {
            let mut claims = claims.clone();
            claims.insert("exp".to_owned(), Value::from(exp));
            times(&claims, kind.longest, now)
        }
        None => times(claims, kind.longest, now),
    }
}

/// The times of `claims` at `now`: `exp` a whole number to come, `nbf`
/// and `iat` when given whole numbers not to come (each within
/// [`LEEWAY`]), and with `longest`, `exp` at most that past `iat` (or past
/// now, without one). How long a record of the token need be kept: until
/// its `exp` has passed by the leeway.
///
/// # Errors
/// Why they are refused.
pub(crate) fn times(
    claims: &Map<String, Value>,
    longest: Option<Duration>,
    now: u64,
) -> Result<Duration, Refused> {
    let number = |name: &'static str| match claims.get(name) {
        None => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| {
            Refused(format!("has a {name} that is not a whole number of seconds").into())
        }),
    };
    let exp = number("exp")?.ok_or_else(|| why("lacks its exp claim"))?;
    let (nbf, iat) = (number("nbf")?, number("iat")?);
    let soon = now.saturating_add(LEEWAY);
    if exp.saturating_add(LEEWAY) <= now {
        return Err(why("has expired (exp)"));
    }
    if nbf.is_some_and(|nbf| nbf > soon) {
        return Err(why("is not valid yet (nbf)"));
    }
    if iat.is_some_and(|iat| iat > soon) {
        return Err(why("was issued in the future (iat)"));
    }
    if let Some(longest) = longest {
        let life = exp.checked_sub(iat.unwrap_or(now));
        if life.is_none_or(|life| life > longest.as_secs()) {
            return Err(Refused(
                format!(
                    "lives longer than {} s, or expires before it was issued (exp, iat)",
                    longest.as_secs()
                )
                .into(),
            ));
        }
    }
    let lives = exp.saturating_add(LEEWAY).saturating_sub(now);
    Ok(Duration::from_secs(lives))
}

/// Why a token whose signature does not verify is refused.
pub(crate) const UNSIGNED: &str = "has a signature that does not verify";

/// A refusal for `clause`.
fn why(clause: &'static str) -> Refused {
    Refused(Cow::Borrowed(clause))
}

/// Why the JWT crate refused a token, as a clause (never the token).
fn refused_because(kind: &ErrorKind) -> Refused {
    why(match kind {
        ErrorKind::InvalidIssuer => "is from another issuer (iss)",
        ErrorKind::InvalidAudience => "is for another audience (aud)",
        ErrorKind::InvalidSubject => "names another subject (sub)",
        ErrorKind::InvalidSignature => UNSIGNED,
        ErrorKind::MissingRequiredClaim(_) => "lacks exp, iss, aud or sub",
        ErrorKind::InvalidAlgorithm => "is signed with an algorithm its key is not for (alg)",
        _ => "cannot be read",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn kind(longest: Option<u64>) -> Kind<'static> {
        Kind {
            types: &["jwt"],
            untyped: true,
            issuer: "https://idp.example",
            audiences: &["https://mcp.example"],
            sole_audience: true,
            subject: None,
            required: &["sub", "jti"],
            longest: longest.map(Duration::from_secs),
            without_exp: false,
        }
    }

    fn checked(change: impl FnOnce(&mut Map<String, Value>), longest: Option<u64>) -> bool {
        let mut claims = json!({
            "iss": "https://idp.example", "sub": "alice", "aud": "https://mcp.example",
            "iat": NOW, "exp": NOW + 300, "jti": "j1",
        });
        let claims = claims.as_object_mut().unwrap();
        change(claims);
        claims_checked(claims, &kind(longest), NOW).is_ok()
    }

    #[test]
    fn every_time_claim_absent_a_string_a_list_far_past_far_future_or_near_two_to_the_64() {
        assert!(checked(|_| {}, Some(300)));
        let values = [
            json!("soon"),
            json!([NOW]),
            json!(1.5),
            json!(-1),
            json!(0),
            json!(u64::MAX),
            json!(u64::MAX - 30),
            json!(NOW + 10 * 365 * 86_400),
            json!(1e30),
        ];
        for name in ["exp", "nbf", "iat"] {
            for value in &values {
                let ok = checked(|c| drop(c.insert(name.into(), value.clone())), Some(300));
                // A past iat or nbf is a fine one alone; with a life bound,
                // a far past iat makes the token too long-lived.
                let fine = matches!((name, value.as_u64()), ("nbf", Some(0)));
                assert_eq!(ok, fine, "{name} {value}");
            }
        }
        assert!(!checked(|c| drop(c.remove("exp")), None), "no exp");
        assert!(checked(|c| drop(c.remove("iat")), Some(300)), "no iat");
        assert!(checked(|c| drop(c.remove("nbf")), Some(300)), "no nbf");
        // Without a life bound, a far future exp is the issuer's choice.
        assert!(checked(
            |c| drop(c.insert("exp".into(), json!(u64::MAX))),
            None
        ));
    }

    #[test]
    fn nbf_and_iat_to_come_are_refused_past_the_leeway_and_exp_past_it() {
        let at =
            |name: &str, value: u64| checked(|c| drop(c.insert(name.into(), json!(value))), None);
        assert!(at("nbf", NOW + LEEWAY));
        assert!(!at("nbf", NOW + LEEWAY + 1));
        assert!(at("iat", NOW + LEEWAY));
        assert!(!at("iat", NOW + LEEWAY + 1));
        assert!(at("exp", NOW - LEEWAY + 1));
        assert!(!at("exp", NOW - LEEWAY));
    }

    #[test]
    fn a_record_is_kept_no_longer_than_the_token_may_live() {
        let claims = json!({"exp": NOW + 300, "iat": NOW});
        let lives = times(
            claims.as_object().unwrap(),
            Some(Duration::from_secs(300)),
            NOW,
        );
        assert_eq!(lives, Ok(Duration::from_secs(300 + LEEWAY)));
        let far = json!({"exp": u64::MAX});
        let lives = times(far.as_object().unwrap(), None, NOW).unwrap();
        assert_eq!(lives.as_secs(), u64::MAX - NOW);
    }

    #[test]
    fn a_token_without_exp_lives_its_longest_life_from_iat_only_where_its_kind_says() {
        let set = Kind {
            without_exp: true,
            required: &["iat", "jti"],
            ..kind(Some(900))
        };
        let claims =
            |iat: u64| json!({"iat": iat, "jti": "j", "sub": "s", "aud": "https://mcp.example"});
        let checked =
            |kind: &Kind<'_>, iat: u64| claims_checked(claims(iat).as_object().unwrap(), kind, NOW);
        assert_eq!(checked(&set, NOW), Ok(Duration::from_secs(900 + LEEWAY)));
        assert!(
            checked(&set, NOW - 900 - LEEWAY).is_err(),
            "older than its life"
        );
        assert!(
            checked(&set, NOW + LEEWAY + 1).is_err(),
            "issued in the future"
        );
        let no_iat = json!({"jti": "j", "sub": "s", "aud": "https://mcp.example"});
        assert!(claims_checked(no_iat.as_object().unwrap(), &set, NOW).is_err());
        assert!(
            checked(&kind(Some(900)), NOW).is_err(),
            "others need their exp"
        );
    }

    #[test]
    fn a_token_is_usable_from_its_iat_or_nbf_or_its_exp_less_its_longest_life() {
        let from = |claims: Value, longest: Option<u64>| {
            let longest = longest.map(Duration::from_secs);
            usable_from(claims.as_object().unwrap(), longest)
        };
        let ms = |secs: u64| (secs - LEEWAY) * 1000;
        assert_eq!(
            from(json!({"iat": NOW, "exp": NOW + 9}), Some(300)),
            ms(NOW)
        );
        let later = json!({"iat": NOW, "nbf": NOW + 5, "exp": NOW + 9});
        assert_eq!(from(later, None), ms(NOW + 5));
        let bounded = json!({"exp": NOW + 300});
        assert_eq!(from(bounded.clone(), Some(300)), ms(NOW));
        assert_eq!(from(bounded, None), 0, "no bound: usable always");
        assert_eq!(from(json!({"iat": 1, "exp": u64::MAX}), None), 0);
        let far = from(json!({"iat": u64::MAX, "exp": u64::MAX}), None);
        assert_eq!(far, u64::MAX, "no overflow");
    }

    #[test]
    fn an_audience_alone_a_string_iss_and_sub_and_every_required_claim() {
        let cases: [(&str, Value); 8] = [
            (
                "aud",
                json!(["https://mcp.example", "https://other.example"]),
            ),
            ("aud", json!([])),
            ("aud", json!(7)),
            ("iss", json!(["https://idp.example"])),
            ("sub", json!(1)),
            ("sub", json!(" ")),
            ("jti", json!("")),
            ("jti", Value::Null),
        ];
        for (name, value) in cases {
            let ok = checked(|c| drop(c.insert(name.into(), value.clone())), None);
            assert!(!ok, "{name} {value}");
        }
        assert!(checked(
            |c| drop(c.insert("aud".into(), json!(["https://mcp.example"]))),
            None
        ));
        assert!(!checked(|c| drop(c.remove("jti")), None));
    }

    #[test]
    fn a_header_of_another_algorithm_type_or_with_a_key_or_crit_is_refused() {
        use base64::Engine as _;
        let token = |header: Value| {
            let encode =
                |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            format!("{}.{}.sig", encode(&header), encode(&json!({})))
        };
        let kind = kind(None);
        let fine = json!({"alg": "ES256", "kid": "k"});
        assert!(header(&token(fine), &kind).is_ok());
        let typed = json!({"alg": "ES256", "typ": "application/JWT"});
        assert!(header(&token(typed), &kind).is_ok());
        for refused in [
            json!({"alg": "HS256"}),
            json!({"alg": "none"}),
            json!({"alg": "ES256", "crit": ["exp"]}),
            json!({"alg": "ES256", "jku": "https://evil.example/jwks"}),
            json!({"alg": "ES256", "x5u": "https://evil.example/cert"}),
            json!({"alg": "ES256", "x5c": ["MIIB"]}),
            json!({"alg": "ES256", "jwk": {"kty": "EC"}}),
            json!({"alg": "ES256", "typ": "at+jwt"}),
        ] {
            assert!(header(&token(refused.clone()), &kind).is_err(), "{refused}");
        }
        assert!(header("not a token", &kind).is_err());
    }
}
