//! Every URL rule of the crate, in one place: parsing and validating a
//! caller's or the Gateway's URL, origins (the one comparison behind the
//! redirect rule, the loopback rule and the credential scope), percent- and
//! form-encoding, joining a `Location`, and whether this build can reach a
//! URL. Pure functions over strings and [`Uri`]s. How a URL is printed is
//! `redact`'s.

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use ureq::http::Uri;

use crate::error::NexusError;
use crate::redact::escape;

/// Bytes left alone in a path segment, and by AWS's encoding: `A-Z a-z 0-9
/// - . _ ~` (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Bytes left alone in `application/x-www-form-urlencoded`: `A-Z a-z 0-9 * - . _`
/// (space is written `+`).
const FORM: &AsciiSet = &UNRESERVED.add(b'~').remove(b'*');

/// Only the space (and, as always, every non-ASCII byte) is encoded.
const SPACE: &AsciiSet = &AsciiSet::EMPTY.add(b' ');

/// An origin: scheme, host and port, normalised as browsers compare them
/// (scheme and host ASCII-lowercased, the host's trailing dot removed, the
/// default port made explicit).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    https: bool,
    host: String,
    port: u16,
}

impl Origin {
    /// The `Host` header for `uri` as HTTP clients send it: the host as
    /// written, with the port only when it is not the scheme's default.
    #[cfg(feature = "signing")]
    pub(crate) fn host_header(uri: &Uri) -> Option<String> {
        let origin = Origin::of(uri)?;
        let host = uri.host()?;
        let default = if origin.https { 443 } else { 80 };
        let port = (origin.port != default).then(|| format!(":{}", origin.port));
        Some(format!("{host}{}", port.unwrap_or_default()))
    }

    /// The origin of an http(s) URI; `None` for another scheme or no host.
    pub(crate) fn of(uri: &Uri) -> Option<Origin> {
        let https = match uri.scheme_str()? {
            s if s.eq_ignore_ascii_case("https") => true,
            s if s.eq_ignore_ascii_case("http") => false,
            _ => return None,
        };
        let host = normal_host(uri.host()?);
        if host.is_empty() {
            return None;
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Some(Origin { https, host, port })
    }

    /// An origin written by a person: `https://api.example`, with or without
    /// a port or a trailing `/`.
    pub(crate) fn parse(origin: &str) -> Result<Origin, NexusError> {
        if origin.contains('*') {
            return Err(NexusError::invalid_input(format!(
                "`{}` is a wildcard; an origin names one host (allow each origin on its own)",
                escape(origin)
            )));
        }
        let uri = parse_http_url(origin, "origin")?;
        if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") {
            return Err(NexusError::invalid_input(
                "an origin is a scheme, a host and an optional port, with no path or query",
            ));
        }
        Origin::of(&uri).ok_or_else(|| NexusError::invalid_input("origin has no host"))
    }

