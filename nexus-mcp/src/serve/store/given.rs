//! Where the store is, as the operator gives it: `--store` or
//! `NEXUS_MCP_STORE` (each with its `_FILE` twin), a password given alone
//! joined to it, read whole or refused without its text (it may hold a
//! password), and a client for it trusting what the Gateway client trusts.

use super::Store;

/// Why a store's URL is refused when it does not read whole: a password's
/// character read as the URL's own (`@`, `/`, `?`, `#`) cuts it elsewhere,
/// so its text is never shown.
pub(super) const UNREAD: &str = "the store's URL does not read as redis://[USER:PASSWORD@]HOST[:PORT][/DB] \
                      (its text is not shown: it may hold a password); in a URL, a password's \
                      @ / ? # % and spaces are percent-encoded (@ as %40, / as %2F, ? as %3F, \
                      # as %23, % as %25), or the password is given alone in \
                      NEXUS_MCP_STORE_PASSWORD_FILE";

/// `text` read as a Redis URL whole (a host; a path that is a database
/// number or none; no fragment; no `@` past the host), `password` (given
/// alone, by the variable it names) joined as its password,
/// percent-encoded; or why not, without any of `text`.
pub(crate) fn read_url(text: &str, password: Option<(&str, &str)>) -> Result<url::Url, String> {
    let mut url = url::Url::parse(text).map_err(|_| UNREAD.to_owned())?;
    if !matches!(url.scheme(), "redis" | "rediss") {
        return Err(
            "the store is a redis:// or rediss:// URL (its text is not shown: it may \
                    hold a password)"
                .to_owned(),
        );
    }
    let database = url.path().trim_start_matches('/');
    let whole = url.host_str().is_some_and(|host| !host.is_empty())
        && url.path().matches('/').count() <= 1
        && database.bytes().all(|b| b.is_ascii_digit())
        && url.fragment().is_none()
        && !url.query().is_some_and(|q| q.contains('@'));
    if !whole {
        return Err(UNREAD.to_owned());
    }
    match password {
        Some((from, _)) if url.password().is_some() => Err(format!(
            "the store's password is given twice, in its URL and in {from}: give it once"
        )),
        Some((_, password)) => {
            let encoded = password.replace('%', "%25");
            let joined = url.set_password(Some(&encoded));
            joined.map_err(|()| UNREAD.to_owned())?;
            Ok(url)
        }
        None => Ok(url),
    }
}

/// What the environment gives of the store, each value with the variable
/// it came from: its URL (`NEXUS_MCP_STORE` or its `_FILE` twin), and its
/// password alone (`NEXUS_MCP_STORE_PASSWORD` or its twin).
#[derive(Default)]
pub(crate) struct StoreGiven {
    pub(crate) url: Option<(&'static str, String)>,
    pub(crate) password: Option<(&'static str, String)>,
}

impl StoreGiven {
    /// The store's URL and password as their variables give them
    /// (`NEXUS_MCP_STORE`, `NEXUS_MCP_STORE_PASSWORD`, each with its `_FILE`
    /// twin), or why one cannot be read.
    pub(crate) fn from_env() -> Result<StoreGiven, String> {
        Ok(StoreGiven {
            url: crate::env::try_var_from(crate::env::STORE_VARIABLE)?,
            password: crate::env::try_var_from(crate::env::STORE_PASSWORD_VARIABLE)?,
        })
    }
}

/// Where refresh-token families are kept: the Redis at `--store`'s URL or
/// the environment's (given once: both is refused, naming both), its
/// password joined from its own variable; or this process's memory.
pub(crate) fn store_at(flag: Option<String>, given: StoreGiven) -> Result<Store, String> {
    let flag = flag.filter(|url| !url.trim().is_empty());
    let url = given.url.filter(|(_, url)| !url.trim().is_empty());
    let password = given.password.as_ref().map(|(from, p)| (*from, p.as_str()));
    match (flag, url) {
        (Some(_), Some((from, _))) => Err(format!(
            "--store and {from} both give the store: give it once (a URL with no password \
             in --store, its password alone in NEXUS_MCP_STORE_PASSWORD_FILE; or the whole URL \
             in {from})"
        )),
        (Some(url), None) => Store::redis(("--store", &url), password),
        (None, Some((from, url))) => Store::redis((from, &url), password),
        (None, None) => match password {
            Some((from, _)) => Err(format!(
                "{from} gives the store's password, and no store is given: --store \
                 redis://HOST:PORT names it"
            )),
            None => Ok(Store::memory()),
        },
    }
}

/// A client for the Redis at `url`. A `rediss://` store is verified
/// against what the Gateway client trusts when `SSL_CERT_FILE` names a
/// bundle (its certificates and the webpki roots, as PEM: redis-rs takes
/// roots only that way, in place of its own), else against redis-rs's
/// webpki roots, the same set.
pub(super) fn client(url: &url::Url) -> redis::RedisResult<redis::Client> {
    let trusted = crate::http::trusted();
    match trusted.root_certs() {
        ureq::tls::RootCerts::Specific(roots) if url.scheme() == "rediss" => {
            let pem = roots.iter().map(|root| pem(root.der())).collect::<String>();
            let roots = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.into_bytes()),
            };
            redis::Client::build_with_tls(url.as_str(), roots)
        }
        _ => redis::Client::open(url.as_str()),
    }
}

