//! A warm call beside the physical limit (`-- nginx`): nginx's
//! `proxy_pass` of the same `GET /user` to the same fake upstream (one
//! worker, a static `Authorization` header, its connections to the
//! upstream kept alive) against a warm `authenticated_fetch` through
//! `serve`, each on one kept-alive connection of one client, in
//! [`ROUNDS`] rounds that alternate which goes first. In each round, each
//! call timed alone: the median and the 99th percentile; and the CPU the
//! server spent (every thread of `serve`, nginx's worker), to the
//! nanosecond. Each figure is the ratio formed inside a round; the median
//! of the rounds is said with their spread. Then the instructions a warm
//! call costs `serve` under callgrind, against 0.13.0's (measured, with
//! `NEXUS_MCP_BASELINE` naming its program; else the figure 0.13.0's
//! notes give). With `NEXUS_MCP_BASELINE`, also a cold call (a person's
//! first: the token's signature checked, the credential resolved) through
//! this build against that build, rounds alternating.

use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};

use super::instructions::{control, dumped, kept, per_call, under_callgrind};
use super::nginx::Nginx;
use super::served::workspace_of;
use super::traced::scheduled;
use super::{PER_ROUND, agent, call, call_2025, free_port, program_served, serve};

/// The rounds, and the calls each arm makes in one.
const ROUNDS: usize = 6;
const CALLS: usize = 1000;

/// 0.13.0's instructions a warm call (docs/performance.md), where no
/// build of it is named to count again.
const INSTRUCTIONS_0_13: u64 = 643_500;

/// 0.15.0's instructions a warm call (docs/performance.md, #112), which
/// #120 measures against.
const INSTRUCTIONS_0_15: u64 = 315_787;

/// What nginx adds to each call it passes: the credential, as `serve`'s
/// library call does.
const AUTHORIZATION: &str = "proxy_set_header Authorization \"Bearer gho_alice\";";

/// One arm of a round: each call's time, the server's CPU a call, and the
/// times a thread of the server was put on a CPU a call (its wake-ups).
struct Arm {
    median: Duration,
    p99: Duration,
    cpu: Duration,
    slices: f64,
}

/// `CALLS` calls made by `one`, on the process `pid`.
fn arm(pid: u32, mut one: impl FnMut()) -> Arm {
    let before = scheduled(pid);
    let mut took: Vec<Duration> = (0..CALLS)
        .map(|_| {
            let started = Instant::now();
            one();
            started.elapsed()
        })
        .collect();
    let after = scheduled(pid);
    took.sort();
    Arm {
        median: took[CALLS / 2],
        p99: took[CALLS * 99 / 100],
        cpu: Duration::from_nanos((after.0 - before.0) / CALLS as u64),
        slices: (after.1 - before.1) as f64 / CALLS as f64,
    }
}

/// The clients calling at once in [`at_once_beside`], and the calls each
/// makes.
const CLIENTS: usize = 8;
const EACH: usize = 500;

/// [`CLIENTS`] threads calling at once, each on a kept-alive connection of
/// its own, [`EACH`] calls made by `one`: the calls a second, and the CPU
/// the process `pid` spent a call.
fn at_once(pid: u32, one: &(dyn Fn(&ureq::Agent) + Sync)) -> (f64, Duration) {
    let (before, started) = (scheduled(pid).0, Instant::now());
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| {
                let http = agent();
                (0..EACH).for_each(|_| one(&http));
            });
        }
    });
    let (took, calls) = (started.elapsed(), (CLIENTS * EACH) as u64);
    let cpu = Duration::from_nanos((scheduled(pid).0 - before) / calls);
    (calls as f64 / took.as_secs_f64(), cpu)
}

/// Calls at once through serve (`pids[0]`, `ours`) and nginx (`pids[1]`,
/// `theirs`), twice each, alternating: the calls a second and the CPU a
/// call of each, as a line.
fn at_once_beside(
    pids: [u32; 2],
    ours: &(dyn Fn(&ureq::Agent) + Sync),
    theirs: &(dyn Fn(&ureq::Agent) + Sync),
) {
    let mut runs = Vec::new();
    for _ in 0..2 {
        runs.push((at_once(pids[0], ours), at_once(pids[1], theirs)));
    }
    let said: Vec<String> = (runs.iter())
        .map(|((ours, our_cpu), (theirs, their_cpu))| {
            format!(
                "serve {ours:.0}/s ({:.0} µs of CPU a call), nginx {theirs:.0}/s ({:.0} µs)",
                our_cpu.as_secs_f64() * 1e6,
                their_cpu.as_secs_f64() * 1e6
            )
        })
        .collect();
    println!(
        "{CLIENTS} clients calling at once, {EACH} calls each, twice: {}",
        said.join("; then ")
    );
}

