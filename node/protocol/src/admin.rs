//! Member and governance actions: accounts, cash, limits, index prices, listings, parameters,
//! validator and member changes.
//!
//! Members are the clearing institutions listed in genesis; each runs a validator. A member
//! registers trader accounts under itself and attests their deposits and withdrawals. Governance
//! actions take effect once members holding more than two thirds of voting power approve.
//! Variant order inside each enum is part of the wire format: append, never reorder.

use crate::crypto::PublicKey;
use crate::hash::Hash;
use crate::ids::{AccountId, Cash, IndexId, MarketId, Price, ProposalId, Qty, Timestamp};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Longest market symbol, in bytes (ASCII `A-Z 0-9 -`).
pub const MAX_SYMBOL_LEN: usize = 32;
/// Longest member or index name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Per-account trading limits set by the account's member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AccountLimits {
    /// Largest quantity of one order (lots).
    pub max_order_qty: Qty,
    /// Most open (resting or triggered-pending) orders across markets.
    pub max_open_orders: u32,
    /// Largest absolute position in any one market (lots).
    pub max_position: Qty,
}

/// A member registers a trader account it clears for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RegisterAccount {
    /// The trader's own key (full rights over the account).
    pub owner: PublicKey,
    /// Limits enforced on the account.
    pub limits: AccountLimits,
    /// Self-trade prevention group: orders of accounts with the same non-zero group never
    /// match each other. 0 = the account alone.
    pub self_trade_group: u64,
}

/// A member attests a deposit to, or a withdrawal from, one of its accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CashTransfer {
    /// The account credited or debited.
    pub account: AccountId,
    /// Amount (> 0) in the settlement asset's smallest unit.
    pub amount: Cash,
    /// The member's reference for the off-chain transfer (e.g. hash of the bank message);
    /// a reference is used at most once per member.
    pub reference: Hash,
}

/// Replace an account's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SetLimits {
    /// Target account.
    pub account: AccountId,
    /// New limits.
    pub limits: AccountLimits,
}

/// Freeze (no new orders, no withdrawals; resting orders cancelled) or unfreeze an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SetFrozen {
    /// Target account.
    pub account: AccountId,
    /// New state.
    pub frozen: bool,
}

/// A member's observation of an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct IndexObservation {
    /// Which index.
    pub index: IndexId,
    /// Index value in settlement-asset smallest units per quoted unit (e.g. micro-USD per 1M
    /// output tokens).
    pub price: Cash,
    /// When the member observed it (must be within the freshness window of block time).
    pub observed_at: Timestamp,
}

/// Parameters governance may change on a listed market.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct MarketParams {
    /// Maker fee in basis points of notional; negative = rebate.
    pub maker_fee_bps: i32,
    /// Taker fee in basis points of notional (≥ 0, ≥ |maker rebate|).
    pub taker_fee_bps: i32,
    /// Initial margin rate in basis points of notional.
    pub initial_margin_bps: u32,
    /// Maintenance margin rate in basis points of notional (< initial).
    pub maintenance_margin_bps: u32,
    /// Orders priced further than this from the mark (bps) are refused.
    pub price_band_bps: u32,
    /// Largest absolute position any account may hold (lots).
    pub position_limit: Qty,
    /// Depth (lots) each side of the book must hold within the price band around the index
    /// before the book may move the mark: the mark's mid is the mean of the two impact prices
    /// (the average price of the best `impact_lots` on each side).
    pub impact_lots: Qty,
}

/// A dated future to list.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct MarketSpec {
    /// Unique symbol, e.g. `AIT-FRONTIER-DEC26`.
    pub symbol: String,
    /// The index the contract settles on.
    pub index: IndexId,
    /// Cash value of one tick of price per unit of the quoted quantity (smallest units).
    pub tick_size: Cash,
    /// Contracts per lot.
    pub lot_size: u64,
    /// Quoted units per contract (e.g. 100 for 100M tokens quoted per 1M).
    pub multiplier: u64,
    /// Block time at which trading stops and the contract settles.
    pub expiry: Timestamp,
    /// Length of the index TWAP window before expiry that sets the final settlement price.
    pub settlement_window_ms: u64,
    /// Price of the first trade band before any trade or index (ticks).
    pub reference_price: Price,
    /// Tunable parameters.
    pub params: MarketParams,
}

/// A new price index members will publish.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct IndexSpec {
    /// Human name, e.g. `frontier-inference-usd-per-1m-output-tokens`.
    pub name: String,
}

