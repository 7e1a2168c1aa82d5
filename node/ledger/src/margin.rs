//! Cross margin per account, in integers (the pre-trade and withdrawal hook of issue #3; issue #4
//! adds the oracle-driven mark, maintenance margin, liquidation and the calendar-spread credit).
//!
//! - Notional of `q` lots at `p` ticks = `p × q × lot_tick_value` (cash units).
//! - Equity = cash + Σ markets (position × mark × lot tick value − position cost).
//! - Initial margin (IM) = Σ markets, worst case over the open orders filling:
//!   `max(|pos + open buys|, |pos − open sells|) × mark × lot tick value × IM bps / 10,000`,
//!   rounded up (toward safety).
//!
//! - Maintenance margin (MM) = Σ markets ⌈|position| × mark × lot tick value × MM bps / 10,000⌉.
//! - Calendar-spread credit (both): per index, with `L` the margin of the markets held long and
//!   `S` of those held short, ⌊min(L, S) × calendar_spread_credit_bps / 10,000⌋ is forgiven
//!   (rounded down, so margin rounds up).
//!
//! Bounds: prices and quantities are at most [`MAX_TICKS`] and [`MAX_LOTS`], and a market's lot
//! tick value at most [`MAX_LOT_TICK_VALUE`], so one fill's notional is at most 10^27 cash units
//! and i128 (±1.7 × 10^38) holds 10^11 such fills in one running sum; deposits over the chain's
//! life are capped at [`MAX_TOTAL_DEPOSITS`] (10^36), so deposit/withdraw cycles cannot grow the
//! lifetime totals past i128 either: no sequence of txs can overflow a cash total.

use crate::state::{Account, LedgerState, Market, Position};
use tokenbook_protocol::{IndexId, MarketId, Price, Qty, Side};

/// An account's positions by market.
type Positions = crate::small::SortedMap<MarketId, Position>;

/// Largest accepted price in ticks.
pub const MAX_TICKS: i64 = 1_000_000_000;
/// Largest accepted quantity in lots.
pub const MAX_LOTS: i64 = 1_000_000_000;
/// Largest accepted cash value of one tick on one lot.
pub const MAX_LOT_TICK_VALUE: i128 = 1_000_000_000;
/// Largest accepted single cash amount (deposit, withdrawal): 10^30 smallest units.
pub const MAX_CASH: i128 = 1_000_000_000_000_000_000_000_000_000_000;
/// Most cash ever deposited, over the chain's life (10^36 smallest units): deposits that would
/// take the total beyond it are refused, so deposit/withdraw cycles can never overflow a total.
pub const MAX_TOTAL_DEPOSITS: i128 = 1_000_000 * MAX_CASH;

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
    let leg =
        |s: &LedgerState, id: MarketId, p: &Position| (market_margin(s, id, p), worst_signed(p));
    total - calendar_credit(state, &account.positions, leg)
}

/// Maintenance margin of an account's positions (open orders do not count).
#[must_use]
pub fn maintenance_margin(state: &LedgerState, account: &Account) -> i128 {
    maintenance_of(state, &account.positions)
}

/// The maintenance margin the account would have holding `lots` (signed) in `market` instead
/// of its position there: deleveraging closes the fewest lots that bring it back to
/// maintenance (issue #18).
#[must_use]
pub fn maintenance_margin_with(
    state: &LedgerState,
    account: &Account,
    market: MarketId,
    lots: i64,
) -> i128 {
    let mut positions = account.positions.clone();
    positions.entry_or_default(market).qty = Qty::new(lots);
    maintenance_of(state, &positions)
}

fn maintenance_of(state: &LedgerState, positions: &Positions) -> i128 {
    let total: i128 = positions.iter().map(|(id, p)| position_maintenance(state, *id, p)).sum();
    let leg = |s: &LedgerState, id: MarketId, p: &Position| {
        (position_maintenance(s, id, p), i128::from(p.qty.get()))
    };
    total - calendar_credit(state, positions, leg)
}

fn position_maintenance(state: &LedgerState, market: MarketId, p: &Position) -> i128 {
    let Some(m) = state.markets.get(&market) else {
        return 0;
    };
    let value = i128::from(p.qty.get()).abs() * i128::from(m.mark.get()) * m.lot_tick_value.get();
    bps_ceil(value, i128::from(m.spec.params.maintenance_margin_bps))
}

