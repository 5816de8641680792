//! The program's variables as the library's reader reads them (a value
//! that is not UTF-8 refused, naming it), and each secret's `_FILE` twin:
//! a secret's value may come from the file it names instead, as secrets are
//! mounted.

use nexus_sdk::setting;

use crate::answer;
use crate::state::{KEY_VARIABLE, KEYS_VARIABLE};

/// The variable `name` (a secret's value from its `_FILE` twin's file when
/// that is set; both set is refused), or why it cannot be read.
pub(crate) fn try_var(name: &'static str) -> Result<Option<String>, String> {
    Ok(try_var_from(name)?.map(|(_, value)| value))
}

/// The variable `name` as [`try_var`] reads it, and the variable it came
/// from: `name`, or its `_FILE` twin.
pub(crate) fn try_var_from(name: &'static str) -> Result<Option<(&'static str, String)>, String> {
    let read = |name| setting::var(name).map_err(|e| answer::said(&e));
    let twin = SECRET_FILES.iter().find(|(secret, _)| *secret == name);
    let path = match twin {
        Some((_, file)) => read(file)?.map(|path| (*file, path)),
        None => None,
    };
    match path {
        Some(path) => {
            let from = path.0;
            let text = secret_from_file(name, path, read(name)?.is_some())?;
            Ok(text.map(|text| (from, text)))
        }
        None => Ok(read(name)?.map(|value| (name, value))),
    }
}

/// Each secret variable and its `_FILE` twin.
const SECRET_FILES: [(&str, &str); 9] = [
    ("NEXUS_API_KEY", "NEXUS_API_KEY_FILE"),
    (KEY_VARIABLE, "NEXUS_MCP_STATE_KEY_FILE"),
    (KEYS_VARIABLE, "NEXUS_MCP_STATE_KEYS_FILE"),
    (LOGIN_SECRET_VARIABLE, "NEXUS_MCP_LOGIN_CLIENT_SECRET_FILE"),
    (
        INTROSPECTION_SECRET_VARIABLE,
        "NEXUS_MCP_INTROSPECTION_CLIENT_SECRET_FILE",
    ),
    (STORE_VARIABLE, "NEXUS_MCP_STORE_FILE"),
    (STORE_PASSWORD_VARIABLE, "NEXUS_MCP_STORE_PASSWORD_FILE"),
    (SSF_TOKEN_VARIABLE, "NEXUS_MCP_SSF_TOKEN_FILE"),
    // A collector's key rides in a header (OpenTelemetry's own variable).
    (
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS_FILE",
    ),
];

/// The secret `name` read from the file `(twin, path)` names, one trailing
/// line break trimmed; refused when `name` is set too (`both`), or when the
/// file cannot be read (the path named, never its content).
fn secret_from_file(
    name: &str,
    (twin, path): (&str, String),
    both: bool,
) -> Result<Option<String>, String> {
    if both {
        return Err(format!("{name} and {twin} are both set: set one"));
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("{twin}: cannot read {path}: {e}"))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(Some(text.strip_suffix('\r').unwrap_or(text).to_owned()))
}

/// The variable that gives the connect page's client secret at the issuer.
pub(crate) const LOGIN_SECRET_VARIABLE: &str = "NEXUS_MCP_LOGIN_CLIENT_SECRET";

/// The variable that gives the introspection client's secret at the issuer.
pub(crate) const INTROSPECTION_SECRET_VARIABLE: &str = "NEXUS_MCP_INTROSPECTION_CLIENT_SECRET";

/// The variable that gives `serve --store`'s URL, which may hold a password.
pub(crate) const STORE_VARIABLE: &str = "NEXUS_MCP_STORE";

/// The variable that gives the password of `serve --store`'s Redis alone,
/// as a Secret made for Redis holds it (Bitnami's `redis-password`).
pub(crate) const STORE_PASSWORD_VARIABLE: &str = "NEXUS_MCP_STORE_PASSWORD";

/// The bearer token `serve` presents to Shared Signals transmitters (to
/// make a stream, and to poll one).
pub(crate) const SSF_TOKEN_VARIABLE: &str = "NEXUS_MCP_SSF_TOKEN";

/// tokio's own variable for its runtime's worker threads, which it reads as
/// the runtime starts and panics on unless it holds a number above 0.
pub(crate) const WORKERS_VARIABLE: &str = "TOKIO_WORKER_THREADS";

/// The runtime's worker threads where [`WORKERS_VARIABLE`] is unset: half
/// the cores, at least one. Every Gateway and provider call runs on a
/// thread of its own beside them, and takes about half a call's CPU. On two
/// cores one worker took less time, less CPU and more calls a second than
/// two, one client or eight at once (`docs/performance.md`, #120): two woke
/// each other on every call.
fn workers_by_default() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (cores / 2).max(1)
}

/// The most worker threads [`WORKERS_VARIABLE`] may ask for. tokio counts
/// its searching workers in 16 bits and starts every worker as the runtime
/// starts, each a thread of the system's; past the cores, a worker only
/// waits. Each of 2^64-1, 2^32+1 and a million panicked or aborted the start.
pub(crate) const MOST_WORKERS: usize = 1_024;

/// The runtime's worker threads: [`WORKERS_VARIABLE`], read as tokio reads
/// it (no blank taken for unset), else [`workers_by_default`]; a value no
/// runtime here starts with (not a number, 0, more than [`MOST_WORKERS`])
/// refused with one line naming it.
pub(crate) fn workers() -> Result<usize, String> {
    let Some(value) = std::env::var_os(WORKERS_VARIABLE) else {
        return Ok(workers_by_default());
    };
    match value.to_str().map(str::parse::<usize>) {
        Some(Ok(threads)) if (1..=MOST_WORKERS).contains(&threads) => Ok(threads),
        _ => Err(format!(
            "{WORKERS_VARIABLE} is the number of the runtime's worker threads, 1 to \
             {MOST_WORKERS} (or unset for half the cores, at least one): not {:?}",
            nexus_sdk::one_line(&value.to_string_lossy())
        )),
    }
}
