//! Governance: members propose actions; an action takes effect in the block where approvals
//! from more than two thirds of the members (one member, one vote) are counted. Admins may halt
//! a market at once, without a vote; everything else needs the quorum.
//!
//! An action is checked against the state when proposed and again when it executes; if the state
//! changed so that it no longer applies, the proposal closes without effect (`ProposalExpired`).

use crate::book::Book;
use crate::margin::{MAX_CASH, MAX_LOT_TICK_VALUE, MAX_LOTS, MAX_TICKS};
use crate::receipt::{Event, Events};
use crate::reject::{Reject, RejectCode, reject};
use crate::state::{AccountKind, LedgerState, Market, MarketStatus, Proposal};
use std::collections::BTreeSet;
use tokenbook_protocol::{
    AccountId, Cash, GovAction, Height, MarketId, MarketParams, MarketSpec, MarketStatusChange,
    ProposalId, Propose, Qty, RiskParams, ValidatorSet,
};

/// Most open proposals per member (so the per-block lapse scan stays bounded).
pub const MAX_OPEN_PROPOSALS: usize = 16;

/// Largest accepted `max_liquidations_per_block` (each liquidation may scan every account for
/// deleveraging counterparties, so the cap bounds a block's work).
pub const MAX_LIQUIDATIONS_PER_BLOCK: u32 = 1_000;

impl LedgerState {
    pub(crate) fn propose(
        &mut self,
        signer: AccountId,
        p: &Propose,
        events: &mut Events,
    ) -> Result<(), Reject> {
        let kind = self.accounts[&signer].kind;
        let admin_halt = kind == AccountKind::Admin
            && matches!(
                p.action,
                GovAction::SetMarketStatus { change: MarketStatusChange::Halt, .. }
            );
        if !admin_halt {
            self.require_member(signer)?;
        }
        if p.expires_at <= self.time {
            return reject(
                RejectCode::ProposalExpired,
                format!("expiry {} is not after block time {}", p.expires_at, self.time),
            );
        }
        self.validate_action(&p.action)?;
        let open = self.proposals.values().filter(|q| q.proposer == signer).count();
        if open >= MAX_OPEN_PROPOSALS {
            return reject(
                RejectCode::TooManyProposals,
                format!("a member may have at most {MAX_OPEN_PROPOSALS} open proposals"),
            );
        }
        if admin_halt {
            // Executed at once; a failure leaves the state untouched (checked above).
            let mut done = Events::new();
            self.execute_action(&p.action, &mut done)?;
            let id = self.allocate_proposal();
            events.push(Event::ProposalOpened { proposal: id });
            events.push(Event::ProposalExecuted { proposal: id });
            events.extend(done);
            return Ok(());
        }
        let id = self.allocate_proposal();
        events.push(Event::ProposalOpened { proposal: id });
        let proposal = Proposal {
            id,
            proposer: signer,
            action: p.action.clone(),
            expires_at: p.expires_at,
            approvals: BTreeSet::from([signer]),
        };
        self.proposals.insert(id, proposal);
        self.touched.proposals.push(id);
        events.push(Event::ProposalApproved { proposal: id, member: signer, approvals: 1 });
        self.execute_if_quorum(id, events)
    }

    pub(crate) fn approve(
        &mut self,
        member: AccountId,
        id: ProposalId,
        events: &mut Events,
    ) -> Result<(), Reject> {
        self.require_member(member)?;
        let Some(proposal) = self.proposals.get_mut(&id) else {
            return reject(RejectCode::ProposalUnknown, format!("proposal {id} is not open"));
        };
        if !proposal.approvals.insert(member) {
            return reject(
                RejectCode::AlreadyApproved,
                format!("member {member} already approved proposal {id}"),
            );
        }
        let approvals = u32::try_from(proposal.approvals.len()).unwrap_or(u32::MAX);
        self.touched.proposals.push(id);
        events.push(Event::ProposalApproved { proposal: id, member, approvals });
        self.execute_if_quorum(id, events)
    }

    /// Executes the proposal once more than 2/3 of current members approve it.
    fn execute_if_quorum(&mut self, id: ProposalId, events: &mut Events) -> Result<(), Reject> {
        let members: BTreeSet<AccountId> = self.members().map(|a| a.id).collect();
        let Some(proposal) = self.proposals.get(&id) else {
            return Ok(());
        };
        let approvals = proposal.approvals.intersection(&members).count();
        if approvals * 3 <= members.len() * 2 {
            return Ok(());
        }
        let Some(proposal) = self.proposals.remove(&id) else {
            return Ok(());
        };
        // The approving tx succeeds either way: the proposal closes, with or without effect.
        let mut done = Events::new();
        let applied = self
            .validate_action(&proposal.action)
            .and_then(|()| self.execute_action(&proposal.action, &mut done));
        match applied {
            Ok(()) => {
                events.push(Event::ProposalExecuted { proposal: id });
                events.extend(done);
            }
            Err(_) => events.push(Event::ProposalExpired { proposal: id }),
        }
        Ok(())
    }

