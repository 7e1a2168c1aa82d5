//! tokenbook-protocol's integration tests (one binary, STYLE.md 10).

// Test code: a failed unwrap is a failed test, and BLESS mode prints.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod codec;
mod crypto;
mod fenced;
mod formats;
mod samples;
mod vectors;
