//! Mempool admission: decode-free txs from 1,000 accounts admitted in batches (batch signature
//! verification, key cache, ledger precheck, bounds), as the API and gossip paths do
//! (docs/benchmarks.md "Node").
//!
//! `cargo bench -p tokenbook-node --bench mempool`

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap
)]

#[path = "../../ledger/benches/chain/mod.rs"]
#[allow(dead_code)]
mod chain;

use chain::{CHAIN, Chain, seed};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tokenbook_node::mempool::{Mempool, MempoolConfig};
use tokenbook_protocol::*;

const ACCOUNTS: u64 = 1_000;
const PER_ACCOUNT: u64 = 20;

fn setup() -> (Chain, Vec<Tx>) {
    let genesis = chain::genesis(tokenbook_ledger::genesis::inference_contract());
    let (mut chain, _) = chain::with_traders(&genesis, ACCOUNTS);
    let mut txs = Vec::new();
    for round in 0..PER_ACCOUNT {
        for i in 0..ACCOUNTS {
            let key = seed(100 + i);
            let account = chain.state.account_of_key(&key.public_key()).unwrap();
            let body = TxBody::PlaceOrder(NewOrder {
                market: MarketId::new(1),
                side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
                kind: OrderKind::Limit,
                price: Price::new(1_000 + (i % 7) as i64),
                qty: Qty::new(1 + round as i64),
                time_in_force: TimeInForce::Gtc,
                reduce_only: false,
                client_order_id: None,
                self_trade: SelfTradePrevention::ExpireTaker,
                trigger: None,
            });
            txs.push(chain.tx(account, &key, body));
        }
    }
    (chain, txs)
}

fn bench(c: &mut Criterion) {
    let (chain, txs) = setup();
    let config = MempoolConfig { max_per_account: 100, ..MempoolConfig::new(CHAIN) };
    let mut g = c.benchmark_group("mempool");
    g.throughput(Throughput::Elements(txs.len() as u64));
    g.sample_size(10);
    for batch in [1usize, 64, 256] {
        g.bench_function(format!("admit_20k_batches_of_{batch}"), |b| {
            b.iter_batched(
                || (Mempool::new(config.clone()), txs.clone()),
                |(mut pool, txs)| {
                    let mut txs = txs.into_iter().peekable();
                    while txs.peek().is_some() {
                        let chunk: Vec<Tx> = txs.by_ref().take(batch).collect();
                        for verdict in pool.admit_batch(chunk, &chain.state) {
                            verdict.unwrap();
                        }
                    }
                    pool
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
