//! A host name whose lookup never ends: the client still answers within its
//! timeout, for the Gateway and for an upstream.
//!
//! A DNS server that never answers cannot be reached on the machine's own
//! network, so the test stages one. It runs itself again inside private user,
//! mount and network namespaces (`unshare -rmn`), where `/etc/resolv.conf`
//! points at a UDP socket on loopback that takes every query and answers none,
//! with the C library told to wait 30 s per try, 5 tries. Only the client's
//! own bound can end a call there, and the test checks that the stage really
//! hangs: a plain lookup started beside the client's is still waiting after
//! the client has given up.
//!
//! Where namespaces are not allowed (some containers, macOS), the test says
//! so and passes; CI sets `NEXUS_REQUIRE_HUNG_DNS=1`, which makes that a
//! failure instead.
#![cfg(feature = "rustls")]

mod common;

use std::net::{ToSocketAddrs, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{client_with, fails_within, fast_retries, wait_until};
use nexus_gateway_fake::{FakeGateway, FakeProvider};
use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache};
use parking_lot::Mutex;

/// Set inside the stage, to the folder holding its configuration files.
const STAGE: &str = "NEXUS_HUNG_DNS_STAGE";
/// Set by CI: a machine that cannot stage the test fails it.
const REQUIRE: &str = "NEXUS_REQUIRE_HUNG_DNS";

const TIMEOUT: Duration = Duration::from_millis(600);
/// Slack for a loaded machine on top of the client's timeout; the staged
/// lookup itself would take 150 s.
const MARGIN: Duration = Duration::from_millis(1500);

#[test]
fn a_name_that_never_resolves_is_bounded() {
    if std::env::var_os(STAGE).is_some() {
        inside_the_stage();
    } else {
        run_in_the_stage("a_name_that_never_resolves_is_bounded");
    }
}

/// What runs in the namespaces: the Gateway's host, then an upstream's,
/// each hanging in its lookup.
fn inside_the_stage() {
    let dns = HungDns::start();
    let control = thread::spawn(|| ("control.nexus-hung.test", 443).to_socket_addrs().is_ok());
    wait_until(|| dns.asked("control.nexus-hung.test"));

    let gateway_host = NexusClient::new(
        NexusClientOptions::new("https://gateway.nexus-hung.test")
            .api_key("nexus-key")
            .timeout(TIMEOUT)
            .retry_policy(fast_retries(0)),
    )
    .expect("valid options");
    fails_within(TIMEOUT + MARGIN, "timeout", || {
        gateway_host.resolve_token("ws", "github")
    });
    wait_until(|| dns.asked("gateway.nexus-hung.test"));

    let gateway = FakeGateway::start();
    let api = "https://api.nexus-hung.test";
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho_hung").api_base_url(api),
    );
    let client = client_with(&gateway, |o| o.timeout = TIMEOUT);
    fails_within(TIMEOUT + MARGIN, "timeout", || {
        client.authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &format!("{api}/user"),
            FetchOptions::default(),
        )
    });
    wait_until(|| dns.asked("api.nexus-hung.test"));

    assert!(
        !control.is_finished(),
        "the staged lookup ended: the stage does not hang, so it proves nothing"
    );
}

/// Runs this test binary's `test` again inside the namespaces, and fails if
/// it fails there. `timeout` kills the staged run after [`WATCHDOG`], so a
/// client that hangs in the lookup fails the test instead of hanging it.
fn run_in_the_stage(test: &str) {
    let folder = stage_folder();
    std::fs::write(
        folder.join("resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:30 attempts:5\n",
    )
    .expect("write resolv.conf");
    std::fs::write(folder.join("nsswitch.conf"), "hosts: files dns\n").expect("write nsswitch");
    let script = "PATH=\"$PATH:/usr/sbin:/sbin\" && ip link set lo up \
        && mount --bind \"$0/resolv.conf\" /etc/resolv.conf \
        && mount --bind \"$0/nsswitch.conf\" /etc/nsswitch.conf \
        && exec timeout -s KILL \"$1\" \"$2\" --exact \"$3\" --nocapture --test-threads 1";
    let out = Command::new("unshare")
        .args(["-rmn", "sh", "-c", script])
        .arg(&folder)
        .arg(WATCHDOG.as_secs().to_string())
        .arg(std::env::current_exe().expect("the test binary"))
        .arg(test)
        .env(STAGE, &folder)
        .output();
    let _ = std::fs::remove_dir_all(&folder);
    let (status, stdout, stderr) = match out {
        Ok(o) => (
            Some(o.status),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => (None, String::new(), e.to_string()),
    };
    if !stdout.contains("running 1 test") {
        assert!(
            std::env::var_os(REQUIRE).is_none(),
            "{REQUIRE} is set, but the stage could not be made: {stderr}"
        );
        eprintln!(
            "skipped: cannot make private namespaces here ({})",
            stderr.trim()
        );
        return;
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "inside the stage ({status:?}; killed after {WATCHDOG:?} if by signal 9):\n{stdout}\n{stderr}"
    );
}

/// How long the staged run may take before it counts as hung: far above the
/// client's bound, far below the staged lookup's 150 s.
const WATCHDOG: Duration = Duration::from_secs(60);

/// A fresh folder for the stage's files.
fn stage_folder() -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let folder =
        std::env::temp_dir().join(format!("nexus-hung-dns-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("create the stage folder");
    folder
}

/// A DNS server on `127.0.0.1:53` that records the name in every query and
/// answers none.
struct HungDns {
    names: Arc<Mutex<Vec<String>>>,
}

impl HungDns {
    fn start() -> HungDns {
        let socket = UdpSocket::bind("127.0.0.1:53").expect("bind port 53 inside the stage");
        let names = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&names);
        thread::spawn(move || {
            let mut packet = [0u8; 512];
            while let Ok((n, _)) = socket.recv_from(&mut packet) {
                seen.lock().push(query_name(&packet[..n]));
            }
        });
        HungDns { names }
    }

    fn asked(&self, name: &str) -> bool {
        self.names.lock().iter().any(|n| n == name)
    }
}

/// The name a DNS query asks for (RFC 1035 §4.1.2: labels after the 12-byte
/// header), or what could be read of it.
fn query_name(packet: &[u8]) -> String {
    let mut labels = Vec::new();
    let mut at = 12;
    while let Some(&len) = packet.get(at) {
        let Some(label) = packet.get(at + 1..at + 1 + usize::from(len)) else {
            break;
        };
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(label).into_owned());
        at += 1 + usize::from(len);
    }
    labels.join(".")
}
