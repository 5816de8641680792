//! The echo scan (`FetchOptions::withhold_credential_echo`) on answers that
//! do not hold the credential, in the shapes real answers have, and on the
//! hostile bodies the red teams built to cost each decoder most.
//!
//! Measured through the public API: the same answer is fetched with the
//! scan and without it, turn by turn, and the scan's time is the
//! difference of the medians. Beside each figure, in the same run, its two
//! floors: a naive byte search of the same answer for the token
//! (`windows().any()`) and `memchr::memmem`. Two sizes show the scan is
//! linear (the last column: the 8 MiB time over the 1 MiB one, per MiB,
//! and memmem's in brackets: a pass over 8 MiB outgrows the caches). Last,
//! a third floor: one scalar pass a byte over the listing.
//! The target: at least 100 MB/s on every kind, in a release build, on
//! one core. Run with `cargo bench --bench echo`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeReply, FakeUpstream};
use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache};

const TOKEN: &str = "ghp_R2d9Kq7LmX4vT8sB1nZ6wY3cH5jF0aE";
const ROUNDS: usize = 5;

/// A reproducible stream of pseudo-random numbers (xorshift).
fn random(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// `text` repeated to `size` bytes.
fn filled(text: &str, size: usize) -> Vec<u8> {
    text.as_bytes().iter().copied().cycle().take(size).collect()
}

/// A page of GitHub's `GET /repos/{owner}/{repo}/commits`, as it writes it.
fn commit(next: &mut impl FnMut() -> u64, i: usize) -> String {
    let sha = format!("{:016x}{:016x}{:08x}", next(), next(), next() as u32);
    let signature: Vec<u8> = (0..420).map(|_| next() as u8).collect();
    let signature = STANDARD.encode(signature);
    let lines: Vec<&str> = (0..signature.len())
        .step_by(64)
        .map(|at| &signature[at..(at + 64).min(signature.len())])
        .collect();
    let api = "https://api.github.com";
    format!(
        r#"{{"sha":"{sha}","node_id":"C_kwDOAJy2KdoAKD{i:08}","commit":{{"author":{{"name":"Mona Lisa","email":"mona@github.com","date":"2026-11-{:02}T10:{:02}:00Z"}},"message":"Fix \"parser\" for escaped \\u00e9 input (#{i})\n\nCloses #{} — see docs/echo.md","tree":{{"sha":"{sha}","url":"{api}/repos/octocat/Hello-World/git/trees/{sha}"}},"url":"{api}/repos/octocat/Hello-World/git/commits/{sha}","comment_count":0,"verification":{{"verified":true,"reason":"valid","signature":"-----BEGIN PGP SIGNATURE-----\n\n{}\n=Ab3x\n-----END PGP SIGNATURE-----\n"}}}},"url":"{api}/repos/octocat/Hello-World/commits/{sha}","html_url":"https://github.com/octocat/Hello-World/commit/{sha}","author":{{"login":"octocat","id":583231,"avatar_url":"https://avatars.githubusercontent.com/u/583231?v=4","followers_url":"{api}/users/octocat/followers","following_url":"{api}/users/octocat/following{{/other_user}}","gists_url":"{api}/users/octocat/gists{{/gist_id}}","type":"User"}},"parents":[{{"sha":"{sha}","url":"{api}/repos/octocat/Hello-World/commits/{sha}"}}]}},"#,
        i % 28 + 1,
        i % 60,
        i + 7,
        lines.join("\\n")
    )
}

/// `bytes` as `xxd` prints them: the offset, eight groups of four hex
/// digits, and the text column.
fn xxd(bytes: &[u8]) -> Vec<u8> {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        out += &format!("{:08x}:", i * 16);
        for pair in line.chunks(2) {
            out += " ";
            out.extend(pair.iter().map(|b| format!("{b:02x}")));
        }
        let shown = line.iter().map(|&b| match b {
            0x20..=0x7e => char::from(b),
            _ => '.',
        });
        out += &" ".repeat(41 - (line.len() * 5).div_ceil(2));
        out.extend(shown);
        out += "\n";
    }
    out.into_bytes()
}

/// The kinds of answer, each about `size` bytes.
fn kinds(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let mut next = random(0x2545_F491_4F6C_DD1D);
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let alnum = (0..size).map(|_| letters[(next() % 62) as usize]).collect();
    let mut listing = String::from("[");
    while listing.len() < size {
        listing += &commit(&mut next, listing.len());
    }
    let listing = listing.into_bytes();
    // GitHub's contents API: a file's bytes as base64 in JSON, a line break
    // (`\n`) every 60 characters.
    let content = STANDARD.encode(&listing[..size * 3 / 4]);
    let lines: Vec<&str> = (0..content.len())
        .step_by(60)
        .map(|at| &content[at..(at + 60).min(content.len())])
        .collect();
    let contents = format!(
        r#"{{"name":"commits.json","encoding":"base64","content":"{}"}}"#,
        lines.join("\\n")
    );
    // An icon font's style sheet: CSS escapes of private-use characters.
    let icon = |i: usize| format!(".icon-{i}:before{{content:\"\\f{:03x}\"}}\n", i % 4096);
    let css: String = (0..size / 36).map(icon).collect();
    let eight = size;
    vec![
        ("letters and digits", alnum),
        ("JSON commit listing", listing.clone()),
        ("base64 inside JSON", contents.into_bytes()),
        ("xxd hex dump", xxd(&listing[..size * 10 / 41])),
        ("CSS escapes", css.into_bytes()),
        ("hostile: nested escapes", filled("\\u0025\\/%2525+", eight)),
        (
            "hostile: &# and digits",
            [b"&#".to_vec(), vec![b'7'; eight]].concat(),
        ),
        ("hostile: \\u005c", filled("\\u005c", eight)),
        ("hostile: CSS \\5c", filled("\\5c \\5c ", eight)),
        ("hostile: 1,1,1", filled("1,", eight)),
        (
            "hostile: prefix",
            filled(&format!("{} ", &TOKEN[..30]), eight),
        ),
    ]
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The median time of `work` over [`ROUNDS`] runs.
fn timed(mut work: impl FnMut()) -> Duration {
    median(
        (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                work();
                started.elapsed()
            })
            .collect(),
    )
}

