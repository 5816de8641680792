//! Every dependency line the README and the guides give resolves today.
//! The crates are not on crates.io: a line must name the repository the
//! manifest names (`git = …`) or a clone (`path = …`), never a version
//! alone. Each page's lines, as written, go into a project of their own
//! with the repository read as this workspace (the source a `git` line
//! would fetch), and Cargo resolves it offline: a misspelt package, a
//! feature it lacks or a table Cargo refuses fails here.
//!
//! The projects stay under `target/tmp/install-lines/`: CI's MSRV step
//! builds the README's with the Rust the README states, as a user adds it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A workspace package a line may name: its name and directory.
struct Member {
    name: String,
    dir: PathBuf,
}

/// The workspace's packages, and the repository its manifest names.
fn workspace() -> (Vec<Member>, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--offline",
            "--no-deps",
            "--format-version",
            "1",
        ])
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let members = packages
        .iter()
        .map(|p| Member {
            name: p["name"].as_str().unwrap().to_owned(),
            dir: Path::new(p["manifest_path"].as_str().unwrap())
                .parent()
                .unwrap()
                .to_owned(),
        })
        .collect();
    let root = packages.iter().find(|p| p["name"] == "nexus-gateway-sdk");
    let repository = root.unwrap()["repository"].as_str().unwrap().to_owned();
    (members, repository)
}

/// Every page a user may copy a line from: the READMEs and the guides.
fn pages(members: &[Member]) -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = members.iter().map(|m| m.dir.join("README.md")).collect();
    for entry in fs::read_dir(Path::new(ROOT).join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages.retain(|p| p.exists());
    pages.sort();
    pages
}

/// The page's dependency lines on workspace packages, each with the table
/// it is under: lines of its ```toml blocks, and `name = …` code spans in
/// its text (read as `[dependencies]`).
fn lines_of(page: &str, members: &[Member]) -> Vec<(String, String)> {
    let ours = |line: &str| {
        let key = line.split('=').next().unwrap_or("").trim();
        line.contains('=') && members.iter().any(|m| m.name == key)
    };
    let (mut found, mut table, mut in_toml, mut in_code) = (vec![], String::new(), false, false);
    for line in page.lines() {
        if line.starts_with("```") {
            in_toml = !in_code && line.trim() == "```toml";
            in_code = !in_code;
            continue;
        }
        if in_toml && line.starts_with('[') {
            table = line.split(']').next().unwrap_or("").to_owned() + "]";
        } else if in_toml && ours(line) {
            let line = line.split(" #").next().unwrap().trim();
            found.push((table.clone(), line.to_owned()));
        } else if !in_code {
            for span in line.split('`').skip(1).step_by(2).filter(|s| ours(s)) {
                found.push(("[dependencies]".into(), span.to_owned()));
            }
        }
    }
    found
}

/// `line` as this workspace resolves it: its `git` (which must be
/// `repository`) or `path` read as the package's directory here; `Err`
/// says why a user's Cargo could not resolve it.
fn resolvable(line: &str, members: &[Member], repository: &str) -> Result<String, String> {
    let (key, value) = line.split_once('=').unwrap();
    let member = members.iter().find(|m| m.name == key.trim()).unwrap();
    let here = format!("path = {:?}", member.dir.display().to_string());
    let quoted = |field: &str| {
        let start = value.find(&format!("{field} = \""))? + field.len() + 4;
        let end = value[start..].find('"')? + start;
        Some(value[start - 1..=end].to_owned())
    };
    if let Some(git) = quoted("git") {
        if git.trim_matches('"') != repository {
            return Err(format!(
                "{git} is not the repository the manifest names ({repository})"
            ));
        }
        return Ok(line.replacen(&format!("git = {git}"), &here, 1));
    }
    if let Some(path) = quoted("path") {
        return Ok(line.replacen(&format!("path = {path}"), &here, 1));
    }
    Err("the crates are not on crates.io: a version alone cannot resolve".into())
}

