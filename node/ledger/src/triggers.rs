//! Stop and take-profit orders: they wait off the book until the market's mark crosses their
//! trigger price, then enter as fresh orders (same id, new time priority), in id order.
//!
//! Directions: a buy stop and a sell take-profit fire when the mark rises to their price or
//! above; a sell stop and a buy take-profit when it falls to their price or below. Triggered
//! orders pass every check of a new order at that moment; one that fails (margin, band, limits) is
//! cancelled with the reason. Marks move with the oracle; at the end of every block, once the
//! marks have moved (and before the liquidation scan), the triggers they reach are released.

use crate::receipt::{CancelReason, Event, Events};
use crate::state::{LedgerState, MarketStatus, OrderInfo};
use tokenbook_protocol::{MarketId, NewOrder, OrderId, Price, Side, TriggerKind};

/// Which way the mark must move to fire a trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Fires when mark ≥ trigger price.
    Up,
    /// Fires when mark ≤ trigger price.
    Down,
}

/// The direction of a trigger on an order of `side`.
#[must_use]
pub fn direction(side: Side, kind: TriggerKind) -> Direction {
    match (kind, side) {
        (TriggerKind::Stop, Side::Buy) | (TriggerKind::TakeProfit, Side::Sell) => Direction::Up,
        (TriggerKind::Stop, Side::Sell) | (TriggerKind::TakeProfit, Side::Buy) => Direction::Down,
    }
}

impl LedgerState {
    /// Adds a pending trigger to the price index.
    pub(crate) fn index_trigger(&mut self, id: OrderId, info: &OrderInfo) {
        if let Some((dir, price)) = trigger_key(info) {
            self.trigger_set(dir).insert((info.market, price, id));
        }
    }

    /// Removes a pending trigger from the price index.
    pub(crate) fn unindex_trigger(&mut self, id: OrderId, info: &OrderInfo) {
        if let Some((dir, price)) = trigger_key(info) {
            self.trigger_set(dir).remove(&(info.market, price, id));
        }
    }

    fn trigger_set(
        &mut self,
        dir: Direction,
    ) -> &mut std::collections::BTreeSet<(MarketId, Price, OrderId)> {
        match dir {
            Direction::Up => &mut self.triggers_up,
            Direction::Down => &mut self.triggers_down,
        }
    }

    /// Releases every pending trigger that the active markets' marks have reached.
    pub(crate) fn release_triggers(&mut self, events: &mut Events) {
        let active: Vec<(MarketId, Price)> = self
            .markets
            .values()
            .filter(|m| m.status == MarketStatus::Active)
            .map(|m| (m.id, m.mark))
            .collect();
        for (market, mark) in active {
            let up = (market, Price::new(i64::MIN), OrderId::new(0))
                ..=(market, mark, OrderId::new(u64::MAX));
            let down = (market, mark, OrderId::new(0))
                ..=(market, Price::new(i64::MAX), OrderId::new(u64::MAX));
            let mut fired: Vec<OrderId> = self.triggers_up.range(up).map(|k| k.2).collect();
            fired.extend(self.triggers_down.range(down).map(|k| k.2));
            fired.sort_unstable();
            for id in fired {
                self.fire(id, events);
            }
        }
    }

    /// Turns one pending trigger into a live order.
    fn fire(&mut self, id: OrderId, events: &mut Events) {
        let Some(info) = self.orders.get(&id) else { return };
        let Some(pending) = info.pending_trigger.clone() else { return };
        let account = info.account;
        let order = NewOrder { trigger: None, ..*pending };
        self.untrack_open(id);
        events.push(Event::OrderTriggered { order: id, market: order.market, account });
        if let Err(refusal) = self.place_with_id(account, id, &order, events) {
            events.push(Event::OrderCancelled {
                order: id,
                market: order.market,
                account,
                remaining: order.qty,
                reason: CancelReason::TriggerRefused(refusal.code),
            });
        }
    }
}

fn trigger_key(info: &OrderInfo) -> Option<(Direction, Price)> {
    let trigger = info.pending_trigger.as_ref()?.trigger?;
    Some((direction(info.side, trigger.kind), trigger.price))
}
