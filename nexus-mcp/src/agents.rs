//! An agent's boundary (#127): the scopes a client registered with
//! (`serve client add --scope`, a registration's or a client ID metadata
//! document's `scope`, RFC 7591 §2), which every token issued to it holds
//! at most, and which every call it makes is checked against before
//! anything is resolved or sent. `PROVIDER:read` lets it read a provider
//! (GET, HEAD, OPTIONS and GraphQL queries, under every reading a call may
//! have), `PROVIDER:write` lets it do anything there, reading included, and
//! any other word is a custom scope that policies read. A client that
//! declares none keeps the meaning tokens had before: the server's
//! `--scope`, and everything the person may. Pure, so each rule is tested
//! alone.

use serde::{Deserialize, Serialize};

/// The most scopes a client registers.
const MOST: usize = 32;

/// The longest scope.
const LONGEST: usize = 128;

/// The agent a token was issued to, as a call carries it: the name its
/// client registered (the call line's `agent=`), and the scopes its token
/// holds where its client registered a boundary (none: unbounded, as
/// before).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Agent {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) boundary: Option<Vec<String>>,
    /// The scopes its token holds, and how its client was registered
    /// ([`REGISTERED`]): what a policy reads of it (`context.agent`).
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
    #[serde(default)]
    pub(crate) registered: String,
    /// How long a person's grant to it lives, in seconds, where its client
    /// registered one (`serve client add --session-life`): at most the
    /// server's `--sign-in-life`, whatever the refreshes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) session_life: Option<u64>,
    /// The agents it acts through, where its token was exchanged for
    /// another's (RFC 8693): their clients' marks (12 hex digits), the
    /// nearest first. Read from the grant's `act` chain when a call comes,
    /// never sealed twice.
    #[serde(skip)]
    pub(crate) through: Vec<String>,
}

/// How a client was registered, as `context.agent.registered` says it: by
/// the operator (`serve client add`), by a dynamic registration, by a
/// client ID metadata document, or reaching the server by an ID-JAG.
pub(crate) const REGISTERED: [&str; 4] = ["administrator", "dynamic", "document", "id-jag"];

