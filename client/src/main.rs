//! `tokenbook`: the tokenbook trader, member and auditor CLI.
//!
//! Status: issue #8 builds it

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "tokenbook {}: not built yet (issue #8 builds it); see README.md",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
