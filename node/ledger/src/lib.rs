//! The deterministic exchange engine: `apply_block(state, header, txs)` over a state trait;
//! matching, margin, liquidation and settlement in integers, time from the block header only.
//!
//! What it promises: every state change goes through [`apply_block`] in the fair sequence
//! ([`apply::fair_sequence`]); refusals carry stable codes ([`RejectCode`]); the invariants of
//! [`invariants`] hold after every block; two ledgers fed the same blocks hold byte-identical
//! state ([`kv::export`]). Issue #3 built accounts, permissions, cash, markets, governance,
//! matching and receipts; issue #4 adds the oracle, mark prices, maintenance margin,
//! liquidation and settlement.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

pub mod admission;
pub mod apply;
pub mod book;
pub(crate) mod fixed_hash;
pub mod genesis;
pub mod governance;
pub mod guaranty;
pub mod invariants;
pub mod kv;
pub mod liquidation;
pub mod margin;
pub mod members;
pub mod oracle;
pub mod receipt;
pub mod reject;
pub(crate) mod risk_index;
pub mod small;
pub mod state;
pub mod trading;
pub mod triggers;
pub mod units;

pub use apply::{BlockError, apply_block, apply_block_with_hashes, fair_sequence, genesis_state};
pub use receipt::{
    BlockOutcome, BlockReceipts, CancelReason, DefaultLayer, Event, Events, Receipt, ReceiptRecord,
    Touched,
};
pub use reject::{Reject, RejectCode};
pub use state::{Genesis, LedgerState};

/// The wire-protocol crate this crate builds on.
pub use tokenbook_protocol as protocol;
