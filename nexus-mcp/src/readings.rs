//! What an API may read a request as besides its request line: the methods
//! a method-override header or a `_method` parameter names (Rails,
//! Laravel, Symfony, Express's `method-override`, Google's APIs), and the
//! path syntax that servers and proxies split differently from the
//! normaliser. Under `--policy` a call is decided for every method it may
//! be read as, and a path that reads two ways is refused where a policy
//! names paths. Pure, so that each reading is tested alone.

use serde_json::Value;

/// Headers common frameworks read as the method instead of the request's.
pub(crate) const OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The parameter frameworks read as the method, in a query or a body.
const METHOD_PARAMETER: &str = "_method";

/// Every method a server may read a request as, in upper case, the
/// request's own `method` first: it, each method-override header's value
/// among `headers`, and each `_method` in the URL's query or in `body` (as
/// a form, or as a JSON object's member), whatever the content type says.
pub(crate) fn methods(
    method: &str,
    headers: &[(String, String)],
    url: &str,
    body: Option<&[u8]>,
) -> Vec<String> {
    let overridden = (headers.iter())
        .filter(|(name, _)| OVERRIDES.iter().any(|o| name.eq_ignore_ascii_case(o)))
        .map(|(_, value)| value.clone());
    let query = url::Url::parse(url)
        .ok()
        .and_then(|u| u.query().map(str::to_owned));
    let in_form = |text: &[u8]| -> Vec<String> {
        (url::form_urlencoded::parse(text))
            .filter(|(name, _)| name.eq_ignore_ascii_case(METHOD_PARAMETER))
            .map(|(_, value)| value.into_owned())
            .collect()
    };
    let in_json = (body.and_then(|b| serde_json::from_slice::<Value>(b).ok()))
        .and_then(|json| json.get(METHOD_PARAMETER)?.as_str().map(str::to_owned));
    let mut read = vec![method.to_owned()];
    read.extend(overridden);
    read.extend(query.map(|q| in_form(q.as_bytes())).unwrap_or_default());
    read.extend(body.map(in_form).unwrap_or_default());
    read.extend(in_json);
    let mut methods: Vec<String> = Vec::with_capacity(read.len());
    for each in read.iter().map(|m| m.trim().to_uppercase()) {
        if !methods.contains(&each) {
            methods.push(each);
        }
    }
    methods
}

/// The first segment of `path` (as the normaliser left it) that servers
/// and proxies read in more than one way, and how: an encoded `/` or `\`
/// (`%2F`, `%5C`: one segment to a proxy, two to a server that decodes
/// first, as IIS, Jetty's and nginx's `merge_slashes` paths may), or a `;`
/// (a path parameter, which Tomcat, Jetty and Spring cut off, so that
/// `..;` is `..` and `other;x` is `other`). `None` when it reads one way.
pub(crate) fn read_two_ways(path: &str) -> Option<(&str, &'static str)> {
    path.split('/').find_map(|segment| {
        let upper = segment.to_ascii_uppercase();
        let why = if upper.contains("%2F") || upper.contains("%5C") {
            "an encoded slash or backslash, one segment to some servers and two to others"
        } else if segment.contains(';') {
            "a `;` path parameter, which some servers cut off the segment"
        } else {
            return None;
        };
        Some((segment, why))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        (pairs.iter())
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_request_is_read_as_every_method_an_override_or_parameter_names() {
        let url = "https://api.example/x";
        let none = methods("post", &[], url, None);
        assert_eq!(none, ["POST"]);
        for name in [
            "X-HTTP-Method-Override",
            "x-http-method",
            "X-Method-Override",
        ] {
            let read = methods("POST", &headers(&[(name, "delete")]), url, None);
            assert_eq!(read, ["POST", "DELETE"], "{name}");
        }
        let query = methods("GET", &[], "https://api.example/x?a=1&_method=PUT", None);
        assert_eq!(query, ["GET", "PUT"]);
        let form = methods("POST", &[], url, Some(b"title=x&_method=patch"));
        assert_eq!(form, ["POST", "PATCH"]);
        let json = methods("POST", &[], url, Some(br#"{"_method": "DELETE"}"#));
        assert_eq!(json, ["POST", "DELETE"]);
        let same = methods(
            "DELETE",
            &headers(&[("X-HTTP-Method", "DELETE")]),
            url,
            None,
        );
        assert_eq!(same, ["DELETE"], "a method read once");
    }

    #[test]
    fn a_path_that_servers_split_differently_is_named_by_its_segment() {
        for (path, segment) in [
            ("/repos/acme/..%2Fother/x", "..%2Fother"),
            ("/repos/acme/..%2fother", "..%2fother"),
            ("/repos/acme/..%5Cother", "..%5Cother"),
            ("/repos/acme/..;/other", "..;"),
            ("/repos/other;x/secret", "other;x"),
        ] {
            assert_eq!(read_two_ways(path).map(|(s, _)| s), Some(segment), "{path}");
        }
        assert_eq!(read_two_ways("/repos/acme/x%20y/%C3%A9"), None);
    }
}