/// The signed worst case of a position with its open orders (the one [`worst_position`] sizes):
/// long if the buys filling make the larger position, short if the sells do, and 0 when both
/// are as large in opposite directions (no side to count a spread leg on).
fn worst_signed(p: &Position) -> i128 {
    let q = i128::from(p.qty.get());
    let (long, short) = (q + i128::from(p.open_buy.get()), q - i128::from(p.open_sell.get()));
    match long.abs().cmp(&short.abs()) {
        std::cmp::Ordering::Greater => long,
        std::cmp::Ordering::Less => short,
        std::cmp::Ordering::Equal if long == short => long,
        std::cmp::Ordering::Equal => 0,
    }
}

/// The calendar-spread credit: per index, a share of the smaller of the long legs' and the
/// short legs' margin, where `leg` gives a market's margin and the signed exposure it is for
/// (the position for MM; the worst case with open orders for IM — a leg's side is the side its
/// margin assumes, issue #18). Only accounts with positions in two or more markets can earn
/// it, so the common case costs nothing.
fn calendar_credit(
    state: &LedgerState,
    positions: &Positions,
    leg: impl Fn(&LedgerState, MarketId, &Position) -> (i128, i128),
) -> i128 {
    if positions.len() < 2 {
        return 0;
    }
    // (index, long legs' margin, short legs' margin), in index order.
    let mut legs: Vec<(IndexId, i128, i128)> = Vec::new();
    for (id, p) in positions {
        let Some(m) = state.markets.get(id) else { continue };
        let (amount, exposure) = leg(state, *id, p);
        if exposure == 0 {
            continue;
        }
        let slot = match legs.binary_search_by_key(&m.spec.index, |l| l.0) {
            Ok(i) => i,
            Err(i) => {
                legs.insert(i, (m.spec.index, 0, 0));
                i
            }
        };
        if exposure > 0 { legs[slot].1 += amount } else { legs[slot].2 += amount }
    }
    let bps = i128::from(state.risk.calendar_spread_credit_bps.min(10_000));
    legs.iter().map(|(_, long, short)| (*long).min(*short) * bps / 10_000).sum()
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
            state.markets.get(id).map(|m| p.pnl_at(m.mark, m.lot_tick_value.get()))
        })
        .sum();
    account.cash.get() + unrealised
}

/// What a fill of `qty` lots at `price` would book against the mark at once: a buy above the
/// mark or a sell below it loses the difference (a fill on the right side of the mark, 0). The
/// pre-trade check holds this against equity too, so a price inside the band but away from the
/// mark cannot bankrupt the account in one fill (issue #18).
#[must_use]
pub fn entry_loss(market: &Market, side: Side, price: Price, qty: Qty) -> i128 {
    let beyond = match side {
        Side::Buy => price.get() - market.mark.get(),
        Side::Sell => market.mark.get() - price.get(),
    };
    i128::from(beyond.max(0)) * i128::from(qty.get()) * market.lot_tick_value.get()
}

/// An order as the pre-trade check sees it.
#[derive(Clone, Copy, Debug)]
pub struct OrderRisk {
    /// Its market.
    pub market: MarketId,
    /// Its side.
    pub side: Side,
    /// Its limit price.
    pub price: Price,
    /// Lots that may fill at `price`.
    pub qty: Qty,
    /// Lots it adds to the open orders (less than `qty` for a replace of a resting order).
    pub added: Qty,
    /// Reduce-only: it can only take risk off.
    pub reduce_only: bool,
}

/// Whether an order may be placed on margin: equity covers the initial margin with the order
/// and the loss a fill at its price would book ([`entry_loss`]); a reduce-only order need only
/// leave equity non-negative after that loss (one that books none is always allowed: it only
/// takes risk off). The shortfall, if not.
#[must_use]
pub fn order_shortfall(state: &LedgerState, account: &Account, order: &OrderRisk) -> Option<i128> {
    let market = state.markets.get(&order.market);
    let loss = market.map_or(0, |m| entry_loss(m, order.side, order.price, order.qty));
    if order.reduce_only && loss == 0 {
        return None;
    }
    let free = if order.reduce_only {
        equity(state, account)
    } else {
        free_margin(state, account, Some((order.market, order.side, order.added)))
    };
    (free < loss).then_some(loss - free)
}

