//! [`RecordedRequest`] and reading one from the wire as strictly as a real
//! HTTP/1.1 server (RFC 9112): a request whose framing is wrong, or that such
//! a server would refuse, is refused here too (400, or 411 for a body method
//! without a length), so the test that sent it fails instead of passing.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};

use percent_encoding::percent_decode_str;

/// `s` percent-decoded (invalid escapes kept as they are), with `+` read as
/// a space when `plus` (a form-encoded query).
pub(crate) fn percent_decode(s: &str, plus: bool) -> String {
    let spaced = if plus {
        s.replace('+', " ")
    } else {
        s.to_owned()
    };
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// The largest request head (request line and headers) the server reads.
const MAX_HEAD: usize = 64 << 10;
/// The largest request body the server reads.
const MAX_BODY: u64 = 64 << 20;

/// How a request's body was framed on the wire.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    None,
    /// `Content-Length: n`.
    ContentLength(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request as a fake server received it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `PROPFIND`, …
    pub method: String,
    /// The path, percent-encoding kept (`/v1/token/a%2Fb`).
    pub path: String,
    /// The query string without `?`, or `""`.
    pub query: String,
    /// Headers in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked: the exact bytes a signature covers.
    pub body: Vec<u8>,
    /// How the body was framed.
    pub framing: Framing,
    /// The request head exactly as received: request line and headers, CRLFs kept.
    pub raw_head: Vec<u8>,
    /// The address it came from (the rate limiter's last resort).
    pub peer: Option<SocketAddr>,
}

impl RecordedRequest {
    /// A request with no headers and no body, from `192.0.2.7:1234`.
    #[cfg(test)]
    pub(crate) fn for_tests(method: &str, path: &str, query: &str) -> RecordedRequest {
        RecordedRequest {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: Vec::new(),
            body: Vec::new(),
            framing: Framing::None,
            raw_head: Vec::new(),
            peer: "192.0.2.7:1234".parse().ok(),
        }
    }

    /// The first header of that name, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter of that name, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_pairs(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Decodes an `application/x-www-form-urlencoded` string into pairs.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// The form the Gateway accepts for a connection id: a UUID
/// (`8-4-4-4-12` hexadecimal digits).
pub(crate) fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Why a request was refused: the status a strict server answers.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub(crate) status: u16,
    pub(crate) reason: String,
}

fn reject(status: u16, reason: impl Into<String>) -> Rejection {
    Rejection {
        status,
        reason: reason.into(),
    }
}

/// Reads one request; `None` at a clean end of the connection. The flag
/// says the client asked to close after this one.
pub(crate) fn read_request(
    reader: &mut BufReader<TcpStream>,
) -> Result<Option<(RecordedRequest, bool)>, Rejection> {
    let Some((raw_head, lines)) = read_head(reader)? else {
        return Ok(None);
    };
    let (method, target) = request_line(&lines[0])?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for line in &lines[1..] {
        let (name, value) = line
            .split_once(':')
            .filter(|(n, _)| !n.is_empty() && !n.contains([' ', '\t']))
            .ok_or_else(|| reject(400, "malformed header line"))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let all = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let close = all("connection")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("close"));
    let framing = framing(method, &all("transfer-encoding"), &all("content-length"))?;
    let body = match framing {
        Framing::None => Vec::new(),
        Framing::ContentLength(length) => read_exactly(reader, length)?,
        Framing::Chunked => read_chunked(reader)?,
    };
    let request = RecordedRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body,
        framing,
        raw_head,
        peer: reader.get_ref().peer_addr().ok(),
    };
    Ok(Some((request, close)))
}

/// A request head: its bytes as received, and its lines without CRLF.
type Head = (Vec<u8>, Vec<String>);

/// The head's bytes and its lines, up to the blank line.
fn read_head(reader: &mut BufReader<TcpStream>) -> Result<Option<Head>, Rejection> {
    let mut raw = Vec::new();
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader
            .by_ref()
            .take(MAX_HEAD as u64)
            .read_until(b'\n', &mut line)
            .map_err(|_| reject(400, "connection failed mid-head"))?;
        if n == 0 {
            return if lines.is_empty() {
                Ok(None)
            } else {
                Err(reject(400, "head cut short"))
            };
        }
        if !line.ends_with(b"\r\n") {
            return Err(reject(400, "a head line does not end in CRLF"));
        }
        if line == b"\r\n" {
            if lines.is_empty() {
                continue; // a stray blank line between requests (RFC 9112 §2.2)
            }
            raw.extend_from_slice(&line);
            return Ok(Some((raw, lines)));
        }
        raw.extend_from_slice(&line);
        if raw.len() > MAX_HEAD {
            return Err(reject(431, "head too large"));
        }
        let text = std::str::from_utf8(&line[..line.len() - 2])
            .ok()
            .filter(|t| t.is_ascii() && !t.contains(['\r', '\0']))
            .ok_or_else(|| reject(400, "a head line holds bytes HTTP does not allow"))?;
        lines.push(text.to_owned());
    }
}

