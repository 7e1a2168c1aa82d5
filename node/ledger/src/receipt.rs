//! What applying a block produced: one receipt per tx (accepted with events, or refused with a
//! stable code), plus the events of the block's own housekeeping (expiries, dead-man's switches).

use crate::reject::{Reject, RejectCode};
use crate::state::MarketStatus;
use bincode::{Decode, Encode};
use tokenbook_protocol::{
    AccountId, Cash, Hash, Height, IndexId, MarketId, OrderId, Price, ProposalId, PublicKey, Qty,
    Side, Timestamp,
};

/// Why an order left the book without filling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The trader cancelled it.
    Requested,
    /// Cancel-all.
    CancelAll,
    /// Good-til-time expiry reached.
    Expired,
    /// The account's dead-man's switch fired.
    DeadmanSwitch,
    /// Self-trade prevention removed it.
    SelfTrade,
    /// The unfilled rest of an IOC or market order.
    ImmediateOrCancel,
    /// The member froze the account.
    AccountFrozen,
    /// A reduce-only order would no longer reduce the position.
    ReduceOnly,
    /// The market was delisted or settled.
    MarketClosed,
    /// A stop / take-profit triggered but the order it became was refused.
    TriggerRefused(RejectCode),
    /// The account is being liquidated.
    Liquidation,
    /// The mark moved so far that a fill at the order's price would lose more than the price
    /// band (a bid above `mark × (1 + band)`, an ask below `mark × (1 − band)`).
    OutsideBand,
}

