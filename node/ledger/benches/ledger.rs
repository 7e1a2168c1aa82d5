//! The whole ledger: `apply_block` with accounts, nonces, limits, margin, fees, self-trade
//! prevention, receipts and the per-block invariant checks (docs/benchmarks.md "Ledger").
//! Signatures and persistence are excluded (they are checked before, and stored after).
//!
//! `cargo bench -p tokenbook-ledger --bench ledger`
//!
//! Stream: 1,000 funded traders, a fresh index; 10 blocks of 10,000 txs after a warm-up that leaves ~10,000
//! resting orders; per block ~60% passive limit orders 1–20 ticks from mid, ~30% cancels (by
//! client order id) of orders resting before the block, ~10% IOC orders crossing 1–3 levels.

// A benchmark measures wall time; the pure crate's bans on clocks apply to the library only.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

mod chain;
mod common;

use chain::{Chain, header, seed};
use common::Rng;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::BTreeMap;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

const TRADERS: u64 = 1_000;
const BLOCK_TXS: usize = 10_000;
const BLOCKS: usize = 10;
const MID: i64 = 1_000;

fn genesis() -> Genesis {
    let params = MarketParams {
        position_limit: Qty::new(1_000_000),
        ..tokenbook_ledger::genesis::devnet_params()
    };
    chain::genesis(MarketSpec { params, ..tokenbook_ledger::genesis::inference_contract() })
}

struct Trader {
    id: AccountId,
    key: Keypair,
    next_cid: u64,
}

fn order(side: Side, price: i64, qty: i64, tif: TimeInForce, cid: u64) -> TxBody {
    TxBody::PlaceOrder(NewOrder {
        market: MarketId::new(1),
        side,
        kind: OrderKind::Limit,
        price: Price::new(price),
        qty: Qty::new(qty),
        time_in_force: tif,
        reduce_only: false,
        client_order_id: Some(ClientOrderId::new(cid)),
        self_trade: SelfTradePrevention::ExpireMaker,
        trigger: None,
    })
}

