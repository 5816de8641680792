//! The library writes nothing to stdout or stderr: the quickstart's flows run
//! in a child process in `--silent` mode, where the example itself prints
//! nothing, so anything on either stream came from the library.

mod common;

use std::process::Command;

#[test]
fn the_library_writes_nothing_to_stdout_or_stderr() {
    let output = Command::new(common::example_binary("quickstart"))
        .arg("--silent")
        .env_remove("NEXUS_GATEWAY_URL")
        // Every log line the library could make, were a logger installed: none is.
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run the quickstart");
    assert!(
        output.status.success(),
        "the flows failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "", "stdout");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "stderr");

    // And the same binary does print when asked to: the check can fail.
    let chatty = Command::new(common::example_binary("quickstart"))
        .env_remove("NEXUS_GATEWAY_URL")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&chatty.stdout);
    assert!(said.contains("authenticated_fetch"));
    // It counts its Gateway calls right: every route it called, the default
    // scope's provider listing included, adds up to the total it reports.
    let line = said
        .lines()
        .find(|l| l.starts_with("Gateway API calls made: "))
        .unwrap();
    let (total, routes) = line["Gateway API calls made: ".len()..]
        .split_once(" (")
        .unwrap();
    let counts = routes.trim_end_matches(')').split(", ");
    let listed: usize = counts
        .map(|c| c.rsplit(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(total.parse::<usize>().unwrap(), listed, "{line}");
    assert!(
        line.contains("providers-metadata 1") && line.contains("resolve 1"),
        "{line}"
    );
}
