//! Liquidation, auto-deleveraging and the insurance fund; a market's whole life with exact cash.
//!
//! Units throughout: the AIT contracts' tick is $0.01 and one tick on one lot is worth $1 =
//! 10^6 cash units; at 1,000 ticks one lot is worth 10^9. IM 10 %, MM 5 %, maker −1 bp, taker
//! 4 bp, liquidation fee 50 bp (the devnet parameters).

use crate::harness::*;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

const M: MarketId = MarketId::new(3);
const DAY_MS: u64 = 86_400_000;

fn liquidated(events: &[Event]) -> Vec<AccountId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Liquidated { account, .. } => Some(*account),
            _ => None,
        })
        .collect()
}

/// A new January contract on the inference index, expiring 30 days after genesis (midnight).
fn list_january(h: &mut Harness) {
    let spec = MarketSpec {
        symbol: "AIT-FRONTIER-JAN27".into(),
        expiry: Timestamp::new(GENESIS_MS + 30 * DAY_MS),
        settlement_window_ms: 3_600_000,
        ..ait_spec()
    };
    let events = h.govern(GovAction::ListMarket(spec));
    assert!(events.iter().any(|e| matches!(e, Event::MarketListed { market: M, .. })));
}

/// The January market listed; a market maker `mm`, and `a` long 10 at 1,000 from `b`.
fn january_long_ten(h: &mut Harness) -> (AccountId, AccountId, AccountId) {
    list_january(h);
    let mm = h.trader(10_000_000_000_000);
    let (a, b) = (h.trader(1_250_000_000), h.trader(1_000_000_000_000));
    h.apply(b, place(limit(M, Side::Sell, 1_000, 10))).unwrap();
    h.apply(a, place(limit(M, Side::Buy, 1_000, 10))).unwrap();
    (mm, a, b)
}

/// The index falls to 923 (a not liquidated yet), where `mm` bids 877 for 10 (inside the band).
fn mm_bids_877(h: &mut Harness, mm: AccountId) {
    h.set_index_ticks(M, 923);
    assert!(liquidated(&h.block(&[]).end_events).is_empty());
    h.apply(mm, place(limit(M, Side::Buy, 877, 10))).unwrap();
}

