//! An agent's boundary held at the door (#127, [`crate::agents`]): every
//! `authenticated_fetch` a bounded agent's request carries is checked
//! against its token's scopes before rmcp, a resolve or a send, and one
//! beyond them is answered as MCP's authorization asks: 403, and a
//! `WWW-Authenticate` challenge (`insufficient_scope`) naming the scopes
//! the call needs, so that a host may step up. What a call needs is
//! decided over every reading it may have: any method it may be read as
//! that writes ([`crate::readings::methods`]) needs `PROVIDER:write`, and a
//! `POST` is a read only as a GraphQL read at a provider's endpoint.

use serde_json::Value;

use crate::agents::{holds, needed};

/// The methods that only read.
const READS: [&str; 3] = ["GET", "HEAD", "OPTIONS"];

/// The first scope `body` (a JSON-RPC request, or a batch) needs that
/// `boundary` does not hold, if any.
pub(super) fn beyond(boundary: &[String], body: &[u8]) -> Option<String> {
    let Ok(sent) = serde_json::from_slice::<Value>(body) else {
        return None; // no JSON-RPC: rmcp refuses it
    };
    let each = match &sent {
        Value::Array(batch) => batch.iter().collect(),
        one => vec![one],
    };
    each.into_iter()
        .filter_map(fetched)
        .find(|need| !holds(boundary, need))
}

/// The scope the JSON-RPC `message` needs, when it calls
/// `authenticated_fetch`.
fn fetched(message: &Value) -> Option<String> {
    let params = message.get("params")?;
    let called = message.get("method")? == "tools/call";
    if !called || params.get("name")? != crate::tools::ToolName::Fetch.name() {
        return None;
    }
    let arguments = params.get("arguments")?;
    let text = |name: &str| arguments.get(name).and_then(Value::as_str);
    let provider = text("provider").unwrap_or_default();
    let (method, url) = (
        text("method").unwrap_or("GET"),
        text("url").unwrap_or_default(),
    );
    let headers: Vec<(String, String)> = (arguments.get("headers").and_then(Value::as_object))
        .into_iter()
        .flatten()
        .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
        .collect();
    let body = text("body").map(str::as_bytes);
    let methods = crate::readings::methods(method, &headers, url, body);
    let post_read = |body| crate::readings::graphql_read(&[], provider, url, body) == Ok(true);
    let reads =
        |m: &String| READS.contains(&m.as_str()) || (m == "POST" && body.is_some_and(post_read));
    let writes = !methods.is_ok_and(|methods| methods.iter().all(reads));
    Some(needed(provider, writes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(arguments: Value) -> Vec<u8> {
        let message = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                             "params": {"name": "authenticated_fetch", "arguments": arguments}});
        message.to_string().into_bytes()
    }

    #[test]
    fn a_call_is_held_to_the_scopes_every_reading_of_it_needs() {
        let boundary = vec!["github:read".to_owned(), "Stripe:write".to_owned()];
        let get = json!({"provider": "GitHub", "url": "https://api.github.com/user"});
        assert_eq!(beyond(&boundary, &call(get)), None);
        let post = json!({"provider": "github", "url": "https://api.github.com/repos/a/b/issues",
                          "method": "POST", "body": "{}"});
        assert_eq!(
            beyond(&boundary, &call(post)).as_deref(),
            Some("github:write")
        );
        let overridden = json!({"provider": "github", "url": "https://api.github.com/x",
                                "headers": {"X-HTTP-Method-Override": "DELETE"}});
        assert_eq!(
            beyond(&boundary, &call(overridden)).as_deref(),
            Some("github:write")
        );
        let query = json!({"provider": "github", "url": "https://api.github.com/graphql",
                           "method": "POST", "body": "{\"query\": \"{ viewer { login } }\"}"});
        assert_eq!(
            beyond(&boundary, &call(query)),
            None,
            "a GraphQL read reads"
        );
        let refund = json!({"provider": "stripe", "url": "https://api.stripe.com/v1/refunds",
                            "method": "POST", "body": "amount=1"});
        assert_eq!(beyond(&boundary, &call(refund)), None, "write holds it");
        let other = json!({"provider": "gitlab", "url": "https://gitlab.com/api/v4/user"});
        assert_eq!(
            beyond(&boundary, &call(other)).as_deref(),
            Some("gitlab:read")
        );
        let listed = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                            "params": {"name": "list_providers", "arguments": {}}});
        assert_eq!(beyond(&boundary, listed.to_string().as_bytes()), None);
        let batch = Value::Array(vec![
            serde_json::from_slice(&call(json!({"provider": "github", "url": "https://x/"})))
                .unwrap(),
            serde_json::from_slice(&call(json!({"provider": "jira", "url": "https://x/"})))
                .unwrap(),
        ]);
        assert_eq!(
            beyond(&boundary, batch.to_string().as_bytes()).as_deref(),
            Some("jira:read")
        );
    }
}
