//! The ledger state as ordered key → value bytes, and the state trait the store implements.
//!
//! - [`export`]: every key and value (what the store persists and the state root hashes).
//! - [`changes`]: only the keys a block touched, with their new values or deletions — what
//!   `apply_block` hands the store. Applying a block's changes to the previous export gives the
//!   new export exactly (property-tested).
//! - [`import`]: rebuilds a ledger from the bytes (books re-queued in time priority from each
//!   order's queue sequence; derived indexes recomputed), so a node restarts from its store.
//! - [`StateStore`]: the trait a store implements; [`MemStore`] is the in-memory one; the RocksDB
//!   store in node/store implements it too.
//!
//! Keys are a one-byte table tag followed by big-endian ids, so key order is id order (orders are
//! stored per page of [`ORDER_PAGE`] ids, accounts without their derived order indexes: the
//! authenticated tree's cost follows the number and size of the values a block rewrites). Values
//! are the canonical encoding ([`tokenbook_protocol::codec`]).

use crate::book::{Book, Incoming, Style, Unlimited};
use crate::receipt::Touched;
use crate::state::{
    Account, IndexState, KeyGrant, LedgerState, Market, MarketStatus, OrderInfo, Proposal,
};
use bincode::{Decode, Encode};
use std::collections::BTreeMap;
use tokenbook_protocol::codec::{decode_record, encode};
use tokenbook_protocol::{
    AccountId, Cash, ClientOrderId, Hash, Height, IndexId, MarketId, MarketSpec, OrderId, Price,
    ProposalId, PublicKey, Qty, RiskParams, SelfTradePrevention, Timestamp, ValidatorSet,
};

/// Table tags (the first key byte).
pub mod table {
    /// Singletons: chain, height, time, parameters, validators, system cash, counters.
    pub const GLOBALS: u8 = 0x00;
    /// Accounts by id.
    pub const ACCOUNT: u8 = 0x01;
    /// Key grants by public key.
    pub const KEY: u8 = 0x02;
    /// Markets by id (terms, status, mark, interest; the book is its orders).
    pub const MARKET: u8 = 0x03;
    /// Open orders with their resting quantity, in pages of [`super::ORDER_PAGE`] consecutive
    /// ids (key: page number = id / `ORDER_PAGE`).
    pub const ORDER: u8 = 0x05;
    /// Indexes by id.
    pub const INDEX: u8 = 0x06;
    /// Open proposals by id.
    pub const PROPOSAL: u8 = 0x07;
    /// Used deposit/withdrawal references by (member, reference).
    pub const REFERENCE: u8 = 0x08;
}

/// Open orders per stored page. Order ids are `height << 20 | sequence`, so a block's new orders
/// share a few pages and a block rewrites hundreds of pages rather than thousands of orders —
/// the authenticated tree's cost grows with the number of keys a block changes. A page proof
/// proves each of its (at most 64) orders.
pub const ORDER_PAGE: u64 = 64;

/// Ordered key → value bytes.
pub type KvMap = BTreeMap<Vec<u8>, Vec<u8>>;
/// A block's writes: new value, or `None` to delete.
pub type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// What a store must offer the ledger. Stores that touch a disk fail, so both calls return a
/// `Result`; after an `apply_changes` error the store's contents are those before the call.
pub trait StateStore {
    /// Why a call failed.
    type Error: core::fmt::Display;
    /// Every key and value, in key order (used to load the ledger at start).
    ///
    /// # Errors
    /// The store could not be read.
    fn load_all(&self) -> Result<KvMap, Self::Error>;
    /// Applies one block's changes atomically: all of them or none.
    ///
    /// # Errors
    /// The store could not be written; nothing was applied.
    fn apply_changes(&mut self, changes: &Changes) -> Result<(), Self::Error>;
}

/// The in-memory store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemStore(pub KvMap);

impl MemStore {
    /// Applies changes to a map (the one definition of "apply" every store agrees with).
    pub fn apply_to(map: &mut KvMap, changes: &Changes) {
        for (key, value) in changes {
            match value {
                Some(v) => map.insert(key.clone(), v.clone()),
                None => map.remove(key),
            };
        }
    }
}

impl StateStore for MemStore {
    type Error = core::convert::Infallible;

    fn load_all(&self) -> Result<KvMap, Self::Error> {
        Ok(self.0.clone())
    }