/// The median of `ratios` and their spread, as a line's part.
fn said(mut ratios: Vec<f64>) -> String {
    ratios.sort_by(f64::total_cmp);
    let (low, high) = (ratios[0], ratios[ratios.len() - 1]);
    format!("{:.2}x ({low:.2}–{high:.2}x)", ratios[ratios.len() / 2])
}

pub(crate) fn beside_nginx(
    gateway: &FakeGateway,
    issuer: &FakeIssuer,
    api: &FakeUpstream,
    url: &str,
) {
    let upstream: u16 =
        (api.url().rsplit(':').next().and_then(|p| p.parse().ok())).expect("the upstream's port");
    let port = free_port();
    let nginx = Nginx::kept_alive(port, upstream, AUTHORIZATION);
    let limit = format!("http://127.0.0.1:{port}/user");
    let (served, mcp) = serve(gateway, issuer);
    let token = issuer.mint(&FakeToken::new("alice").audience(&mcp));
    let (http, pids) = (agent(), [served.0.id(), nginx.worker()]);
    let by_nginx = |http: &ureq::Agent| {
        let answered = http.get(&limit).call().expect("nginx answers");
        assert_eq!(answered.status(), 200, "nginx passes the call");
        drop(answered.into_body().read_to_vec());
    };
    let by_serve = |http: &ureq::Agent| assert!(call(http, &mcp, &token, url).contains("HTTP 200"));
    let (through_nginx, through_serve) = (|| by_nginx(&http), || by_serve(&http));
    (0..100).for_each(|_| (through_nginx(), through_serve()).1);
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let (ours, theirs) = if round % 2 == 0 {
            let ours = arm(pids[0], through_serve);
            (ours, arm(pids[1], through_nginx))
        } else {
            let theirs = arm(pids[1], through_nginx);
            (arm(pids[0], through_serve), theirs)
        };
        rounds.push((ours, theirs));
    }
    let ratio = |of: fn(&Arm) -> Duration| {
        let each = rounds
            .iter()
            .map(|(ours, theirs)| of(ours).as_secs_f64() / of(theirs).as_secs_f64());
        said(each.collect())
    };
    let range = |of: &dyn Fn(&Arm) -> f64, side: usize, unit: &str| {
        let mut each: Vec<f64> = (rounds.iter())
            .map(|pair| of([&pair.0, &pair.1][side]))
            .collect();
        each.sort_by(f64::total_cmp);
        format!("{:.1}–{:.1}{unit}", each[0], each[each.len() - 1])
    };
    let micros = |of: fn(&Arm) -> Duration, side: usize| {
        range(&|arm| of(arm).as_secs_f64() * 1e6, side, " µs")
    };
    println!(
        "a warm call through serve against nginx's proxy_pass of the same GET ({ROUNDS} \
         rounds of {CALLS}, the ratio formed in each round, its median and spread): median \
         {} (goal <= 2.0x; serve {}, nginx {}), p99 {} (goal <= 2.5x), server CPU a call {} \
         (goal <= 3.5x; serve {}, nginx {}); a server's threads put on a CPU a call: serve {}, \
         nginx {}",
        ratio(|a| a.median),
        micros(|a| a.median, 0),
        micros(|a| a.median, 1),
        ratio(|a| a.p99),
        ratio(|a| a.cpu),
        micros(|a| a.cpu, 0),
        micros(|a| a.cpu, 1),
        range(&|a| a.slices, 0, ""),
        range(&|a| a.slices, 1, ""),
    );
    at_once_beside(pids, &by_serve, &by_nginx);
    drop((served, nginx));
    instructions_against_0_13(gateway, issuer, url, upstream);
    cold_against_baseline(gateway, issuer, api);
}

