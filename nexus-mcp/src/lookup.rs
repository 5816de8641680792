//! Where a connection goes: a URL's addresses, within the request's
//! timeout, without a thread started for each request. ureq's own resolver
//! starts one for every request with a timeout (to give up on a lookup
//! that hangs), even when a kept-alive connection then carries it: a
//! thread's start and end on every warm call. Here an IP literal is read
//! as it is written, and a name is looked up on a thread kept between
//! lookups: an idle one, or a new one when none is idle, so that a lookup
//! that hangs holds back no other. A thread idle for [`KEEP`] ends.
//! What the addresses may be is the caller's rule ([`crate::addresses`]).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, channel, sync_channel};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a lookup thread waits for its next name before it ends.
const KEEP: Duration = Duration::from_secs(10);

/// What looks a `name:port` up: the system's resolver (a test's own).
type Look = fn(&str) -> std::io::Result<Vec<SocketAddr>>;

/// A name and port to look up, how, and where its addresses go.
type Lookup = (String, Look, SyncSender<std::io::Result<Vec<SocketAddr>>>);

/// The system's lookup of `name` (`host:port`).
fn system(name: &str) -> std::io::Result<Vec<SocketAddr>> {
    name.to_socket_addrs().map(Iterator::collect)
}

/// The idle lookup threads, each by its number and the sender of its next
/// lookup.
static IDLE: Mutex<Vec<(u64, Sender<Lookup>)>> = Mutex::new(Vec::new());

/// `uri`'s addresses, of the family `config` wants, within `timeout`.
///
/// # Errors
///
/// ureq's: a URL it cannot connect to, a name with no address, a lookup
/// past its timeout, or the system's.
pub(crate) fn addresses(
    uri: &Uri,
    config: &Config,
    timeout: NextTimeout,
) -> Result<ResolvedSocketAddrs, ureq::Error> {
    let port = match uri.scheme_str() {
        Some("https") => 443,
        Some("http") => 80,
        // Anything else, as ureq says it.
        _ => return DefaultResolver::default().resolve(uri, config, timeout),
    };
    let authority = uri.authority().ok_or(ureq::Error::HostNotFound)?;
    let port = authority.port_u16().unwrap_or(port);
    let host = authority.host();
    let found = match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(ip) => vec![SocketAddr::new(IpAddr::into(ip), port)],
        Err(_) if timeout.after.is_not_happening() => {
            format!("{host}:{port}").to_socket_addrs()?.collect()
        }
        Err(_) => looked_up(format!("{host}:{port}"), system, timeout)?,
    };
    let mut kept = DefaultResolver::default().empty();
    // As many as ureq's list holds (16), as its own resolver keeps.
    for at in config.ip_family().keep_wanted(found.into_iter()).take(16) {
        kept.push(at);
    }
    if kept.is_empty() {
        return Err(ureq::Error::HostNotFound);
    }
    Ok(kept)
}

/// `name`'s addresses, looked up by `look` on a kept thread within `timeout`.
fn looked_up(
    name: String,
    look: Look,
    timeout: NextTimeout,
) -> Result<Vec<SocketAddr>, ureq::Error> {
    let (answer, answered) = sync_channel(1);
    let mut lookup = (name, look, answer);
    loop {
        let idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let Some((_, next)) = idle else {
            start(lookup)?;
            break;
        };
        // A thread on the list waits for its lookup (it leaves the list
        // before it ends): a send fails only if it could not.
        match next.send(lookup) {
            Ok(()) => break,
            Err(unsent) => lookup = unsent.0,
        }
    }
    match answered.recv_timeout(*timeout.after) {
        Ok(found) => Ok(found?),
        Err(RecvTimeoutError::Timeout) => Err(ureq::Error::Timeout(timeout.reason)),
        Err(RecvTimeoutError::Disconnected) => Err(ureq::Error::HostNotFound),
    }
}