/// A project of the page's lines, resolved offline beside this
/// workspace's lockfile: `Err` with Cargo's words when it does not resolve.
fn resolve(name: &str, tables: &[(String, String)]) -> Result<(), String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("install-lines")
        .join(name);
    fs::create_dir_all(dir.join("src")).unwrap();
    let mut manifest = "[package]\nname = \"install-lines\"\nversion = \"0.0.0\"\n\
                        edition = \"2024\"\nrust-version = \"1.85\"\npublish = false\n"
        .to_owned();
    let mut last = "";
    for (table, line) in tables {
        if table != last {
            manifest += &format!("\n{table}\n");
            last = table;
        }
        manifest += &format!("{line}\n");
    }
    manifest += "\n[workspace]\n";
    fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    fs::write(
        dir.join("src/lib.rs"),
        "//! The README's lines, as a user adds them.\n",
    )
    .unwrap();
    fs::copy(Path::new(ROOT).join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--offline", "--format-version", "1"])
        .args(["--filter-platform", &host()])
        .current_dir(&dir)
        .output()
        .unwrap();
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

/// The target this machine builds for (`rustc -vV`): the platform whose
/// packages a resolve here downloads.
fn host() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().unwrap();
    let said = String::from_utf8(out.stdout).unwrap();
    let host = said.lines().find_map(|l| l.strip_prefix("host: "));
    host.unwrap().to_owned()
}

#[test]
fn every_dependency_line_in_the_docs_resolves_against_the_workspace() {
    let (members, repository) = workspace();
    if !members.iter().any(|m| m.name == "nexus-gateway-fake") {
        // A packaged crate, unpacked (CI tests it so): no workspace beside
        // it to resolve the guides' lines against. The repository's run
        // checks them.
        eprintln!("not in the repository's workspace: its lines are checked there");
        return;
    }
    let mut failed = vec![];
    let mut seen = 0;
    for page in pages(&members) {
        let shown = page.strip_prefix(ROOT).unwrap().display().to_string();
        let mut tables = vec![];
        for (table, line) in lines_of(&fs::read_to_string(&page).unwrap(), &members) {
            seen += 1;
            match resolvable(&line, &members, &repository) {
                Ok(here) => tables.push((table, here)),
                Err(why) => failed.push(format!("{shown}: `{line}`: {why}")),
            }
        }
        if tables.is_empty() {
            continue;
        }
        tables.sort();
        tables.dedup();
        let name = shown.trim_start_matches('/').replace('/', "-");
        if let Err(why) = resolve(&name, &tables) {
            failed.push(format!("{shown}: its lines do not resolve: {why}"));
        }
    }
    assert!(seen >= 8, "the pages' lines were found: {seen}");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn a_version_alone_a_foreign_repository_and_a_missing_feature_are_each_refused() {
    let (members, repository) = workspace();
    if !members.iter().any(|m| m.name == "nexus-gateway-fake") {
        return; // A packaged crate, unpacked: see above.
    }
    let bare = r#"nexus-gateway-sdk = "0.15""#;
    assert!(
        resolvable(bare, &members, &repository)
            .unwrap_err()
            .contains("crates.io")
    );
    let fork = r#"nexus-gateway-sdk = { git = "https://example.com/fork" }"#;
    assert!(resolvable(fork, &members, &repository).is_err());
    let page = format!(
        "```toml\n[dependencies]\nnexus-gateway-sdk = {{ git = \"{repository}\", features = [\"no-such\"] }}\n```\n"
    );
    let lines = lines_of(&page, &members);
    assert_eq!(lines.len(), 1);
    let here = resolvable(&lines[0].1, &members, &repository).unwrap();
    let why = resolve("refused-feature", &[(lines[0].0.clone(), here)]).unwrap_err();
    assert!(why.contains("no-such"), "{why}");
}
