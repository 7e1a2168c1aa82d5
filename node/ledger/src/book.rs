//! One market's limit order book: price-time priority, self-trade prevention, and execution
//! reports, with no knowledge of accounts, margin or fees (the ledger wraps it).
//!
//! Promises:
//! - **Price-time priority**: an incoming order matches the best opposite price first and, within
//!   a price, the earliest resting order first; a resting order's priority changes only when it is
//!   removed (a size reduction keeps it: [`Book::reduce`]).
//! - **Never crossed** after any operation: best bid < best ask ([`Book::check_invariants`]).
//! - **Deterministic**: the result of every operation depends only on the sequence of operations.
//!   Orders live in a slab with intrusive FIFO lists per level; levels sit in a `BTreeMap` per
//!   side; an id index (hash map with a fixed hasher, lookups only, never iterated) finds an order
//!   for cancel. Nothing iterates a hash map.
//! - **Bounded work per call** in the number of makers touched; no allocation on the steady-state
//!   path once the slab has grown (freed slots are reused).

use std::collections::BTreeMap;
use tokenbook_protocol::{AccountId, OrderId, Price, Qty, SelfTradePrevention, Side};

/// What happens to the part of an incoming order that does not fill at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Rest the remainder (GTC and GTT; the ledger expires GTT orders).
    Rest,
    /// Cancel the remainder.
    ImmediateOrCancel,
    /// Fill everything now or nothing.
    FillOrKill,
    /// Refuse the order if any part would take.
    PostOnly,
}

/// An order arriving at the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// Id assigned by the ledger (unique, never reused).
    pub id: OrderId,
    /// Owning account.
    pub owner: AccountId,
    /// Self-trade group: the owner's clearing member in the high 64 bits, its group number in
    /// the low 64 (0 = the account alone), so a group never reaches another member's accounts.
    pub group: u128,
    /// Buy or sell.
    pub side: Side,
    /// Limit price (protection price for market orders).
    pub price: Price,
    /// Quantity in lots (> 0).
    pub qty: Qty,
    /// Remainder handling.
    pub style: Style,
    /// Self-trade prevention mode.
    pub self_trade: SelfTradePrevention,
    /// If it rests: only ever trade to reduce the owner's position (see [`Book::submit`]).
    pub reduce_only: bool,
}

/// One execution report produced while matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A maker order traded with the incoming order.
    Fill {
        /// The resting order.
        maker: OrderId,
        /// Its owner.
        maker_owner: AccountId,
        /// Trade price (the maker's price).
        price: Price,
        /// Lots traded.
        qty: Qty,
        /// True when the maker order is now fully filled and gone.
        maker_done: bool,
    },
    /// A resting reduce-only order could no longer reduce its owner's position and was removed.
    MakerReduceOnlyExpired {
        /// The resting order.
        maker: OrderId,
        /// Its owner.
        maker_owner: AccountId,
        /// Its unfilled lots.
        remaining: Qty,
    },
    /// Self-trade prevention removed a resting order.
    MakerExpired {
        /// The resting order.
        maker: OrderId,
        /// Its owner.
        maker_owner: AccountId,
        /// Its unfilled lots.
        remaining: Qty,
    },
}

/// Why the incoming order's remainder did not rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unrested {
    /// IOC or market: the rest was cancelled.
    ImmediateOrCancel,
    /// FOK could not fill completely; nothing traded.
    FillOrKill,
    /// Post-only would have taken; nothing traded.
    PostOnlyWouldTake,
    /// Self-trade prevention expired the incoming order.
    SelfTrade,
}

/// What became of an incoming order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Lots filled.
    pub filled: Qty,
    /// Lots left resting in the book (0 if none).
    pub resting: Qty,
    /// Why a non-zero remainder did not rest, if it did not.
    pub unrested: Option<Unrested>,
}