#[test]
fn a_market_from_listing_to_final_settlement_with_exact_cash() {
    // The insurance fund alone behind the traders (the members' layers: tests/it/waterfall.rs).
    let mut h = Harness::without_guaranty();
    // Trading: a buys 10 at 1,000 from b. a pays the 4 bp taker fee on 10^10 (4 × 10^6), b earns
    // the 1 bp rebate; the fee pool keeps the difference.
    let (mm, a, b) = january_long_ten(&mut h);
    assert_eq!((h.cash(a), h.cash(b)), (1_246_000_000, 1_000_001_000_000));
    assert_eq!(h.state.fee_pool, Cash::new(3_000_000));
    // Governance moves the fee pool into the insurance fund.
    let events = h.govern(GovAction::FundInsurance { amount: Cash::new(3_000_000) });
    assert!(events.contains(&Event::InsuranceFunded { amount: Cash::new(3_000_000) }));
    assert_eq!((h.state.fee_pool, h.state.insurance_fund), (Cash::ZERO, Cash::new(3_000_000)));

    // The index falls to 923 (a's equity 476,000,000, above MM 461,500,000), where mm bids 877
    // (inside the 5 % band), then to 880. a's equity: 1,246,000,000 − 120 ticks × 10 lots ×
    // 10^6 = 46,000,000, below MM (5 % of 8.8 × 10^9 = 440,000,000). The bankruptcy limit with
    // the fund: 880 − ⌊(46 + 3) × 10^6 / 10^7⌋ = 876, so mm's bid at 877 takes the whole position.
    mm_bids_877(&mut h, mm);
    h.set_index_ticks(M, 880);
    let out = h.block(&[]);
    let e = &out.end_events;
    assert!(e.contains(&Event::Liquidated {
        account: a,
        equity: Cash::new(46_000_000),
        maintenance: Cash::new(440_000_000),
    }));
    // Fill 8.77 × 10^9: liquidation fee 50 bp = 43,850,000 to the fund, which pays mm's rebate
    // (877,000). a is left at 1,246,000,000 − 43,850,000 − 1,230,000,000 of realised loss =
    // −27,850,000, which the fund (3,000,000 + 43,850,000 − 877,000) pays.
    assert_eq!(fills(e), vec![(877, 10)]);
    assert!(e.iter().any(|e| matches!(e, Event::Fill { taker_fee, maker_fee, .. }
        if *taker_fee == Cash::new(43_850_000) && *maker_fee == Cash::new(-877_000))));
    assert!(e.contains(&Event::InsurancePaid {
        account: a,
        amount: Cash::new(27_850_000),
        unpaid: Cash::ZERO,
    }));
    assert_eq!(h.state.insurance_fund, Cash::new(18_123_000));
    assert_eq!((h.position(a, M), h.cash(a)), (0, 1_230_000_000));
    assert_eq!(margin::equity(&h.state, &h.state.accounts[&a]), 0);

    // c sells 10 at 880 to d; then the index jumps to 1,000 with an empty book. c's equity:
    // 996,480,000 − 1,200,000,000 = −203,520,000; with the fund, 185,397,000 short: no book price
    // can save it and the fund cannot cover it at the mark, so c's whole position is deleveraged
    // pro rata against the profitable longs (mm 10 lots at 877, d 10 at 880: 5 each) at the price
    // where c and the fund reach zero: 1,000 − ⌈185,397,000 / 10^7⌉ = 981.
    let (c, d) = (h.trader(1_000_000_000), h.trader(1_000_000_000));
    h.apply(d, place(limit(M, Side::Buy, 880, 10))).unwrap();
    h.apply(c, place(limit(M, Side::Sell, 880, 10))).unwrap();
    assert_eq!((h.cash(c), h.cash(d)), (996_480_000, 1_000_880_000));
    h.set_index_ticks(M, 1_000);
    let out = h.block(&[]);
    let e = &out.end_events;
    assert_eq!(liquidated(e), vec![c]);
    assert!(e.contains(&Event::Liquidated {
        account: c,
        equity: Cash::new(-203_520_000),
        maintenance: Cash::new(500_000_000),
    }));
    for counterparty in [mm, d] {
        assert!(e.contains(&Event::Deleveraged {
            market: M,
            account: c,
            counterparty,
            qty: Qty::new(5),
            price: Price::new(981),
        }));
    }
    // c: 996,480,000 − (9.81 − 8.8) × 10^9 = −13,520,000, paid by the fund (18,123,000).
    assert!(e.contains(&Event::InsurancePaid {
        account: c,
        amount: Cash::new(13_520_000),
        unpaid: Cash::ZERO,
    }));
    assert_eq!(h.state.insurance_fund, Cash::new(4_603_000));
    assert_eq!((h.position(c, M), h.position(d, M), h.position(mm, M)), (0, 5, 5));

    // Variation margin at the next 12-hour epoch, index 1,050: realised and unrealised PnL at
    // the mark move into cash. b (short 10 at 1,000) pays 500,000,000; mm (long 10 at 877, 5 of
    // them closed at 981) receives 520,000,000 + 865,000,000; a and c pay their realised losses;
    // d (long 10 at 880, 5 closed at 981) receives 505,000,000 + 850,000,000.
    h.set_index_ticks(M, 1_050);
    let epoch = h.state.risk.settlement_epoch_ms;
    h.time = (h.time / epoch + 1) * epoch;
    let out = h.block_at_current_time(&[]);
    assert!(
        out.end_events.contains(&Event::VariationMargin { market: M, price: Price::new(1_050) })
    );
    assert_eq!(h.cash(b), 1_000_001_000_000 - 500_000_000);
    assert_eq!(h.cash(mm), 10_000_000_000_000 + 877_000 + 1_385_000_000);
    assert_eq!((h.cash(a), h.cash(c), h.cash(d)), (0, 0, 2_355_880_000));

    // Expiry: the index is 1,100 for the two hours before it, so the TWAP over the one-hour
    // settlement window is exactly 1,100; b pays 50 ticks × 10 lots more, mm and d half each.
    let expiry = h.state.markets[&M].spec.expiry.get();
    h.time = expiry - 2 * 3_600_000;
    h.set_index_ticks(M, 1_100);
    while h.time < expiry - 60_000 {
        h.block_at_current_time(&[]);
        h.advance(59_000);
    }
    h.time = expiry;
    let out = h.block_at_current_time(&[]);
    assert!(
        out.begin_events.contains(&Event::MarketSettled { market: M, price: Price::new(1_100) })
    );
    assert_eq!(h.cash(b), 1_000_001_000_000 - 1_000_000_000);
    assert_eq!(h.cash(mm), 10_000_000_000_000 + 877_000 + 1_635_000_000);
    assert_eq!(h.cash(d), 2_605_880_000);
    assert_eq!(h.state.markets[&M].status, state::MarketStatus::Settled);
    // Every cash unit is accounted for: deposits = accounts + fee pool + insurance fund.
    assert_eq!(
        (h.state.fee_pool, h.state.insurance_fund),
        (Cash::new(2_640_000), Cash::new(4_603_000))
    );
    let held: i128 = [mm, a, b, c, d].iter().map(|x| h.cash(*x)).sum::<i128>()
        + h.state.fee_pool.get()
        + h.state.insurance_fund.get();
    assert_eq!(held, 10_000_000_000_000 + 1_250_000_000 + 1_000_000_000_000 + 2_000_000_000);
    invariants::check_full(&h.state).unwrap();
}

