//! Validator networking: libp2p (TCP, Noise, Yamux, gossipsub, request-response) behind a small
//! trait, permissioned to the validators in genesis.
//!
//! Status: crate created by the workspace issue (#2); the network is built by issue #7.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

/// The wire-protocol crate this crate builds on.
pub use tokenbook_protocol as protocol;