/// Starts a lookup thread that answers `first`, then each lookup it is
/// given while it is idle, until it has been idle for [`KEEP`].
fn start(first: Lookup) -> std::io::Result<()> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (next, lookups) = channel::<Lookup>();
    let thread = std::thread::Builder::new().name("nexus-mcp-lookup".to_owned());
    let started = thread.spawn(move || {
        let mut lookup = Some(first);
        while let Some((name, look, answer)) = lookup.take() {
            let found = look(&name);
            IDLE.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((number, next.clone()));
            // Its asker may have given up (past its timeout): no one reads.
            let _ = answer.send(found);
            lookup = waited(number, &lookups);
        }
    });
    started.map(drop)
}

/// Thread `number`'s next lookup, or none once it has been idle for
/// [`KEEP`] and has left the idle list (an asker that took it off first
/// sends one).
fn waited(number: u64, lookups: &Receiver<Lookup>) -> Option<Lookup> {
    if let Ok(lookup) = lookups.recv_timeout(KEEP) {
        return Some(lookup);
    }
    let mut idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner);
    match idle.iter().position(|(held, _)| *held == number) {
        Some(at) => {
            idle.swap_remove(at);
            None
        }
        None => {
            drop(idle);
            lookups.recv().ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(after: Duration) -> NextTimeout {
        NextTimeout {
            after: after.into(),
            reason: ureq::Timeout::Resolve,
            per_read: None,
            per_write: None,
        }
    }

    fn resolved(url: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = url.parse().unwrap();
        let timeout = within(Duration::from_secs(10));
        addresses(&uri, &Config::default(), timeout).map(|found| found.to_vec())
    }

    /// Whether the hung lookup may answer, and the signal that it may.
    static HUNG: (Mutex<bool>, std::sync::Condvar) = (Mutex::new(false), std::sync::Condvar::new());

    /// A lookup that hangs for `hung.test` until told, and answers any
    /// other name at once.
    fn hangs(name: &str) -> std::io::Result<Vec<SocketAddr>> {
        if name.starts_with("hung.test:") {
            let (released, told) = &HUNG;
            let mut released = released.lock().unwrap();
            while !*released {
                released = told.wait(released).unwrap();
            }
        }
        Ok(vec!["127.0.0.1:80".parse().unwrap()])
    }

    #[test]
    fn a_lookup_that_hangs_gives_up_at_its_timeout_and_holds_back_no_other() {
        let hung = looked_up(
            "hung.test:80".into(),
            hangs,
            within(Duration::from_millis(50)),
        );
        assert!(matches!(hung, Err(ureq::Error::Timeout(_))), "{hung:?}");
        // The hung lookup's thread is still looking: another answers at once.
        let other = looked_up(
            "other.test:80".into(),
            hangs,
            within(Duration::from_secs(60)),
        );
        assert_eq!(other.unwrap(), ["127.0.0.1:80".parse().unwrap()]);
        let (released, told) = &HUNG;
        *released.lock().unwrap() = true;
        told.notify_all();
    }

    #[test]
    fn an_ip_literal_is_read_as_written_with_its_scheme_s_port() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            resolved("http://127.0.0.1/x").unwrap(),
            [at("127.0.0.1:80")]
        );
        assert_eq!(resolved("https://[::1]:8443/").unwrap(), [at("[::1]:8443")]);
        assert_eq!(resolved("https://10.0.0.1/").unwrap(), [at("10.0.0.1:443")]);
    }

    #[test]
    fn a_name_is_looked_up_on_a_kept_thread_and_the_thread_is_kept() {
        let first = resolved("http://localhost:8080/").unwrap();
        assert!(
            first
                .iter()
                .all(|at| at.port() == 8080 && at.ip().is_loopback())
        );
        // The thread that answered is idle again, for the next lookup.
        let idle = || IDLE.lock().unwrap().len();
        assert!(idle() >= 1, "the lookup thread is kept");
        assert_eq!(resolved("http://localhost:8080/").unwrap(), first);
    }

    #[test]
    fn a_name_that_does_not_resolve_is_said_as_ureq_says_it() {
        let missing = resolved("http://no-such-host.invalid/");
        assert!(missing.is_err(), "{missing:?}");
    }
}
