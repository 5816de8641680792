//! A redirect off the provider's origin to a name that answers one address
//! when it is looked at and another when it is connected to (DNS
//! rebinding): the addresses held to the public-address rule are the ones
//! the connection reaches, so the second answer, an address inside the
//! network, is never connected to.
//!
//! The name's answers are the test's own, so the test stages them as
//! `tests/hung_dns.rs` does: it runs itself again inside private user,
//! mount and network namespaces (`unshare -rmn`), where `/etc/resolv.conf`
//! points at a DNS server on loopback (answering with `simple-dns`) that
//! gives `rebind.nexus.test` a public address at its first lookup and
//! `127.0.0.1` after. The stage is checked to rebind before it is used.
//! Where namespaces are not allowed, the test says so and passes; CI sets
//! `NEXUS_REQUIRE_HUNG_DNS=1`, which makes that a failure instead.

mod common;

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Session, fetch, is_error, text};
use nexus_gateway_fake::FakeReply;
use simple_dns::rdata::{A, RData};
use simple_dns::{CLASS, Packet, QTYPE, ResourceRecord, TYPE};

/// Set inside the stage, to the folder holding its configuration files.
const STAGE: &str = "NEXUS_REBINDING_STAGE";
/// Set by CI: a machine that cannot stage the test fails it.
const REQUIRE: &str = "NEXUS_REQUIRE_HUNG_DNS";
/// The name that rebinds.
const NAME: &str = "rebind.nexus.test";
/// Its first answer: an address of the public Internet (not connected to).
const PUBLIC: Ipv4Addr = Ipv4Addr::new(93, 184, 215, 14);
/// How long the staged run may take.
const WATCHDOG: Duration = Duration::from_secs(120);

#[test]
fn a_redirect_to_a_name_that_rebinds_inside_is_never_connected_to() {
    if std::env::var_os(STAGE).is_some() {
        inside_the_stage();
    } else {
        run_in_the_stage("a_redirect_to_a_name_that_rebinds_inside_is_never_connected_to");
    }
}

/// What runs in the namespaces.
fn inside_the_stage() {
    let dns = RebindingDns::start();
    // The stage rebinds: a public address first, loopback after.
    let looked = || {
        let found = (NAME, 80)
            .to_socket_addrs()
            .expect("the staged name resolves");
        found.map(|at| at.ip()).collect::<Vec<_>>()
    };
    assert_eq!(looked(), [IpAddr::V4(PUBLIC)]);
    assert_eq!(looked(), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);

    let (gateway, api, inside, port) = common::api_and_inside();
    let to = format!("http://{NAME}:{port}/secret");
    api.set_reply("/moved", FakeReply::new(302).header("Location", &to));

    let mut session = Session::start_with(&gateway, &[], &[("NEXUS_LOG", "info")]);
    dns.rearm();
    let moved = session.call(fetch("github", &format!("{}/moved", api.url())));
    assert!(
        is_error(&moved) && text(&moved).contains("origin_not_allowed"),
        "{moved}"
    );
    assert!(!text(&moved).contains("internal answer"), "{moved}");
    let line = session.stderr_line("redirect: not followed");
    assert!(line.contains("no public address"), "{line}");
    assert!(
        dns.lookups() >= 2,
        "the hop was looked at and connected to: two lookups"
    );
    assert_eq!(inside.request_count(), 0, "nothing sent inside");
}

/// Runs this test binary's `test` again inside the namespaces, and fails
/// if it fails there.
fn run_in_the_stage(test: &str) {
    let folder = tempfile::tempdir().expect("a folder for the stage");
    let write = |name: &str, text: &str| std::fs::write(folder.path().join(name), text);
    write(
        "resolv.conf",
        "nameserver 127.0.0.1\noptions timeout:5 attempts:1\n",
    )
    .unwrap();
    write("nsswitch.conf", "hosts: files dns\n").unwrap();
    let script = "PATH=\"$PATH:/usr/sbin:/sbin\" && ip link set lo up \
        && mount --bind \"$0/resolv.conf\" /etc/resolv.conf \
        && mount --bind \"$0/nsswitch.conf\" /etc/nsswitch.conf \
        && exec timeout -s KILL \"$1\" \"$2\" --exact \"$3\" --nocapture --test-threads 1";
    let out = Command::new("unshare")
        .args(["-rmn", "sh", "-c", script])
        .arg(folder.path())
        .arg(WATCHDOG.as_secs().to_string())
        .arg(std::env::current_exe().expect("the test binary"))
        .arg(test)
        .env(STAGE, folder.path())
        .output()
        .expect("unshare runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
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
        out.status.success(),
        "inside the stage:\n{stdout}\n{stderr}"
    );
}

/// A DNS server on `127.0.0.1:53`: [`NAME`]'s first A lookup since
/// [`RebindingDns::rearm`] is [`PUBLIC`], every later one `127.0.0.1`; no
/// IPv6 address; any other name does not exist.
struct RebindingDns {
    asked: Arc<AtomicUsize>,
}

impl RebindingDns {
    fn start() -> RebindingDns {
        let socket = UdpSocket::bind("127.0.0.1:53").expect("bind port 53 inside the stage");
        let asked = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&asked);
        std::thread::spawn(move || {
            let mut packet = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut packet) {
                let Ok(query) = Packet::parse(&packet[..n]) else {
                    continue;
                };
                if let Some(reply) = answer(&query, &counted) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        RebindingDns { asked }
    }

    /// The A lookups of [`NAME`] answered since the last rearm.
    fn lookups(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }

    /// The next A lookup of [`NAME`] is answered [`PUBLIC`] again.
    fn rearm(&self) {
        self.asked.store(0, Ordering::SeqCst);
    }
}

/// The reply to `query`, counting [`NAME`]'s A lookups in `asked`.
fn answer(query: &Packet<'_>, asked: &AtomicUsize) -> Option<Vec<u8>> {
    let question = query.questions.first()?;
    let mut reply = Packet::new_reply(query.id());
    reply.questions.push(question.clone());
    let name = question.qname.to_string();
    if name.trim_end_matches('.') != NAME {
        *reply.rcode_mut() = simple_dns::RCODE::NameError;
    } else if question.qtype == QTYPE::TYPE(TYPE::A) {
        let first = asked.fetch_add(1, Ordering::SeqCst) == 0;
        let address = if first { PUBLIC } else { Ipv4Addr::LOCALHOST };
        let a = RData::A(A::from(address));
        let record = ResourceRecord::new(question.qname.clone(), CLASS::IN, 0, a);
        reply.answers.push(record);
    }
    reply.build_bytes_vec().ok()
}
