//! Clearing members stand behind their traders (issue #18, build item 2): the default
//! waterfall layer by layer with exact cash, the top-up members owe before their traders may add
//! risk, and the guaranty requirement set from the traders' margin.
//!
//! Units: on AIT one tick on one lot is 10^6 cash units; 100 lots at 1,000 ticks are 10^11
//! notional, IM 10 % = 10^10, and each tick the price moves is 10^8 on 100 lots.

use crate::harness::*;
use tokenbook_ledger::state::Guaranty;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

/// The guaranty floor in these tests: $1,000.
const FLOOR: i128 = 1_000_000_000;

/// A harness whose members each start with [`FLOOR`] posted, a requirement of `margin_bps` of
/// their traders' IM, and at most half of a surviving member's contribution used per default.
fn harness(margin_bps: u32) -> Harness {
    let mut genesis = genesis();
    genesis.risk.guaranty_floor = Cash::new(FLOOR);
    genesis.risk.guaranty_margin_bps = margin_bps;
    genesis.risk.guaranty_assessment_cap_bps = 5_000;
    Harness::from_genesis(&genesis)
}

fn guaranty(h: &Harness, member: u64) -> Guaranty {
    h.state.accounts[&Harness::member(member)].guaranty
}

fn post(amount: i128) -> TxBody {
    TxBody::PostGuaranty(GuarantyTransfer { amount: Cash::new(amount) })
}

fn release(amount: i128) -> TxBody {
    TxBody::ReleaseGuaranty(GuarantyTransfer { amount: Cash::new(amount) })
}

/// `t` (member 1's trader, funded at exactly its initial margin after the fee) buys 100 AIT at
/// 1,000 from `c` (member 2's trader); the fee pool (4 bp taker − 1 bp rebate = 3 × 10^7) goes
/// to the insurance fund; member 1 holds `member_cash` in its own account.
fn long_hundred(h: &mut Harness, member_cash: i128) -> (AccountId, AccountId) {
    let t = h.trader_with(1, 10_040_000_000, 0);
    let c = h.trader_with(2, 1_000_000_000_000, 0);
    h.apply(c, place(limit(AIT, Side::Sell, 1_000, 100))).unwrap();
    h.apply(t, place(limit(AIT, Side::Buy, 1_000, 100))).unwrap();
    assert_eq!(h.cash(t), 10_000_000_000);
    h.govern(GovAction::FundInsurance { amount: Cash::new(30_000_000) });
    assert_eq!(h.state.insurance_fund, Cash::new(30_000_000));
    if member_cash > 0 {
        h.deposit(1, Harness::member(1), member_cash);
    }
    (t, c)
}

fn covered(events: &[Event], layer: DefaultLayer) -> Vec<(AccountId, i128)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DefaultCovered { layer: l, payer, amount, .. } if *l == layer => {
                Some((*payer, amount.get()))
            }
            _ => None,
        })
        .collect()
}

/// Everything held: Σ cash + fee pool + insurance fund + Σ guaranty = deposits − withdrawals.
fn assert_conserved(h: &Harness) {
    let s = &h.state;
    let held = s.total_cash.get() + s.fee_pool.get() + s.insurance_fund.get();
    assert_eq!(held + s.total_guaranty.get(), s.total_deposits.get() - s.total_withdrawals.get());
    invariants::check_full(s).unwrap();
}