/// a long 10 at 1,000 with 1,074,000,000 deposited: after the 4,000,000 taker fee, equity at a
/// mark of `p` is 1,070,000,000 − (1,000 − p) × 10^7, and MM is p × 5 × 10^5.
fn long_ten(h: &mut Harness) -> AccountId {
    let (a, b) = (h.trader(1_074_000_000), h.trader(1_000_000_000_000));
    h.apply(b, place(limit(AIT, Side::Sell, 1_000, 10))).unwrap();
    h.apply(a, place(limit(AIT, Side::Buy, 1_000, 10))).unwrap();
    a
}

#[test]
fn equity_exactly_at_maintenance_margin_is_not_liquidated() {
    let mut h = Harness::new();
    let a = long_ten(&mut h);
    // At 940: equity 470,000,000 = MM 470,000,000.
    h.set_index_ticks(AIT, 940);
    let out = h.block(&[]);
    assert!(liquidated(&out.end_events).is_empty(), "{:?}", out.end_events);
    let account = &h.state.accounts[&a];
    assert_eq!(margin::equity(&h.state, account), 470_000_000);
    assert_eq!(margin::maintenance_margin(&h.state, account), 470_000_000);
    // At 939: equity 460,000,000 < MM 469,500,000. The book is empty and the fund too, so the
    // position is deleveraged against b at the mark (a's equity still covers it) — one lot only:
    // 9 lots need 422,550,000 (issue #18: deleveraging takes the minimum).
    h.set_index_ticks(AIT, 939);
    let out = h.block(&[]);
    assert_eq!(liquidated(&out.end_events), vec![a]);
    assert!(out.end_events.iter().any(|e| matches!(e, Event::Deleveraged { price, qty, .. }
        if *price == Price::new(939) && *qty == Qty::new(1))));
    assert_eq!(h.position(a, AIT), 9);
    assert_eq!(h.state.liquidation_need(a), None);
}

#[test]
fn liquidation_cancels_the_accounts_orders_first() {
    let mut h = Harness::new();
    let a = long_ten(&mut h);
    let resting = order_id(&h.apply(a, place(limit(AIT, Side::Sell, 1_040, 1))).unwrap());
    h.set_index_ticks(AIT, 900);
    let out = h.block(&[]);
    assert!(out.end_events.iter().any(|e| matches!(e, Event::OrderCancelled { order, reason: CancelReason::Liquidation, .. } if *order == resting)));
    assert!(h.state.accounts[&a].open_orders.is_empty());
}

