//! Issue #18, finding 1: two colluding accounts must not be able to move insurance-fund cash to
//! themselves by trading with each other away from the mark. The pre-trade check counts the
//! loss a fill at the order's own price would book against the mark (the worse of the order's
//! price and the mark), for new orders, resting orders, replaces and reduce-only orders.
//!
//! Units: AIT at 1,000 ticks, one tick on one lot = 10^6 cash units; IM 10 %, MM 5 %, band 5 %
//! (before issue #18 the devnet band was 20 %, and each attack below moved fund cash to the pair).

use crate::harness::*;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

/// IM of 100 lots at the mark of 1,000 ticks, plus room for fees.
const AT_IM: i128 = 10_000_000_000 + 100_000_000;

fn post_only(mut order: NewOrder) -> TxBody {
    order.time_in_force = TimeInForce::PostOnly;
    place(order)
}

#[test]
fn a_buy_far_above_the_mark_needs_the_loss_it_would_book() {
    let mut h = Harness::new();
    let (a, b) = (h.trader(AT_IM), h.trader(1_000_000_000_000));
    // b's post-only ask 5 % above the mark: a sale above the mark books b a gain, so it rests.
    h.apply(b, post_only(limit(AIT, Side::Sell, 1_050, 100))).unwrap();
    // Bought at 1,050, a's 100 lots are worth 5 × 10^9 less at the mark: a would fall from
    // initial margin to maintenance in one fill.
    let buy = place(limit(AIT, Side::Buy, 1_050, 100));
    assert_eq!(h.code(a, buy), RejectCode::InsufficientMargin);
    assert_eq!(h.position(a, AIT), 0);
    // At the mark it is within margin.
    h.apply(a, place(limit(AIT, Side::Buy, 1_000, 100))).unwrap();
}

#[test]
fn a_resting_bid_above_the_mark_needs_the_loss_it_would_book() {
    let mut h = Harness::new();
    let a = h.trader(AT_IM);
    let bid = place(limit(AIT, Side::Buy, 1_050, 100));
    assert_eq!(h.code(a, bid), RejectCode::InsufficientMargin);
    // A sell below the mark is the mirror.
    let ask = place(limit(AIT, Side::Sell, 950, 100));
    assert_eq!(h.code(a, ask), RejectCode::InsufficientMargin);
}

#[test]
fn a_replace_into_the_cross_needs_the_loss_it_would_book() {
    let mut h = Harness::new();
    let a = h.trader(AT_IM);
    let bid = order_id(&h.apply(a, place(limit(AIT, Side::Buy, 1_000, 100))).unwrap());
    let up = TxBody::ReplaceOrder(ReplaceOrder {
        market: AIT,
        order: OrderRef::Id(bid),
        new_price: Price::new(1_050),
        new_qty: Qty::new(100),
    });
    assert_eq!(h.code(a, up), RejectCode::InsufficientMargin);
}

#[test]
fn a_reduce_only_sale_far_below_the_mark_cannot_leave_negative_equity() {
    let mut h = Harness::new();
    let (a, b) = (h.trader(AT_IM), h.trader(1_000_000_000_000));
    h.apply(b, place(limit(AIT, Side::Sell, 1_000, 100))).unwrap();
    h.apply(a, place(limit(AIT, Side::Buy, 1_000, 100))).unwrap();
    // a's equity down to 10^9 (its cash moved to b: as after losses elsewhere this block).
    let moved = h.cash(a) - 1_000_000_000;
    h.state.accounts.get_mut(&a).unwrap().cash = Cash::new(1_000_000_000);
    let held = h.cash(b) + moved;
    h.state.accounts.get_mut(&b).unwrap().cash = Cash::new(held);
    // Selling the 100 lots at 950 books a 5 × 10^9 loss against equity of 10^9.
    let mut dump = limit(AIT, Side::Sell, 950, 100);
    dump.reduce_only = true;
    // Reducing at the mark is always allowed (same block: a is liquidated at its end).
    let mut at_mark = dump.clone();
    at_mark.price = Price::new(1_000);
    let txs = [h.tx(a, place(dump)), h.tx(a, place(at_mark))];
    let out = h.block(&txs);
    let code = |tx: &Tx| {
        let receipt = out.receipts.iter().find(|r| r.tx_hash == tx.hash()).unwrap();
        receipt.result.as_ref().err().map(|e| e.code)
    };
    assert_eq!(code(&txs[0]), Some(RejectCode::InsufficientMargin));
    assert_eq!(code(&txs[1]), None);
}

