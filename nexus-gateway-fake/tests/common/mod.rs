//! What the fake's tests share: raw HTTP to a fake, and the program started
//! as a test in another language starts it.

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One request over its own connection to the server at `url`
/// (`http://host:port`), `{host}` in `head` replaced by its address: the
/// status line's code, the head as written, and the body.
pub fn raw(url: &str, head: &str, body: &[u8]) -> (u16, String, String) {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = head.replace("{host}", address);
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// `GET path` with these extra header lines (`Name: value\r\n` each).
pub fn get_with(url: &str, path: &str, headers: &str) -> (u16, String, String) {
    let head =
        format!("GET {path} HTTP/1.1\r\nHost: {{host}}\r\n{headers}Connection: close\r\n\r\n");
    raw(url, &head, b"")
}

pub fn get(url: &str, path: &str) -> (u16, String, String) {
    get_with(url, path, "")
}

/// `method path` with `body` as JSON.
pub fn send(url: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    raw(url, &head, body.as_bytes())
}

/// The value of header `name` in a head as written.
pub fn header(head: &str, name: &str) -> Option<String> {
    let line = head.lines().find(|line| {
        line.split_once(':')
            .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
    })?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

/// The program, serving; killed when dropped.
pub struct Program {
    child: Child,
    pub gateway: String,
    pub upstream: String,
    /// What it wrote on stderr, once stopped with [`Program::stop`].
    stderr: Option<std::process::ChildStderr>,
}

impl Program {
    /// The program started with `args` and these environment variables
    /// (and no `RATE_LIMIT_*` of the test's own), once it printed its URLs.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Program {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nexus-gateway-fake"));
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("RATE_LIMIT_")) {
            command.env_remove(name);
        }
        let mut child = command
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut next = |name: &str| {
            let line = lines.next().unwrap().unwrap();
            line.strip_prefix(&format!("{name}=")).unwrap().to_owned()
        };
        let (gateway, upstream) = (next("NEXUS_GATEWAY_URL"), next("UPSTREAM_URL"));
        let stderr = child.stderr.take();
        Program {
            child,
            gateway,
            upstream,
            stderr,
        }
    }

    /// Stops it: what it wrote on stderr.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut stderr) = self.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The program run with `args` until it exits by itself (a usage error):
/// its exit code and stderr.
pub fn refused(args: &[std::ffi::OsString], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_nexus-gateway-fake"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}
