//! End-of-block risk work on a large ledger (docs/benchmarks.md "Marks, margin and
//! liquidation"): 100,000 accounts, each holding a position, and blocks whose only tx is the
//! oracle publication. Each block aggregates the index, moves the mark, and checks every account
//! against maintenance margin (the liquidation scan); one variant also crosses a
//! variation-margin epoch, moving every position's PnL into cash.
//!
//! `cargo bench -p tokenbook-ledger --bench risk`

// A benchmark measures wall time; the pure crate's bans on clocks apply to the library only.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
#![allow(missing_docs, clippy::unwrap_used, clippy::cast_possible_truncation)]

mod chain;

use chain::{CHAIN, Chain, GENESIS_MS, seed};
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use tokenbook_ledger::*;
use tokenbook_protocol::*;

const ACCOUNTS: u64 = 100_000;
const MID: i64 = 1_000;

fn genesis() -> Genesis {
    chain::genesis(MarketSpec {
        // Far enough out that no run of the benchmark reaches expiry.
        expiry: Timestamp::new(GENESIS_MS + 10 * 365 * 86_400_000),
        ..tokenbook_ledger::genesis::inference_contract()
    })
}

/// Applies a block whose only tx is the member's publication of the index at `ticks`; returns
/// the time `apply_block` took.
fn publish(chain: &mut Chain, time: u64, ticks: i64) -> Duration {
    let body = TxBody::PublishIndex(IndexObservation {
        index: IndexId::new(1),
        price: Cash::new(i128::from(ticks) * 10_000),
        observed_at: Timestamp::new(time),
    });
    // Block time plus the setup's nonce count: unique per block, above the window's floor, and
    // within a day of block time however far the clock jumps.
    let key = seed(0);
    let payload = TxPayload {
        account: AccountId::new(1),
        signer: key.public_key(),
        nonce: time + chain.nonce,
        body,
    };
    let tx = payload.sign(&key, CHAIN);
    let start = Instant::now();
    let out = chain.apply_at(time, &[tx]);
    let took = start.elapsed();
    assert!(out.receipts[0].result.is_ok(), "{:?}", out.receipts[0]);
    took
}

/// 100,000 funded accounts; the first half buys one lot at the mid, the second half sells to
/// them: every account holds one position.
fn prepare() -> Chain {
    let mut chain = Chain::new(&genesis());
    let member = seed(0);
    let keys: Vec<Keypair> = (0..ACCOUNTS).map(|i| seed(100 + i)).collect();
    let registrations: Vec<Tx> = keys
        .iter()
        .map(|k| {
            let body = TxBody::RegisterAccount(RegisterAccount {
                owner: k.public_key(),
                limits: chain::limits(),
                self_trade_group: 0,
            });
            chain.tx(AccountId::new(1), &member, body)
        })
        .collect();
    chain.apply(&registrations);
    let ids: Vec<AccountId> =
        keys.iter().map(|k| chain.state.account_of_key(&k.public_key()).unwrap()).collect();
    let deposits: Vec<Tx> = ids
        .iter()
        .map(|id| {
            let body = TxBody::Deposit(CashTransfer {
                account: *id,
                amount: Cash::new(1_000_000_000_000),
                reference: Hash::digest(&id.get().to_le_bytes()),
            });
            chain.tx(AccountId::new(1), &member, body)
        })
        .collect();
    chain.apply(&deposits);
    let time = chain.time + 100;
    publish(&mut chain, time, MID);
    let half = ids.len() / 2;
    let order = |side, time_in_force| {
        TxBody::PlaceOrder(NewOrder {
            market: MarketId::new(1),
            side,
            kind: OrderKind::Limit,
            price: Price::new(MID),
            qty: Qty::new(1),
            time_in_force,
            reduce_only: false,
            client_order_id: None,
            self_trade: SelfTradePrevention::ExpireMaker,
            trigger: None,
        })
    };
    for (range, side, tif) in
        [(0..half, Side::Buy, TimeInForce::Gtc), (half..ids.len(), Side::Sell, TimeInForce::Ioc)]
    {
        let txs: Vec<Tx> = range.map(|i| chain.tx(ids[i], &keys[i], order(side, tif))).collect();
        let out = chain.apply(&txs);
        assert!(out.receipts.iter().all(|r| r.result.is_ok()), "a setup order was refused");
    }
    let with_positions = chain.state.accounts.values().filter(|a| !a.positions.is_empty()).count();
    assert_eq!(with_positions as u64, ACCOUNTS, "every account holds a position");
    chain
}

fn bench(c: &mut Criterion) {
    let mut chain = prepare();
    eprintln!(
        "risk ledger: {} accounts, {} with positions, {} resting orders",
        chain.state.accounts.len(),
        chain.state.accounts.values().filter(|a| !a.positions.is_empty()).count(),
        chain.state.orders.len()
    );
    let mut g = c.benchmark_group("risk");
    g.sample_size(20);
    // Every iteration moves the index by one tick (so the mark moves) and scans all accounts.
    g.bench_function("mark_and_check_100k_accounts", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let time = chain.time + 1_000;
                total += publish(&mut chain, time, MID + i64::from(i % 2 == 1));
            }
            total
        })
    });
    // The same, with each block in a new variation-margin epoch.
    g.bench_function("mark_check_and_variation_margin_100k_accounts", |b| {
        b.iter_custom(|iters| {
            let epoch = chain.state.risk.settlement_epoch_ms;
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let time = (chain.time / epoch + 1) * epoch;
                total += publish(&mut chain, time, MID + i64::from(i % 2 == 1));
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
