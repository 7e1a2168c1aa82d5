//! Sans-IO Tendermint consensus core (Buchman, Kwon, Milosevic, arXiv:1807.04938, Algorithm 1):
//! `handle(Input) -> Vec<Output>`, no clock, IO or randomness; vote keeper, persist-before-send
//! records and commit-certificate verification.
//!
//! Status: crate created by the workspace issue (#2); the core is built by issue #5.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

/// The wire-protocol crate this crate builds on.
pub use tokenbook_protocol as protocol;