/// One default that reaches every layer in turn. The index gaps from 1,000 to 850: t's equity
/// is 10^10 − 150 × 10^8 = −5 × 10^9. The layers behind it hold 2 × 10^9 (member 1's cash) +
/// 10^9 (its contribution) + 3 × 10^7 (the fund) + 3 × 5 × 10^8 (half of each other member's
/// contribution) = 4.53 × 10^9, so 4.7 × 10^8 is beyond them all: deleveraging closes t's 100
/// lots against c at the price where every layer is spent, 850 + ⌈4.7 × 10^8 / 10^8⌉ = 855 (c
/// bears 5 ticks). Then t's −4.5 × 10^9 is paid: member 1's cash 2 × 10^9, its contribution
/// 10^9, the fund 3 × 10^7, and members 2–4 pro rata 4.9 × 10^8 each (of caps of 5 × 10^8).
#[test]
fn a_default_reaches_each_layer_in_turn_with_exact_cash() {
    let mut h = harness(1_000);
    let (t, c) = long_hundred(&mut h, 2_000_000_000);
    assert_conserved(&h);
    h.set_index_ticks(AIT, 850);
    let e = h.block(&[]).end_events;
    assert!(e.contains(&Event::Liquidated {
        account: t,
        equity: Cash::new(-5_000_000_000),
        maintenance: Cash::new(4_250_000_000),
    }));
    assert!(e.contains(&Event::Deleveraged {
        market: AIT,
        account: t,
        counterparty: c,
        qty: Qty::new(100),
        price: Price::new(855),
    }));
    let [m1, m2, m3, m4] = [1, 2, 3, 4].map(Harness::member);
    assert_eq!(covered(&e, DefaultLayer::MemberCash), vec![(m1, 2_000_000_000)]);
    assert_eq!(covered(&e, DefaultLayer::MemberGuaranty), vec![(m1, 1_000_000_000)]);
    assert!(e.contains(&Event::InsurancePaid {
        account: t,
        amount: Cash::new(30_000_000),
        unpaid: Cash::new(1_470_000_000),
    }));
    assert_eq!(
        covered(&e, DefaultLayer::MutualGuaranty),
        vec![(m2, 490_000_000), (m3, 490_000_000), (m4, 490_000_000)]
    );
    assert!(!e.iter().any(|e| matches!(e, Event::BadDebt { .. })));
    // The order of the layers is the order of the events.
    let order: Vec<&str> = e
        .iter()
        .filter_map(|e| match e {
            Event::DefaultCovered { layer: DefaultLayer::MemberCash, .. } => Some("cash"),
            Event::DefaultCovered { layer: DefaultLayer::MemberGuaranty, .. } => Some("own"),
            Event::InsurancePaid { .. } => Some("fund"),
            Event::DefaultCovered { layer: DefaultLayer::MutualGuaranty, .. } => Some("mutual"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["cash", "own", "fund", "mutual", "mutual", "mutual"]);
    // Every member whose contribution was used is told what it owes.
    assert!(e.contains(&Event::GuarantyUsed {
        member: m1,
        account: t,
        amount: Cash::new(1_000_000_000),
        due: Cash::new(1_000_000_000),
    }));
    assert!(e.contains(&Event::GuarantyUsed {
        member: m3,
        account: t,
        amount: Cash::new(490_000_000),
        due: Cash::new(490_000_000),
    }));
    // Exact cash after the default: t's loss is realised into its position's cost until the
    // next variation-margin epoch moves it to cash; its equity is exactly zero.
    let equity = |h: &Harness, a: AccountId| margin::equity(&h.state, &h.state.accounts[&a]);
    assert_eq!((h.cash(t), h.position(t, AIT), equity(&h, t)), (14_500_000_000, 0, 0));
    assert_eq!(h.cash(m1), 0);
    assert_eq!(h.state.insurance_fund, Cash::ZERO);
    assert_eq!(
        guaranty(&h, 1),
        Guaranty { posted: Cash::ZERO, required: Cash::new(FLOOR), due: Cash::new(FLOOR) }
    );
    for member in 2..=4 {
        let g = guaranty(&h, member);
        assert_eq!((g.posted.get(), g.due.get()), (510_000_000, 490_000_000));
    }
    // c closed 100 lots at 855 against its sale at 1,000: +145 ticks × 10^8.
    assert_eq!(equity(&h, c), 1_000_000_000_000 + 10_000_000 + 14_500_000_000);
    assert_conserved(&h);
}

/// A small default stops at the first layer: the fund and the contributions are untouched.
#[test]
fn a_small_default_is_paid_by_the_clearing_member_alone() {
    let mut h = harness(1_000);
    let (t, _) = long_hundred(&mut h, 2_000_000_000);
    // At 895 t's equity is 10^10 − 105 × 10^8 = −5 × 10^8: the account and the layers bear the
    // mark, so its position closes at the mark and member 1's cash pays the rest.
    h.set_index_ticks(AIT, 895);
    let e = h.block(&[]).end_events;
    assert_eq!(covered(&e, DefaultLayer::MemberCash), vec![(Harness::member(1), 500_000_000)]);
    assert!(covered(&e, DefaultLayer::MemberGuaranty).is_empty());
    assert!(!e.iter().any(|e| matches!(e, Event::InsurancePaid { .. })));
    assert_eq!(
        (h.cash(Harness::member(1)), h.state.insurance_fund.get()),
        (1_500_000_000, 30_000_000)
    );
    assert_eq!(guaranty(&h, 1).posted.get(), FLOOR);
    assert!(!guaranty(&h, 1).is_short());
    assert_eq!((h.position(t, AIT), margin::equity(&h.state, &h.state.accounts[&t])), (0, 0));
    assert_conserved(&h);
}

/// A member whose contribution a default used must top up before any account it clears may
/// add risk; orders that cannot increase a position still go through; a release may not take
/// the contribution below its requirement.
#[test]
fn a_member_must_top_up_before_its_traders_add_risk() {
    let mut h = harness(1_000);
    let (_, c) = long_hundred(&mut h, 2_000_000_000);
    // u (member 1's) buys 2 lots from c, which stays short 2 after the default.
    let u = h.trader_with(1, 10_000_000_000, 0);
    h.apply(c, place(limit(AIT, Side::Sell, 1_000, 2))).unwrap();
    h.apply(u, place(limit(AIT, Side::Buy, 1_000, 2))).unwrap();
    h.set_index_ticks(AIT, 850);
    h.block(&[]);
    assert_eq!((h.position(u, AIT), h.position(c, AIT)), (2, -2));
    assert!(guaranty(&h, 1).is_short() && guaranty(&h, 2).is_short());
    // Member 1's trader, and member 2's (its contribution was assessed), are held to reducing.
    assert_eq!(h.code(u, place(limit(AIT, Side::Buy, 850, 1))), RejectCode::GuarantyShortfall);
    assert_eq!(h.code(c, place(limit(AIT, Side::Sell, 850, 1))), RejectCode::GuarantyShortfall);
    let mut reduce = limit(AIT, Side::Buy, 850, 1);
    reduce.reduce_only = true;
    h.apply(c, place(reduce)).unwrap();
    h.apply(u, place(limit(AIT, Side::Sell, 850, 1))).unwrap();
    assert_eq!((h.position(u, AIT), h.position(c, AIT)), (1, -1));
    // Member 1 has no cash left: it deposits, then posts; the top-up pays what is due first.
    let m1 = Harness::member(1);
    assert_eq!(h.code(m1, post(FLOOR)), RejectCode::InsufficientCash);
    h.deposit(1, m1, 1_500_000_000);
    let events = h.apply(m1, post(FLOOR)).unwrap();
    assert!(events.contains(&Event::GuarantyPosted {
        member: m1,
        amount: Cash::new(FLOOR),
        posted: Cash::new(FLOOR),
        due: Cash::ZERO,
    }));
    h.apply(u, place(limit(AIT, Side::Buy, 850, 1))).unwrap();
    assert_eq!(h.position(u, AIT), 1, "rests: nobody sells at 850 now");
    // Nothing above the requirement to release; after posting more, only the excess.
    assert_eq!(h.code(m1, release(1)), RejectCode::GuarantyRequired);
    h.apply(m1, post(300_000_000)).unwrap();
    assert_eq!(h.code(m1, release(300_000_001)), RejectCode::GuarantyRequired);
    h.apply(m1, release(300_000_000)).unwrap();
    assert_eq!((h.cash(m1), guaranty(&h, 1).posted.get()), (500_000_000, FLOOR));
    // Only members post; nobody posts nothing.
    assert_eq!(h.code(u, post(1)), RejectCode::NotMember);
    assert_eq!(h.code(m1, post(0)), RejectCode::AmountNotPositive);
    assert_conserved(&h);
}

/// The requirement follows the traders' margin at each variation-margin epoch, never below the
/// floor; a member admitted by governance owes the floor before its traders may trade.
#[test]
fn the_requirement_follows_the_traders_margin_each_epoch() {
    // Requirement: all of the traders' IM.
    let mut h = harness(10_000);
    let (_, c) = long_hundred(&mut h, 0);
    assert_eq!(guaranty(&h, 1).required.get(), FLOOR);
    // The next 12-hour epoch: t's and c's IM are 10^10 each at mark 1,000.
    h.advance(43_200_000);
    let e = h.block(&[]).end_events;
    for member in [1, 2] {
        assert!(e.contains(&Event::GuarantyRequired {
            member: Harness::member(member),
            required: Cash::new(10_000_000_000),
        }));
    }
    assert_eq!(guaranty(&h, 3).required.get(), FLOOR);
    assert_eq!(h.code(c, place(limit(AIT, Side::Sell, 1_000, 1))), RejectCode::GuarantyShortfall);
    h.deposit(2, Harness::member(2), 9_000_000_000);
    h.apply(Harness::member(2), post(9_000_000_000)).unwrap();
    h.apply(c, place(limit(AIT, Side::Sell, 1_000, 1))).unwrap();
    assert_conserved(&h);
}

/// Removing a member gives its contribution back to its account (which another member then
/// clears); nothing stays in the guaranty total.
#[test]
fn a_removed_member_gets_its_contribution_back() {
    let mut h = harness(1_000);
    let m4 = Harness::member(4);
    h.govern(GovAction::TransferAccounts { from: m4, to: Harness::member(1) });
    let e = h.govern(GovAction::RemoveMember { member: m4 });
    assert!(e.contains(&Event::GuarantyReleased {
        member: m4,
        amount: Cash::new(FLOOR),
        posted: Cash::ZERO,
    }));
    assert_eq!((h.cash(m4), h.state.total_guaranty.get()), (FLOOR, 3 * FLOOR));
    assert_conserved(&h);
}