    fn apply_changes(&mut self, changes: &Changes) -> Result<(), Self::Error> {
        Self::apply_to(&mut self.0, changes);
        Ok(())
    }
}

fn key(table: u8, id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(table);
    k.extend_from_slice(id);
    k
}

/// The state key of an account (what a proof of the account names).
#[must_use]
pub fn account_key(id: AccountId) -> Vec<u8> {
    key(table::ACCOUNT, &id.get().to_be_bytes())
}

fn key_key(public_key: &PublicKey) -> Vec<u8> {
    key(table::KEY, &public_key.0)
}

fn market_key(id: MarketId) -> Vec<u8> {
    key(table::MARKET, &id.get().to_be_bytes())
}

/// The key of the page holding an order.
#[must_use]
pub fn order_page_key(id: OrderId) -> Vec<u8> {
    key(table::ORDER, &(id.get() / ORDER_PAGE).to_be_bytes())
}

fn index_key(id: IndexId) -> Vec<u8> {
    key(table::INDEX, &id.get().to_be_bytes())
}

fn proposal_key(id: ProposalId) -> Vec<u8> {
    key(table::PROPOSAL, &id.get().to_be_bytes())
}

fn reference_key(member: AccountId, reference: &Hash) -> Vec<u8> {
    key(table::REFERENCE, &[member.get().to_be_bytes().as_slice(), reference.0.as_slice()].concat())
}

/// A market without its book.
#[derive(Encode, Decode)]
struct MarketRecord {
    spec: MarketSpec,
    status: MarketStatus,
    mark: Price,
    lot_tick_value: Cash,
    long_interest: Qty,
    short_interest: Qty,
}

/// An open order: the ledger's record, and its place in the book.
#[derive(Encode, Decode)]
struct OrderRecord {
    info: OrderInfo,
    /// Lots resting in the book (0 for an untriggered stop).
    resting: Qty,
    /// The owner's self-trade group when it rested (member and group number, as the book's).
    group: u128,
}

#[derive(Encode, Decode)]
struct Globals {
    chain_id: String,
    height: Height,
    time: Timestamp,
    last_block_hash: Hash,
    risk: RiskParams,
    validators: ValidatorSet,
    pending_validators: Vec<(Height, ValidatorSet)>,
    /// Fee pool, insurance fund, deposits, withdrawals, Σ account cash, Σ guaranty posted.
    cash: [Cash; 6],
    next_account: AccountId,
    next_market: MarketId,
    next_index: IndexId,
    next_proposal: ProposalId,
    next_queue_seq: u64,
    vm_epoch: u64,
    liquidation_backlog: bool,
}

fn globals(s: &LedgerState) -> Globals {
    Globals {
        chain_id: s.chain_id.clone(),
        height: s.height,
        time: s.time,
        last_block_hash: s.last_block_hash,
        risk: s.risk,
        validators: s.validators.clone(),
        pending_validators: s.pending_validators.iter().map(|(h, v)| (*h, v.clone())).collect(),
        cash: [
            s.fee_pool,
            s.insurance_fund,
            s.total_deposits,
            s.total_withdrawals,
            s.total_cash,
            s.total_guaranty,
        ],
        next_account: s.next_account,
        next_market: s.next_market,
        next_index: s.next_index,
        next_proposal: s.next_proposal,
        next_queue_seq: s.next_queue_seq,
        vm_epoch: s.vm_epoch,
        liquidation_backlog: s.liquidation_backlog,
    }
}

/// An account as stored: without its open-order and client-id indexes, which [`import`]
/// rebuilds from the orders (stored, they would make every account write grow with the
/// account's open orders).
fn account_value(account: &Account) -> Vec<u8> {
    let mut stored = account.clone();
    stored.open_orders = Default::default();
    stored.client_ids = Default::default();
    encode(&stored)
}

/// Decodes an account's stored value (what a proof of [`account_key`] proves). Its order
/// indexes are empty: they are rebuilt from the orders on import.
///
/// # Errors
/// The bytes are not an account.
pub fn decode_account(bytes: &[u8]) -> Result<Account, String> {
    decode_value("account", bytes)
}