/// The scopes `text` lists (space-separated, each once, in order), as a
/// client registers them.
///
/// # Errors
///
/// What is wrong with them: a character RFC 6749 §3.3 does not allow in
/// a scope, one longer than [`LONGEST`], or more than [`MOST`].
pub(crate) fn boundary(text: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in text.split(' ').filter(|s| !s.is_empty()) {
        let allowed = |b: u8| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b);
        if !scope.bytes().all(allowed) || scope.len() > LONGEST {
            return Err(format!(
                "{:?} is no scope (printable ASCII but `\"` and `\\`, at most {LONGEST} bytes)",
                nexus_sdk::one_line(scope)
            ));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.len() > MOST {
        return Err(format!("at most {MOST} scopes, not {}", scopes.len()));
    }
    Ok(scopes)
}

/// The words of OpenID Connect and OAuth a client may register beside its
/// boundary, which bound nothing an agent does.
const PROTOCOL: [&str; 4] = ["openid", "offline_access", "profile", "email"];

/// The boundary a client declared by `registered` on a server whose own
/// scopes are `server`: what it registered beyond them and [`PROTOCOL`]'s
/// words; none when nothing remains. A host that registers the scope the
/// server's challenge named (as the official MCP clients do) declares no
/// boundary, and its tokens mean what they did before.
pub(crate) fn declared(registered: Option<Vec<String>>, server: &[String]) -> Option<Vec<String>> {
    let beyond = |scope: &String| !server.contains(scope) && !PROTOCOL.contains(&scope.as_str());
    let declared: Vec<String> = registered?.into_iter().filter(beyond).collect();
    (!declared.is_empty()).then_some(declared)
}

/// The scope a call to `provider` needs: `PROVIDER:write` when any way it
/// may be read `writes`, else `PROVIDER:read` (the provider's name in lower
/// case, as scopes are compared).
pub(crate) fn needed(provider: &str, writes: bool) -> String {
    let action = if writes { "write" } else { "read" };
    format!("{}:{action}", provider.to_lowercase())
}

/// Whether `boundary` holds the scope `need` (`PROVIDER:write` holds
/// `PROVIDER:read` too), a provider's name compared in any case.
pub(crate) fn holds(boundary: &[String], need: &str) -> bool {
    let writes = need.replace(":read", ":write");
    boundary
        .iter()
        .any(|scope| scope.eq_ignore_ascii_case(need) || scope.eq_ignore_ascii_case(&writes))
}

/// What both boundaries `a` and `b` hold (a `:write` holding its `:read`),
/// each once: the boundary of a token exchanged for a client bounded by
/// one and a subject bounded by the other.
pub(crate) fn met(a: &[String], b: &[String]) -> Vec<String> {
    let mut both: Vec<String> = Vec::new();
    let from_a = a.iter().filter(|scope| holds(b, scope));
    let from_b = b.iter().filter(|scope| holds(a, scope));
    for scope in from_a.chain(from_b) {
        if !both.iter().any(|s| s.eq_ignore_ascii_case(scope)) {
            both.push(scope.clone());
        }
    }
    both
}

/// The scopes a token is granted: the server's own (`server`, `--scope`),
/// and the rest of `asked` where the client's `boundary` holds each (a
/// `:write` holds its `:read`), or all the boundary when `asked` names
/// nothing beyond the server's; without a boundary, `asked` as before.
///
/// # Errors
///
/// A scope asked that neither the server grants nor the boundary holds.
pub(crate) fn granted(
    asked: &[String],
    server: &[String],
    boundary: Option<&[String]>,
) -> Result<Vec<String>, &'static str> {
    let within =
        |scope: &String| server.contains(scope) || boundary.is_some_and(|b| holds(b, scope));
    if !asked.iter().all(within) {
        return Err(
            "a scope beyond what this client registered (its boundary) and this server grants was \
             asked: a wider one is registered anew (serve client add --scope, or a registration's \
             scope)",
        );
    }
    let Some(boundary) = boundary else {
        return Ok(if asked.is_empty() {
            server.to_vec()
        } else {
            asked.to_vec()
        });
    };
    let beyond: Vec<&String> = asked.iter().filter(|s| !server.contains(s)).collect();
    let bounded = if beyond.is_empty() {
        boundary.iter().collect()
    } else {
        beyond
    };
    let mut granted = server.to_vec();
    for scope in bounded {
        if !granted.contains(scope) {
            granted.push(scope.clone());
        }
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_boundary_is_read_checked_and_held() {
        let read = boundary("github:read  stripe:write reports:export github:read").unwrap();
        assert_eq!(
            read,
            owned(&["github:read", "stripe:write", "reports:export"])
        );
        assert!(boundary("a\"b").is_err());
        assert!(
            boundary("https://x.example/scope").is_ok(),
            "a URL is a custom scope"
        );
        assert_eq!(needed("GitHub", true), "github:write");
        assert!(holds(&read, "github:read") && holds(&read, "stripe:read"));
        assert!(holds(&read, "STRIPE:write") && !holds(&read, "github:write"));
        assert!(!holds(&read, "gitlab:read"));
    }

    #[test]
    fn two_boundaries_meet_at_what_both_hold() {
        let a = owned(&["github:write", "reports:export", "stripe:read"]);
        let b = owned(&["github:read", "stripe:write", "gitlab:read"]);
        assert_eq!(
            met(&a, &b),
            owned(&["stripe:read", "github:read"]),
            "a write meets a read at the read; a custom scope only where both name it"
        );
        assert!(met(&a, &[]).is_empty());
        assert_eq!(met(&a, &a), a);
    }

    #[test]
    fn a_registration_of_the_servers_own_scopes_declares_no_boundary() {
        let server = owned(&["mcp.tools"]);
        let official = Some(owned(&["mcp.tools", "offline_access"]));
        assert_eq!(
            declared(official, &server),
            None,
            "as the official clients register"
        );
        let bounded = Some(owned(&["mcp.tools", "github:read", "reports:export"]));
        assert_eq!(
            declared(bounded, &server),
            Some(owned(&["github:read", "reports:export"]))
        );
        assert_eq!(declared(None, &server), None);
    }

    #[test]
    fn a_token_holds_the_servers_scopes_and_at_most_the_boundary() {
        let server = owned(&["mcp.tools"]);
        let bounded = owned(&["github:read", "reports:export"]);
        let all = granted(&[], &server, Some(&bounded)).unwrap();
        assert_eq!(all, owned(&["mcp.tools", "github:read", "reports:export"]));
        let asked = owned(&["mcp.tools", "github:read"]);
        let narrowed = granted(&asked, &server, Some(&bounded)).unwrap();
        assert_eq!(narrowed, owned(&["mcp.tools", "github:read"]));
        assert!(granted(&owned(&["github:write"]), &server, Some(&bounded)).is_err());
        let writer = owned(&["github:write"]);
        let read = granted(&owned(&["github:read"]), &server, Some(&writer)).unwrap();
        assert_eq!(
            read,
            owned(&["mcp.tools", "github:read"]),
            "a write holds its read"
        );
        assert_eq!(
            granted(&[], &server, None).unwrap(),
            server,
            "no boundary: as before"
        );
        assert!(granted(&owned(&["github:read"]), &server, None).is_err());
    }
}
