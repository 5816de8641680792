//! The built `nexus-mcp serve`, against an in-process fake Gateway and a
//! fake authorization server, driven over HTTP on loopback. It is ready
//! when its stderr says it listens (an event, not a sleep).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How long a test waits for the server to listen, or to answer.
const OWED: Duration = Duration::from_secs(60);

/// The sealing key every served test shares (replicas share one).
pub const STATE_KEY: &str = "a-sealing-key-of-at-least-32-bytes!!";

/// A running `nexus-mcp serve` (or a load balancer's front, with no
/// process of its own); killed when dropped.
pub struct Served {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    /// Its public URL, the audience its tokens name (`<origin>/mcp`).
    pub resource: String,
    /// Every line it wrote on stderr so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
}

/// A free loopback port (bound, then let go for the server to take),
/// below the kernel's ephemeral range: a port from that range may be taken
/// as an outgoing connection's source port before the server binds it
/// (seen as "Address already in use" under parallel tests).
pub fn free_port() -> u16 {
    use std::hash::BuildHasher as _;
    static DRAWN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range");
    let low: u16 = (range.ok())
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let random = std::collections::hash_map::RandomState::new();
    loop {
        let draw = random.hash_one(DRAWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let port = 10_000 + (draw % u64::from(low.saturating_sub(10_000).max(1))) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The command `nexus-mcp serve` with `args`, against `gateway` and `issuer`.
pub fn command(gateway: &FakeGateway, issuer: &str, port: u16, args: &[&str]) -> Command {
    let origin = format!("http://127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
    command
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    // A flag `args` gives replaces the default one.
    if !args.contains(&"--public-url") {
        command.args(["--public-url", &format!("{origin}/mcp")]);
    }
    if !args.contains(&"--issuer") {
        command.args(["--issuer", issuer]);
    }
    command
        .args(args)
        .env("NEXUS_GATEWAY_URL", gateway.url())
        .env("NEXUS_MCP_STATE_KEY", STATE_KEY)
        .env_remove("NEXUS_MCP_STATE_KEYS")
        .env_remove("NEXUS_WORKSPACE_ID")
        .env_remove("NEXUS_API_KEY")
        .env_remove("NEXUS_CREDENTIAL_SCOPE")
        .env_remove("NEXUS_ALLOWED_ORIGINS")
        .env_remove("NEXUS_TIMEOUT")
        .env_remove("NEXUS_LOG")
        .env_remove("NEXUS_API_KEY_FILE")
        .env_remove("NEXUS_MCP_STATE_KEY_FILE")
        .env_remove("NEXUS_MCP_STATE_KEYS_FILE")
        .env_remove("NEXUS_MCP_LOGIN_CLIENT_SECRET_FILE")
        .env_remove("NEXUS_MCP_INTROSPECTION_CLIENT_SECRET_FILE")
        .env_remove("NEXUS_MCP_STORE")
        .env_remove("NEXUS_MCP_STORE_FILE")
        .env_remove("NEXUS_MCP_STORE_PASSWORD")
        .env_remove("NEXUS_MCP_STORE_PASSWORD_FILE")
        .env_remove("NEXUS_MCP_SSF_TOKEN")
        .env_remove("NEXUS_MCP_SSF_TOKEN_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

impl Served {
    /// Starts `serve` with `args` and waits until it listens.
    pub fn start(gateway: &FakeGateway, issuer: &FakeIssuer, args: &[&str]) -> Served {
        let port = free_port();
        let child = command(gateway, &issuer.url(), port, args)
            .spawn()
            .expect("nexus-mcp");
        Served::ready(child, port)
    }

    /// `child`, once its stderr says it listens on `port`.
    pub fn ready(child: Child, port: u16) -> Served {
        let (served, listening) = Served::reading(child, port);
        if listening.recv_timeout(OWED).is_err() {
            panic!("serve did not listen: {}", served.said());
        }
        served
    }

    /// `child`, whose log level says nothing at start, once `port` takes
    /// a connection.
    pub fn ready_quietly(child: Child, port: u16) -> Served {
        let (served, _) = Served::reading(child, port);
        wait_until(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        served
    }

    /// `child` serving on `port`, each line of its stderr kept as it comes,
    /// and told when a line says it listens.
    fn reading(mut child: Child, port: u16) -> (Served, Receiver<()>) {
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (said, listening) = channel();
        let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let kept = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let ready = line.contains("listening on");
                kept.lock().unwrap().push(line);
                if ready {
                    let _ = said.send(());
                }
            }
        });
        let origin = format!("http://127.0.0.1:{port}");
        let served = Served {
            child: Some(child),
            resource: format!("{origin}/mcp"),
            origin,
            stderr,
        };
        (served, listening)
    }

    /// The front of a load balancer at `public` (`http://…/mcp`): requests
    /// go there, and no process is its own.
    pub fn front(public: &str) -> Served {
        let origin = public.trim_end_matches("/mcp").to_owned();
        Served {
            child: None,
            resource: public.to_owned(),
            origin,
            stderr: Arc::default(),
        }
    }

    /// `serve --account work --account home`, alice's two accounts each
    /// connected to `github` (credentials `gho_alice_work`, `gho_alice_home`):
    /// her workspace, and the server.
    pub fn with_two_accounts(
        issuer: &FakeIssuer,
        gateway: &FakeGateway,
        api: &FakeUpstream,
    ) -> (String, Served) {
        let alice = workspace_of(&issuer.url(), "alice");
        for (label, credential) in [("work", "gho_alice_work"), ("home", "gho_alice_home")] {
            let github = FakeProvider::oauth2(credential).api_base_url(&api.url());
            gateway.add_provider(&format!("{alice}:{label}"), "github", github);
        }
        let accounts = ["--account", "work", "--account", "home"];
        (alice, Served::start(gateway, issuer, &accounts))
    }

    /// `POST /mcp` of `body` with `headers`: the status, the headers, the JSON.
    pub fn post(
        &self,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> (u16, Vec<(String, String)>, Value) {
        let mut request = agent().post(&self.resource);
        request = request
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send(body.to_string()))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> (u16, Vec<(String, String)>, Value) {
        Served::get_url(&format!("{}{path}", self.origin))
    }

    /// `POST path` of `body`, as JSON.
    pub fn post_json(&self, path: &str, body: &str) -> (u16, Vec<(String, String)>, Value) {
        Served::post_url(&format!("{}{path}", self.origin), &[], body)
    }

    /// `POST url` of `body`, as JSON, with `headers`.
    pub fn post_url(
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<(String, String)>, Value) {
        Served::send_url("POST", url, headers, body)
    }

    /// `method url` with `headers` and `body` (JSON unless `headers` give
    /// its type; none when empty).
    pub fn send_url(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<(String, String)>, Value) {
        let mut request = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_empty() {
            return answer(agent().run(request.body(()).expect("a request")));
        }
        let typed = (headers.iter()).any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if !typed {
            request = request.header("Content-Type", "application/json");
        }
        answer(agent().run(request.body(body.to_owned()).expect("a request")))
    }

    /// `GET url`.
    pub fn get_url(url: &str) -> (u16, Vec<(String, String)>, Value) {
        answer(agent().get(url).call())
    }

    /// `POST path` (a query included) of a `list_providers` call, with `headers`.
    pub fn post_to(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, Value) {
        let body = call("list_providers", json!({}), "2026-07-28");
        let mut request = agent().post(format!("{}{path}", self.origin));
        request = request
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", "list_providers");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send(body.to_string()))
    }

    /// A `tools/call` of `name` with `arguments` on 2026-07-28, as `token`.
    pub fn call(&self, token: &str, name: &str, arguments: Value) -> (u16, Value) {
        let bearer = format!("Bearer {token}");
        let headers = [
            ("Authorization", bearer.as_str()),
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", name),
        ];
        let (status, _, body) = self.post(&headers, &call(name, arguments, "2026-07-28"));
        (status, body)
    }

    /// What stderr says once `ready` holds of it (each line is read as it
    /// comes: an event, under a deadline).
    pub fn said_once(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + OWED;
        loop {
            let said = self.said();
            if ready(&said) {
                return said;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "stderr never said it: {said}"
            );
            std::thread::yield_now();
        }
    }

    /// Every line the server wrote on stderr so far, joined.
    pub fn said(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a process of its own").id()
    }

    /// Waits for its exit.
    pub fn wait(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("a process of its own");
        child.wait().expect("the exit")
    }

    /// What the official Python client (`tests/clients/serve_oauth.py`)
    /// printed after logging in here and calling in `era`, with `api`'s
    /// `/user` the URL it fetches.
    pub fn reach(&self, api: &str, era: &str) -> Value {
        let python = std::env::var("NEXUS_MCP_PYTHON")
            .expect("needs the official MCP Python client: NEXUS_MCP_PYTHON");
        self.reach_with(&python, "serve_oauth.py", api, era, &[])
    }

    /// [`reach`](Self::reach), the script given `env` too.
    pub fn reach_with_env(&self, api: &str, era: &str, env: &[(&str, &str)]) -> Value {
        let python = std::env::var("NEXUS_MCP_PYTHON")
            .expect("needs the official MCP Python client: NEXUS_MCP_PYTHON");
        self.reach_with(&python, "serve_oauth.py", api, era, env)
    }

    /// What the official TypeScript v2 client (`tests/clients/serve_oauth_v2.mjs`)
    /// printed after logging in here and calling in `era`.
    pub fn reach_v2(&self, api: &str, era: &str) -> Value {
        self.reach_with("node", "serve_oauth_v2.mjs", api, era, &[])
    }

    /// [`reach_v2`](Self::reach_v2), the script given `env` too.
    pub fn reach_v2_with_env(&self, api: &str, era: &str, env: &[(&str, &str)]) -> Value {
        self.reach_with("node", "serve_oauth_v2.mjs", api, era, env)
    }

    /// What `script` (in `tests/clients/`), run by `program`, printed.
    fn reach_with(
        &self,
        program: &str,
        script: &str,
        api: &str,
        era: &str,
        env: &[(&str, &str)],
    ) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/clients")
            .join(script);
        let output = Command::new(program)
            .arg(script)
            .args([&self.resource, api])
            .env("NEXUS_MCP_ERA", era)
            .envs(env.iter().copied())
            .output()
            .expect("python runs");
        let (out, err) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        let said = self.said();
        assert!(
            output.status.success(),
            "{era}: the client failed:\n{out}\n{err}\n{said}"
        );
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `tools/call` request on `version`, its client said in `_meta`.
pub fn call(name: &str, arguments: Value, version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": name, "arguments": arguments,
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": {"name": "served-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }}})
}

/// An HTTP client that reads every status as an answer.
fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(OWED))
        .build();
    config.into()
}