    fn allocate_proposal(&mut self) -> ProposalId {
        let id = self.next_proposal;
        self.next_proposal = ProposalId::new(id.get() + 1);
        self.touched.globals = true;
        id
    }

    /// Closes proposals whose expiry has passed.
    pub(crate) fn lapse_proposals(&mut self, events: &mut Events) {
        let lapsed: Vec<ProposalId> =
            self.proposals.values().filter(|p| p.expires_at <= self.time).map(|p| p.id).collect();
        for id in lapsed {
            self.proposals.remove(&id);
            self.touched.proposals.push(id);
            events.push(Event::ProposalExpired { proposal: id });
        }
    }

    /// Whether the action applies to the current state.
    fn validate_action(&self, action: &GovAction) -> Result<(), Reject> {
        let invalid = |msg: String| reject(RejectCode::InvalidProposal, msg);
        match action {
            GovAction::ListMarket(spec) => self.check_listing(spec),
            GovAction::SetMarketParams { market, params } => self.markets.get(market).map_or_else(
                || invalid(format!("market {market} does not exist")),
                |_| check_params(params),
            ),
            GovAction::SetMarketStatus { market, change } => {
                let Some(m) = self.markets.get(market) else {
                    return invalid(format!("market {market} does not exist"));
                };
                match (change, m.status) {
                    (MarketStatusChange::Halt, MarketStatus::Active | MarketStatus::PreOpen)
                    | (MarketStatusChange::Resume, MarketStatus::Halted | MarketStatus::PreOpen)
                    | (
                        MarketStatusChange::Delist,
                        MarketStatus::Active | MarketStatus::Halted | MarketStatus::PreOpen,
                    ) => Ok(()),
                    (change, status) => {
                        invalid(format!("cannot {change:?} a market that is {status:?}"))
                    }
                }
            }
            GovAction::SetRiskParams(risk) => check_risk(risk),
            GovAction::AddValidator(v) => {
                let set = self.latest_validator_set();
                if set.get(&v.consensus_key).is_some()
                    || v.power == 0
                    || set.validators.len() >= tokenbook_protocol::MAX_VALIDATORS
                {
                    return invalid(
                        "validator already in the set, zero power, or the set is full".into(),
                    );
                }
                crate::apply::check_key(&v.consensus_key)
            }
            GovAction::RemoveValidator { consensus_key } => {
                let set = self.latest_validator_set();
                if set.get(consensus_key).is_none() || set.validators.len() == 1 {
                    return invalid("not a validator, or the last one".into());
                }
                Ok(())
            }
            GovAction::AddMember(m) => self.check_new_key(&m.key),
            GovAction::RemoveMember { member } => {
                if !self.is_member(*member) || self.member_count() <= 1 {
                    return invalid(format!(
                        "account {member} is not a member, or is the last one"
                    ));
                }
                let cleared = self.accounts.values().filter(|a| a.member == *member).count();
                if cleared > 0 {
                    return invalid(format!(
                        "member {member} still clears {cleared} accounts (its own included); \
                         move them with transfer_accounts first"
                    ));
                }
                Ok(())
            }
            GovAction::TransferAccounts { from, to } => {
                if from == to || !self.is_member(*from) || !self.is_member(*to) {
                    return invalid(format!(
                        "accounts move between two different members, not {from} → {to}"
                    ));
                }
                Ok(())
            }
            GovAction::ListIndex(spec) => {
                if self.indexes.values().any(|i| i.spec.name == spec.name) {
                    return invalid(format!("index {:?} already exists", spec.name));
                }
                Ok(())
            }
            GovAction::FundInsurance { amount } => {
                if !amount.is_positive() || *amount > self.fee_pool {
                    return invalid(format!(
                        "amount {amount} must be positive and at most the fee pool {}",
                        self.fee_pool
                    ));
                }
                Ok(())
            }
        }
    }