#[test]
fn the_per_block_cap_leaves_a_backlog_for_the_next_block() {
    let mut h = Harness::new();
    let risk = RiskParams { max_liquidations_per_block: 1, ..h.state.risk };
    h.govern(GovAction::SetRiskParams(risk));
    let (a1, a2) = (long_ten(&mut h), long_ten(&mut h));
    h.set_index_ticks(AIT, 900);
    let out = h.block(&[]);
    // Both are short of margin by the same amount: the lower account id goes first.
    assert_eq!(liquidated(&out.end_events), vec![a1]);
    assert!(h.state.liquidation_backlog);
    assert!(kv::import(&kv::export(&h.state)).unwrap().liquidation_backlog, "persisted");
    let out = h.block(&[]);
    assert_eq!(liquidated(&out.end_events), vec![a2]);
    assert!(!h.state.liquidation_backlog);
    // Equity 70,000,000 at 900 carries one lot (MM 45,000,000): nine are deleveraged.
    assert_eq!((h.position(a1, AIT), h.position(a2, AIT)), (1, 1));
}

#[test]
fn funding_the_insurance_fund_is_bounded_by_the_fee_pool() {
    let mut h = Harness::new();
    let expires_at = Timestamp::new(h.time + 60_000);
    let action = GovAction::FundInsurance { amount: Cash::new(1) };
    let code = h.code(Harness::member(1), TxBody::Propose(Propose { action, expires_at }));
    assert_eq!(code, RejectCode::InvalidProposal);
}

#[test]
fn withdrawals_count_unrealised_losses_against_initial_margin() {
    let mut h = Harness::new();
    let a = long_ten(&mut h);
    // At 960: cash 1,070,000,000, equity 670,000,000, IM 960,000,000 — above MM (480,000,000),
    // so no liquidation, but not one unit of cash may leave.
    h.set_index_ticks(AIT, 960);
    h.block(&[]);
    assert_eq!(h.cash(a), 1_070_000_000);
    let withdraw = TxBody::Withdraw(CashTransfer {
        account: a,
        amount: Cash::new(1),
        reference: Hash::digest(b"w"),
    });
    assert_eq!(h.code(Harness::member(1), withdraw), RejectCode::InsufficientMargin);
}

/// Issue #18, finding 2: with the fund at 0, a flat account with negative equity waits for the
/// fund; a liquidation fee in the same pass refills the fund, so that account must be paid in
/// the same pass — else the committed state fails the full check and no node can load it.
#[test]
fn a_fee_that_refills_the_fund_pays_the_waiting_negative_accounts_in_the_same_block() {
    // The insurance fund alone behind the traders (the members' layers: tests/it/waterfall.rs).
    let mut h = Harness::without_guaranty();
    let (mm, a, b) = january_long_ten(&mut h);
    assert_eq!(h.state.insurance_fund, Cash::ZERO);
    // x is flat and 5,000,000 short (a loss the empty fund could not pay), its cash held by b.
    let x = h.trader(1_000_000);
    let debt = 1_000_000 + 5_000_000;
    h.state.accounts.get_mut(&x).unwrap().cash = Cash::new(-5_000_000);
    h.state.accounts.get_mut(&x).unwrap().positions.entry_or_default(M);
    let held = h.state.accounts[&b].cash.get() + debt;
    h.state.accounts.get_mut(&b).unwrap().cash = Cash::new(held);
    invariants::check_full(&h.state).unwrap();
    // a is liquidated into mm's bid; its 43,850,000 fee refills the fund (as in the test above).
    mm_bids_877(&mut h, mm);
    h.set_index_ticks(M, 880);
    let out = h.block(&[]);
    assert_eq!(liquidated(&out.end_events), vec![a, x], "x after the fee refilled the fund");
    assert!(out.end_events.contains(&Event::InsurancePaid {
        account: x,
        amount: Cash::new(5_000_000),
        unpaid: Cash::ZERO,
    }));
    invariants::check_full(&h.state).unwrap();
    kv::import(&kv::export(&h.state)).unwrap();
}
