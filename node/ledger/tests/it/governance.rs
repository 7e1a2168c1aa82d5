//! Governance: quorum of more than two thirds of members, validator changes at h+2, admin halts.

use crate::harness::*;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

fn propose(h: &mut Harness, member: u64, action: GovAction) -> Result<Events, Reject> {
    let expires_at = Timestamp::new(h.time + 60_000);
    h.apply(Harness::member(member), TxBody::Propose(Propose { action, expires_at }))
}

fn proposal_id(events: &[Event]) -> ProposalId {
    events
        .iter()
        .find_map(
            |e| if let Event::ProposalOpened { proposal } = e { Some(*proposal) } else { None },
        )
        .unwrap()
}

#[test]
fn listing_needs_three_of_four_members() {
    let mut h = Harness::new();
    let spec = MarketSpec {
        symbol: "AIT-FRONTIER-MAR27".into(),
        expiry: Timestamp::new(DEC26_MS + 90 * 86_400_000),
        ..ait_spec()
    };
    let id = proposal_id(&propose(&mut h, 1, GovAction::ListMarket(spec.clone())).unwrap());
    assert_eq!(
        h.code(Harness::member(1), TxBody::Approve(Approve { proposal: id })),
        RejectCode::AlreadyApproved
    );
    h.apply(Harness::member(2), TxBody::Approve(Approve { proposal: id })).unwrap();
    assert!(h.state.market_by_symbol("AIT-FRONTIER-MAR27").is_none(), "2 of 4 is not a quorum");
    let events = h.apply(Harness::member(3), TxBody::Approve(Approve { proposal: id })).unwrap();
    assert!(events.iter().any(|e| matches!(e, Event::MarketListed { .. })));
    let market = h.state.market_by_symbol("AIT-FRONTIER-MAR27").unwrap();
    assert_eq!(market.status, state::MarketStatus::Active);
    assert_eq!(
        h.code(Harness::member(4), TxBody::Approve(Approve { proposal: id })),
        RejectCode::ProposalUnknown
    );
    // Listing the same symbol again is refused at proposal time.
    assert_eq!(
        propose(&mut h, 1, GovAction::ListMarket(spec)).unwrap_err().code,
        RejectCode::InvalidProposal
    );
}

#[test]
fn validator_changes_take_effect_two_heights_later() {
    let mut h = Harness::new();
    let newcomer = Validator {
        consensus_key: key(999).public_key(),
        network_key: key(998).public_key(),
        power: 5,
    };
    let id = proposal_id(&propose(&mut h, 1, GovAction::AddValidator(newcomer)).unwrap());
    h.apply(Harness::member(2), TxBody::Approve(Approve { proposal: id })).unwrap();
    let events = h.apply(Harness::member(3), TxBody::Approve(Approve { proposal: id })).unwrap();
    let decided_at = h.state.height;
    assert!(
        events
            .contains(&Event::ValidatorSetScheduled { height: Height::new(decided_at.get() + 2) })
    );
    assert!(h.state.validators.get(&newcomer.consensus_key).is_none());
    h.block(&[]);
    assert!(h.state.validators.get(&newcomer.consensus_key).is_none());
    h.block(&[]);
    assert!(h.state.validators.get(&newcomer.consensus_key).is_some());
}

#[test]
fn proposals_lapse_and_admins_halt_only() {
    let mut h = Harness::new();
    let id = proposal_id(
        &propose(&mut h, 1, GovAction::ListIndex(IndexSpec { name: "b200-usd-per-hour".into() }))
            .unwrap(),
    );
    h.advance(60_000);
    let out = h.block(&[]);
    assert!(out.begin_events.contains(&Event::ProposalExpired { proposal: id }));
    // Admin: halt at once, but not resume.
    let halt = GovAction::SetMarketStatus { market: AIT, change: MarketStatusChange::Halt };
    let resume = GovAction::SetMarketStatus { market: AIT, change: MarketStatusChange::Resume };
    let expires_at = Timestamp::new(h.time + 60_000);
    h.apply(ADMIN, TxBody::Propose(Propose { action: halt.clone(), expires_at })).unwrap();
    assert_eq!(h.state.markets[&AIT].status, state::MarketStatus::Halted);
    assert_eq!(
        h.code(ADMIN, TxBody::Propose(Propose { action: resume.clone(), expires_at })),
        RejectCode::NotMember
    );
    assert_eq!(
        h.code(ADMIN, TxBody::Propose(Propose { action: halt, expires_at })),
        RejectCode::InvalidProposal
    );
    let id = proposal_id(&propose(&mut h, 1, resume).unwrap());
    for m in 2..=3 {
        h.apply(Harness::member(m), TxBody::Approve(Approve { proposal: id })).unwrap();
    }
    assert_eq!(h.state.markets[&AIT].status, state::MarketStatus::Active);
}

