//! The ledger's state: accounts and keys, markets and their books, open orders, indexes,
//! governance proposals, validators, and the system cash accounts (fee pool, insurance fund).
//!
//! Everything is in `BTreeMap`s (or the order book, whose hash index is never iterated), so any
//! walk over the state visits it in key order on every validator. Genesis builds the initial
//! state; `apply_block` ([`crate::apply`]) is the only way it changes afterwards.

use crate::book::Book;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tokenbook_protocol::{
    AccountId, AccountLimits, Cash, ClientOrderId, GovAction, Hash, Height, IndexId,
    IndexObservation, IndexSpec, MarketId, MarketSpec, NewOrder, NonceWindow, OrderId, Price,
    ProposalId, PublicKey, Qty, RiskParams, Side, Timestamp, Validator, ValidatorSet,
};

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A clearing member (institution): registers and clears traders, attests cash, publishes
    /// index prices, votes on governance. May also trade for itself.
    Member,
    /// An operator listed in genesis: may halt a market at once (any resume or delist still
    /// needs a governance vote). Cannot trade.
    Admin,
    /// A trader account registered by a member.
    Trader,
}

/// A position in one market, with the account's open orders there (for worst-case margin and
/// position limits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Position {
    /// Signed lots: long > 0, short < 0.
    pub qty: Qty,
    /// Signed cost of the position in cash (Σ fill notional, + for buys): unrealised PnL at a
    /// price is `qty × price × lot tick value − cost`.
    pub cost: Cash,
    /// Lots in open buy orders (resting).
    pub open_buy: Qty,
    /// Lots in open sell orders (resting).
    pub open_sell: Qty,
}

impl Position {
    /// Profit or loss against the cost at `price` ticks: `qty × price × lot tick value − cost`.
    #[must_use]
    pub fn pnl_at(&self, price: Price, lot_tick_value: i128) -> i128 {
        i128::from(self.qty.get()) * i128::from(price.get()) * lot_tick_value - self.cost.get()
    }

    /// True when there is neither a position nor an open order.
    #[must_use]
    pub fn is_flat(&self) -> bool {
        self.qty == Qty::ZERO
            && self.cost == Cash::ZERO
            && self.open_buy == Qty::ZERO
            && self.open_sell == Qty::ZERO
    }
}

/// A clearing member's guaranty-fund contribution (all zero for other accounts): cash the
/// member has posted behind its traders, held apart from its account cash
/// (docs/adr/0005-oracle-margin-liquidation.md, "Default waterfall").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Guaranty {
    /// Cash posted.
    pub posted: Cash,
    /// What the member must hold: the governance floor, or its share of the initial margin of
    /// the accounts it clears when larger (set every variation-margin epoch).
    pub required: Cash,
    /// What defaults used and the member has not yet topped up.
    pub due: Cash,
}

impl Guaranty {
    /// True while the member must post before its traders may add risk: a default used its
    /// contribution and it has not topped it up, or the contribution is below the requirement.
    #[must_use]
    pub fn is_short(&self) -> bool {
        self.due.is_positive() || self.posted < self.required
    }
}

/// One account.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// Member, admin or trader.
    pub kind: AccountKind,
    /// The owner key (full rights).
    pub owner: PublicKey,
    /// The clearing member (itself for members and admins).
    pub member: AccountId,
    /// Limits set by the member.
    pub limits: AccountLimits,
    /// Self-trade prevention group (0 = alone).
    pub self_trade_group: u64,
    /// Frozen accounts cannot place orders or withdraw.
    pub frozen: bool,
    /// Settlement cash.
    pub cash: Cash,
    /// Positions by market (zero positions are removed).
    pub positions: crate::small::SortedMap<MarketId, Position>,
    /// Open orders (resting and untriggered).
    pub open_orders: crate::small::SortedSet<OrderId>,
    /// Client order ids of open orders.
    pub client_ids: crate::small::SortedMap<ClientOrderId, OrderId>,
    /// Replay protection for the owner key's txs.
    pub nonces: NonceWindow,
    /// Dead-man's switch deadline, if armed.
    pub deadman: Option<Timestamp>,
    /// Scoped trading keys the owner authorised, each with its own nonce window (so no signer
    /// can fill another's window and lock it out; issue #18).
    pub scoped_keys: BTreeMap<PublicKey, NonceWindow>,
    /// The guaranty-fund contribution, for a member (zero otherwise).
    pub guaranty: Guaranty,
}

