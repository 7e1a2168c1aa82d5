//! Clearing members stand behind their traders: guaranty-fund contributions and the default
//! waterfall (issue #18; docs/adr/0005-oracle-margin-liquidation.md, "Default waterfall").
//!
//! What it promises:
//! - Each member holds a guaranty-fund **contribution**, cash apart from its account. Its
//!   **requirement** is `max(floor, ⌈guaranty_margin_bps × Σ initial margin of the other
//!   accounts it clears⌉)`, recomputed at every variation-margin epoch and when governance
//!   changes the risk parameters. Genesis members start with the floor posted (an opening
//!   deposit); a member admitted later owes it.
//! - A member posts from its own cash (as far as its free margin allows) and releases only what
//!   is above its requirement with nothing due. While its contribution is **short** — below the
//!   requirement, or a default used it and it has not topped up — no account it clears (its own
//!   included) may place an order that could increase a position ([`crate::trading`]).
//! - A defaulted account's deficit (negative equity once liquidation has closed what it could)
//!   is paid, in order, by: its member's own cash, as far as the member stays at its initial
//!   margin → its member's contribution → the insurance fund → the other members'
//!   contributions pro rata to their size, each capped at `guaranty_assessment_cap_bps` of
//!   itself per default (the assessment is recorded as `due`) → what is left is bad debt, which
//!   the liquidation pass avoids by deleveraging at the price where every layer is spent.
//! - Each step is one transfer between two holders of cash (an account, a contribution, the
//!   fund) and one event, so conservation holds after every step.

use crate::margin::{self, MAX_CASH};
use crate::receipt::{DefaultLayer, Event, Events};
use crate::reject::{Reject, RejectCode, reject};
use crate::state::{AccountKind, LedgerState};
use tokenbook_protocol::{AccountId, Cash};

impl LedgerState {
    /// Genesis: the member starts with the floor posted, as an opening deposit.
    pub(crate) fn open_guaranty(&mut self, member: AccountId) {
        let floor = self.risk.guaranty_floor;
        if let Ok(account) = self.account_mut(member) {
            account.guaranty.posted = floor;
            account.guaranty.required = floor;
        }
        self.total_guaranty = Cash::new(self.total_guaranty.get() + floor.get());
        self.total_deposits = Cash::new(self.total_deposits.get() + floor.get());
    }

    /// A member moves `amount` of its own cash into its contribution; a top-up pays what is due
    /// first.
    pub(crate) fn post_guaranty(
        &mut self,
        member: AccountId,
        amount: Cash,
        events: &mut Events,
    ) -> Result<(), Reject> {
        self.require_member(member)?;
        check_amount(amount)?;
        self.check_cash_out(&self.accounts[&member], amount, "guaranty posting")?;
        let account = self.account_mut(member)?;
        account.cash = Cash::new(account.cash.get() - amount.get());
        let g = &mut account.guaranty;
        g.posted = Cash::new(g.posted.get() + amount.get());
        g.due = Cash::new((g.due.get() - amount.get()).max(0));
        let (posted, due) = (g.posted, g.due);
        self.move_totals(-amount.get(), amount.get());
        events.push(Event::GuarantyPosted { member, amount, posted, due });
        Ok(())
    }

    /// A member takes back part of its contribution: only above its requirement, and only when
    /// nothing is due.
    pub(crate) fn release_guaranty(
        &mut self,
        member: AccountId,
        amount: Cash,
        events: &mut Events,
    ) -> Result<(), Reject> {
        self.require_member(member)?;
        check_amount(amount)?;
        let g = self.accounts[&member].guaranty;
        if g.due.is_positive() || g.posted.get() - amount.get() < g.required.get() {
            return reject(
                RejectCode::GuarantyRequired,
                format!(
                    "releasing {amount} would leave {} posted against a requirement of {} \
                     (due {})",
                    g.posted.get() - amount.get(),
                    g.required,
                    g.due
                ),
            );
        }
        let account = self.account_mut(member)?;
        account.cash = Cash::new(account.cash.get() + amount.get());
        account.guaranty.posted = Cash::new(g.posted.get() - amount.get());
        let posted = account.guaranty.posted;
        self.move_totals(amount.get(), -amount.get());
        events.push(Event::GuarantyReleased { member, amount, posted });
        Ok(())
    }

