//! The node's engine: everything a validator does between receiving a message and sending one,
//! without I/O of its own — the consensus [`driver`], the [`executor`] (propose, validate,
//! commit over the ledger), the [`mempool`], the batch signature check ([`sigs`]) and the
//! [`snapshots`] server — over a [`storage::ChainStore`].
//!
//! One engine, three hosts: the daemon (`tokenbook-node`) runs it on tokio with libp2p and
//! RocksDB; the simulator (`tokenbook-tests`) runs the same code on simulated time, network and
//! a store in memory with crash semantics; tests of the real node run it misbehaving (cargo
//! feature `misbehave`, never in default builds).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

pub mod ahead;
pub mod chain;
pub mod crash;
pub mod driver;
pub mod executor;
pub mod mempool;
#[cfg(feature = "misbehave")]
pub mod misbehave;
pub mod sigs;
pub mod snapshots;
pub mod storage;

pub use tokenbook_protocol::message::Message;
