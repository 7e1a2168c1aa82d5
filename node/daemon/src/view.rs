//! The API's read view: what one committed height holds that clients read — accounts with their
//! open orders, key grants, markets with their books, the clearing totals — published whole
//! after each commit, so API reads never run on (or wait for) the consensus task.
//!
//! Promises:
//! - **One height.** Every part of a [`ReadView`] is the state after `height`; a reader holding
//!   an `Arc<ReadView>` keeps that height however many commits follow.
//! - **Cost proportional to the change.** The maps are persistent (structurally shared):
//!   publishing a height copies only the accounts, orders, key grants and markets its block
//!   touched ([`ReadView::next`]), never the whole ledger.
//! - **Equal to the ledger.** [`ReadView::next`] after any block equals [`ReadView::build`] of
//!   the state after it (tested against random blocks).

use imbl::{OrdMap, OrdSet};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokenbook_ledger::admission::{Committed, MarketTerms};
use tokenbook_ledger::state::{Account, AccountKind, KeyGrant, Market};
use tokenbook_ledger::{LedgerState, Touched};
use tokenbook_protocol::{
    AccountId, Cash, ClientOrderId, Hash, Height, IndexId, MarketId, MarketSpec, OrderId, Price,
    PublicKey, Qty, RiskParams, Side, Timestamp,
};

/// Most price levels per side a view keeps of a book (and a book answer shows).
pub const MAX_DEPTH: usize = 1_000;

/// An open order as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView {
    /// Owner.
    pub account: AccountId,
    /// Market.
    pub market: MarketId,
    /// Side.
    pub side: Side,
    /// Limit price (ticks).
    pub price: Price,
    /// Lots left: resting in the book, or the whole order while an untriggered stop waits.
    pub qty: Qty,
    /// The trader's id.
    pub client_order_id: Option<ClientOrderId>,
    /// False while a stop waits for its trigger.
    pub triggered: bool,
}

/// A market with the top of its book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketView {
    /// Its id.
    pub id: MarketId,
    /// Terms.
    pub spec: MarketSpec,
    /// Lifecycle status.
    pub status: tokenbook_ledger::state::MarketStatus,
    /// Mark price (ticks).
    pub mark: Price,
    /// Cash value of one tick on one lot (micro-USD).
    pub lot_tick_value: Cash,
    /// Open interest (lots long = lots short).
    pub open_interest: Qty,
    /// Orders resting in the book.
    pub resting_orders: usize,
    /// Bid levels, best first: (price, lots, orders), at most [`MAX_DEPTH`].
    pub bids: Vec<(Price, Qty, u32)>,
    /// Ask levels, best first.
    pub asks: Vec<(Price, Qty, u32)>,
    /// The book's sequence number: how many [`BookUpdate`]s the market has had (this node
    /// counts from its start).
    pub seq: u64,
}

impl MarketView {
    fn of(market: &Market) -> Self {
        MarketView {
            id: market.id,
            spec: market.spec.clone(),
            status: market.status,
            mark: market.mark,
            lot_tick_value: market.lot_tick_value,
            open_interest: market.long_interest,
            resting_orders: market.book.len(),
            bids: market.book.depth(Side::Buy, MAX_DEPTH),
            asks: market.book.depth(Side::Sell, MAX_DEPTH),
            seq: 0,
        }
    }
}

/// The clearing house's own numbers and the chain-wide lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalsView {
    /// Block time of the height.
    pub time: Timestamp,
    /// Insurance fund cash.
    pub insurance_fund: Cash,
    /// Fees collected.
    pub fee_pool: Cash,
    /// Σ members' posted guaranty.
    pub total_guaranty: Cash,
    /// Σ account cash.
    pub total_cash: Cash,
    /// Σ deposits.
    pub total_deposits: Cash,
    /// Σ withdrawals.
    pub total_withdrawals: Cash,
    /// Liquidations left for the next block.
    pub liquidation_backlog: bool,
    /// Global risk parameters.
    pub risk: RiskParams,
    /// Open governance proposals.
    pub proposals: Vec<tokenbook_ledger::state::Proposal>,
    /// The validators deciding the next height.
    pub next_validators: Vec<tokenbook_protocol::Validator>,
    /// Every index: its name, last good price and whether it is fresh.
    pub indexes: BTreeMap<IndexId, IndexView>,
    /// Each market whose settlement window is open at this height: the index's time-weighted
    /// average since the window opened (micro-USD; `None` until the window holds a checkpoint).
    pub settlement_twaps: BTreeMap<MarketId, Option<Cash>>,
    /// Each market's index time-weighted average over the last `settlement_window_ms` up to
    /// this height's block time (micro-USD; `None` without a checkpoint in that span).
    pub rolling_twaps: BTreeMap<MarketId, Option<Cash>>,
}

