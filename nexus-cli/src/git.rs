//! git's credential-helper protocol (`git help credential`): attributes
//! `key=value` on stdin, one a line, to a blank line or the end; for `get`,
//! `username=` and `password=` on stdout, and only for the provider's own
//! hosts over https (http to a loopback host).

use std::io::{BufRead, Write};
use std::net::IpAddr;

use clap::ValueEnum;
use std::time::{SystemTime, UNIX_EPOCH};

use nexus_sdk::http::Uri;
use nexus_sdk::{DEFAULT_BUFFER, NexusClient, NexusError, Provider, code, one_line};

use crate::credential::Credential;

/// What git asks of a helper.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Operation {
    /// A credential for the host git names.
    Get,
    /// git saying a credential worked: nothing is kept, nothing to do.
    Store,
    /// git saying a credential failed: nothing is kept, nothing to do.
    Erase,
}

/// The attributes git sent that decide whether to answer.
#[derive(Default)]
pub(crate) struct Asked {
    protocol: String,
    /// `host` or `host:port`, as git writes it.
    host: String,
}

impl Asked {
    /// git's attributes, read to the blank line or the end (git writes them
    /// whatever the operation).
    pub(crate) fn read(input: impl BufRead) -> Asked {
        let mut asked = Asked::default();
        for line in input.lines().map_while(Result::ok) {
            if line.is_empty() {
                break;
            }
            match line.split_once('=') {
                Some(("protocol", value)) => asked.protocol = value.to_owned(),
                Some(("host", value)) => asked.host = value.to_owned(),
                _ => {}
            }
        }
        asked
    }
}

/// A git host as origins compare it: the host lowercased without a
/// trailing dot, and the port, made explicit from `scheme` when not given.
#[derive(PartialEq, Eq)]
struct GitHost {
    host: String,
    port: u16,
}

impl GitHost {
    /// `host[:port]` reached over `scheme`; `None` when it does not parse.
    fn parse(scheme: &str, authority: &str) -> Option<GitHost> {
        let port = authority.rsplit_once(':').filter(|(_, p)| !p.contains(']'));
        if authority.contains('@') || port.is_some_and(|(_, p)| p.parse::<u16>().is_err()) {
            return None;
        }
        let uri: Uri = format!("{scheme}://{authority}/").parse().ok()?;
        GitHost::of(&uri).filter(|_| uri.authority().is_some_and(|a| a == authority))
    }