    /// `https` or `http`.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// The host, lowercased, without a trailing dot.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// Whether a key for `self` may follow a redirect to `to`: the same
    /// origin, or the same host upgraded from http to https (on its default
    /// port, or the same port).
    pub(crate) fn may_upgrade_to(&self, to: &Origin) -> bool {
        if self == to {
            return true;
        }
        let upgrade = !self.https && to.https && self.host == to.host;
        upgrade && (to.port == 443 || to.port == self.port)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As a browser writes an origin: the scheme's default port left out.
        let default = if self.https { 443 } else { 80 };
        write!(f, "{}://{}", self.scheme(), escape(&self.host))?;
        if self.port != default {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// A host as origins compare it: ASCII-lowercased, without a trailing dot.
fn normal_host(host: &str) -> String {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.to_ascii_lowercase()
}

/// Parses a caller's or the Gateway's URL. It must be absolute http(s) with
/// an ASCII host, no userinfo, and a port (when given) that is a decimal
/// number in 1–65535. Non-ASCII characters and spaces in the path and query
/// are percent-encoded as a browser does; a fragment is dropped (it never
/// goes on the wire). `what` names the URL in error messages, which never
/// repeat the URL itself.
pub(crate) fn parse_http_url(url: &str, what: &str) -> Result<Uri, NexusError> {
    let url = url.trim();
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let web =
        |(s, _): &(&str, &str)| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https");
    let not_web =
        || NexusError::invalid_input(format!("{what} must be an http:// or https:// URL"));
    let (scheme, rest) = url.split_once("://").filter(web).ok_or_else(not_web)?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    check_authority(authority, what)?;
    // Non-ASCII bytes and spaces of the path and query percent-encoded;
    // existing `%XX` escapes and every other byte left as they are.
    let parsed = match Cow::from(utf8_percent_encode(path_and_query, SPACE)) {
        Cow::Borrowed(_) => url.parse::<Uri>(),
        Cow::Owned(target) => format!("{scheme}://{authority}{target}").parse::<Uri>(),
    };
    parsed.map_err(|_| NexusError::invalid_input(format!("{what} is not a valid URL")))
}

/// [`parse_http_url`], then the URL's origin, with TLS in this build for an
/// `https://` one: the target of a request or the Gateway.
pub(crate) fn http_target(url: &str, what: &str) -> Result<(Uri, Origin), NexusError> {
    let uri = parse_http_url(url, what)?;
    check_tls_available(&uri, what)?;
    let origin =
        Origin::of(&uri).ok_or_else(|| NexusError::invalid_input(format!("{what} has no host")))?;
    Ok((uri, origin))
}

/// Refuses userinfo, a missing or non-ASCII host, and a bad port.
fn check_authority(authority: &str, what: &str) -> Result<(), NexusError> {
    let bad = |why: &str| Err(NexusError::invalid_input(format!("{what} {why}")));
    if authority.contains('@') {
        return bad("holds a user name or password (`user:pass@`): pass credentials another way");
    }
    let (host, port) = split_host_port(authority);
    // A host of dots only (`.`, `..`) is no host once its trailing dot is dropped.
    if host.trim_end_matches('.').is_empty() || host == "[]" {
        return bad("has no host");
    }
    if !host.is_ascii() {
        return bad("has a non-ASCII host: write it in its punycode (xn--) form");
    }
    let number = |p: &str| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    let valid = |p: &str| number(p) && p.parse::<u32>().is_ok_and(|p| (1..=65_535).contains(&p));
    if port.is_some_and(|p| !valid(p)) {
        return bad("has a port that is not a number from 1 to 65535");
    }
    Ok(())
}

/// `host` and the text after its `:`, if any; brackets kept on IPv6 literals.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    let host_end = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |end| end + 1)
    } else {
        authority.rfind(':').unwrap_or(authority.len())
    };
    let (host, rest) = authority.split_at(host_end);
    let port = rest.strip_prefix(':').unwrap_or(rest);
    (host, (!rest.is_empty()).then_some(port))
}

/// Percent-encodes every byte of `s` but the unreserved `A-Z a-z 0-9 - . _ ~`
/// (RFC 3986 §2.3): one path segment (`a/b` becomes `a%2Fb`, so `../x`
/// cannot climb), and AWS's canonical form of a path or query.
pub(crate) fn encode_unreserved(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// An `application/x-www-form-urlencoded` query string of the pairs, in order.
pub(crate) fn form_urlencode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    // The encoder writes a space as %20; forms write it as +.
    let form = |s: &str| utf8_percent_encode(s, FORM).to_string().replace("%20", "+");
    let pairs = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form(k.as_ref()), form(v.as_ref())));
    pairs.collect::<Vec<_>>().join("&")
}

/// A form-encoded name or value, decoded (`+` is a space), lossily: a
/// malformed escape stays as written, invalid UTF-8 becomes U+FFFD.
pub(crate) fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// `uri` with `pairs` appended to its query, form-encoded.
pub(crate) fn with_query_pairs(uri: Uri, pairs: &[(String, String)]) -> Result<Uri, NexusError> {
    if pairs.is_empty() {
        return Ok(uri);
    }
    let added = form_urlencode(pairs);
    let query = match uri.query() {
        Some(query) if !query.is_empty() => format!("{query}&{added}"),
        _ => added,
    };
    with_target(&uri, uri.path(), Some(&query))
        .ok_or_else(|| NexusError::invalid_input("the query cannot be carried by the URL"))
}