/// What a state key names, for people: `account 7`, `order page 12`, `globals`, ….
#[must_use]
pub fn describe_key(key: &[u8]) -> String {
    let Some((&t, rest)) = key.split_first() else { return "empty key".into() };
    let number = || {
        <[u8; 8]>::try_from(rest).map(u64::from_be_bytes).map_or_else(
            |_| {
                <[u8; 4]>::try_from(rest)
                    .map_or_else(|_| hex::encode(rest), |b| u32::from_be_bytes(b).to_string())
            },
            |n| n.to_string(),
        )
    };
    match t {
        table::GLOBALS => "globals".into(),
        table::ACCOUNT => format!("account {}", number()),
        table::KEY => format!("key grant {}", hex::encode(rest)),
        table::MARKET => format!("market {}", number()),
        table::ORDER => format!("order page {}", number()),
        table::INDEX => format!("index {}", number()),
        table::PROPOSAL => format!("proposal {}", number()),
        table::REFERENCE => format!("transfer reference {}", hex::encode(rest)),
        other => format!("table {other:#04x} key {}", hex::encode(rest)),
    }
}

fn market_value(m: &Market) -> Vec<u8> {
    encode(&MarketRecord {
        spec: m.spec.clone(),
        status: m.status,
        mark: m.mark,
        lot_tick_value: m.lot_tick_value,
        long_interest: m.long_interest,
        short_interest: m.short_interest,
    })
}

fn order_record(state: &LedgerState, id: OrderId, info: &OrderInfo) -> OrderRecord {
    let resting = state.markets.get(&info.market).and_then(|m| m.book.get(id));
    OrderRecord {
        info: info.clone(),
        resting: resting.map_or(Qty::ZERO, |o| o.qty),
        group: resting.map_or(0, |o| o.group),
    }
}

/// The page holding `id`: its open orders in id order, `None` when it has none.
fn order_page(state: &LedgerState, id: OrderId) -> Option<Vec<u8>> {
    let first = id.get() / ORDER_PAGE * ORDER_PAGE;
    let page: Vec<(OrderId, OrderRecord)> = (first..first + ORDER_PAGE)
        .map(OrderId::new)
        .filter_map(|id| state.orders.get(&id).map(|info| (id, order_record(state, id, info))))
        .collect();
    (!page.is_empty()).then(|| encode(&page))
}

/// Every key and value of the state, in key order.
#[must_use]
pub fn export(state: &LedgerState) -> KvMap {
    let mut out = KvMap::new();
    out.insert(key(table::GLOBALS, &[]), encode(&globals(state)));
    for (id, account) in &state.accounts {
        out.insert(account_key(*id), account_value(account));
    }
    for (public_key, grant) in &state.keys {
        out.insert(key_key(public_key), encode(grant));
    }
    for (id, market) in &state.markets {
        out.insert(market_key(*id), market_value(market));
    }
    let mut pages: Vec<(OrderId, OrderRecord)> = Vec::new();
    for (id, info) in state.orders.sorted() {
        if pages.last().is_some_and(|(last, _)| last.get() / ORDER_PAGE != id.get() / ORDER_PAGE) {
            out.insert(order_page_key(pages[0].0), encode(&pages));
            pages.clear();
        }
        pages.push((id, order_record(state, id, info)));
    }
    if let Some((first, _)) = pages.first() {
        out.insert(order_page_key(*first), encode(&pages));
    }
    for (id, index) in &state.indexes {
        out.insert(index_key(*id), encode(index));
    }
    for (id, proposal) in &state.proposals {
        out.insert(proposal_key(*id), encode(proposal));
    }
    for (member, reference) in &state.references {
        out.insert(reference_key(*member, reference), Vec::new());
    }
    out
}

/// The writes that bring a store holding the state before a block to the state after it.
#[must_use]
pub fn changes(state: &LedgerState, touched: &Touched) -> Changes {
    let mut out = Changes::new();
    if touched.globals {
        out.insert(key(table::GLOBALS, &[]), Some(encode(&globals(state))));
    }
    for id in &touched.accounts {
        out.insert(account_key(*id), state.accounts.get(id).map(account_value));
    }
    for public_key in &touched.keys {
        out.insert(key_key(public_key), state.keys.get(public_key).map(encode));
    }
    for id in &touched.markets {
        out.insert(market_key(*id), state.markets.get(id).map(market_value));
    }
    for id in &touched.orders {
        out.entry(order_page_key(*id)).or_insert_with(|| order_page(state, *id));
    }
    for id in &touched.indexes {
        out.insert(index_key(*id), state.indexes.get(id).map(encode));
    }
    for id in &touched.proposals {
        out.insert(proposal_key(*id), state.proposals.get(id).map(encode));
    }
    for (member, reference) in &touched.references {
        let present = state.references.contains(&(*member, *reference));
        out.insert(reference_key(*member, reference), present.then(Vec::new));
    }
    out
}

