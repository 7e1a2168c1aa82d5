//! Index oracle arithmetic (docs/adr/0005-oracle-margin-liquidation.md): the member quorum, the
//! lower median of fresh submissions, the time-weighted price accumulator behind final
//! settlement, and the index → mark price rule.
//!
//! What it promises: integer arithmetic with the rounding each function states; bounded storage
//! ([`Twap`] keeps at most [`MAX_CHECKPOINTS`] checkpoints). At the end of every block
//! ([`LedgerState::end_block`]) each index takes the lower median of its members' fresh
//! submissions when a quorum is fresh, or turns stale and keeps its last good price; then every
//! trading market's mark follows its index. (The stale-index gate on new risk, maintenance margin,
//! liquidation and settlement are issue #4's next steps, designed in ADR 0005.)

use crate::receipt::{Event, Events};
use crate::state::{LedgerState, MarketStatus};
use bincode::{Decode, Encode};
use std::collections::BTreeSet;
use tokenbook_protocol::{AccountId, Cash, Price, Qty, Side, Timestamp};

/// Checkpoints are taken at most once per this much block time.
pub const CHECKPOINT_MS: u64 = 60_000;
/// History kept for TWAPs (the longest settlement window a listing may ask for).
pub const HISTORY_MS: u64 = 24 * 60 * 60 * 1_000;
/// Most checkpoints held: one per minute over [`HISTORY_MS`], plus the one before the window.
pub const MAX_CHECKPOINTS: usize = (HISTORY_MS / CHECKPOINT_MS) as usize + 1;

/// Fresh prices needed out of `members`: more than two thirds (governance's quorum; 2f+1 when
/// `members = 3f+1`).
#[must_use]
pub fn quorum(members: usize) -> usize {
    members * 2 / 3 + 1
}

/// The lower median (element `(k−1)/2` of the sorted prices): always an observed value. `None` for
/// no prices.
#[must_use]
pub fn lower_median(mut prices: Vec<Cash>) -> Option<Cash> {
    prices.sort_unstable();
    let middle = prices.len().checked_sub(1)? / 2;
    prices.get(middle).copied()
}

/// An index price in ticks of a market: `price / tick_size`, rounded half up; at least one tick
/// and at most [`crate::margin::MAX_TICKS`] (the bound margin arithmetic relies on). `None` for a
/// non-positive tick size.
#[must_use]
pub fn index_ticks(price: Cash, tick_size: Cash) -> Option<Price> {
    let tick = tick_size.get();
    if tick <= 0 {
        return None;
    }
    let ticks = price.get().saturating_add(tick / 2).div_euclid(tick);
    let capped = ticks.clamp(1, i128::from(crate::margin::MAX_TICKS));
    i64::try_from(capped).ok().map(Price::new)
}

/// Most resting orders one side's impact price looks at (a bound on the per-block work).
pub const IMPACT_SCAN: usize = 4_096;

/// The average price of the best `impact_lots` lots on one side of `book`, counting only orders
/// priced within `band_bps` of `index` (ticks): what a trade of that size would pay there.
/// `None` when the side holds less than that within the band (or within [`IMPACT_SCAN`]
/// orders): then the book does not move the mark. So neither a thin book nor the single order
/// left after a side is swept can pull the mark (issue #18).
#[must_use]
pub fn impact_price(
    book: &crate::book::Book,
    side: Side,
    index: Price,
    band_bps: u32,
    impact_lots: Qty,
) -> Option<Price> {
    let index = i128::from(index.get());
    let width = index * i128::from(band_bps) / 10_000;
    let (low, high) = (index - width, index + width);
    let target = i128::from(impact_lots.get());
    if target <= 0 {
        return None;
    }
    let (mut lots, mut value) = (0i128, 0i128);
    for order in book.orders(side).take(IMPACT_SCAN) {
        let price = i128::from(order.price.get());
        // Best first: past the far edge of the band nothing further can count.
        let (near_edge, far_edge) = match side {
            Side::Buy => (price > high, price < low),
            Side::Sell => (price < low, price > high),
        };
        if far_edge {
            return None;
        }
        if near_edge {
            continue;
        }
        let take = i128::from(order.qty.get()).min(target - lots);
        lots += take;
        value += take * price;
        if lots == target {
            return i64::try_from(value / target).ok().map(Price::new);
        }
    }
    None
}