impl Account {
    /// A new account: no cash, positions, orders, nonces, dead-man's switch or scoped keys.
    #[must_use]
    pub fn new(
        id: AccountId,
        kind: AccountKind,
        owner: PublicKey,
        member: AccountId,
        limits: AccountLimits,
        self_trade_group: u64,
    ) -> Self {
        Self {
            id,
            kind,
            owner,
            member,
            limits,
            self_trade_group,
            frozen: false,
            cash: Cash::ZERO,
            positions: crate::small::SortedMap::default(),
            open_orders: crate::small::SortedSet::default(),
            client_ids: crate::small::SortedMap::default(),
            nonces: NonceWindow::default(),
            deadman: None,
            scoped_keys: BTreeMap::new(),
            guaranty: Guaranty::default(),
        }
    }
}

/// Accounts by id. Ids are dense from 1 (the ledger assigns them in sequence and never removes
/// an account), so the id is the index: lookups are O(1) and iteration is in id order.
#[derive(Clone, Debug, Default)]
pub struct Accounts(Vec<Account>);

impl Accounts {
    fn slot(id: AccountId) -> Option<usize> {
        id.get().checked_sub(1).and_then(|i| usize::try_from(i).ok())
    }

    /// The account with this id.
    #[must_use]
    pub fn get(&self, id: &AccountId) -> Option<&Account> {
        Self::slot(*id).and_then(|i| self.0.get(i))
    }

    /// The account with this id, mutably.
    pub fn get_mut(&mut self, id: &AccountId) -> Option<&mut Account> {
        Self::slot(*id).and_then(|i| self.0.get_mut(i))
    }

    /// True when the account exists.
    #[must_use]
    pub fn contains_key(&self, id: &AccountId) -> bool {
        self.get(id).is_some()
    }

    /// Adds the next account; its id must be one more than the last.
    pub fn push(&mut self, account: Account) {
        assert_eq!(Self::slot(account.id), Some(self.0.len()), "account ids must be dense");
        self.0.push(account);
    }

    /// Accounts in id order.
    pub fn values(&self) -> impl Iterator<Item = &Account> {
        self.0.iter()
    }

    /// Accounts in id order, mutably.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Account> {
        self.0.iter_mut()
    }

    /// Number of accounts.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Accounts {
    type Item = (&'a AccountId, &'a Account);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, Account>,
        fn(&'a Account) -> (&'a AccountId, &'a Account),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|a| (&a.id, a))
    }
}

impl std::ops::Index<&AccountId> for Accounts {
    type Output = Account;

    fn index(&self, id: &AccountId) -> &Account {
        match self.get(id) {
            Some(account) => account,
            None => unreachable!("account {id} looked up by index does not exist"),
        }
    }
}

/// A key's authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum KeyGrant {
    /// The owner key of an account.
    Owner(AccountId),
    /// A scoped trading key of an account, optionally expiring.
    Trading {
        /// The account it trades for.
        account: AccountId,
        /// Block time after which it stops working.
        expires_at: Option<Timestamp>,
    },
}

/// A market's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketStatus {
    /// Listed, not yet trading.
    PreOpen,
    /// Trading.
    Active,
    /// Matching stopped; orders stay; cancels allowed.
    Halted,
    /// Expiry reached; final settlement in progress.
    Settling,
    /// Settled and closed.
    Settled,
}

/// A listed market.
#[derive(Clone, Debug)]
pub struct Market {
    /// Id.
    pub id: MarketId,
    /// Listing terms and parameters.
    pub spec: MarketSpec,
    /// Lifecycle state.
    pub status: MarketStatus,
    /// Mark price (ticks). Until the oracle drives it (issue #4), the listing's reference price.
    pub mark: Price,
    /// Cash value of one tick on one lot: tick size × multiplier × lot size.
    pub lot_tick_value: Cash,
    /// Total long lots.
    pub long_interest: Qty,
    /// Total short lots (always equal to the long total).
    pub short_interest: Qty,
    /// The book.
    pub book: Book,
}