fn answer(
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> (u16, Vec<(String, String)>, Value) {
    let mut response = sent.expect("an HTTP answer");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, json)
}

/// The value of header `name` in `headers`, if any.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    (headers.iter())
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The workspace `serve` derives for `subject` of `issuer` (no prefix):
/// the first 32 hex digits of SHA-256(issuer ‖ 0x00 ‖ subject).
pub fn workspace_of(issuer: &str, subject: &str) -> String {
    let digest = Sha256::new()
        .chain_update(issuer.as_bytes())
        .chain_update([0])
        .chain_update(subject.as_bytes())
        .finalize();
    digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..32]
        .to_owned()
}

/// A token from `issuer` for `subject`, for the served resource.
pub fn token(issuer: &FakeIssuer, served: &Served, subject: &str) -> String {
    issuer.mint(&FakeToken::new(subject).audience(&served.resource))
}

/// The connect page's login client, as a test registers it at the issuer.
pub const CLIENT: &str = "nexus-mcp-connect";

/// A cookie a browser keeps for the tests' one host (127.0.0.1, whatever
/// the port, as a browser keeps them: cookies know no port).
struct Kept {
    name: String,
    value: String,
    path: String,
}

/// A browser: no redirect followed, its cookies kept as a browser keeps
/// them (RFC 6265bis): sent to the paths they name; `Secure` ones only
/// from a secure origin (https, or a loopback host, as browsers count
/// one); a `__Host-` one only `Secure`, with `Path=/` and no `Domain`; a
/// form sent with its page's `Origin`.
/// The Fetch Metadata of a navigation the person starts outside any site.
pub const NAVIGATION: [(&str, &str); 4] = [
    ("Sec-Fetch-Site", "none"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-Dest", "document"),
    ("Sec-Fetch-User", "?1"),
];

pub struct Browser {
    agent: ureq::Agent,
    cookies: Vec<Kept>,
    /// Every `Set-Cookie` value received, as received.
    pub received: Vec<String>,
}

impl Browser {
    pub fn new() -> Browser {
        let config = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build();
        Browser {
            agent: config.into(),
            cookies: Vec::new(),
            received: Vec::new(),
        }
    }

    /// `GET url` as a navigation the person starts (a link a native host
    /// opens in the browser): the status, the `Location`, the page.
    pub fn open(&mut self, url: &str) -> (u16, Option<String>, String) {
        self.open_with(url, &NAVIGATION)
    }

    /// `GET url` with the Fetch Metadata `fetch` (none: a browser that
    /// sends none), as another site's page, frame or image asks it.
    pub fn open_with(
        &mut self,
        url: &str,
        fetch: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        let mut request = self.agent.get(url);
        for (name, value) in fetch {
            request = request.header(*name, *value);
        }
        if let Some(cookie) = self.cookie(url) {
            request = request.header("Cookie", cookie);
        }
        let answer = request.call().expect("an answer");
        self.read(url, answer)
    }

    /// The `Cookie` header a request to `url` carries.
    fn cookie(&self, url: &str) -> Option<String> {
        let path = url::Url::parse(url).map(|u| u.path().to_owned());
        let path = path.unwrap_or_else(|_| "/".into());
        let matches = |kept: &Kept| {
            path == kept.path
                || (path.starts_with(&kept.path)
                    && (kept.path.ends_with('/') || path[kept.path.len()..].starts_with('/')))
        };
        let pairs: Vec<String> = (self.cookies.iter().filter(|kept| matches(kept)))
            .map(|kept| format!("{}={}", kept.name, kept.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Keeps the cookie `set` (a `Set-Cookie` value) that `url` sent, as a
    /// browser would, or refuses it.
    fn keep(&mut self, url: &str, set: &str) {
        let url = url::Url::parse(url).expect("a URL");
        let secure_origin = url.scheme() == "https"
            || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || url.host_str() == Some("localhost");
        let mut parts = set.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let (mut secure, mut domain, mut path) = (false, false, None);
        for attribute in parts {
            let (key, given) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.to_ascii_lowercase().as_str() {
                "secure" => secure = true,
                "domain" => domain = true,
                "path" if given.starts_with('/') => path = Some(given.to_owned()),
                _ => {}
            }
        }
        let host_prefixed = name.starts_with("__Host-");
        if (secure && !secure_origin)
            || (host_prefixed && (!secure || domain || path.as_deref() != Some("/")))
            || (name.starts_with("__Secure-") && !secure)
        {
            return;
        }
        // The default path: the request's, up to its last slash.
        let path = path.unwrap_or_else(|| {
            let at = url.path().rfind('/').unwrap_or(0);
            if at == 0 {
                "/".into()
            } else {
                url.path()[..at].to_owned()
            }
        });
        self.cookies
            .retain(|kept| !(kept.name == name && kept.path == path));
        self.cookies.push(Kept {
            name: name.to_owned(),
            value: value.to_owned(),
            path,
        });
    }

    /// The cookie `set` as a page of a sibling host of the same site plants
    /// it (`Domain` naming the site, so that it would reach this host too):
    /// kept unless a browser refuses it, as it refuses every `__Host-` one.
    pub fn plant_from_sibling(&mut self, set: &str) {
        if set.trim_start().starts_with("__Host-") {
            return;
        }
        self.keep("http://127.0.0.1/", &format!("{set}; Domain=example.test"));
    }

    /// `answer`'s cookies kept; its status, `Location` and page.
    fn read(
        &mut self,
        url: &str,
        mut answer: ureq::http::Response<ureq::Body>,
    ) -> (u16, Option<String>, String) {
        for set in answer.headers().get_all("set-cookie").iter() {
            let set = set.to_str().unwrap_or_default();
            self.received.push(set.to_owned());
            self.keep(url, set);
        }
        let location = answer
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok());
        let location = location.map(str::to_owned);
        let page = answer.body_mut().read_to_string().unwrap_or_default();
        (answer.status().as_u16(), location, page)
    }

    /// `POST url` of `form` (urlencoded) from a page of `url`'s own origin,
    /// as a browser sends a form: the status, the `Location`, the page.
    pub fn submit(&mut self, url: &str, form: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let origin = url::Url::parse(url).expect("a URL").origin();
        self.submit_from(&origin.ascii_serialization(), url, form)
    }

    /// `POST url` of `form` from a page of `origin`.
    pub fn submit_from(
        &mut self,
        origin: &str,
        url: &str,
        form: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        let mut request = self.agent.post(url).header("Origin", origin);
        if let Some(cookie) = self.cookie(url) {
            request = request.header("Cookie", cookie);
        }
        let answer = request.send_form(form.iter().copied()).expect("an answer");
        self.read(url, answer)
    }

    /// The `Set-Cookie` values of the cookies kept, as a page that read
    /// them would plant them elsewhere (`name=value; Path=…`).
    pub fn cookies(&self) -> Vec<String> {
        (self.cookies.iter())
            .map(|kept| format!("{}={}; Path={}", kept.name, kept.value, kept.path))
            .collect()
    }

    /// Opens `link` as `person` logged in at `issuer`: the connect page's
    /// last answer (after the issuer's login and the callback).
    pub fn open_as(
        &mut self,
        issuer: &FakeIssuer,
        person: &str,
        link: &str,
    ) -> (u16, Option<String>, String) {
        issuer.approve_as(person);
        let (status, to_issuer, page) = self.open(link);
        assert_eq!(status, 303, "{page}");
        let (status, back, page) = self.open(&to_issuer.unwrap());
        assert_eq!(status, 302, "the issuer sends the browser back: {page}");
        self.open(&back.unwrap())
    }
}

/// A 2026-07-28 `authenticated_fetch` as `token`, its client declaring
/// `capabilities`, `extra` merged into its params, `headers` added.
pub fn call_asking(
    served: &Served,
    token: &str,
    capabilities: Value,
    extra: Value,
    more: &[(&str, &str)],
) -> Value {
    let mut body = call(
        "authenticated_fetch",
        json!({"provider": "github", "url": "http://127.0.0.1:9/user"}),
        "2026-07-28",
    );
    body["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] = capabilities;
    if let Some(extra) = extra.as_object() {
        for (k, v) in extra {
            body["params"][k] = v.clone();
        }
    }
    let bearer = format!("Bearer {token}");
    let mut headers = vec![
        ("Authorization", bearer.as_str()),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "authenticated_fetch"),
    ];
    headers.extend_from_slice(more);
    let (status, _, answer) = served.post(&headers, &body);
    assert_eq!(status, 200, "{answer}");
    answer
}

/// Waits until `ready` holds (an event), under the deadline every wait has.
pub fn wait_until(ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + OWED;
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "it never happened");
        std::thread::yield_now();
    }
}

/// A fake issuer, Gateway and API: `github` connected with `credential`
/// for each of `people` (their own workspaces), or, with none, for someone
/// else (so the Gateway lists it, and no one asking has it).
pub fn fakes(people: &[&str], credential: &str) -> (FakeIssuer, FakeGateway, FakeUpstream) {
    let issuer = FakeIssuer::start();
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let workspaces: Vec<String> = match people {
        [] => vec!["ws-other".to_owned()],
        _ => people
            .iter()
            .map(|p| workspace_of(&issuer.url(), p))
            .collect(),
    };
    for workspace in workspaces {
        let github = FakeProvider::oauth2(credential).api_base_url(&api.url());
        gateway.add_provider(&workspace, "github", github);
    }
    (issuer, gateway, api)
}

/// `serve --connect github` with its connect page (the login client
/// registered at `issuer`), sealing with the keys `keys` sets
/// (`NEXUS_MCP_STATE_KEY` or `NEXUS_MCP_STATE_KEYS`, and its value).
pub fn connect_replica(gateway: &FakeGateway, issuer: &FakeIssuer, keys: (&str, &str)) -> Served {
    let port = free_port();
    issuer.add_client(CLIENT, &format!("http://127.0.0.1:{port}/connect/callback"));
    let args = ["--connect", "github", "--login-client-id", CLIENT];
    let mut serve = command(gateway, &issuer.url(), port, &args);
    serve.env_remove("NEXUS_MCP_STATE_KEY").env(keys.0, keys.1);
    Served::ready(serve.spawn().unwrap(), port)
}

/// What a 2026-07-28 fetch of github at `url` answers `token`'s person who
/// has not connected it: the connect page's link, and the `requestState`.
pub fn link_and_state(served: &Served, token: &str, url: &str) -> (String, String) {
    let asks_url = json!({"elicitation": {"url": {}}});
    let extra = json!({"arguments": {"provider": "github", "url": url}});
    let asked = call_asking(served, token, asks_url, extra, &[]);
    let result = &asked["result"];
    let link = result["inputRequests"]["connect-github"]["params"]["url"].as_str();
    let link = link.unwrap_or_else(|| panic!("{asked}")).to_owned();
    (link, result["requestState"].as_str().unwrap().to_owned())
}

/// `state` retried at `served` by `token`'s person, who accepted: the
/// answer, as text.
pub fn retried(served: &Served, token: &str, state: &str, url: &str) -> String {
    let asks_url = json!({"elicitation": {"url": {}}});
    let retry = json!({
        "arguments": {"provider": "github", "url": url},
        "requestState": state,
        "inputResponses": {"connect-github": {"action": "accept"}},
    });
    call_asking(served, token, asks_url, retry, &[]).to_string()
}

/// That an official client's `summary` (of `Served::reach`) shows every
/// call answered, the fetch `HTTP 200`, and that `api` was called with the
/// person's own `credential`, which the client never saw.
pub fn answered_with(summary: &Value, api: &FakeUpstream, credential: &str) {
    let results = summary["results"].as_array().expect("results");
    assert!(results.iter().all(|r| r["is_error"] == false), "{summary}");
    let fetched = results[1]["text"].as_str().unwrap_or_default();
    assert!(fetched.starts_with("HTTP 200"), "{summary}");
    let sent = api.last_request().expect("the API was called");
    let bearer = format!("Bearer {credential}");
    assert_eq!(sent.header("authorization"), Some(bearer.as_str()));
    assert!(!summary.to_string().contains(credential), "{summary}");
}

/// A policy file holding `text`, in a directory of its own (gone with the
/// directory): the directory, and the file's path.
pub fn policy_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("team.cedar");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

/// libfaketime from the distribution (`NEXUS_FAKETIME`, installed by
/// `.ci/run`): `command`'s wall clock moved `by` (`+300d`), its monotonic
/// clock left.
pub fn moved_clock(command: &mut Command, by: &str) {
    let lib = std::env::var("NEXUS_FAKETIME")
        .unwrap_or_else(|_| "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1".into());
    assert!(
        std::path::Path::new(&lib).exists(),
        "needs libfaketime ({lib}): .ci/run installs it"
    );
    command
        .env("LD_PRELOAD", lib)
        .env("FAKETIME", by)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
}

/// `name`'s value in the exposition `serve --metrics-listen` answers at
/// `metrics`, if any.
pub fn series(metrics: &str, name: &str) -> Option<String> {
    let text = ureq::get(&format!("http://{metrics}/metrics"))
        .call()
        .ok()?;
    let text = text.into_body().read_to_string().ok()?;
    let line = text.lines().find(|l| l.split(' ').next() == Some(name))?;
    line.split(' ').nth(1).map(str::to_owned)
}

/// `nexus-mcp policy check` of a file holding `policy`: its exit code and
/// what it said on stderr.
pub fn policy_checked(policy: &str) -> (Option<i32>, String) {
    let (_dir, file) = policy_file(policy);
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
        .args(["policy", "check", &file])
        .output()
        .expect("nexus-mcp");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), said)
}