/// Something that happened while applying a tx or the block. Its JSON form (API receipts) is
/// tagged: `{"event": "order_accepted", ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A new order was accepted (it may have filled, rested, or both).
    OrderAccepted {
        /// Assigned id.
        order: OrderId,
        /// Market.
        market: MarketId,
        /// Account.
        account: AccountId,
        /// Side.
        side: Side,
        /// Limit (or protection) price.
        price: Price,
        /// Ordered lots.
        qty: Qty,
        /// Lots left resting after matching.
        resting: Qty,
    },
    /// A stop / take-profit order was accepted and waits for its trigger.
    TriggerAccepted {
        /// Assigned id.
        order: OrderId,
        /// Market.
        market: MarketId,
        /// Account.
        account: AccountId,
    },
    /// A stop / take-profit order's trigger fired; it now enters as a new order.
    OrderTriggered {
        /// The order.
        order: OrderId,
        /// Market.
        market: MarketId,
        /// Account.
        account: AccountId,
    },
    /// A trade.
    Fill {
        /// Market.
        market: MarketId,
        /// Resting order.
        maker_order: OrderId,
        /// Incoming order.
        taker_order: OrderId,
        /// Resting order's account.
        maker: AccountId,
        /// Incoming order's account.
        taker: AccountId,
        /// Side of the incoming order.
        taker_side: Side,
        /// Price (the maker's).
        price: Price,
        /// Lots.
        qty: Qty,
        /// Fee paid by the maker (negative = rebate received).
        maker_fee: Cash,
        /// Fee paid by the taker.
        taker_fee: Cash,
    },
    /// An order left the book (or the trigger book) unfilled.
    OrderCancelled {
        /// Order.
        order: OrderId,
        /// Market.
        market: MarketId,
        /// Account.
        account: AccountId,
        /// Unfilled lots.
        remaining: Qty,
        /// Why.
        reason: CancelReason,
    },
    /// An order's price or size changed.
    OrderReplaced {
        /// Order.
        order: OrderId,
        /// New price.
        price: Price,
        /// New open lots.
        qty: Qty,
        /// True when it kept its place in the queue.
        kept_priority: bool,
    },
    /// A member registered an account.
    AccountRegistered {
        /// The new account.
        account: AccountId,
        /// Its member.
        member: AccountId,
        /// Its owner key.
        owner: PublicKey,
    },
    /// Cash in.
    Deposited {
        /// Account.
        account: AccountId,
        /// Amount.
        amount: Cash,
    },
    /// Cash out.
    Withdrawn {
        /// Account.
        account: AccountId,
        /// Amount.
        amount: Cash,
    },
    /// Limits changed.
    LimitsSet {
        /// Account.
        account: AccountId,
    },
    /// Frozen or unfrozen.
    FrozenSet {
        /// Account.
        account: AccountId,
        /// New state.
        frozen: bool,
    },
    /// Scoped key authorised.
    KeyAuthorised {
        /// Account.
        account: AccountId,
        /// Key.
        key: PublicKey,
    },
    /// Scoped key revoked.
    KeyRevoked {
        /// Account.
        account: AccountId,
        /// Key.
        key: PublicKey,
    },
    /// Dead-man's switch armed (with deadline) or disarmed.
    DeadmanSet {
        /// Account.
        account: AccountId,
        /// Deadline, `None` when disarmed.
        deadline: Option<Timestamp>,
    },
    /// An account's dead-man's switch fired (its orders' cancellations follow).
    DeadmanFired {
        /// Account.
        account: AccountId,
    },
    /// A member's index observation was recorded.
    IndexPublished {
        /// Index.
        index: IndexId,
        /// Member.
        member: AccountId,
        /// Price.
        price: Cash,
    },
    /// A quorum of fresh submissions set the index price (emitted when the index turns fresh).
    IndexFresh {
        /// Index.
        index: IndexId,
        /// Its price (lower median of the fresh submissions).
        price: Cash,
    },
    /// The index lost its quorum of fresh submissions; it keeps its last good price.
    IndexStale {
        /// Index.
        index: IndexId,
    },
    /// A market's mark price moved (index clamped around the book's mid).
    MarkChanged {
        /// Market.
        market: MarketId,
        /// New mark (ticks).
        price: Price,
    },
    /// Variation margin: every open position's PnL at this mark moved into cash.
    VariationMargin {
        /// Market.
        market: MarketId,
        /// The mark used (ticks).
        price: Price,
    },
    /// Final settlement: every position closed into cash at this price; the market is settled.
    MarketSettled {
        /// Market.
        market: MarketId,
        /// Final settlement price (ticks).
        price: Price,
    },
    /// An account below maintenance margin is being liquidated (its orders are cancelled and
    /// its positions closed; the events that follow show how).
    Liquidated {
        /// Account.
        account: AccountId,
        /// Equity at the marks when liquidation began.
        equity: Cash,
        /// Maintenance margin at that moment.
        maintenance: Cash,
    },
    /// Auto-deleveraging: part of a liquidated position closed against an opposite one.
    Deleveraged {
        /// Market.
        market: MarketId,
        /// The liquidated account.
        account: AccountId,
        /// The account whose opposite position was reduced.
        counterparty: AccountId,
        /// Lots closed on both sides.
        qty: Qty,
        /// Price (ticks).
        price: Price,
    },
    /// The insurance fund paid (part of) a defaulted account's negative equity: the layer after
    /// its clearing member's cash and contribution.
    InsurancePaid {
        /// Account.
        account: AccountId,
        /// Paid from the fund into the account's cash.
        amount: Cash,
        /// What the fund could not pay: the other members' contributions are next
        /// ([`Event::DefaultCovered`]), then what is left is [`Event::BadDebt`].
        unpaid: Cash,
    },
    /// Governance moved cash from the fee pool to the insurance fund.
    InsuranceFunded {
        /// Amount moved.
        amount: Cash,
    },
    /// A governance proposal opened.
    ProposalOpened {
        /// Id.
        proposal: ProposalId,
    },
    /// A member approved.
    ProposalApproved {
        /// Id.
        proposal: ProposalId,
        /// Approving member.
        member: AccountId,
        /// Approvals so far.
        approvals: u32,
    },
    /// A proposal reached its quorum and took effect.
    ProposalExecuted {
        /// Id.
        proposal: ProposalId,
    },
    /// A proposal lapsed unapproved.
    ProposalExpired {
        /// Id.
        proposal: ProposalId,
    },
    /// A market was listed.
    MarketListed {
        /// Id.
        market: MarketId,
        /// Symbol.
        symbol: String,
    },
    /// A market changed status.
    MarketStatusChanged {
        /// Market.
        market: MarketId,
        /// New status.
        status: MarketStatus,
    },
    /// Market parameters changed.
    MarketParamsSet {
        /// Market.
        market: MarketId,
    },
    /// Global risk parameters changed.
    RiskParamsSet,
    /// A new validator set takes effect at a height.
    ValidatorSetScheduled {
        /// Effective height.
        height: Height,
    },
    /// A member was admitted.
    MemberAdded {
        /// Its account.
        account: AccountId,
    },
    /// A member was removed.
    MemberRemoved {
        /// Its account.
        account: AccountId,
    },
    /// Every account `from` cleared is now cleared by `to`.
    AccountsTransferred {
        /// The member whose accounts moved.
        from: AccountId,
        /// The member that clears them now.
        to: AccountId,
        /// How many moved.
        accounts: u64,
    },
    /// An index was listed.
    IndexListed {
        /// Id.
        index: IndexId,
    },
    /// A member moved cash from its account into its guaranty-fund contribution.
    GuarantyPosted {
        /// The member.
        member: AccountId,
        /// Amount moved.
        amount: Cash,
        /// Its contribution now.
        posted: Cash,
        /// What it still owes for past use.
        due: Cash,
    },
    /// A member took part of its contribution back into its account.
    GuarantyReleased {
        /// The member.
        member: AccountId,
        /// Amount moved.
        amount: Cash,
        /// Its contribution now.
        posted: Cash,
    },
    /// A member's guaranty requirement changed (each variation-margin epoch).
    GuarantyRequired {
        /// The member.
        member: AccountId,
        /// Its requirement now.
        required: Cash,
    },
    /// One layer of the default waterfall paid part of a defaulted account's deficit (the
    /// insurance fund's layer is [`Event::InsurancePaid`]).
    DefaultCovered {
        /// The defaulted account.
        account: AccountId,
        /// Which layer.
        layer: DefaultLayer,
        /// The member that paid.
        payer: AccountId,
        /// Amount paid into the account.
        amount: Cash,
    },
    /// A member's guaranty contribution was used for a default: it must post `due` before the
    /// accounts it clears may add risk.
    GuarantyUsed {
        /// The member.
        member: AccountId,
        /// The defaulted account.
        account: AccountId,
        /// Amount used.
        amount: Cash,
        /// What the member owes its contribution now.
        due: Cash,
    },
    /// What no layer could pay: the account is left with this negative equity.
    BadDebt {
        /// The defaulted account.
        account: AccountId,
        /// The unpaid amount.
        amount: Cash,
    },
}

