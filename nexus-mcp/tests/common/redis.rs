//! redis-server from the distribution's packages (`NEXUS_REDIS`, installed
//! by `.ci/run`), the store `serve --store` shares among replicas: started
//! on a free port in a directory of its own, its append-only file kept
//! (written at each step), so that a stop and a start again keep what it
//! held, as a deployment's Redis does.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::served::free_port;

/// A redis-server; stopped when dropped.
pub struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    password: Option<String>,
    tls: bool,
}

impl Redis {
    /// Started, and ready (its own line says so).
    pub fn start() -> Redis {
        Redis::start_with(None)
    }

    /// Started asking `password` of every client (`requirepass`), and ready.
    pub fn start_with(password: Option<&str>) -> Redis {
        Redis::started(password, false)
    }

    /// Started answering TLS only (`rediss://localhost`), its certificate
    /// issued by the test CA of the library's tests (`tests/data/private-ca.crt`,
    /// [`super::tls::TEST_CA`]), and ready.
    pub fn start_tls() -> Redis {
        Redis::started(None, true)
    }

    fn started(password: Option<&str>, tls: bool) -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("nexus-mcp-redis-")
            .tempdir();
        let mut redis = Redis {
            child: None,
            port: free_port(),
            dir: dir.expect("a directory for redis"),
            password: password.map(str::to_owned),
            tls,
        };
        redis.start_again();
        redis
    }

    /// What it answers `words` (one command), asked with redis-cli's
    /// protocol by hand over a socket: each line of its answer that is a
    /// value (a key, a number), not a count or a length.
    pub fn ask(&self, words: &[&str]) -> Vec<String> {
        use std::io::{Read, Write};
        let address = self.url();
        let address = address
            .trim_start_matches("redis://")
            .trim_end_matches("/0");
        let mut socket = std::net::TcpStream::connect(address).expect("redis");
        let mut command = format!("*{}\r\n", words.len());
        for word in words {
            command += &format!("${}\r\n{word}\r\n", word.len());
        }
        socket.write_all(command.as_bytes()).unwrap();
        socket.write_all(b"*1\r\n$4\r\nQUIT\r\n").unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).unwrap();
        answer
            .lines()
            .filter(|line| !line.starts_with(['*', '$', '+']))
            .map(|line| line.trim_start_matches(':').to_owned())
            .collect()
    }

    /// Its URL, for `--store`.
    pub fn url(&self) -> String {
        match self.tls {
            true => format!("rediss://localhost:{}/0", self.port),
            false => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Stopped (SIGTERM, and waited for), its data kept on disk.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let _ = child.wait();
        }
    }

    /// Stopped, its data lost, and started again empty on its port: a
    /// deployment's Redis restarted without its data.
    pub fn emptied(&mut self) {
        self.stop();
        for entry in std::fs::read_dir(self.dir.path()).expect("its directory") {
            let path = entry.expect("an entry").path();
            match path.is_dir() {
                true => std::fs::remove_dir_all(&path),
                false => std::fs::remove_file(&path),
            }
            .expect("its data removed");
        }
        self.start_again();
    }

    /// Started again on its port, from its data; waits until it is ready.
    pub fn start_again(&mut self) {
        let redis = std::env::var("NEXUS_REDIS").unwrap_or_else(|_| "/usr/bin/redis-server".into());
        assert!(
            Path::new(&redis).exists(),
            "needs redis-server ({redis}): `.ci/run` installs it"
        );
        let mut child = Command::new(redis)
            .args(self.listening())
            .args(["--dir", &self.dir.path().display().to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args([
                "--logfile",
                "",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ])
            .args(
                self.password
                    .iter()
                    .flat_map(|p| ["--requirepass", p.as_str()]),
            )
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-server starts");
        let mut lines = BufReader::new(child.stdout.take().expect("its stdout")).lines();
        let mut said = String::new();
        for line in lines.by_ref().map_while(Result::ok) {
            said += &line;
            if line.contains("Ready to accept connections") {
                break;
            }
        }
        assert!(said.contains("Ready to accept"), "redis-server: {said}");
        // The rest of its log read, so that it never waits on a full pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        self.child = Some(child);
    }
}

impl Redis {
    /// Where it listens: its port, plain or TLS.
    fn listening(&self) -> Vec<String> {
        let port = self.port.to_string();
        let plain = ["--port", &port, "--bind", "127.0.0.1"];
        if !self.tls {
            return plain.map(str::to_owned).into();
        }
        let data = format!("{}/../tests/data", env!("CARGO_MANIFEST_DIR"));
        let tls = [
            "--port",
            "0",
            "--tls-port",
            &port,
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            &format!("{data}/private-ca-leaf.crt"),
            "--tls-key-file",
            &format!("{data}/private-ca-leaf.key"),
            "--tls-auth-clients",
            "no",
        ];
        tls.map(|arg| arg.to_owned()).into()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
