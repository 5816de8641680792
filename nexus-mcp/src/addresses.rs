//! The one rule for where a stranger's URL may lead: an address of the
//! public Internet ([`public`]), for a client ID metadata document's fetch
//! and for each redirect hop an API answers that leaves the provider's
//! origin, unless the operator trusts the origin. Each is checked by the
//! resolver its connection is made with ([`PublicOnly`]): the addresses
//! checked are the ones connected to, so a name cannot answer the check
//! one address and the connection another. A hop is also looked at before
//! it goes ([`hop_refused`]), for an IP literal, a proxy (which resolves
//! the name itself) and the operator's line.

use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;

use ureq::config::{Config, ConfigBuilder};
use ureq::http::Uri;
use ureq::typestate::AgentScope;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::on_thread::{self, Bound};

/// Whether `ip` is an address of the public Internet, the one rule every
/// fetch of a client-given URL obeys. IPv4: none of loopback, private,
/// link-local, shared (CGNAT), unspecified, multicast, broadcast,
/// documentation, benchmarking, 6to4 relay or reserved ranges. IPv6: only
/// global unicast (`2000::/3`), less the blocks in it that reach no public
/// host or embed another network's address (IETF protocol assignments and
/// Teredo, `2001::/23`; documentation, `2001:db8::/32` and `3fff::/20`;
/// 6to4, `2002::/16`), so every other form (IPv4-compatible, site-local,
/// unique or link-local, local-use NAT64 `64:ff9b:1::/48`, multicast) is
/// refused by the rule's shape, not by a list; an IPv4-mapped address and
/// one of NAT64's well-known prefix (`64:ff9b::/96`) are their IPv4
/// address's.
pub(crate) fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            let special = a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 88 && c == 99)
                || (a == 198 && (18..20).contains(&b));
            !(special
                || v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_documentation())
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public(IpAddr::V4(v4));
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., a, b, c, d] = v6.octets();
                return public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            let global_unicast = (s[0] & 0xe000) == 0x2000;
            let special = (s[0] == 0x2001 && s[1] < 0x0200)
                || s[..2] == [0x2001, 0xdb8]
                || s[0] == 0x2002
                || (s[0] == 0x3fff && s[1] < 0x1000);
            global_unicast && !special
        }
    }
}

/// Why a redirect hop to `to`, off the provider's origin, is not followed:
/// an origin `allowed` does not name whose host is no address of the
/// public Internet in any spelling (an IP literal as the URL parser reads
/// it: `0x7f.1`, `2130706433`, `[::ffff:127.0.0.1]`), or whose name
/// resolves to one such address or to none; `None` to follow it.
pub(crate) fn hop_refused(to: &str, allowed: &[String]) -> Option<String> {
    let url = url::Url::parse(to).ok()?;
    let origin = url.origin().ascii_serialization();
    if allowed.contains(&origin) {
        return None;
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match url.host()? {
        url::Host::Ipv4(v4) => vec![v4.into()],
        url::Host::Ipv6(v6) => vec![v6.into()],
        url::Host::Domain(name) => (name, port)
            .to_socket_addrs()
            .map(|found| found.map(|at| at.ip()).collect())
            .unwrap_or_default(),
    };
    let Some(first) = addresses.first() else {
        return Some(format!("{origin} does not resolve"));
    };
    let private = addresses.iter().find(|ip| !public(**ip));
    private.map(|ip| {
        let named = if ip == first && addresses.len() == 1 {
            "is"
        } else {
            "resolves to"
        };
        format!(
            "{origin} {named} {ip}, not an address of the public Internet (--redirect-origin \
             {origin} trusts it)"
        )
    })
}

/// Holds this thread's next connection to `hop`'s origin to the rule; none:
/// the next hop stays on the provider's origin or is trusted.
pub(crate) fn bound(hop: Option<Bound>) {
    on_thread::with(|on| on.bound = hop);
}

/// The library client's HTTP agent: its configuration, its resolver held
/// to the rule for the hop this thread's call is [`bound`] to.
pub(crate) fn client_agent(config: ConfigBuilder<AgentScope>) -> ureq::Agent {
    ureq::Agent::with_parts(
        config.build(),
        DefaultConnector::default(),
        PublicOnly::Hops,
    )
}

/// A resolver held to the rule: of the addresses a name resolves to, only
/// the public ones, refused when there are none (naming the flag that
/// trusts an origin), for the connections each kind holds.
#[derive(Debug)]
pub(crate) enum PublicOnly {
    /// A client document's fetch: every origin but those trusted
    /// (`--oauth-client-document-origin`).
    Documents(Arc<Vec<String>>),
    /// The library's connections: only the redirect this thread's call is
    /// [`bound`] to (the Gateway's, the provider's and any other resolved
    /// as they are; `--redirect-origin` trusts an origin before it binds).
    Hops,
}

impl PublicOnly {
    /// The origin of `uri` when the rule holds for it.
    fn holds(&self, uri: &Uri) -> Option<String> {
        if matches!(self, PublicOnly::Hops) && on_thread::with(|on| on.bound.is_none()) {
            return None;
        }
        let origin = origin_of(&uri.to_string()).unwrap_or_default();
        let held = match self {
            PublicOnly::Documents(trusted) => !trusted.contains(&origin),
            PublicOnly::Hops => {
                on_thread::with(|on| on.bound.as_ref().is_some_and(|hop| hop.origin == origin))
            }
        };
        held.then_some(origin)
    }
}

impl Resolver for PublicOnly {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let found = crate::lookup::addresses(uri, config, timeout)?;
        let Some(origin) = self.holds(uri) else {
            return Ok(found);
        };
        let mut kept = self.empty();
        for at in found.iter().filter(|at| public(at.ip())) {
            kept.push(*at);
        }
        if !kept.is_empty() {
            return Ok(kept);
        }
        let flag = match self {
            PublicOnly::Documents(_) => "--oauth-client-document-origin",
            PublicOnly::Hops => "--redirect-origin",
        };
        let why = format!(
            "its host resolves to no public address (a host inside your network: {flag} {origin})"
        );
        if matches!(self, PublicOnly::Hops) {
            let who = on_thread::with(|on| {
                on.refused = true;
                on.bound.take().map(|hop| hop.who).unwrap_or_default()
            });
            log::warn!(target: "nexus_mcp", "redirect: not followed {who}: {origin} {why}");
        }
        Err(ureq::Error::Other(why.into()))
    }
}

