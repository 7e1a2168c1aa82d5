//! Liquidation at the end of every block, after marks, variation margin and triggers
//! (docs/adr/0005-oracle-margin-liquidation.md).
//!
//! What it promises:
//! - An account **needs liquidation** when it holds a position and its equity is below its
//!   maintenance margin, or when its equity is negative while the insurance fund holds cash.
//!   After the block no account needs liquidation unless the block hit
//!   `max_liquidations_per_block` (then `liquidation_backlog` is set and the next block goes on).
//! - Accounts are taken by `equity − MM` ascending, then id. Each one: every open order is
//!   cancelled; each position is offered to the book as an IOC order limited by the
//!   fund-backed bankruptcy price (the liquidation fee goes to the insurance fund instead of the
//!   taker fee); what the book does not take is auto-deleveraged against the opposite positions
//!   ranked by profit × leverage; a negative equity left over is paid by the insurance fund as
//!   far as it goes (the rest is recorded as unpaid bad debt).
//! - Accounts whose equity the liquidation itself moved (makers, deleveraged counterparties) are
//!   checked again in the same block.
//! - Every movement is a transfer between accounts, or between an account and the insurance
//!   fund, so cash is conserved exactly; rounding favours the insurance fund.

use crate::margin::{self, MAX_TICKS};
use crate::receipt::{CancelReason, Event, Events};
use crate::state::{LedgerState, MarketStatus};
use std::collections::BTreeSet;
use tokenbook_protocol::{
    AccountId, Cash, MarketId, NewOrder, OrderKind, Price, Qty, SelfTradePrevention, Side,
    TimeInForce,
};

impl LedgerState {
    /// `Some(equity − MM)` when the account needs liquidation (see the module docs).
    #[must_use]
    pub fn liquidation_need(&self, account: AccountId) -> Option<i128> {
        let account = self.accounts.get(&account)?;
        if account.positions.is_empty() {
            return None;
        }
        let equity = margin::equity(self, account);
        let open = account.positions.iter().any(|(_, p)| p.qty.get() != 0);
        if open {
            let shortfall = equity - margin::maintenance_margin(self, account);
            if shortfall < 0 {
                return Some(shortfall);
            }
        }
        (equity < 0 && self.insurance_fund.is_positive()).then_some(equity)
    }

    /// The end-of-block liquidation pass.
    pub(crate) fn liquidate(&mut self, events: &mut Events) {
        let mut budget = self.risk.max_liquidations_per_block as usize;
        let mut queue = self.candidates(self.accounts.values().map(|a| a.id).collect());
        self.liquidation_backlog = false;
        let mut fund_was_empty = !self.insurance_fund.is_positive();
        while !queue.is_empty() {
            let since = self.touched.accounts.len();
            for account in queue {
                if budget == 0 {
                    self.liquidation_backlog = true;
                    return;
                }
                budget -= 1;
                self.liquidate_account(account, events);
                fund_was_empty |= !self.insurance_fund.is_positive();
            }
            // Fills and deleveraging at prices away from the mark move other accounts' equity.
            let moved: BTreeSet<AccountId> =
                self.touched.accounts[since..].iter().copied().collect();
            queue = self.candidates(moved.into_iter().collect());
            if queue.is_empty() && fund_was_empty && self.insurance_fund.is_positive() {
                // A liquidation fee refilled an empty fund: the negative-equity accounts that
                // waited for it, touched or not, are owed it now (else the committed state
                // fails the full check).
                fund_was_empty = false;
                queue = self.candidates(self.accounts.values().map(|a| a.id).collect());
            }
        }
    }

    /// The accounts among `ids` that need liquidation, most urgent first.
    fn candidates(&self, ids: Vec<AccountId>) -> Vec<AccountId> {
        let mut due: Vec<(i128, AccountId)> = ids
            .into_iter()
            .filter_map(|id| self.liquidation_need(id).map(|need| (need, id)))
            .collect();
        due.sort_unstable();
        due.into_iter().map(|(_, id)| id).collect()
    }

    fn liquidate_account(&mut self, id: AccountId, events: &mut Events) {
        let account = &self.accounts[&id];
        events.push(Event::Liquidated {
            account: id,
            equity: Cash::new(margin::equity(self, account)),
            maintenance: Cash::new(margin::maintenance_margin(self, account)),
        });
        let orders: Vec<_> = account.open_orders.iter().copied().collect();
        let markets: Vec<MarketId> = account
            .positions
            .iter()
            .filter(|(_, p)| p.qty.get() != 0)
            .map(|(market, _)| *market)
            .collect();
        for order in orders {
            self.remove_order(order, CancelReason::Liquidation, events);
        }
        for market in markets {
            self.close_in_book(id, market, events);
            self.deleverage(id, market, events);
        }
        self.cover_deficit(id, events);
    }

    /// Offers the whole position to the book: IOC, limited by the price at which the account's
    /// equity plus the whole insurance fund would reach zero (rounded toward the fund).
    fn close_in_book(&mut self, id: AccountId, market: MarketId, events: &mut Events) {
        let qty = self.position_qty(id, market);
        let Some(m) = self.markets.get(&market).filter(|m| m.status == MarketStatus::Active) else {
            return;
        };
        if qty == 0 || self.order_seq >= 1 << crate::apply::ORDER_SEQ_BITS {
            return;
        }
        let cover = margin::equity(self, &self.accounts[&id]) + self.insurance_fund.get();
        let per_tick = i128::from(qty).abs() * m.lot_tick_value.get();
        // Ticks of adverse price the account and the fund can absorb (floor: toward the fund).
        let room = cover.div_euclid(per_tick);
        let mark = i128::from(m.mark.get());
        let limit = if qty > 0 { mark - room } else { mark + room };
        let order = NewOrder {
            market,
            side: if qty > 0 { Side::Sell } else { Side::Buy },
            kind: OrderKind::Limit,
            price: clamp_ticks(limit),
            qty: Qty::new(qty.abs()),
            time_in_force: TimeInForce::Ioc,
            reduce_only: false,
            client_order_id: None,
            self_trade: SelfTradePrevention::ExpireTaker,
            trigger: None,
        };
        let order_id = self.next_order_id();
        self.liquidation_order = Some(order_id);
        // An IOC order in an active market is always accepted by the book.
        let _ = self.execute(id, order_id, &order, order.qty, events);
        self.liquidation_order = None;
    }

