//! The ledger state as ordered key → value bytes: the form the store persists and the state root
//! hashes (issue #6), and the canonical bytes two replays must agree on.
//!
//! Keys are a one-byte table tag followed by the big-endian id, so key order is id order. Values
//! are the canonical encoding ([`tokenbook_protocol::codec`]). Derived indexes (expiries,
//! dead-man deadlines, symbol table, per-account open-order sets' reverse maps) are included
//! where they are state in their own right and omitted where they follow from other values.

use crate::state::LedgerState;
use std::collections::BTreeMap;
use tokenbook_protocol::codec::encode;
use tokenbook_protocol::{Cash, Hash, Height, Side, ValidatorSet};

/// Table tags (the first key byte).
pub mod table {
    /// Singletons: chain, height, time, parameters, validators, system cash, counters.
    pub const GLOBALS: u8 = 0x00;
    /// Accounts by id.
    pub const ACCOUNT: u8 = 0x01;
    /// Key grants by public key.
    pub const KEY: u8 = 0x02;
    /// Markets by id, with their books in priority order.
    pub const MARKET: u8 = 0x03;
    /// Open orders' ledger records by id.
    pub const ORDER: u8 = 0x05;
    /// Indexes by id.
    pub const INDEX: u8 = 0x06;
    /// Open proposals by id.
    pub const PROPOSAL: u8 = 0x07;
    /// Used deposit/withdrawal references by (member, reference).
    pub const REFERENCE: u8 = 0x08;
}

fn key(table: u8, id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(table);
    k.extend_from_slice(id);
    k
}

/// Every key and value of the state, in key order.
#[must_use]
pub fn export(state: &LedgerState) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    out.insert(key(table::GLOBALS, &[]), encode(&globals(state)));
    for (id, account) in &state.accounts {
        out.insert(key(table::ACCOUNT, &id.get().to_be_bytes()), encode(account));
    }
    for (public_key, grant) in &state.keys {
        out.insert(key(table::KEY, &public_key.0), encode(grant));
    }
    for (id, market) in &state.markets {
        let book: Vec<_> = [Side::Buy, Side::Sell]
            .into_iter()
            .flat_map(|side| market.book.orders(side))
            .map(|o| (o.id, o.owner, o.group, o.side, o.price, o.qty))
            .collect();
        let record = (
            &market.spec,
            market.status,
            market.mark,
            market.lot_tick_value,
            market.long_interest,
            market.short_interest,
            book,
        );
        out.insert(key(table::MARKET, &id.get().to_be_bytes()), encode(&record));
    }
    for (id, info) in state.orders.sorted() {
        out.insert(key(table::ORDER, &id.get().to_be_bytes()), encode(info));
    }
    for (id, index) in &state.indexes {
        out.insert(key(table::INDEX, &id.get().to_be_bytes()), encode(index));
    }
    for (id, proposal) in &state.proposals {
        out.insert(key(table::PROPOSAL, &id.get().to_be_bytes()), encode(proposal));
    }
    for (member, reference) in &state.references {
        let id = [member.get().to_be_bytes().as_slice(), reference.0.as_slice()].concat();
        out.insert(key(table::REFERENCE, &id), Vec::new());
    }
    out
}

type Globals<'a> = (
    &'a str,
    Height,
    tokenbook_protocol::Timestamp,
    Hash,
    tokenbook_protocol::RiskParams,
    &'a ValidatorSet,
    Vec<(Height, &'a ValidatorSet)>,
    [Cash; 5],
    [u64; 4],
);

fn globals(s: &LedgerState) -> Globals<'_> {
    (
        &s.chain_id,
        s.height,
        s.time,
        s.last_block_hash,
        s.risk,
        &s.validators,
        s.pending_validators.iter().map(|(h, v)| (*h, v)).collect(),
        [s.fee_pool, s.insurance_fund, s.total_deposits, s.total_withdrawals, s.total_cash],
        [
            s.next_account.get(),
            u64::from(s.next_market.get()),
            u64::from(s.next_index.get()),
            s.next_proposal.get(),
        ],
    )
}

/// SHA-256 over every key and value, length-prefixed, in key order. Two ledgers that applied the
/// same blocks have the same digest. (The store's authenticated root arrives with issue #6.)
#[must_use]
pub fn digest(state: &LedgerState) -> Hash {
    let mut bytes = Vec::new();
    for (k, v) in export(state) {
        bytes.extend_from_slice(&(k.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&k);
        bytes.extend_from_slice(&(v.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&v);
    }
    Hash::digest(&bytes)
}
