//! The end of stdin: the server's input, which stops [`Calls`] when it
//! ends (see [`crate::calls`] for what stopping does).

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::calls::Calls;

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