/// Registers and funds the traders, rests ~10,000 orders, then generates the measured blocks by
/// running them (so cancels name orders resting before each block).
fn prepare() -> (LedgerState, u64, Vec<(BlockHeader, Vec<Tx>)>) {
    let mut chain = Chain::new(&genesis());
    let member = seed(0);
    let mut traders: Vec<Trader> = Vec::new();
    let registrations: Vec<Tx> = (0..TRADERS)
        .map(|i| {
            chain.tx(
                AccountId::new(1),
                &member,
                TxBody::RegisterAccount(RegisterAccount {
                    owner: seed(100 + i).public_key(),
                    limits: chain::limits(),
                    self_trade_group: 0,
                }),
            )
        })
        .collect();
    chain.apply(&registrations);
    for i in 0..TRADERS {
        let id = chain.state.account_of_key(&seed(100 + i).public_key()).unwrap();
        traders.push(Trader { id, key: seed(100 + i), next_cid: 0 });
    }
    let deposits: Vec<Tx> = traders
        .iter()
        .map(|t| {
            TxBody::Deposit(CashTransfer {
                account: t.id,
                amount: Cash::new(1_000_000_000_000_000),
                reference: Hash::digest(&t.id.get().to_le_bytes()),
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|b| chain.tx(AccountId::new(1), &member, b))
        .collect();
    chain.apply(&deposits);
    // The member (a quorum of one) publishes the index, so the market takes new risk.
    let observed_at = Timestamp::new(chain.time);
    let publish = TxBody::PublishIndex(IndexObservation {
        index: IndexId::new(1),
        price: Cash::new(i128::from(MID) * 10_000),
        observed_at,
    });
    let publish = chain.tx(AccountId::new(1), &member, publish);
    chain.apply(&[publish]);
    let mut rng = Rng(7);
    let warmup: Vec<Tx> =
        (0..10_000).map(|_| passive(&mut chain, &mut traders, &mut rng, 50)).collect();
    chain.apply(&warmup);
    let start = chain.state.clone();
    let start_time = chain.time;
    let mut blocks = Vec::new();
    for _ in 0..BLOCKS {
        let txs = block(&mut chain, &mut traders, &mut rng);
        let header = header(&chain.state, chain.time + 100, &txs);
        chain.apply(&txs);
        blocks.push((header, txs));
    }
    (start, start_time, blocks)
}

fn passive(chain: &mut Chain, traders: &mut [Trader], rng: &mut Rng, spread: u64) -> Tx {
    let t = &mut traders[rng.below(TRADERS) as usize];
    t.next_cid += 1;
    let side = if rng.below(2) == 0 { Side::Buy } else { Side::Sell };
    let distance = 1 + rng.below(spread) as i64;
    let price = if side == Side::Buy { MID - distance } else { MID + distance };
    let body = order(side, price, 1 + rng.below(20) as i64, TimeInForce::Gtc, t.next_cid);
    let (id, key) = (t.id, Keypair::from_seed(&t.key.seed()));
    chain.tx(id, &key, body)
}

fn block(chain: &mut Chain, traders: &mut [Trader], rng: &mut Rng) -> Vec<Tx> {
    let resting: Vec<(AccountId, ClientOrderId)> = chain
        .state
        .orders
        .sorted()
        .into_iter()
        .filter_map(|(_, o)| o.client_order_id.map(|c| (o.account, c)))
        .collect();
    let keys: BTreeMap<AccountId, usize> =
        traders.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let mut cancelled = std::collections::BTreeSet::new();
    let mut txs = Vec::with_capacity(BLOCK_TXS);
    while txs.len() < BLOCK_TXS {
        let roll = rng.below(100);
        if roll < 60 {
            txs.push(passive(chain, traders, rng, 20));
        } else if roll < 90 {
            let (account, cid) = resting[rng.below(resting.len() as u64) as usize];
            if !cancelled.insert((account, cid)) {
                continue;
            }
            let key = Keypair::from_seed(&traders[keys[&account]].key.seed());
            let body = TxBody::CancelOrder(CancelOrder {
                market: MarketId::new(1),
                order: OrderRef::Client(cid),
            });
            txs.push(chain.tx(account, &key, body));
        } else {
            let side = if rng.below(2) == 0 { Side::Buy } else { Side::Sell };
            let book = &chain.state.markets[&MarketId::new(1)].book;
            let levels = book.depth(side.opposite(), 1 + rng.below(3) as usize);
            let Some(&(price, _, _)) = levels.last() else { continue };
            let qty: i64 = levels.iter().map(|(_, q, _)| q.get()).sum::<i64>().min(1_000);
            let t = &mut traders[rng.below(TRADERS) as usize];
            t.next_cid += 1;
            let body = order(side, price.get(), qty, TimeInForce::Ioc, t.next_cid);
            let (id, key) = (t.id, Keypair::from_seed(&t.key.seed()));
            txs.push(chain.tx(id, &key, body));
        }
    }
    txs
}

fn bench(c: &mut Criterion) {
    let (start, _, blocks) = prepare();
    let ops = (BLOCKS * BLOCK_TXS) as u64;
    // `TOKENBOOK_APPLY_LOOPS=N` applies the stream N times, prints the median, and exits: a quick
    // A/B check without criterion's statistics (and a steady target for `perf record`).
    if let Some(loops) =
        std::env::var("TOKENBOOK_APPLY_LOOPS").ok().and_then(|v| v.parse::<usize>().ok())
    {
        let hashes: Vec<Vec<Hash>> =
            blocks.iter().map(|(_, txs)| txs.iter().map(Tx::hash).collect()).collect();
        let mut times = Vec::new();
        for _ in 0..loops {
            let mut state = start.clone();
            let t = std::time::Instant::now();
            for ((header, txs), hashes) in blocks.iter().zip(&hashes) {
                apply_block_with_hashes(&mut state, header, txs, hashes).unwrap();
            }
            times.push(t.elapsed());
        }
        times.sort();
        if let Some(median) = times.get(times.len() / 2) {
            let per_second = ops as f64 / median.as_secs_f64();
            eprintln!(
                "apply_block_with_hashes: median {median:?} for {ops} txs = {per_second:.0} txs/s"
            );
        }
        std::process::exit(0);
    }
    // What the stream does, so the numbers can be read: fills and refusals.
    let mut check = start.clone();
    let (mut fills, mut refused) = (0usize, 0usize);
    for (header, txs) in &blocks {
        let out = apply_block(&mut check, header, txs).unwrap();
        for r in &out.receipts {
            match &r.result {
                Ok(events) => {
                    fills += events.iter().filter(|e| matches!(e, Event::Fill { .. })).count()
                }
                Err(_) => refused += 1,
            }
        }
    }
    eprintln!(
        "ledger stream: {ops} txs in {BLOCKS} blocks, {fills} fills, {refused} refused, {} resting at end",
        check.orders.len()
    );
    let mut g = c.benchmark_group("ledger");
    g.throughput(Throughput::Elements(ops));
    g.sample_size(10);
    g.bench_function("apply_block_10x10k", |b| {
        b.iter_batched(
            || start.clone(),
            |mut state| {
                for (header, txs) in &blocks {
                    apply_block(&mut state, header, txs).unwrap();
                }
                state
            },
            BatchSize::LargeInput,
        )
    });
    let hashes: Vec<Vec<Hash>> =
        blocks.iter().map(|(_, txs)| txs.iter().map(Tx::hash).collect()).collect();
    g.bench_function("apply_block_with_hashes_10x10k", |b| {
        b.iter_batched(
            || start.clone(),
            |mut state| {
                for ((header, txs), hashes) in blocks.iter().zip(&hashes) {
                    apply_block_with_hashes(&mut state, header, txs, hashes).unwrap();
                }
                state
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
