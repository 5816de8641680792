//! [`Fault`]: the misbehaviours a [`FakeGateway`](crate::FakeGateway) can be scripted with.

use std::thread;
use std::time::{Duration, SystemTime};

use crate::server::Reply;
use crate::time::http_date;

/// A misbehaviour to script with [`FakeGateway::push_fault`](crate::FakeGateway::push_fault).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer this status and body instead of the real answer.
    Status {
        /// The HTTP status.
        status: u16,
        /// `Content-Type`, if any.
        content_type: Option<String>,
        /// The body, possibly empty.
        body: String,
        /// A `Retry-After` header value, if any.
        retry_after: Option<String>,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Close the connection without answering.
    Close,
    /// Accept the request and never answer.
    Hang,
    /// Answer 200 with a body that is not JSON.
    NotJson,
    /// Answer 200 with a JSON body of this many bytes.
    Oversized(usize),
    /// Answer 200 with a `Content-Length` of 1000, send 10 bytes, then stall.
    StalledBody,
    /// Answer 200 with a `Content-Length` of 1000, send 10 bytes, then close.
    TruncatedBody,
    /// Answer bytes that are not HTTP, then close.
    Garbage,
}

impl Fault {
    /// A JSON error answer `{"error":"injected_fault", …}` with this status.
    pub fn status(status: u16) -> Fault {
        Fault::Status {
            status,
            content_type: Some("application/json".into()),
            body: format!(r#"{{"error":"injected_fault","message":"injected HTTP {status}"}}"#),
            retry_after: None,
        }
    }

    /// An answer with exactly this status, content type and body.
    pub fn body(status: u16, content_type: Option<&str>, body: &str) -> Fault {
        Fault::Status {
            status,
            content_type: content_type.map(str::to_owned),
            body: body.to_owned(),
            retry_after: None,
        }
    }

    /// The same status fault with a `Retry-After` header naming the
    /// instant `at` as an HTTP date.
    pub fn with_retry_after_date(self, at: SystemTime) -> Fault {
        self.with_retry_after(&http_date(at))
    }

    /// The same status fault with a `Retry-After` header.
    pub fn with_retry_after(self, value: &str) -> Fault {
        match self {
            Fault::Status {
                status,
                content_type,
                body,
                ..
            } => Fault::Status {
                status,
                content_type,
                body,
                retry_after: Some(value.to_owned()),
            },
            other => other,
        }
    }
}

/// The reply a fault makes, or `None` for a delay (which has slept, and
/// lets the real answer follow).
pub(crate) fn fault_reply(fault: Fault) -> Option<Reply> {
    let json_200 = |body: Vec<u8>| Reply::Answer {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body,
    };
    Some(match fault {
        Fault::Status {
            status,
            content_type,
            body,
            retry_after,
        } => {
            let mut headers = Vec::new();
            if let Some(content_type) = content_type {
                headers.push(("Content-Type".into(), content_type));
            }
            if let Some(retry_after) = retry_after {
                headers.push(("Retry-After".into(), retry_after));
            }
            Reply::Answer {
                status,
                headers,
                body: body.into_bytes(),
            }
        }
        Fault::Delay(delay) => {
            thread::sleep(delay);
            return None;
        }
        Fault::Close => Reply::Close,
        Fault::Hang => Reply::Hang,
        Fault::NotJson => Reply::Answer {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: b"<html>not json</html>".to_vec(),
        },
        Fault::Oversized(size) => {
            let pad = "x".repeat(size.saturating_sub(10));
            json_200(format!(r#"{{"pad":"{pad}"}}"#).into_bytes())
        }
        Fault::StalledBody | Fault::TruncatedBody => Reply::Partial {
            content_length: 1000,
            sent: br#"{"status":"#.to_vec(),
            stall: fault == Fault::StalledBody,
        },
        Fault::Garbage => {
            Reply::Raw(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02garbage\r\n\r\n".to_vec())
        }
    })
}
