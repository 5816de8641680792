//! The lines on stderr: `level target: message`, or with `--log-format
//! json` one JSON object a line (`ts`, `level`, `target`, `message`, and the
//! record's fields, each its own: a call's `who`, `client`, `provider` …),
//! at the level `NEXUS_LOG` names. No line holds a token or a secret: the
//! fields are the text line's, apart. A text line's message goes through
//! the one escape every package shows outside words with
//! ([`nexus_sdk::one_line`]), so whatever it quotes cannot forge a line.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// `--log-format`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum Format {
    /// `level target: message`.
    Text,
    /// One JSON object a line.
    Json,
}

/// The format chosen at start.
static FORMAT: OnceLock<Format> = OnceLock::new();

/// The level `NEXUS_LOG` named at start, if it names one.
static LEVEL: OnceLock<Option<log::LevelFilter>> = OnceLock::new();

/// Sets the format and the level `named` (`NEXUS_LOG`'s value), once,
/// before the logger is; whether `named` is blank or a level.
pub(crate) fn set(format: Format, named: &str) -> bool {
    let _ = FORMAT.set(format);
    let level = named.trim().parse().ok();
    let _ = LEVEL.set(level);
    named.trim().is_empty() || level.is_some()
}

/// `level target: message` lines on stderr, at the level `NEXUS_LOG` names.
pub(crate) struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        // ureq's TRACE lines dump the wire, credentials included: never them.
        let wire = metadata.level() == log::Level::Trace && metadata.target().starts_with("ureq");
        let level = match (level(), metadata.target().starts_with("nexus_mcp")) {
            (Some(level), _) => level,
            (None, true) => log::LevelFilter::Info,
            (None, false) => log::LevelFilter::Warn,
        };
        metadata.level() <= level && !wire
    }

    fn log(&self, record: &log::Record) {
        // Counted whether said or not: the library's record of each
        // request it sends the Gateway.
        crate::metrics::sent(record);
        if self.enabled(record.metadata()) {
            let format = FORMAT.get().copied().unwrap_or(Format::Text);
            let _ = write_line(&mut std::io::stderr().lock(), record, format);
        }
    }

    fn flush(&self) {}
}

/// `record` as one line of `format` onto `out`, in one write: stderr is
/// unbuffered, and a line formatted onto it piece by piece took a write
/// each (a JSON line dozens), and could be split by another process's.
fn write_line(out: &mut impl Write, record: &log::Record, format: Format) -> std::io::Result<()> {
    // A library line logged during a fetch names the call it is about.
    let call = crate::on_thread::call();
    let mut which = if call > 0 && record.target().starts_with("nexus_sdk") {
        format!(" (call #{call})")
    } else {
        String::new()
    };
    // A line logged while `serve` answers an HTTP request names its id.
    let answering = crate::telemetry::answering();
    if let Some(id) = &answering {
        which.push_str(&format!(" id={id}"));
    }
    let said = record.args().to_string();
    // The library names the buffer's setting once: this program's is a flag.
    let said = match record.target() {
        "nexus_sdk::buffer" => said.replacen("TokenCache::with_buffer", "--token-buffer", 1),
        _ => said,
    };
    let mut line = match format {
        Format::Json => json_line(record, &said, call, answering).to_string(),
        // Whatever a line quotes (an issuer's, a client's, a server's
        // words), it stays one line and shows what a person cannot see.
        Format::Text => format!(
            "{} {}: {}{which}",
            record.level(),
            record.target(),
            nexus_sdk::one_line(&said)
        ),
    };
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// The level `NEXUS_LOG` names (set at start); `None` when unset or unread.
pub(crate) fn level() -> Option<log::LevelFilter> {
    LEVEL.get().copied().flatten()
}

/// `record` as one JSON object: when, its level and target, `said`, the
/// call it is about (`call`, when a library line is logged during one),
/// and each of its fields.
fn json_line(record: &log::Record, said: &str, call: u64, id: Option<String>) -> Value {
    let mut line = Map::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    line.insert("ts".into(), now.map_or(0.0, |d| d.as_secs_f64()).into());
    line.insert("level".into(), record.level().as_str().into());
    line.insert("target".into(), record.target().into());
    line.insert("message".into(), said.into());
    if call > 0 && record.target().starts_with("nexus_sdk") {
        line.insert("call".into(), call.into());
    }
    if let Some(id) = id {
        line.insert("id".into(), id.into());
    }
    let _ = record.key_values().visit(&mut Fields(&mut line));
    Value::Object(line)
}

/// A record's fields, gathered into a JSON object.
struct Fields<'a>(&'a mut Map<String, Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let value = match value.to_u64() {
            Some(number) => Value::from(number),
            None => Value::from(value.to_string()),
        };
        self.0.insert(key.as_str().to_owned(), value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that counts the writes it is handed.
    #[derive(Default)]
    struct Writes {
        calls: usize,
        bytes: Vec<u8>,
    }

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.calls += 1;
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_message_quoting_outside_words_is_one_line_in_either_format() {
        let record = log::Record::builder()
            .args(format_args!(
                "said: bad client\nINFO nexus_mcp: listening on 0.0.0.0:1\r\u{202e}"
            ))
            .level(log::Level::Warn)
            .target("nexus_mcp")
            .build();
        for format in [Format::Text, Format::Json] {
            let mut out = Writes::default();
            write_line(&mut out, &record, format).unwrap();
            let line = String::from_utf8(out.bytes).unwrap();
            assert_eq!(line.lines().count(), 1, "{format:?}: {line}");
            if let Format::Text = format {
                assert!(!line.contains(['\r', '\u{202e}']), "{line}");
            }
        }
    }

    #[test]
    fn a_line_is_one_write_in_either_format() {
        let fields: &[(&str, &str)] = &[("client", "claude"), ("who", "ab12"), ("tool", "fetch")];
        let record = log::Record::builder()
            .args(format_args!("call #1 -> answered"))
            .level(log::Level::Info)
            .target("nexus_mcp::call")
            .key_values(&fields)
            .build();
        for format in [Format::Text, Format::Json] {
            let mut out = Writes::default();
            write_line(&mut out, &record, format).unwrap();
            assert_eq!(
                out.calls,
                1,
                "{format:?}: {}",
                String::from_utf8_lossy(&out.bytes)
            );
            let line = String::from_utf8(out.bytes).unwrap();
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            assert!(
                line.ends_with('\n') && line.contains("call #1 -> answered"),
                "{line}"
            );
        }
    }
}
