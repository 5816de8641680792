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
    assert!(String::from_utf8_lossy(&chatty.stdout).contains("authenticated_fetch"));
}
