//! `tokenbook-devnet`: a local tokenbook network: validators plus market makers.
//!
//! Status: issue #8 builds it

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "tokenbook-devnet {}: not built yet (issue #8 builds it); see README.md",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
