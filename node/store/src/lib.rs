//! RocksDB state: blocks, certificates, authenticated state root with proofs, snapshots.
//!
//! Status: crate created by the workspace issue (#2); the store is built by issue #6.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

/// The wire-protocol crate this crate builds on.
pub use tokenbook_protocol as protocol;
