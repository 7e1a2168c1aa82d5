//! Index oracle: quorum of fresh member submissions, lower median, stale fallback, mark price.

use crate::harness::*;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

const FRONTIER: IndexId = IndexId::new(1);

fn publish(h: &mut Harness, member: u64, micro_usd: i128) -> BlockOutcome {
    let body = TxBody::PublishIndex(IndexObservation {
        index: FRONTIER,
        price: Cash::new(micro_usd),
        observed_at: Timestamp::new(h.time),
    });
    let tx = h.tx(Harness::member(member), body);
    let out = h.block(&[tx]);
    assert!(out.receipts[0].result.is_ok(), "{:?}", out.receipts[0]);
    out
}

#[test]
fn a_quorum_of_fresh_prices_sets_the_index_and_the_mark_follows_within_the_band() {
    let mut h = Harness::new();
    h.feed = false;
    let (buyer, seller) = (h.trader(1_000_000_000_000), h.trader(1_000_000_000_000));
    // No index price yet: the market refuses orders that could add risk.
    assert_eq!(h.code(buyer, place(limit(AIT, Side::Buy, 999, 1))), RejectCode::IndexStale);
    // Two of four members are not a quorum (more than two thirds = 3).
    for member in [1, 2] {
        let out = publish(&mut h, member, 10_400_000);
        assert!(out.end_events.is_empty(), "{:?}", out.end_events);
    }
    assert_eq!(h.state.indexes[&FRONTIER].price, None);
    assert_eq!(h.state.markets[&AIT].mark, Price::new(1_000));
    // The third: prices 10.3, 10.4, 10.4 (USD) → lower median 10.4 → 1,040 ticks; the book is
    // empty, so the mark is the index.
    let out = publish(&mut h, 3, 10_300_000);
    assert_eq!(
        out.end_events.to_vec(),
        vec![
            Event::IndexFresh { index: FRONTIER, price: Cash::new(10_400_000) },
            Event::MarkChanged { market: AIT, price: Price::new(1_040) },
        ]
    );
    // With a two-sided book at least `impact_lots` (10) deep on each side within the band, the
    // mark is clamped to 1% around its impact mid (999/1,001 → 990..1,010).
    h.apply(buyer, place(limit(AIT, Side::Buy, 999, 10))).unwrap();
    let tx = h.tx(seller, place(limit(AIT, Side::Sell, 1_001, 10)));
    let out = h.block(&[tx]);
    assert_eq!(
        out.end_events.to_vec(),
        vec![Event::MarkChanged { market: AIT, price: Price::new(1_010) }]
    );
    // The H100 market's index has no price: its mark stays at the listing price.
    assert_eq!(h.state.markets[&H100].mark, Price::new(250));
    // Thirty seconds of block time later the submissions are no longer fresh: the index turns
    // stale and keeps its last good price (and the mark).
    h.advance(30_000);
    let out = h.block(&[]);
    assert_eq!(out.end_events.to_vec(), vec![Event::IndexStale { index: FRONTIER }]);
    assert_eq!(h.state.indexes[&FRONTIER].price, Some(Cash::new(10_400_000)));
    assert_eq!(h.state.markets[&AIT].mark, Price::new(1_010));
    // Stale: more risk is refused, reducing or risk-neutral orders pass (the buyer is flat with
    // one open buy of 10; a sell of 1 cannot take the worst case beyond 10).
    assert_eq!(h.code(seller, place(limit(AIT, Side::Sell, 1_002, 1))), RejectCode::IndexStale);
    h.apply(buyer, place(limit(AIT, Side::Sell, 1_003, 1))).unwrap();
    // Fresh again, lower: 8, 9, 10 → 9 USD = 900 ticks. The book's 999/1,001 levels are beyond
    // the 5% band around 900, so they do not hold the mark: it is the index (and the bid at
    // 999, now more than the band above the mark, leaves the book).
    for (member, price) in [(1, 8_000_000), (2, 9_000_000), (4, 10_000_000)] {
        publish(&mut h, member, price);
    }
    assert!(h.state.indexes[&FRONTIER].fresh);
    assert_eq!(h.state.indexes[&FRONTIER].price, Some(Cash::new(9_000_000)));
    assert_eq!(h.state.markets[&AIT].mark, Price::new(900));
    assert_eq!(h.state.markets[&AIT].book.best_bid(), None);
}

#[test]
fn oracle_state_survives_a_store_round_trip() {
    let mut h = Harness::new();
    h.feed = false;
    for member in 1..=3 {
        publish(&mut h, member, 10_000_000);
    }
    let reloaded = kv::import(&kv::export(&h.state)).unwrap();
    assert_eq!(reloaded.indexes, h.state.indexes);
    assert_eq!(reloaded.markets[&AIT].mark, h.state.markets[&AIT].mark);
}

/// Without the feed: the index at $10 (1,000 ticks), and two traders 10 lots long and short at
/// 1,000.
fn long_and_short_at_1000() -> (Harness, AccountId, AccountId) {
    let mut h = Harness::new();
    h.feed = false;
    let (long, short) = (h.trader(100_000_000_000), h.trader(100_000_000_000));
    for member in 1..=3 {
        publish(&mut h, member, 10_000_000);
    }
    h.apply(long, place(limit(AIT, Side::Buy, 1_000, 10))).unwrap();
    h.apply(short, place(limit(AIT, Side::Sell, 1_000, 10))).unwrap();
    (h, long, short)
}