/// A certificate's DER as PEM, its base64 in lines of 64.
fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines = text.as_bytes().chunks(64).map(String::from_utf8_lossy);
    let lines = lines.collect::<Vec<_>>().join("\n");
    format!("-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stores_url_is_shown_without_its_secrets_and_refused_unless_redis() {
        let url = read_url("rediss://user:s3cret@redis.example:6380/2?x=s3cret", None);
        assert_eq!(
            crate::addresses::shown(url.unwrap().as_str()),
            "rediss://redis.example:6380/2?…"
        );
        for url in [
            "http://redis.example",
            "redis-ish",
            "postgres://u:s3cret@h/db",
            "s3cret:word@redis.example",
        ] {
            let refused = Store::redis(("--store", url), None)
                .err()
                .unwrap_or_default();
            assert!(
                refused.starts_with("--store: ") && refused.contains("redis://"),
                "{refused}"
            );
            assert!(!refused.contains("s3cret"), "{refused}");
        }
        assert!(Store::redis(("--store", "redis://:s3cret@127.0.0.1:1/0"), None).is_ok());
    }

    #[test]
    fn a_password_a_url_cuts_elsewhere_is_refused_without_any_of_its_text() {
        // Each password holds a character a URL reads as its own.
        for password in [
            "pa/ss/w0rd",
            "p@ss/w0rd",
            "p?ss@w0rd",
            "p#ss@w0rd",
            "s3c/ret@",
        ] {
            for url in [
                format!("redis://:{password}@redis.example:6379/0"),
                format!("rediss://default:{password}@redis.example"),
                format!("redis://{password}@redis.example/1"),
            ] {
                let from = "NEXUS_MCP_STORE_FILE";
                let refused = Store::redis((from, &url), None).err();
                let refused = refused.unwrap_or_else(|| panic!("taken: {url}"));
                assert!(
                    refused.starts_with(from) && refused.contains("%40"),
                    "{refused}"
                );
                for part in password.split(['/', '@', '?', '#']).filter(|p| p.len() > 2) {
                    assert!(!refused.contains(part), "{part} of {url}: {refused}");
                }
            }
        }
    }

    #[test]
    fn a_password_given_alone_is_joined_encoded_and_given_twice_is_refused() {
        let alone = ("NEXUS_MCP_STORE_PASSWORD_FILE", "p@ss/w0rd%#? x");
        let url = read_url("redis://redis.example:6379/0", Some(alone)).unwrap();
        assert_eq!(url.password(), Some("p%40ss%2Fw0rd%25%23%3F%20x"));
        assert_eq!(
            crate::addresses::shown(url.as_str()),
            "redis://redis.example:6379/0"
        );
        let twice = read_url("redis://:other@redis.example", Some(alone)).unwrap_err();
        assert!(
            twice.contains("given twice") && twice.contains(alone.0),
            "{twice}"
        );
        assert!(
            !twice.contains("other") && !twice.contains("w0rd"),
            "{twice}"
        );
        // A Secret holding only a password, mounted as the URL's file.
        let only = Store::redis(("NEXUS_MCP_STORE_FILE", "p@ss/w0rd"), None)
            .err()
            .unwrap();
        assert!(
            only.contains("NEXUS_MCP_STORE_PASSWORD_FILE") && !only.contains("w0rd"),
            "{only}"
        );
    }
}