/// A resting order as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestingOrder {
    /// Id.
    pub id: OrderId,
    /// Owner.
    pub owner: AccountId,
    /// Self-trade group (as [`Incoming::group`]).
    pub group: u128,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Unfilled lots.
    pub qty: Qty,
    /// Trades only to reduce the owner's position.
    pub reduce_only: bool,
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Node {
    order: RestingOrder,
    level: u32,
    prev: u32,
    next: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct Level {
    head: u32,
    tail: u32,
    qty: i64,
    count: u32,
}

/// One market's order book.
#[derive(Clone, Debug, Default)]
pub struct Book {
    nodes: Vec<Node>,
    free_nodes: Vec<u32>,
    levels: Vec<Level>,
    free_levels: Vec<u32>,
    bids: BTreeMap<Price, u32>,
    asks: BTreeMap<Price, u32>,
    index: id_index::IdIndex,
    /// Resting reduce-only orders per side (bids, asks): when the side a sweep takes from has
    /// none, the sweep skips reduce-only bookkeeping entirely.
    reduce_only_resting: [u32; 2],
}

/// How many lots each owner's reduce-only resting orders may still trade in a sweep, before the
/// sweep's own fills: the size of the owner's position on the side those orders reduce.
pub trait ReduceCapacity {
    /// Capacity of `owner` (0 when its position is flat or on the other side).
    fn capacity(&self, owner: AccountId) -> i64;
}

/// For books without reduce-only orders (and tests): unlimited capacity.
pub struct Unlimited;

impl ReduceCapacity for Unlimited {
    fn capacity(&self, _owner: AccountId) -> i64 {
        i64::MAX
    }
}

impl<F: Fn(AccountId) -> i64> ReduceCapacity for F {
    fn capacity(&self, owner: AccountId) -> i64 {
        self(owner)
    }
}

/// Lots each maker owner has traded in one sweep; kept only while the side being swept has
/// reduce-only orders (`None` otherwise, so ordinary sweeps pay nothing for it).
struct Swept(Option<BTreeMap<AccountId, i64>>);

impl Swept {
    fn new(track: bool) -> Self {
        Self(track.then(BTreeMap::new))
    }

    fn add(&mut self, owner: AccountId, lots: i64) {
        if let Some(map) = &mut self.0 {
            *map.entry(owner).or_default() += lots;
        }
    }

    /// Lots a maker may trade now: all of them, or for a reduce-only maker what is left of its
    /// owner's capacity after the sweep's earlier fills.
    fn allowance(&self, maker: &RestingOrder, cap: &impl ReduceCapacity) -> i64 {
        match &self.0 {
            Some(map) if maker.reduce_only => {
                let used = map.get(&maker.owner).copied().unwrap_or(0);
                (cap.capacity(maker.owner) - used).clamp(0, maker.qty.get())
            }
            _ => maker.qty.get(),
        }
    }
}

const fn side_slot(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

impl Book {
    /// An empty book.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of resting orders.
    #[must_use]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no order rests.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// Best bid price.
    #[must_use]
    pub fn best_bid(&self) -> Option<Price> {
        self.bids.last_key_value().map(|(p, _)| *p)
    }

    /// Best ask price.
    #[must_use]
    pub fn best_ask(&self) -> Option<Price> {
        self.asks.first_key_value().map(|(p, _)| *p)
    }

    /// A resting order by id.
    #[must_use]
    pub fn get(&self, id: OrderId) -> Option<&RestingOrder> {
        self.index.get(id).map(|slot| &self.nodes[slot as usize].order)
    }

    /// Submits an order: matches what it can, then rests, cancels or refuses the remainder
    /// according to its style. Execution reports are appended to `events`.
    ///
    /// Reduce-only makers trade at most their owner's remaining capacity (`cap`, less what the
    /// owner already traded in this sweep); one with nothing left is removed
    /// ([`Event::MakerReduceOnlyExpired`]). So a reduce-only order never grows a position, even
    /// when one sweep fills several of its owner's orders.
    ///
    /// The caller guarantees `qty > 0` and that `id` is not resting.
    pub fn submit(
        &mut self,
        order: Incoming,
        events: &mut Vec<Event>,
        cap: &impl ReduceCapacity,
    ) -> Outcome {
        debug_assert!(order.qty.is_positive());
        debug_assert!(self.index.get(order.id).is_none());
        let refused = match order.style {
            Style::PostOnly if self.crosses(order.side, order.price) => {
                Some(Unrested::PostOnlyWouldTake)
            }
            Style::FillOrKill if self.fillable(&order, cap) < order.qty.get() => {
                Some(Unrested::FillOrKill)
            }
            _ => None,
        };
        if let Some(reason) = refused {
            return Outcome { filled: Qty::ZERO, resting: Qty::ZERO, unrested: Some(reason) };
        }
        let (remaining, self_trade_stop) = self.match_incoming(&order, events, cap);
        let filled = Qty::new(order.qty.get() - remaining);
        let unrested = match (remaining, self_trade_stop, order.style) {
            (0, _, _) => None,
            (_, true, _) => Some(Unrested::SelfTrade),
            (_, false, Style::Rest | Style::PostOnly) => {
                self.rest(RestingOrder { qty: Qty::new(remaining), ..resting_from(&order) });
                return Outcome { filled, resting: Qty::new(remaining), unrested: None };
            }
            (_, false, Style::ImmediateOrCancel | Style::FillOrKill) => {
                Some(Unrested::ImmediateOrCancel)
            }
        };
        Outcome { filled, resting: Qty::ZERO, unrested }
    }

    /// Removes a resting order; returns it, or `None` if it is not resting.
    pub fn cancel(&mut self, id: OrderId) -> Option<RestingOrder> {
        let slot = self.index.remove(id)?;
        Some(self.unlink(slot))
    }

    /// Reduces a resting order's quantity to `new_qty` (0 < new_qty < current), keeping its time
    /// priority. Returns false if the order is not resting or the quantity is not a reduction.
    pub fn reduce(&mut self, id: OrderId, new_qty: Qty) -> bool {
        let Some(slot) = self.index.get(id) else {
            return false;
        };
        let node = &mut self.nodes[slot as usize];
        let old = node.order.qty.get();
        if new_qty.get() <= 0 || new_qty.get() >= old {
            return false;
        }
        node.order.qty = new_qty;
        self.levels[node.level as usize].qty -= old - new_qty.get();
        true
    }

    /// Resting orders on one side, best price first and in time priority within a price.
    pub fn orders(&self, side: Side) -> impl Iterator<Item = &RestingOrder> + '_ {
        let levels: Box<dyn Iterator<Item = &u32>> = match side {
            Side::Buy => Box::new(self.bids.values().rev()),
            Side::Sell => Box::new(self.asks.values()),
        };
        levels.flat_map(move |&level| self.level_orders(level))
    }

    /// Aggregated depth: `(price, total lots, order count)` for the best `n` levels of a side.
    #[must_use]
    pub fn depth(&self, side: Side, n: usize) -> Vec<(Price, Qty, u32)> {
        let view = |(p, l): (&Price, &u32)| {
            let level = &self.levels[*l as usize];
            (*p, Qty::new(level.qty), level.count)
        };
        match side {
            Side::Buy => self.bids.iter().rev().take(n).map(view).collect(),
            Side::Sell => self.asks.iter().take(n).map(view).collect(),
        }
    }

    /// Checks the book's structural invariants: uncrossed, level totals and counts match their
    /// orders, every indexed order is linked in its level, prices are on the right side.
    ///
    /// # Errors
    /// A description of the first violated invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        if let (Some(bid), Some(ask)) = (self.best_bid(), self.best_ask()) {
            if bid >= ask {
                return Err(format!("book crossed: bid {bid} >= ask {ask}"));
            }
        }
        let mut seen = 0usize;
        for (side, map) in [(Side::Buy, &self.bids), (Side::Sell, &self.asks)] {
            for (&price, &level) in map {
                let lv = &self.levels[level as usize];
                let (mut qty, mut count) = (0i64, 0u32);
                for order in self.level_orders(level) {
                    if order.price != price || order.side != side || !order.qty.is_positive() {
                        return Err(format!("order {} misplaced at level {price}", order.id));
                    }
                    if self.index.get(order.id).is_none() {
                        return Err(format!("order {} linked but not indexed", order.id));
                    }
                    qty += order.qty.get();
                    count += 1;
                }
                if qty != lv.qty || count != lv.count || count == 0 {
                    return Err(format!(
                        "level {price} totals {}/{} != {qty}/{count}",
                        lv.qty, lv.count
                    ));
                }
                seen += count as usize;
            }
        }
        for side in [Side::Buy, Side::Sell] {
            let counted = self.orders(side).filter(|o| o.reduce_only).count();
            if counted != self.reduce_only_resting[side_slot(side)] as usize {
                return Err(format!("{side:?} reduce-only count {counted} != recorded"));
            }
        }
        if seen != self.index.len() {
            return Err(format!("{} orders indexed, {seen} linked", self.index.len()));
        }
        Ok(())
    }

    fn level_orders(&self, level: u32) -> impl Iterator<Item = &RestingOrder> + '_ {
        let mut slot = self.levels[level as usize].head;
        std::iter::from_fn(move || {
            if slot == NIL {
                return None;
            }
            let node = &self.nodes[slot as usize];
            slot = node.next;
            Some(&node.order)
        })
    }

    fn crosses(&self, side: Side, price: Price) -> bool {
        match side {
            Side::Buy => self.best_ask().is_some_and(|ask| ask <= price),
            Side::Sell => self.best_bid().is_some_and(|bid| bid >= price),
        }
    }

    /// Lots the incoming order could fill now, honouring self-trade prevention and reduce-only
    /// capacities.
    fn fillable(&self, order: &Incoming, cap: &impl ReduceCapacity) -> i64 {
        let want = order.qty.get();
        let mut total = 0i64;
        let mut swept = Swept::new(self.reduce_only_resting[side_slot(order.side.opposite())] > 0);
        for maker in self.orders(order.side.opposite()) {
            if !price_acceptable(order.side, order.price, maker.price) || total >= want {
                break;
            }
            if is_self_trade(order, maker) {
                match order.self_trade {
                    SelfTradePrevention::ExpireMaker => continue,
                    SelfTradePrevention::ExpireTaker | SelfTradePrevention::ExpireBoth => break,
                }
            }
            let lots = swept.allowance(maker, cap).min(want - total);
            swept.add(maker.owner, lots);
            total += lots;
        }
        total
    }

    /// Matches against the opposite side; returns (unfilled lots, stopped by self-trade).
    fn match_incoming(
        &mut self,
        order: &Incoming,
        events: &mut Vec<Event>,
        cap: &impl ReduceCapacity,
    ) -> (i64, bool) {
        let mut remaining = order.qty.get();
        let mut swept = Swept::new(self.reduce_only_resting[side_slot(order.side.opposite())] > 0);
        let mut stopped = false;
        while remaining > 0 {
            let best = match order.side {
                Side::Buy => self.asks.first_key_value(),
                Side::Sell => self.bids.last_key_value(),
            };
            let Some((&price, &level)) = best else { break };
            if !price_acceptable(order.side, order.price, price) {
                break;
            }
            let slot = self.levels[level as usize].head;
            let maker = self.nodes[slot as usize].order;
            if is_self_trade(order, &maker) {
                if self.prevent_self_trade(order.self_trade, slot, &maker, events) {
                    stopped = true;
                    break;
                }
                continue;
            }
            let allowed = swept.allowance(&maker, cap);
            if allowed == 0 {
                self.index.remove(maker.id);
                self.unlink(slot);
                events.push(Event::MakerReduceOnlyExpired {
                    maker: maker.id,
                    maker_owner: maker.owner,
                    remaining: maker.qty,
                });
                continue;
            }
            let qty = remaining.min(allowed);
            remaining -= qty;
            swept.add(maker.owner, qty);
            let maker_done = qty == maker.qty.get();
            events.push(Event::Fill {
                maker: maker.id,
                maker_owner: maker.owner,
                price,
                qty: Qty::new(qty),
                maker_done,
            });
            if maker_done {
                self.index.remove(maker.id);
                self.unlink(slot);
            } else {
                self.nodes[slot as usize].order.qty = Qty::new(maker.qty.get() - qty);
                self.levels[level as usize].qty -= qty;
            }
        }
        (remaining, stopped)
    }

    /// Applies the self-trade mode to one maker; returns true when the taker must stop.
    fn prevent_self_trade(
        &mut self,
        mode: SelfTradePrevention,
        slot: u32,
        maker: &RestingOrder,
        events: &mut Vec<Event>,
    ) -> bool {
        if mode == SelfTradePrevention::ExpireTaker {
            return true;
        }
        self.index.remove(maker.id);
        self.unlink(slot);
        events.push(Event::MakerExpired {
            maker: maker.id,
            maker_owner: maker.owner,
            remaining: maker.qty,
        });
        mode == SelfTradePrevention::ExpireBoth
    }

    fn rest(&mut self, order: RestingOrder) {
        if order.reduce_only {
            self.reduce_only_resting[side_slot(order.side)] += 1;
        }
        let levels = match order.side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let level = *levels.entry(order.price).or_insert_with(|| {
            let level = Level { head: NIL, tail: NIL, qty: 0, count: 0 };
            match self.free_levels.pop() {
                Some(slot) => {
                    self.levels[slot as usize] = level;
                    slot
                }
                None => {
                    self.levels.push(level);
                    slot_index(self.levels.len() - 1)
                }
            }
        });
        let lv = &mut self.levels[level as usize];
        let node = Node { order, level, prev: lv.tail, next: NIL };
        let slot = match self.free_nodes.pop() {
            Some(slot) => {
                self.nodes[slot as usize] = node;
                slot
            }
            None => {
                self.nodes.push(node);
                slot_index(self.nodes.len() - 1)
            }
        };
        let lv = &mut self.levels[level as usize];
        if lv.tail == NIL {
            lv.head = slot;
        } else {
            self.nodes[lv.tail as usize].next = slot;
        }
        lv.tail = slot;
        lv.qty += order.qty.get();
        lv.count += 1;
        self.index.insert(order.id, slot);
    }

    /// Unlinks a node (already removed from the index) from its level, dropping an emptied level.
    fn unlink(&mut self, slot: u32) -> RestingOrder {
        let Node { order, level, prev, next } = self.nodes[slot as usize];
        if order.reduce_only {
            self.reduce_only_resting[side_slot(order.side)] -= 1;
        }
        if prev == NIL {
            self.levels[level as usize].head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.levels[level as usize].tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        let lv = &mut self.levels[level as usize];
        lv.qty -= order.qty.get();
        lv.count -= 1;
        if lv.count == 0 {
            match order.side {
                Side::Buy => self.bids.remove(&order.price),
                Side::Sell => self.asks.remove(&order.price),
            };
            self.free_levels.push(level);
        }
        self.free_nodes.push(slot);
        order
    }
}