/// A person's first call through this build against `NEXUS_MCP_BASELINE`'s,
/// each arm a new person a call, in rounds that alternate which goes
/// first: the ratio of each round's medians.
fn cold_against_baseline(gateway: &FakeGateway, issuer: &FakeIssuer, api: &FakeUpstream) {
    let Ok(baseline) = std::env::var("NEXUS_MCP_BASELINE") else {
        return;
    };
    let programs = [env!("CARGO_BIN_EXE_nexus-mcp"), baseline.as_str()];
    let served = programs.map(|program| {
        let port = free_port();
        let mcp = format!("http://127.0.0.1:{port}/mcp");
        (
            program_served(program, gateway, issuer, (port, &mcp), &[], "warn"),
            mcp,
        )
    });
    let (http, url) = (agent(), format!("{}/user", api.url()));
    let mut person = 0;
    let mut first = |mcp: &str| {
        person += 1;
        let who = format!("cold-{person}");
        let github = FakeProvider::oauth2(&format!("gho_{who}")).api_base_url(&api.url());
        gateway.add_provider(&workspace_of(&issuer.url(), &who), "github", github);
        let token = issuer.mint(&FakeToken::new(&who).audience(mcp));
        let started = Instant::now();
        assert!(call(&http, mcp, &token, &url).contains("HTTP 200"));
        started.elapsed()
    };
    let mut ratios = Vec::new();
    for round in 0..ROUNDS {
        let mut medians = [Duration::ZERO; 2];
        for arm in [round % 2, 1 - round % 2] {
            let mut took: Vec<Duration> = (0..50).map(|_| first(&served[arm].1)).collect();
            took.sort();
            medians[arm] = took[took.len() / 2];
        }
        ratios.push(medians[0].as_secs_f64() / medians[1].as_secs_f64());
    }
    println!(
        "a person's first call (the token's signature checked, the credential resolved) \
         through serve against {baseline}: {} (goal <= 1.0x)",
        said(ratios)
    );
}

/// The instructions of a warm call in `serve`, against 0.13.0's and
/// against nginx's for the same hop to `upstream`.
fn instructions_against_0_13(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str, upstream: u16) {
    if std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("instructions per call: skipped, needs valgrind (apt-get install valgrind)");
        return;
    }
    let fakes = (gateway, issuer, url);
    let ours = per_call(env!("CARGO_BIN_EXE_nexus-mcp"), fakes, None, ("ours", call));
    let (theirs, whose) = match std::env::var("NEXUS_MCP_BASELINE") {
        Ok(baseline) => (
            per_call(&baseline, fakes, None, ("baseline", call)),
            baseline,
        ),
        Err(_) => (INSTRUCTIONS_0_13, "0.13.0 (its notes)".to_owned()),
    };
    println!(
        "a warm call's instructions in serve: {ours}, {:.3}x {whose}'s {theirs} (goal <= 0.5x), \
         {:.3}x 0.15.0's {INSTRUCTIONS_0_15} (#120's goal <= 0.7x)",
        ours as f64 / theirs as f64,
        ours as f64 / INSTRUCTIONS_0_15 as f64
    );
    a_2025_call(fakes);
    let nginx = nginx_per_call(upstream);
    println!(
        "nginx's instructions a call of the same hop (its one process, under callgrind): \
         {nginx}; serve's {:.2}x",
        ours as f64 / nginx as f64
    );
}

/// A 2025-era call's instructions (MCP 2025-11-25, stateless: rmcp's
/// path), beside `NEXUS_MCP_BASELINE`'s for the same call when it names a
/// build.
fn a_2025_call(fakes: (&FakeGateway, &FakeIssuer, &str)) {
    let this = env!("CARGO_BIN_EXE_nexus-mcp");
    let ours = per_call(this, fakes, None, ("ours-2025", call_2025));
    let said = "a 2025-era call's instructions in serve (MCP 2025-11-25, stateless, rmcp's path)";
    match std::env::var("NEXUS_MCP_BASELINE") {
        Ok(baseline) => {
            let theirs = per_call(&baseline, fakes, None, ("baseline-2025", call_2025));
            println!(
                "{said}: {ours}, {:.3}x {baseline}'s {theirs} (#120's goal: no slower)",
                ours as f64 / theirs as f64
            );
        }
        Err(_) => println!(
            "{said}: {ours} (NEXUS_MCP_BASELINE=<0.15.0's nexus-mcp> counts that build's beside)"
        ),
    }
}

/// The instructions nginx spends a call passed to `upstream` (in one
/// process, no master, under callgrind; counted as `serve`'s are).
fn nginx_per_call(upstream: u16) -> u64 {
    let dir = std::env::temp_dir().join(format!("nexus-cg-{}-nginx", std::process::id()));
    std::fs::create_dir_all(&dir).expect("its directory");
    let script = under_callgrind(&Nginx::program(), &dir);
    let port = free_port();
    let nginx = Nginx::kept_alive_by(&script, port, upstream, AUTHORIZATION);
    let (http, url) = (agent(), format!("http://127.0.0.1:{port}/user"));
    let calls = |n| {
        for _ in 0..n {
            let answered = http.get(&url).call().expect("nginx answers");
            assert_eq!(answered.status(), 200, "nginx passes the call");
            drop(answered.into_body().read_to_vec());
        }
    };
    calls(PER_ROUND);
    control("-z", nginx.pid());
    calls(PER_ROUND);
    control("-d", nginx.pid());
    let counted = dumped(&dir);
    drop(nginx);
    kept(&dir, "nginx");
    counted / PER_ROUND as u64
}
