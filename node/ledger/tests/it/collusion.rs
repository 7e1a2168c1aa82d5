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
