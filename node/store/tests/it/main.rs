//! Store integration tests: roots in memory and on disk, proofs, pruning, snapshots, receipts,
//! crash safety and error handling.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

#[path = "../../../ledger/benches/chain/mod.rs"]
#[allow(dead_code, clippy::all)]
mod chain;
#[path = "../../../ledger/benches/common/mod.rs"]
#[allow(dead_code)]
mod common;
#[path = "../../../ledger/benches/chain/workload.rs"]
mod workload;

mod crash;
mod errors;
mod fixture;
mod frozen;
mod proofs;
mod roots;
mod snapshot;
mod staged;
mod vectors;
