//! The library's errors as `nexus` prints them: one line, a server's words
//! shown through `nexus_sdk::one_line` (never obeyed, never cut: an
//! `authUrl` must stay whole to be opened), and the settings they name
//! said as this program takes them.

use clap::parser::ValueSource;
use nexus_sdk::{NexusError, one_line};

/// Where the Gateway's settings came from: a flag, or its variable.
pub(crate) struct Sources {
    pub(crate) url_flag: bool,
    pub(crate) key_flag: bool,
}

impl Sources {
    /// The sources clap saw for the two settings.
    pub(crate) fn of(source: impl Fn(&str) -> Option<ValueSource>) -> Sources {
        let flag = |id: &str| source(id) == Some(ValueSource::CommandLine);
        Sources {
            url_flag: flag("gateway_url"),
            key_flag: flag("api_key"),
        }
    }

    /// The error as one line, `code: message`, the setting it names said as
    /// the user gave it (`--gateway-url` or `NEXUS_GATEWAY_URL`, …) and
    /// every control character escaped.
    pub(crate) fn said(&self, error: &NexusError) -> String {
        let url = if self.url_flag {
            "--gateway-url"
        } else {
            "NEXUS_GATEWAY_URL"
        };
        let key = if self.key_flag {
            "--api-key"
        } else {
            "NEXUS_API_KEY"
        };
        let mut message = error
            .message
            .replace(
                "NEXUS_GATEWAY_URL (the URL given to NexusClientOptions)",
                url,
            )
            .replace("NEXUS_GATEWAY_URL", url)
            .replace("NEXUS_API_KEY", key)
            .replace("NexusClientOptions::timeout and retry_policy", "--timeout")
            .replace("NexusClientOptions::timeout", "--timeout");
        for (setting, said) in [("gateway_url ", url), ("api_key ", key)] {
            if let Some(rest) = message.strip_prefix(setting) {
                message = format!("{said} {rest}");
            }
        }
        format!("{}: {}", one_line(&error.code), one_line(&message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_onto_one_line_and_never_cut() {
        assert_eq!(one_line("plain"), "plain");
        assert_eq!(
            one_line("no such thing\nINFO forged\u{1b}[2J\u{9b}1m\u{7}"),
            "no such thing\\nINFO forged\\u{1b}[2J\\u{9b}1m\\u{7}"
        );
        let reordered = "ok\u{2028}fake\u{202e}txt.exe\u{2066}";
        assert_eq!(
            one_line(reordered),
            "ok\\u{2028}fake\\u{202e}txt.exe\\u{2066}"
        );
        let url = format!("https://auth.example/?scope={}", "x".repeat(2000));
        assert_eq!(one_line(&url), url, "a URL to open stays whole");
        let wide = "\u{202e}".repeat(300);
        assert_eq!(
            one_line(&wide),
            "\\u{202e}".repeat(300),
            "escaped whole, never cut"
        );
    }

    #[test]
    fn the_setting_is_named_as_the_user_gave_it() {
        let hint = NexusError::new(
            "request_failed",
            "could not reach the Nexus Gateway at http://x:1: connection refused; check \
             NEXUS_GATEWAY_URL (the URL given to NexusClientOptions)",
        );
        let flags = Sources {
            url_flag: true,
            key_flag: true,
        };
        let vars = Sources {
            url_flag: false,
            key_flag: false,
        };
        assert!(
            flags
                .said(&hint)
                .ends_with("connection refused; check --gateway-url")
        );
        assert!(
            vars.said(&hint)
                .ends_with("connection refused; check NEXUS_GATEWAY_URL")
        );
        let url = NexusError::new(
            "invalid_input",
            "gateway_url must be an http:// or https:// URL",
        );
        assert_eq!(
            flags.said(&url),
            "invalid_input: --gateway-url must be an http:// or https:// URL"
        );
        let key = NexusError::new("http_401", "… answered HTTP 401 (check NEXUS_API_KEY): no");
        assert!(flags.said(&key).contains("(check --api-key)"));
    }
}