/// Ledger-side facts about an open order that the book does not keep.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct OrderInfo {
    /// Owner account.
    pub account: AccountId,
    /// Market.
    pub market: MarketId,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Trader's id, if any.
    pub client_order_id: Option<ClientOrderId>,
    /// Good-til-time expiry.
    pub expires_at: Option<Timestamp>,
    /// Reduce-only.
    pub reduce_only: bool,
    /// Post-only (kept on replace).
    pub post_only: bool,
    /// Self-trade prevention mode (kept on replace).
    pub self_trade: tokenbook_protocol::SelfTradePrevention,
    /// Untriggered stop / take-profit: the whole order waits here, not in the book.
    pub pending_trigger: Option<Box<NewOrder>>,
    /// Time priority within its price level: a counter taken when the order (re)joins a queue, so
    /// a book can be rebuilt from its orders alone (0 for an untriggered stop).
    pub queue_seq: u64,
}

/// Open orders by id: a hash index with a fixed hasher for O(1) lookups. It cannot be iterated in
/// hash order; [`OrderTable::sorted`] walks it in id order.
#[derive(Clone, Debug, Default)]
pub struct OrderTable(crate::fixed_hash::FixedHashMap<OrderId, OrderInfo>);

impl OrderTable {
    /// The order's record.
    #[must_use]
    pub fn get(&self, id: &OrderId) -> Option<&OrderInfo> {
        self.0.get(id)
    }

    /// Adds a record (the id must be new).
    pub fn insert(&mut self, id: OrderId, info: OrderInfo) {
        let previous = self.0.insert(id, info);
        debug_assert!(previous.is_none(), "order {id} recorded twice");
    }

    /// Removes a record.
    pub fn remove(&mut self, id: &OrderId) -> Option<OrderInfo> {
        self.0.remove(id)
    }

    /// Number of open orders.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when none are open.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every record, in id order.
    #[must_use]
    pub fn sorted(&self) -> Vec<(OrderId, &OrderInfo)> {
        #[allow(clippy::iter_over_hash_type)]
        let mut all: Vec<(OrderId, &OrderInfo)> =
            self.0.iter().map(|(id, info)| (*id, info)).collect();
        all.sort_unstable_by_key(|(id, _)| *id);
        all
    }
}

impl std::ops::Index<&OrderId> for OrderTable {
    type Output = OrderInfo;

    fn index(&self, id: &OrderId) -> &OrderInfo {
        match self.0.get(id) {
            Some(info) => info,
            None => unreachable!("order {id} looked up by index does not exist"),
        }
    }
}

/// A price index.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct IndexState {
    /// Listing.
    pub spec: IndexSpec,
    /// Latest observation per member.
    pub submissions: BTreeMap<AccountId, IndexObservation>,
    /// Last good price, if any (the lower median of a quorum of fresh submissions).
    pub price: Option<Cash>,
    /// True while a quorum of members' submissions is fresh; a stale index keeps its last good
    /// price.
    pub fresh: bool,
    /// Time integral of the index price, for the settlement TWAP.
    pub twap: crate::oracle::Twap,
}

/// An open governance proposal.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Proposal {
    /// Id.
    pub id: ProposalId,
    /// Proposing member.
    pub proposer: AccountId,
    /// What it does.
    pub action: GovAction,
    /// Lapses after this block time.
    pub expires_at: Timestamp,
    /// Members that approved (the proposer included).
    pub approvals: BTreeSet<AccountId>,
}