/// Equity minus initial margin (negative = short of margin), with an optional extra order.
#[must_use]
pub fn free_margin(state: &LedgerState, account: &Account, extra: Extra) -> i128 {
    equity(state, account) - initial_margin(state, account, extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MarketStatus;
    use tokenbook_protocol::{Cash, Timestamp};

    /// The devnet genesis plus a March AIT contract on the same index as the December one.
    fn two_expiries() -> (LedgerState, MarketId, MarketId) {
        let key = |seed: u8| tokenbook_protocol::Keypair::from_seed(&[seed; 32]).public_key();
        let member = crate::state::GenesisMember {
            name: "Member".into(),
            key: key(1),
            validator: Some(tokenbook_protocol::Validator {
                consensus_key: key(2),
                network_key: key(3),
                power: 1,
            }),
        };
        let genesis =
            crate::genesis::devnet("margin-test", Timestamp::new(1_000), vec![member], Vec::new());
        let mut state = crate::apply::genesis_state(&genesis).unwrap();
        let march = tokenbook_protocol::MarketSpec {
            symbol: "AIT-FRONTIER-MAR27".into(),
            expiry: Timestamp::new(1_806_451_200_000),
            ..crate::genesis::inference_contract()
        };
        let mar = state.list_market(march).unwrap();
        state.markets.get_mut(&mar).unwrap().status = MarketStatus::Active;
        (state, MarketId::new(1), mar)
    }

    fn account_with(positions: &[(MarketId, i64)]) -> Account {
        let limits =
            crate::genesis::devnet("x", Timestamp::new(0), Vec::new(), Vec::new()).member_limits;
        let mut account = Account::new(
            tokenbook_protocol::AccountId::new(99),
            crate::state::AccountKind::Trader,
            tokenbook_protocol::PublicKey([9; 32]),
            tokenbook_protocol::AccountId::new(1),
            limits,
            0,
        );
        for (market, qty) in positions {
            account.positions.entry_or_default(*market).qty = Qty::new(*qty);
        }
        account
    }

    #[test]
    fn opposite_expiries_of_one_index_earn_the_calendar_credit() {
        let (state, dec, mar) = two_expiries();
        // 10 lots at mark 1,000 ticks, $1 (10^6) per tick-lot: notional 10^10; IM 10% = 10^9,
        // MM 5% = 5 × 10^8 per leg. Credit 50% of the smaller leg.
        let spread = account_with(&[(dec, 10), (mar, -10)]);
        assert_eq!(initial_margin(&state, &spread, None), 2_000_000_000 - 500_000_000);
        assert_eq!(maintenance_margin(&state, &spread), 1_000_000_000 - 250_000_000);
        // Same direction: no credit. Different indexes: no credit.
        let outright = account_with(&[(dec, 10), (mar, 10)]);
        assert_eq!(initial_margin(&state, &outright, None), 2_000_000_000);
        let unrelated = account_with(&[(dec, 10), (MarketId::new(2), -1)]);
        // H100: 1 lot at 250 ticks × $10 per tick-lot = 2.5 × 10^9; IM 2.5 × 10^8.
        assert_eq!(initial_margin(&state, &unrelated, None), 1_000_000_000 + 250_000_000);
        assert_eq!(Cash::new(maintenance_margin(&state, &unrelated)), Cash::new(625_000_000));
    }

    /// Issue #18, finding 7: the credit classified a leg by its position but sized it by the
    /// worst case with open orders. Short 10 March with an open buy of 100 is, in the worst
    /// case, long 90 — the same direction as long 10 December: no spread, no credit.
    #[test]
    fn open_orders_that_flip_a_leg_earn_no_calendar_credit() {
        let (state, dec, mar) = two_expiries();
        let mut account = account_with(&[(dec, 10), (mar, -10)]);
        account.positions.entry_or_default(mar).open_buy = Qty::new(100);
        // IM: December 10 lots (10^9) + March worst case 90 lots (9 × 10^9), no credit.
        assert_eq!(initial_margin(&state, &account, None), 10_000_000_000);
        // An open sell on the short leg keeps it short: the credit stays (50% of 10^9).
        let mut account = account_with(&[(dec, 10), (mar, -10)]);
        account.positions.entry_or_default(mar).open_sell = Qty::new(5);
        assert_eq!(
            initial_margin(&state, &account, None),
            1_000_000_000 + 1_500_000_000 - 500_000_000
        );
    }

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
