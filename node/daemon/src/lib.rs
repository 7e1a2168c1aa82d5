//! The validator node's library: the pieces `tokenbook-node` is made of, each testable alone.
//!
//! Status: issue #7 is being built. Done: [`mempool`], [`executor`] (with [`sigs`]), [`driver`] (sans-IO), [`runtime`]
//! (tokio, over a [`runtime::Network`]), [`home`] (config, genesis, keys), [`api`] (first routes).
//! [`metrics`]. Next: the libp2p transport, snapshot state sync, multi-validator processes. Next: config and keys, the network
//! (node/net), the consensus driver and executor, catch-up, the HTTP/WebSocket API.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

pub mod api;
pub mod driver;
pub mod executor;
pub mod home;
pub mod mempool;
pub mod metrics;
pub mod runtime;
pub mod sigs;