/// One index as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexView {
    /// Its listed name.
    pub name: String,
    /// The last good price (micro-USD), if any.
    pub price: Option<Cash>,
    /// Whether a quorum of members' submissions is fresh.
    pub fresh: bool,
}

impl GlobalsView {
    fn of(ledger: &LedgerState) -> Self {
        let next = Height::new(ledger.height.get().saturating_add(1));
        GlobalsView {
            time: ledger.time,
            insurance_fund: ledger.insurance_fund,
            fee_pool: ledger.fee_pool,
            total_guaranty: ledger.total_guaranty,
            total_cash: ledger.total_cash,
            total_deposits: ledger.total_deposits,
            total_withdrawals: ledger.total_withdrawals,
            liquidation_backlog: ledger.liquidation_backlog,
            risk: ledger.risk,
            proposals: ledger.proposals.values().cloned().collect(),
            next_validators: ledger.validator_set_for(next).validators.clone(),
            indexes: ledger
                .indexes
                .iter()
                .map(|(id, i)| {
                    let view =
                        IndexView { name: i.spec.name.clone(), price: i.price, fresh: i.fresh };
                    (*id, view)
                })
                .collect(),
            settlement_twaps: settlement_twaps(ledger),
            rolling_twaps: rolling_twaps(ledger),
        }
    }
}

/// Every market's index TWAP over its settlement window's length, up to now.
fn rolling_twaps(ledger: &LedgerState) -> BTreeMap<MarketId, Option<Cash>> {
    let now = ledger.time;
    let span = |m: &Market| Timestamp::new(now.get().saturating_sub(m.spec.settlement_window_ms));
    let twap = |m: &Market| ledger.indexes.get(&m.spec.index)?.twap.average(span(m), now);
    ledger.markets.values().map(|m| (m.id, twap(m))).collect()
}

/// The settlement TWAP so far of every market whose settlement window is open (as the ledger
/// will compute it at expiry, over the window up to now).
fn settlement_twaps(ledger: &LedgerState) -> BTreeMap<MarketId, Option<Cash>> {
    let now = ledger.time;
    let opens = |m: &Market| {
        Timestamp::new(m.spec.expiry.get().saturating_sub(m.spec.settlement_window_ms))
    };
    ledger
        .markets
        .values()
        .filter(|m| opens(m) <= now && now < m.spec.expiry)
        .map(|m| {
            let index = ledger.indexes.get(&m.spec.index);
            (m.id, index.and_then(|i| i.twap.average(opens(m), now)))
        })
        .collect()
}

/// Everything the API reads of one committed height.
#[derive(Clone, Debug)]
pub struct ReadView {
    /// The height.
    pub height: Height,
    /// The state root after it.
    pub root: Hash,
    /// Accounts by id (as the ledger holds them).
    pub accounts: OrdMap<AccountId, Arc<Account>>,
    /// Open orders by id.
    pub orders: OrdMap<OrderId, OrderView>,
    /// Key grants by key.
    pub keys: OrdMap<PublicKey, KeyGrant>,
    /// Markets by id.
    pub markets: OrdMap<MarketId, Arc<MarketView>>,
    /// Market ids by symbol.
    pub symbols: OrdMap<String, MarketId>,
    /// Member accounts.
    pub members: OrdSet<AccountId>,
    /// Totals and lists.
    pub globals: Arc<GlobalsView>,
    /// Txs the mempool dropped without a block, by hash (the newest [`MAX_DROPPED`]).
    pub dropped: OrdMap<Hash, Dropped>,
    /// The same hashes, oldest first (for eviction).
    dropped_order: imbl::Vector<Hash>,
    /// Each market's latest book updates, oldest first (at most [`RECENT_UPDATES`]).
    pub recent: OrdMap<MarketId, imbl::Vector<Arc<BookUpdate>>>,
}

/// How many book updates per market a view keeps for clients that resume.
pub const RECENT_UPDATES: usize = 512;

