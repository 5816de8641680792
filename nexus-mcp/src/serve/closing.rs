//! A listener that closes at SIGTERM without dropping a connection it was
//! already given: the kernel's queue of connections made but not yet
//! taken is taken and answered, then the socket closes, so the next
//! connection is refused and a load balancer passes it to another replica
//! (nginx retries a refused connection, even for a POST; it retries no
//! request it has sent). The queue is asked of the kernel, not of the
//! runtime's readiness; what is left is a connection whose handshake
//! completes between the last one taken and the close. And a request read
//! whole before it is answered, so that no answer closes its connection.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use http_body_util::BodyExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long a request's body may take to arrive.
const READ_WITHIN: Duration = Duration::from_secs(30);

/// How much of a body past its bound is read and dropped before the 413 is
/// sent (a lingering close, as nginx's): a client that writes its body
/// whole before it reads then reads the answer, where a connection closed
/// on its unread bytes met it with a broken pipe. Past this, it closes.
const DRAINED_AT_MOST: usize = 16 << 20;

/// `request` with its body read whole (up to `most` bytes, within
/// [`READ_WITHIN`]) before anything answers it, so that whatever answers
/// leaves the connection open: the server closes a connection whose request
/// it left unread, and a client that sends its next request on it as it
/// closes is told "Server disconnected" (every OAuth client's first request
/// is refused with a 401). Past `most`, 413, the rest of the body read and
/// dropped up to [`DRAINED_AT_MOST`] (or the client broke off, and reads no
/// answer); past the time, 408.
pub(crate) async fn read_whole(request: Request, most: usize) -> Result<Request, StatusCode> {
    let (parts, mut body) = request.into_parts();
    let read = async {
        let (mut kept, mut read) = (Vec::new(), 0);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| StatusCode::PAYLOAD_TOO_LARGE)?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            read += data.len();
            if read <= most {
                kept.extend_from_slice(&data);
            } else if read > most + DRAINED_AT_MOST {
                break;
            }
        }
        (read <= most)
            .then_some(kept)
            .ok_or(StatusCode::PAYLOAD_TOO_LARGE)
    };
    match tokio::time::timeout(READ_WITHIN, read).await {
        Ok(Ok(body)) => Ok(Request::from_parts(parts, Body::from(body))),
        Ok(Err(status)) => Err(status),
        Err(_) => Err(StatusCode::REQUEST_TIMEOUT),
    }
}

/// `serve`'s listener: open until `closing` says true, then drained and closed.
pub(crate) struct Closing {
    listener: Listening,
    address: SocketAddr,
    closing: watch::Receiver<bool>,
}

/// Where the listener is: taking connections, draining the kernel's queue
/// (outside the runtime's readiness, which may not have seen a connection
/// the kernel queued), or closed.
enum Listening {
    Open(TcpListener),
    Draining(std::net::TcpListener),
    Closed,
}

impl Closing {
    pub(crate) fn new(
        listener: TcpListener,
        closing: watch::Receiver<bool>,
    ) -> std::io::Result<Closing> {
        let address = listener.local_addr()?;
        Ok(Closing {
            listener: Listening::Open(listener),
            address,
            closing,
        })
    }

    /// The next connection the kernel queued, asked of the kernel itself:
    /// the runtime's readiness is a cached note of the last event it
    /// polled, and a connection queued since would be reset at the close.
    /// None left: the socket closes, and the next connection is refused.
    fn drained(&mut self) -> Option<std::io::Result<(TcpStream, SocketAddr)>> {
        let listener = match std::mem::replace(&mut self.listener, Listening::Closed) {
            Listening::Open(listener) => listener.into_std().ok()?,
            Listening::Draining(listener) => listener,
            Listening::Closed => return None,
        };
        let accepted = match listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
            accepted => accepted,
        };
        self.listener = Listening::Draining(listener);
        Some(accepted.and_then(|(stream, address)| {
            stream.set_nonblocking(true)?;
            Ok((TcpStream::from_std(stream)?, address))
        }))
    }
}

impl axum::serve::Listener for Closing {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let accepted = match &self.listener {
                Listening::Open(listener) if !*self.closing.borrow() => tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = self.closing.changed() => continue,
                },
                _ => match self.drained() {
                    Some(accepted) => accepted,
                    None => return std::future::pending().await,
                },
            };
            match accepted {
                Ok(connection) => return connection,
                // A connection reset before it was taken is no server error.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    log::error!(target: "nexus_mcp", "cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener as _;

    /// Connections the kernel queued before SIGTERM are each taken, even
    /// when the runtime has not yet polled the event that says so (it has
    /// not parked since, and its clock says the drain's moment has come);
    /// then the socket is closed and the next connection refused.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn what_the_kernel_queued_is_taken_before_the_socket_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("its address");
        let (close, closed) = watch::channel(false);
        let mut closing = Closing::new(listener, closed).expect("a listener");
        let queued: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(address).expect("queued by the kernel"))
            .collect();
        close.send_replace(true);
        let mut taken = Vec::new();
        for _ in &queued {
            let within = tokio::time::timeout(Duration::from_secs(5), closing.accept()).await;
            taken.push(within.expect("a queued connection is taken").1);
        }
        let mut theirs: Vec<_> = queued.iter().map(|c| c.local_addr().unwrap()).collect();
        taken.sort();
        theirs.sort();
        assert_eq!(taken, theirs);
        let none_left = tokio::time::timeout(Duration::ZERO, closing.accept()).await;
        assert!(none_left.is_err(), "nothing more is queued");
        let refused = std::net::TcpStream::connect(address);
        assert_eq!(
            refused.map(|_| ()).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionRefused)
        );
    }
}
