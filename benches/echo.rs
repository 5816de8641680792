//! The echo scan (`FetchOptions::withhold_credential_echo`) on answers that
//! do not hold the credential, in the shapes real answers have: a hex dump,
//! base64 wrapped at 76, random letters and digits, and a JSON commit
//! listing with escapes in it.
//!
//! Measured by hand through the public API: the same answer is fetched
//! with the scan and without it, turn by turn, and the scan's time is the
//! difference of the medians. Beside it, in the same run, a plain byte
//! search of the same answer for the token (`windows().any()`), the
//! baseline the scan's cost is told against. Two sizes show the scan is
//! linear in the answer. Run with `cargo bench --bench echo`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeReply, FakeUpstream};
use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache};

const TOKEN: &str = "ghp_R2d9Kq7LmX4vT8sB1nZ6wY3cH5jF0aE";
const ROUNDS: usize = 7;

/// A reproducible stream of pseudo-random numbers (xorshift).
fn random(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// The four shapes, each of about `size` bytes.
fn shapes(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let mut next = random(0x2545_F491_4F6C_DD1D);
    let bytes: Vec<u8> = (0..size).map(|_| next() as u8).collect();
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let alnum = (0..size).map(|_| letters[(next() % 62) as usize]).collect();
    let dump = bytes[..size / 4]
        .chunks(16)
        .enumerate()
        .flat_map(|(i, line)| {
            let hex: String = line.iter().map(|b| format!("{b:02x} ")).collect();
            format!("{:08x}  {hex} |................|\n", i * 16).into_bytes()
        });
    let encoded = STANDARD.encode(&bytes[..size * 3 / 4]);
    let wrapped = encoded
        .as_bytes()
        .chunks(76)
        .flat_map(|l| [l, b"\n"].concat());
    let commits = (0..size / 160).flat_map(|i| {
        format!(
            "{{\"sha\":\"{:040x}\",\"message\":\"fix \\\"parser\\\" #{i}\\n\\nsee \\u00e9\"}},\n",
            u128::from(next())
        )
        .into_bytes()
    });
    vec![
        ("hex dump", dump.collect()),
        ("base64, wrapped", wrapped.collect()),
        ("letters and digits", alnum),
        ("JSON commit listing", commits.collect()),
    ]
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
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
        "  {:<20} {:>8} {:>10} {:>10} {:>12}",
        "shape", "size", "scan", "MB/s", "× plain search"
    );
    for size in [1 << 20, 8 << 20] {
        for (shape, body) in shapes(size) {
            api.set_reply("/answer", FakeReply::new(200).body(body.clone()));
            let (mut with, mut without, mut plain) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                // The order swapped every round: the machine's noise falls on both.
                let (first, second) = if round % 2 == 0 {
                    (true, false)
                } else {
                    (false, true)
                };
                let (a, len) = fetch(first);
                let (b, _) = fetch(second);
                assert_eq!(len, body.len(), "{shape}: the answer came back whole");
                with.push(if first { a } else { b });
                without.push(if first { b } else { a });
                let started = Instant::now();
                black_box(body.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
                plain.push(started.elapsed());
            }
            let scan = median(with).saturating_sub(median(without));
            let plain = median(plain);
            let rate = body.len() as f64 / scan.as_secs_f64().max(1e-9) / 1e6;
            println!(
                "  {shape:<20} {:>4.1} MiB {:>8.1} ms {rate:>10.0} {:>12.1}",
                body.len() as f64 / f64::from(1 << 20),
                scan.as_secs_f64() * 1e3,
                scan.as_secs_f64() / plain.as_secs_f64().max(1e-9),
            );
        }
    }
}
