//! nginx from the distribution's packages (`NEXUS_NGINX`, installed by
//! `.ci/run`), a real load balancer in front of `serve`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// nginx in front of `ports`, on `port`, round-robin; stopped when dropped.
pub struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub fn start(port: u16, ports: &[u16]) -> Nginx {
        Nginx::start_with(port, ports, "")
    }

    /// [`start`](Self::start), `directives` added to its one location
    /// (`proxy_set_header …;`).
    pub fn start_with(port: u16, ports: &[u16], directives: &str) -> Nginx {
        Nginx::configured(port, ports, ("http://mcp", ""), directives, None)
    }

    /// nginx passing every request to `upstream`, its connections there
    /// kept alive between requests, with `directives`: the limit a server
    /// in the same hop is measured against (the serve bench).
    pub fn kept_alive(port: u16, upstream: u16, directives: &str) -> Nginx {
        Nginx::configured(
            port,
            &[upstream],
            ("http://mcp", "keepalive 16;"),
            directives,
            None,
        )
    }

    /// [`kept_alive`](Self::kept_alive) in one process, no master, started
    /// by `runner` (a script that runs nginx under callgrind, say): the
    /// process [`pid`](Self::pid) names is the one that proxies.
    pub fn kept_alive_by(runner: &Path, port: u16, upstream: u16, directives: &str) -> Nginx {
        let kept = ("http://mcp", "keepalive 16;");
        Nginx::configured(port, &[upstream], kept, directives, Some(runner))
    }

    /// The process started: nginx's master, or its one process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The worker's process (nginx runs one), which does the proxying.
    pub fn worker(&self) -> u32 {
        let master = self.child.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let children =
                std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"));
            let first = children
                .ok()
                .and_then(|c| c.split_whitespace().next()?.parse().ok());
            if let Some(worker) = first {
                return worker;
            }
            assert!(Instant::now() < deadline, "nginx started no worker");
            std::thread::yield_now();
        }
    }

    /// nginx in front of an API on `ports`, as a team puts it in front of
    /// one (`proxy_pass` with a URI): it decodes the path, resolves its dot
    /// segments and merges slashes, then sends the path it read.
    pub fn in_front_of_api(port: u16, ports: &[u16]) -> Nginx {
        Nginx::configured(port, ports, ("http://mcp/", ""), "", None)
    }

    /// The nginx program (`NEXUS_NGINX`, else Debian's).
    pub fn program() -> String {
        let nginx = std::env::var("NEXUS_NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".to_owned());
        assert!(
            Path::new(&nginx).exists(),
            "needs nginx ({nginx}): `.ci/run` installs it"
        );
        nginx
    }

    /// nginx whose one location passes to `pass` (its upstream block with
    /// `kept`), with `directives`; in one process started by `runner`,
    /// when it is some.
    fn configured(
        port: u16,
        ports: &[u16],
        (pass, kept): (&str, &str),
        directives: &str,
        runner: Option<&Path>,
    ) -> Nginx {
        let nginx = Nginx::program();
        let held = tempfile::Builder::new()
            .prefix("nexus-mcp-nginx-")
            .tempdir();
        let held = held.expect("a directory for nginx");
        let dir = held.path();
        let servers: String = ports
            .iter()
            .map(|p| format!("server 127.0.0.1:{p}; "))
            .collect();
        let d = dir.display();
        let master = if runner.is_some() {
            "master_process off;"
        } else {
            ""
        };
        let conf = format!(
            "worker_processes 1; daemon off; {master} pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               upstream mcp {{ {servers} {kept} }}\n\
               server {{ listen 127.0.0.1:{port};\n\
                 location / {{ proxy_pass {pass}; proxy_http_version 1.1;\n\
                   proxy_set_header Host $http_host; proxy_set_header Connection \"\";\n\
                   proxy_buffering off; {directives} }} }} }}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).expect("nginx.conf");
        let child = Command::new(runner.map_or(nginx.as_str(), |r| r.to_str().expect("a path")))
            .args([
                "-p",
                &dir.display().to_string(),
                "-c",
                &path.display().to_string(),
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx starts");
        // Ready when it answers /healthz from a replica (bounded; no sleep).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answered = ureq::get(format!("http://127.0.0.1:{port}/healthz")).call();
            if answered.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not answer: {answered:?}"
            );
            std::thread::yield_now();
        }
        Nginx { child, _dir: held }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM, not KILL: the master stops its worker before it ends (a
        // killed master leaves its worker serving, the port held).
        let pid = self.child.id().to_string();
        let termed = Command::new("kill").args(["-TERM", &pid]).status();
        if !termed.is_ok_and(|status| status.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
