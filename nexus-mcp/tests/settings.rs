//! The library's words about a setting, as this program says them: the
//! one name the library blames is swapped for this program's flag, and no
//! other prose is rewritten.

mod common;

use std::time::Duration;

use common::{Session, fetch};
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};

#[test]
fn a_token_shorter_than_the_buffer_names_the_token_buffer_flag() {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let short = FakeProvider::oauth2("gho_short_lived").expires_in(Duration::from_secs(20));
    gateway.add_provider("ws-1", "github", short.api_base_url(&api.url()));
    let mut session = Session::start_with(&gateway, &[], &[]);
    let answer = session.call(fetch("github", &format!("{}/user", api.url())));
    assert!(!common::is_error(&answer), "{answer}");
    let line = session.stderr_line("within the cache's 30s buffer");
    assert!(
        line.contains("a shorter buffer (--token-buffer) keeps it"),
        "{line}"
    );
    assert!(
        !line.contains("TokenCache"),
        "the library's API is not this program's: {line}"
    );
}
