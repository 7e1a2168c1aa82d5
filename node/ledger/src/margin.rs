//! Portfolio margin per account, SPAN-like, in integers (issue #18; docs/adr/0005).
//!
//! - Notional of `q` lots at `p` ticks = `p × q × lot_tick_value` (cash units).
//! - Equity = cash + Σ markets (position × mark × lot tick value − position cost).
//! - A market's **scan range** per lot is `mark × lot tick value × rate / 10,000`, with the
//!   market's initial-margin rate for IM and its maintenance rate for MM.
//! - **Scan** (per index): the account's exposures in every market of the index move together
//!   by −1, −⅔, −⅓, 0, +⅓, +⅔, +1 of their scan range, and by ±2 ranges of which
//!   [`EXTREME_COVER_PCT`]% counts (the extreme moves); the scan loss is the worst of those
//!   scenarios' summed losses, rounded up. For MM the exposure is the position; for IM each
//!   market counts the worse of its open buys all filling and its open sells all filling
//!   (`position + open buys` or `position − open sells`), per scenario.
//! - **Inter-month spread charge** (per index): with `L` the scan-range value of the legs held
//!   long and `S` of those held short, ⌈min(L, S) × calendar_spread_charge_bps / 10,000⌉ is
//!   added back — the scan nets opposite expiries as if they moved together, the charge prices
//!   that they may not. A leg's side is the bound the worst scenario uses (for IM with open
//!   orders: the buys filling for a fall, the sells for a rise).
//! - **Cross-index credit**, only if governance sets `cross_index_credit_bps`: two indexes
//!   whose worst scenarios are opposite moves (long one, short the other) forgive
//!   ⌊min(loss₁, loss₂) × bps / 10,000⌋ of their scan losses; indexes pair in id order, each
//!   loss credited at most once.
//! - Margin = Σ indexes (scan loss + spread charge) − cross-index credit. One position alone
//!   costs exactly `⌈|q| × mark × lot tick value × rate / 10,000⌉`, as a flat margin would.
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

/// The flat margin of `lots` (either sign) at `mark`: `⌈|lots| × mark × lot tick value × bps /
/// 10,000⌉` — what the scan gives for one leg alone.
pub(crate) fn flat_margin(lots: i128, mark: Price, lot_tick_value: i128, bps: u32) -> i128 {
    bps_ceil(lots.abs() * i128::from(mark.get()) * lot_tick_value, i128::from(bps))
}

/// Worst-case absolute position if every open order of one side fills.
pub(crate) fn worst_position(p: &Position) -> i128 {
    let q = i128::from(p.qty.get());
    (q + i128::from(p.open_buy.get())).abs().max((q - i128::from(p.open_sell.get())).abs())
}

/// A hypothetical extra open order: (market, side, lots).
pub type Extra = Option<(MarketId, Side, Qty)>;

/// Share (%) of the loss of the two extreme moves (±2 scan ranges) the scan counts.
pub const EXTREME_COVER_PCT: i128 = 35;

/// Scenarios in thirds of the scan range, with the percentage of their loss that counts.
const SCENARIOS: [(i128, i128); 9] = [
    (-3, 100),
    (-2, 100),
    (-1, 100),
    (0, 100),
    (1, 100),
    (2, 100),
    (3, 100),
    (-6, EXTREME_COVER_PCT),
    (6, EXTREME_COVER_PCT),
];

/// Scenario losses are summed in units of 1 / `SCALE` cash: thirds of a range, bps and
/// percentages stay exact until the one rounding at the end.
const SCALE: i128 = 3 * 10_000 * 100;

/// One market's part in an index's scan.
#[derive(Clone, Copy, Debug)]
struct Leg {
    index: IndexId,
    /// The signed exposures the scan must consider (position ± open orders; equal for MM).
    low: i128,
    high: i128,
    /// Scan range per lot × 10,000: `mark × lot tick value × rate`.
    range: i128,
    /// The signed exposure the spread charge classifies the leg by when no scenario loses
    /// (otherwise the bound the worst scenario uses).
    side: i128,
}

/// An account's legs, inline for up to 8 markets (the pre-trade check allocates nothing).
type Legs = smallvec::SmallVec<[Leg; 8]>;

/// Initial margin of an account, optionally with one more open order.
#[must_use]
pub fn initial_margin(state: &LedgerState, account: &Account, mut extra: Extra) -> i128 {
    if let Some(margin) = one_market_initial(state, account, extra) {
        return margin;
    }
    let mut legs = Legs::new();
    for (market_id, position) in &account.positions {
        let mut p = *position;
        if let Some((_, side, qty)) = extra.filter(|(m, _, _)| m == market_id) {
            add_open(&mut p, side, qty.get());
            extra = None;
        }
        legs.extend(initial_leg(state, *market_id, &p));
    }
    if let Some((market_id, side, qty)) = extra {
        let mut p = Position::default();
        add_open(&mut p, side, qty.get());
        legs.extend(initial_leg(state, market_id, &p));
    }
    portfolio_margin(state, legs)
}

