//! Faults at the wire: every way a Gateway or an upstream can misbehave, each
//! ending in its documented error code within the timeout plus a margin.
//! Misbehaviour the fakes cannot script comes from a raw `TcpListener`.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::{client, client_with, fails_within, fast_retries, wait_until};
use nexus_gateway_fake::{
    FakeConnection, FakeGateway, FakeProvider, FakeReply, FakeUpstream, Fault, Route,
};
use nexus_sdk::{ErrorKind, FetchOptions, NexusClient, NexusClientOptions, NexusError, TokenCache};

const TIMEOUT: Duration = Duration::from_millis(600);
/// Slack for a loaded machine on top of the client's timeout.
const MARGIN: Duration = Duration::from_millis(1500);
/// A timeout no machine needs, for a test in which real work (reading
/// megabytes) must end before the timeout fires: the error it expects is
/// another, so it must not depend on how fast the machine reads.
const ROOM: Duration = Duration::from_secs(60);

/// A raw server: each connection is handed to `behave` on its own thread.
struct RawServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl RawServer {
    fn start(behave: impl Fn(TcpStream, &AtomicBool) + Send + Sync + 'static) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (behave, flag) = (Arc::new(behave), Arc::clone(&stop));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (behave, flag) = (Arc::clone(&behave), Arc::clone(&flag));
                thread::spawn(move || behave(stream, &flag));
            }
        });
        RawServer { addr, stop }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads one request head.
fn read_head(stream: &TcpStream) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        if line == "\r\n" {
            return;
        }
        line.clear();
    }
}

fn hold_until_stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(20));
    }
}

fn gateway_client(url: &str) -> NexusClient {
    NexusClient::new(
        NexusClientOptions::new(url)
            .timeout(TIMEOUT)
            .retry_policy(fast_retries(2)),
    )
    .unwrap()
}

// --- Transport faults at the Gateway ---

#[test]
fn connection_refused() {
    let client = gateway_client(&common::refused_url());
    let err = fails_within(MARGIN, "request_failed", || {
        client.check_connection(common::C)
    });
    assert_eq!(err.kind(), ErrorKind::Connect);
}

#[test]
fn accept_and_never_answer() {
    let server = RawServer::start(|stream, stop| {
        read_head(&stream);
        hold_until_stopped(stop);
    });
    let client = gateway_client(&server.url());
    fails_within(TIMEOUT + MARGIN, "timeout", || {
        client.check_connection(common::C)
    });
}

#[test]
fn accept_and_never_read() {
    let server = RawServer::start(|_stream, stop| hold_until_stopped(stop));
    let client = gateway_client(&server.url());
    fails_within(TIMEOUT + MARGIN, "timeout", || {
        client.check_connection(common::C)
    });
}

#[test]
fn headers_then_a_stalled_body() {
    let server = RawServer::start(|mut stream, stop| {
        read_head(&stream);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"sta");
        hold_until_stopped(stop);
    });
    let client = gateway_client(&server.url());
    fails_within(TIMEOUT + MARGIN, "timeout", || {
        client.check_connection(common::C)
    });
}

#[test]
fn a_body_cut_short() {
    let server = RawServer::start(|mut stream, _| {
        read_head(&stream);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"status\":");
    });
    let client = gateway_client(&server.url());
    fails_within(MARGIN, "request_failed", || {
        client.check_connection(common::C)
    });
}

#[test]
fn garbage_instead_of_http() {
    let server = RawServer::start(|mut stream, _| {
        read_head(&stream);
        let _ = stream.write_all(b"\x16\x03\x01\x02\x00garbage that is not HTTP\r\n\r\n");
    });
    let client = gateway_client(&server.url());
    fails_within(MARGIN, "request_failed", || {
        client.check_connection(common::C)
    });
}

#[test]
fn a_three_mib_gateway_answer() {
    let gateway = FakeGateway::start();
    gateway.push_fault(Fault::Oversized(3 << 20));
    let client = client_with(&gateway, |o| o.timeout = ROOM);
    let err = fails_within(ROOM, "invalid_response", || {
        client.check_connection(common::C)
    });
    assert!(err.message.contains("larger than"), "{err}");
}