/// What is said of a URL that does not parse, in place of its text.
pub(crate) const UNPARSED: &str = "(a URL that does not parse; not shown: it may hold a \
    password, whose @ / ? # % are percent-encoded in a URL as %40 %2F %3F %23 %25)";

/// `given` as a message or a log line may show it: its scheme, host, port
/// and path, never a user, password, query or fragment (`?…` and `#…` say
/// one was there); one that does not parse, or whose path a password's `@`
/// read as the URL's own cut into (`https://u:12/ss@host/`), is
/// [`UNPARSED`], none of its text.
pub(crate) fn shown(given: &str) -> String {
    let Ok(mut url) = url::Url::parse(given.trim()) else {
        return UNPARSED.to_owned();
    };
    if url.path().contains('@') {
        return UNPARSED.to_owned();
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let asked = if url.query().is_some() { "?…" } else { "" };
    let marked = if url.fragment().is_some() { "#…" } else { "" };
    url.set_query(None);
    url.set_fragment(None);
    nexus_sdk::one_line(&format!("{url}{asked}{marked}"))
}

/// `given` read as a URL with no user or password in it (nor a password's
/// `@` read into its path); or why not, the URL as [`shown`] shows it,
/// then why: the one check every URL a person gives `nexus-mcp` passes.
pub(crate) fn read_without_password(given: &str) -> Result<url::Url, String> {
    let said = shown(given);
    let url = url::Url::parse(given.trim()).map_err(|e| format!("{said}: {e}"))?;
    if said == UNPARSED || !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{said}: a URL with no user or password (a password in it is never sent, and \
             never shown)"
        ));
    }
    Ok(url)
}

/// `text` (a message that may quote a URL it did not read, as clap's
/// refusal of a command line does) with every URL's user and password, up
/// to the last `@` of the word, left out: `redis://:pa/ss@host` is
/// `redis://…@host`.
pub(crate) fn userinfo_hidden(text: &str) -> String {
    let mut said = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        said.push_str(before);
        let word = after.find(|c: char| c.is_whitespace() || c == '\'' || c == '"');
        let word = &after[..word.unwrap_or(after.len())];
        let cut = word.rfind('@').map_or(0, |at| at + 1);
        if cut > 0 {
            said.push_str("…@");
        }
        rest = &after[cut..];
    }
    said.push_str(rest);
    said
}

/// `url`'s origin as the URL parser writes it (`https://host[:port]`,
/// `null` for a scheme with none); none for what does not parse.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    Some(url::Url::parse(url).ok()?.origin().ascii_serialization())
}

/// `given` (the value of `flag`, an origin a stranger's URL may reach) as
/// a URL's origin, or why not, naming `flag`.
pub(crate) fn origin(flag: &str, given: &str) -> Result<String, String> {
    let url = read_without_password(given).ok();
    let url = url.filter(|u| u.has_host() && u.path() == "/");
    let url = url.filter(|u| matches!(u.scheme(), "http" | "https"));
    let why = || {
        format!(
            "{flag} {}: an origin (https://host[:port], no user or password)",
            shown(given)
        )
    };
    Ok(url.ok_or_else(why)?.origin().ascii_serialization())
}

