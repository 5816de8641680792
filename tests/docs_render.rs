//! The README and the guides work where they are read: on GitHub and
//! crates.io as well as in rustdoc. No link that only rustdoc resolves
//! (`crate::…`), and every table row belongs to a table.

const PAGES: [(&str, &str); 10] = [
    ("README.md", include_str!("../README.md")),
    ("docs/async.md", include_str!("../docs/async.md")),
    (
        "docs/build-and-cli.md",
        include_str!("../docs/build-and-cli.md"),
    ),
    ("docs/errors.md", include_str!("../docs/errors.md")),
    ("docs/guarantees.md", include_str!("../docs/guarantees.md")),
    ("docs/mcp-server.md", include_str!("../docs/mcp-server.md")),
    (
        "docs/own-http-client.md",
        include_str!("../docs/own-http-client.md"),
    ),
    (
        "docs/performance.md",
        include_str!("../docs/performance.md"),
    ),
    ("docs/python.md", include_str!("../docs/python.md")),
    ("docs/testing.md", include_str!("../docs/testing.md")),
];

#[test]
fn no_link_only_rustdoc_can_follow() {
    for (page, text) in PAGES {
        for (n, line) in text.lines().enumerate() {
            assert!(!line.contains("](crate::"), "{page}:{}: {line}", n + 1);
        }
    }
}

#[test]
fn every_table_row_follows_a_header_and_its_rule() {
    for (page, text) in PAGES {
        let lines: Vec<&str> = text.lines().collect();
        let mut in_code = false;
        for (n, line) in lines.iter().enumerate() {
            if line.starts_with("```") {
                in_code = !in_code;
            }
            if in_code || !line.starts_with('|') {
                continue;
            }
            let rule =
                |l: &&str| l.starts_with("|-") || l.starts_with("| -") || l.starts_with("|:");
            let header = lines.get(n + 1).is_some_and(rule);
            let in_table = n > 0 && lines[n - 1].starts_with('|');
            assert!(
                header || in_table,
                "{page}:{}: a row with no table above it (GitHub and docs.rs show it as text)",
                n + 1
            );
        }
    }
}

#[test]
fn the_manifest_names_the_repository_so_crates_io_resolves_relative_links() {
    let manifest = include_str!("../Cargo.toml");
    assert!(
        manifest
            .lines()
            .any(|l| l.starts_with("repository = \"https://")),
        "Cargo.toml has no repository key"
    );
}

#[test]
fn the_build_script_guide_reruns_on_every_variable_the_sdk_reads() {
    let guide = include_str!("../docs/build-and-cli.md");
    for name in [
        "NEXUS_GATEWAY_URL",
        "NEXUS_API_KEY",
        "NEXUS_CREDENTIAL_SCOPE",
        "NEXUS_ALLOWED_ORIGINS",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
    ] {
        assert!(
            guide.contains(&format!("\"{name}\"")),
            "{name} is not rerun on"
        );
    }
    assert!(guide.contains("cargo:rerun-if-env-changed={name}"));
    assert!(
        guide.contains("Without network"),
        "what a build does offline"
    );
    assert!(
        guide.contains("from_utf8_lossy(&body"),
        "the failed call's body is kept"
    );
}

/// The part of a page under the heading `heading`, up to the next one of
/// its level or higher.
fn section<'a>(page: &'a str, heading: &str) -> &'a str {
    let start = page.find(heading).unwrap_or_else(|| panic!("no {heading}"));
    let rest = &page[start + heading.len()..];
    let level = heading.split(' ').next().unwrap();
    let end = rest.find(&format!("\n{level} ")).unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn the_readme_names_every_variable_from_env_reads() {
    // tests/from_env.rs proves `from_env` reads each of VARIABLES.
    let said = section(include_str!("../README.md"), "## Configuration");
    for name in nexus_sdk::setting::VARIABLES {
        assert!(
            said.contains(&format!("`{name}`")),
            "README, Configuration: no {name}"
        );
    }
}

/// The Python guide's differences name the early renewal with the instant
/// the cache renews a 300 s token at (Python resolves at 270 s), read off
/// the cache on a test clock, and the expired credential said as such.
#[test]
fn the_python_guide_names_the_early_renewal_as_the_cache_does_it() {
    use nexus_gateway_fake::{FakeGateway, FakeProvider, Route, TestClock};
    use std::time::Duration;
    let gateway = FakeGateway::start();
    let clock = TestClock::new();
    gateway.use_clock(&clock);
    gateway.add_provider(
        "ws",
        "gh",
        FakeProvider::oauth2("tok")
            .rotating()
            .expires_in(Duration::from_secs(300)),
    );
    let cache = clock.token_cache(nexus_sdk::DEFAULT_BUFFER);
    let options = nexus_sdk::NexusClientOptions::new(gateway.url())
        .credential_scope(nexus_sdk::CredentialScope::anywhere());
    let client = nexus_sdk::NexusClient::new(options).unwrap();
    client.get_cached_token(&cache, "ws", "gh").unwrap();
    let mut second = 0;
    while gateway.requests(Route::Resolve) == 1 {
        clock.advance(Duration::from_secs(1));
        second += 1;
        client.get_cached_token(&cache, "ws", "gh").unwrap();
        assert!(second < 300, "never renewed");
    }
    let differences = section(
        include_str!("../docs/python.md"),
        "## Where the Rust SDK behaves differently",
    );
    let renewed = format!("A 300 s token is renewed from {second} s on");
    assert!(differences.contains(&renewed), "python.md: no `{renewed}`");
    assert!(
        differences.contains("at 270 s"),
        "python.md: Python's instant"
    );
    assert!(
        differences.contains("`token_expired`"),
        "python.md: the expired credential"
    );
}
