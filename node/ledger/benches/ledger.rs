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
#[path = "chain/workload.rs"]
mod workload;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tokenbook_ledger::*;
use tokenbook_protocol::*;
use workload::{BLOCK_TXS, BLOCKS};

fn bench(c: &mut Criterion) {
    let workload::Stream { start, blocks, .. } = workload::prepare(7, BLOCKS, BLOCK_TXS);
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