/// The mark: the index (in ticks) clamped to `band_bps` around the mid of the book's impact
/// prices ([`impact_price`]) when both sides have one; the index alone otherwise. At least one
/// tick.
#[must_use]
pub fn mark_price(
    index: Price,
    best_bid: Option<Price>,
    best_ask: Option<Price>,
    band_bps: u32,
) -> Price {
    let (Some(bid), Some(ask)) = (best_bid, best_ask) else {
        return Price::new(index.get().max(1));
    };
    let mid = (i128::from(bid.get()) + i128::from(ask.get())).div_euclid(2);
    let width = (mid * i128::from(band_bps)).div_euclid(10_000);
    let clamped = i128::from(index.get()).clamp(mid - width, mid + width).max(1);
    // Between two i64 prices, so it fits.
    Price::new(i64::try_from(clamped).unwrap_or(i64::MAX))
}

/// A price's time integral, for time-weighted averages over windows of up to [`HISTORY_MS`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Twap {
    /// Current price and since when it holds (`None` before the first price).
    current: Option<(Cash, Timestamp)>,
    /// ∫ price dt from the first price up to `current`'s start.
    cumulative: i128,
    /// `(time, ∫ price dt up to time)`, at most one per [`CHECKPOINT_MS`], oldest first.
    checkpoints: Vec<(Timestamp, i128)>,
}

impl Twap {
    /// ∫ price dt from the first price up to `time` (≥ the current price's start).
    fn integral_at(&self, time: Timestamp) -> Option<i128> {
        let (price, since) = self.current?;
        let elapsed = i128::from(time.get().checked_sub(since.get())?);
        self.cumulative.checked_add(price.get().checked_mul(elapsed)?)
    }

    /// Records the price in force from block time `time` on (times never decrease), takes a
    /// checkpoint if none was taken in the last [`CHECKPOINT_MS`], and forgets history older
    /// than [`HISTORY_MS`] (keeping one checkpoint at or before the cutoff). Returns false, having
    /// changed nothing, when the price is unchanged and no checkpoint is due.
    pub fn record(&mut self, time: Timestamp, price: Cash) -> bool {
        let due =
            self.checkpoints.last().is_none_or(|(t, _)| time.get() >= t.get() + CHECKPOINT_MS);
        if !due && self.price() == Some(price) {
            return false;
        }
        if let Some(integral) = self.integral_at(time) {
            self.cumulative = integral;
        }
        // The integral now reaches `time`, so the price in force is counted from `time` on.
        self.current = Some((price, time));
        if due {
            self.checkpoints.push((time, self.cumulative));
        }
        let cutoff = time.get().saturating_sub(HISTORY_MS);
        let keep_from =
            self.checkpoints.partition_point(|(t, _)| t.get() <= cutoff).saturating_sub(1);
        self.checkpoints.drain(..keep_from);
        // Spaced at least a minute apart and pruned to the last day: the bound holds by itself.
        debug_assert!(self.checkpoints.len() <= MAX_CHECKPOINTS);
        true
    }

    /// Time-weighted average price over `[from, to]`, measured from the first checkpoint at or
    /// after `from` (so exact to within [`CHECKPOINT_MS`] of the window's start), rounded down.
    /// `None` without a checkpoint inside the window or if `to` precedes the current price.
    #[must_use]
    pub fn average(&self, from: Timestamp, to: Timestamp) -> Option<Cash> {
        let start = self.checkpoints.iter().find(|(t, _)| *t >= from && *t < to)?;
        let integral = self.integral_at(to)?.checked_sub(start.1)?;
        let span = i128::from(to.get() - start.0.get());
        Some(Cash::new(integral.div_euclid(span)))
    }

    /// The current price, if any.
    #[must_use]
    pub fn price(&self) -> Option<Cash> {
        self.current.map(|(p, _)| p)
    }
}

impl LedgerState {
    /// Housekeeping after the block's txs: index prices, marks, variation margin, the triggers
    /// the new marks reach, then liquidation.
    pub(crate) fn end_block(&mut self) -> Events {
        let mut events = Events::new();
        self.aggregate_indexes(&mut events);
        let moved = self.update_marks(&mut events);
        for market in &moved {
            self.cancel_outside_band(*market, &mut events);
        }
        self.variation_margin(&mut events);
        self.release_triggers(&mut events);
        self.liquidate(&moved, &mut events);
        self.refile_touched();
        events
    }

