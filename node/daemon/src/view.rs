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
use std::sync::Arc;
use tokenbook_ledger::admission::{Committed, MarketTerms};
use tokenbook_ledger::state::{Account, AccountKind, KeyGrant, Market};
use tokenbook_ledger::{LedgerState, Touched};
use tokenbook_protocol::{
    AccountId, Cash, ClientOrderId, Hash, Height, MarketId, MarketSpec, OrderId, Price, PublicKey,
    Qty, RiskParams, Side, Timestamp,
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
        }
    }
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
    /// `ledger` (the state after that commit).
    #[must_use]
    pub fn next(&self, ledger: &LedgerState, root: Hash, touched: &Touched) -> Self {
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
        view
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
                self.markets.insert(id, Arc::new(MarketView::of(market)));
            }
            None => {
                if let Some(old) = self.markets.remove(&id) {
                    self.symbols.remove(&old.spec.symbol);
                }
            }
        }
    }

    /// A market by symbol.
    #[must_use]
    pub fn market(&self, symbol: &str) -> Option<&Arc<MarketView>> {
        self.markets.get(self.symbols.get(symbol)?)
    }
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
