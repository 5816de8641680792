//! A small HTTP/1.1 server on std's `TcpListener`: a thread per connection,
//! keep-alive, strict request reading (see `request.rs`), and the
//! misbehaviour fault tests need (close without answering, hang, raw bytes).

use std::io::{self, BufReader, Write};

use crate::request::{RecordedRequest, Rejection, read_request};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use parking_lot::Mutex;

/// What the server does with a request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// Answer, then keep the connection for the next request.
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Close the connection without answering.
    Close,
    /// Keep the connection open and never answer.
    Hang,
    /// Write these bytes as they are, then close.
    Raw(Vec<u8>),
    /// Send the head with this `Content-Length`, a part of the body, then
    /// either stall (`stall`) or close.
    Partial {
        content_length: usize,
        sent: Vec<u8>,
        stall: bool,
    },
}

pub(crate) type Handler = Arc<dyn Fn(RecordedRequest) -> Reply + Send + Sync>;

struct Shared {
    stopping: AtomicBool,
    connections: Mutex<Vec<TcpStream>>,
    accepted: AtomicUsize,
}

/// A running server; stops, and drops every connection, when dropped.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `address` (`host:port`, port 0 for any free one) and serves
    /// each request with `handler`.
    pub(crate) fn start_on(address: &str, handler: Handler) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(address)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("fake-http-accept".into())
                .spawn(move || accept_loop(&listener, &shared, &handler))?
        };
        Ok(HttpServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// `http://<host>:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor, which then sees `stopping`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for stream in self.shared.connections.lock().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// How long a connection may send nothing, mid-request or between requests.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, handler: &Handler) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        // A client that stops sending holds its connection thread this long.
        let _ = stream.set_read_timeout(Some(IDLE_LIMIT));
        if let Ok(clone) = stream.try_clone() {
            let mut connections = shared.connections.lock();
            // Forget connections that have closed, so the list stays short.
            connections.retain(|s| s.peer_addr().is_ok());
            connections.push(clone);
        }
        let (shared, handler) = (Arc::clone(shared), Arc::clone(handler));
        let _ = thread::Builder::new()
            .name("fake-http-conn".into())
            .spawn(move || serve_connection(stream, &shared, &handler));
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared, handler: &Handler) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    serve_requests(&mut reader, &mut writer, shared, handler);
    // The server keeps a clone of every stream, so dropping ours would not
    // close the connection: shut it down explicitly.
    let _ = writer.shutdown(Shutdown::Both);
}

fn serve_requests(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    shared: &Shared,
    handler: &Handler,
) {
    loop {
        let (request, close_after) = match read_request(reader) {
            Ok(Some(read)) => read,
            Ok(None) => return,
            Err(Rejection { status, reason }) => {
                // What a strict HTTP/1.1 server does: refuse, and close.
                let headers = vec![("Connection".to_owned(), "close".to_owned())];
                let _ = write_answer(writer, status, &headers, reason.as_bytes());
                return;
            }
        };
        match handler(request) {
            Reply::Answer {
                status,
                headers,
                body,
            } => {
                if write_answer(writer, status, &headers, &body).is_err() || close_after {
                    return;
                }
            }
            Reply::Close => return,
            Reply::Raw(bytes) => {
                let _ = writer.write_all(&bytes);
                return;
            }
            Reply::Hang => {
                hang(shared);
                return;
            }
            Reply::Partial {
                content_length,
                sent,
                stall,
            } => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
                );
                let _ = writer.write_all(head.as_bytes());
                let _ = writer.write_all(&sent);
                let _ = writer.flush();
                if stall {
                    hang(shared);
                }
                return;
            }
        }
    }
}

/// Waits until the server stops.
fn hang(shared: &Shared) {
    while !shared.stopping.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(20));
    }
}

fn write_answer(
    writer: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> io::Result<()> {
    let reason = nexus_sdk::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    writer.write_all(&out)?;
    writer.flush()
}