/// `uri` with `name=value` as the last query parameter (none with `None`),
/// after removing every parameter whose decoded name is `name` (however the
/// caller spelled it: `%6Bey`, `k+ey`).
pub(crate) fn with_query_param(
    uri: &Uri,
    name: &str,
    value: Option<&str>,
) -> Result<Uri, NexusError> {
    let given = uri.query().unwrap_or("").split('&');
    let kept = given.filter(|pair| {
        let key = pair.split('=').next().unwrap_or("");
        !pair.is_empty() && form_decode(key) != name
    });
    let credential = value.map(|value| form_urlencode(&[(name, value)]));
    let query: Vec<&str> = kept.chain(credential.as_deref()).collect();
    let query = (!query.is_empty()).then(|| query.join("&"));
    with_target(uri, uri.path(), query.as_deref())
        .ok_or_else(|| NexusError::invalid_input("url cannot carry the credential parameter"))
}

/// `uri` with `path` and `query` (`None`: no `?`) as its request target.
fn with_target(uri: &Uri, path: &str, query: Option<&str>) -> Option<Uri> {
    let target = query.map_or_else(|| path.to_owned(), |query| format!("{path}?{query}"));
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(target.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// Whether this build can reach `uri`: any http URL, and https only with a
/// TLS feature.
pub(crate) fn can_reach(uri: &Uri) -> bool {
    let https = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("https"));
    !https || cfg!(any(feature = "rustls", feature = "native-tls"))
}

/// `invalid_input`, naming the features that would help, for an `https://`
/// URL in a build without TLS.
pub(crate) fn check_tls_available(uri: &Uri, what: &str) -> Result<(), NexusError> {
    if !can_reach(uri) {
        return Err(NexusError::invalid_input(format!(
            "{what} is https://, but this build has no TLS: enable the `rustls` (the default), \
             `native-tls` or `platform-verifier` feature"
        )));
    }
    Ok(())
}

/// The absolute URL a `Location` names, relative to `base`: `None` when it
/// is empty, names a scheme other than http(s) (`javascript:`, `data:`,
/// `file:`, `mailto:`…), or does not make a valid URL.
pub(crate) fn resolve_location(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    if location.is_empty() || location.starts_with('#') {
        // The base URL itself: no place to go.
        return None;
    }
    let scheme = base.scheme_str()?;
    let absolute = if has_scheme(location) {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else {
        let authority = base.authority()?.as_str();
        let path = if location.starts_with('/') {
            location.to_owned()
        } else if location.starts_with('?') {
            format!("{}{location}", base.path())
        } else {
            let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
            format!("{dir}/{location}")
        };
        format!("{scheme}://{authority}{path}")
    };
    let uri = parse_http_url(&absolute, "Location").ok()?;
    with_target(&uri, &remove_dot_segments(uri.path(), false), uri.query())
}

/// RFC 3986 §5.2.4 on an absolute path: `/a/b/../c/./d` is `/a/c/d`; `..`
/// never climbs above the root. With `drop_empty`, empty segments go too
/// (`/a//b` is `/a/b`), as AWS's canonical path wants.
pub(crate) fn remove_dot_segments(path: &str, drop_empty: bool) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.into_iter().enumerate() {
        if !(matches!(segment, "." | "..") || drop_empty && segment.is_empty()) {
            out.push(segment);
            continue;
        }
        if segment == ".." {
            out.pop();
        }
        // A trailing dot or empty segment leaves a directory: `/a/b/..` is `/a/`.
        if i == last {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

/// Whether a reference starts with a scheme (RFC 3986: a letter, then
/// letters, digits, `+`, `-` or `.`, then `:`).
fn has_scheme(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Whether the host is loopback in any spelling the OS would connect to:
/// `localhost` (any case, a trailing dot, any `*.localhost`), any
/// 127.0.0.0/8 address in any IPv4 form `inet_aton` accepts (`127.1`,
/// `2130706433`, `0x7f.1`, `127.000.000.001`), `::1`, and `::ffff:127.x`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = normal_host(host);
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        });
    }
    lenient_ipv4(&host).is_some_and(|ip| ip.is_loopback())
}

/// An IPv4 address in the forms `inet_aton` accepts: one to four parts, each
/// decimal, octal (leading `0`) or hex (`0x`), the last filling the rest.
fn lenient_ipv4(host: &str) -> Option<Ipv4Addr> {
    let values: Vec<u64> = host.split('.').map(ipv4_part).collect::<Option<_>>()?;
    let (last, leading) = values.split_last()?;
    if leading.len() > 3 || leading.iter().any(|value| *value > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - leading.len() as u32);
    if *last >= 1u64 << rest_bits {
        return None;
    }
    let address = leading
        .iter()
        .fold(0, |address, value| address << 8 | value);
    u32::try_from(address << rest_bits | last)
        .ok()
        .map(Ipv4Addr::from)
}

fn ipv4_part(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        // "0x" alone is 0 for inet_aton; an empty part is not a number.
        return (radix == 16).then_some(0);
    }
    if digits.len() > 12 || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn path_segments_cannot_climb() {
        assert_eq!(encode_unreserved("a/b"), "a%2Fb");
        assert_eq!(encode_unreserved("../x"), "..%2Fx");
        assert_eq!(encode_unreserved("a b?c#d"), "a%20b%3Fc%23d");
        assert_eq!(encode_unreserved("é"), "%C3%A9");
        assert_eq!(encode_unreserved("A-z.0_9~"), "A-z.0_9~");
        assert_eq!(encode_unreserved("\0"), "%00");
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_urlencode(&[("workspace_id", "w 1&x=2"), ("provider_name", "é*")]),
            "workspace_id=w+1%26x%3D2&provider_name=%C3%A9*"
        );
        assert_eq!(form_urlencode::<&str, &str>(&[]), "");
        assert_eq!(form_decode("w+1%26x%3D2"), "w 1&x=2");
    }

    #[test]
    fn url_checks() {
        assert!(parse_http_url("https://gw.example/base", "gateway_url").is_ok());
        assert!(parse_http_url("HTTP://127.0.0.1:8080", "gateway_url").is_ok());
        assert!(parse_http_url("http://[::1]:65535/", "url").is_ok());
        for bad in [
            "",
            "gw.example",
            "ftp://gw.example/",
            "http://",
            "http://a b/",
            "/v1",
            "http://user:pw@gw.example/",
            "http://@gw.example/",
            "http://x:99999/",
            "http://x:65536/",
            "http://x:65616/",
            "http://x:+80/",
            "http://x:0/",
            "http://x:-1/",
            "http://x:/",
            "http://x:8o/",
            "http://[::1]:99999/",
            "http://[::1]x/",
            "http://é.example/",
            "http://x/\r\nX: y",
            "http://./",
            "http://..:80/",
        ] {
            let err = parse_http_url(bad, "gateway_url").unwrap_err();
            assert_eq!(err.code, "invalid_input", "{bad:?}");
        }
        let err = parse_http_url("https://bob:hunter2@gw.example/", "url").unwrap_err();
        assert!(!err.message.contains("hunter2"), "{}", err.message);
    }

    #[test]
    fn non_ascii_and_spaces_are_encoded_in_path_and_query() {
        let parsed = |s: &str| parse_http_url(s, "url").unwrap().to_string();
        assert_eq!(parsed("http://x/é"), "http://x/%C3%A9");
        assert_eq!(
            parsed("http://x/a b?q=c d&e=ü"),
            "http://x/a%20b?q=c%20d&e=%C3%BC"
        );
        assert_eq!(parsed("http://x/%C3%A9?q=%20"), "http://x/%C3%A9?q=%20");
        assert_eq!(parsed("http://x/p#frag ment"), "http://x/p");
    }

    #[test]
    fn origins_are_normalised() {
        let o = |s: &str| Origin::of(&uri(s)).unwrap();
        assert_eq!(o("https://A.Example./x"), o("HTTPS://a.example:443/y"));
        assert_eq!(o("http://a.example/"), o("http://a.example:80/?q"));
        assert_ne!(o("http://a.example/"), o("https://a.example/"));
        assert_ne!(o("https://a.example/"), o("https://a.example:8443/"));
        assert_ne!(o("https://a.example/"), o("https://b.example/"));
        assert_eq!(
            Origin::parse("https://API.example/").unwrap(),
            o("https://api.example:443")
        );
        assert!(Origin::parse("https://api.example/v1").is_err());
        assert_eq!(o("https://a.example/").to_string(), "https://a.example");
        assert_eq!(
            o("http://a.example:8080/").to_string(),
            "http://a.example:8080"
        );
        assert!(o("http://a/").may_upgrade_to(&o("https://a/")));
        assert!(o("http://a:8080/").may_upgrade_to(&o("https://a:8080/")));
        assert!(!o("https://a/").may_upgrade_to(&o("http://a/")));
        assert!(!o("http://a/").may_upgrade_to(&o("https://b/")));
    }

    #[test]
    fn https_needs_a_tls_feature() {
        assert!(check_tls_available(&uri("http://x/"), "url").is_ok());
        let https = check_tls_available(&uri("HTTPS://x/"), "url");
        let tls = cfg!(any(feature = "rustls", feature = "native-tls"));
        assert_eq!(https.is_ok(), tls);
        if let Err(e) = https {
            assert_eq!(e.code, "invalid_input");
            assert!(e.message.contains("`rustls`") && e.message.contains("`native-tls`"));
        }
    }

    #[test]
    fn dot_segments_rfc3986_examples() {
        // RFC 3986 §5.4.1 and §5.4.2, base http://a/b/c/d;p?q.
        let base = uri("http://a/b/c/d;p?q");
        for (reference, want) in [
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("./g/.", "http://a/b/c/g/"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
        ] {
            let got = resolve_location(&base, reference).map(|u| u.to_string());
            assert_eq!(got.as_deref(), Some(want), "{reference}");
        }
    }

    #[test]
    fn locations() {
        let base = uri("https://api.example/v1/items?page=2");
        let resolved = |l: &str| resolve_location(&base, l).map(|u| u.to_string());
        for (location, want) in [
            ("https://other.example/x", "https://other.example/x"),
            ("//cdn.example/y", "https://cdn.example/y"),
            ("/v2/items", "https://api.example/v2/items"),
            ("other", "https://api.example/v1/other"),
            ("?page=3", "https://api.example/v1/items?page=3"),
            ("/é", "https://api.example/%C3%A9"),
            ("../x", "https://api.example/x"),
            ("../../../x", "https://api.example/x"),
            ("./x", "https://api.example/v1/x"),
            ("..", "https://api.example/"),
            (".", "https://api.example/v1/"),
            ("/a/b/../c/./d?q=1", "https://api.example/a/c/d?q=1"),
            ("https://o.example/a/../b", "https://o.example/b"),
            ("/a/..%2Fb", "https://api.example/a/..%2Fb"),
        ] {
            assert_eq!(resolved(location).as_deref(), Some(want), "{location}");
        }
        for bad in [
            "",
            "  ",
            "#top",
            "ftp://x/",
            "javascript:alert(1)",
            "javascript:alert(1)://",
            "JavaScript:alert(1)",
            "data:text/html,<script>",
            "mailto:a@b.example",
            "file:/etc/passwd",
            "file:///etc/passwd",
            "http://",
            "http:relative",
            "http://a b/",
            "https:///x",
            "https://u:p@evil.example/",
        ] {
            assert_eq!(resolved(bad), None, "{bad}");
        }
    }

    #[test]
    fn loopback_in_every_spelling() {
        for host in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "api.localhost",
            "127.0.0.1",
            "127.9.9.9",
            "127.1",
            "127.0.1",
            "2130706433",
            "0x7f000001",
            "0x7f.1",
            "0177.0.0.1",
            "127.000.000.001",
            "127.0.0.1.",
            "[::1]",
            "[0:0:0:0:0:0:0:1]",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "example.com",
            "[::2]",
            "localhost.example",
            "128.0.0.1",
            "127.0.0.256.1",
            "1.2.3.4.5",
            "0x",
            "[::ffff:10.0.0.1]",
            "2130706433999",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn query_credential_replaces_every_spelling() {
        let with = |u: &str| {
            with_query_param(&uri(u), "key", Some("SECRET"))
                .unwrap()
                .to_string()
        };
        assert_eq!(with("http://x/p"), "http://x/p?key=SECRET");
        assert_eq!(
            with("http://x/p?a=1&key=mine&%6Bey=2&k%65y&b=2"),
            "http://x/p?a=1&b=2&key=SECRET"
        );
        let spaced = with_query_param(
            &uri("http://x/?api+key=1&api%20key=2"),
            "api key",
            Some("S"),
        )
        .unwrap()
        .to_string();
        assert_eq!(spaced, "http://x/?api+key=S");
    }
}
