//! Trading through `apply_block`: every order type, each refusal with its own code, fees and
//! positions to the unit.

use crate::harness::*;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

const FUNDS: i128 = 1_000_000_000_000; // $1,000,000 in micro-USD

#[test]
fn a_fill_moves_positions_and_fees_exactly() {
    let mut h = Harness::new();
    let (maker, taker) = (h.trader(FUNDS), h.trader(FUNDS));
    h.apply(maker, place(limit(AIT, Side::Sell, 1_010, 30))).unwrap();
    let events = h.apply(taker, place(limit(AIT, Side::Buy, 1_010, 10))).unwrap();
    assert_eq!(fills(&events), vec![(1_010, 10)]);
    // Notional: 1,010 ticks × 10 lots × $1 per tick per lot = $10,100 = 10,100,000,000 µUSD.
    // Taker pays 4 bps = 4,040,000; maker earns a 1 bp rebate = 1,010,000.
    assert_eq!(h.cash(taker), FUNDS - 4_040_000);
    assert_eq!(h.cash(maker), FUNDS + 1_010_000);
    assert_eq!(h.state.fee_pool, Cash::new(3_030_000));
    assert_eq!((h.position(taker, AIT), h.position(maker, AIT)), (10, -10));
    assert_eq!(h.state.markets[&AIT].long_interest, Qty::new(10));
    let book = &h.state.markets[&AIT].book;
    assert_eq!(book.depth(Side::Sell, 5), vec![(Price::new(1_010), Qty::new(20), 1)]);
}

#[test]
fn price_time_priority_across_accounts() {
    let mut h = Harness::new();
    let (a, b, c) = (h.trader(FUNDS), h.trader(FUNDS), h.trader(FUNDS));
    let first = order_id(&h.apply(a, place(limit(AIT, Side::Sell, 1_005, 5))).unwrap());
    let second = order_id(&h.apply(b, place(limit(AIT, Side::Sell, 1_005, 5))).unwrap());
    let better = order_id(&h.apply(b, place(limit(AIT, Side::Sell, 1_004, 1))).unwrap());
    let events = h.apply(c, place(limit(AIT, Side::Buy, 1_005, 8))).unwrap();
    let makers: Vec<OrderId> = events
        .iter()
        .filter_map(
            |e| if let Event::Fill { maker_order, .. } = e { Some(*maker_order) } else { None },
        )
        .collect();
    assert_eq!(makers, vec![better, first, second]);
    assert_eq!(fills(&events), vec![(1_004, 1), (1_005, 5), (1_005, 2)]);
}

#[test]
fn ioc_fok_and_post_only() {
    let mut h = Harness::new();
    let (maker, taker) = (h.trader(FUNDS), h.trader(FUNDS));
    h.apply(maker, place(limit(AIT, Side::Sell, 1_000, 5))).unwrap();
    // FOK for more than is there: refused, nothing trades.
    let fok = NewOrder { time_in_force: TimeInForce::Fok, ..limit(AIT, Side::Buy, 1_000, 6) };
    assert_eq!(h.code(taker, place(fok)), RejectCode::FillOrKillUnfilled);
    assert_eq!(h.position(taker, AIT), 0);
    // Post-only that would take: refused.
    let post = NewOrder { time_in_force: TimeInForce::PostOnly, ..limit(AIT, Side::Buy, 1_000, 1) };
    assert_eq!(h.code(taker, place(post)), RejectCode::PostOnlyWouldTake);
    // IOC for more than is there: fills 5, cancels 1, rests nothing.
    let ioc = NewOrder { time_in_force: TimeInForce::Ioc, ..limit(AIT, Side::Buy, 1_000, 6) };
    let events = h.apply(taker, place(ioc)).unwrap();
    assert_eq!(fills(&events), vec![(1_000, 5)]);
    assert!(events.iter().any(|e| matches!(e, Event::OrderCancelled { remaining, reason: CancelReason::ImmediateOrCancel, .. } if remaining.get() == 1)));
    assert!(h.state.markets[&AIT].book.is_empty());
    // A market order must be IOC or FOK.
    let market_gtc = NewOrder { kind: OrderKind::Market, ..limit(AIT, Side::Buy, 1_100, 1) };
    assert_eq!(h.code(taker, place(market_gtc)), RejectCode::InvalidOrderType);
}