/// SHA-256 over every key and value, length-prefixed, in key order. Two ledgers that applied the
/// same blocks have the same digest. A quick equality check (the simulation uses it); the
/// authenticated state root with proofs is the store's Jellyfish Merkle root (`tokenbook-store`).
#[must_use]
pub fn digest(state: &LedgerState) -> Hash {
    digest_of(&export(state))
}

/// [`digest`] of exported bytes.
#[must_use]
pub fn digest_of(map: &KvMap) -> Hash {
    let mut bytes = Vec::new();
    for (k, v) in map {
        bytes.extend_from_slice(&(k.len() as u64).to_le_bytes());
        bytes.extend_from_slice(k);
        bytes.extend_from_slice(&(v.len() as u64).to_le_bytes());
        bytes.extend_from_slice(v);
    }
    Hash::digest(&bytes)
}

fn decode_value<T: Decode<()>>(what: &str, bytes: &[u8]) -> Result<T, String> {
    decode_record(bytes).map_err(|e| format!("{what}: {e}"))
}

fn id_bytes<const N: usize>(what: &str, rest: &[u8]) -> Result<[u8; N], String> {
    rest.try_into().map_err(|_| format!("{what} key has {} id bytes, expected {N}", rest.len()))
}

/// Rebuilds a ledger from exported bytes (a store's contents).
///
/// # Errors
/// A description of the first key or value that does not decode or does not fit.
pub fn import(map: &KvMap) -> Result<LedgerState, String> {
    let g: Globals = decode_value(
        "globals",
        map.get(&key(table::GLOBALS, &[])).ok_or("the store has no globals record")?,
    )?;
    let mut state = empty_state(g);
    let mut orders: Vec<(OrderId, OrderRecord)> = Vec::new();
    for (k, v) in map {
        let (tag, rest) = k.split_first().ok_or("empty key")?;
        match *tag {
            table::GLOBALS => {}
            table::ACCOUNT => {
                let id = AccountId::new(u64::from_be_bytes(id_bytes("account", rest)?));
                let account: Account = decode_value("account", v)?;
                let expected = AccountId::new(state.accounts.len() as u64 + 1);
                if !account.open_orders.is_empty() || !account.client_ids.is_empty() {
                    return Err(format!("account {id} stores its order indexes"));
                }
                if account.id != id || id != expected {
                    return Err(format!(
                        "account record {} under key {id}; expected {expected}",
                        account.id
                    ));
                }
                state.accounts.push(account);
            }
            table::KEY => {
                let grant: KeyGrant = decode_value("key", v)?;
                state.keys.insert(PublicKey(id_bytes("key", rest)?), grant);
            }
            table::MARKET => {
                let id = MarketId::new(u32::from_be_bytes(id_bytes("market", rest)?));
                let r: MarketRecord = decode_value("market", v)?;
                state.symbols.insert(r.spec.symbol.clone(), id);
                let market = Market {
                    id,
                    spec: r.spec,
                    status: r.status,
                    mark: r.mark,
                    lot_tick_value: r.lot_tick_value,
                    long_interest: r.long_interest,
                    short_interest: r.short_interest,
                    book: Book::new(),
                };
                state.markets.insert(id, market);
            }
            table::ORDER => {
                let page = u64::from_be_bytes(id_bytes("order page", rest)?);
                let records: Vec<(OrderId, OrderRecord)> = decode_value("order page", v)?;
                if records.is_empty() || records.windows(2).any(|w| w[0].0 >= w[1].0) {
                    return Err(format!("order page {page} is empty or out of order"));
                }
                for (id, record) in records {
                    if id.get() / ORDER_PAGE != page {
                        return Err(format!("order {id} stored in page {page}"));
                    }
                    orders.push((id, record));
                }
            }
            table::INDEX => {
                let id = IndexId::new(u32::from_be_bytes(id_bytes("index", rest)?));
                state.indexes.insert(id, decode_value::<IndexState>("index", v)?);
            }
            table::PROPOSAL => {
                let id = ProposalId::new(u64::from_be_bytes(id_bytes("proposal", rest)?));
                state.proposals.insert(id, decode_value::<Proposal>("proposal", v)?);
            }
            table::REFERENCE => {
                let bytes: [u8; 40] = id_bytes("reference", rest)?;
                let (member, reference) = bytes.split_at(8);
                let member = AccountId::new(u64::from_be_bytes(id_bytes("reference", member)?));
                state.references.insert((member, Hash(id_bytes("reference", reference)?)));
            }
            other => return Err(format!("unknown table tag {other:#04x}")),
        }
    }
    restore_orders(&mut state, orders)?;
    restore_indexes(&mut state);
    crate::invariants::check_full(&state)
        .map_err(|e| format!("imported state is inconsistent: {e}"))?;
    Ok(state)
}