    /// A member leaves: its contribution goes back to its account cash, and nothing stays due.
    pub(crate) fn return_guaranty(&mut self, member: AccountId, events: &mut Events) {
        let Some(g) = self.accounts.get(&member).map(|a| a.guaranty) else { return };
        if let Ok(account) = self.account_mut(member) {
            account.cash = Cash::new(account.cash.get() + g.posted.get());
            account.guaranty = crate::state::Guaranty::default();
        }
        self.move_totals(g.posted.get(), -g.posted.get());
        if g.posted.is_positive() {
            events.push(Event::GuarantyReleased { member, amount: g.posted, posted: Cash::ZERO });
        }
    }

    /// Sets every member's requirement from the initial margin of the accounts it clears (one
    /// pass over the accounts; on a risk-parameter change — the variation-margin epoch gathers
    /// the margins in its own pass).
    pub(crate) fn refresh_guaranty_requirements(&mut self, events: &mut Events) {
        let traders = self.traders_margin();
        self.set_guaranty_requirements(&traders, events);
    }

    /// Σ initial margin of the accounts each member clears, from scratch.
    pub(crate) fn traders_margin(&self) -> TradersMargin {
        let mut traders = TradersMargin::new();
        for account in self.accounts.values() {
            if account.id != account.member && !account.positions.is_empty() {
                traders.add(account.member, margin::initial_margin(self, account, None));
            }
        }
        traders
    }

    /// Each member's requirement: `max(floor, ⌈Σ its traders' IM × guaranty_margin_bps⌉)`.
    pub(crate) fn set_guaranty_requirements(
        &mut self,
        traders: &TradersMargin,
        events: &mut Events,
    ) {
        let (floor, bps) =
            (self.risk.guaranty_floor.get(), i128::from(self.risk.guaranty_margin_bps));
        let members: Vec<AccountId> = self.members().map(|a| a.id).collect();
        for member in members {
            let margin = traders.0.get(&member).copied().unwrap_or(0);
            let required = Cash::new(floor.max(margin::bps_ceil(margin, bps)).min(MAX_CASH));
            if self.accounts[&member].guaranty.required != required {
                if let Ok(account) = self.account_mut(member) {
                    account.guaranty.required = required;
                }
                events.push(Event::GuarantyRequired { member, required });
            }
        }
    }

    /// What the layers after the account's own collateral can pay for a default of `id` now:
    /// its member's spare cash and contribution, the insurance fund, and the other members'
    /// capped contributions.
    #[must_use]
    pub fn waterfall_capacity(&self, id: AccountId) -> i128 {
        let Some(account) = self.accounts.get(&id) else { return 0 };
        let member = account.member;
        let own = if member == id { 0 } else { self.member_spare_cash(member) };
        let guaranty = self.accounts.get(&member).map_or(0, |m| m.guaranty.posted.get());
        let mutual: i128 = self.mutual_caps(member).iter().map(|(_, cap)| cap).sum();
        own + guaranty + self.insurance_fund.get().max(0) + mutual
    }

    /// Pays a negative equity back toward zero through the waterfall, layer by layer.
    pub(crate) fn absorb_deficit(&mut self, id: AccountId, events: &mut Events) {
        let mut left = -margin::equity(self, &self.accounts[&id]);
        if left <= 0 {
            return;
        }
        let member = self.accounts[&id].member;
        if member != id {
            let paid = left.min(self.member_spare_cash(member));
            self.pay_from_member_cash(member, id, paid, events);
            left -= paid;
        }
        if left > 0 {
            left -= self.pay_from_guaranty(member, id, left, DefaultLayer::MemberGuaranty, events);
        }
        if left > 0 {
            left -= self.pay_from_fund(id, left, events);
        }
        if left > 0 {
            let caps = self.mutual_caps(member);
            let total: i128 = caps.iter().map(|(_, cap)| cap).sum();
            for (payer, share) in crate::liquidation::split_pro_rata(&caps, left.min(total)) {
                left -=
                    self.pay_from_guaranty(payer, id, share, DefaultLayer::MutualGuaranty, events);
            }
        }
        if left > 0 {
            events.push(Event::BadDebt { account: id, amount: Cash::new(left) });
        }
    }

