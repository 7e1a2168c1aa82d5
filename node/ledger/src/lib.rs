//! The deterministic exchange engine: `apply_block(state, header, txs)` over a state trait;
//! matching, margin, liquidation and settlement in integers, time from the block header only.
//!
//! Status: crate created by the workspace issue (#2); the engine is built by issues #3 and #4.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

/// The wire-protocol crate this crate builds on.
pub use tokenbook_protocol as protocol;