/// The common case without building legs: everything (positions, open orders, the extra
/// order) in one market, whose scan is its flat margin on the worst case. `None` otherwise.
fn one_market_initial(state: &LedgerState, account: &Account, extra: Extra) -> Option<i128> {
    let mut positions = account.positions.iter();
    let (market_id, position) = match (positions.next(), positions.next()) {
        (Some(only), None) => (*only.0, *only.1),
        (None, None) => (extra?.0, Position::default()),
        _ => return None,
    };
    let mut p = position;
    match extra {
        Some((m, side, qty)) if m == market_id => add_open(&mut p, side, qty.get()),
        Some(_) => return None,
        None => {}
    }
    let Some(m) = state.markets.get(&market_id) else { return Some(0) };
    let bps = m.spec.params.initial_margin_bps;
    Some(flat_margin(worst_position(&p), m.mark, m.lot_tick_value.get(), bps))
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
    if positions.len() == 1 {
        // The common case, without the scan's allocations: one leg's scan is its flat margin.
        return positions.iter().map(|(id, p)| position_maintenance(state, *id, p)).sum();
    }
    let legs = positions.iter().filter_map(|(id, p)| {
        let m = state.markets.get(id)?;
        let q = i128::from(p.qty.get());
        let rate = i128::from(m.spec.params.maintenance_margin_bps);
        Some(Leg { index: m.spec.index, low: q, high: q, range: range(m, rate), side: q })
    });
    portfolio_margin(state, legs.collect())
}

fn position_maintenance(state: &LedgerState, market: MarketId, p: &Position) -> i128 {
    let Some(m) = state.markets.get(&market) else {
        return 0;
    };
    let bps = m.spec.params.maintenance_margin_bps;
    flat_margin(i128::from(p.qty.get()), m.mark, m.lot_tick_value.get(), bps)
}

fn initial_leg(state: &LedgerState, market: MarketId, p: &Position) -> Option<Leg> {
    let m = state.markets.get(&market)?;
    let q = i128::from(p.qty.get());
    let (low, high) = (q - i128::from(p.open_sell.get()), q + i128::from(p.open_buy.get()));
    let rate = i128::from(m.spec.params.initial_margin_bps);
    Some(Leg { index: m.spec.index, low, high, range: range(m, rate), side: worst_signed(p) })
}

/// Scan range per lot × 10,000.
fn range(m: &Market, rate_bps: i128) -> i128 {
    i128::from(m.mark.get()) * m.lot_tick_value.get() * rate_bps
}

/// The scan, spread charges and cross-index credit over `legs` (see the module docs).
fn portfolio_margin(state: &LedgerState, mut legs: Legs) -> i128 {
    if legs.len() == 1 {
        let leg = legs[0];
        let worst = leg.low.abs().max(leg.high.abs()) * leg.range;
        return worst / 10_000 + i128::from(worst % 10_000 != 0);
    }
    legs.sort_by_key(|leg| leg.index);
    let charge_bps = i128::from(state.risk.calendar_spread_charge_bps.min(10_000));
    // Per index: (scan loss, worst direction: +1 = loses when prices rise, −1 = fall, 0 = tie).
    let mut scans: smallvec::SmallVec<[(i128, i128); 4]> = smallvec::SmallVec::new();
    let mut total = 0i128;
    for group in legs.chunk_by(|a, b| a.index == b.index) {
        let (loss, direction, thirds) = scan(group);
        total += loss + spread_charge(group, thirds, charge_bps);
        scans.push((loss, direction));
    }
    total - cross_credit(&mut scans, i128::from(state.risk.cross_index_credit_bps.min(10_000)))
}

/// The worst scenario loss of one index's legs (rounded up), the direction of the move that
/// causes it (+1 up, −1 down, 0 when an up and a down move tie or nothing can lose), and the
/// scenario itself (in thirds of a range; 0 when nothing can lose).
fn scan(legs: &[Leg]) -> (i128, i128, i128) {
    let mut worst = (0i128, 0i128, 0i128);
    for (thirds, pct) in SCENARIOS {
        let loss: i128 = legs.iter().map(|leg| leg_loss(leg, thirds * pct)).sum();
        if loss > worst.0 {
            worst = (loss, thirds.signum(), thirds);
        } else if loss == worst.0 && loss > 0 && thirds.signum() != worst.1 {
            worst.1 = 0;
        }
    }
    (worst.0 / SCALE + i128::from(worst.0 % SCALE != 0), worst.1, worst.2)
}

