//! `nexus-gateway-fake`: a fake Nexus Gateway and a fake provider API,
//! served until the process is stopped, for testing an MCP server, a CLI or
//! an SDK written in any language against it.
//!
//! ```text
//! nexus-gateway-fake [--host H] [--port P] [--workspace W] [--provider P] [--token T] [--seed FILE]
//! ```
//!
//! Prints `NEXUS_GATEWAY_URL=…` and `UPSTREAM_URL=…` on stdout, ready for
//! `eval` or a line-by-line read; everything else goes to stderr. At run
//! time the control API under `/_fake/` scripts it (see the README).

use std::ffi::OsString;
use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeUpstream, RateLimits};

const USAGE: &str = "usage: nexus-gateway-fake [--host H] [--port P] [--workspace W] \
                     [--provider P] [--token T] [--seed FILE] [--issuer] [--issuer-mints-for-anyone]
                     [--issuer-tenant TENANT] [--issuer-shape okta-org|google]
--issuer also serves a fake OAuth authorization server (ISSUER_URL): its metadata,
a JWKS, registration, /authorize (approving `alice`, or whom POST /_fake/approve
{\"sub\": …, \"claims\": {…}} names, their tokens carrying those claims, or refusing
as POST /_fake/refuse {\"error\": …, \"error_description\": …} says), /token, and POST /_fake/mint {\"sub\": …, \"aud\": …} for tokens;
POST /_fake/clients {\"client_id\": …, \"redirect_uri\": …, \"client_secret\"?: …} adds a client in every shape,
POST /_fake/groups-filter {\"starts_with\": …} sets Okta's app groups claim filter.
It mints tokens for anyone who reaches it: with a --host beyond loopback it starts
only when --issuer-mints-for-anyone says so. --issuer-tenant shapes it as Entra ID's
v2 endpoint for TENANT (ISSUER_URL ends /TENANT/v2.0; metadata only at the OpenID path),
--issuer-shape as Okta's org authorization server or Google's (loopback only too).
The Gateway's own variables set its rate limiter: RATE_LIMIT_ENABLED=true,
RATE_LIMIT_REQUEST_CONNECTION_RPM, RATE_LIMIT_CALLBACK_RPM, RATE_LIMIT_TOKEN_RPM,
RATE_LIMIT_RESOLVE_RPM (per minute; 0 or less: that route unlimited).";

/// What the command line asks for.
struct Options {
    host: String,
    port: u16,
    workspace: String,
    provider: String,
    token: String,
    seed: Option<String>,
    /// The flags given that set the provider a run without `--seed` serves.
    single: Vec<String>,
    /// `--issuer`: a fake authorization server too.
    issuer: bool,
    /// `--issuer-mints-for-anyone`: the issuer may listen beyond loopback.
    for_anyone: bool,
    /// `--issuer-tenant`: the issuer shaped as Entra ID's for this tenant.
    tenant: Option<String>,
    /// `--issuer-shape`: the issuer shaped as Okta's org server or Google's.
    shape: Option<String>,
}

/// The options, or a usage error that repeats no value it was given (one
/// may be the `--token`).
fn parse(args: impl Iterator<Item = OsString>) -> Result<Options, String> {
    let mut options = Options {
        host: "127.0.0.1".to_owned(),
        port: 0,
        workspace: "ws-demo".to_owned(),
        provider: "github".to_owned(),
        token: "gho_fake_token".to_owned(),
        seed: None,
        single: Vec::new(),
        issuer: false,
        for_anyone: false,
        tenant: None,
        shape: None,
    };
    let mut args = args.enumerate().map(|(at, arg)| {
        let at = at + 1;
        arg.into_string()
            .map_err(|_| format!("argument {at} is not valid UTF-8\n{USAGE}"))
    });
    while let Some(arg) = args.next() {
        let arg = arg?;
        let mut value = || {
            let missing = format!("{arg} needs a value\n{USAGE}");
            args.next().unwrap_or(Err(missing))
        };
        if matches!(arg.as_str(), "--workspace" | "--provider" | "--token") {
            options.single.push(arg.clone());
        }
        match arg.as_str() {
            "--host" => options.host = value()?,
            "--port" => {
                let port = value()?.parse();
                options.port =
                    port.map_err(|_| format!("--port is a number from 0 to 65535\n{USAGE}"))?;
            }
            "--workspace" => options.workspace = not_empty(&arg, value()?)?,
            "--provider" => options.provider = not_empty(&arg, value()?)?,
            "--token" => options.token = not_empty(&arg, value()?)?,
            "--seed" => options.seed = Some(value()?),
            "--issuer" => options.issuer = true,
            "--issuer-mints-for-anyone" => (options.issuer, options.for_anyone) = (true, true),
            "--issuer-tenant" => {
                (options.issuer, options.tenant) = (true, Some(not_empty(&arg, value()?)?))
            }
            "--issuer-shape" => match value()?.as_str() {
                shape @ ("okta-org" | "google") => {
                    (options.issuer, options.shape) = (true, Some(shape.to_owned()))
                }
                _ => return Err(format!("--issuer-shape is okta-org or google\n{USAGE}")),
            },
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ => return Err(format!("{}\n{USAGE}", unknown(&arg))),
        }
    }
    if (options.tenant.is_some() || options.shape.is_some()) && options.for_anyone {
        return Err(format!(
            "a shaped issuer (--issuer-tenant, --issuer-shape) listens on loopback only: drop \
             --issuer-mints-for-anyone\n{USAGE}"
        ));
    }
    if options.seed.is_some() && !options.single.is_empty() {
        return Err(format!(
            "{} set the one provider a run without --seed serves; with --seed, the seed names \
             workspaces, providers and tokens: drop {} or the seed\n{USAGE}",
            options.single.join(", "),
            if options.single.len() == 1 {
                "it"
            } else {
                "them"
            },
        ));
    }
    Ok(options)
}

/// `value` of `flag`, which serves nothing when empty.
fn not_empty(flag: &str, value: String) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err(format!("{flag} needs a value that is not empty\n{USAGE}"));
    }
    Ok(value)
}

/// What to say of an argument the program does not take: a flag by its
/// name; a file name (a path, or a `.json` name) by its name too, with
/// `--seed`; anything else (it may be a token) by its place only.
fn unknown(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./".contains(c);
    let plain = arg.len() <= 64 && arg.chars().all(plain);
    let flag = arg.starts_with('-') && !arg.contains(['.', '/']);
    let file = !arg.starts_with('-') && (arg.ends_with(".json") || arg.contains('/'));
    if plain && flag {
        format!("unknown flag `{arg}`")
    } else if plain && file {
        format!(
            "unexpected argument `{arg}`: this program takes flags only (a seed file is --seed {arg})"
        )
    } else {
        "unexpected argument (this program takes flags only)".to_owned()
    }
}

/// The Gateway and the upstream, set up and kept as the state
/// `POST /_fake/reset` returns to.
fn start(options: &Options, limits: RateLimits) -> Result<(FakeGateway, FakeUpstream), String> {
    let host = &options.host;
    // An IPv6 literal is bracketed in an address.
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let port = options.port;
    let gateway = FakeGateway::start_on(&format!("{host}:{port}"))
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let upstream = FakeUpstream::start_on(&format!("{host}:0"))
        .map_err(|e| format!("cannot listen on {host}: {e}"))?;
    gateway.set_upstream_url(&upstream.url());
    gateway.set_rate_limits(limits);
    match &options.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            let seed =
                serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))?;
            gateway.seed(&seed).map_err(|e| format!("{path}: {e}"))?;
        }
        // The provider's API is the upstream: the SDK's default credential
        // scope sends the token there and nowhere else.
        None => {
            let api = FakeProvider::oauth2(&options.token).api_base_url(&upstream.url());
            gateway.add_provider(&options.workspace, &options.provider, api);
        }
    }
    gateway.keep_as_start();
    Ok((gateway, upstream))
}