/// The whole ledger state.
#[derive(Clone, Debug)]
pub struct LedgerState {
    /// Chain id (in every signature preimage).
    pub chain_id: String,
    /// Last applied height (0 = genesis).
    pub height: Height,
    /// Last applied block time.
    pub time: Timestamp,
    /// Hash of the last applied block (fair sequencing seeds from it).
    pub last_block_hash: Hash,
    /// Global risk parameters.
    pub risk: RiskParams,
    /// Accounts by id.
    pub accounts: Accounts,
    /// Every registered key's authority.
    pub keys: BTreeMap<PublicKey, KeyGrant>,
    /// Markets by id.
    pub markets: BTreeMap<MarketId, Market>,
    /// Market ids by symbol.
    pub symbols: BTreeMap<String, MarketId>,
    /// Open orders by id.
    pub orders: OrderTable,
    /// Good-til-time expiries.
    pub expiries: BTreeSet<(Timestamp, OrderId)>,
    /// Resting reduce-only orders by (account, market), to re-check after fills.
    pub reduce_only: BTreeSet<(AccountId, MarketId, OrderId)>,
    /// Pending triggers that fire when the mark rises to their price: (market, price, order).
    pub triggers_up: BTreeSet<(MarketId, Price, OrderId)>,
    /// Pending triggers that fire when the mark falls to their price: (market, price, order).
    pub triggers_down: BTreeSet<(MarketId, Price, OrderId)>,
    /// Armed dead-man's switches.
    pub deadmen: BTreeSet<(Timestamp, AccountId)>,
    /// Indexes by id.
    pub indexes: BTreeMap<IndexId, IndexState>,
    /// Open proposals.
    pub proposals: BTreeMap<ProposalId, Proposal>,
    /// Deposit/withdrawal references used, per member.
    pub references: BTreeSet<(AccountId, Hash)>,
    /// The validator set for the next height.
    pub validators: ValidatorSet,
    /// Validator sets decided by governance, by the height at which they take effect.
    pub pending_validators: BTreeMap<Height, ValidatorSet>,
    /// Fees collected (net of maker rebates).
    pub fee_pool: Cash,
    /// Insurance fund.
    pub insurance_fund: Cash,
    /// Σ members' posted guaranty-fund contributions, kept in step with every post, release
    /// and use (checked against a full recount by [`crate::invariants::check_full`]).
    pub total_guaranty: Cash,
    /// All deposits ever.
    pub total_deposits: Cash,
    /// All withdrawals ever.
    pub total_withdrawals: Cash,
    /// Next ids.
    pub next_account: AccountId,
    /// Next market id.
    pub next_market: MarketId,
    /// Next index id.
    pub next_index: IndexId,
    /// Next proposal id.
    pub next_proposal: ProposalId,
    /// Next queue sequence number for resting orders.
    pub next_queue_seq: u64,
    /// Variation-margin epoch last settled: block time / `settlement_epoch_ms`.
    pub vm_epoch: u64,
    /// Σ account cash, kept in step with every credit and debit (checked against a full
    /// recount by [`crate::invariants::check_full`]).
    pub total_cash: Cash,
    /// The last block's liquidation pass stopped at `max_liquidations_per_block` with accounts
    /// still below maintenance margin.
    pub liquidation_backlog: bool,
    /// The liquidation order being executed (its fills pay the liquidation fee to the
    /// insurance fund instead of the taker fee); `None` outside a liquidation.
    pub(crate) liquidation_order: Option<tokenbook_protocol::OrderId>,
    /// What the block being applied has changed so far.
    pub(crate) touched: crate::receipt::TouchLog,
    /// Orders created in the block being applied.
    pub(crate) order_seq: u64,
    /// Nonce verdicts of the block being applied, per account owner key.
    /// Indexed by account id − 1; an entry counts only if stamped with the current height.
    pub(crate) block_nonces: Vec<(Height, tokenbook_protocol::BlockNonces)>,
    /// The same for scoped keys (few), by (account, key); cleared when a block starts.
    pub(crate) block_scoped_nonces:
        (Height, BTreeMap<(AccountId, PublicKey), tokenbook_protocol::BlockNonces>),
    /// Reused buffer for the book's execution reports.
    pub(crate) scratch: Vec<crate::book::Event>,
    /// Which accounts the liquidation pass must look at (derived, never stored; `None` until
    /// the first pass builds it).
    pub(crate) risk_index: Option<crate::risk_index::RiskIndex>,
}