    /// The member's cash it can spare: its cash, as far as its equity stays at its initial
    /// margin (so paying never makes the member itself due for liquidation).
    fn member_spare_cash(&self, member: AccountId) -> i128 {
        let Some(m) = self.accounts.get(&member).filter(|m| m.kind == AccountKind::Member) else {
            return 0;
        };
        m.cash.get().min(margin::free_margin(self, m, None)).max(0)
    }

    /// The other members' contributions a default cleared by `member` may use: each capped at
    /// `guaranty_assessment_cap_bps` of itself (rounded down), in id order, zeros left out.
    fn mutual_caps(&self, member: AccountId) -> Vec<(AccountId, i128)> {
        let cap = i128::from(self.risk.guaranty_assessment_cap_bps.min(10_000));
        self.members()
            .filter(|m| m.id != member)
            .map(|m| (m.id, m.guaranty.posted.get() * cap / 10_000))
            .filter(|(_, amount)| *amount > 0)
            .collect()
    }

    fn pay_from_member_cash(
        &mut self,
        member: AccountId,
        id: AccountId,
        amount: i128,
        events: &mut Events,
    ) {
        if amount <= 0 {
            return;
        }
        if let Ok(m) = self.account_mut(member) {
            m.cash = Cash::new(m.cash.get() - amount);
        }
        if let Ok(a) = self.account_mut(id) {
            a.cash = Cash::new(a.cash.get() + amount);
        }
        events.push(Event::DefaultCovered {
            account: id,
            layer: DefaultLayer::MemberCash,
            payer: member,
            amount: Cash::new(amount),
        });
    }

    /// Moves up to `want` from `payer`'s contribution into `id`'s cash; returns what moved.
    fn pay_from_guaranty(
        &mut self,
        payer: AccountId,
        id: AccountId,
        want: i128,
        layer: DefaultLayer,
        events: &mut Events,
    ) -> i128 {
        let posted = self.accounts.get(&payer).map_or(0, |m| m.guaranty.posted.get());
        let amount = want.min(posted);
        if amount <= 0 {
            return 0;
        }
        let Ok(m) = self.account_mut(payer) else { return 0 };
        m.guaranty.posted = Cash::new(posted - amount);
        m.guaranty.due = Cash::new(m.guaranty.due.get() + amount);
        let due = m.guaranty.due;
        if let Ok(a) = self.account_mut(id) {
            a.cash = Cash::new(a.cash.get() + amount);
        }
        self.move_totals(amount, -amount);
        let amount = Cash::new(amount);
        events.push(Event::DefaultCovered { account: id, layer, payer, amount });
        events.push(Event::GuarantyUsed { member: payer, account: id, amount, due });
        amount.get()
    }

    /// The insurance fund pays up to `want` into `id`'s cash; returns what it paid.
    fn pay_from_fund(&mut self, id: AccountId, want: i128, events: &mut Events) -> i128 {
        let paid = want.min(self.insurance_fund.get().max(0));
        self.insurance_fund = Cash::new(self.insurance_fund.get() - paid);
        self.total_cash = Cash::new(self.total_cash.get() + paid);
        self.touched.globals = true;
        if let Ok(account) = self.account_mut(id) {
            account.cash = Cash::new(account.cash.get() + paid);
        }
        events.push(Event::InsurancePaid {
            account: id,
            amount: Cash::new(paid),
            unpaid: Cash::new(want - paid),
        });
        paid
    }

    /// Account cash and posted contributions change by these amounts (they sum to zero).
    fn move_totals(&mut self, cash: i128, guaranty: i128) {
        self.total_cash = Cash::new(self.total_cash.get() + cash);
        self.total_guaranty = Cash::new(self.total_guaranty.get() + guaranty);
        self.touched.globals = true;
    }
}

fn check_amount(amount: Cash) -> Result<(), Reject> {
    if !amount.is_positive() || amount.get() > MAX_CASH {
        return reject(
            RejectCode::AmountNotPositive,
            format!("amount {amount} must be positive and at most {MAX_CASH}"),
        );
    }
    Ok(())
}

/// Σ initial margin of the accounts each member clears (its own account excluded).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TradersMargin(std::collections::BTreeMap<AccountId, i128>);

impl TradersMargin {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(&mut self, member: AccountId, margin: i128) {
        *self.0.entry(member).or_default() += margin;
    }
}