    /// Closes what is left of the position against the opposite positions, most profitable
    /// and leveraged first: at the mark if the account and the fund can bear it, else at the
    /// price where they reach zero (rounded toward the fund: the counterparties bear at most one
    /// tick more). No fees.
    fn deleverage(&mut self, id: AccountId, market: MarketId, events: &mut Events) {
        let qty = self.position_qty(id, market);
        let Some(m) = self.markets.get(&market) else { return };
        if qty == 0 || !matches!(m.status, MarketStatus::Active | MarketStatus::Halted) {
            return;
        }
        let (mark, lot_tick_value) = (m.mark, m.lot_tick_value.get());
        let cover = margin::equity(self, &self.accounts[&id]) + self.insurance_fund.get();
        let price = if cover >= 0 {
            mark
        } else {
            let per_tick = i128::from(qty).abs() * lot_tick_value;
            let ticks = (-cover + per_tick - 1) / per_tick;
            let mark = i128::from(mark.get());
            clamp_ticks(if qty > 0 { mark + ticks } else { mark - ticks })
        };
        let mut left = qty.abs();
        for counterparty in self.deleverage_ranking(id, market, qty) {
            if left == 0 {
                break;
            }
            let lots = left.min(self.position_qty(counterparty, market).abs());
            left -= lots;
            self.deleverage_pair(market, (id, counterparty), qty.signum() * lots, price, events);
        }
        debug_assert_eq!(left, 0, "positions sum to zero, so the opposite side covers it");
    }

    /// Moves `lots` (signed, the liquidated account's side) from `pair.0` to `pair.1` at `price`.
    fn deleverage_pair(
        &mut self,
        market: MarketId,
        (account, counterparty): (AccountId, AccountId),
        lots: i64,
        price: Price,
        events: &mut Events,
    ) {
        let value = margin::notional(&self.markets[&market], price, Qty::new(lots.abs()));
        let long_delta = self.move_position(account, market, -lots, value, 0)
            + self.move_position(counterparty, market, lots, value, 0);
        if let Ok(m) = self.market_mut(market) {
            m.long_interest = Qty::new(m.long_interest.get() + long_delta);
            m.short_interest = Qty::new(m.short_interest.get() + long_delta);
        }
        self.enforce_reduce_only(market, counterparty, events);
        events.push(Event::Deleveraged {
            market,
            account,
            counterparty,
            qty: Qty::new(lots.abs()),
            price,
        });
    }

    /// Accounts holding the side opposite to `qty` in the market, by `profit_bps ×
    /// leverage_bps` at the mark (descending, saturating), then id.
    fn deleverage_ranking(&self, id: AccountId, market: MarketId, qty: i64) -> Vec<AccountId> {
        let m = &self.markets[&market];
        let mut ranked: Vec<(std::cmp::Reverse<i128>, AccountId)> = self
            .accounts
            .values()
            .filter(|a| a.id != id)
            .filter_map(|a| {
                let p = a.positions.get(&market)?;
                if p.qty.get().signum() != -qty.signum() {
                    return None;
                }
                let profit = p.pnl_at(m.mark, m.lot_tick_value.get());
                let notional = margin::notional(m, m.mark, p.qty).abs();
                let profit_bps = profit.saturating_mul(10_000) / p.cost.get().abs().max(1);
                let leverage_bps = notional.saturating_mul(10_000) / margin::equity(self, a).max(1);
                Some((std::cmp::Reverse(profit_bps.saturating_mul(leverage_bps)), a.id))
            })
            .collect();
        ranked.sort_unstable();
        ranked.into_iter().map(|(_, id)| id).collect()
    }

    /// The insurance fund pays a negative equity back to zero as far as it can.
    fn cover_deficit(&mut self, id: AccountId, events: &mut Events) {
        let deficit = -margin::equity(self, &self.accounts[&id]);
        if deficit <= 0 {
            return;
        }
        let paid = deficit.min(self.insurance_fund.get().max(0));
        self.insurance_fund = Cash::new(self.insurance_fund.get() - paid);
        self.total_cash = Cash::new(self.total_cash.get() + paid);
        if let Ok(account) = self.account_mut(id) {
            account.cash = Cash::new(account.cash.get() + paid);
        }
        events.push(Event::InsurancePaid {
            account: id,
            amount: Cash::new(paid),
            unpaid: Cash::new(deficit - paid),
        });
    }

    fn position_qty(&self, account: AccountId, market: MarketId) -> i64 {
        self.accounts
            .get(&account)
            .and_then(|a| a.positions.get(&market))
            .map_or(0, |p| p.qty.get())
    }
}

/// A price in ticks clamped to the accepted range.
fn clamp_ticks(ticks: i128) -> Price {
    Price::new(i64::try_from(ticks.clamp(1, i128::from(MAX_TICKS))).unwrap_or(MAX_TICKS))
}
