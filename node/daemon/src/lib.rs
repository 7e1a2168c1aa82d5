//! The validator node's library: the pieces `tokenbook-node` is made of, each testable alone.
//!
//! [`mempool`] admits txs; [`executor`] (with [`sigs`]) proposes, validates and commits blocks;
//! [`driver`] joins them with the consensus core without I/O; [`runtime`] runs the driver on
//! tokio over a [`runtime::Network`] (libp2p in production, channels in tests); [`home`] reads
//! config, genesis and keys; [`api`] serves HTTP/WebSocket and [`metrics`]; [`snapshots`]
//! serves and imports state-sync snapshots; [`node`] wires a whole validator from its home
//! directory.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

pub mod api;
pub mod home;
pub mod metrics;
pub mod node;
pub mod runtime;
pub mod snapshots;
pub mod view;

/// Byzantine behaviours (tests of the real node).
#[cfg(feature = "misbehave")]
pub use tokenbook_engine::misbehave;
/// The engine the node runs (`tokenbook-engine`), under the paths the node always had.
pub use tokenbook_engine::{driver, executor, mempool, sigs};
