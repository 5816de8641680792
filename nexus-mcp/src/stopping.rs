//! Ending cleanly. Once stdin ends or SIGTERM arrives no call starts any
//! more; the calls under way have [`GRACE`] to finish, and are then answered
//! as abandoned; the server stops once none is left. rmcp writes the
//! answers of calls that finish within its own drain (5 s after stdin's
//! end), so every call under way gets an answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::watch;

/// How long a call under way may still take once the server is stopping.
pub(crate) const GRACE: Duration = Duration::from_secs(3);

/// The calls under way, and whether the server is stopping.
#[derive(Clone)]
pub(crate) struct Calls {
    stopping: Arc<watch::Sender<bool>>,
    running: Arc<watch::Sender<usize>>,
}

/// One call under way, counted until dropped.
struct Running(Arc<watch::Sender<usize>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Calls {
    pub(crate) fn new() -> Calls {
        Calls {
            stopping: Arc::new(watch::channel(false).0),
            running: Arc::new(watch::channel(0).0),
        }
    }

    /// From now on, no call starts, and those under way have [`GRACE`].
    pub(crate) fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// `call`'s answer, or why it was not run or not waited for.
    pub(crate) async fn run<T>(
        &self,
        call: impl Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        self.running.send_modify(|n| *n += 1);
        let _running = Running(Arc::clone(&self.running));
        let mut stopping = self.stopping.subscribe();
        if *stopping.borrow() {
            return Err("stopping: nexus-mcp is shutting down and starts no new call".into());
        }
        let abandoned = async {
            let _ = stopping.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(GRACE).await;
        };
        tokio::select! {
            answer = call => answer,
            () = abandoned => Err(format!(
                "stopping: nexus-mcp is shutting down and stopped waiting for this call after {} s; \
                 the request may still have reached the API",
                GRACE.as_secs()
            )),
        }
    }

    /// Waits until no call is under way.
    pub(crate) async fn finished(&self) {
        let _ = self.running.subscribe().wait_for(|n| *n == 0).await;
    }
}

/// The server's input (stdin), which stops [`Calls`] when it ends.
pub(crate) struct StdinWatch<R> {
    inner: R,
    calls: Calls,
}

impl<R> StdinWatch<R> {
    pub(crate) fn new(inner: R, calls: Calls) -> Self {
        StdinWatch { inner, calls }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for StdinWatch<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let (before, asked) = (buf.filled().len(), buf.remaining() > 0);
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if asked && matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() == before {
            self.calls.stop(); // the end of input
        }
        read
    }
}