/// A resting bid placed at the mark and left there while the mark falls would, filled later,
/// book a loss of the whole fall. When the mark moves, bids more than the band above it and
/// asks more than the band below it leave the book (the side a fill there would lose on).
#[test]
fn resting_orders_the_mark_leaves_beyond_the_band_are_cancelled() {
    let mut h = Harness::new();
    let (a, b) = (h.trader(AT_IM), h.trader(AT_IM));
    let bid = order_id(&h.apply(a, place(limit(AIT, Side::Buy, 1_000, 100))).unwrap());
    let low_bid = order_id(&h.apply(b, place(limit(AIT, Side::Buy, 950, 10))).unwrap());
    // The index falls 9 %: the mark follows to 910 (a one-sided book does not clamp it). The
    // band's top is now 955.5: the bid at 1,000 goes, the one at 950 stays.
    h.set_index_ticks(AIT, 910);
    let out = h.block(&[]);
    assert_eq!(h.state.markets[&AIT].mark, Price::new(910));
    let cancelled: Vec<(OrderId, CancelReason)> = out
        .end_events
        .iter()
        .filter_map(|e| match e {
            Event::OrderCancelled { order, reason, .. } => Some((*order, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, vec![(bid, CancelReason::OutsideBand)]);
    assert!(h.state.markets[&AIT].book.get(low_bid).is_some());
    assert!(h.state.accounts[&a].open_orders.is_empty());
    invariants::check_full(&h.state).unwrap();
}

/// One move of the colluding pair: `who` 0 is `a` (funded at random), 1 is `b` (deep pockets).
/// Prices are `edge_pct` percent of the price band away from the mark (beyond 100, refused).
#[derive(Clone, Debug)]
enum Move {
    /// A new order.
    Place { who: u8, buy: bool, edge_pct: i64, qty: i64, tif: u8, reduce_only: bool },
    /// The account's `nth` open order to a new price and size.
    Replace { who: u8, nth: usize, edge_pct: i64, qty: i64 },
    /// The account's `nth` open order cancelled.
    Cancel { who: u8, nth: usize },
    /// The attack: `b` rests a post-only order at the price, `a` takes it in the next block.
    Cross { a_buys: bool, edge_pct: i64, qty: i64 },
}

fn a_move() -> impl proptest::strategy::Strategy<Value = Move> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (0u8..2, any::<bool>(), -110i64..=110, 1i64..=300, 0u8..3, prop::bool::weighted(0.2))
            .prop_map(|(who, buy, edge_pct, qty, tif, reduce_only)| Move::Place {
                who, buy, edge_pct, qty, tif, reduce_only,
            }),
        1 => (0u8..2, 0usize..4, -110i64..=110, 1i64..=300)
            .prop_map(|(who, nth, edge_pct, qty)| Move::Replace { who, nth, edge_pct, qty }),
        1 => (0u8..2, 0usize..4).prop_map(|(who, nth)| Move::Cancel { who, nth }),
        3 => (any::<bool>(), 0i64..=100, 1i64..=300)
            .prop_map(|(a_buys, edge_pct, qty)| Move::Cross { a_buys, edge_pct, qty }),
    ]
}

/// The price `edge_pct` percent of the band from the mark.
fn price_at(h: &Harness, edge_pct: i64) -> i64 {
    let m = &h.state.markets[&AIT];
    let (mark, band) = (m.mark.get(), i64::from(m.spec.params.price_band_bps));
    (mark + mark * band * edge_pct / 1_000_000).max(1)
}

/// This block's txs for `m`, and the next block's.
fn txs_of(h: &mut Harness, pair: [AccountId; 2], m: &Move) -> (Vec<Tx>, Vec<Tx>) {
    let nth_order = |h: &Harness, who: u8, nth: usize| {
        h.state.accounts[&pair[usize::from(who)]].open_orders.iter().nth(nth).copied()
    };
    let side = |buy: bool| if buy { Side::Buy } else { Side::Sell };
    match *m {
        Move::Place { who, buy, edge_pct, qty, tif, reduce_only } => {
            let time_in_force =
                [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::PostOnly][usize::from(tif)];
            let price = price_at(h, if buy { edge_pct } else { -edge_pct });
            let order =
                NewOrder { time_in_force, reduce_only, ..limit(AIT, side(buy), price, qty) };
            (vec![h.tx(pair[usize::from(who)], place(order))], Vec::new())
        }
        Move::Replace { who, nth, edge_pct, qty } => {
            let Some(order) = nth_order(h, who, nth) else { return (Vec::new(), Vec::new()) };
            let body = TxBody::ReplaceOrder(ReplaceOrder {
                market: AIT,
                order: OrderRef::Id(order),
                new_price: Price::new(price_at(h, edge_pct)),
                new_qty: Qty::new(qty),
            });
            (vec![h.tx(pair[usize::from(who)], body)], Vec::new())
        }
        Move::Cancel { who, nth } => {
            let Some(order) = nth_order(h, who, nth) else { return (Vec::new(), Vec::new()) };
            let body = TxBody::CancelOrder(CancelOrder { market: AIT, order: OrderRef::Id(order) });
            (vec![h.tx(pair[usize::from(who)], body)], Vec::new())
        }
        Move::Cross { a_buys, edge_pct, qty } => {
            // The price a fill would lose `a` money at: above the mark when it buys.
            let price = price_at(h, if a_buys { edge_pct } else { -edge_pct });
            let rest = NewOrder {
                time_in_force: TimeInForce::PostOnly,
                ..limit(AIT, side(!a_buys), price, qty)
            };
            let take = NewOrder {
                time_in_force: TimeInForce::Ioc,
                ..limit(AIT, side(a_buys), price, qty)
            };
            (vec![h.tx(pair[1], place(rest))], vec![h.tx(pair[0], place(take))])
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 256, .. proptest::prelude::ProptestConfig::default()
    })]

    /// Issue #18: two colluding accounts, over random bands, index levels, third-party books
    /// and insurance funds, trading with each other and the book at any price they like (and
    /// moving the mark with their own depth), never take insurance-fund cash: neither is ever
    /// liquidated, paid by the fund or deleveraged, and the fund never shrinks.
    #[test]
    fn two_colluding_accounts_never_take_insurance_fund_cash(
        band in 1u32..=500,
        index in 500i64..=2_000,
        a_cash in 100_000_000i128..=100_000_000_000,
        fund in 0i128..=10_000_000_000,
        book in proptest::collection::vec((proptest::bool::ANY, -100i64..=100, 1i64..=50), 0..12),
        blocks in proptest::collection::vec(proptest::collection::vec(a_move(), 1..6), 1..12),
    ) {
        let mut h = Harness::new();
        h.govern(GovAction::SetMarketParams {
            market: AIT,
            params: MarketParams { price_band_bps: band, ..params() },
        });
        h.set_index_ticks(AIT, index);
        h.block(&[]);
        // A fund to drain (as if governance had moved fees into it).
        h.state.insurance_fund = Cash::new(fund);
        h.state.total_deposits = Cash::new(h.state.total_deposits.get() + fund);
        let maker = h.trader(1_000_000_000_000_000);
        let resting: Vec<Tx> = book
            .iter()
            .map(|(buy, pct, qty)| {
                let side = if *buy { Side::Buy } else { Side::Sell };
                let price = price_at(&h, *pct);
                let order =
                    NewOrder { time_in_force: TimeInForce::PostOnly, ..limit(AIT, side, price, *qty) };
                h.tx(maker, place(order))
            })
            .collect();
        h.block(&resting);
        let pair = [h.trader(a_cash), h.trader(1_000_000_000_000)];
        let mut fund_before = h.state.insurance_fund.get();
        let mut next = Vec::new();
        for moves in blocks.iter().chain([&Vec::new()]) {
            let mut txs = std::mem::take(&mut next);
            for m in moves {
                let (now, later) = txs_of(&mut h, pair, m);
                txs.extend(now);
                next.extend(later);
            }
            let out = h.block(&txs);
            let events = out.receipts.iter().filter_map(|r| r.result.as_ref().ok()).flatten();
            for event in events.chain(out.end_events.iter()) {
                let touches_pair = match event {
                    Event::Liquidated { account, .. } | Event::InsurancePaid { account, .. } => {
                        pair.contains(account)
                    }
                    Event::Deleveraged { account, counterparty, .. } => {
                        pair.contains(account) || pair.contains(counterparty)
                    }
                    _ => false,
                };
                proptest::prop_assert!(!touches_pair, "{event:?} (band {band}, index {index})");
            }
            let fund_now = h.state.insurance_fund.get();
            proptest::prop_assert!(fund_now >= fund_before, "the fund shrank: {fund_before} → {fund_now}");
            fund_before = fund_now;
        }
    }
}
