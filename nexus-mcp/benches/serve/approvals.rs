//! An approved call's retry (`-- approvals`, #111, 2): a warm call a
//! policy asks (`@ask("self")` on a `DELETE`) approved on `serve`'s page by
//! its person, then made again: the time from the page's answer to the
//! retry's (the verdict taken and the call sent), over [`ROUNDS`] rounds,
//! each approval its own; its median and slowest.

use std::time::Instant;

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeToken};
use serde_json::{Value, json};

use super::served::{Browser, CLIENT, free_port, policy_file};
use super::{agent, request, serve_on};

/// The approvals timed.
const ROUNDS: usize = 20;

const POLICY: &str = "permit (principal, action == Action::\"call\", resource);\n@ask(\"self\")\n\
    forbid (principal, action == Action::\"call\", resource) when { context.method == \"DELETE\" };\n";

/// The figures, printed.
pub fn approvals(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    let (_dir, file) = policy_file(POLICY);
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let mcp = format!("{origin}/mcp");
    issuer.add_client(CLIENT, &format!("{origin}/connect/callback"));
    let args = [
        "--policy",
        file.as_str(),
        "--allow-write",
        "--login-client-id",
        CLIENT,
    ];
    let _served = serve_on(gateway, issuer, (port, &mcp), &args, "warn");
    let token = issuer.mint(&FakeToken::new("alice").audience(&mcp));
    let http = agent();
    let delete = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "authenticated_fetch", "arguments": {"provider": "github", "url": url, "method": "DELETE"},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    let answer = |body: &str| -> Value {
        let json = body
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap_or(body);
        serde_json::from_str(json).unwrap_or_default()
    };
    issuer.approve_as("alice");
    let mut took: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let asked = answer(&request(&http, &mcp, Some(&token), &delete).1);
            let said = asked["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default();
            let at = said.find("http://").expect("an approval link");
            let link = said[at..].split_whitespace().next().unwrap_or_default();
            let mut browser = Browser::new();
            let (_, to_issuer, _) = browser.open(link);
            let (_, back, _) = browser.open(&to_issuer.expect("to the issuer"));
            let (_, _, page) = browser.open(&back.expect("back"));
            let at = page.find("name=pending value=\"").expect("the form") + 20;
            let pending = page[at..].split('"').next().unwrap_or_default().to_owned();
            let form = [("pending", pending.as_str()), ("verdict", "approve")];
            let (status, _, _) = browser.submit(&format!("{origin}/approve"), &form);
            assert_eq!(status, 200, "approved");
            let approved = Instant::now();
            let again = answer(&request(&http, &mcp, Some(&token), &delete).1);
            assert_eq!(again["result"]["isError"], json!(false), "{again}");
            approved.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    took.sort_by(f64::total_cmp);
    println!(
        "an approved call's retry, from the approval page's answer to the call's: p50 {:.1} ms, \
         slowest {:.1} ms (goal within 50 ms), {ROUNDS} approvals",
        took[took.len() / 2],
        took[took.len() - 1]
    );
}