/// `METHOD SP request-target SP HTTP/1.x`, nothing else. The target is in
/// origin form (`/path`), absolute form (to a proxy), authority form (for
/// `CONNECT`) or `*` (for `OPTIONS`).
fn request_line(line: &str) -> Result<(&str, &str), Rejection> {
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, "HTTP/1.1" | "HTTP/1.0"] = parts[..] else {
        return Err(reject(400, "malformed request line"));
    };
    let form_ok = target.starts_with('/')
        || target.starts_with("http://")
        || target.starts_with("https://")
        || (method == "CONNECT" && !target.is_empty())
        || (method == "OPTIONS" && target == "*");
    if method.is_empty() || !form_ok || target.contains('\t') {
        return Err(reject(400, "malformed request line"));
    }
    Ok((method, target))
}

/// The framing RFC 9112 §6.3 gives the headers, or a refusal.
fn framing(method: &str, te: &[&str], cl: &[&str]) -> Result<Framing, Rejection> {
    if !te.is_empty() && !cl.is_empty() {
        return Err(reject(400, "both Transfer-Encoding and Content-Length"));
    }
    if let Some(last) = te.last() {
        return match last.rsplit(',').next().map(str::trim) {
            Some(c) if c.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
            _ => Err(reject(
                400,
                "a Transfer-Encoding that does not end in chunked",
            )),
        };
    }
    let mut length = None;
    for value in cl.iter().flat_map(|v| v.split(',')).map(str::trim) {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(reject(400, "Content-Length is not a number"));
        }
        let n: u64 = value
            .parse()
            .map_err(|_| reject(400, "Content-Length too large"))?;
        if length.is_some_and(|l| l != n) {
            return Err(reject(400, "differing Content-Length values"));
        }
        length = Some(n);
    }
    match length {
        Some(n) if n > MAX_BODY => Err(reject(413, "body too large")),
        Some(n) => Ok(Framing::ContentLength(n)),
        None if ["POST", "PUT", "PATCH"]
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method)) =>
        {
            Err(reject(
                411,
                "a body method without Content-Length or chunked framing",
            ))
        }
        None => Ok(Framing::None),
    }
}

fn read_exactly(reader: &mut BufReader<TcpStream>, length: u64) -> Result<Vec<u8>, Rejection> {
    let mut body = Vec::new();
    reader
        .by_ref()
        .take(length)
        .read_to_end(&mut body)
        .map_err(|_| reject(400, "connection failed mid-body"))?;
    if body.len() as u64 != length {
        return Err(reject(400, "body shorter than its Content-Length"));
    }
    Ok(body)
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, Rejection> {
    let line = |reader: &mut BufReader<TcpStream>| -> Result<String, Rejection> {
        let mut line = String::new();
        reader
            .by_ref()
            .take(4096)
            .read_line(&mut line)
            .map_err(|_| reject(400, "connection failed mid-body"))?;
        line.strip_suffix("\r\n")
            .map(str::to_owned)
            .ok_or_else(|| reject(400, "a chunk line does not end in CRLF"))
    };
    let mut body = Vec::new();
    loop {
        let size_line = line(reader)?;
        let size_hex = size_line.split(';').next().unwrap_or("");
        if size_hex.is_empty() || !size_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(reject(400, "bad chunk size"));
        }
        let size = u64::from_str_radix(size_hex, 16).map_err(|_| reject(400, "bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the blank line.
            while !line(reader)?.is_empty() {}
            return Ok(body);
        }
        // A size past the cap (up to 2^64 - 1) is refused before any
        // arithmetic on it: nothing overflows, and nothing is read.
        if size > MAX_BODY.saturating_sub(body.len() as u64) {
            return Err(reject(413, "body too large"));
        }
        body.extend(read_exactly(reader, size)?);
        if !line(reader)?.is_empty() {
            return Err(reject(400, "chunk data longer than its size"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%2Fb+c", true), "a/b c");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode("%C3%A9", false), "é");
        assert_eq!(
            query_pairs("workspace_id=w+1&provider_name=%C3%A9&flag"),
            vec![
                ("workspace_id".into(), "w 1".into()),
                ("provider_name".into(), "é".into()),
                ("flag".into(), String::new())
            ]
        );
    }
}
