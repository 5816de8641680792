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
