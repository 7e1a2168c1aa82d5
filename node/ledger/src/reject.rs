//! Why a transaction was refused: one stable code per reason.
//!
//! Codes are part of the API (receipts, HTTP errors, CLI messages): never renumber or rename one;
//! add new ones at the end.

use bincode::{Decode, Encode};
use core::fmt;

/// A refusal reason with a stable machine-readable code ([`RejectCode::code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum RejectCode {
    /// The tx names an account that does not exist.
    AccountUnknown,
    /// The signer is neither the account's owner nor one of its live scoped keys.
    UnauthorisedSigner,
    /// A scoped trading key signed something other than a trading action.
    KeyScope,
    /// The nonce is more than a day from block time.
    NonceOutOfRange,
    /// The nonce was already used.
    NonceReplayed,
    /// The nonce is at or below the smallest of the account's remembered nonces.
    NonceTooOld,
    /// The account is frozen.
    AccountFrozen,
    /// The action needs a member account.
    NotMember,
    /// The member does not clear the target account.
    NotAccountsMember,
    /// The market does not exist.
    MarketUnknown,
    /// The market is not accepting this action in its current status.
    MarketNotActive,
    /// Quantity is zero or negative.
    QtyNotPositive,
    /// Price is zero or negative.
    PriceNotPositive,
    /// Price too far from the market's mark.
    PriceOutsideBand,
    /// Quantity above the account's per-order limit.
    OrderTooLarge,
    /// The account has its maximum number of open orders.
    TooManyOpenOrders,
    /// The client order id is already used by an open order of the account.
    ClientOrderIdInUse,
    /// The fill would take the position beyond the account's or market's limit.
    PositionLimit,
    /// A reduce-only order that would not reduce the position.
    ReduceOnlyWouldIncrease,
    /// Good-til-time order whose time has passed.
    ExpiredOnArrival,
    /// An order-type combination that makes no sense (e.g. a market order resting).
    InvalidOrderType,
    /// A post-only order that would take liquidity.
    PostOnlyWouldTake,
    /// A fill-or-kill order that could not fill completely.
    FillOrKillUnfilled,
    /// Equity would fall below initial margin.
    InsufficientMargin,
    /// Not enough cash.
    InsufficientCash,
    /// An amount that is zero or negative.
    AmountNotPositive,
    /// A deposit/withdrawal reference the member already used.
    DuplicateReference,
    /// Arithmetic overflow on quantities, prices or cash.
    Overflow,
    /// The order is not open.
    OrderUnknown,
    /// A replace that changes nothing or is invalid.
    InvalidReplace,
    /// The key is already registered to an account.
    KeyInUse,
    /// The key is not a valid ed25519 public key under the signature rule.
    InvalidKey,
    /// The key is not a scoped key of this account.
    KeyUnknown,
    /// Governance proposal does not exist or is no longer open.
    ProposalUnknown,
    /// The member already approved the proposal.
    AlreadyApproved,
    /// The governance action is invalid against the current state.
    InvalidProposal,
    /// The index does not exist.
    IndexUnknown,
    /// The index observation is too old or from the future.
    StaleObservation,
    /// The limits are invalid (negative or zero where positive is needed).
    InvalidLimits,
    /// The proposal's expiry is not in the future.
    ProposalExpired,
    /// The account kind cannot trade (admins).
    AccountCannotTrade,
    /// The account has the most scoped keys allowed.
    TooManyKeys,
    /// The member has the most open proposals allowed.
    TooManyProposals,
    /// The market's index is stale: orders that could increase the position are refused.
    IndexStale,
    /// The account's clearing member owes its guaranty fund a top-up (a default used it, or its
    /// requirement rose): orders that could add risk are refused until it posts.
    GuarantyShortfall,
    /// A guaranty release would leave the contribution below the requirement, or a top-up due.
    GuarantyRequired,
}

impl RejectCode {
    /// Stable machine-readable code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::AccountUnknown => "account_unknown",
            Self::UnauthorisedSigner => "unauthorised_signer",
            Self::KeyScope => "key_scope",
            Self::NonceOutOfRange => "nonce_out_of_range",
            Self::NonceReplayed => "nonce_replayed",
            Self::NonceTooOld => "nonce_too_old",
            Self::AccountFrozen => "account_frozen",
            Self::NotMember => "not_member",
            Self::NotAccountsMember => "not_accounts_member",
            Self::MarketUnknown => "market_unknown",
            Self::MarketNotActive => "market_not_active",
            Self::QtyNotPositive => "qty_not_positive",
            Self::PriceNotPositive => "price_not_positive",
            Self::PriceOutsideBand => "price_outside_band",
            Self::OrderTooLarge => "order_too_large",
            Self::TooManyOpenOrders => "too_many_open_orders",
            Self::ClientOrderIdInUse => "client_order_id_in_use",
            Self::PositionLimit => "position_limit",
            Self::ReduceOnlyWouldIncrease => "reduce_only_would_increase",
            Self::ExpiredOnArrival => "expired_on_arrival",
            Self::InvalidOrderType => "invalid_order_type",
            Self::PostOnlyWouldTake => "post_only_would_take",
            Self::FillOrKillUnfilled => "fill_or_kill_unfilled",
            Self::InsufficientMargin => "insufficient_margin",
            Self::InsufficientCash => "insufficient_cash",
            Self::AmountNotPositive => "amount_not_positive",
            Self::DuplicateReference => "duplicate_reference",
            Self::Overflow => "overflow",
            Self::OrderUnknown => "order_unknown",
            Self::InvalidReplace => "invalid_replace",
            Self::KeyInUse => "key_in_use",
            Self::InvalidKey => "invalid_key",
            Self::KeyUnknown => "key_unknown",
            Self::ProposalUnknown => "proposal_unknown",
            Self::AlreadyApproved => "already_approved",
            Self::InvalidProposal => "invalid_proposal",
            Self::IndexUnknown => "index_unknown",
            Self::StaleObservation => "stale_observation",
            Self::InvalidLimits => "invalid_limits",
            Self::ProposalExpired => "proposal_expired",
            Self::AccountCannotTrade => "account_cannot_trade",
            Self::TooManyKeys => "too_many_keys",
            Self::TooManyProposals => "too_many_proposals",
            Self::IndexStale => "index_stale",
            Self::GuarantyShortfall => "guaranty_shortfall",
            Self::GuarantyRequired => "guaranty_required",
        }
    }
}

/// A refusal: its code and a human-readable message with the particulars.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Reject {
    /// Stable reason.
    pub code: RejectCode,
    /// What exactly was wrong, for people.
    pub message: String,
}

impl Reject {
    /// A refusal with a message.
    #[must_use]
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.code(), self.message)
    }
}

/// Shorthand for building an `Err(Reject)`.
pub(crate) fn reject<T>(code: RejectCode, message: impl Into<String>) -> Result<T, Reject> {
    Err(Reject::new(code, message))
}

impl serde::Serialize for RejectCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}
