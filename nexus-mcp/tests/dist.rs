//! The systemd unit under `dist/`, as systemd reads it: `systemd-analyze
//! verify` finds nothing wrong with it (its program the one built here),
//! and `systemd-analyze security` rates its exposure below 5 (of 10).

use std::path::Path;
use std::process::Command;

/// The unit, its program the one this test built, in a directory of its
/// own (removed when the directory is dropped).
fn unit_here() -> (tempfile::TempDir, std::path::PathBuf) {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/nexus-mcp.service");
    let text = std::fs::read_to_string(unit).expect("the unit");
    assert!(
        text.contains("ExecStartPre=/usr/local/bin/nexus-mcp serve --check"),
        "{text}"
    );
    assert!(
        text.contains("ExecReload=/bin/kill -HUP $MAINPID"),
        "{text}"
    );
    let text = text.replace("/usr/local/bin/nexus-mcp", env!("CARGO_BIN_EXE_nexus-mcp"));
    let dir = tempfile::Builder::new().prefix("nexus-mcp-unit-").tempdir();
    let dir = dir.expect("a directory");
    let path = dir.path().join("nexus-mcp.service");
    std::fs::write(&path, text).expect("the unit, written");
    (dir, path)
}

#[test]
#[ignore = "needs systemd-analyze (.ci/run installs systemd)"]
fn the_unit_verifies_and_its_exposure_is_below_five() {
    let (_dir, unit) = unit_here();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "{said}");
    assert!(
        !said.contains("nexus-mcp.service"),
        "a complaint about the unit: {said}"
    );
    let rated = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&rated.stdout);
    let overall = said
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for nexus-mcp.service:")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no overall exposure: {said}"));
    let level: f64 = overall.split_whitespace().next().unwrap().parse().unwrap();
    assert!(level < 5.0, "exposure {level}: {said}");
}