fn mb_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / took.as_secs_f64().max(1e-9) / 1e6
}

fn main() {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let provider = FakeProvider::oauth2(TOKEN).api_base_url(&api.url());
    gateway.add_provider("ws", "p", provider);
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let cache = TokenCache::new();
    let url = format!("{}/answer", api.url());
    let fetch = |withhold: bool| {
        let options = FetchOptions::default().withhold_credential_echo(withhold);
        let started = Instant::now();
        let (_, _, body) = client
            .authenticated_fetch(&cache, "ws", "p", &url, options)
            .unwrap();
        (started.elapsed(), body.len())
    };
    println!(
        "\nthe echo scan on answers without the credential (median of {ROUNDS}, release build):"
    );
    println!(
        "  {:<24} {:>8} {:>9} {:>7} {:>13} {:>13} {:>16}",
        "kind", "size", "scan", "MB/s", "naive MB/s", "memmem MB/s", "8÷1 (memmem)"
    );
    let mut per_mib = std::collections::HashMap::new();
    let (mut slowest, mut listing) = (f64::INFINITY, Vec::new());
    for size in [1 << 20, 8 << 20] {
        for (kind, body) in kinds(size) {
            api.set_reply("/answer", FakeReply::new(200).body(body.clone()));
            if kind == "JSON commit listing" {
                listing.clone_from(&body);
            }
            let (mut with, mut without) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                // The order swapped every round: the machine's noise falls on both.
                let first = round % 2 == 0;
                let (a, len) = fetch(first);
                let (b, _) = fetch(!first);
                assert_eq!(len, body.len(), "{kind}: the answer came back whole");
                with.push(if first { a } else { b });
                without.push(if first { b } else { a });
            }
            let scan = median(with).saturating_sub(median(without));
            let naive = timed(|| {
                black_box(body.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
            });
            let memmem = timed(|| {
                black_box(memchr::memmem::find(&body, TOKEN.as_bytes()));
            });
            let mib = body.len() as f64 / f64::from(1 << 20);
            slowest = slowest.min(mb_per_s(body.len(), scan));
            // The scan's growth beside memmem's, in the same run: a pass
            // over 8 MiB and its decodings leaves the caches a 1 MiB one fits.
            let per = [scan, memmem].map(|took| took.as_secs_f64() / mib);
            let growth = match per_mib.insert(kind, per) {
                // Below the noise of the two medians, no ratio can be told.
                Some([small, floor]) if small > 0.0 => format!(
                    "{:.1}× ({:.1}×)",
                    per[0] / small * 8.0,
                    per[1] / floor * 8.0
                ),
                Some(_) => "noise".to_owned(),
                None => String::new(),
            };
            println!(
                "  {kind:<24} {mib:>4.1} MiB {:>6.1} ms {:>7.0} {:>13.0} {:>13.0} {growth:>16}",
                scan.as_secs_f64() * 1e3,
                mb_per_s(body.len(), scan),
                mb_per_s(body.len(), naive),
                mb_per_s(body.len(), memmem),
            );
        }
    }
    looks(slowest);
    one_pass(&listing);
}

/// What one scalar pass over a text costs, the least each of the scan's
/// readers that visit every byte does (base64's view, the runs of numbers):
/// a table lookup a byte, carried from byte to byte, on the largest listing.
/// The scan makes several such passes over each text it reads, and its texts
/// add up to 2.7–7.9 times the body.
fn one_pass(listing: &[u8]) {
    let table: [u32; 256] = std::array::from_fn(|b| u32::from((b as u8).is_ascii_hexdigit()));
    let took = timed(|| {
        let run = |(run, best): (u32, u32), b: &u8| {
            let run = (run + 1) * table[usize::from(*b)];
            (run, best.max(run))
        };
        black_box(black_box(listing).iter().fold((0, 0), run));
    });
    println!(
        "one scalar pass, a table lookup a byte (the floor of a reader that visits every \
         byte): {:.0} MB/s",
        mb_per_s(listing.len(), took)
    );
}

/// What the scan's looks at the clock cost, at most: one look per 64 KiB of
/// work, and at most 80 bytes of work per byte of the body (the texts it
/// looks in, at most 8 times the body, counted by a test in `src/echo.rs`,
/// each read by about ten passes), at the slowest kind's speed.
fn looks(slowest_mb_per_s: f64) {
    const CALLS: u32 = 1_000_000;
    let started = Instant::now();
    for _ in 0..CALLS {
        black_box(Instant::now());
    }
    let look = started.elapsed().as_secs_f64() / f64::from(CALLS);
    let per_mib = 80.0 * f64::from(1 << 20) / 65536.0;
    let scan_per_mib = f64::from(1 << 20) / (slowest_mb_per_s * 1e6);
    println!(
        "the clock: a look costs {:.0} ns; at most {per_mib:.0} looks a MiB, {:.3} % of the \
         slowest kind's scan time (goal <= 3 %)",
        look * 1e9,
        100.0 * per_mib * look / scan_per_mib
    );
}
