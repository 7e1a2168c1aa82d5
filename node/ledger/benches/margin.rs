//! The pre-trade margin check at 10 markets per account (issue #18, build item 4; the bound is
//! 50 µs per order): five expiries on each of the two devnet indexes, an account holding a
//! position and open orders in every one, and `margin::order_shortfall` for one more order —
//! the portfolio scan (9 scenarios per index), the spread charges and the cross-index credit.
//! Also the maintenance margin (the liquidation test) of the same account.
//!
//! `cargo bench -p tokenbook-ledger --bench margin`

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap
)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tokenbook_ledger::margin::{self, OrderRisk};
use tokenbook_ledger::state::{Account, AccountKind, GenesisMember};
use tokenbook_ledger::*;
use tokenbook_protocol::*;

const MONTHS: [&str; 5] = ["DEC26", "JAN27", "FEB27", "MAR27", "APR27"];

fn ten_markets() -> LedgerState {
    let key = |seed: u8| Keypair::from_seed(&[seed; 32]).public_key();
    let member = GenesisMember {
        name: "Member".into(),
        key: key(1),
        validator: Some(Validator { consensus_key: key(2), network_key: key(3), power: 1 }),
    };
    let mut genesis = tokenbook_ledger::genesis::devnet(
        "margin-bench",
        Timestamp::new(1_000),
        vec![member],
        vec![],
    );
    genesis.risk.cross_index_credit_bps = 2_500;
    let bases = [genesis.markets[0].clone(), genesis.markets[1].clone()];
    genesis.markets = bases
        .iter()
        .flat_map(|base| {
            MONTHS.iter().enumerate().map(move |(i, month)| {
                let (stem, _) = base.symbol.rsplit_once('-').unwrap();
                MarketSpec {
                    symbol: format!("{stem}-{month}"),
                    expiry: Timestamp::new(base.expiry.get() + i as u64 * 2_592_000_000),
                    ..base.clone()
                }
            })
        })
        .collect();
    genesis_state(&genesis).unwrap()
}

/// Positions alternating long and short across expiries (calendar spreads on both indexes),
/// with resting orders on both sides of every market.
fn account(state: &LedgerState) -> Account {
    let member = state.members().next().unwrap();
    let mut account = Account::new(
        AccountId::new(99),
        AccountKind::Trader,
        PublicKey([9; 32]),
        member.id,
        member.limits,
        0,
    );
    account.cash = Cash::new(1_000_000_000_000_000);
    for (i, id) in state.markets.keys().enumerate() {
        let p = account.positions.entry_or_default(*id);
        let lots = 10 + i as i64;
        p.qty = Qty::new(if i % 2 == 0 { lots } else { -lots });
        p.open_buy = Qty::new(3);
        p.open_sell = Qty::new(5);
    }
    account
}

fn bench(c: &mut Criterion) {
    let state = ten_markets();
    assert_eq!(state.markets.len(), 10);
    let account = account(&state);
    let market = *state.markets.keys().nth(3).unwrap();
    let order = OrderRisk {
        market,
        side: Side::Buy,
        price: state.markets[&market].mark,
        qty: Qty::new(4),
        added: Qty::new(4),
        reduce_only: false,
    };
    assert!(margin::order_shortfall(&state, &account, &order).is_none());
    let mut group = c.benchmark_group("margin_10_markets");
    group.bench_function("pre_trade_order_shortfall", |b| {
        b.iter(|| margin::order_shortfall(black_box(&state), black_box(&account), &order));
    });
    group.bench_function("maintenance_margin", |b| {
        b.iter(|| margin::maintenance_margin(black_box(&state), black_box(&account)));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