    /// At the first block of a new epoch of `settlement_epoch_ms`: for every position in an
    /// active or halted market, `cash += qty × mark × lot tick value − cost` and the cost becomes
    /// the position's value at the mark. Per market Σ qty = 0 and Σ cost = 0, so the transfers sum
    /// to zero exactly.
    fn variation_margin(&mut self, events: &mut Events) {
        let epoch = vm_epoch(self.time, &self.risk);
        if epoch == self.vm_epoch {
            return;
        }
        self.vm_epoch = epoch;
        let marks: Vec<(tokenbook_protocol::MarketId, Price, i128, u32)> = self
            .markets
            .values()
            .filter(|m| matches!(m.status, MarketStatus::Active | MarketStatus::Halted))
            .map(|m| (m.id, m.mark, m.lot_tick_value.get(), m.spec.params.initial_margin_bps))
            .collect();
        let mut moved = 0i128;
        // The guaranty requirements need every trader's IM: taken in this same pass for the
        // one-position accounts (the common case; their data is in cache now), after it for
        // the others.
        let mut traders_margin = crate::guaranty::TradersMargin::new();
        let mut later = Vec::new();
        for account in self.accounts.values_mut() {
            let mut changed = false;
            for (id, mark, lot_tick_value, _) in &marks {
                let Some(p) = account.positions.get_mut(id) else { continue };
                let pnl = p.pnl_at(*mark, *lot_tick_value);
                if pnl == 0 {
                    continue;
                }
                p.cost = Cash::new(p.cost.get() + pnl);
                account.cash = Cash::new(account.cash.get() + pnl);
                moved += pnl;
                changed = true;
                if p.is_flat() {
                    account.positions.remove(id);
                }
            }
            if changed {
                self.touched.account(account.id);
            }
            if account.id != account.member && !account.positions.is_empty() {
                match one_position_margin(account, &marks) {
                    Some(margin) => traders_margin.add(account.member, margin),
                    None => later.push(account.id),
                }
            }
        }
        debug_assert_eq!(moved, 0, "variation margin must be zero-sum");
        self.total_cash = Cash::new(self.total_cash.get() + moved);
        for (market, price, _, _) in marks {
            events.push(Event::VariationMargin { market, price });
        }
        for id in later {
            let account = &self.accounts[&id];
            traders_margin.add(account.member, crate::margin::initial_margin(self, account, None));
        }
        debug_assert_eq!(traders_margin, self.traders_margin(), "the pass missed a margin");
        self.set_guaranty_requirements(&traders_margin, events);
    }

    /// Each index: the lower median of current members' fresh submissions if a quorum is fresh
    /// (fresh = observed at most `oracle_freshness_ms` before block time); stale otherwise.
    fn aggregate_indexes(&mut self, events: &mut Events) {
        let members: BTreeSet<AccountId> = self.members().map(|a| a.id).collect();
        let need = quorum(members.len());
        let (now, window) = (self.time, self.risk.oracle_freshness_ms);
        for (id, index) in &mut self.indexes {
            let fresh: Vec<Cash> = index
                .submissions
                .iter()
                .filter(|(member, o)| {
                    members.contains(member)
                        && o.observed_at <= now
                        && now.get() - o.observed_at.get() <= window
                })
                .map(|(_, o)| o.price)
                .collect();
            let median = if fresh.len() >= need { lower_median(fresh) } else { None };
            let was_fresh = index.fresh;
            let mut changed = false;
            if let Some(price) = median {
                changed |= index.price != Some(price) || !was_fresh;
                index.price = Some(price);
                index.fresh = true;
                changed |= index.twap.record(now, price);
                if !was_fresh {
                    events.push(Event::IndexFresh { index: *id, price });
                }
            } else {
                if was_fresh {
                    index.fresh = false;
                    changed = true;
                    events.push(Event::IndexStale { index: *id });
                }
                // The last good price stays in force: its checkpoints go on, so a TWAP window
                // starts within a minute of where it is asked to.
                if let Some(price) = index.price {
                    changed |= index.twap.record(now, price);
                }
            }
            if changed {
                self.touched.indexes.push(*id);
            }
        }
    }

