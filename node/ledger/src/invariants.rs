//! Invariants asserted after every block (STYLE.md 4–5).
//!
//! [`check`] runs after every block in every build and costs O(markets touched): conservation of
//! cash against the running totals, equal long and short interest, and uncrossed books.
//! [`check_full`] recounts everything from the accounts and books (O(state)): it runs after every
//! block in debug builds (so every test checks it), and tests and auditors can call it any time.

use crate::state::{AccountKind, Guaranty, LedgerState, MarketStatus};
use std::collections::{BTreeMap, BTreeSet};
use tokenbook_protocol::{AccountId, MarketId, OrderId, Side};

/// The cheap per-block checks (and [`check_full`] in debug builds).
///
/// # Errors
/// A description of the first violation.
pub fn check(state: &LedgerState) -> Result<(), String> {
    // Checked: a state loaded from a damaged store may hold any values.
    let overflow = || "cash totals overflow".to_owned();
    let held = state
        .total_cash
        .get()
        .checked_add(state.fee_pool.get())
        .and_then(|v| v.checked_add(state.insurance_fund.get()))
        .and_then(|v| v.checked_add(state.total_guaranty.get()))
        .ok_or_else(overflow)?;
    let net = state
        .total_deposits
        .get()
        .checked_sub(state.total_withdrawals.get())
        .ok_or_else(overflow)?;
    if held != net {
        return Err(format!(
            "cash not conserved: cash + fee pool + insurance + guaranty = {held}, \
             deposits - withdrawals = {net}"
        ));
    }
    if state.fee_pool.get() < 0 || state.insurance_fund.get() < 0 || state.total_guaranty.get() < 0
    {
        return Err(format!(
            "fee pool {} or insurance fund {} is negative",
            state.fee_pool, state.insurance_fund
        ));
    }
    for id in &state.touched.markets {
        let Some(m) = state.markets.get(id) else {
            continue;
        };
        if m.long_interest != m.short_interest {
            return Err(format!(
                "market {id}: long interest {} != short interest {}",
                m.long_interest, m.short_interest
            ));
        }
        if let (Some(bid), Some(ask)) = (m.book.best_bid(), m.book.best_ask()) {
            if bid >= ask {
                return Err(format!("market {id}: book crossed, bid {bid} >= ask {ask}"));
            }
        }
    }
    if cfg!(debug_assertions) {
        check_full(state)?;
    }
    Ok(())
}

/// Recounts every invariant from scratch.
///
/// # Errors
/// A description of the first violation.
pub fn check_full(state: &LedgerState) -> Result<(), String> {
    let cash = state
        .accounts
        .values()
        .try_fold(0i128, |sum, a| sum.checked_add(a.cash.get()))
        .ok_or("Σ account cash overflows")?;
    if cash != state.total_cash.get() {
        return Err(format!("Σ account cash {cash} != running total {}", state.total_cash));
    }
    check_guaranty(state)?;
    check_positions(state)?;
    check_orders(state)?;
    check_liquidations(state)
}

/// Σ posted contributions matches the running total; only members hold any, and none is
/// negative.
fn check_guaranty(state: &LedgerState) -> Result<(), String> {
    let mut posted = 0i128;
    for a in state.accounts.values() {
        let g = a.guaranty;
        if g.posted.get() < 0 || g.due.get() < 0 || g.required.get() < 0 {
            return Err(format!("account {}: negative guaranty figure {g:?}", a.id));
        }
        if a.kind != AccountKind::Member && g != Guaranty::default() {
            return Err(format!("account {} is not a member but holds guaranty {g:?}", a.id));
        }
        posted = posted.checked_add(g.posted.get()).ok_or("Σ guaranty overflows")?;
    }
    if posted != state.total_guaranty.get() {
        return Err(format!("Σ guaranty {posted} != running total {}", state.total_guaranty));
    }
    Ok(())
}

/// Unless the last block hit its liquidation cap, no account needs liquidation: none holds a
/// position with equity below maintenance margin, and none has negative equity the insurance
/// fund could still pay.
fn check_liquidations(state: &LedgerState) -> Result<(), String> {
    if state.liquidation_backlog {
        return Ok(());
    }
    match state.accounts.values().find_map(|a| state.liquidation_need(a.id).map(|n| (a.id, n))) {
        Some((id, need)) => {
            Err(format!("account {id} is {} below maintenance margin after the block", -need))
        }
        None => Ok(()),
    }
}