#[test]
fn self_trade_prevention_per_account_and_group() {
    let mut h = Harness::new();
    let a = h.trader_with(1, FUNDS, 77);
    let b = h.trader_with(1, FUNDS, 77); // same owner group
    let c = h.trader(FUNDS);
    let resting = order_id(&h.apply(a, place(limit(AIT, Side::Sell, 1_000, 5))).unwrap());
    h.apply(c, place(limit(AIT, Side::Sell, 1_001, 5))).unwrap();
    // Group member b buys with expire-maker: a's order is cancelled, c's fills.
    let events = h.apply(b, place(limit(AIT, Side::Buy, 1_001, 5))).unwrap();
    assert!(events.iter().any(|e| matches!(e, Event::OrderCancelled { order, reason: CancelReason::SelfTrade, .. } if *order == resting)));
    assert_eq!(fills(&events), vec![(1_001, 5)]);
    // Expire taker: the incoming order stops at its own resting order.
    h.apply(a, place(limit(AIT, Side::Sell, 1_002, 5))).unwrap();
    let taker = NewOrder {
        self_trade: SelfTradePrevention::ExpireTaker,
        ..limit(AIT, Side::Buy, 1_002, 5)
    };
    let events = h.apply(a, place(taker)).unwrap();
    assert!(fills(&events).is_empty());
    assert!(events.iter().any(|e| matches!(e, Event::OrderCancelled { reason: CancelReason::SelfTrade, remaining, .. } if remaining.get() == 5)));
    assert_eq!(h.state.markets[&AIT].book.len(), 1);
}

/// A self-trade group is the member's own: an account another member registers with the same
/// group number is a different party. Before, it shared the group, so its expire-maker buy
/// cancelled the first firm's resting orders at no cost (no fill, no fee) — one member could
/// clear another firm's quotes off the book.
#[test]
fn a_self_trade_group_does_not_reach_across_members() {
    let mut h = Harness::new();
    let firm = h.trader_with(1, FUNDS, 77);
    let rival = h.trader_with(2, FUNDS, 77);
    let resting = order_id(&h.apply(firm, place(limit(AIT, Side::Sell, 1_000, 5))).unwrap());
    let events = h.apply(rival, place(limit(AIT, Side::Buy, 1_000, 5))).unwrap();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::OrderCancelled { order, .. } if *order == resting)),
        "another member's account cancelled the resting order: {events:?}"
    );
    assert_eq!(fills(&events), vec![(1_000, 5)]);
}

#[test]
fn reduce_only_never_increases() {
    let mut h = Harness::new();
    let (a, b) = (h.trader(FUNDS), h.trader(FUNDS));
    let ro = |side, qty| NewOrder { reduce_only: true, ..limit(AIT, side, 1_000, qty) };
    assert_eq!(h.code(a, place(ro(Side::Sell, 1))), RejectCode::ReduceOnlyWouldIncrease);
    h.apply(b, place(limit(AIT, Side::Sell, 1_000, 3))).unwrap();
    h.apply(a, place(limit(AIT, Side::Buy, 1_000, 3))).unwrap();
    assert_eq!(h.code(a, place(ro(Side::Buy, 1))), RejectCode::ReduceOnlyWouldIncrease);
    // A reduce-only sell of 10 against a long of 3 is clipped to 3.
    let events = h.apply(a, place(ro(Side::Sell, 10))).unwrap();
    assert!(events.iter().any(|e| matches!(e, Event::OrderAccepted { qty, .. } if qty.get() == 3)));
}