/// The layers of the default waterfall after the account's own collateral, in the order they
/// pay (docs/adr/0005-oracle-margin-liquidation.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultLayer {
    /// The clearing member's own cash, as far as it stays above its initial margin.
    MemberCash,
    /// The clearing member's guaranty contribution. (The insurance fund pays next:
    /// [`Event::InsurancePaid`].)
    MemberGuaranty,
    /// The other members' contributions, pro rata, each capped per default.
    MutualGuaranty,
}

/// A tx's events: most txs produce one or two, kept inline without a heap allocation.
pub type Events = smallvec::SmallVec<[Event; 2]>;

/// The outcome of one tx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The tx's hash.
    pub tx_hash: Hash,
    /// Its position in the block as proposed.
    pub tx_index: u32,
    /// Events if accepted, the refusal otherwise.
    pub result: Result<Events, Reject>,
}

/// Which parts of the state a block changed (for the store, which persists and hashes them).
/// Each list is sorted and free of duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// Accounts changed.
    pub accounts: Vec<AccountId>,
    /// Markets changed (status, book, open interest, mark).
    pub markets: Vec<MarketId>,
    /// Open orders created, changed or removed.
    pub orders: Vec<OrderId>,
    /// Keys registered or removed.
    pub keys: Vec<PublicKey>,
    /// Indexes changed.
    pub indexes: Vec<IndexId>,
    /// Proposals opened, changed or closed.
    pub proposals: Vec<ProposalId>,
    /// Deposit/withdrawal references used.
    pub references: Vec<(AccountId, Hash)>,
    /// Singletons: height, time, parameters, validators, system cash, counters.
    pub globals: bool,
}

/// What a block touches, logged cheaply while it applies (duplicates allowed) and turned into
/// [`Touched`] at the end.
#[derive(Clone, Debug, Default)]
pub(crate) struct TouchLog {
    pub accounts: Vec<AccountId>,
    pub markets: Vec<MarketId>,
    pub orders: Vec<OrderId>,
    pub keys: Vec<PublicKey>,
    pub indexes: Vec<IndexId>,
    pub proposals: Vec<ProposalId>,
    pub references: Vec<(AccountId, Hash)>,
    pub globals: bool,
    /// How many of `accounts`, from the start, [`TouchLog::sort_accounts`] left sorted.
    pub accounts_sorted: usize,
}

impl TouchLog {
    /// Logs an account (a repeat of the last one logged is skipped: most txs touch their
    /// account several times in a row).
    pub fn account(&mut self, id: AccountId) {
        if self.accounts.last() != Some(&id) {
            self.accounts.push(id);
        }
    }

    /// Sorts and deduplicates the accounts logged so far, in place. After the first call of a
    /// block the log is a sorted run plus a tail: the tail is sorted, then the two runs merged
    /// (a stable sort of two runs is a linear merge).
    pub fn sort_accounts(&mut self) {
        let sorted = self.accounts_sorted.min(self.accounts.len());
        if sorted == 0 {
            self.accounts.sort_unstable();
        } else if sorted < self.accounts.len() {
            self.accounts[sorted..].sort_unstable();
            self.accounts.sort();
        }
        self.accounts.dedup();
        self.accounts_sorted = self.accounts.len();
    }

    pub fn finish(self) -> Touched {
        Touched {
            accounts: sorted(self.accounts),
            markets: sorted(self.markets),
            orders: sorted(self.orders),
            keys: sorted(self.keys),
            indexes: sorted(self.indexes),
            proposals: sorted(self.proposals),
            references: sorted(self.references),
            globals: self.globals,
        }
    }
}

/// Sorted and deduplicated.
fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort_unstable();
    items.dedup();
    items
}