    fn check_listing(&self, spec: &MarketSpec) -> Result<(), Reject> {
        let invalid = |msg: String| reject(RejectCode::InvalidProposal, msg);
        if self.symbols.contains_key(&spec.symbol) {
            return invalid(format!("symbol {} is already listed", spec.symbol));
        }
        if !self.indexes.contains_key(&spec.index) {
            return invalid(format!("index {} does not exist", spec.index));
        }
        if spec.expiry <= self.time {
            return invalid("expiry must be in the future".into());
        }
        let value = lot_tick_value(spec);
        if !value.is_some_and(|v| v > 0 && v <= MAX_LOT_TICK_VALUE) {
            return invalid(format!(
                "tick size × multiplier × lot size must be in 1..={MAX_LOT_TICK_VALUE}"
            ));
        }
        if !spec.reference_price.is_positive() || spec.reference_price.get() > MAX_TICKS {
            return invalid("reference price must be positive and within bounds".into());
        }
        let (min, max) = (crate::oracle::CHECKPOINT_MS, crate::oracle::HISTORY_MS);
        if !(min..=max).contains(&spec.settlement_window_ms) {
            return invalid(format!(
                "settlement window must be {min}..={max} ms (one TWAP checkpoint to the history \
                 kept)"
            ));
        }
        check_params(&spec.params)
    }

    /// The validator set that the next change should build on: the newest scheduled one, or the
    /// current one.
    fn latest_validator_set(&self) -> &ValidatorSet {
        self.pending_validators.values().next_back().unwrap_or(&self.validators)
    }

    fn execute_action(&mut self, action: &GovAction, events: &mut Events) -> Result<(), Reject> {
        self.touched.globals = true;
        match action {
            GovAction::ListMarket(spec) => {
                let market = self.list_market(spec.clone())?;
                self.market_mut(market)?.status = MarketStatus::Active;
                events.push(Event::MarketListed { market, symbol: spec.symbol.clone() });
            }
            GovAction::SetMarketParams { market, params } => {
                self.market_mut(*market)?.spec.params = *params;
                events.push(Event::MarketParamsSet { market: *market });
            }
            GovAction::SetMarketStatus { market, change } => {
                self.change_status(*market, *change, events)?
            }
            GovAction::SetRiskParams(risk) => {
                self.risk = *risk;
                events.push(Event::RiskParamsSet);
                self.refresh_guaranty_requirements(events);
            }
            GovAction::AddValidator(v) => {
                let mut validators = self.latest_validator_set().validators.clone();
                validators.push(*v);
                self.schedule_validators(validators, events)?;
            }
            GovAction::RemoveValidator { consensus_key } => {
                let mut validators = self.latest_validator_set().validators.clone();
                validators.retain(|v| v.consensus_key != *consensus_key);
                self.schedule_validators(validators, events)?;
            }
            GovAction::AddMember(m) => {
                let limits = self.members().next().map(|a| a.limits).unwrap_or(
                    tokenbook_protocol::AccountLimits {
                        max_order_qty: Qty::new(1),
                        max_open_orders: 1,
                        max_position: Qty::new(1),
                    },
                );
                let account = self
                    .open_account(AccountKind::Member, m.key, None, limits, 0)
                    .map_err(|e| Reject::new(RejectCode::InvalidProposal, e.message))?;
                // It owes the floor before the accounts it clears may take risk.
                self.account_mut(account)?.guaranty.required = self.risk.guaranty_floor;
                events.push(Event::MemberAdded { account });
            }
            GovAction::RemoveMember { member } => {
                self.return_guaranty(*member, events);
                self.account_mut(*member)?.kind = AccountKind::Trader;
                events.push(Event::MemberRemoved { account: *member });
            }
            GovAction::ListIndex(spec) => {
                let index = self.list_index(spec.clone());
                events.push(Event::IndexListed { index });
            }
            GovAction::TransferAccounts { from, to } => {
                let moved = self.transfer_accounts(*from, *to);
                events.push(Event::AccountsTransferred { from: *from, to: *to, accounts: moved });
            }
            GovAction::FundInsurance { amount } => {
                self.fee_pool = Cash::new(self.fee_pool.get() - amount.get());
                self.insurance_fund = Cash::new(self.insurance_fund.get() + amount.get());
                events.push(Event::InsuranceFunded { amount: *amount });
            }
        }
        Ok(())
    }

    /// Halt, resume, or delist (every order cancelled, every position settled at the mark).
    fn change_status(
        &mut self,
        market: MarketId,
        change: MarketStatusChange,
        events: &mut Events,
    ) -> Result<(), Reject> {
        let status = match change {
            MarketStatusChange::Halt => MarketStatus::Halted,
            MarketStatusChange::Resume => MarketStatus::Active,
            MarketStatusChange::Delist => MarketStatus::Settling,
        };
        if change == MarketStatusChange::Delist {
            let mark = self.market_mut(market)?.mark;
            self.settle_market(market, mark, events);
            return Ok(());
        }
        self.market_mut(market)?.status = status;
        events.push(Event::MarketStatusChanged { market, status });
        Ok(())
    }