impl LedgerState {
    /// A ledger with nothing in it yet: height 0, no accounts, markets or orders, counters at 1.
    #[must_use]
    pub fn empty(
        chain_id: String,
        time: Timestamp,
        risk: RiskParams,
        validators: ValidatorSet,
    ) -> Self {
        Self {
            chain_id,
            height: Height::new(0),
            time,
            last_block_hash: Hash::ZERO,
            risk,
            accounts: Accounts::default(),
            keys: BTreeMap::new(),
            markets: BTreeMap::new(),
            symbols: BTreeMap::new(),
            orders: OrderTable::default(),
            expiries: BTreeSet::new(),
            reduce_only: BTreeSet::new(),
            triggers_up: BTreeSet::new(),
            triggers_down: BTreeSet::new(),
            deadmen: BTreeSet::new(),
            indexes: BTreeMap::new(),
            proposals: BTreeMap::new(),
            references: BTreeSet::new(),
            validators,
            pending_validators: BTreeMap::new(),
            fee_pool: Cash::ZERO,
            insurance_fund: Cash::ZERO,
            total_guaranty: Cash::ZERO,
            total_deposits: Cash::ZERO,
            total_withdrawals: Cash::ZERO,
            next_account: AccountId::new(1),
            next_market: MarketId::new(1),
            next_index: IndexId::new(1),
            next_proposal: ProposalId::new(1),
            next_queue_seq: 1,
            vm_epoch: 0,
            liquidation_backlog: false,
            liquidation_order: None,
            total_cash: Cash::ZERO,
            touched: crate::receipt::TouchLog::default(),
            order_seq: 0,
            block_nonces: Vec::new(),
            block_scoped_nonces: (Height::new(0), BTreeMap::new()),
            scratch: Vec::new(),
            risk_index: None,
        }
    }

    /// Member accounts, in id order.
    pub fn members(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values().filter(|a| a.kind == AccountKind::Member)
    }

    /// Number of member accounts.
    #[must_use]
    pub fn member_count(&self) -> usize {
        self.members().count()
    }

    /// The market with this symbol.
    #[must_use]
    pub fn market_by_symbol(&self, symbol: &str) -> Option<&Market> {
        self.symbols.get(symbol).and_then(|id| self.markets.get(id))
    }

    /// The validator set that certifies `height` (meaningful for the next two heights: changes
    /// are scheduled two heights ahead): the newest scheduled set at or below it, else the
    /// current set.
    #[must_use]
    pub fn validator_set_for(&self, height: Height) -> &ValidatorSet {
        self.pending_validators
            .range(..=height)
            .next_back()
            .map_or(&self.validators, |(_, set)| set)
    }

    /// The account a key acts for.
    #[must_use]
    pub fn account_of_key(&self, key: &PublicKey) -> Option<AccountId> {
        self.keys.get(key).map(|grant| match grant {
            KeyGrant::Owner(account) | KeyGrant::Trading { account, .. } => *account,
        })
    }
}

/// A member in genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisMember {
    /// Display name.
    pub name: String,
    /// Account owner key.
    pub key: PublicKey,
    /// The member's validator, if it runs one.
    pub validator: Option<Validator>,
}

/// An admin in genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAdmin {
    /// Display name.
    pub name: String,
    /// Account owner key.
    pub key: PublicKey,
}

/// Everything the chain starts from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Chain id.
    pub chain_id: String,
    /// Genesis time (the first block's time must be later).
    pub time: Timestamp,
    /// Clearing members (ids 1.. in this order).
    pub members: Vec<GenesisMember>,
    /// Admins (ids after the members).
    pub admins: Vec<GenesisAdmin>,
    /// Indexes (ids 1.. in this order).
    pub indexes: Vec<IndexSpec>,
    /// Markets (ids 1.. in this order); they start active.
    pub markets: Vec<MarketSpec>,
    /// Global risk parameters.
    pub risk: RiskParams,
    /// Limits given to member and admin accounts.
    pub member_limits: AccountLimits,
}
