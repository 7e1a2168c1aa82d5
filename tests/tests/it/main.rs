//! tokenbook-tests' integration tests: the consensus simulation over a few hundred seeds (the
//! long runs are `cargo run --release -p tokenbook-tests --bin sim`; docs/benchmarks.md).

#![allow(clippy::unwrap_used)]

mod sim;
