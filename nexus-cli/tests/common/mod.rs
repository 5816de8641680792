//! What the tests of the built `nexus` share: the binary pointed at a fake
//! Gateway with a provider of every strategy, and a run's status and streams.

#![allow(dead_code)] // each test file uses its own part

use std::io::Write;
use std::process::{Command, Output, Stdio};

use nexus_gateway_fake::{FakeGateway, FakeProvider};

pub const API_KEY: &str = "nx_live_cli_secret";

/// `nexus` against `gateway`, with the api key in the environment, no
/// scope variables, and stdin closed.
pub fn nexus(gateway: &FakeGateway) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexus"));
    command
        .env("NEXUS_GATEWAY_URL", gateway.url())
        .env("NEXUS_API_KEY", API_KEY)
        .env_remove("NEXUS_CREDENTIAL_SCOPE")
        .env_remove("NEXUS_ALLOWED_ORIGINS")
        .stdin(Stdio::null());
    command
}

/// The exit status, stdout and stderr of `command`.
pub fn run(command: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (status.code().unwrap_or(-1), text(stdout), text(stderr))
}

/// `git-credential get` for `provider` in workspace `ws`, with `args`
/// added, asked `input`.
pub fn git_get(
    gateway: &FakeGateway,
    provider: &str,
    args: &[&str],
    input: &str,
) -> (i32, String, String) {
    let mut command = nexus(gateway);
    let asked = [
        "git-credential",
        "--workspace",
        "ws",
        "--provider",
        provider,
    ];
    command.args(asked).args(args).arg("get");
    run_with_input(&mut command, input)
}

/// `command` run with `input` on its stdin.
pub fn run_with_input(command: &mut Command, input: &str) -> (i32, String, String) {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (
        output.status.code().unwrap_or(-1),
        text(output.stdout),
        text(output.stderr),
    )
}

/// A fake Gateway with workspace `ws` holding a provider of every strategy;
/// GitHub's API is listed at `https://api.github.com`.
pub fn gateway() -> FakeGateway {
    let gateway = FakeGateway::start();
    let github = FakeProvider::oauth2("gho_cli").api_base_url("https://api.github.com");
    gateway.add_provider("ws", "github", github);
    gateway.add_provider(
        "ws",
        "stripe",
        FakeProvider::header("X-Api-Key", None, "sk_cli"),
    );
    gateway.add_provider("ws", "jira", FakeProvider::basic_auth("ann", "pw:cli"));
    gateway.add_provider("ws", "maps", FakeProvider::query_param("key", "qk_cli"));
    gateway.add_provider(
        "ws",
        "s3",
        FakeProvider::aws_sigv4("AKIDCLI", "aws_secret_cli", "eu-west-1", "s3"),
    );
    gateway.add_provider(
        "ws",
        "hook",
        FakeProvider::hmac_payload("X-Sig", "hmac_cli"),
    );
    gateway
}