/// What one commit changed in one market's book, with the market's fills in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookUpdate {
    /// The market.
    pub market: MarketId,
    /// The height committed.
    pub height: Height,
    /// The book's sequence number after this update (one more than before it).
    pub seq: u64,
    /// Bid levels that changed: (price, lots, orders), zero lots for a level gone. Applied to
    /// the levels before, they give the levels after (at most [`MAX_DEPTH`] a side).
    pub bids: Vec<(Price, Qty, u32)>,
    /// Ask levels that changed.
    pub asks: Vec<(Price, Qty, u32)>,
    /// Orders that changed: the order now, or `None` once it left the book.
    pub orders: Vec<(OrderId, Option<OrderView>)>,
    /// The market's fills in the commit, in order.
    pub fills: Vec<tokenbook_ledger::Event>,
    /// The update as the level-2 and level-3 streams send it, rendered once for every
    /// subscriber.
    pub rendered: [std::sync::OnceLock<String>; 2],
}

/// The levels of `after` that differ from `before` (both best first), and `before`'s levels
/// missing from `after` with zero lots; in price order.
fn level_changes(
    before: &[(Price, Qty, u32)],
    after: &[(Price, Qty, u32)],
) -> Vec<(Price, Qty, u32)> {
    let old: std::collections::BTreeMap<Price, (Qty, u32)> =
        before.iter().map(|(p, q, n)| (*p, (*q, *n))).collect();
    let new: std::collections::BTreeMap<Price, (Qty, u32)> =
        after.iter().map(|(p, q, n)| (*p, (*q, *n))).collect();
    let mut changes: Vec<(Price, Qty, u32)> =
        new.iter().filter(|(p, v)| old.get(p) != Some(v)).map(|(p, (q, n))| (*p, *q, *n)).collect();
    changes.extend(old.keys().filter(|p| !new.contains_key(p)).map(|p| (*p, Qty::new(0), 0)));
    changes.sort_by_key(|(p, _, _)| *p);
    changes
}

/// How many dropped txs a view remembers.
pub const MAX_DROPPED: usize = 100_000;

/// A tx admitted to the mempool that left it without a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The height after which the state refused it.
    pub height: Height,
    /// The refusal's stable code.
    pub code: &'static str,
    /// The refusal, for people.
    pub message: String,
}

impl ReadView {
    /// The view of `ledger` (after the height whose root is `root`), built from scratch.
    #[must_use]
    pub fn build(ledger: &LedgerState, root: Hash) -> Self {
        let mut view = ReadView {
            height: ledger.height,
            root,
            accounts: OrdMap::new(),
            orders: OrdMap::new(),
            keys: ledger.keys.iter().map(|(k, g)| (*k, *g)).collect(),
            markets: OrdMap::new(),
            symbols: OrdMap::new(),
            members: OrdSet::new(),
            globals: Arc::new(GlobalsView::of(ledger)),
            dropped: OrdMap::new(),
            dropped_order: imbl::Vector::new(),
            recent: OrdMap::new(),
        };
        for account in ledger.accounts.values() {
            view.put_account(ledger, account.id);
        }
        for (id, _) in ledger.orders.sorted() {
            view.put_order(ledger, id);
        }
        for id in ledger.markets.keys() {
            view.put_market(ledger, *id);
        }
        view
    }

    /// The view after the next commit: this one with what `touched` names re-read from
    /// `ledger` (the state after that commit), and each touched market's [`BookUpdate`] (if its
    /// book changed or it filled) appended to [`Self::recent`]. `receipts` are the commit's,
    /// committed at `height`.
    #[must_use]
    pub fn next(
        &self,
        ledger: &LedgerState,
        root: Hash,
        touched: &Touched,
        height: Height,
        receipts: &tokenbook_ledger::BlockReceipts,
    ) -> Self {
        let mut view = self.clone();
        view.height = ledger.height;
        view.root = root;
        for id in &touched.accounts {
            view.put_account(ledger, *id);
        }
        for id in &touched.orders {
            view.put_order(ledger, *id);
        }
        for key in &touched.keys {
            match ledger.keys.get(key) {
                Some(grant) => view.keys.insert(*key, *grant),
                None => view.keys.remove(key),
            };
        }
        for id in &touched.markets {
            view.put_market(ledger, *id);
        }
        view.globals = Arc::new(GlobalsView::of(ledger));
        for market in &touched.markets {
            view.record_update(self, *market, height, touched, receipts);
        }
        view
    }

