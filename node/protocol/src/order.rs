//! Trader actions: orders, cancels, replace, dead-man's switch, scoped trading keys.
//!
//! These are the bodies a trader (or a scoped key acting for the trader) signs. Their meaning is
//! the ledger's; here they are only shapes with a canonical encoding. Variant order inside each
//! enum is part of the wire format (the variant index is the tag): append, never reorder.

use crate::crypto::PublicKey;
use crate::ids::{ClientOrderId, MarketId, OrderId, Price, Qty, Timestamp};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Buy or sell.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Bid: buy `qty` at `price` or better.
    Buy,
    /// Ask: sell `qty` at `price` or better.
    Sell,
}

impl Side {
    /// The other side.
    #[must_use]
    pub const fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }
}

/// Limit or market. A market order is an IOC whose `price` is the protection price: it never
/// fills beyond it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Rests or fills at `price` or better.
    Limit,
    /// Fills immediately up to the protection `price`; never rests.
    Market,
}

/// How long an order lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Good until cancelled.
    Gtc,
    /// Good until the first block whose time is at or past the given time.
    Gtt(Timestamp),
    /// Immediate or cancel: fill what can fill now, cancel the rest.
    Ioc,
    /// Fill or kill: fill all now or nothing.
    Fok,
    /// Rest only: refused if any part would take liquidity.
    PostOnly,
}

/// What self-trade prevention does when the order would match another order of the same account
/// or of the same owner group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfTradePrevention {
    /// Cancel the resting (maker) order and keep matching.
    ExpireMaker,
    /// Cancel the rest of the incoming (taker) order.
    ExpireTaker,
    /// Cancel both.
    ExpireBoth,
}

/// Stop or take-profit: the order enters the book when the mark price crosses `price`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// Triggers when the mark moves against the position direction: a buy stop when
    /// mark ≥ price, a sell stop when mark ≤ price.
    Stop,
    /// Triggers when the mark moves in favour: a buy take-profit when mark ≤ price, a sell
    /// take-profit when mark ≥ price.
    TakeProfit,
}

/// A trigger condition on the mark price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Trigger {
    /// Stop or take-profit.
    pub kind: TriggerKind,
    /// Mark price (ticks) that fires the trigger.
    pub price: Price,
}

/// Place a new order.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct NewOrder {
    /// Market to trade.
    pub market: MarketId,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub kind: OrderKind,
    /// Limit price, or protection price for a market order (ticks).
    pub price: Price,
    /// Quantity in lots (> 0).
    pub qty: Qty,
    /// Lifetime.
    pub time_in_force: TimeInForce,
    /// Only ever reduces the account's position; shrinks or cancels if it would not.
    pub reduce_only: bool,
    /// Optional trader-chosen id.
    pub client_order_id: Option<ClientOrderId>,
    /// Self-trade prevention mode.
    pub self_trade: SelfTradePrevention,
    /// Optional stop / take-profit trigger.
    pub trigger: Option<Trigger>,
}

/// Names one open order of the signing account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderRef {
    /// By ledger-assigned order id.
    Id(OrderId),
    /// By the trader's client order id.
    Client(ClientOrderId),
}

/// Cancel one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CancelOrder {
    /// Market of the order.
    pub market: MarketId,
    /// Which order.
    pub order: OrderRef,
}

/// Cancel every open order of the account, in one market or all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CancelAll {
    /// `None` = every market.
    pub market: Option<MarketId>,
}

/// Change an open order's price and/or size. Priority is kept only when the price is unchanged
/// and the size decreases; otherwise the order goes to the back of its new level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ReplaceOrder {
    /// Market of the order.
    pub market: MarketId,
    /// Which order.
    pub order: OrderRef,
    /// New limit price (ticks).
    pub new_price: Price,
    /// New total quantity (lots, > 0).
    pub new_qty: Qty,
}

/// Arm, refresh or disarm the dead-man's switch: if no new `SetDeadman` arrives before
/// block time + `timeout_ms`, all the account's orders are cancelled. `timeout_ms = 0` disarms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SetDeadman {
    /// Milliseconds of block time until the switch fires; 0 disarms.
    pub timeout_ms: u64,
}

/// Authorise a scoped trading key for the signing account: it may place, cancel and replace
/// orders and set the dead-man's switch; it may not withdraw or manage keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AuthoriseKey {
    /// The key being authorised.
    pub key: PublicKey,
    /// Optional block time after which the key no longer works.
    pub expires_at: Option<Timestamp>,
}

/// Revoke a scoped trading key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RevokeKey {
    /// The key being revoked.
    pub key: PublicKey,
}
