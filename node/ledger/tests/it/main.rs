//! tokenbook-ledger's integration tests (one binary, STYLE.md 10): everything goes through
//! `apply_block` with signed txs.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod accounts;
mod adl;
mod codes;
mod collusion;
mod governance;
mod harness;
mod liquidation;
mod oracle;
mod orders;
mod props;
mod waterfall;
