//! What the tests of `serve --oauth-proxy` share: a host's authorization
//! request, and what a page's form carries.

/// `/authorize` at `origin` for the client `id`, its redirect
/// http://127.0.0.1:9/cb, PKCE's example challenge (RFC 7636 appendix B).
pub fn authorize_url(origin: &str, id: &str) -> String {
    let mut url = url::Url::parse(&format!("{origin}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", id)
        .append_pair("redirect_uri", "http://127.0.0.1:9/cb")
        .append_pair("state", "s")
        .append_pair("code_challenge_method", "S256")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        );
    url.into()
}

/// The value of the hidden field `name` in `page`.
pub fn field<'a>(page: &'a str, name: &str) -> &'a str {
    let at = page
        .find(&format!("name={name} value=\""))
        .expect("the field")
        + name.len()
        + 13;
    &page[at..at + page[at..].find('"').expect("its end")]
}