/// Whether the server at `url` listens on a loopback address only.
fn is_loopback(url: &str) -> bool {
    let host = url.trim_start_matches("http://");
    let host = host.rsplit_once(':').map_or(host, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn main() -> ExitCode {
    let parsed = parse(std::env::args_os().skip(1));
    let options = parsed.and_then(|options| Ok((options, RateLimits::from_env()?)));
    let (options, limits) = match options {
        Ok(options) => options,
        Err(message) => {
            eprintln!("nexus-gateway-fake: {message}");
            return ExitCode::from(2);
        }
    };
    for ignored in RateLimits::ignored_from_env() {
        eprintln!("nexus-gateway-fake: warning: {ignored}");
    }
    let (gateway, upstream) = match start(&options, limits) {
        Ok(started) => started,
        Err(message) => {
            eprintln!("nexus-gateway-fake: {message}");
            return ExitCode::FAILURE;
        }
    };
    if !is_loopback(&gateway.url()) {
        eprintln!(
            "nexus-gateway-fake: warning: listening beyond loopback ({}): anyone who reaches it \
             can read every request it recorded, X-API-Key headers included, and reseed it \
             through /_fake/",
            gateway.url()
        );
    }
    println!("NEXUS_GATEWAY_URL={}", gateway.url());
    println!("UPSTREAM_URL={}", upstream.url());
    // The issuer listens where the Gateway does, on a port of its own.
    let host = gateway.url().trim_start_matches("http://").to_owned();
    let host = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(host, _)| host);
    let address = format!("{host}:0");
    let issuer = options
        .issuer
        .then(|| match (&options.tenant, options.shape.as_deref()) {
            (Some(tenant), _) => FakeIssuer::start_entra_on(&address, tenant),
            (None, Some("google")) => FakeIssuer::start_google_on(&address),
            (None, Some(_)) => FakeIssuer::start_okta_org_on(&address),
            (None, None) if options.for_anyone => FakeIssuer::start_minting_for_anyone_on(&address),
            (None, None) => FakeIssuer::start_on(&address),
        });
    let issuer = match issuer.transpose() {
        Ok(issuer) => issuer,
        Err(e) => {
            eprintln!("nexus-gateway-fake: cannot start the issuer: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(issuer) = &issuer {
        println!("ISSUER_URL={}", issuer.url());
    }
    let _ = std::io::stdout().flush();
    eprintln!("nexus-gateway-fake: serving; control API under /_fake/; stop with Ctrl-C");
    loop {
        std::thread::park();
    }
}
