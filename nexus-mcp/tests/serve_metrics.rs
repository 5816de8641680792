//! `serve --metrics-listen`: what `serve` does, counted, read by a real
//! Prometheus (Debian's package, installed by `.ci/run`) that scrapes it,
//! through Prometheus's own query API.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::served::{Served, free_port, token, workspace_of};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::{Value, json};

/// A Prometheus scraping `target` every second; stopped when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let program =
            std::env::var("NEXUS_PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".to_owned());
        assert!(
            Path::new(&program).exists(),
            "needs Prometheus ({program}): `.ci/run` installs it"
        );
        let port = free_port();
        let held = tempfile::Builder::new()
            .prefix("nexus-mcp-prometheus-")
            .tempdir();
        let held = held.expect("a directory for Prometheus");
        let dir = held.path();
        let config = dir.join("prometheus.yml");
        let scrape = format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: nexus-mcp\n    \
             static_configs:\n      - targets: [\"{target}\"]\n"
        );
        std::fs::write(&config, scrape).expect("prometheus.yml");
        let child = Command::new(program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Prometheus starts");
        let url = format!("http://127.0.0.1:{port}");
        Prometheus {
            child,
            url,
            _dir: held,
        }
    }

    /// The series `query` selects, once Prometheus has scraped one
    /// (bounded: an event, not a sleep).
    fn series(&self, query: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let asked = ureq::get(format!("{}/api/v1/query", self.url))
                .query("query", query)
                .call();
            if let Ok(mut answer) = asked {
                let text = answer.body_mut().read_to_string().unwrap_or_default();
                let body: Value = serde_json::from_str(&text).unwrap_or_default();
                let found = body["data"]["result"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if !found.is_empty() {
                    return found;
                }
            }
            assert!(Instant::now() < deadline, "Prometheus never had {query}");
            std::thread::yield_now();
        }
    }

    /// The value of the one series `query` selects.
    fn value(&self, query: &str) -> f64 {
        let found = self.series(query);
        assert_eq!(found.len(), 1, "{query}: {found:?}");
        found[0]["value"][1].as_str().unwrap().parse().unwrap()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs Prometheus (.ci/run installs Debian's package)"]
fn a_real_prometheus_scrapes_the_calls_the_refusals_and_the_issuer() {
    let issuer = FakeIssuer::start();
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_alice").api_base_url(&api.url());
    gateway.add_provider(&workspace_of(&issuer.url(), "alice"), "github", github);
    let metrics = format!("127.0.0.1:{}", free_port());
    let served = Served::start(&gateway, &issuer, &["--metrics-listen", &metrics]);
    let alice = token(&issuer, &served, "alice");
    let fetch = |url: String| json!({"provider": "github", "url": url});
    let (_, fine) = served.call(
        &alice,
        "authenticated_fetch",
        fetch(format!("{}/user", api.url())),
    );
    assert_eq!(fine["result"]["isError"], false, "{fine}");
    let elsewhere = fetch("https://elsewhere.example.com/user".to_owned());
    let (_, refused) = served.call(&alice, "authenticated_fetch", elsewhere);
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    served.call(&alice, "list_providers", json!({}));
    let stranger = issuer.mint(&FakeToken::new("alice").audience("https://other.example.com/mcp"));
    assert_eq!(served.call(&stranger, "list_providers", json!({})).0, 401);

    // Its own exposition first, as the scraper reads it.
    let (status, _, text) = Served::get_url(&format!("http://{metrics}/metrics"));
    let text = text.as_str().unwrap_or_default().to_owned();
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("# TYPE mcp_server_operation_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        !text.contains("gho_alice") && !text.contains(&alice),
        "{text}"
    );

    let prometheus = Prometheus::start(&metrics);
    let call = "mcp_server_operation_duration_seconds_count{mcp_method_name=\"tools/call\"";
    let ok = format!("{call},gen_ai_tool_name=\"authenticated_fetch\",error_type=\"\"}}");
    assert_eq!(prometheus.value(&ok), 1.0);
    let failed = format!("{call},gen_ai_tool_name=\"authenticated_fetch\",error_type!=\"\"}}");
    let failed = prometheus.series(&failed);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let code = failed[0]["metric"]["error_type"].as_str().unwrap();
    assert!(
        refused.to_string().contains(code),
        "the tool error's code: {code} {refused}"
    );
    let listed = format!("{call},gen_ai_tool_name=\"list_providers\",error_type=\"\"}}");
    assert_eq!(prometheus.value(&listed), 1.0);
    assert_eq!(
        prometheus.value("nexus_mcp_refusals_total{reason=\"invalid_token\"}"),
        1.0
    );
    let keys = "nexus_mcp_issuer_fetches_total{kind=\"keys\",outcome=\"ok\"}";
    assert!(prometheus.value(keys) >= 1.0);
    let listed = "nexus_mcp_gateway_calls_total{route=\"providers\",outcome=\"ok\"}";
    assert!(prometheus.value(listed) >= 1.0);
    assert_eq!(
        prometheus.value("nexus_mcp_gateway_calls_total{route=\"resolve\",outcome=\"ok\"}"),
        1.0
    );
}
