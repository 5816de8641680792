//! `FakeGateway::hold_next`: the next request to a route waits until its
//! guard is dropped; every other request passes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Route};
use nexus_sdk::{NexusClient, NexusClientOptions};

fn wait_until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "the condition never held");
        thread::sleep(Duration::from_millis(2));
    }
}

/// A plain `GET /` over its own connection: the whole answer.
fn get(upstream: &FakeUpstream) -> String {
    let address = upstream.url().replace("http://", "");
    let mut stream = TcpStream::connect(&address).unwrap();
    let head = format!("GET / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn setup() -> (FakeGateway, NexusClient) {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "a", FakeProvider::oauth2("tok_a"));
    gateway.add_provider("ws", "b", FakeProvider::oauth2("tok_b"));
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    (gateway, client)
}

#[test]
fn only_the_next_request_to_the_route_is_held_and_only_until_the_guard_drops() {
    let (gateway, client) = setup();
    let hold = gateway.hold_next(Route::Resolve);
    thread::scope(|s| {
        let held = s.spawn(|| client.resolve_token("ws", "a"));
        wait_until(|| gateway.requests(Route::Resolve) == 1);
        // Another route, and the next request to the same route, pass.
        client.health().unwrap();
        assert_eq!(
            client.resolve_token("ws", "b").unwrap().access_token(),
            "tok_b"
        );
        assert!(!held.is_finished(), "the first resolve is still held");
        drop(hold);
        assert_eq!(held.join().unwrap().unwrap().access_token(), "tok_a");
    });
}

#[test]
fn a_hold_dropped_before_its_request_holds_nothing() {
    let (gateway, client) = setup();
    drop(gateway.hold_next(Route::Resolve));
    assert_eq!(
        client.resolve_token("ws", "a").unwrap().access_token(),
        "tok_a"
    );
}

#[test]
fn holds_queue_up_one_request_each() {
    let (gateway, client) = setup();
    let first = gateway.hold_next(Route::Resolve);
    let second = gateway.hold_next(Route::Resolve);
    thread::scope(|s| {
        let a = s.spawn(|| client.resolve_token("ws", "a"));
        wait_until(|| gateway.requests(Route::Resolve) == 1);
        let b = s.spawn(|| client.resolve_token("ws", "b"));
        wait_until(|| gateway.requests(Route::Resolve) == 2);
        drop(second);
        assert_eq!(b.join().unwrap().unwrap().access_token(), "tok_b");
        assert!(!a.is_finished(), "the first hold still holds its request");
        drop(first);
        assert_eq!(a.join().unwrap().unwrap().access_token(), "tok_a");
    });
}

#[test]
fn an_upstream_hold_keeps_one_request_each_and_counts_it_on_arrival() {
    let upstream = FakeUpstream::start();
    let holds = [upstream.hold_next(), upstream.hold_next()];
    thread::scope(|s| {
        let calls: Vec<_> = (0..2).map(|_| s.spawn(|| get(&upstream))).collect();
        // Both are at the upstream at once, and neither is answered.
        wait_until(|| upstream.request_count() == 2);
        assert!(calls.iter().all(|c| !c.is_finished()));
        drop(holds);
        for call in calls {
            assert!(call.join().unwrap().starts_with("HTTP/1.1 200"));
        }
    });
    // The next one passes.
    assert!(get(&upstream).starts_with("HTTP/1.1 200"));
}
