//! Block interval under load on loopback: four whole validators in one process (each started
//! from its own home by `node::start`: RocksDB stores, libp2p over 127.0.0.1, the real driver),
//! fed a steady stream of signed orders through the nodes' command channels, round robin. It
//! reports the interval between committed heights seen by node 0 (median, p90, max) and the txs
//! per block (docs/benchmarks.md "Node").
//!
//! `cargo bench -p tokenbook-node --bench block_interval`
//! (`TOKENBOOK_BENCH_TPS`, default 2,000 offered txs/s; `TOKENBOOK_BENCH_SECS`, default 20.)

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::time::{Duration, Instant};
use tokenbook_node::node::Running;
use tokenbook_node::runtime::{self, Command};
use tokenbook_protocol::*;

/// Trader pairs sending crossing orders.
const PAIRS: u64 = 10;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Round `round` of pair `pair`: one trader sells (GTC), the other buys (IOC), roles swapping
/// each round so positions stay small.
fn orders(pair: u64, round: u64, nonce: u64) -> [Tx; 2] {
    let (a, b) = (2 * pair, 2 * pair + 1);
    let (seller, buyer) = if round % 2 == 0 { (a, b) } else { (b, a) };
    let account = |t: u64| AccountId::new(FIRST_TRADER + t);
    [
        signed(&key(1_000 + seller), account(seller), nonce, order(Side::Sell, TimeInForce::Gtc)),
        signed(&key(1_000 + buyer), account(buyer), nonce, order(Side::Buy, TimeInForce::Ioc)),
    ]
}

async fn start_network(dir: &std::path::Path) -> Vec<Running> {
    start_validators(dir, &genesis_now(), |c| {
        c.block.interval_ms = 50;
        c.consensus.propose_base_ms = 1_000;
        c.consensus.vote_base_ms = 500;
    })
    .await
}

async fn submit_all(node: &Running, txs: Vec<Tx>) -> usize {
    let (reply, verdicts) = tokio::sync::oneshot::channel();
    // Signatures are verified off the node's task, as the API does.
    let mut checker = tokenbook_node::sigs::SigChecker::new();
    let txs: Vec<_> = tokenbook_node::mempool::verify_txs(&mut checker, CHAIN, txs)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    node.handles.commands.send(Command::Submit { txs, reply }).await.unwrap();
    verdicts.await.unwrap().iter().filter(|v| v.is_ok()).count()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tps = env("TOKENBOOK_BENCH_TPS", 2_000);
    let secs = env("TOKENBOOK_BENCH_SECS", 20);
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_network(dir.path()).await;
    let now = runtime::now_ms();
    for tx in trading_setup(now, NODES as u64, 2 * PAIRS) {
        submit_committed(&nodes[0].api, &tx).await;
    }
    let mut commits = nodes[0].handles.commits.subscribe();
    let recorder = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(commit) = commits.recv().await {
            seen.push((Instant::now(), commit.receipts.receipts.len()));
        }
        seen
    });
    // Every 10 ms, one batch: tps / 100 txs, spread over the nodes.
    let per_tick = (tps / 100).max(2) as usize;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let started = Instant::now();
    let (mut offered, mut admitted, mut round) = (0usize, 0usize, 0u64);
    let mut target = 0usize;
    while started.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        let mut batch = Vec::with_capacity(per_tick);
        while batch.len() < per_tick {
            let pair = round % PAIRS;
            batch.extend(orders(pair, round / PAIRS, now + 10_000 + round / PAIRS));
            round += 1;
        }
        offered += batch.len();
        admitted += submit_all(&nodes[target], batch).await;
        target = (target + 1) % nodes.len();
    }
    let elapsed = started.elapsed();
    let heights = nodes[0].handles.status.borrow().height.get();
    for node in nodes {
        node.stop().await.unwrap();
    }
    let seen = recorder.await.unwrap();
    report(&seen, offered, admitted, elapsed, heights);
}

fn report(seen: &[(Instant, usize)], offered: usize, admitted: usize, elapsed: Duration, h: u64) {
    let mut intervals: Vec<f64> =
        seen.windows(2).map(|w| w[1].0.duration_since(w[0].0).as_secs_f64() * 1e3).collect();
    intervals.sort_by(f64::total_cmp);
    let txs: usize = seen.iter().map(|(_, n)| n).sum();
    let mut sizes: Vec<f64> = seen.iter().map(|(_, n)| *n as f64).collect();
    sizes.sort_by(f64::total_cmp);
    println!("block interval under load (4 validators, loopback libp2p, RocksDB)");
    println!(
        "  offered {offered} txs in {:.1} s ({:.0}/s), admitted {admitted}",
        elapsed.as_secs_f64(),
        offered as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  {} heights committed (last {h}); {txs} txs committed ({:.0}/s)",
        seen.len(),
        txs as f64 / elapsed.as_secs_f64()
    );
    if intervals.is_empty() {
        println!("  no intervals measured");
        return;
    }
    println!(
        "  interval ms: median {:.1}, p90 {:.1}, max {:.1}",
        percentile(&intervals, 0.5),
        percentile(&intervals, 0.9),
        intervals[intervals.len() - 1]
    );
    println!(
        "  txs per block: median {:.0}, p90 {:.0}, max {:.0}",
        percentile(&sizes, 0.5),
        percentile(&sizes, 0.9),
        sizes[sizes.len() - 1]
    );
}
