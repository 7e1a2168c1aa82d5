//! The at-risk index: which accounts a block's liquidation pass must look at (issue #18, build
//! item 5), so its cost follows what changed, not the number of accounts.
//!
//! What it promises:
//! - **No false negatives.** [`LedgerState::liquidation_scope`] returns a superset of the
//!   accounts that need liquidation. It is only a filter in front of the exact test
//!   ([`LedgerState::liquidation_need`]), so the outcome of a block never depends on it — on
//!   whether a node built it at genesis, after a restart or a moment ago — only the cost does.
//!   Debug builds check the promise at every block against a scan of every account.
//! - An account with one open position is filed by the mark beyond which it *may* need
//!   liquidation, derived from equity(p) = base + q·p·ltv and MM(p) = ⌈|q|·p·ltv·mm⌉, which is
//!   less than |q|·p·ltv·mm plus one: a long may need it only when `mark < trigger`, a short
//!   only when `mark > trigger`.
//!   An account with open positions in two or more markets is filed under each of them and
//!   looked at whenever one of their marks moves. An account with no open position needs
//!   liquidation only when its equity is negative and the fund holds cash, which happens only
//!   where it is touched or the fund refills.
//! - A pass looks at: the accounts touched in the block, and for each market whose mark moved,
//!   the filed accounts on the wrong side of their trigger and the multi-market accounts. Every
//!   account is looked at when the index is missing (it is derived, never stored), when the
//!   previous pass left a backlog, when the fund had no cash after the previous pass and has
//!   now, or when a maintenance-margin parameter changed since the index was built.
//! - After each pass the accounts the block touched are filed again, at their new state.

use crate::state::LedgerState;
use std::collections::{BTreeMap, BTreeSet};
use tokenbook_protocol::{AccountId, MarketId};

/// Where an account is filed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Filing {
    /// One open position, long: may need liquidation only when the mark is below the trigger.
    Long(MarketId, i128),
    /// One open position, short: may need liquidation only when the mark is above the trigger.
    Short(MarketId, i128),
    /// Open positions in these markets (or a trigger that did not fit in i128).
    Multi(Vec<MarketId>),
}

/// The derived index (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct RiskIndex {
    longs: BTreeMap<MarketId, BTreeSet<(i128, AccountId)>>,
    shorts: BTreeMap<MarketId, BTreeSet<(i128, AccountId)>>,
    multi: BTreeMap<MarketId, BTreeSet<AccountId>>,
    /// Each account's filing, by account id − 1 (ids are dense).
    filed: Vec<Option<Filing>>,
    /// The margin parameters the filings were computed with: the spread charge, the cross-index
    /// credit and each market's maintenance bps.
    params: ([u32; 2], BTreeMap<MarketId, u32>),
    /// The insurance fund held no cash after the last pass.
    fund_was_empty: bool,
}

impl RiskIndex {
    fn file(&mut self, id: AccountId, filing: Option<Filing>) {
        // Variation margin moves PnL from cost into cash: base, and so the filing, stay as they
        // were for most touched accounts.
        let Some(slot) = usize::try_from(id.get()).ok().and_then(|i| i.checked_sub(1)) else {
            return;
        };
        if slot >= self.filed.len() {
            self.filed.resize(slot + 1, None);
        }
        if self.filed[slot] == filing {
            return;
        }
        if let Some(old) = self.filed[slot].take() {
            match old {
                Filing::Long(m, t) => {
                    self.longs.entry(m).or_default().remove(&(t, id));
                }
                Filing::Short(m, t) => {
                    self.shorts.entry(m).or_default().remove(&(t, id));
                }
                Filing::Multi(ms) => {
                    for m in ms {
                        self.multi.entry(m).or_default().remove(&id);
                    }
                }
            }
        }
        let Some(filing) = filing else { return };
        match &filing {
            Filing::Long(m, t) => {
                self.longs.entry(*m).or_default().insert((*t, id));
            }
            Filing::Short(m, t) => {
                self.shorts.entry(*m).or_default().insert((*t, id));
            }
            Filing::Multi(ms) => {
                for m in ms {
                    self.multi.entry(*m).or_default().insert(id);
                }
            }
        }
        self.filed[slot] = Some(filing);
    }

    /// The filed accounts of `market` that may need liquidation at `mark`.
    fn at_risk(&self, market: MarketId, mark: i128, out: &mut BTreeSet<AccountId>) {
        if let Some(longs) = self.longs.get(&market) {
            let above = (mark.saturating_add(1), AccountId::new(0));
            out.extend(longs.range(above..).map(|(_, id)| *id));
        }
        if let Some(shorts) = self.shorts.get(&market) {
            out.extend(shorts.range(..(mark, AccountId::new(0))).map(|(_, id)| *id));
        }
        if let Some(multi) = self.multi.get(&market) {
            out.extend(multi.iter().copied());
        }
    }
}

impl LedgerState {
    fn margin_params(&self) -> ([u32; 2], BTreeMap<MarketId, u32>) {
        let per_market =
            self.markets.values().map(|m| (m.id, m.spec.params.maintenance_margin_bps)).collect();
        ([self.risk.calendar_spread_charge_bps, self.risk.cross_index_credit_bps], per_market)
    }