    /// Every active or halted market whose index has a price: mark = index in ticks clamped
    /// around the book's mid. Returns the markets whose mark changed.
    fn update_marks(&mut self, events: &mut Events) -> Vec<tokenbook_protocol::MarketId> {
        let band = self.risk.mark_band_bps;
        let mut changed = Vec::new();
        for (id, market) in &mut self.markets {
            if !matches!(market.status, MarketStatus::Active | MarketStatus::Halted) {
                continue;
            }
            let index = self.indexes.get(&market.spec.index).and_then(|i| i.price);
            let Some(ticks) = index.and_then(|p| index_ticks(p, market.spec.tick_size)) else {
                continue;
            };
            // At most MAX_TICKS: the index is, and the clamp's lower end is the mid of two
            // accepted prices.
            let params = &market.spec.params;
            let impact = |side| {
                impact_price(&market.book, side, ticks, params.price_band_bps, params.impact_lots)
            };
            let (bid, ask) = (impact(Side::Buy), impact(Side::Sell));
            let mark = mark_price(ticks, bid, ask, band);
            if mark != market.mark {
                market.mark = mark;
                self.touched.markets.push(*id);
                changed.push(*id);
                events.push(Event::MarkChanged { market: *id, price: mark });
            }
        }
        changed
    }
}

impl LedgerState {
    /// Begin block: every market whose expiry time has come stops trading and settles at the
    /// TWAP of its index over the settlement window before expiry (the mark if the index has no
    /// history in the window).
    pub(crate) fn expire_markets(&mut self, events: &mut Events) {
        let due: Vec<(tokenbook_protocol::MarketId, Price)> = self
            .markets
            .values()
            .filter(|m| {
                matches!(
                    m.status,
                    MarketStatus::PreOpen | MarketStatus::Active | MarketStatus::Halted
                ) && m.spec.expiry <= self.time
            })
            .map(|m| {
                let from =
                    Timestamp::new(m.spec.expiry.get().saturating_sub(m.spec.settlement_window_ms));
                let twap = self
                    .indexes
                    .get(&m.spec.index)
                    .and_then(|i| i.twap.average(from, m.spec.expiry))
                    .and_then(|p| index_ticks(p, m.spec.tick_size));
                (m.id, twap.unwrap_or(m.mark))
            })
            .collect();
        for (market, price) in due {
            self.settle_market(market, price, events);
        }
    }

    /// Cancels every order of the market and closes every position into cash at `price`
    /// (`cash += qty × price × lot tick value − cost`: zero-sum, as Σ qty = Σ cost = 0).
    pub(crate) fn settle_market(
        &mut self,
        market: tokenbook_protocol::MarketId,
        price: Price,
        events: &mut Events,
    ) {
        let orders: Vec<_> = self
            .orders
            .sorted()
            .into_iter()
            .filter(|(_, o)| o.market == market)
            .map(|(id, _)| id)
            .collect();
        for id in orders {
            self.remove_order(id, crate::receipt::CancelReason::MarketClosed, events);
        }
        let Some(m) = self.markets.get_mut(&market) else { return };
        let lot_tick_value = m.lot_tick_value.get();
        m.status = MarketStatus::Settled;
        m.mark = price;
        m.long_interest = tokenbook_protocol::Qty::ZERO;
        m.short_interest = tokenbook_protocol::Qty::ZERO;
        self.touched.markets.push(market);
        let mut moved = 0i128;
        for account in self.accounts.values_mut() {
            let Some(p) = account.positions.remove(&market) else { continue };
            let pnl = p.pnl_at(price, lot_tick_value);
            account.cash = Cash::new(account.cash.get() + pnl);
            moved += pnl;
            self.touched.account(account.id);
        }
        debug_assert_eq!(moved, 0, "final settlement must be zero-sum");
        self.total_cash = Cash::new(self.total_cash.get() + moved);
        events.push(Event::MarketSettled { market, price });
        events.push(Event::MarketStatusChanged { market, status: MarketStatus::Settled });
    }
}