    /// The host of an http(s) URL.
    fn of(uri: &Uri) -> Option<GitHost> {
        let default = match uri.scheme_str()? {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let host = uri.host()?.trim_end_matches('.').to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(default);
        (!host.is_empty()).then_some(GitHost { host, port })
    }

    /// `host`, or `host:port` when the port is not `scheme`'s default.
    fn shown(&self, scheme: &str) -> String {
        match (scheme, self.port) {
            ("https", 443) | ("http", 80) => self.host.clone(),
            _ => format!("{}:{}", self.host, self.port),
        }
    }

    fn is_loopback(&self) -> bool {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        self.host == "localhost"
            || self.host.ends_with(".localhost")
            || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// Everything `git-credential` answers with.
pub(crate) struct Helper<'a> {
    pub(crate) client: &'a NexusClient,
    pub(crate) workspace: &'a str,
    pub(crate) provider: &'a str,
    /// `--host`.
    pub(crate) hosts: &'a [String],
}

/// `--host`'s value: `host` or `host:port`, nothing else; what is wrong
/// with anything else, named.
pub(crate) fn parse_host(text: &str) -> Result<String, String> {
    let why = if text.contains("://") {
        "is a URL"
    } else if text.contains(['/', '?', '#']) {
        "has a path"
    } else if text.contains('@') {
        "has a user name"
    } else if GitHost::parse("https", text).is_none() {
        "is not a host name with an optional port number"
    } else {
        return Ok(text.to_owned());
    };
    Err(format!(
        "`{}` {why}: --host takes host or host:port, as git names it (github.com, git.example:8443)",
        one_line(text)
    ))
}

impl Helper<'_> {
    /// Answers `operation` for what git `asked`: the credential on `out`
    /// for a `get` about one of the provider's hosts; nothing otherwise (a
    /// refused host gets a note on stderr and no credential is resolved).
    pub(crate) fn answer(
        &self,
        operation: Operation,
        asked: &Asked,
        username: Option<String>,
        out: &mut impl Write,
    ) -> Result<(), NexusError> {
        if operation != Operation::Get {
            return Ok(()); // store and erase: nothing is kept, so nothing to do
        }
        if let Some(why) = self.refusal(asked)? {
            eprintln!("nexus: git-credential: {why}");
            return Ok(());
        }
        let credential = match Credential::resolve(self.client, self.workspace, self.provider) {
            Err(e) if e.code == nexus_sdk::code::TOKEN_EXPIRED => {
                // No answer: git says it has no credential, and this line says why.
                eprintln!("nexus: git-credential: {}", one_line(&e.message));
                return Ok(());
            }
            credential => credential?,
        };
        let (user, password) = match credential.basic_pair() {
            Some((user, password)) => (username.unwrap_or(user), password),
            None => {
                let token = credential.value()?;
                let user = username.unwrap_or_else(|| default_username(self.provider).into());
                (user, token)
            }
        };
        if [&user, &password]
            .iter()
            .any(|s| s.contains(['\n', '\r', '\0']))
        {
            let why = "the credential holds a line break or NUL, which git cannot read";
            return Err(NexusError::new(code::INVALID_CREDENTIALS, why));
        }
        let _ = write!(out, "username={user}\npassword={password}\n");
        // git 2.41+ reads it: a cache helper in front drops the token when
        // the library would stop using it, its buffer before it expires; a
        // token shorter than the buffer, which the library hands out once
        // and keeps for no one, at its own expiry.
        let expires_at = credential.expires_at();
        let stop = expires_at.checked_sub(DEFAULT_BUFFER);
        let stop = stop
            .filter(|at| *at > SystemTime::now())
            .unwrap_or(expires_at);
        if let Ok(expiry) = stop.duration_since(UNIX_EPOCH) {
            let _ = writeln!(out, "password_expiry_utc={}", expiry.as_secs());
        }
        Ok(())
    }

    /// Why git's request gets no answer, if it gets none.
    fn refusal(&self, asked: &Asked) -> Result<Option<String>, NexusError> {
        // git may write the protocol in any case: compared without it.
        let scheme = asked.protocol.to_ascii_lowercase();
        let scheme = scheme.as_str();
        let asked_for = format!("{}://{}", one_line(scheme), one_line(&asked.host));
        let Some(host) = GitHost::parse(scheme, &asked.host) else {
            return Ok(Some(format!(
                "not answering for {asked_for}: the credential goes only over https to the \
                 provider's hosts"
            )));
        };
        if scheme == "http" && !host.is_loopback() {
            return Ok(Some(format!(
                "not answering for {asked_for}: the credential goes only over https (http \
                 only to a loopback host)"
            )));
        }
        let mut known = self.listed_hosts(scheme);
        if !known.contains(&host) {
            let listing = self.client.providers()?;
            let Some(provider) = Provider::find(&listing, self.provider) else {
                let names: Vec<&str> = listing.iter().map(|p| p.name.as_str()).collect();
                return Ok(Some(format!(
                    "not answering for {asked_for}: the Gateway lists no provider `{}` (it lists: {})",
                    one_line(self.provider),
                    one_line(&names.join(", "))
                )));
            };
            known.extend(provider_hosts(provider));
        }
        if known.contains(&host) {
            return Ok(None);
        }
        let mut names: Vec<String> = Vec::new();
        for name in known.iter().map(|h| h.shown(scheme)) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let names = if names.is_empty() {
            "it has none listed".to_owned()
        } else {
            names.join(", ")
        };
        Ok(Some(format!(
            "not answering for {asked_for}: not one of `{}`'s hosts ({}); to answer for it, \
             add --host {}",
            one_line(self.provider),
            one_line(&names),
            one_line(&host.shown(scheme))
        )))
    }

    /// The hosts the user named with `--host`.
    fn listed_hosts(&self, scheme: &str) -> Vec<GitHost> {
        let flags = self.hosts.iter().filter_map(|h| GitHost::parse(scheme, h));
        flags.collect()
    }
}

/// The hosts of the origins the SDK sends `provider`'s credential to (its
/// listed API's first, then the allowed ones), and the API's host without a
/// leading `api.` (api.github.com: github.com). `*` (the scope `anywhere`)
/// names no host: git's hosts then come from `--host` alone.
fn provider_hosts(provider: &Provider) -> Vec<GitHost> {
    let hosts = provider
        .origins
        .iter()
        .filter_map(|o| o.parse::<Uri>().ok());
    let hosts: Vec<GitHost> = hosts.filter_map(|uri| GitHost::of(&uri)).collect();
    let forge = hosts.first().and_then(|api| {
        let host = api.host.strip_prefix("api.")?;
        Some(GitHost {
            host: host.to_owned(),
            port: api.port,
        })
    });
    hosts.into_iter().chain(forge).collect()
}

/// The username git sends with a token, per provider: what each forge
/// accepts for a token as the password.
fn default_username(provider: &str) -> &'static str {
    match provider.to_ascii_lowercase().as_str() {
        "gitlab" => "oauth2",
        "bitbucket" => "x-token-auth",
        _ => "x-access-token",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(scheme: &str, authority: &str) -> Option<GitHost> {
        GitHost::parse(scheme, authority)
    }

    #[test]
    fn hosts_compare_as_origins_do() {
        let github = host("https", "github.com").unwrap();
        assert!(host("https", "GitHub.com.") == Some(GitHost { ..github }));
        assert!(host("https", "github.com:443") == host("https", "github.com"));
        assert!(host("https", "github.com:8443") != host("https", "github.com"));
        assert!(host("http", "github.com") != host("https", "github.com"));
        for bad in [
            "",
            "a b",
            "user@github.com",
            "github.com/path",
            "github.com:x",
        ] {
            assert!(host("https", bad).is_none(), "{bad:?}");
        }
        assert!(host("ssh", "github.com").is_none());
    }

    #[test]
    fn loopback_hosts() {
        for yes in [
            "localhost",
            "127.0.0.1:8080",
            "127.9.9.9",
            "[::1]:3000",
            "git.localhost",
        ] {
            assert!(host("http", yes).unwrap().is_loopback(), "{yes}");
        }
        for no in ["github.com", "10.0.0.1", "localhost.example", "[::2]"] {
            assert!(!host("http", no).unwrap().is_loopback(), "{no}");
        }
    }

    #[test]
    fn attributes_are_read_to_the_blank_line() {
        let asked = Asked::read(&b"protocol=https\nhost=github.com\npath=x\n\nhost=evil\n"[..]);
        assert_eq!(
            (asked.protocol.as_str(), asked.host.as_str()),
            ("https", "github.com")
        );
        let empty = Asked::read(&b""[..]);
        assert!(empty.host.is_empty() && empty.protocol.is_empty());
    }
}
