//! The library's errors as `nexus` prints them: one line, a server's words
//! shown through `nexus_sdk::one_line` (never obeyed, never cut: an
//! `authUrl` must stay whole to be opened), and the settings they name
//! said as this program takes them.

use clap::parser::ValueSource;
use nexus_sdk::{NexusError, one_line, setting};

/// Where the settings came from: a flag, or its variable.
pub(crate) struct Sources {
    pub(crate) url_flag: bool,
    pub(crate) key_flag: bool,
    pub(crate) timeout_flag: bool,
}

impl Sources {
    /// The sources clap saw for the settings.
    pub(crate) fn of(source: impl Fn(&str) -> Option<ValueSource>) -> Sources {
        let flag = |id: &str| source(id) == Some(ValueSource::CommandLine);
        Sources {
            url_flag: flag("gateway_url"),
            key_flag: flag("api_key"),
            timeout_flag: flag("timeout"),
        }
    }

    /// The error as one line, `code: message`, every control character
    /// escaped, and the setting it blames (`NexusError::setting`) said as
    /// the user gave it: the flag when they passed one, else the variable.
    pub(crate) fn said(&self, error: &NexusError) -> String {
        let flags = [
            (setting::NEXUS_GATEWAY_URL, self.url_flag, "--gateway-url"),
            (setting::NEXUS_API_KEY, self.key_flag, "--api-key"),
            (setting::NEXUS_TIMEOUT, self.timeout_flag, "--timeout"),
        ];
        let blamed = flags.iter().find(|(s, _, _)| error.setting == Some(*s));
        // The library names the blamed setting once, by that name: one word to swap.
        let message = match blamed {
            Some((setting, true, flag)) => error.message.replacen(setting, flag, 1),
            _ => error.message.clone(),
        };
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
             NEXUS_GATEWAY_URL",
        );
        let mut hint = hint;
        hint.setting = Some("NEXUS_GATEWAY_URL");
        let flags = Sources {
            url_flag: true,
            key_flag: true,
            timeout_flag: true,
        };
        let vars = Sources {
            url_flag: false,
            key_flag: false,
            timeout_flag: false,
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
        let mut timeout = NexusError::new(
            "timeout",
            "it did not answer within 3s, the limit NEXUS_TIMEOUT sets",
        );
        timeout.setting = Some("NEXUS_TIMEOUT");
        assert_eq!(
            flags.said(&timeout),
            "timeout: it did not answer within 3s, the limit --timeout sets"
        );
        assert_eq!(
            vars.said(&timeout),
            "timeout: it did not answer within 3s, the limit NEXUS_TIMEOUT sets"
        );
        // A setting the error does not blame is left as it is.
        let other = NexusError::new("http_401", "… (check NEXUS_API_KEY): no");
        assert!(flags.said(&other).contains("(check NEXUS_API_KEY)"));
    }
}