/// A leg's loss (in units of 1 / `SCALE`) for a move of `weighted` (thirds × percent) ranges:
/// the worse of its bounds.
fn leg_loss(leg: &Leg, weighted: i128) -> i128 {
    let per_lot = weighted * leg.range;
    (-leg.low * per_lot).max(-leg.high * per_lot)
}

/// The exposure a leg holds in the scenario of `thirds`: the bound that loses more there (the
/// leg's own side when no scenario loses).
fn exposure_in(leg: &Leg, thirds: i128) -> i128 {
    match thirds.signum() {
        0 => leg.side,
        1 => leg.low,  // a rise hurts the shorter bound
        _ => leg.high, // a fall hurts the longer one
    }
}

/// ⌈min(L, S) × charge / 10,000⌉, with `L` and `S` the scan-range values of the legs long and
/// short in the worst scenario (`thirds`).
fn spread_charge(legs: &[Leg], thirds: i128, charge_bps: i128) -> i128 {
    let (mut long, mut short) = (0i128, 0i128);
    for leg in legs {
        let exposure = exposure_in(leg, thirds);
        let value = exposure.abs() * leg.range;
        if exposure > 0 { long += value } else { short += value }
    }
    // The values carry a factor 10,000 (the range's bps): ⌈⌈x × c / 10⁴⌉ / 10⁴⌉ = ⌈x × c / 10⁸⌉.
    let charge = bps_ceil(long.min(short), charge_bps);
    charge / 10_000 + i128::from(charge % 10_000 != 0)
}

