//! tokenbook-protocol's integration tests (one binary, STYLE.md 10).

mod codec;
mod crypto;
mod formats;
mod samples;
mod vectors;
