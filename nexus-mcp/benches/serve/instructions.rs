//! The server's instructions per warm call (`-- instructions`), counted by
//! callgrind: exact and repeatable whatever else the machine is doing,
//! where the CPU time of [`traced`](super::traced) moves by several per
//! cent from run to run on a small machine. Each arm's `serve` runs under
//! `valgrind --tool=callgrind`; after [`PER_ROUND`] warm calls its counts
//! are zeroed (`callgrind_control -z`), [`PER_ROUND`] calls are made, and
//! its counts are dumped (`callgrind_control -d`): every thread's
//! instructions over those calls, divided by their number. The traced arm
//! waits for an export after its warm calls before zeroing and after its
//! counted calls before dumping, so what it counts is its calls' spans
//! made and sent. Arms: tracing off, every call traced and sampled, and
//! with `NEXUS_MCP_BASELINE` that build (0.12.0's) with tracing off, which
//! both are set against.
//! Needs valgrind; without it, says so and counts nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeToken};

use super::traced::{sink, started};
use super::{Caller, PER_ROUND, agent, call};

/// `program` run under callgrind, its counts written in `dir`: the script
/// that runs it (the bench starts a program by its path).
pub(crate) fn under_callgrind(program: &str, dir: &Path) -> PathBuf {
    let script = dir.join("under-callgrind");
    let out = dir.join("callgrind.out");
    let text = format!(
        "#!/bin/sh\nexec valgrind -q --tool=callgrind --callgrind-out-file='{}' '{program}' \"$@\"\n",
        out.display()
    );
    std::fs::write(&script, text).expect("the script");
    let made = Command::new("chmod").arg("+x").arg(&script).status();
    assert!(made.is_ok_and(|s| s.success()), "chmod +x");
    script
}

/// `callgrind_control`'s `what` (`-z`, `-d`) on the process `pid`.
pub(crate) fn control(what: &str, pid: u32) {
    let done = Command::new("callgrind_control")
        .args([what, &pid.to_string()])
        .output()
        .expect("callgrind_control");
    assert!(done.status.success(), "callgrind_control {what}: {done:?}");
}

/// The instructions the dump in `dir` counted (its `totals:` line; each
/// thread's, summed, where callgrind wrote a file a thread).
pub(crate) fn dumped(dir: &Path) -> u64 {
    let files = std::fs::read_dir(dir).expect("its directory").flatten();
    let dumps = files.filter(|f| {
        f.file_name()
            .to_string_lossy()
            .starts_with("callgrind.out.1")
    });
    let totals = dumps.map(|dump| {
        let text = std::fs::read_to_string(dump.path()).expect("callgrind's dump");
        let total = text.lines().find_map(|l| l.strip_prefix("totals:"));
        total
            .and_then(|t| t.trim().parse::<u64>().ok())
            .expect("its totals")
    });
    totals.sum()
}

/// The dumps in `dir` moved to `NEXUS_MCP_PROFILE`'s directory (for
/// `callgrind_annotate`, by function), under `arm`'s name, or removed.
pub(crate) fn kept(dir: &Path, arm: &str) {
    if let Some(to) = std::env::var_os("NEXUS_MCP_PROFILE").map(PathBuf::from) {
        let _ = std::fs::remove_dir_all(to.join(arm));
        std::fs::create_dir_all(&to).expect("NEXUS_MCP_PROFILE's directory");
        std::fs::rename(dir, to.join(arm)).expect("the dumps moved");
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Until `taken` has moved past `seen` (an export after the calls).
fn an_export_after(taken: &AtomicUsize, seen: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while taken.load(Ordering::Relaxed) <= seen {
        assert!(Instant::now() < deadline, "no export came");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The instructions per warm call of `program`'s `serve`, traced to
/// `collector` when it is some, each call made by `caller`.
pub(crate) fn per_call(
    program: &str,
    (gateway, issuer, url): (&FakeGateway, &FakeIssuer, &str),
    collector: Option<(&str, &AtomicUsize)>,
    (arm, caller): (&str, Caller),
) -> u64 {
    let dir = std::env::temp_dir().join(format!("nexus-cg-{}-{arm}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("its directory");
    let script = under_callgrind(program, &dir);
    let endpoint = collector.map(|(endpoint, _)| endpoint);
    let server = started(script.to_str().expect("a path"), gateway, issuer, endpoint);
    let (http, pid) = (agent(), server.0.0.id());
    let token = issuer.mint(&FakeToken::new("alice").audience(&server.1));
    let calls = |n| {
        for _ in 0..n {
            let answer = caller(&http, &server.1, &token, url);
            assert!(answer.contains("HTTP 200"), "{arm}: a warm call: {answer}");
        }
    };
    calls(PER_ROUND);
    if let Some((_, taken)) = collector {
        an_export_after(taken, taken.load(Ordering::Relaxed));
    }
    control("-z", pid);
    calls(PER_ROUND);
    if let Some((_, taken)) = collector {
        an_export_after(taken, taken.load(Ordering::Relaxed));
    }
    control("-d", pid);
    let counted = dumped(&dir);
    drop(server);
    kept(&dir, arm);
    counted / PER_ROUND as u64
}

pub(crate) fn instructions(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("instructions per call: skipped, needs valgrind (apt-get install valgrind)");
        return;
    }
    let this = env!("CARGO_BIN_EXE_nexus-mcp");
    let fakes = (gateway, issuer, url);
    let off = per_call(this, fakes, None, ("off", call));
    println!("a warm call with tracing off: {off} instructions in the server");
    let (collector, taken) = sink();
    let sampled = per_call(this, fakes, Some((&collector, &taken)), ("sampled", call));
    println!(
        "a warm call with every call traced and sampled: {sampled} instructions, {:.3}x tracing \
         off's (tracing's own cost)",
        sampled as f64 / off as f64
    );
    if let Ok(baseline) = std::env::var("NEXUS_MCP_BASELINE") {
        let theirs = per_call(&baseline, fakes, None, ("baseline", call));
        println!(
            "a warm call with tracing off in {baseline}: {theirs} instructions; this build's with \
             tracing off {:.3}x (goal <= 1.01x), every call sampled {:.3}x (goal <= 1.05x)",
            off as f64 / theirs as f64,
            sampled as f64 / theirs as f64
        );
    }
}