/// Each of `given` (the values of `flag`) as [`origin`] reads it, or the
/// first refusal.
pub(crate) fn origins(flag: &str, given: &[String]) -> Result<Vec<String>, String> {
    given.iter().map(|given| origin(flag, given)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_a_password_and_one_that_does_not_parse_not_at_all() {
        for (given, said) in [
            (
                "https://u:S3CRET@idp.example/t?x=S3CRET#S3CRET",
                "https://idp.example/t?…#…",
            ),
            (
                "redis://:S3CRET@redis.example:6380/2",
                "redis://redis.example:6380/2",
            ),
            ("https://u:12/S3CRET@idp.example/", UNPARSED),
            ("https://u:S3CRET/pw@idp.example/", UNPARSED),
            ("not a URL S3CRET", UNPARSED),
        ] {
            assert_eq!(shown(given), said, "{given}");
        }
        let refused = "unexpected argument '--store=redis://:pa/S3CRET@h:1' (and https://x.test/)";
        let hidden = userinfo_hidden(refused);
        assert_eq!(
            hidden,
            "unexpected argument '--store=redis://…@h:1' (and https://x.test/)"
        );
    }

    #[test]
    fn a_hops_resolver_holds_only_the_origin_its_threads_call_is_bound_to() {
        let hops = PublicOnly::Hops;
        let at = |url: &str| url.parse::<Uri>().unwrap();
        assert_eq!(hops.holds(&at("http://inside.test:8080/x")), None);
        let working = on_thread::Working::start(1);
        let who = "who=stdio".to_owned();
        let origin = "http://inside.test:8080".to_owned();
        bound(Some(Bound { origin, who }));
        let held = hops.holds(&at("http://INSIDE.test:8080/x?y"));
        assert_eq!(held.as_deref(), Some("http://inside.test:8080"));
        assert_eq!(hops.holds(&at("http://inside.test:8081/x")), None);
        assert_eq!(hops.holds(&at("https://gateway.test/v1/resolve")), None);
        assert!(!working.refused(), "nothing was refused");
        drop(working);
        assert_eq!(hops.holds(&at("http://inside.test:8080/x")), None, "ended");
        let documents = PublicOnly::Documents(Arc::new(vec!["https://trusted.test".to_owned()]));
        assert_eq!(documents.holds(&at("https://trusted.test/c.json")), None);
        let held = documents.holds(&at("https://stranger.test/c.json"));
        assert_eq!(held.as_deref(), Some("https://stranger.test"));
    }

    #[test]
    fn only_addresses_of_the_public_internet_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            // The forms a review found past the rule, and their kin.
            "::7f00:1",
            "::a00:1",
            "64:ff9b:1::1",
            "64:ff9b:1:ffff::101:101",
            "2002::1",
            "2002:7f00:1::",
            "2002:101:101::1",
            "fec0::1",
            "fed0::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:1ff::1",
            "3fff::1",
            "4000::1",
            "100::1",
            "::ffff:0:7f00:1",
            "192.0.0.8",
            "192.88.99.1",
        ] {
            assert!(!public(private.parse().unwrap()), "{private}");
        }
        for open in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2a00:1450:4001:80b::200e",
            "2001:4860:4860::8888",
            "2001:200::1",
            "3ffe::1",
        ] {
            assert!(public(open.parse().unwrap()), "{open}");
        }
    }

    #[test]
    fn a_hop_off_the_providers_origin_is_held_to_the_public_rule_in_every_spelling() {
        for refused in [
            "http://127.0.0.1:9/x",
            "http://0x7f.1:9/x",
            "http://2130706433/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00::1]/x",
            "http://10.0.0.1/x",
            "http://localhost:9/x",
            "https://no-such-host.invalid/x",
        ] {
            assert!(hop_refused(refused, &[]).is_some(), "{refused}");
        }
        assert_eq!(hop_refused("https://1.1.1.1/x", &[]), None);
        let trusted = ["http://127.0.0.1:9".to_owned()];
        assert_eq!(hop_refused("http://127.0.0.1:9/x", &trusted), None);
        assert!(
            hop_refused("http://127.0.0.1:8/x", &trusted).is_some(),
            "another port"
        );
        let said = hop_refused("http://0x7f.1:9/x", &[]).unwrap();
        assert!(
            said.contains("http://127.0.0.1:9 is 127.0.0.1") && said.contains("--redirect-origin"),
            "{said}"
        );
    }

    #[test]
    fn a_urls_origin_is_its_scheme_host_and_port_as_the_parser_writes_them() {
        let origin = origin_of;
        assert_eq!(
            origin("HTTPS://API.Example.com:443/a?b#c").as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(
            origin("http://me:pw@127.0.0.1:8080/").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin("data:text/plain,x").as_deref(), Some("null"));
        assert_eq!(origin("not a url"), None);
    }
}