#[test]
fn replace_keeps_priority_only_when_shrinking_at_the_same_price() {
    let mut h = Harness::new();
    let (a, b, c) = (h.trader(FUNDS), h.trader(FUNDS), h.trader(FUNDS));
    let first = order_id(&h.apply(a, place(limit(AIT, Side::Buy, 990, 10))).unwrap());
    let second = order_id(&h.apply(b, place(limit(AIT, Side::Buy, 990, 10))).unwrap());
    let replace = |order, price, qty| {
        TxBody::ReplaceOrder(ReplaceOrder {
            market: AIT,
            order: OrderRef::Id(order),
            new_price: Price::new(price),
            new_qty: Qty::new(qty),
        })
    };
    let events = h.apply(a, replace(first, 990, 4)).unwrap();
    assert!(matches!(events[0], Event::OrderReplaced { kept_priority: true, .. }));
    let queue: Vec<OrderId> = h.state.markets[&AIT].book.orders(Side::Buy).map(|o| o.id).collect();
    assert_eq!(queue, vec![first, second]);
    // Growing it sends it to the back.
    let events = h.apply(a, replace(first, 990, 6)).unwrap();
    assert!(matches!(events[0], Event::OrderReplaced { kept_priority: false, .. }));
    let queue: Vec<OrderId> = h.state.markets[&AIT].book.orders(Side::Buy).map(|o| o.id).collect();
    assert_eq!(queue, vec![second, first]);
    assert_eq!(h.code(a, replace(first, 990, 6)), RejectCode::InvalidReplace);
    assert_eq!(h.code(c, replace(first, 990, 1)), RejectCode::OrderUnknown);
    // Replacing across the spread trades.
    h.apply(c, place(limit(AIT, Side::Sell, 1_000, 2))).unwrap();
    let events = h.apply(a, replace(first, 1_000, 6)).unwrap();
    assert_eq!(fills(&events), vec![(1_000, 2)]);
}

#[test]
fn cancel_by_id_client_id_and_all() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let with_cid =
        NewOrder { client_order_id: Some(ClientOrderId::new(9)), ..limit(AIT, Side::Buy, 990, 1) };
    h.apply(a, place(with_cid.clone())).unwrap();
    assert_eq!(h.code(a, place(with_cid)), RejectCode::ClientOrderIdInUse);
    let cancel = |order| TxBody::CancelOrder(CancelOrder { market: AIT, order });
    h.apply(a, cancel(OrderRef::Client(ClientOrderId::new(9)))).unwrap();
    assert_eq!(
        h.code(a, cancel(OrderRef::Client(ClientOrderId::new(9)))),
        RejectCode::OrderUnknown
    );
    let id = order_id(&h.apply(a, place(limit(AIT, Side::Buy, 991, 1))).unwrap());
    h.apply(a, cancel(OrderRef::Id(id))).unwrap();
    h.apply(a, place(limit(AIT, Side::Buy, 992, 1))).unwrap();
    h.apply(a, place(limit(H100, Side::Buy, 249, 1))).unwrap();
    let events = h.apply(a, TxBody::CancelAll(CancelAll { market: Some(AIT) })).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(h.state.accounts[&a].open_orders.len(), 1);
    h.apply(a, TxBody::CancelAll(CancelAll { market: None })).unwrap();
    assert!(h.state.accounts[&a].open_orders.is_empty());
}

