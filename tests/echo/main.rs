//! What comes back from a server: a credential it echoes, in any form, is
//! withheld; its words reach errors and log records as one escaped line.

#[path = "../common/mod.rs"]
mod common;

mod classes;
mod forms;
mod server_words;