#[test]
fn bad_parameters_are_refused() {
    let mut h = Harness::new();
    let bad = MarketParams { maintenance_margin_bps: 2_000, ..params() };
    let code = propose(&mut h, 1, GovAction::SetMarketParams { market: AIT, params: bad })
        .unwrap_err()
        .code;
    assert_eq!(code, RejectCode::InvalidProposal);
    let rebate_too_big = MarketParams { maker_fee_bps: -5, taker_fee_bps: 4, ..params() };
    let code =
        propose(&mut h, 1, GovAction::SetMarketParams { market: AIT, params: rebate_too_big })
            .unwrap_err()
            .code;
    assert_eq!(code, RejectCode::InvalidProposal);
    let expired = TxBody::Propose(Propose {
        action: GovAction::ListIndex(IndexSpec { name: "x".into() }),
        expires_at: Timestamp::new(h.time),
    });
    assert_eq!(h.code(Harness::member(1), expired), RejectCode::ProposalExpired);
}

#[test]
fn open_proposals_per_member_are_bounded() {
    let mut h = Harness::new();
    for i in 0..governance::MAX_OPEN_PROPOSALS {
        propose(&mut h, 1, GovAction::ListIndex(IndexSpec { name: format!("index-{i}") })).unwrap();
    }
    let err = propose(&mut h, 1, GovAction::ListIndex(IndexSpec { name: "one-more".into() }))
        .unwrap_err();
    assert_eq!(err.code, RejectCode::TooManyProposals);
    // Another member is not affected.
    propose(&mut h, 2, GovAction::ListIndex(IndexSpec { name: "one-more".into() })).unwrap();
}

#[test]
fn a_proposal_that_no_longer_applies_closes_without_effect() {
    let mut h = Harness::new();
    let spec = MarketSpec { symbol: "H100-HR-MAR27".into(), ..h100_spec() };
    let first = proposal_id(&propose(&mut h, 1, GovAction::ListMarket(spec.clone())).unwrap());
    let second = proposal_id(&propose(&mut h, 2, GovAction::ListMarket(spec)).unwrap());
    for m in [2, 3] {
        h.apply(Harness::member(m), TxBody::Approve(Approve { proposal: first })).unwrap();
    }
    assert!(h.state.market_by_symbol("H100-HR-MAR27").is_some());
    let markets = h.state.markets.len();
    h.apply(Harness::member(1), TxBody::Approve(Approve { proposal: second })).unwrap();
    let events =
        h.apply(Harness::member(3), TxBody::Approve(Approve { proposal: second })).unwrap();
    assert!(events.contains(&Event::ProposalExpired { proposal: second }));
    assert_eq!(h.state.markets.len(), markets);
    assert!(h.state.proposals.is_empty());
}

#[test]
fn delisting_settles_every_position_at_the_mark() {
    let mut h = Harness::new();
    let (long, short) = (h.trader(100_000_000_000), h.trader(100_000_000_000));
    h.apply(long, place(limit(H100, Side::Buy, 250, 4))).unwrap();
    h.apply(short, place(limit(H100, Side::Sell, 250, 4))).unwrap();
    h.apply(short, place(limit(H100, Side::Sell, 260, 1))).unwrap();
    let (long_cash, short_cash) = (h.cash(long), h.cash(short));
    let delist = GovAction::SetMarketStatus { market: H100, change: MarketStatusChange::Delist };
    let id = proposal_id(&propose(&mut h, 1, delist).unwrap());
    h.apply(Harness::member(2), TxBody::Approve(Approve { proposal: id })).unwrap();
    let events = h.apply(Harness::member(3), TxBody::Approve(Approve { proposal: id })).unwrap();
    // The feed holds the H100 index at its listing price, 250 ticks: the mark the market settles at.
    assert!(events.contains(&Event::MarketSettled { market: H100, price: Price::new(250) }));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::OrderCancelled { reason: CancelReason::MarketClosed, .. }))
    );
    // Bought and sold at the settlement price: no PnL moves, positions close.
    assert_eq!((h.cash(long), h.cash(short)), (long_cash, short_cash));
    assert_eq!((h.position(long, H100), h.position(short, H100)), (0, 0));
    assert_eq!(h.state.markets[&H100].status, state::MarketStatus::Settled);
}