fn empty_state(g: Globals) -> LedgerState {
    let [fee_pool, insurance_fund, total_deposits, total_withdrawals, total_cash, total_guaranty] =
        g.cash;
    let mut state = LedgerState::empty(g.chain_id, g.time, g.risk, g.validators);
    state.height = g.height;
    state.last_block_hash = g.last_block_hash;
    state.pending_validators = g.pending_validators.into_iter().collect();
    state.fee_pool = fee_pool;
    state.insurance_fund = insurance_fund;
    state.total_deposits = total_deposits;
    state.total_withdrawals = total_withdrawals;
    state.total_cash = total_cash;
    state.total_guaranty = total_guaranty;
    state.next_account = g.next_account;
    state.next_market = g.next_market;
    state.next_index = g.next_index;
    state.next_proposal = g.next_proposal;
    state.next_queue_seq = g.next_queue_seq;
    state.vm_epoch = g.vm_epoch;
    state.liquidation_backlog = g.liquidation_backlog;
    state
}

/// Puts orders back: records into the table, resting ones into their books in time priority.
fn restore_orders(
    state: &mut LedgerState,
    mut orders: Vec<(OrderId, OrderRecord)>,
) -> Result<(), String> {
    orders.sort_by_key(|(id, r)| (r.info.queue_seq, *id));
    let mut events = Vec::new();
    for (id, record) in orders {
        if record.resting.is_positive() {
            let market = state
                .markets
                .get_mut(&record.info.market)
                .ok_or_else(|| format!("order {id} names missing market {}", record.info.market))?;
            let incoming = Incoming {
                id,
                owner: record.info.account,
                group: record.group,
                side: record.info.side,
                price: record.info.price,
                qty: record.resting,
                style: Style::PostOnly,
                self_trade: SelfTradePrevention::ExpireTaker,
                reduce_only: record.info.reduce_only,
            };
            let outcome = market.book.submit(incoming, &mut events, &Unlimited);
            if outcome.resting != record.resting {
                return Err(format!("order {id} would cross its book on reload"));
            }
        }
        state.orders.insert(id, record.info);
    }
    Ok(())
}

/// Recomputes the indexes that follow from the records.
fn restore_indexes(state: &mut LedgerState) {
    let owned: Vec<(OrderId, AccountId, Option<ClientOrderId>)> = state
        .orders
        .sorted()
        .into_iter()
        .map(|(id, info)| (id, info.account, info.client_order_id))
        .collect();
    for (id, account, client_id) in owned {
        if let Some(account) = state.accounts.get_mut(&account) {
            account.open_orders.insert(id);
            if let Some(cid) = client_id {
                account.client_ids.insert(cid, id);
            }
        }
    }
    for (id, info) in state.orders.sorted() {
        if let Some(expiry) = info.expires_at {
            state.expiries.insert((expiry, id));
        }
        if info.reduce_only && info.pending_trigger.is_none() {
            state.reduce_only.insert((info.account, info.market, id));
        }
    }
    let pending: Vec<(OrderId, OrderInfo)> = state
        .orders
        .sorted()
        .into_iter()
        .filter(|(_, info)| info.pending_trigger.is_some())
        .map(|(id, info)| (id, info.clone()))
        .collect();
    for (id, info) in pending {
        state.index_trigger(id, &info);
    }
    for account in state.accounts.values() {
        if let Some(deadline) = account.deadman {
            state.deadmen.insert((deadline, account.id));
        }
    }
}
