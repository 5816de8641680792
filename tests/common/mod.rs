//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::sync::OnceLock;
use std::time::Duration;

use nexus_gateway_fake::FakeGateway;
use nexus_sdk::{CredentialScope, NexusClient, NexusClientOptions, RetryPolicy, TokenCache};
use parking_lot::Mutex;

/// A client of `gateway` with a short timeout and no retries.
///
/// Its credential scope is `anywhere()`: the tests that use these helpers
/// check what a fetch does on the wire (redirects, 401s, signing) against
/// fake upstreams on loopback ports; the scope itself, and its default, are
/// checked in `tests/scope/origins.rs` and `tests/scope/defaults.rs`.
pub fn client(gateway: &FakeGateway) -> NexusClient {
    client_with(gateway, |_| {})
}

/// A client of `gateway` after `change` has edited its options.
pub fn client_with(
    gateway: &FakeGateway,
    change: impl FnOnce(&mut NexusClientOptions),
) -> NexusClient {
    let mut options = NexusClientOptions::new(gateway.url())
        .timeout(Duration::from_secs(5))
        .credential_scope(CredentialScope::anywhere());
    change(&mut options);
    NexusClient::new(options).expect("valid options")
}

/// A connection id in the UUID form the Gateway accepts.
pub const C: &str = "3f1b2c4d-0000-4000-8000-00000000000c";

/// The `n`-th connection id of a test, in the UUID form the Gateway accepts.
pub fn conn_id(n: u32) -> String {
    format!("3f1b2c4d-0000-4000-8000-{n:012x}")
}

/// A retry policy with `retries` retries and 1 ms backoff steps.
pub fn fast_retries(retries: u32) -> RetryPolicy {
    RetryPolicy::default()
        .retries(retries)
        .min_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(1))
}

/// Waits (bounded) until `done` holds: to know that an event happened (a
/// resolve reached the Gateway), never to time anything.
pub fn wait_until(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "the condition never held"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A URL on loopback where nothing listens.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// Every log record of the test process, as `LEVEL target: message`.
pub fn logs() -> &'static Mutex<Vec<String>> {
    static LOGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

/// While set, the capturing logger keeps `ureq` targets at DEBUG, as the
/// README advises for kept logs; otherwise every target is at TRACE.
pub static UREQ_AT_DEBUG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        let capped = UREQ_AT_DEBUG.load(std::sync::atomic::Ordering::SeqCst);
        !(capped && metadata.level() == log::Level::Trace && metadata.target().starts_with("ureq"))
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}: {}", record.level(), record.target(), record.args());
            logs().lock().push(line);
        }
    }
    fn flush(&self) {}
}

/// Installs the capturing logger at TRACE (once per process).
pub fn capture_logs() {
    static CAPTURE: Capture = Capture;
    if log::set_logger(&CAPTURE).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// The captured lines containing `needle`.
pub fn log_lines_with(needle: &str) -> Vec<String> {
    logs()
        .lock()
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

/// The path of a built example. `cargo test` builds every example next to
/// the test binaries; when a filtered run did not, it is built here.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    path
}

/// The path of the `nexus-gateway-fake` program (the fake Gateway served
/// on its own), built here: `cargo test` builds no binary of a dependency.
pub fn fake_gateway_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    // By its manifest, not `-p`: in the packaged crate it is no workspace member.
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/nexus-gateway-fake/Cargo.toml");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--manifest-path", manifest])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build of nexus-gateway-fake failed");
    profile_dir.join(format!(
        "nexus-gateway-fake{}",
        std::env::consts::EXE_SUFFIX
    ))
}

/// Runs `f`, asserting it returns an error with `code` within `limit`.
pub fn fails_within<T: std::fmt::Debug>(
    limit: Duration,
    code: &str,
    f: impl FnOnce() -> Result<T, nexus_sdk::NexusError>,
) -> nexus_sdk::NexusError {
    let started = std::time::Instant::now();
    let err = f().expect_err("should fail");
    let took = started.elapsed();
    assert_eq!(err.code, code, "{err}");
    assert!(took < limit, "{code} took {took:?}, limit {limit:?}");
    err
}

/// The access token `get_cached_token` gives for the pair.
pub fn token_of(
    client: &NexusClient,
    cache: &TokenCache,
    workspace: &str,
    provider: &str,
) -> String {
    client
        .get_cached_token(cache, workspace, provider)
        .unwrap()
        .access_token()
        .to_owned()
}