/// The initial margin of an account holding one position (and open orders only there) in a
/// market of `marks` — its flat margin on the worst case, as the scan gives for one leg; `None`
/// for any other account.
fn one_position_margin(
    account: &crate::state::Account,
    marks: &[(tokenbook_protocol::MarketId, Price, i128, u32)],
) -> Option<i128> {
    let mut positions = account.positions.iter();
    let (Some((market, p)), None) = (positions.next(), positions.next()) else { return None };
    let (_, mark, lot_tick_value, bps) = marks.iter().find(|(id, ..)| id == market)?;
    Some(crate::margin::flat_margin(crate::margin::worst_position(p), *mark, *lot_tick_value, *bps))
}
/// The variation-margin epoch of a block time.
#[must_use]
pub fn vm_epoch(time: Timestamp, risk: &tokenbook_protocol::RiskParams) -> u64 {
    time.get() / risk.settlement_epoch_ms.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::new(ms)
    }

    #[test]
    fn quorum_is_more_than_two_thirds() {
        assert_eq!([1, 2, 3, 4, 5, 7, 10].map(quorum), [1, 2, 3, 3, 4, 5, 7]);
    }

    #[test]
    fn lower_median_is_an_observed_price() {
        let c = |v: &[i128]| v.iter().copied().map(Cash::new).collect::<Vec<_>>();
        assert_eq!(lower_median(c(&[])), None);
        assert_eq!(lower_median(c(&[7])), Some(Cash::new(7)));
        assert_eq!(lower_median(c(&[9, 1, 5])), Some(Cash::new(5)));
        assert_eq!(lower_median(c(&[9, 1, 5, 6])), Some(Cash::new(5)));
    }

    #[test]
    fn index_ticks_round_half_up() {
        let tick = Cash::new(10_000);
        assert_eq!(index_ticks(Cash::new(10_000_000), tick), Some(Price::new(1_000)));
        assert_eq!(index_ticks(Cash::new(10_004_999), tick), Some(Price::new(1_000)));
        assert_eq!(index_ticks(Cash::new(10_005_000), tick), Some(Price::new(1_001)));
        assert_eq!(index_ticks(Cash::new(1), tick), Some(Price::new(1)));
        assert_eq!(index_ticks(Cash::new(5), Cash::ZERO), None);
        let max = Some(Price::new(crate::margin::MAX_TICKS));
        assert_eq!(index_ticks(Cash::new(i128::MAX), tick), max);
    }

    #[test]
    fn mark_is_index_clamped_around_mid() {
        let p = Price::new;
        // 1% band around mid 1,000: [990, 1,010].
        assert_eq!(mark_price(p(1_200), Some(p(999)), Some(p(1_001)), 100), p(1_010));
        assert_eq!(mark_price(p(900), Some(p(999)), Some(p(1_001)), 100), p(990));
        assert_eq!(mark_price(p(1_005), Some(p(999)), Some(p(1_001)), 100), p(1_005));
        assert_eq!(mark_price(p(1_200), Some(p(999)), None, 100), p(1_200));
    }

    #[test]
    fn twap_weights_by_time() {
        let mut twap = Twap::default();
        twap.record(t(0), Cash::new(100));
        twap.record(t(60_000), Cash::new(200));
        // 60 s at 100, then 60 s at 200.
        assert_eq!(twap.average(t(0), t(120_000)), Some(Cash::new(150)));
        // 30 s at 100 would be counted if the window began at 30 s, but it is measured from the
        // first checkpoint at or after the window's start (60 s): all at 200.
        assert_eq!(twap.average(t(30_000), t(120_000)), Some(Cash::new(200)));
        assert_eq!(twap.average(t(130_000), t(140_000)), None);
    }

    proptest::proptest! {
        /// Against a brute-force step integral: for any price path (one update per block, blocks
        /// 1–90 s apart), the average over [a checkpoint, the last update] is the exact
        /// time-weighted mean, rounded down.
        #[test]
        fn twap_matches_step_integral(
            steps in proptest::collection::vec((1u64..90_000, 1i128..1_000_000), 2..200),
            start in 0usize..100,
        ) {
            let mut twap = Twap::default();
            let mut path = Vec::new();
            let mut time = 0u64;
            for (gap, price) in &steps {
                time += gap;
                twap.record(t(time), Cash::new(*price));
                path.push((time, *price));
            }
            let from = twap.checkpoints[start % twap.checkpoints.len()].0;
            let to = t(time);
            let integral: i128 = path
                .windows(2)
                .map(|w| {
                    let (a, b) = (w[0].0.max(from.get()), w[1].0.max(from.get()));
                    w[0].1 * i128::from(b - a)
                })
                .sum();
            let expected = (from < to)
                .then(|| Cash::new(integral.div_euclid(i128::from(to.get() - from.get()))));
            proptest::prop_assert_eq!(twap.average(from, to), expected);
        }
    }

    #[test]
    fn twap_history_is_bounded() {
        let mut twap = Twap::default();
        for minute in 0..3_000u64 {
            twap.record(t(minute * 60_000), Cash::new(i128::from(minute % 7) + 1));
        }
        assert!(twap.checkpoints.len() <= MAX_CHECKPOINTS);
        let end = t(2_999 * 60_000);
        assert!(twap.average(t(end.get() - HISTORY_MS), end).is_some());
    }
}