#[test]
fn good_til_time_and_deadman_switch() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let gtt = NewOrder {
        time_in_force: TimeInForce::Gtt(Timestamp::new(h.time + 2_500)),
        ..limit(AIT, Side::Buy, 990, 1)
    };
    h.apply(a, place(gtt)).unwrap(); // block at +1s, expires at +2.5s
    assert_eq!(h.state.markets[&AIT].book.len(), 1);
    let out = h.block(&[]); // +2s
    assert!(out.begin_events.is_empty());
    let out = h.block(&[]); // +3s: expired
    assert!(matches!(
        out.begin_events[0],
        Event::OrderCancelled { reason: CancelReason::Expired, .. }
    ));
    let past = NewOrder {
        time_in_force: TimeInForce::Gtt(Timestamp::new(h.time)),
        ..limit(AIT, Side::Buy, 990, 1)
    };
    assert_eq!(h.code(a, place(past)), RejectCode::ExpiredOnArrival);

    h.apply(a, TxBody::SetDeadman(SetDeadman { timeout_ms: 1_500 })).unwrap();
    h.apply(a, place(limit(AIT, Side::Buy, 990, 1))).unwrap(); // +1s: not fired
    assert_eq!(h.state.markets[&AIT].book.len(), 1);
    let out = h.block(&[]); // +2s: fired
    assert!(matches!(out.begin_events[0], Event::DeadmanFired { .. }));
    assert!(matches!(
        out.begin_events[1],
        Event::OrderCancelled { reason: CancelReason::DeadmanSwitch, .. }
    ));
    assert!(h.state.markets[&AIT].book.is_empty());
    // Refreshing moves the deadline; 0 disarms.
    h.apply(a, TxBody::SetDeadman(SetDeadman { timeout_ms: 1_500 })).unwrap(); // fires at +1.5s
    h.apply(a, place(limit(AIT, Side::Buy, 990, 1))).unwrap(); // +1s
    h.apply(a, TxBody::SetDeadman(SetDeadman { timeout_ms: 0 })).unwrap(); // +2s: fired first
    assert!(h.state.markets[&AIT].book.is_empty());
    h.apply(a, TxBody::SetDeadman(SetDeadman { timeout_ms: 2_500 })).unwrap(); // t: fires at t+2.5s
    h.apply(a, place(limit(AIT, Side::Buy, 990, 1))).unwrap(); // t+1s
    h.apply(a, TxBody::SetDeadman(SetDeadman { timeout_ms: 2_500 })).unwrap(); // t+2s: now t+4.5s
    h.block(&[]); // t+3s: the old deadline has passed, the refreshed one has not
    assert_eq!(h.state.markets[&AIT].book.len(), 1);
    h.apply(a, TxBody::SetDeadman(SetDeadman { timeout_ms: 0 })).unwrap(); // t+4s: disarmed
    h.block(&[]);
    h.block(&[]);
    assert_eq!(h.state.markets[&AIT].book.len(), 1);
}

#[test]
fn each_bad_order_has_its_own_code() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let poor = h.trader(1_000_000); // $1
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 1_000, 0))), RejectCode::QtyNotPositive);
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 1_000, -5))), RejectCode::QtyNotPositive);
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 0, 1))), RejectCode::PriceNotPositive);
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, i64::MAX, i64::MAX))), RejectCode::Overflow);
    assert_eq!(
        h.code(a, place(limit(MarketId::new(99), Side::Buy, 1_000, 1))),
        RejectCode::MarketUnknown
    );
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 1_201, 1))), RejectCode::PriceOutsideBand);
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 1_000, 1_001))), RejectCode::OrderTooLarge);
    assert_eq!(
        h.code(poor, place(limit(AIT, Side::Buy, 1_000, 1))),
        RejectCode::InsufficientMargin
    );
    assert_eq!(
        h.code(ADMIN, place(limit(AIT, Side::Buy, 1_000, 1))),
        RejectCode::AccountCannotTrade
    );
    // Position limit: 5,000 lots per account; open orders count toward it.
    for _ in 0..5 {
        h.apply(a, place(limit(AIT, Side::Buy, 960, 1_000))).unwrap();
    }
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 960, 1))), RejectCode::PositionLimit);
    // Halted market (an admin halts at once).
    let halt = TxBody::Propose(Propose {
        action: GovAction::SetMarketStatus { market: H100, change: MarketStatusChange::Halt },
        expires_at: Timestamp::new(h.time + 60_000),
    });
    h.apply(ADMIN, halt).unwrap();
    assert_eq!(h.code(a, place(limit(H100, Side::Buy, 250, 1))), RejectCode::MarketNotActive);
}

#[test]
fn too_many_open_orders() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let txs: Vec<Tx> =
        (0..100).map(|i| h.tx(a, place(limit(AIT, Side::Buy, 950 + i % 50, 1)))).collect();
    let out = h.block(&txs);
    assert!(out.receipts.iter().all(|r| r.result.is_ok()));
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 950, 1))), RejectCode::TooManyOpenOrders);
    // An IOC does not rest, so it is still allowed.
    let ioc = NewOrder { time_in_force: TimeInForce::Ioc, ..limit(AIT, Side::Sell, 1_040, 1) };
    assert!(h.apply(a, place(ioc)).is_ok());
}

