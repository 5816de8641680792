//! A large body in the serve bench (`-- bodies`): what one
//! `authenticated_fetch` with an 8 MiB body of small JSON objects costs
//! the stdio server (`serve` takes 1 MiB at most) against the same call
//! with the same bytes as text ([`body`]): without a policy, with one that
//! reads no method (so neither is read for a `_method`), and with one that
//! reads it (each read; the JSON one as JSON). The CPU the process spent
//! on the call (`/proc/PID/stat`, in 10 ms ticks) and its peak resident
//! memory (`VmHWM`), each from a fresh process, the kinds turn by turn over
//! [`ROUNDS`] rounds; the medians and their ratio.

use std::process::Command;
use std::time::Duration;

use nexus_gateway_fake::FakeGateway;
use serde_json::json;

use super::{Stdio2025, status_kib};

/// The rounds each kind is measured in.
const ROUNDS: usize = 5;

/// The body's size.
const SIZE: usize = 8 << 20;

/// A policy that reads the path, never the method.
const PATHS_ONLY: &str = "permit (principal, action, resource);\nforbid (principal, action == \
                          Action::\"call\", resource) when { context.path like \"/admin/*\" };\n";

/// A policy that reads the method: each body is read for a `_method`.
const NO_DELETE: &str = "permit (principal, action, resource);\nforbid (principal, action == \
                         Action::\"call\", resource) when { context.method == \"DELETE\" };\n";

/// An 8 MiB body of small JSON objects in an array; or, as text, the same
/// bytes with each brace a parenthesis: no JSON, with the same escapes
/// inside the JSON-RPC message that carries it (a `"` costs the transport
/// two bytes and an unescape, whatever the body is).
fn body(json: bool) -> String {
    let mut text = String::with_capacity(SIZE + 64);
    text.push('[');
    let mut n = 0;
    while text.len() < SIZE {
        text += &format!("{{\"id\":{n},\"ok\":true}},");
        n += 1;
    }
    text.push_str("{}]");
    match json {
        true => text,
        false => text.replace('{', "(").replace('}', ")"),
    }
}

/// The CPU a process has spent, its threads' gone ones included (user and
/// system time in `/proc/PID/stat`, in the kernel's ticks of 10 ms).
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let field = |n: usize| -> u64 {
        let value = after_name.split_whitespace().nth(n);
        value.and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    // utime and stime, the 14th and 15th fields (the 12th and 13th after the name).
    Duration::from_millis((field(11) + field(12)) * 10)
}

/// One call with `body` to a fresh stdio server with `args` (`serve`
/// takes 1 MiB at most): the CPU the call took, and the process's peak
/// resident memory after it, in MiB.
fn one_call(gateway: &FakeGateway, url: &str, args: &[&str], body: &str) -> (f64, f64) {
    let mut stdio = Stdio2025::start_with(gateway, args);
    let pid = stdio.child.0.id();
    let mut call = |body: &str| {
        let arguments = json!({"provider": "github", "url": url, "method": "POST",
                               "body": body, "headers": {"Content-Type": "application/json"}});
        let answer = stdio.ask(
            "tools/call",
            json!({"name": "authenticated_fetch", "arguments": arguments}),
        );
        assert_eq!(answer["result"]["isError"], json!(false), "{answer:.300}");
    };
    // Warm: the credential cached by a small call.
    call("{}");
    let before = cpu(pid);
    call(body);
    let took = cpu(pid).saturating_sub(before);
    let peak = status_kib(pid, "VmHWM:") as f64 / 1024.0;
    (took.as_secs_f64() * 1e3, peak)
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The figures, printed.
pub fn bodies(gateway: &FakeGateway, url: &str) {
    let dir = tempfile::tempdir().expect("a directory");
    let written = |name: &str, text: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).expect("the policy file");
        file.to_str().expect("a path").to_owned()
    };
    let (paths, methods) = (
        written("paths.cedar", PATHS_ONLY),
        written("methods.cedar", NO_DELETE),
    );
    let (json, text) = (body(true), body(false));
    for (named, args) in [
        ("no policy", vec!["--allow-write"]),
        (
            "a policy reading no method",
            vec!["--allow-write", "--policy", &paths],
        ),
        (
            "a policy reading the method",
            vec!["--allow-write", "--policy", &methods],
        ),
    ] {
        let (mut cpus, mut peaks) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
        for _ in 0..ROUNDS {
            for (kind, body) in [&json, &text].into_iter().enumerate() {
                let (took, peak) = one_call(gateway, url, &args, body);
                cpus[kind].push(took);
                peaks[kind].push(peak);
            }
        }
        let [json_ms, text_ms] = cpus.map(median);
        let [json_peak, text_peak] = peaks.map(median);
        println!(
            "an 8 MiB body, {named}: CPU {json_ms:.0} ms for JSON objects against {text_ms:.0} ms \
             for the same bytes as text ({:.2}x, goal <= 1.2x); peak memory {json_peak:.0} MiB against \
             {text_peak:.0} MiB ({:.2}x, goal <= 1.2x); medians of {ROUNDS} fresh processes each",
            json_ms / text_ms,
            json_peak / text_peak
        );
    }
    instructions(gateway, url, (&json, &text));
}

/// With no policy, the server's instructions for one call with the 8 MiB
/// body of JSON objects against one with the same bytes as text, counted
/// by callgrind in a stdio server of each (its counts zeroed after a warm
/// call, dumped after the call): exact, where the CPU ticks above move
/// from run to run.
fn instructions(gateway: &FakeGateway, url: &str, (json, text): (&str, &str)) {
    use super::instructions::{control, dumped, kept, under_callgrind};
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("an 8 MiB body's instructions: skipped, needs valgrind");
        return;
    }
    let counted = |arm: &str, body: &str| {
        let dir = std::env::temp_dir().join(format!("nexus-cg-{}-{arm}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("its directory");
        let script = under_callgrind(env!("CARGO_BIN_EXE_nexus-mcp"), &dir);
        let program = script.to_str().expect("a path");
        let mut stdio = Stdio2025::program_with(program, gateway, &["--allow-write"]);
        let pid = stdio.child.0.id();
        let mut call = |body: &str| {
            let arguments = json!({"provider": "github", "url": url, "method": "POST",
                                   "body": body, "headers": {"Content-Type": "application/json"}});
            let call = json!({"name": "authenticated_fetch", "arguments": arguments});
            let answer = stdio.ask("tools/call", call);
            assert_eq!(answer["result"]["isError"], json!(false), "{answer:.300}");
        };
        call("{}");
        control("-z", pid);
        call(body);
        control("-d", pid);
        let counted = dumped(&dir);
        drop(stdio);
        kept(&dir, arm);
        counted
    };
    let (objects, as_text) = (counted("json", json), counted("text", text));
    println!(
        "an 8 MiB body, no policy, counted by callgrind: {objects} instructions for JSON objects \
         against {as_text} for the same bytes as text: {:.3}x (goal <= 1x; 0.13 measured 0.95x)",
        objects as f64 / as_text as f64
    );
}
