//! What comes back from a server: a credential it echoes, in any form, is
//! withheld; its words reach errors and log records as one escaped line.

#[path = "../common/mod.rs"]
mod common;

// Withholding echoes needs the `echo` feature; a build without it refuses
// (`tests/hostile_input.rs`).
#[cfg(feature = "echo")]
mod classes;
#[cfg(feature = "echo")]
mod formats;
#[cfg(feature = "echo")]
mod forms;
#[cfg(feature = "echo")]
mod nesting;
mod server_words;
