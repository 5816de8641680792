//! The async face: it never blocks the runtime, a busy blocking pool never
//! holds a call back, outside tokio it is an error, and a fresh hit needs no
//! thread at all.

use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Route};
use nexus_sdk::{CredentialScope, FetchOptions, NexusClient, NexusClientOptions, TokenCache, code};
use nexus_sdk_tokio::AsyncNexusClient;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// A minimal executor that is not tokio (as `futures::executor::block_on`).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut context) {
            return out;
        }
        std::thread::yield_now();
    }
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

/// A Gateway whose `github` provider has `api` as its API, and an async client.
fn setup() -> (FakeGateway, FakeUpstream, AsyncNexusClient) {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho_a").api_base_url(&api.url()),
    );
    let options = NexusClientOptions::new(gateway.url()).timeout(Duration::from_secs(20));
    (gateway, api, NexusClient::new(options).unwrap().into())
}

#[test]
fn a_current_thread_runtime_stays_responsive_while_four_slow_calls_run() {
    let (gateway, api, client) = setup();
    let hold = api.hold_next();
    let cache = Arc::new(TokenCache::new());
    current_thread().block_on(async {
        let calls: Vec<_> = (0..4)
            .map(|i| {
                let (client, cache) = (client.clone(), Arc::clone(&cache));
                let url = format!("{}/call/{i}", api.url());
                tokio::spawn(async move {
                    client
                        .authenticated_fetch(&cache, "ws", "github", &url, FetchOptions::default())
                        .await
                })
            })
            .collect();
        // One is held at the API, and this task still runs on the runtime's
        // only thread: nothing blocks it.
        until(|| !api.requests().is_empty()).await;
        let other = tokio::spawn(async { 7 }).await.unwrap();
        assert_eq!(other, 7, "another task ran while a call was held");
        drop(hold);
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap().0, 200);
        }
    });
    assert_eq!(
        gateway.requests(Route::Resolve),
        1,
        "one resolve for the four"
    );
}

#[test]
fn a_busy_blocking_pool_does_not_hold_a_call_back() {
    let (_gateway, api, client) = setup();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (release, released) = mpsc::channel::<()>();
    runtime.block_on(async {
        // The pool's only thread, busy until the call below has answered.
        let busy = tokio::task::spawn_blocking(move || released.recv());
        let cache = Arc::new(TokenCache::new());
        let url = format!("{}/user", api.url());
        let options = FetchOptions::default().timeout(Duration::from_secs(20));
        let (status, _, _) = client
            .authenticated_fetch(&cache, "ws", "github", &url, options)
            .await
            .unwrap();
        assert_eq!(status, 200, "answered while the pool was still busy");
        assert!(!busy.is_finished());
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
    });
}

#[test]
fn a_dropped_futures_call_runs_on_to_its_own_end() {
    let (gateway, api, client) = setup();
    let hold = gateway.hold_next(Route::Resolve);
    let cache = Arc::new(TokenCache::new());
    current_thread().block_on(async {
        let call = {
            let (client, cache, url) = (client.clone(), Arc::clone(&cache), api.url());
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
    // The blocking call goes on: its resolve lands in the cache and its
    // request reaches the API; its answer goes nowhere.
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.requests().is_empty() {
        assert!(Instant::now() < deadline, "the call never reached the API");
        std::thread::yield_now();
    }
    assert!(cache.get("ws", "github").is_some());
}

#[test]
fn outside_a_tokio_runtime_a_call_is_an_error_naming_the_runtime() {
    let (_gateway, api, client) = setup();
    let cache = Arc::new(TokenCache::new());
    let miss = block_on(client.get_cached_token(&cache, "ws", "github")).unwrap_err();
    assert_eq!(miss.code, code::INVALID_INPUT);
    assert!(miss.message.contains("tokio runtime"), "{miss}");
    let url = format!("{}/user", api.url());
    let fetch =
        block_on(client.authenticated_fetch(&cache, "ws", "github", &url, FetchOptions::default()));
    assert!(fetch.unwrap_err().message.contains("tokio runtime"));
    assert!(block_on(client.run(|c| c.health())).is_err());
    assert_eq!(api.connections(), 0);
}

#[test]
fn a_fresh_hit_is_answered_without_a_thread_or_the_gateway() {
    let (gateway, _api, client) = setup();
    let cache = Arc::new(TokenCache::new());
    let token = current_thread()
        .block_on(client.get_cached_token(&cache, "ws", "github"))
        .unwrap();
    // No runtime now: only an answer that needs no thread can come back.
    let again = block_on(client.get_cached_token(&cache, "ws", "github")).unwrap();
    assert_eq!(token, again);
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

#[test]
fn run_takes_any_blocking_call_and_the_fetcher_binds_a_pair() {
    let (gateway, api, client) = setup();
    let cache = Arc::new(TokenCache::new());
    current_thread().block_on(async {
        client.run(|c| c.health()).await.unwrap();
        let token = client
            .run(|c| c.resolve_token("ws", "github"))
            .await
            .unwrap();
        assert_eq!(token.access_token(), "gho_a");
        let err = client.run(|c| c.check_connection(" ")).await.unwrap_err();
        assert_eq!(err.code, code::INVALID_INPUT);
        let github = client.fetcher(Arc::clone(&cache), "ws", "github");
        assert_eq!(
            github.get(&format!("{}/user", api.url())).await.unwrap().0,
            200
        );
        let post = FetchOptions::default().method("POST").data("x");
        assert_eq!(github.fetch(&api.url(), post).await.unwrap().0, 200);
    });
    assert_eq!(api.requests().len(), 2);
    assert_eq!(
        gateway.requests(Route::Resolve),
        2,
        "resolve_token, then one miss"
    );
}

#[test]
fn a_panic_in_the_call_is_raised_in_the_caller() {
    let client: AsyncNexusClient = NexusClient::new(
        NexusClientOptions::new("http://127.0.0.1:9").credential_scope(CredentialScope::anywhere()),
    )
    .unwrap()
    .into();
    let runtime = current_thread();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(
            client.run(|_| -> Result<(), nexus_sdk::NexusError> { panic!("a bug in the call") }),
        )
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"a bug in the call"));
}
