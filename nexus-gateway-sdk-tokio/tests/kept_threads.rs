//! The threads calls run on are kept: a warm call takes the thread the
//! last one ended on, not a new one; calls under way at once each have a
//! thread, so one that never answers holds no other back. A test binary of
//! its own: no other test's calls share its threads.

use std::cell::Cell;
use std::sync::mpsc;

use nexus_gateway_fake::FakeGateway;
use nexus_sdk::{NexusClient, NexusClientOptions};
use nexus_sdk_tokio::AsyncNexusClient;

thread_local! {
    /// How many calls this thread has run.
    static RAN: Cell<usize> = const { Cell::new(0) };
}

/// The thread a call ran on, and how many calls that thread has run.
fn served() -> (std::thread::ThreadId, usize) {
    RAN.with(|ran| ran.set(ran.get() + 1));
    (std::thread::current().id(), RAN.with(Cell::get))
}

#[test]
fn a_warm_call_takes_a_kept_thread_and_a_held_one_holds_no_other_back() {
    let gateway = FakeGateway::start();
    let client =
        AsyncNexusClient::new(NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (first, _) = client.run(|_| Ok(served())).await.unwrap();
        for n in 2..=20 {
            let (thread, ran) = client.run(|_| Ok(served())).await.unwrap();
            assert_eq!((thread, ran), (first, n), "call {n} on the kept thread");
        }
        // A call held (as one that waits on its timeout), and calls beside it:
        // each on a thread the held one is not on, the same kept one each time.
        let (release, released) = mpsc::channel::<()>();
        let (started, running) = mpsc::channel();
        let held = tokio::spawn({
            let client = client.clone();
            async move {
                let held = move |_: &NexusClient| {
                    started.send(std::thread::current().id()).unwrap();
                    Ok(released.recv().is_ok())
                };
                client.run(held).await
            }
        });
        let held_on = loop {
            match running.try_recv() {
                Ok(thread) => break thread,
                Err(_) => tokio::task::yield_now().await,
            }
        };
        let mut beside = Vec::new();
        for _ in 0..5 {
            beside.push(client.run(|_| Ok(served())).await.unwrap().0);
        }
        assert!(!beside.contains(&held_on), "not on the held call's thread");
        assert!(
            beside.iter().all(|t| *t == beside[0]),
            "one kept thread: {beside:?}"
        );
        assert!(!held.is_finished());
        release.send(()).unwrap();
        assert!(held.await.unwrap().unwrap());
    });
}