    /// Where the account belongs in the index now.
    fn filing(&self, id: AccountId) -> Option<Filing> {
        let account = self.accounts.get(&id)?;
        let mut base = account.cash.get();
        let mut open: smallvec::SmallVec<[_; 2]> = smallvec::SmallVec::new();
        for (market_id, p) in &account.positions {
            let Some(m) = self.markets.get(market_id) else { continue };
            base = base.checked_sub(p.cost.get())?;
            if p.qty.get() != 0 {
                open.push((m, i128::from(p.qty.get())));
            }
        }
        match open.as_slice() {
            [] => None,
            [(m, q)] => {
                let (ltv, mm) =
                    (m.lot_tick_value.get(), i128::from(m.spec.params.maintenance_margin_bps));
                Some(single(m.id, *q, base, ltv, mm).unwrap_or_else(|| Filing::Multi(vec![m.id])))
            }
            many => Some(Filing::Multi(many.iter().map(|(m, _)| m.id).collect())),
        }
    }

    /// The accounts this block's liquidation pass must look at; `moved` are the markets whose
    /// mark moved in the block. Rebuilds the index first when it must (module docs).
    pub(crate) fn liquidation_scope(&mut self, moved: &[MarketId]) -> Vec<AccountId> {
        let params = self.margin_params();
        let rebuild = match &self.risk_index {
            None => true,
            Some(index) => {
                index.params != params
                    || self.liquidation_backlog
                    || (index.fund_was_empty && self.insurance_fund.is_positive())
            }
        };
        if rebuild {
            let mut index = RiskIndex { params, ..RiskIndex::default() };
            for account in self.accounts.values() {
                index.file(account.id, self.filing(account.id));
            }
            self.risk_index = Some(index);
            return self.accounts.values().map(|a| a.id).collect();
        }
        let mut at_risk = BTreeSet::new();
        if let Some(index) = &self.risk_index {
            for market in moved {
                if let Some(m) = self.markets.get(market) {
                    index.at_risk(*market, i128::from(m.mark.get()), &mut at_risk);
                }
            }
        }
        // The accounts the block touched so far, each once, in id order (at a variation-margin
        // epoch every account with a position), merged with those past their trigger.
        self.touched.sort_accounts();
        let mut scope = self.touched.accounts.clone();
        scope.extend(at_risk);
        scope.sort();
        scope.dedup();
        scope
    }

    /// Files again every account the block touched; remembers whether the fund is empty.
    pub(crate) fn refile_touched(&mut self) {
        let Some(mut index) = self.risk_index.take() else { return };
        self.touched.sort_accounts();
        for id in &self.touched.accounts {
            index.file(*id, self.filing(*id));
        }
        index.fund_was_empty = !self.insurance_fund.is_positive();
        self.risk_index = Some(index);
    }
}

/// The filing of a one-position account: `q` lots (signed) in market `market`, equity
/// `base + q·p·ltv` at mark `p`, maintenance `mm` bps. `None` when a product overflows.
fn single(market: MarketId, q: i128, base: i128, ltv: i128, mm: i128) -> Option<Filing> {
    if q > 0 {
        // Needs liquidation ⇒ base + q·p·ltv·(1 − mm) < 1 ⇒ p < (1 − base)·10⁴ / (q·ltv·(10⁴ − mm)).
        let per_tick = q.checked_mul(ltv)?.checked_mul(10_000 - mm)?;
        if per_tick <= 0 {
            return None;
        }
        let numerator = 1i128.checked_sub(base)?.checked_mul(10_000)?;
        // p < x ⇔ p < ⌈x⌉ for an integer p.
        let trigger = numerator.checked_neg()?.div_euclid(per_tick).checked_neg()?;
        Some(Filing::Long(market, trigger))
    } else {
        // Needs liquidation ⇒ base − s·p·ltv·(1 + mm) < 1 ⇒ p > (base − 1)·10⁴ / (s·ltv·(10⁴ + mm)).
        let per_tick = (-q).checked_mul(ltv)?.checked_mul(10_000 + mm)?;
        let numerator = base.checked_sub(1)?.checked_mul(10_000)?;
        // p > x ⇔ p > ⌊x⌋ for an integer p.
        Some(Filing::Short(market, numerator.div_euclid(per_tick)))
    }
}

#[cfg(test)]
mod tests {
    use super::{Filing, single};
    use crate::margin::bps_ceil;
    use proptest::prelude::*;
    use tokenbook_protocol::MarketId;

    proptest! {
        /// Wherever a one-position account needs liquidation, its filing names that mark: a
        /// long's mark is below its trigger, a short's above.
        #[test]
        fn a_filing_never_hides_a_mark_that_needs_liquidation(
            q in prop_oneof![-1_000_000i128..0, 1i128..1_000_000],
            base in -1_000_000_000_000_000i128..1_000_000_000_000_000,
            ltv in 1i128..1_000_000,
            mm in 0i128..10_000,
            p in 1i128..1_000_000_000,
        ) {
            let equity = base + q * p * ltv;
            let needs = equity < bps_ceil(q.abs() * p * ltv, mm);
            match single(MarketId::new(1), q, base, ltv, mm) {
                Some(Filing::Long(_, trigger)) => prop_assert!(!needs || p < trigger),
                Some(Filing::Short(_, trigger)) => prop_assert!(!needs || p > trigger),
                other => prop_assert!(matches!(other, Some(Filing::Multi(_))), "{other:?}"),
            }
        }
    }
}
