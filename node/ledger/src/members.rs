//! Member actions: register trader accounts, attest deposits and withdrawals, set limits,
//! freeze, publish index observations.
//!
//! A member acts on accounts it clears (their `member` is the member) and on its own account.
//! Every cash movement updates the account, `total_cash` and the deposit/withdrawal totals
//! together, so `Σ cash + fee pool + insurance fund = deposits − withdrawals` holds after each tx.

use crate::margin::{self, MAX_CASH, MAX_TOTAL_DEPOSITS};
use crate::receipt::{CancelReason, Event, Events};
use crate::reject::{Reject, RejectCode, reject};
use crate::state::{AccountKind, LedgerState};
use tokenbook_protocol::{
    AccountId, AccountLimits, Cash, CashTransfer, IndexObservation, RegisterAccount, SetFrozen,
    SetLimits,
};

/// Most open orders a member may allow one account.
pub const MAX_OPEN_ORDERS_LIMIT: u32 = 10_000;

impl LedgerState {
    /// Refuses unless `signer` is a member account.
    pub(crate) fn require_member(&self, signer: AccountId) -> Result<(), Reject> {
        match self.accounts.get(&signer) {
            Some(a) if a.kind == AccountKind::Member => Ok(()),
            _ => reject(RejectCode::NotMember, format!("account {signer} is not a member")),
        }
    }

    /// Refuses unless `member` clears `account` (or is it).
    fn require_clears(&self, member: AccountId, account: AccountId) -> Result<(), Reject> {
        self.require_member(member)?;
        match self.accounts.get(&account) {
            None => reject(RejectCode::AccountUnknown, format!("account {account} does not exist")),
            Some(a) if a.member == member => Ok(()),
            Some(_) => reject(
                RejectCode::NotAccountsMember,
                format!("member {member} does not clear account {account}"),
            ),
        }
    }

    pub(crate) fn register_account(
        &mut self,
        member: AccountId,
        register: &RegisterAccount,
        events: &mut Events,
    ) -> Result<(), Reject> {
        self.require_member(member)?;
        check_limits(&register.limits)?;
        let account = self.open_account(
            AccountKind::Trader,
            register.owner,
            Some(member),
            register.limits,
            register.self_trade_group,
        )?;
        events.push(Event::AccountRegistered { account, member, owner: register.owner });
        Ok(())
    }

    pub(crate) fn deposit(
        &mut self,
        member: AccountId,
        t: &CashTransfer,
        events: &mut Events,
    ) -> Result<(), Reject> {
        self.check_transfer(member, t)?;
        let lifetime = self.total_deposits.get().checked_add(t.amount.get());
        if lifetime.is_none_or(|total| total > MAX_TOTAL_DEPOSITS) {
            return reject(
                RejectCode::Overflow,
                format!("deposits over the chain's life would pass {MAX_TOTAL_DEPOSITS}"),
            );
        }
        self.references.insert((member, t.reference));
        self.touched.references.push((member, t.reference));
        let account = self.account_mut(t.account)?;
        account.cash = Cash::new(account.cash.get() + t.amount.get());
        self.total_cash = Cash::new(self.total_cash.get() + t.amount.get());
        self.total_deposits = Cash::new(self.total_deposits.get() + t.amount.get());
        self.touched.globals = true;
        events.push(Event::Deposited { account: t.account, amount: t.amount });
        Ok(())
    }

    pub(crate) fn withdraw(
        &mut self,
        member: AccountId,
        t: &CashTransfer,
        events: &mut Events,
    ) -> Result<(), Reject> {
        self.check_transfer(member, t)?;
        let account = &self.accounts[&t.account];
        if account.frozen {
            return reject(RejectCode::AccountFrozen, format!("account {} is frozen", t.account));
        }
        self.check_cash_out(account, t.amount, "withdrawal")?;
        self.references.insert((member, t.reference));
        self.touched.references.push((member, t.reference));
        let account = self.account_mut(t.account)?;
        account.cash = Cash::new(account.cash.get() - t.amount.get());
        self.total_cash = Cash::new(self.total_cash.get() - t.amount.get());
        self.total_withdrawals = Cash::new(self.total_withdrawals.get() + t.amount.get());
        self.touched.globals = true;
        events.push(Event::Withdrawn { account: t.account, amount: t.amount });
        Ok(())
    }