    /// Appends `market`'s update since `before` to [`Self::recent`] and counts it in the
    /// market's sequence number, if anything changed.
    fn record_update(
        &mut self,
        before: &ReadView,
        market: MarketId,
        height: Height,
        touched: &Touched,
        receipts: &tokenbook_ledger::BlockReceipts,
    ) {
        let Some(after) = self.markets.get(&market).cloned() else { return };
        let old = before.markets.get(&market);
        let none: &[(Price, Qty, u32)] = &[];
        let bids = level_changes(old.map_or(none, |m| &m.bids), &after.bids);
        let asks = level_changes(old.map_or(none, |m| &m.asks), &after.asks);
        let orders: Vec<(OrderId, Option<OrderView>)> = touched
            .orders
            .iter()
            .filter_map(|id| {
                // Untriggered stops are not in the book: they appear when they trigger.
                let in_book = |o: Option<&OrderView>| o.filter(|o| o.triggered).copied();
                let (was, now) = (in_book(before.orders.get(id)), in_book(self.orders.get(id)));
                let here = was.or(now).is_some_and(|o| o.market == market);
                (here && was != now).then_some((*id, now))
            })
            .collect();
        let fills: Vec<tokenbook_ledger::Event> = fills_of(receipts)
            .filter(
                |e| matches!(e, tokenbook_ledger::Event::Fill { market: m, .. } if *m == market),
            )
            .cloned()
            .collect();
        if bids.is_empty() && asks.is_empty() && orders.is_empty() && fills.is_empty() {
            return;
        }
        let seq = old.map_or(0, |m| m.seq) + 1;
        let update = BookUpdate {
            market,
            height,
            seq,
            bids,
            asks,
            orders,
            fills,
            rendered: Default::default(),
        };
        let mut counted = (*after).clone();
        counted.seq = seq;
        self.markets.insert(market, Arc::new(counted));
        let list = self.recent.entry(market).or_default();
        list.push_back(Arc::new(update));
        while list.len() > RECENT_UPDATES {
            list.pop_front();
        }
    }

    /// Records txs the mempool dropped after this view's height (the oldest records leave
    /// beyond [`MAX_DROPPED`]).
    pub fn record_dropped(&mut self, dropped: &[(Hash, tokenbook_ledger::Reject)]) {
        for (hash, reject) in dropped {
            let record = Dropped {
                height: self.height,
                code: reject.code.code(),
                message: reject.message.clone(),
            };
            if self.dropped.insert(*hash, record).is_none() {
                self.dropped_order.push_back(*hash);
            }
        }
        while self.dropped_order.len() > MAX_DROPPED {
            if let Some(oldest) = self.dropped_order.pop_front() {
                self.dropped.remove(&oldest);
            }
        }
    }

    fn put_account(&mut self, ledger: &LedgerState, id: AccountId) {
        match ledger.accounts.get(&id) {
            Some(account) => {
                if account.kind == AccountKind::Member {
                    self.members.insert(id);
                } else {
                    self.members.remove(&id);
                }
                self.accounts.insert(id, Arc::new(account.clone()));
            }
            None => {
                self.members.remove(&id);
                self.accounts.remove(&id);
            }
        }
    }

    fn put_order(&mut self, ledger: &LedgerState, id: OrderId) {
        let Some(info) = ledger.orders.get(&id) else {
            self.orders.remove(&id);
            return;
        };
        let resting = ledger.markets.get(&info.market).and_then(|m| m.book.get(id));
        let qty = match (resting, &info.pending_trigger) {
            (Some(resting), _) => resting.qty,
            (None, Some(pending)) => pending.qty,
            (None, None) => Qty::new(0),
        };
        let order = OrderView {
            account: info.account,
            market: info.market,
            side: info.side,
            price: info.price,
            qty,
            client_order_id: info.client_order_id,
            triggered: info.pending_trigger.is_none(),
        };
        self.orders.insert(id, order);
    }

    fn put_market(&mut self, ledger: &LedgerState, id: MarketId) {
        match ledger.markets.get(&id) {
            Some(market) => {
                self.symbols.insert(market.spec.symbol.clone(), id);
                // The book's sequence number counts updates, not rebuilds: a market touched
                // without a book change keeps it (`record_update` adds one for a change).
                let mut fresh = MarketView::of(market);
                fresh.seq = self.markets.get(&id).map_or(0, |m| m.seq);
                self.markets.insert(id, Arc::new(fresh));
            }
            None => {
                if let Some(old) = self.markets.remove(&id) {
                    self.symbols.remove(&old.spec.symbol);
                }
            }
        }
    }