/// Positions sum to zero per market and match the market's interest totals; position costs sum
/// to zero per market (realised and unrealised PnL are zero-sum).
fn check_positions(state: &LedgerState) -> Result<(), String> {
    let mut net: BTreeMap<MarketId, (i128, i128, i128)> = BTreeMap::new();
    for account in state.accounts.values() {
        for (market, p) in &account.positions {
            let entry = net.entry(*market).or_default();
            entry.0 += i128::from(p.qty.get().max(0));
            entry.1 += i128::from((-p.qty.get()).max(0));
            entry.2 += p.cost.get();
        }
    }
    for (id, m) in &state.markets {
        let (long, short, cost) = net.get(id).copied().unwrap_or_default();
        if cost != 0 {
            return Err(format!("market {id}: position costs sum to {cost}, not zero"));
        }
        if long != short || long != i128::from(m.long_interest.get()) {
            return Err(format!(
                "market {id}: positions long {long} short {short}, recorded {}",
                m.long_interest
            ));
        }
    }
    Ok(())
}

/// Every resting order belongs to an account that may trade and to a market that trades or is
/// halted; ledger records, account indexes, open quantities and books agree.
fn check_orders(state: &LedgerState) -> Result<(), String> {
    let mut open: BTreeMap<(AccountId, MarketId, bool), i128> = BTreeMap::new();
    let mut by_account: BTreeMap<AccountId, BTreeSet<OrderId>> = BTreeMap::new();
    for (id, m) in &state.markets {
        m.book.check_invariants().map_err(|e| format!("market {id}: {e}"))?;
        if !m.book.is_empty() && !matches!(m.status, MarketStatus::Active | MarketStatus::Halted) {
            return Err(format!("market {id} is {:?} but has resting orders", m.status));
        }
        for side in [Side::Buy, Side::Sell] {
            for o in m.book.orders(side) {
                let info = state
                    .orders
                    .get(&o.id)
                    .ok_or_else(|| format!("resting order {} has no record", o.id))?;
                if info.account != o.owner
                    || info.market != *id
                    || info.side != o.side
                    || info.price != o.price
                {
                    return Err(format!("order {} differs between book and record", o.id));
                }
                let account = state
                    .accounts
                    .get(&o.owner)
                    .ok_or_else(|| format!("order {} of missing account", o.id))?;
                if account.frozen || account.kind == crate::state::AccountKind::Admin {
                    return Err(format!("order {} rests for an account that may not trade", o.id));
                }
                *open.entry((o.owner, *id, side == Side::Buy)).or_default() +=
                    i128::from(o.qty.get());
            }
        }
    }
    for (id, info) in state.orders.sorted() {
        let in_book = state.markets.get(&info.market).is_some_and(|m| m.book.get(id).is_some());
        if in_book == info.pending_trigger.is_some() {
            return Err(format!("order {id} must be either resting or an untriggered stop"));
        }
        by_account.entry(info.account).or_default().insert(id);
    }
    let pending = state.orders.sorted().iter().filter(|(_, o)| o.pending_trigger.is_some()).count();
    if pending != state.triggers_up.len() + state.triggers_down.len() {
        return Err(format!(
            "{pending} pending triggers, {} indexed",
            state.triggers_up.len() + state.triggers_down.len()
        ));
    }
    for account in state.accounts.values() {
        let recorded = by_account.remove(&account.id).unwrap_or_default();
        if !recorded.iter().eq(account.open_orders.iter()) {
            return Err(format!("account {}: open order index disagrees with records", account.id));
        }
        for (market, p) in &account.positions {
            let buys = open.get(&(account.id, *market, true)).copied().unwrap_or(0);
            let sells = open.get(&(account.id, *market, false)).copied().unwrap_or(0);
            if buys != i128::from(p.open_buy.get()) || sells != i128::from(p.open_sell.get()) {
                return Err(format!(
                    "account {} market {market}: open quantities disagree with the book",
                    account.id
                ));
            }
        }
    }
    Ok(())
}