#[test]
fn stop_and_take_profit_orders_wait_for_the_mark() {
    let mut h = Harness::new();
    let (a, maker) = (h.trader(FUNDS), h.trader(FUNDS));
    h.apply(maker, place(limit(AIT, Side::Sell, 1_020, 2))).unwrap();
    h.apply(maker, place(limit(AIT, Side::Buy, 980, 10))).unwrap();
    let stop = |side, trigger: i64, price| NewOrder {
        trigger: Some(Trigger { kind: TriggerKind::Stop, price: Price::new(trigger) }),
        ..limit(AIT, side, price, 2)
    };
    let buy_stop = order_id(&h.apply(a, place(stop(Side::Buy, 1_010, 1_020))).unwrap());
    let sell_stop = order_id(&h.apply(a, place(stop(Side::Sell, 990, 980))).unwrap());
    let take_profit = NewOrder {
        trigger: Some(Trigger { kind: TriggerKind::TakeProfit, price: Price::new(1_015) }),
        ..limit(AIT, Side::Sell, 1_015, 1)
    };
    let tp = order_id(&h.apply(a, place(take_profit)).unwrap());
    assert!(h.state.markets[&AIT].book.get(buy_stop).is_none(), "a stop rests off the book");
    assert_eq!(h.state.accounts[&a].open_orders.len(), 3);
    // Mark 1,000 → 1,010: the buy stop fires and takes the 1,020 offer.
    h.set_index_ticks(AIT, 1_010);
    let out = h.block(&[]);
    assert!(out.end_events.contains(&Event::OrderTriggered {
        order: buy_stop,
        market: AIT,
        account: a
    }));
    assert_eq!(fills(&out.end_events), vec![(1_020, 2)]);
    assert_eq!(h.position(a, AIT), 2);
    // Mark → 1,015: the take-profit sell fires and rests at 1,015.
    h.set_index_ticks(AIT, 1_015);
    let out = h.block(&[]);
    assert!(out.end_events.contains(&Event::OrderTriggered { order: tp, market: AIT, account: a }));
    assert_eq!(h.state.markets[&AIT].book.get(tp).map(|o| o.qty), Some(Qty::new(1)));
    // Mark → 990: the sell stop fires and hits the 980 bid.
    h.set_index_ticks(AIT, 990);
    let out = h.block(&[]);
    assert!(out.end_events.contains(&Event::OrderTriggered {
        order: sell_stop,
        market: AIT,
        account: a
    }));
    assert_eq!(fills(&out.end_events), vec![(980, 2)]);
    // A stop whose order is refused when it fires is cancelled with the reason.
    // (Placed at mark 990 with a limit of 945, inside the 5% band; fired at mark 1,006 — the
    // index at 1,010 clamped around the 980/1,015 book — outside.)
    let far = NewOrder {
        trigger: Some(Trigger { kind: TriggerKind::Stop, price: Price::new(1_005) }),
        ..limit(AIT, Side::Buy, 945, 1)
    };
    let id = order_id(&h.apply(a, place(far)).unwrap());
    h.set_index_ticks(AIT, 1_010);
    let out = h.block(&[]);
    assert!(out.end_events.iter().any(|e| matches!(e, Event::OrderCancelled { order, reason: CancelReason::TriggerRefused(RejectCode::PriceOutsideBand), .. } if *order == id)));
    invariants::check_full(&h.state).unwrap();
}

#[test]
fn reduce_only_makers_never_grow_a_position_within_one_sweep() {
    let mut h = Harness::new();
    let (m, other, taker) = (h.trader(FUNDS), h.trader(FUNDS), h.trader(FUNDS));
    // m is long 5.
    h.apply(other, place(limit(AIT, Side::Sell, 1_000, 5))).unwrap();
    h.apply(m, place(limit(AIT, Side::Buy, 1_000, 5))).unwrap();
    assert_eq!(h.position(m, AIT), 5);
    // A plain sell of 5 and a reduce-only sell of 5 (accepted: it reduces the long).
    h.apply(m, place(limit(AIT, Side::Sell, 1_001, 5))).unwrap();
    let ro = order_id(
        &h.apply(m, place(NewOrder { reduce_only: true, ..limit(AIT, Side::Sell, 1_002, 5) }))
            .unwrap(),
    );
    // A FOK for 10 cannot fill: the reduce-only order has no capacity once the plain sell fills.
    let fok = NewOrder { time_in_force: TimeInForce::Fok, ..limit(AIT, Side::Buy, 1_002, 10) };
    assert_eq!(h.code(taker, place(fok)), RejectCode::FillOrKillUnfilled);
    // One sweep for 10: the plain sell fills, then the reduce-only one would make m short: removed.
    let events = h
        .apply(
            taker,
            place(NewOrder { time_in_force: TimeInForce::Ioc, ..limit(AIT, Side::Buy, 1_002, 10) }),
        )
        .unwrap();
    assert_eq!(fills(&events), vec![(1_001, 5)]);
    assert!(events.iter().any(|e| matches!(e, Event::OrderCancelled { order, reason: CancelReason::ReduceOnly, .. } if *order == ro)));
    assert_eq!(h.position(m, AIT), 0);
    invariants::check_full(&h.state).unwrap();
}

