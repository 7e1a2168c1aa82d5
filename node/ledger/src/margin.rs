//! Cross margin per account, in integers (the pre-trade and withdrawal hook of issue #3; issue #4
//! adds the oracle-driven mark, maintenance margin, liquidation and the calendar-spread credit).
//!
//! - Notional of `q` lots at `p` ticks = `p × q × lot_tick_value` (cash units).
//! - Equity = cash + Σ markets (position × mark × lot tick value − position cost).
//! - Initial margin (IM) = Σ markets, worst case over the open orders filling:
//!   `max(|pos + open buys|, |pos − open sells|) × mark × lot tick value × IM bps / 10,000`,
//!   rounded up (toward safety).
//!
//! Bounds: prices and quantities are at most [`MAX_TICKS`] and [`MAX_LOTS`], and a market's lot
//! tick value at most [`MAX_LOT_TICK_VALUE`], so one fill's notional is at most 10^27 cash units
//! and i128 (±1.7 × 10^38) holds 10^11 such fills in one running sum: no sequence of txs can
//! overflow a cash total.

use crate::state::{Account, LedgerState, Market, Position};
use tokenbook_protocol::{MarketId, Price, Qty, Side};

/// Largest accepted price in ticks.
pub const MAX_TICKS: i64 = 1_000_000_000;
/// Largest accepted quantity in lots.
pub const MAX_LOTS: i64 = 1_000_000_000;
/// Largest accepted cash value of one tick on one lot.
pub const MAX_LOT_TICK_VALUE: i128 = 1_000_000_000;
/// Largest accepted single cash amount (deposit, withdrawal): 10^30 smallest units.
pub const MAX_CASH: i128 = 1_000_000_000_000_000_000_000_000_000_000;

/// Cash value of `qty` lots at `price` ticks (signed as the inputs are).
#[must_use]
pub fn notional(market: &Market, price: Price, qty: Qty) -> i128 {
    i128::from(price.get()) * i128::from(qty.get()) * market.lot_tick_value.get()
}

/// `value × bps / 10,000`, rounded up (toward +∞), without forming `value × bps`.
#[must_use]
pub fn bps_ceil(value: i128, bps: i128) -> i128 {
    let (whole, part) = (value.div_euclid(10_000), value.rem_euclid(10_000));
    let tail = part * bps;
    whole * bps + tail.div_euclid(10_000) + i128::from(tail.rem_euclid(10_000) != 0)
}

/// Worst-case absolute position if every open order of one side fills.
pub(crate) fn worst_position(p: &Position) -> i128 {
    let q = i128::from(p.qty.get());
    (q + i128::from(p.open_buy.get())).abs().max((q - i128::from(p.open_sell.get())).abs())
}

/// A hypothetical extra open order: (market, side, lots).
pub type Extra = Option<(MarketId, Side, Qty)>;

/// Initial margin of an account, optionally with one more open order.
#[must_use]
pub fn initial_margin(state: &LedgerState, account: &Account, mut extra: Extra) -> i128 {
    let mut total = 0i128;
    for (market_id, position) in &account.positions {
        let mut p = *position;
        if let Some((_, side, qty)) = extra.filter(|(m, _, _)| m == market_id) {
            add_open(&mut p, side, qty.get());
            extra = None;
        }
        total += market_margin(state, *market_id, &p);
    }
    if let Some((market_id, side, qty)) = extra {
        let mut p = Position::default();
        add_open(&mut p, side, qty.get());
        total += market_margin(state, market_id, &p);
    }
    total
}

fn add_open(p: &mut Position, side: Side, lots: i64) {
    match side {
        Side::Buy => p.open_buy = Qty::new(p.open_buy.get() + lots),
        Side::Sell => p.open_sell = Qty::new(p.open_sell.get() + lots),
    }
}

fn market_margin(state: &LedgerState, market: MarketId, p: &Position) -> i128 {
    let Some(m) = state.markets.get(&market) else {
        return 0;
    };
    let worst = worst_position(p) * i128::from(m.mark.get()) * m.lot_tick_value.get();
    bps_ceil(worst, i128::from(m.spec.params.initial_margin_bps))
}

/// Equity: cash plus unrealised PnL at the marks.
#[must_use]
pub fn equity(state: &LedgerState, account: &Account) -> i128 {
    let unrealised: i128 = account
        .positions
        .iter()
        .filter_map(|(id, p)| {
            state.markets.get(id).map(|m| notional(m, m.mark, p.qty) - p.cost.get())
        })
        .sum();
    account.cash.get() + unrealised
}

/// Equity minus initial margin (negative = short of margin), with an optional extra order.
#[must_use]
pub fn free_margin(state: &LedgerState, account: &Account, extra: Extra) -> i128 {
    equity(state, account) - initial_margin(state, account, extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bps_rounds_up_exactly() {
        assert_eq!(bps_ceil(10_000, 4), 4);
        assert_eq!(bps_ceil(10_001, 4), 5);
        assert_eq!(bps_ceil(9_999, 1), 1);
        assert_eq!(bps_ceil(0, 5_000), 0);
        assert_eq!(bps_ceil(-10_001, 1), -1);
        // The largest notional times the largest rate does not overflow.
        let max = i128::from(MAX_TICKS) * i128::from(MAX_LOTS) * MAX_LOT_TICK_VALUE;
        assert_eq!(bps_ceil(max, 10_000), max);
    }
}