/// Pairs indexes (in id order) whose worst moves are opposite and forgives `bps` of the
/// smaller scan loss of each pair, each loss credited at most once (rounded down).
fn cross_credit(scans: &mut [(i128, i128)], bps: i128) -> i128 {
    if bps == 0 || scans.len() < 2 {
        return 0;
    }
    let mut credit = 0i128;
    for i in 0..scans.len() {
        for j in i + 1..scans.len() {
            if scans[i].1 * scans[j].1 != -1 {
                continue;
            }
            let both = scans[i].0.min(scans[j].0);
            credit += both * bps / 10_000;
            scans[i].0 -= both;
            scans[j].0 -= both;
        }
    }
    credit
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

fn add_open(p: &mut Position, side: Side, lots: i64) {
    match side {
        Side::Buy => p.open_buy = Qty::new(p.open_buy.get() + lots),
        Side::Sell => p.open_sell = Qty::new(p.open_sell.get() + lots),
    }
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
    fn opposite_expiries_of_one_index_net_in_the_scan_and_pay_the_spread_charge() {
        let (state, dec, mar) = two_expiries();
        // 10 lots at mark 1,000 ticks, $1 (10^6) per tick-lot: notional 10^10; IM 10% = 10^9,
        // MM 5% = 5 × 10^8 per leg. The legs cancel in every scenario; the charge is 50% of the
        // smaller leg's range value.
        let spread = account_with(&[(dec, 10), (mar, -10)]);
        assert_eq!(initial_margin(&state, &spread, None), 500_000_000);
        assert_eq!(maintenance_margin(&state, &spread), 250_000_000);
        // Same direction: the losses add, no charge. Different indexes: no netting.
        let outright = account_with(&[(dec, 10), (mar, 10)]);
        assert_eq!(initial_margin(&state, &outright, None), 2_000_000_000);
        let unrelated = account_with(&[(dec, 10), (MarketId::new(2), -1)]);
        // H100: 1 lot at 250 ticks × $10 per tick-lot = 2.5 × 10^9; IM 2.5 × 10^8.
        assert_eq!(initial_margin(&state, &unrelated, None), 1_000_000_000 + 250_000_000);
        assert_eq!(Cash::new(maintenance_margin(&state, &unrelated)), Cash::new(625_000_000));
        // A partial spread: long 10, short 4 nets to 6 lots of range plus the charge on 4.
        let partial = account_with(&[(dec, 10), (mar, -4)]);
        assert_eq!(initial_margin(&state, &partial, None), 600_000_000 + 200_000_000);
    }

    /// Issue #18, finding 7: the credit classified a leg by its position but sized it by the
    /// worst case with open orders. Short 10 March with an open buy of 100 is, in the worst
    /// case, long 90 — the same direction as long 10 December: no spread, no netting.
    #[test]
    fn open_orders_that_flip_a_leg_earn_no_spread_netting() {
        let (state, dec, mar) = two_expiries();
        let mut account = account_with(&[(dec, 10), (mar, -10)]);
        account.positions.entry_or_default(mar).open_buy = Qty::new(100);
        // Down move: December loses 10 ranges, March at its worst (long 90) 90: 10^10.
        assert_eq!(initial_margin(&state, &account, None), 10_000_000_000);
        // An open sell on the short leg keeps it short: the scan nets 10 against 15 and the
        // charge is half the smaller leg (10^9).
        let mut account = account_with(&[(dec, 10), (mar, -10)]);
        account.positions.entry_or_default(mar).open_sell = Qty::new(5);
        assert_eq!(initial_margin(&state, &account, None), 500_000_000 + 500_000_000);
    }

    /// A scan takes each market's worse bound per scenario: open orders on both sides of a
    /// flat position cost the larger side, as the flat margin did.
    #[test]
    fn open_orders_on_both_sides_cost_the_larger_side() {
        let (state, dec, mar) = two_expiries();
        let mut account = account_with(&[(dec, 0), (mar, 0)]);
        account.positions.entry_or_default(dec).open_buy = Qty::new(7);
        account.positions.entry_or_default(dec).open_sell = Qty::new(3);
        account.positions.entry_or_default(mar).open_sell = Qty::new(2);
        // Up: December short 3 and March short 2 lose 5 ranges; down: December long 7 loses 7
        // and March (worse bound 0) nothing. In that scenario no leg is short: no charge.
        assert_eq!(initial_margin(&state, &account, None), 700_000_000);
    }

    /// Cross-index credit only when governance sets one, only for opposite directions.
    #[test]
    fn cross_index_credit_applies_to_opposite_indexes_only_when_set() {
        let (mut state, dec, _) = two_expiries();
        let h100 = MarketId::new(2);
        // Long 10 AIT (IM 10^9) against short 4 H100 (IM 4 × 2.5 × 10^8 = 10^9).
        let hedged = account_with(&[(dec, 10), (h100, -4)]);
        let same_way = account_with(&[(dec, 10), (h100, 4)]);
        assert_eq!(initial_margin(&state, &hedged, None), 2_000_000_000);
        state.risk.cross_index_credit_bps = 3_000;
        assert_eq!(initial_margin(&state, &hedged, None), 2_000_000_000 - 300_000_000);
        assert_eq!(initial_margin(&state, &same_way, None), 2_000_000_000);
    }

    proptest::proptest! {
        /// One position alone costs exactly the flat margin, and the scan never asks less
        /// than the netted exposure of each index nor more than the sum of the legs.
        #[test]
        fn the_scan_is_bounded_by_netting_and_the_sum_of_legs(
            a in -1_000i64..1_000, b in -1_000i64..1_000, buys in 0i64..500, sells in 0i64..500,
        ) {
            let (state, dec, mar) = two_expiries();
            let mut account = account_with(&[(dec, a), (mar, b)]);
            account.positions.entry_or_default(mar).open_buy = Qty::new(buys);
            account.positions.entry_or_default(mar).open_sell = Qty::new(sells);
            let im = initial_margin(&state, &account, None);
            let leg = |lots: i128| lots.abs() * 1_000 * 1_000_000 / 10;
            let (low, high) = (i128::from(b - sells), i128::from(b + buys));
            let sum = leg(a.into()) + leg(low).max(leg(high));
            let net = leg(i128::from(a) + low).max(leg(i128::from(a) + high));
            proptest::prop_assert!(im <= sum, "{im} > {sum}");
            proptest::prop_assert!(im >= net, "{im} < {net}");
            let alone = account_with(&[(dec, a)]);
            proptest::prop_assert_eq!(maintenance_margin(&state, &alone), leg(a.into()) / 2);
            // The one-market shortcuts are the nine-scenario scan of that one leg.
            let mut one = account_with(&[(mar, b)]);
            let p = one.positions.entry_or_default(mar);
            (p.open_buy, p.open_sell) = (Qty::new(buys), Qty::new(sells));
            let extra = Some((mar, Side::Buy, Qty::new(a.abs())));
            let scanned = |extra: Extra| {
                let mut p = one.positions.get(&mar).copied().unwrap_or_default();
                if let Some((_, side, qty)) = extra { add_open(&mut p, side, qty.get()) }
                initial_leg(&state, mar, &p).map_or(0, |leg| scan(&[leg]).0)
            };
            proptest::prop_assert_eq!(initial_margin(&state, &one, None), scanned(None));
            proptest::prop_assert_eq!(initial_margin(&state, &one, extra), scanned(extra));
        }
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
