//! Issue #18, finding 1: two colluding accounts must not be able to move insurance-fund cash to
//! themselves by trading with each other away from the mark. The pre-trade check counts the
//! loss a fill at the order's own price would book against the mark (the worse of the order's
//! price and the mark), for new orders, resting orders, replaces and reduce-only orders.
//!
//! Units: AIT at 1,000 ticks, one tick on one lot = 10^6 cash units; IM 10 %, MM 5 %, band 20 %.

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
    // b's post-only ask 20 % above the mark: a sale above the mark books b a gain, so it rests.
    h.apply(b, post_only(limit(AIT, Side::Sell, 1_200, 100))).unwrap();
    // Bought at 1,200, a's 100 lots are worth 2 × 10^10 less at the mark: a would be bankrupt.
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 1_200, 100))), RejectCode::InsufficientMargin);
    assert_eq!(h.position(a, AIT), 0);
    // At the mark it is within margin.
    h.apply(a, place(limit(AIT, Side::Buy, 1_000, 100))).unwrap();
}

#[test]
fn a_resting_bid_above_the_mark_needs_the_loss_it_would_book() {
    let mut h = Harness::new();
    let a = h.trader(AT_IM);
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 1_200, 100))), RejectCode::InsufficientMargin);
    // A sell below the mark is the mirror.
    assert_eq!(h.code(a, place(limit(AIT, Side::Sell, 800, 100))), RejectCode::InsufficientMargin);
}

#[test]
fn a_replace_into_the_cross_needs_the_loss_it_would_book() {
    let mut h = Harness::new();
    let a = h.trader(AT_IM);
    let bid = order_id(&h.apply(a, place(limit(AIT, Side::Buy, 1_000, 100))).unwrap());
    let up = TxBody::ReplaceOrder(ReplaceOrder {
        market: AIT,
        order: OrderRef::Id(bid),
        new_price: Price::new(1_200),
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
    // Selling the 100 lots at 800 books a 2 × 10^10 loss against equity of ~10^10.
    let mut dump = limit(AIT, Side::Sell, 800, 100);
    dump.reduce_only = true;
    assert_eq!(h.code(a, place(dump.clone())), RejectCode::InsufficientMargin);
    // Reducing at the mark is always allowed.
    dump.price = Price::new(1_000);
    h.apply(a, place(dump)).unwrap();
}
