//! The guides: pages longer than an item's documentation, here so that
//! `cargo doc` shows them beside the API. Each is a module with no items; its
//! text is the Markdown file of the same name in the repository's `docs/`,
//! after the rustdoc targets of its reference links (`doc_links.md`).

#[doc = include_str!("doc_links.md")]
#[doc = include_str!("../docs/mcp-server.md")]
pub mod mcp_server {}

#[doc = include_str!("doc_links.md")]
#[doc = include_str!("../docs/async.md")]
pub mod async_and_rmcp {}

#[doc = include_str!("doc_links.md")]
#[doc = include_str!("../docs/build-and-cli.md")]
pub mod build_scripts_and_clis {}

#[doc = include_str!("doc_links.md")]
#[doc = include_str!("../docs/own-http-client.md")]
pub mod your_own_http_client {}

#[doc = include_str!("doc_links.md")]
#[doc = include_str!("../docs/testing.md")]
pub mod fake_gateway {}

#[doc = include_str!("doc_links.md")]
#[doc = include_str!("../docs/errors.md")]
pub mod errors {}

#[doc = include_str!("doc_links.md")]
#[doc = include_str!("../docs/python.md")]
pub mod from_python {}

#[doc = include_str!("doc_links.md")]
#[doc = include_str!("../docs/performance.md")]
pub mod performance {}

#[doc = include_str!("doc_links.md")]
#[doc = include_str!("../docs/guarantees.md")]
pub mod guarantees {}

#[doc = include_str!("doc_links.md")]
#[doc = include_str!("../docs/fleet.md")]
pub mod fleet {}
