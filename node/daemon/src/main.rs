//! `tokenbook-node`: the tokenbook validator node.
//!
//! Status: issue #7 builds it

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "tokenbook-node {}: not built yet (issue #7 builds it); see README.md",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
