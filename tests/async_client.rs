//! The async face (feature `tokio`): it never stalls the runtime, and a
//! dropped future starts no request.
#![cfg(feature = "tokio")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{capture_logs, log_lines_with, wait_until};
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Route};
use nexus_sdk::http::Request;
use nexus_sdk::{AsyncNexusClient, FetchOptions, NexusClient, NexusClientOptions, TokenCache};

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Yields to the runtime until `done` holds (bounded): the runtime's own
/// thread keeps running other tasks meanwhile.
async fn until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "the condition never held");
        tokio::task::yield_now().await;
    }
}

/// An upstream that takes every request and answers none until released.
struct HeldUpstream {
    url: String,
    arrived: Arc<AtomicUsize>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl HeldUpstream {
    fn start() -> HeldUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let arrived = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (count, held) = (Arc::clone(&arrived), Arc::clone(&gate));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (count, held) = (Arc::clone(&count), Arc::clone(&held));
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&stream);
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let (open, wake) = &*held;
                    let mut open = open.lock().unwrap();
                    while !*open {
                        open = wake.wait(open).unwrap();
                    }
                    let _ = (&stream).write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                });
            }
        });
        HeldUpstream { url, arrived, gate }
    }

    fn release(&self) {
        *self.gate.0.lock().unwrap() = true;
        self.gate.1.notify_all();
    }
}

fn async_client(gateway: &FakeGateway) -> AsyncNexusClient {
    // A short timeout: a face that blocked its runtime would fail in
    // seconds, not hang.
    let options = NexusClientOptions::new(gateway.url())
        .timeout(Duration::from_secs(5))
        .credential_scope(nexus_sdk::CredentialScope::anywhere());
    NexusClient::new(options).unwrap().into()
}

#[test]
fn a_current_thread_runtime_stays_responsive_while_four_slow_calls_run() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_a"));
    let upstream = HeldUpstream::start();
    let client = async_client(&gateway);
    let cache = Arc::new(TokenCache::new());
    current_thread().block_on(async {
        let calls: Vec<_> = (0..4)
            .map(|_| {
                let (client, cache, url) =
                    (client.clone(), Arc::clone(&cache), upstream.url.clone());
                tokio::spawn(async move {
                    client
                        .authenticated_fetch(&cache, "ws", "github", &url, FetchOptions::default())
                        .await
                })
            })
            .collect();
        // All four are at the upstream at once, and this task still runs on
        // the runtime's only thread: nothing blocks it.
        until(|| upstream.arrived.load(Ordering::SeqCst) == 4).await;
        assert!(calls.iter().all(|c| !c.is_finished()));
        let other = tokio::spawn(async { 7 }).await.unwrap();
        assert_eq!(other, 7, "another task ran while the calls were held");
        upstream.release();
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap().0, 200);
        }
    });
    assert_eq!(
        gateway.resolves("ws", "github"),
        1,
        "one resolve for the four"
    );
}

#[test]
fn a_dropped_future_starts_no_upstream_request() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_d"));
    let hold = gateway.hold_next(Route::Resolve);
    let upstream = FakeUpstream::start();
    let client = async_client(&gateway);
    let cache = Arc::new(TokenCache::new());
    let runtime = current_thread();
    runtime.block_on(async {
        let call = {
            let (client, cache, url) = (client.clone(), Arc::clone(&cache), upstream.url());
            tokio::spawn(async move {
                client
                    .authenticated_fetch(&cache, "ws", "github", &url, FetchOptions::default())
                    .await
            })
        };
        until(|| gateway.requests(Route::Resolve) == 1).await;
        call.abort(); // drops the future while its resolve is held at the Gateway
        assert!(call.await.unwrap_err().is_cancelled());
    });
    drop(hold);
    // The resolve already sent runs to its answer and lands in the cache;
    // the step after it, the upstream request, never starts.
    wait_until(|| cache.get("ws", "github").is_some());
    drop(runtime); // waits for the blocking thread
    assert_eq!(upstream.connections(), 0, "the upstream received nothing");
}

#[test]
fn every_method_works_through_the_async_face() {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho_m").api_base_url(&api.url()),
    );
    let client: AsyncNexusClient = NexusClient::new(NexusClientOptions::new(gateway.url()))
        .unwrap()
        .into();
    let cache = Arc::new(TokenCache::new());
    current_thread().block_on(async {
        client.health().await.unwrap();
        assert_eq!(
            client
                .resolve_token("ws", "github")
                .await
                .unwrap()
                .access_token(),
            "gho_m"
        );
        let token = client
            .get_cached_token(&cache, "ws", "github")
            .await
            .unwrap();
        let again = client
            .get_cached_token(&cache, "ws", "github")
            .await
            .unwrap();
        assert_eq!(token, again);
        let mut request = Request::get(format!("{}/user", api.url()))
            .body(Vec::new())
            .unwrap();
        let authorization = client
            .authorize(&cache, "ws", "github", &mut request)
            .await
            .unwrap();
        assert_eq!(request.headers()["authorization"], "Bearer gho_m");
        drop(authorization);
        let request = Request::get(api.url()).body(Vec::new()).unwrap();
        let response = client.send(&cache, "ws", "github", request).await.unwrap();
        assert_eq!(response.status(), 200);
        let err = client.check_connection(" ").await.unwrap_err();
        assert_eq!(err.code, nexus_sdk::code::INVALID_INPUT);
        client.clear_token(&cache, "ws", "github").await;
        assert!(cache.is_empty());
    });
    assert_eq!(
        gateway.resolves("ws", "github"),
        2,
        "resolve_token, then one cache miss"
    );
}

#[test]
fn the_blocking_client_on_a_runtime_thread_warns_once_naming_the_async_face() {
    capture_logs();
    let gateway = FakeGateway::start();
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    current_thread().block_on(async {
        client.health().unwrap();
        client.health().unwrap();
    });
    let warnings = log_lines_with("AsyncNexusClient");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("WARN nexus_sdk"), "{warnings:?}");
}