#[test]
fn replacing_a_reduce_only_order_keeps_it_reduce_only() {
    let mut h = Harness::new();
    let (a, b) = (h.trader(FUNDS), h.trader(FUNDS));
    h.apply(b, place(limit(AIT, Side::Sell, 1_000, 3))).unwrap();
    h.apply(a, place(limit(AIT, Side::Buy, 1_000, 3))).unwrap(); // a is long 3
    let ro = NewOrder { reduce_only: true, ..limit(AIT, Side::Sell, 1_050, 2) };
    let id = order_id(&h.apply(a, place(ro)).unwrap());
    // Growing it to 10 clips it to the position (3); it stays reduce-only.
    let replace = TxBody::ReplaceOrder(ReplaceOrder {
        market: AIT,
        order: OrderRef::Id(id),
        new_price: Price::new(1_040),
        new_qty: Qty::new(10),
    });
    let events = h.apply(a, replace).unwrap();
    assert!(events.contains(&Event::OrderReplaced {
        order: id,
        price: Price::new(1_040),
        qty: Qty::new(3),
        kept_priority: false
    }));
    assert_eq!(
        h.state.markets[&AIT].book.get(id).map(|o| (o.qty, o.reduce_only)),
        Some((Qty::new(3), true))
    );
    // A buyer sweeping 10 takes only the 3 that reduce a's long to zero.
    let events = h
        .apply(
            b,
            place(NewOrder { time_in_force: TimeInForce::Ioc, ..limit(AIT, Side::Buy, 1_040, 10) }),
        )
        .unwrap();
    assert_eq!(fills(&events), vec![(1_040, 3)]);
    assert_eq!(h.position(a, AIT), 0);
}

/// Issue #18, finding 5: a replace that could grow the position passes the gates a new order
/// passes — the stale-index gate and the frozen check.
#[test]
fn replace_passes_the_stale_index_and_frozen_gates_of_new_orders() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let first = order_id(&h.apply(a, place(limit(AIT, Side::Buy, 990, 1))).unwrap());
    let replace = |price, qty| {
        TxBody::ReplaceOrder(ReplaceOrder {
            market: AIT,
            order: OrderRef::Id(first),
            new_price: Price::new(price),
            new_qty: Qty::new(qty),
        })
    };
    // The feed stops; thirty seconds later the index is stale.
    h.feed = false;
    h.advance(30_000);
    h.block(&[]);
    assert!(!h.state.indexes.values().any(|i| i.fresh));
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 990, 5))), RejectCode::IndexStale);
    assert_eq!(h.code(a, replace(990, 5)), RejectCode::IndexStale, "growing by replace");
    // Risk-neutral or smaller replaces still pass.
    h.apply(a, replace(985, 1)).unwrap();
    // A frozen account's orders are cancelled with the freeze, so nothing is left to replace.
    let b = h.trader(FUNDS);
    h.feed = true;
    h.advance(1_000);
    h.block(&[]);
    let resting = order_id(&h.apply(b, place(limit(AIT, Side::Buy, 990, 1))).unwrap());
    h.apply(Harness::member(1), TxBody::SetFrozen(SetFrozen { account: b, frozen: true })).unwrap();
    let grow = TxBody::ReplaceOrder(ReplaceOrder {
        market: AIT,
        order: OrderRef::Id(resting),
        new_price: Price::new(995),
        new_qty: Qty::new(5),
    });
    assert_eq!(h.code(b, grow), RejectCode::AccountFrozen);
}
