//! Liquidation at the end of every block, after marks, variation margin and triggers
//! (docs/adr/0005-oracle-margin-liquidation.md).
//!
//! What it promises:
//! - An account **needs liquidation** when it holds a position and its equity is below its
//!   maintenance margin, or when its equity is negative while the insurance fund holds cash.
//!   After the block no account needs liquidation unless the block hit
//!   `max_liquidations_per_block` (then `liquidation_backlog` is set and the next block goes on).
//! - Accounts are taken by `equity − MM` ascending, then id. Each one: every open order is
//!   cancelled; then, market by market while the account still needs liquidation, the position
//!   is offered to the book as an IOC order limited by the waterfall-backed bankruptcy price (the
//!   liquidation fee goes to the insurance fund instead of the taker fee), and of what the book
//!   does not take, auto-deleveraging closes only the minimum: the fewest lots that bring the
//!   account back to maintenance at the mark, or all of it at the bankruptcy price when the
//!   account and the waterfall cannot bear the mark — spread pro rata over the profitable opposite
//!   positions, never the whole of a queue's head (issue #18). A negative equity left over is
//!   paid by the default waterfall ([`crate::guaranty`]: the clearing member, the insurance
//!   fund, the other members) as far as it goes (the rest is recorded as bad debt).
//! - Accounts whose equity the liquidation itself moved (makers, deleveraged counterparties) are
//!   checked again in the same block.
//! - Every movement is a transfer between accounts, or between an account and the insurance
//!   fund or a member's guaranty contribution, so cash is conserved exactly; rounding favours
//!   the waterfall's layers.

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

    /// The end-of-block liquidation pass; `moved` are the markets whose mark moved in the block.
    /// It looks at the accounts the at-risk index names ([`crate::risk_index`]): its cost
    /// follows what changed, not the number of accounts.
    pub(crate) fn liquidate(&mut self, moved: &[MarketId], events: &mut Events) {
        let mut budget = self.risk.max_liquidations_per_block as usize;
        let scope = self.liquidation_scope(moved);
        let mut queue = self.candidates(scope);
        debug_assert_eq!(
            queue,
            self.candidates(self.accounts.values().map(|a| a.id).collect()),
            "the at-risk index left out an account that needs liquidation"
        );
        self.liquidation_backlog = false;
        let mut fund_was_empty = !self.insurance_fund.is_positive();
        while !queue.is_empty() {
            // The log skips a repeat of its last entry, so the tail starts one entry early.
            let since = self.touched.accounts.len().saturating_sub(1);
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
            // Once back at maintenance the account keeps the rest of its positions.
            if self.liquidation_need(id).is_none() {
                break;
            }
            self.close_in_book(id, market, events);
            self.deleverage(id, market, events);
        }
        self.absorb_deficit(id, events);
    }

    /// Offers the whole position to the book: IOC, limited by the price at which the account's
    /// equity plus every layer of the waterfall would reach zero (rounded toward the layers).
    fn close_in_book(&mut self, id: AccountId, market: MarketId, events: &mut Events) {
        let qty = self.position_qty(id, market);
        let Some(m) = self.markets.get(&market).filter(|m| m.status == MarketStatus::Active) else {
            return;
        };
        if qty == 0 || self.order_seq >= 1 << crate::apply::ORDER_SEQ_BITS {
            return;
        }
        let cover = margin::equity(self, &self.accounts[&id]) + self.waterfall_capacity(id);
        let per_tick = i128::from(qty).abs() * m.lot_tick_value.get();
        // Ticks of adverse price the account and the waterfall can absorb (floor: toward the
        // layers).
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

    /// Auto-deleveraging, the last resort, takes the minimum (issue #18): when the account and
    /// the waterfall can bear the mark, only the fewest lots that bring the account back to
    /// maintenance are closed, at the mark; when they cannot, the whole position is, at the
    /// price where they reach zero (rounded toward the waterfall: the counterparties bear at most
    /// one tick more). The lots are spread over the opposite positions by [`pro_rata`] — the
    /// profitable ones first, the others only if those are not enough. No fees.
    fn deleverage(&mut self, id: AccountId, market: MarketId, events: &mut Events) {
        let qty = self.position_qty(id, market);
        let Some(m) = self.markets.get(&market) else { return };
        if qty == 0 || !matches!(m.status, MarketStatus::Active | MarketStatus::Halted) {
            return;
        }
        let (mark, lot_tick_value) = (m.mark, m.lot_tick_value.get());
        let cover = margin::equity(self, &self.accounts[&id]) + self.waterfall_capacity(id);
        let (price, lots) = if cover >= 0 {
            (mark, self.lots_to_maintenance(id, market, qty))
        } else {
            let per_tick = i128::from(qty).abs() * lot_tick_value;
            let ticks = (-cover + per_tick - 1) / per_tick;
            let mark = i128::from(mark.get());
            (clamp_ticks(if qty > 0 { mark + ticks } else { mark - ticks }), qty.abs())
        };
        for (counterparty, share) in self.deleverage_shares(id, market, qty, lots) {
            self.deleverage_pair(market, (id, counterparty), qty.signum() * share, price, events);
        }
    }

    /// The fewest of the `qty` lots held in `market` that, closed at the mark, leave the
    /// account's equity at or above the maintenance margin of what remains (all of them when
    /// nothing less does). Closing at the mark leaves equity as it is; closing an outright
    /// never raises the margin, so the test is monotone and a bisection finds the least.
    /// Closing a spread leg can raise it (the scan stops netting); the bisection then still
    /// returns a count that is enough, or the whole position — never too few lots.
    fn lots_to_maintenance(&self, id: AccountId, market: MarketId, qty: i64) -> i64 {
        let account = &self.accounts[&id];
        let equity = margin::equity(self, account);
        let enough = |closed: i64| {
            let left = qty - qty.signum() * closed;
            equity >= margin::maintenance_margin_with(self, account, market, left)
        };
        let (mut low, mut high) = (0, qty.abs());
        if enough(low) {
            return 0;
        }
        // Invariant: `enough(low)` is false; `high` is enough, or the whole position.
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if enough(mid) { high = mid } else { low = mid }
        }
        high
    }

    /// Who takes `lots` of the liquidated account's position in `market` (`qty`, signed): the
    /// opposite positions that are in profit at the mark, pro rata to their size, then — only
    /// if those hold fewer than `lots` — the other opposite positions, pro rata too.
    fn deleverage_shares(
        &self,
        id: AccountId,
        market: MarketId,
        qty: i64,
        lots: i64,
    ) -> Vec<(AccountId, i64)> {
        let m = &self.markets[&market];
        let (mut profitable, mut others) = (Vec::new(), Vec::new());
        for account in self.accounts.values().filter(|a| a.id != id) {
            let Some(p) = account.positions.get(&market) else { continue };
            if p.qty.get().signum() != -qty.signum() {
                continue;
            }
            let holder = (account.id, p.qty.get().abs());
            if p.pnl_at(m.mark, m.lot_tick_value.get()) > 0 {
                profitable.push(holder);
            } else {
                others.push(holder);
            }
        }
        let first = lots.min(profitable.iter().map(|(_, size)| size).sum());
        let mut shares = pro_rata(&profitable, first);
        shares.extend(pro_rata(&others, lots - first));
        debug_assert_eq!(shares.iter().map(|(_, s)| s).sum::<i64>(), lots, "positions sum to 0");
        shares
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

/// Splits `lots` over `holders` (account, size) in proportion to size, in whole lots:
/// [`split_pro_rata`] on lots.
#[must_use]
pub fn pro_rata(holders: &[(AccountId, i64)], lots: i64) -> Vec<(AccountId, i64)> {
    let wide: Vec<(AccountId, i128)> =
        holders.iter().map(|(id, size)| (*id, i128::from(*size))).collect();
    split_pro_rata(&wide, i128::from(lots))
        .into_iter()
        .map(|(id, share)| (id, i64::try_from(share).unwrap_or(i64::MAX)))
        .collect()
}

/// Splits `amount` over `holders` (account, size) in proportion to size, in whole units: each
/// gets the floor of its exact share, and the units left over go one each to the largest
/// remainders (ties: the earlier account in `holders`). Never more than a holder's size, never
/// more than one unit away from the exact share, and the shares sum to `amount` when the sizes
/// do not fall short of it (else each holder gets its whole size). Only non-zero shares are
/// listed, in `holders` order. Used for deleveraging lots and for the other members'
/// guaranty assessments.
#[must_use]
pub fn split_pro_rata(holders: &[(AccountId, i128)], amount: i128) -> Vec<(AccountId, i128)> {
    let total: i128 = holders.iter().map(|(_, size)| *size).sum();
    if total <= amount {
        return holders.iter().copied().filter(|(_, size)| *size > 0).collect();
    }
    let amount = amount.max(0);
    // Each holder's exact share amount × size / total, as (whole units, remainder), exact for
    // any sizes below 2^126 (cash totals are at most 10^36).
    let exact: Vec<(i128, i128)> =
        holders.iter().map(|(_, size)| mul_div(amount, *size, total)).collect();
    let mut shares: Vec<i128> = exact.iter().map(|(whole, _)| *whole).collect();
    let left = amount - shares.iter().sum::<i128>();
    let mut by_remainder: Vec<(std::cmp::Reverse<i128>, usize)> =
        exact.iter().enumerate().map(|(i, (_, rest))| (std::cmp::Reverse(*rest), i)).collect();
    by_remainder.sort_unstable();
    for (_, i) in by_remainder.into_iter().take(usize::try_from(left).unwrap_or(0)) {
        shares[i] += 1;
    }
    holders
        .iter()
        .zip(shares)
        .filter(|(_, share)| *share > 0)
        .map(|((id, _), s)| (*id, s))
        .collect()
}

/// `(⌊a × b / c⌋, a × b mod c)` for `0 ≤ a, b ≤ c` and `0 < c < 2^126`, without overflow: the
/// product directly when it fits, else by shift-and-add (the remainder stays below `c`).
fn mul_div(a: i128, b: i128, c: i128) -> (i128, i128) {
    if let Some(product) = a.checked_mul(b) {
        return (product / c, product % c);
    }
    let (mut quotient, mut rest) = (0i128, 0i128);
    for bit in (0..127).rev() {
        quotient *= 2;
        rest *= 2;
        if rest >= c {
            rest -= c;
            quotient += 1;
        }
        if (b >> bit) & 1 == 1 {
            rest += a;
            if rest >= c {
                rest -= c;
                quotient += 1;
            }
        }
    }
    (quotient, rest)
}