#[test]
fn unusable_200_bodies() {
    let gateway = FakeGateway::start();
    gateway.add_connection(common::C, FakeConnection::active("github", "t"));
    gateway.add_provider("ws", "github", FakeProvider::oauth2("t"));
    let client = client(&gateway);
    // Invalid UTF-8 needs raw bytes: see invalid_utf8_in_a_200_is_invalid_response.
    for text in [
        "[]",
        "\"active\"",
        "42",
        "null",
        "true",
        "{\"status\":null}",
    ] {
        gateway.push_fault_for(
            Route::CheckConnection,
            Fault::body(200, Some("application/json"), text),
        );
        assert_eq!(
            client.check_connection(common::C).unwrap_err().code,
            "invalid_response",
            "{text:?}"
        );
        gateway.push_fault_for(
            Route::Resolve,
            Fault::body(200, Some("application/json"), text),
        );
        assert_eq!(
            client.resolve_token("ws", "github").unwrap_err().code,
            "invalid_response",
            "{text:?}"
        );
        // Every key of a token object is optional; only a non-object is unusable.
        if !text.starts_with('{') {
            gateway.push_fault_for(
                Route::Token,
                Fault::body(200, Some("application/json"), text),
            );
            assert_eq!(
                client
                    .get_token_by_connection_id(common::C)
                    .unwrap_err()
                    .code,
                "invalid_response",
                "{text:?}"
            );
        }
    }
}

#[test]
fn invalid_utf8_in_a_200_is_invalid_response() {
    // Raw bytes: a lossy string cannot carry them through the FakeGateway.
    let server = RawServer::start(|mut stream, _| {
        read_head(&stream);
        let body = b"{\"status\":\"\xff\xfe\"}";
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    });
    let client = gateway_client(&server.url());
    fails_within(MARGIN, "invalid_response", || {
        client.check_connection(common::C)
    });
}

// --- Storms and rate limits ---

#[test]
fn a_5xx_storm_without_retry_after() {
    let gateway = FakeGateway::start();
    gateway.push_faults(50, Fault::status(503));
    let client = client_with(&gateway, |o| o.retry_policy = fast_retries(4));
    let err = fails_within(MARGIN, "max_retries_exceeded", || {
        client.check_connection(common::C)
    });
    assert_eq!(
        (err.status_code, err.kind()),
        (Some(503), ErrorKind::Server)
    );
    assert_eq!(gateway.requests(Route::CheckConnection), 5);
}

#[test]
fn a_5xx_storm_with_retry_after() {
    let gateway = FakeGateway::start();
    // `Retry-After: 0` is a floor (the Gateway rounds down): each wait is 1 s.
    gateway.push_faults(50, Fault::status(502).with_retry_after("0"));
    let client = client_with(&gateway, |o| o.retry_policy = fast_retries(2));
    let started = Instant::now();
    let err = fails_within(
        Duration::from_secs(2) + MARGIN,
        "max_retries_exceeded",
        || client.check_connection(common::C),
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "two waits of 1 s"
    );
    assert_eq!(err.status_code, Some(502));
}

#[test]
fn a_503_with_an_http_date_retry_after() {
    let gateway = FakeGateway::start();
    gateway.add_connection(common::C, FakeConnection::active("github", "t"));
    let at = SystemTime::now() + Duration::from_secs(2);
    gateway.push_fault(Fault::status(503).with_retry_after_date(at));
    let policy = fast_retries(1);
    let client = client_with(&gateway, |o| o.retry_policy = policy);
    let started = Instant::now();
    client.check_connection(common::C).unwrap();
    let took = started.elapsed();
    // The date has whole-second precision: the wait is between 1 and 2 s.
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(2) + MARGIN,
        "{took:?}"
    );
}

// --- Upstream faults ---

fn upstream_fetch(client: &NexusClient, url: &str) -> Result<nexus_sdk::FetchResponse, NexusError> {
    client.authenticated_fetch(
        &TokenCache::new(),
        "ws",
        "github",
        url,
        FetchOptions::default(),
    )
}

fn token_gateway() -> FakeGateway {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_faults"));
    gateway
}

#[test]
fn an_upstream_that_never_answers() {
    let gateway = token_gateway();
    let server = RawServer::start(|stream, stop| {
        read_head(&stream);
        hold_until_stopped(stop);
    });
    let client = client_with(&gateway, |o| o.timeout = TIMEOUT);
    fails_within(TIMEOUT + MARGIN, "timeout", || {
        upstream_fetch(&client, &server.url())
    });
}

#[test]
fn a_40_mib_upstream_answer_is_capped_and_not_buffered() {
    let gateway = token_gateway();
    let written = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&written);
    let ended = Arc::new(AtomicBool::new(false));
    let writer_ended = Arc::clone(&ended);
    let server = RawServer::start(move |mut stream, _| {
        // Set however the writer ends: an error, or all 40 MiB written.
        struct Ended<'a>(&'a AtomicBool);
        impl Drop for Ended<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let _ended = Ended(&writer_ended);
        read_head(&stream);
        let total = 40usize << 20;
        let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n");
        let chunk = vec![b'x'; 64 << 10];
        while counter.load(Ordering::SeqCst) < total {
            if stream.write_all(&chunk).is_err() {
                return; // the client stopped reading and closed
            }
            counter.fetch_add(chunk.len(), Ordering::SeqCst);
        }
    });
    let client = client_with(&gateway, |o| o.timeout = Duration::from_secs(10));
    let err = fails_within(Duration::from_secs(10), "request_failed", || {
        upstream_fetch(&client, &server.url())
    });
    assert!(
        err.message.contains(&format!("{}-byte cap", 16 << 20)),
        "{err}"
    );
    // The client closed the connection: the writer fails and ends. Count
    // what it wrote only then, so a client that kept reading is caught.
    wait_until(|| ended.load(Ordering::SeqCst));
    let sent = written.load(Ordering::SeqCst);
    assert!(
        sent < 24 << 20,
        "the client read {sent} bytes of 40 MiB: it should stop at the 16 MiB cap"
    );
}