/// Everything applying one block produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// Events of block housekeeping before the txs (expiries, dead-man's switches, proposals
    /// lapsing, validator sets taking effect).
    pub begin_events: Events,
    /// One receipt per tx, in the order the txs were applied (the fair sequence).
    pub receipts: Vec<Receipt>,
    /// Events of block housekeeping after the txs (index prices going fresh or stale, marks).
    pub end_events: Events,
    /// What changed.
    pub touched: Touched,
}

/// One tx's receipt in its stored, canonical form (the store keeps these per height; the API
/// and the auditor read them back).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ReceiptRecord {
    /// The tx's hash.
    pub tx_hash: Hash,
    /// Its position in the block as proposed.
    pub tx_index: u32,
    /// Events if accepted, the refusal otherwise.
    pub result: Result<Vec<Event>, Reject>,
}

/// A block's receipts and housekeeping events in their stored, canonical form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct BlockReceipts {
    /// Housekeeping before the txs.
    pub begin_events: Vec<Event>,
    /// One per tx, in the order applied.
    pub receipts: Vec<ReceiptRecord>,
    /// Housekeeping after the txs.
    pub end_events: Vec<Event>,
}

impl From<&BlockOutcome> for BlockReceipts {
    fn from(outcome: &BlockOutcome) -> Self {
        BlockReceipts {
            begin_events: outcome.begin_events.to_vec(),
            receipts: outcome
                .receipts
                .iter()
                .map(|r| ReceiptRecord {
                    tx_hash: r.tx_hash,
                    tx_index: r.tx_index,
                    result: r.result.as_ref().map(|events| events.to_vec()).map_err(Clone::clone),
                })
                .collect(),
            end_events: outcome.end_events.to_vec(),
        }
    }
}

impl Event {
    /// The accounts this event concerns (for per-account receipt indexes and streams).
    #[must_use]
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            Event::Fill { maker, taker, .. } => vec![*maker, *taker],
            Event::Deleveraged { account, counterparty, .. } => vec![*account, *counterparty],
            Event::AccountsTransferred { from, to, .. } => vec![*from, *to],
            Event::DefaultCovered { account, payer, .. } => vec![*account, *payer],
            Event::GuarantyUsed { member, account, .. } => vec![*member, *account],
            Event::GuarantyPosted { member, .. }
            | Event::GuarantyReleased { member, .. }
            | Event::GuarantyRequired { member, .. } => vec![*member],
            Event::OrderAccepted { account, .. }
            | Event::TriggerAccepted { account, .. }
            | Event::OrderTriggered { account, .. }
            | Event::OrderCancelled { account, .. }
            | Event::AccountRegistered { account, .. }
            | Event::Deposited { account, .. }
            | Event::Withdrawn { account, .. }
            | Event::LimitsSet { account }
            | Event::FrozenSet { account, .. }
            | Event::KeyAuthorised { account, .. }
            | Event::KeyRevoked { account, .. }
            | Event::DeadmanSet { account, .. }
            | Event::DeadmanFired { account }
            | Event::Liquidated { account, .. }
            | Event::InsurancePaid { account, .. }
            | Event::BadDebt { account, .. }
            | Event::MemberAdded { account }
            | Event::MemberRemoved { account } => vec![*account],
            Event::IndexPublished { member, .. } | Event::ProposalApproved { member, .. } => {
                vec![*member]
            }
            _ => Vec::new(),
        }
    }

    /// Whether this is one of the clearing house's risk events: a liquidation, an
    /// auto-deleveraging, and each step of the default waterfall (insurance paid or funded, a
    /// default covered, guaranty used, bad debt). The node indexes these across all accounts.
    #[must_use]
    pub fn is_clearing(&self) -> bool {
        matches!(
            self,
            Event::Liquidated { .. }
                | Event::Deleveraged { .. }
                | Event::InsurancePaid { .. }
                | Event::InsuranceFunded { .. }
                | Event::DefaultCovered { .. }
                | Event::GuarantyUsed { .. }
                | Event::BadDebt { .. }
        )
    }

    /// The market this event concerns, if any.
    #[must_use]
    pub fn market(&self) -> Option<MarketId> {
        match self {
            Event::OrderAccepted { market, .. }
            | Event::TriggerAccepted { market, .. }
            | Event::OrderTriggered { market, .. }
            | Event::Fill { market, .. }
            | Event::OrderCancelled { market, .. }
            | Event::MarkChanged { market, .. }
            | Event::VariationMargin { market, .. }
            | Event::MarketSettled { market, .. }
            | Event::Deleveraged { market, .. }
            | Event::MarketListed { market, .. }
            | Event::MarketStatusChanged { market, .. }
            | Event::MarketParamsSet { market } => Some(*market),
            _ => None,
        }
    }
}
