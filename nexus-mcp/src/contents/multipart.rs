//! A multipart body read as the servers an API is written with read one
//! ([`parts`]): any `multipart/*` type with a boundary (Rack, Laravel and
//! Spring read `multipart/form-data` as they read a form), by multer,
//! axum's multipart parser. Read whole or not at all: a body that does not
//! read to its end, a part in a transfer encoding (RFC 7578 §4.7 forbids
//! it; some servers decode it) or a charset other than UTF-8, and a
//! `_charset_` field naming another (§4.6), are refused. Pure.

/// Why a multipart body is refused (the model reads it).
pub(crate) const UNREAD: &str = "its multipart body cannot be read to its end";
pub(crate) const TRANSFERRED: &str = "a part of its multipart body is sent in a transfer encoding \
                                      (Content-Transfer-Encoding), which this server does not \
                                      decode: send each part as it is";
pub(crate) const CHARSET: &str = "its multipart body is in a charset other than UTF-8, which this \
                                  server does not decode: send it in UTF-8";

/// The boundary of the multipart type `content_type`, if it is one.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mime = content_type.parse::<mime::Mime>().ok()?;
    let boundary = mime.get_param(mime::BOUNDARY)?.as_str().to_owned();
    (mime.type_() == mime::MULTIPART).then_some(boundary)
}

/// A part: its name (none for a part that names none) and its bytes.
pub(crate) type Part = (Option<String>, Vec<u8>);

/// Each part of `body` between `boundary`s.
///
/// # Errors
///
/// [`UNREAD`], [`TRANSFERRED`] or [`CHARSET`].
pub(crate) fn parts(boundary: String, body: &[u8]) -> Result<Vec<Part>, &'static str> {
    let whole = bytes::Bytes::copy_from_slice(body);
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(whole) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    // The body is in memory: every future here is ready when polled.
    let parts = futures_executor::block_on(async {
        let mut parts = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(|_| UNREAD)? {
            let transferred = field.headers().get("content-transfer-encoding");
            let plain = ["7bit", "8bit", "binary"];
            let named = |value: &str| plain.iter().any(|p| value.trim().eq_ignore_ascii_case(p));
            if transferred.is_some_and(|t| !t.to_str().is_ok_and(named)) {
                return Err(TRANSFERRED);
            }
            let charset = field
                .content_type()
                .and_then(|t| t.get_param(mime::CHARSET));
            if charset.is_some_and(|c| !utf8(c.as_str())) {
                return Err(CHARSET);
            }
            let name = field.name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|_| UNREAD)?;
            parts.push((name, bytes.to_vec()));
        }
        Ok(parts)
    })?;
    let charset = parts
        .iter()
        .find(|(name, _)| name.as_deref() == Some("_charset_"));
    if charset.is_some_and(|(_, value)| !std::str::from_utf8(value).is_ok_and(utf8)) {
        return Err(CHARSET);
    }
    Ok(parts)
}

/// Whether a charset's name is UTF-8's, or ASCII's (which UTF-8 holds).
pub(crate) fn utf8(charset: &str) -> bool {
    let charset = charset.trim().trim_matches('"');
    ["utf-8", "utf8", "us-ascii"]
        .iter()
        .any(|c| charset.eq_ignore_ascii_case(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut body = String::new();
        for (headers, value) in parts {
            body.push_str(&format!("--b\r\n{headers}\r\n\r\n{value}\r\n"));
        }
        body.push_str("--b--\r\n");
        body.into_bytes()
    }

    #[test]
    fn a_multipart_body_is_read_whole_or_refused() {
        let field = |name: &str| format!("Content-Disposition: form-data; name=\"{name}\"");
        let amount = field("amount");
        let read = parts("b".into(), &body(&[(&amount, "20000")])).unwrap();
        assert_eq!(read, [(Some("amount".to_owned()), b"20000".to_vec())]);
        let encoded = format!("{amount}\r\nContent-Transfer-Encoding: base64");
        assert_eq!(
            parts("b".into(), &body(&[(&encoded, "MjAwMDA=")])),
            Err(TRANSFERRED)
        );
        let latin = format!("{amount}\r\nContent-Type: text/plain; charset=iso-8859-1");
        assert_eq!(parts("b".into(), &body(&[(&latin, "20000")])), Err(CHARSET));
        let declared = field("_charset_");
        let declared = body(&[(&declared, "Shift_JIS"), (&amount, "20000")]);
        assert_eq!(parts("b".into(), &declared), Err(CHARSET));
        let cut = &body(&[(&amount, "20000")])[..40];
        assert_eq!(parts("b".into(), cut), Err(UNREAD));
        assert_eq!(
            boundary("multipart/form-data; boundary=b").as_deref(),
            Some("b")
        );
        assert_eq!(
            boundary("multipart/mixed; boundary=\"x y\"").as_deref(),
            Some("x y")
        );
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }
}