    /// Cash may leave an account (a withdrawal, a guaranty posting) only from its cash and only
    /// while equity after it still covers initial margin (the risk hook).
    pub(crate) fn check_cash_out(
        &self,
        account: &crate::state::Account,
        amount: Cash,
        what: &str,
    ) -> Result<(), Reject> {
        if amount > account.cash {
            return reject(
                RejectCode::InsufficientCash,
                format!("{what} of {amount} exceeds cash {}", account.cash),
            );
        }
        let free = margin::free_margin(self, account, None);
        if free < amount.get() {
            return reject(
                RejectCode::InsufficientMargin,
                format!(
                    "{what} of {amount} would leave equity below initial margin (free margin {free})"
                ),
            );
        }
        Ok(())
    }

    fn check_transfer(&self, member: AccountId, t: &CashTransfer) -> Result<(), Reject> {
        self.require_clears(member, t.account)?;
        if !t.amount.is_positive() {
            return reject(
                RejectCode::AmountNotPositive,
                format!("amount {} must be positive", t.amount),
            );
        }
        if t.amount.get() > MAX_CASH {
            return reject(
                RejectCode::Overflow,
                format!("amount {} is beyond the ledger's bounds", t.amount),
            );
        }
        if self.references.contains(&(member, t.reference)) {
            return reject(
                RejectCode::DuplicateReference,
                format!("reference {} was already used by member {member}", t.reference),
            );
        }
        Ok(())
    }

    pub(crate) fn set_limits(
        &mut self,
        member: AccountId,
        set: &SetLimits,
        events: &mut Events,
    ) -> Result<(), Reject> {
        self.require_clears(member, set.account)?;
        check_limits(&set.limits)?;
        self.account_mut(set.account)?.limits = set.limits;
        events.push(Event::LimitsSet { account: set.account });
        Ok(())
    }

    pub(crate) fn set_frozen(
        &mut self,
        member: AccountId,
        set: &SetFrozen,
        events: &mut Events,
    ) -> Result<(), Reject> {
        self.require_clears(member, set.account)?;
        self.account_mut(set.account)?.frozen = set.frozen;
        if set.frozen {
            self.cancel_all(set.account, None, CancelReason::AccountFrozen, events)?;
        }
        events.push(Event::FrozenSet { account: set.account, frozen: set.frozen });
        Ok(())
    }

    pub(crate) fn publish_index(
        &mut self,
        member: AccountId,
        o: &IndexObservation,
        events: &mut Events,
    ) -> Result<(), Reject> {
        self.require_member(member)?;
        if !o.price.is_positive() {
            return reject(
                RejectCode::PriceNotPositive,
                format!("index price {} must be positive", o.price),
            );
        }
        if o.observed_at > self.time
            || self.time.get() - o.observed_at.get() > self.risk.oracle_freshness_ms
        {
            return reject(
                RejectCode::StaleObservation,
                format!(
                    "observation time {} is not within {} ms before block time {}",
                    o.observed_at, self.risk.oracle_freshness_ms, self.time
                ),
            );
        }
        let Some(index) = self.indexes.get_mut(&o.index) else {
            return reject(RejectCode::IndexUnknown, format!("index {} does not exist", o.index));
        };
        index.submissions.insert(member, *o);
        self.touched.indexes.push(o.index);
        events.push(Event::IndexPublished { index: o.index, member, price: o.price });
        Ok(())
    }
}

/// Limits must be positive and the open-order cap bounded.
pub(crate) fn check_limits(l: &AccountLimits) -> Result<(), Reject> {
    if !l.max_order_qty.is_positive()
        || !l.max_position.is_positive()
        || l.max_open_orders == 0
        || l.max_open_orders > MAX_OPEN_ORDERS_LIMIT
    {
        return reject(
            RejectCode::InvalidLimits,
            format!(
                "limits must be positive with at most {MAX_OPEN_ORDERS_LIMIT} open orders: {l:?}"
            ),
        );
    }
    Ok(())
}