fn resting_from(order: &Incoming) -> RestingOrder {
    RestingOrder {
        reduce_only: order.reduce_only,
        id: order.id,
        owner: order.owner,
        group: order.group,
        side: order.side,
        price: order.price,
        qty: order.qty,
    }
}

/// True when a taker on `side` with limit `limit` may trade at `maker_price`.
fn price_acceptable(side: Side, limit: Price, maker_price: Price) -> bool {
    match side {
        Side::Buy => maker_price <= limit,
        Side::Sell => maker_price >= limit,
    }
}

fn is_self_trade(taker: &Incoming, maker: &RestingOrder) -> bool {
    taker.owner == maker.owner || (taker.group != 0 && taker.group == maker.group)
}

fn slot_index(index: usize) -> u32 {
    // More than 4 billion resting orders in one book is a broken invariant, not bad input: the
    // ledger caps open orders per account and accounts per member.
    u32::try_from(index).unwrap_or_else(|_| unreachable!("order book slab exceeds u32 slots"))
}

#[cfg(test)]
mod tests;

mod id_index {
    //! Order id → slab slot, for O(1) cancel. Lookups only: see [`crate::fixed_hash`].

    use crate::fixed_hash::FixedHashMap;
    use tokenbook_protocol::OrderId;

    #[derive(Clone, Debug, Default)]
    pub struct IdIndex(FixedHashMap<OrderId, u32>);

    impl IdIndex {
        pub fn get(&self, id: OrderId) -> Option<u32> {
            self.0.get(&id).copied()
        }

        pub fn insert(&mut self, id: OrderId, slot: u32) {
            let previous = self.0.insert(id, slot);
            debug_assert!(previous.is_none(), "order id {id} indexed twice");
        }

        pub fn remove(&mut self, id: OrderId) -> Option<u32> {
            self.0.remove(&id)
        }

        pub fn len(&self) -> usize {
            self.0.len()
        }
    }
}