#[test]
fn variation_margin_moves_pnl_at_the_mark_into_cash_at_each_epoch() {
    let (mut h, long, short) = long_and_short_at_1000();
    // The index rises to $11 = 1,100 ticks; the book is empty, so the mark follows.
    for member in 1..=3 {
        publish(&mut h, member, 11_000_000);
    }
    assert_eq!(h.state.markets[&AIT].mark, Price::new(1_100));
    let (long_cash, short_cash) = (h.cash(long), h.cash(short));
    // The next 12-hour epoch boundary of block time.
    let epoch = h.state.risk.settlement_epoch_ms;
    h.time = (h.time / epoch + 1) * epoch;
    let out = h.block_at_current_time(&[]);
    assert!(
        out.end_events.contains(&Event::VariationMargin { market: AIT, price: Price::new(1_100) })
    );
    // 100 ticks × 10 lots × $1 (10^6 micro-USD) per tick-lot.
    assert_eq!(h.cash(long) - long_cash, 1_000_000_000);
    assert_eq!(h.cash(short) - short_cash, -1_000_000_000);
    let cost = |a| h.state.accounts[&a].positions.get(&AIT).unwrap().cost.get();
    assert_eq!((cost(long), cost(short)), (11_000_000_000, -11_000_000_000));
    // Within the same epoch nothing moves again.
    let out = h.block(&[]);
    assert!(!out.end_events.iter().any(|e| matches!(e, Event::VariationMargin { .. })));
}

#[test]
fn at_expiry_every_position_settles_at_the_index_twap() {
    let (mut h, long, short) = long_and_short_at_1000();
    h.apply(short, place(limit(AIT, Side::Sell, 1_040, 1))).unwrap(); // rests until expiry
    let expiry = h.state.markets[&AIT].spec.expiry.get();
    // $12 from two hours before expiry, $14 from half an hour before; a block every minute.
    h.time = expiry - 2 * 3_600_000;
    for member in 1..=3 {
        publish(&mut h, member, 12_000_000);
    }
    while h.time < expiry - 1_800_000 {
        h.advance(59_000);
        h.block_at_current_time(&[]);
    }
    for member in 1..=3 {
        publish(&mut h, member, 14_000_000);
    }
    while h.time < expiry - 60_000 {
        h.advance(59_000);
        h.block_at_current_time(&[]);
    }
    let (long_cash, short_cash) = (h.cash(long), h.cash(short));
    h.time = expiry;
    let out = h.block_at_current_time(&[]);
    let price = out
        .begin_events
        .iter()
        .find_map(|e| match e {
            Event::MarketSettled { market, price } if *market == AIT => {
                Some(i128::from(price.get()))
            }
            _ => None,
        })
        .expect("the market settles at its expiry");
    // Half the window at 1,200 ticks and half at 1,400, to within the checkpoint minute.
    assert!((1_295..=1_305).contains(&price), "settlement price {price}");
    assert_eq!(h.cash(long) - long_cash, (price - 1_000) * 10 * 1_000_000);
    assert_eq!(h.cash(short) - short_cash, -(price - 1_000) * 10 * 1_000_000);
    assert_eq!(h.position(long, AIT), 0);
    assert!(h.state.accounts[&short].positions.get(&AIT).is_none());
    assert!(h.state.markets[&AIT].book.is_empty());
    assert_eq!(h.state.markets[&AIT].status, state::MarketStatus::Settled);
    // A settled market takes no orders.
    assert_eq!(h.code(long, place(limit(AIT, Side::Buy, 1_000, 1))), RejectCode::MarketNotActive);
}

/// Issue #18, finding 6: the book moves the mark only through its depth near the index — the
/// impact prices of `impact_lots` on each side, from levels within the band around the index.
/// A thin book, or the one order left when a side is swept, leaves the mark at the index.
#[test]
fn the_mark_resists_a_thin_or_swept_book() {
    let mut h = Harness::new();
    let (maker, taker) = (h.trader(1_000_000_000_000), h.trader(1_000_000_000_000));
    let impact = h.state.markets[&AIT].spec.params.impact_lots.get();
    assert!(impact > 1);
    // Index 1,000. A deep two-sided book at 999/1,001 and one lone bid at 960 below it.
    h.apply(maker, place(limit(AIT, Side::Buy, 999, impact))).unwrap();
    h.apply(maker, place(limit(AIT, Side::Sell, 1_001, impact))).unwrap();
    h.apply(maker, place(limit(AIT, Side::Buy, 960, 1))).unwrap();
    h.block(&[]);
    assert_eq!(h.state.markets[&AIT].mark, Price::new(1_000));
    // The taker sweeps the 999 bid: one lot at 960 is all the bid side has left. It used to
    // pull the mid to 980 and the mark to 989.
    let sweep = NewOrder { time_in_force: TimeInForce::Ioc, ..limit(AIT, Side::Sell, 999, impact) };
    h.apply(taker, place(sweep)).unwrap();
    h.block(&[]);
    assert_eq!(h.state.markets[&AIT].mark, Price::new(1_000), "one far order moved the mark");
    // A deep bid side again, but beyond the band around the index: no influence either.
    h.set_index_ticks(AIT, 1_040);
    h.block(&[]);
    assert_eq!(h.state.markets[&AIT].mark, Price::new(1_040));
}