/// Global risk parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RiskParams {
    /// An index submission is fresh for this long after its observation time.
    pub oracle_freshness_ms: u64,
    /// Most accounts liquidated per block.
    pub max_liquidations_per_block: u32,
    /// Liquidation fee in bps of liquidated notional, paid to the insurance fund.
    pub liquidation_fee_bps: u32,
    /// Inter-month spread charge: the portfolio scan nets opposite expiries of one index; this
    /// share (bps) of the smaller side's scan range is charged back for the risk that the
    /// months do not move together (docs/adr/0005-oracle-margin-liquidation.md).
    pub calendar_spread_charge_bps: u32,
    /// Variation-margin epoch length in block time.
    pub settlement_epoch_ms: u64,
    /// Mark price is the index clamped to this band (bps) around the book's mid.
    pub mark_band_bps: u32,
    /// Cross-index credit: share (bps) of the smaller of two indexes' scan losses forgiven when
    /// an account's exposures to them are opposite (0 = none; governance sets it).
    pub cross_index_credit_bps: u32,
    /// Least guaranty-fund contribution of a clearing member (smallest cash units).
    pub guaranty_floor: Cash,
    /// A member's guaranty-fund requirement: this share (bps) of its traders' initial margin,
    /// recomputed every variation-margin epoch, and never below the floor.
    pub guaranty_margin_bps: u32,
    /// Most of one surviving member's contribution (bps) one default may use.
    pub guaranty_assessment_cap_bps: u32,
}

/// A member moves cash between its own account and its guaranty-fund contribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct GuarantyTransfer {
    /// Amount (> 0) in the settlement asset's smallest unit.
    pub amount: Cash,
}

/// A member of the network (clearing institution).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct MemberSpec {
    /// The member's account key.
    pub key: PublicKey,
    /// Display name.
    pub name: String,
}

/// A validator in the consensus set.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
pub struct Validator {
    /// Consensus signing key.
    pub consensus_key: PublicKey,
    /// libp2p ed25519 network key (its PeerId is derived from it).
    pub network_key: PublicKey,
    /// Voting power (> 0).
    pub power: u64,
}

/// Halt, resume or delist a market.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketStatusChange {
    /// Stop matching; orders stay.
    Halt,
    /// Resume matching.
    Resume,
    /// Settle every position at the current mark and close the market.
    Delist,
}

/// What a governance proposal does when approved.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovAction {
    /// List a new dated future.
    ListMarket(MarketSpec),
    /// Change a market's tunable parameters.
    SetMarketParams {
        /// Target market.
        market: MarketId,
        /// New parameters.
        params: MarketParams,
    },
    /// Halt, resume or delist a market.
    SetMarketStatus {
        /// Target market.
        market: MarketId,
        /// The change.
        change: MarketStatusChange,
    },
    /// Replace the global risk parameters.
    SetRiskParams(RiskParams),
    /// Add a validator (takes effect two heights after approval).
    AddValidator(Validator),
    /// Remove a validator (takes effect two heights after approval).
    RemoveValidator {
        /// Its consensus key.
        consensus_key: PublicKey,
    },
    /// Admit a member.
    AddMember(MemberSpec),
    /// Remove a member. Refused while it clears any account (its own included): governance
    /// moves them first ([`GovAction::TransferAccounts`]).
    RemoveMember {
        /// The member's account.
        member: AccountId,
    },
    /// Create an index members can publish.
    ListIndex(IndexSpec),
    /// Move cash from the fee pool to the insurance fund.
    FundInsurance {
        /// Amount (smallest cash units, positive, at most the fee pool when enacted).
        amount: Cash,
    },
    /// Move every account one member clears (its own included) to another member, which
    /// clears them from then on (deposits, withdrawals, freezes, limits): how a leaving or
    /// failed member's traders are ported.
    TransferAccounts {
        /// The member whose accounts move.
        from: AccountId,
        /// The member that takes them.
        to: AccountId,
    },
}

/// Propose a governance action (the proposer's approval is counted).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Propose {
    /// The action.
    pub action: GovAction,
    /// Block time after which the proposal lapses if not approved.
    pub expires_at: Timestamp,
}

/// Approve an open proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Approve {
    /// Which proposal.
    pub proposal: ProposalId,
}

/// True when `symbol` is 1..=32 bytes of `A-Z`, `0-9` and `-`.
#[must_use]
pub fn is_valid_symbol(symbol: &str) -> bool {
    (1..=MAX_SYMBOL_LEN).contains(&symbol.len())
        && symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// True when `name` is 1..=64 bytes of printable ASCII.
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

impl GovAction {
    /// Checks the string fields' shapes.
    ///
    /// # Errors
    /// Which field is malformed.
    pub fn check_shape(&self) -> Result<(), String> {
        match self {
            Self::ListMarket(spec) if !is_valid_symbol(&spec.symbol) => {
                Err(format!("market symbol {:?} must be 1-32 of A-Z 0-9 -", spec.symbol))
            }
            Self::AddMember(member) if !is_valid_name(&member.name) => {
                Err("member name must be 1-64 printable ASCII bytes".to_owned())
            }
            Self::ListIndex(index) if !is_valid_name(&index.name) => {
                Err("index name must be 1-64 printable ASCII bytes".to_owned())
            }
            _ => Ok(()),
        }
    }
}