    /// New validator sets take effect two heights after the block that decided them.
    fn schedule_validators(
        &mut self,
        validators: Vec<tokenbook_protocol::Validator>,
        events: &mut Events,
    ) -> Result<(), Reject> {
        let set = ValidatorSet::new(validators)
            .map_err(|e| Reject::new(RejectCode::InvalidProposal, e))?;
        let height = Height::new(self.height.get() + 2);
        self.pending_validators.insert(height, set);
        events.push(Event::ValidatorSetScheduled { height });
        Ok(())
    }

    fn is_member(&self, account: AccountId) -> bool {
        self.accounts.get(&account).is_some_and(|a| a.kind == AccountKind::Member)
    }

    /// Every account `from` clears is cleared by `to` from now on; how many moved.
    fn transfer_accounts(&mut self, from: AccountId, to: AccountId) -> u64 {
        let moving: Vec<AccountId> =
            self.accounts.values().filter(|a| a.member == from).map(|a| a.id).collect();
        for id in &moving {
            if let Some(account) = self.accounts.get_mut(id) {
                account.member = to;
            }
            self.touched.account(*id);
        }
        u64::try_from(moving.len()).unwrap_or(u64::MAX)
    }

    /// Adds a market in pre-open status.
    pub(crate) fn list_market(&mut self, spec: MarketSpec) -> Result<MarketId, Reject> {
        self.check_listing(&spec)?;
        let id = self.next_market;
        self.next_market = MarketId::new(id.get() + 1);
        let Some(lot_tick_value) = lot_tick_value(&spec) else {
            return reject(RejectCode::Overflow, "lot tick value overflows");
        };
        self.symbols.insert(spec.symbol.clone(), id);
        let market = Market {
            id,
            mark: spec.reference_price,
            spec,
            status: MarketStatus::PreOpen,
            lot_tick_value: Cash::new(lot_tick_value),
            long_interest: Qty::ZERO,
            short_interest: Qty::ZERO,
            book: Book::new(),
        };
        self.markets.insert(id, market);
        self.touched.markets.push(id);
        self.touched.globals = true;
        Ok(id)
    }
}

fn lot_tick_value(spec: &MarketSpec) -> Option<i128> {
    spec.tick_size
        .get()
        .checked_mul(i128::from(spec.multiplier))?
        .checked_mul(i128::from(spec.lot_size))
}

/// Market parameters: maintenance below initial, taker fee covering any maker rebate, and a
/// price band no wider than initial minus maintenance margin (so one fill at the band's edge
/// cannot take an account at initial margin past maintenance; issue #18).
fn check_params(p: &MarketParams) -> Result<(), Reject> {
    let ok = p.maintenance_margin_bps > 0
        && p.maintenance_margin_bps < p.initial_margin_bps
        && p.initial_margin_bps <= 10_000
        && p.taker_fee_bps >= 0
        && p.taker_fee_bps <= 1_000
        && p.maker_fee_bps <= 1_000
        && p.maker_fee_bps >= -p.taker_fee_bps
        && p.price_band_bps > 0
        && p.price_band_bps <= p.initial_margin_bps - p.maintenance_margin_bps
        && p.position_limit.is_positive()
        && p.position_limit.get() <= MAX_LOTS
        && p.impact_lots.is_positive()
        && p.impact_lots <= p.position_limit;
    if ok {
        Ok(())
    } else {
        reject(RejectCode::InvalidProposal, format!("market parameters out of range: {p:?}"))
    }
}

pub(crate) fn check_risk(r: &RiskParams) -> Result<(), Reject> {
    let ok = r.oracle_freshness_ms > 0
        && (1..=MAX_LIQUIDATIONS_PER_BLOCK).contains(&r.max_liquidations_per_block)
        && r.liquidation_fee_bps <= 10_000
        && r.calendar_spread_charge_bps <= 10_000
        && r.settlement_epoch_ms > 0
        && r.mark_band_bps <= 10_000
        && r.cross_index_credit_bps <= 10_000
        && (0..=MAX_CASH).contains(&r.guaranty_floor.get())
        && r.guaranty_margin_bps <= 10_000
        && r.guaranty_assessment_cap_bps <= 10_000;
    if ok {
        Ok(())
    } else {
        reject(RejectCode::InvalidProposal, format!("risk parameters out of range: {r:?}"))
    }
}