/// Issue #18, finding 7: a settlement window must be one the index's TWAP can answer — at least
/// one checkpoint interval, at most the history kept.
#[test]
fn a_listing_with_a_settlement_window_the_twap_cannot_answer_is_refused() {
    let mut h = Harness::new();
    let listing = |symbol: &str, window: u64| {
        GovAction::ListMarket(MarketSpec {
            symbol: symbol.into(),
            expiry: Timestamp::new(DEC26_MS + 90 * 86_400_000),
            settlement_window_ms: window,
            ..ait_spec()
        })
    };
    for (symbol, window) in [("AIT-W0", 0), ("AIT-W1", 1), ("AIT-WDAY", 86_400_001)] {
        let refused = propose(&mut h, 1, listing(symbol, window)).unwrap_err();
        assert_eq!(refused.code, RejectCode::InvalidProposal, "window {window} ms");
    }
    for (symbol, window) in [("AIT-WMIN", 60_000), ("AIT-WMAX", 86_400_000)] {
        propose(&mut h, 1, listing(symbol, window)).unwrap();
    }
}

/// Issue #18, finding 7: genesis is held to the checks governance applies to the same values.
#[test]
fn genesis_risk_parameters_and_member_limits_pass_the_governance_checks() {
    assert!(genesis_state(&genesis()).is_ok());
    let no_liquidations = Genesis {
        risk: RiskParams { max_liquidations_per_block: 0, ..genesis().risk },
        ..genesis()
    };
    let refused = genesis_state(&no_liquidations).unwrap_err();
    assert!(refused.contains("risk parameters"), "{refused}");
    let no_orders = Genesis {
        member_limits: AccountLimits { max_open_orders: 0, ..genesis().member_limits },
        ..genesis()
    };
    let refused = genesis_state(&no_orders).unwrap_err();
    assert!(refused.contains("limits"), "{refused}");
}

/// Issue #18, finding 1: a price band wider than initial minus maintenance margin lets one fill
/// at the band's edge take an account at initial margin past maintenance; it is refused.
#[test]
fn a_band_wider_than_initial_minus_maintenance_margin_is_refused() {
    let mut h = Harness::new();
    let wide = MarketParams { price_band_bps: 501, ..params() };
    let refused = propose(&mut h, 1, GovAction::SetMarketParams { market: AIT, params: wide });
    assert_eq!(refused.unwrap_err().code, RejectCode::InvalidProposal);
    let spec = MarketSpec {
        symbol: "AIT-WIDE".into(),
        expiry: Timestamp::new(DEC26_MS + 90 * 86_400_000),
        params: wide,
        ..ait_spec()
    };
    assert_eq!(
        propose(&mut h, 1, GovAction::ListMarket(spec)).unwrap_err().code,
        RejectCode::InvalidProposal
    );
    let edge = MarketParams { price_band_bps: 500, ..params() };
    propose(&mut h, 1, GovAction::SetMarketParams { market: AIT, params: edge }).unwrap();
}

/// Issue #18, finding 3: removing a member stranded every account it cleared (its own too):
/// nobody could deposit, withdraw, freeze or set limits for them again. A member now leaves
/// only once governance has moved its accounts to another member.
#[test]
fn a_member_leaves_only_after_its_accounts_move_to_another_member() {
    let mut h = Harness::new();
    let (m1, m2) = (Harness::member(1), Harness::member(2));
    let t = h.trader_with(2, 1_000_000, 0);
    let refused = propose(&mut h, 1, GovAction::RemoveMember { member: m2 }).unwrap_err();
    assert_eq!(refused.code, RejectCode::InvalidProposal, "{}", refused.message);
    let same = propose(&mut h, 1, GovAction::TransferAccounts { from: m2, to: m2 });
    assert_eq!(same.unwrap_err().code, RejectCode::InvalidProposal);
    let events = h.govern(GovAction::TransferAccounts { from: m2, to: m1 });
    assert!(events.contains(&Event::AccountsTransferred { from: m2, to: m1, accounts: 2 }));
    h.govern(GovAction::RemoveMember { member: m2 });
    // Member 1 clears both now, the former member's own account included.
    h.deposit(1, m2, 5);
    for account in [t, m2] {
        let withdraw = TxBody::Withdraw(CashTransfer {
            account,
            amount: Cash::new(1),
            reference: Hash::digest(&account.get().to_le_bytes()),
        });
        h.apply(m1, withdraw).unwrap();
    }
    let freeze = TxBody::SetFrozen(SetFrozen { account: t, frozen: true });
    assert_eq!(h.code(m2, freeze), RejectCode::NotMember);
}