    /// `market`'s updates after sequence number `since`, oldest first, if this view still holds
    /// all of them (`None` when some are gone, or when `since` is beyond this node's sequence —
    /// numbers from another node, or from before this node restarted: the client needs a
    /// snapshot).
    #[must_use]
    pub fn updates_since(&self, market: MarketId, since: u64) -> Option<Vec<Arc<BookUpdate>>> {
        let current = self.markets.get(&market)?.seq;
        if since > current {
            return None;
        }
        if since == current {
            return Some(Vec::new());
        }
        let list = self.recent.get(&market)?;
        let first = list.front()?.seq;
        if since + 1 < first {
            return None;
        }
        Some(list.iter().filter(|u| u.seq > since).cloned().collect())
    }

    /// A market by symbol.
    #[must_use]
    pub fn market(&self, symbol: &str) -> Option<&Arc<MarketView>> {
        self.markets.get(self.symbols.get(symbol)?)
    }
}

/// Every event of a commit's receipts: begin-of-block, accepted txs', end-of-block.
fn fills_of(
    receipts: &tokenbook_ledger::BlockReceipts,
) -> impl Iterator<Item = &tokenbook_ledger::Event> {
    let txs = receipts.receipts.iter().filter_map(|r| r.result.as_ref().ok()).flatten();
    receipts.begin_events.iter().chain(txs).chain(&receipts.end_events)
}

impl PartialEq for ReadView {
    fn eq(&self, other: &Self) -> bool {
        self.height == other.height
            && self.root == other.root
            && self.accounts == other.accounts
            && self.orders == other.orders
            && self.keys == other.keys
            && self.markets == other.markets
            && self.symbols == other.symbols
            && self.members == other.members
            && self.globals == other.globals
            && self.dropped == other.dropped
    }
}

/// Admission reads the view as it would the ledger: a tx's cheap checks run on the API's
/// threads against the last committed height.
impl Committed for ReadView {
    fn time(&self) -> Timestamp {
        self.globals.time
    }

    fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id).map(|a| &**a)
    }

    fn grant(&self, key: &PublicKey) -> Option<KeyGrant> {
        self.keys.get(key).copied()
    }

    fn market(&self, id: MarketId) -> Option<MarketTerms> {
        self.markets.get(&id).map(|m| MarketTerms {
            status: m.status,
            mark: m.mark,
            params: m.spec.params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenbook_ledger::apply::genesis_state;
    use tokenbook_ledger::genesis::devnet;

    /// The TWAP is shown only inside a market's settlement window, and is the ledger's own
    /// average over the window so far.
    #[test]
    fn the_settlement_twap_is_shown_only_while_the_window_is_open() {
        let key = |b: u8| tokenbook_protocol::Keypair::from_seed(&[b; 32]).public_key();
        let member = tokenbook_ledger::state::GenesisMember {
            name: "m".into(),
            key: key(1),
            validator: Some(tokenbook_protocol::Validator {
                consensus_key: key(2),
                network_key: key(3),
                power: 1,
            }),
        };
        let genesis = devnet("t", Timestamp::new(1_000), vec![member], Vec::new());
        let mut ledger = genesis_state(&genesis).unwrap();
        let market = ledger.markets.values().next().unwrap().clone();
        let opens = market.spec.expiry.get() - market.spec.settlement_window_ms;
        let index = ledger.indexes.get_mut(&market.spec.index).unwrap();
        // A checkpoint as the window opens, a price change 1 s later (same checkpoint).
        index.twap.record(Timestamp::new(opens), Cash::new(4_000_000));
        index.twap.record(Timestamp::new(opens + 1_000), Cash::new(6_000_000));
        ledger.time = Timestamp::new(opens - 1);
        assert_eq!(settlement_twaps(&ledger).get(&market.id), None, "before the window");
        ledger.time = Timestamp::new(opens + 3_000);
        let twap = settlement_twaps(&ledger).get(&market.id).copied().flatten();
        let expected =
            ledger.indexes[&market.spec.index].twap.average(Timestamp::new(opens), ledger.time);
        assert!(twap.is_some() && twap == expected, "{twap:?} vs {expected:?}");
        // 1 s at $4 and 2 s at $6.
        assert_eq!(twap, Some(Cash::new(5_333_333)));
        ledger.time = market.spec.expiry;
        assert_eq!(settlement_twaps(&ledger).get(&market.id), None, "expired");
    }
}
