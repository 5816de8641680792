//! A listener that closes at SIGTERM without dropping a connection it was
//! already given: the kernel's queue of connections made but not yet
//! taken is taken and answered, then the socket closes, so the next
//! connection is refused and a load balancer passes it to another replica
//! (nginx retries a refused connection, even for a POST; it retries no
//! request it has sent). And a request read whole before it is answered,
//! so that no answer closes its connection.

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
    listener: Option<TcpListener>,
    address: SocketAddr,
    closing: watch::Receiver<bool>,
}

impl Closing {
    pub(crate) fn new(
        listener: TcpListener,
        closing: watch::Receiver<bool>,
    ) -> std::io::Result<Closing> {
        let address = listener.local_addr()?;
        let listener = Some(listener);
        Ok(Closing {
            listener,
            address,
            closing,
        })
    }
}

impl axum::serve::Listener for Closing {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return std::future::pending().await;
            };
            let accepted = if *self.closing.borrow() {
                // Only what is queued already: none left, the socket closes.
                match tokio::time::timeout(Duration::ZERO, listener.accept()).await {
                    Ok(accepted) => accepted,
                    Err(_) => {
                        self.listener = None;
                        continue;
                    }
                }
            } else {
                tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = self.closing.changed() => continue,
                }
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