#[cfg(feature = "gzip")]
mod gzip {
    use super::*;

    const BOMB: &[u8] = include_bytes!("../data/zeros-64MiB.gz");

    fn bomb_server() -> RawServer {
        RawServer::start(|mut stream, _| {
            read_head(&stream);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                BOMB.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(BOMB);
        })
    }

    #[test]
    fn a_gzip_bomb_upstream_is_capped_on_decompressed_bytes() {
        let gateway = token_gateway();
        let server = bomb_server();
        let client = client_with(&gateway, |o| o.max_upstream_body = 1 << 20);
        let err = fails_within(MARGIN * 4, "request_failed", || {
            upstream_fetch(&client, &server.url())
        });
        assert!(err.message.contains("1048576-byte cap"), "{err}");
    }

    #[test]
    fn a_gzip_bomb_gateway_answer_is_invalid_response() {
        let server = bomb_server();
        let client = gateway_client(&server.url());
        let err = fails_within(MARGIN * 4, "invalid_response", || {
            client.check_connection(common::C)
        });
        assert!(err.message.contains("larger than"), "{err}");
    }
}

// --- Redirect faults ---

#[test]
fn a_redirect_loop_stops_after_five_hops() {
    let gateway = token_gateway();
    let upstream = FakeUpstream::start();
    upstream.set_reply("/loop", FakeReply::new(302).header("Location", "/loop"));
    let started = Instant::now();
    let (status, headers, _) =
        upstream_fetch(&client(&gateway), &format!("{}/loop", upstream.url())).unwrap();
    assert!(started.elapsed() < MARGIN);
    assert_eq!(status, 302);
    assert_eq!(headers.get("location").unwrap(), "/loop");
    assert_eq!(
        upstream.request_count(),
        6,
        "the first request and five redirects"
    );
}

#[test]
fn a_redirect_to_another_origin_carries_no_credential() {
    let gateway = token_gateway();
    let (origin, elsewhere) = (FakeUpstream::start(), FakeUpstream::start());
    origin.set_reply(
        "/go",
        FakeReply::new(302).header("Location", &format!("{}/landing", elsewhere.url())),
    );
    let options = FetchOptions::default()
        .header("Cookie", "session=1")
        .header("Proxy-Authorization", "Basic cA==")
        .header("X-Trace", "keep");
    let (status, _, _) = client(&gateway)
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &format!("{}/go", origin.url()),
            options,
        )
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        origin.last_request().unwrap().header("authorization"),
        Some("Bearer gho_faults")
    );
    let landed = elsewhere.last_request().unwrap();
    assert_eq!(landed.path, "/landing");
    assert_eq!(landed.header("authorization"), None);
    assert_eq!(landed.header("cookie"), None);
    assert_eq!(landed.header("proxy-authorization"), None);
    assert_eq!(landed.header("x-trace"), Some("keep"));
}

#[test]
fn a_location_that_is_not_a_url_is_returned_as_is() {
    let gateway = token_gateway();
    let upstream = FakeUpstream::start();
    for (path, location) in [
        ("/ftp", "ftp://files.example/x"),
        ("/junk", "http://exa mple/"),
        ("/empty", ""),
    ] {
        upstream.set_reply(path, FakeReply::new(302).header("Location", location));
        let (status, _, _) =
            upstream_fetch(&client(&gateway), &format!("{}{path}", upstream.url())).unwrap();
        assert_eq!(status, 302, "{location:?}");
    }
    assert_eq!(upstream.request_count(), 3);
}

#[test]
fn a_redirect_hop_shares_the_first_requests_time() {
    let gateway = token_gateway();
    let stalling = RawServer::start(|stream, stop| {
        read_head(&stream);
        hold_until_stopped(stop);
    });
    let upstream = FakeUpstream::start();
    upstream.set_reply(
        "/go",
        FakeReply::new(307).header("Location", &stalling.url()),
    );
    let client = client_with(&gateway, |o| o.timeout = TIMEOUT);
    fails_within(TIMEOUT + MARGIN, "timeout", || {
        upstream_fetch(&client, &format!("{}/go", upstream.url()))
    });
}
