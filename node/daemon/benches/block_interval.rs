//! Block interval under load on loopback: four whole validators in one process (each started
//! from its own home by `node::start`: RocksDB stores, libp2p over 127.0.0.1, the real driver),
//! fed a steady stream of signed orders through the nodes' command channels, round robin. It
//! reports the interval between committed heights seen by node 0 (median, p90, max) and the txs
//! per block (docs/benchmarks.md "Node").
//!
//! `cargo bench -p tokenbook-node --bench block_interval`
//! (`TOKENBOOK_BENCH_TPS`, default 2,000 offered txs/s; `TOKENBOOK_BENCH_SECS`, default 20.)
//!
//! Issue #19's read load: `TOKENBOOK_BENCH_READERS=N` adds N clients, each on its own
//! connection, sending node 0 `trades`, `book?depth=1000`, `accounts/{id}?prove=true` and
//! `tx/{hash}` back to back as fast as it answers (the report adds their answers per second and
//! status codes); `TOKENBOOK_BENCH_SUBSCRIBERS=N` opens N level-2 book streams on node 0 and
//! reports each update's delay from the commit (node 0's commit broadcast) to the subscriber.
//! `TOKENBOOK_BENCH_API_NICE` (default 10, the node's) sets the validators' `[api] nice`;
//! `TOKENBOOK_BENCH_CLIENT_NICE` (default 0) the read clients' thread's niceness;
//! `TOKENBOOK_BENCH_READS` (e.g. `book,tx`; default all four) which reads the clients send.

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
        // All readers come from loopback: lift the per-address and in-flight caps.
        c.api.rate_per_second = 10_000_000;
        c.api.burst = 10_000_000;
        c.api.max_in_flight = 100_000;
        c.api.max_connections_per_ip = 100_000;
        c.api.max_connections = 100_000;
        c.api.max_streams = 100_000;
        c.api.nice = env("TOKENBOOK_BENCH_API_NICE", 10) as i32;
    })
    .await
}

/// Answers and status codes of the read clients.
#[derive(Default)]
struct ReadStats {
    answers: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
}

/// One read client: the four heavy reads, back to back, until `stop`.
async fn reader(
    api: String,
    symbol: String,
    tx: String,
    stats: std::sync::Arc<ReadStats>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let all = [
        ("trades", format!("/v1/markets/{symbol}/trades")),
        ("book", format!("/v1/markets/{symbol}/book?depth=1000")),
        ("proof", format!("/v1/accounts/{FIRST_TRADER}?prove=true")),
        ("tx", format!("/v1/tx/{tx}")),
    ];
    let chosen = std::env::var("TOKENBOOK_BENCH_READS").unwrap_or_default();
    let paths: Vec<String> = all
        .into_iter()
        .filter(|(name, _)| chosen.is_empty() || chosen.split(',').any(|c| c == *name))
        .map(|(_, path)| path)
        .collect();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let ok = match client.get(format!("{api}{}", paths[i % paths.len()])).send().await {
            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
            Err(_) => false,
        };
        if stop.load(Ordering::Relaxed) {
            break; // the nodes are stopping: what fails now is not the API's answer
        }
        let counter = if ok { &stats.answers } else { &stats.errors };
        counter.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
}

/// One level-2 subscriber: (height, arrival) of every update.
async fn subscriber(url: String) -> Vec<(u64, Instant)> {
    use futures_util::StreamExt;
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else { return Vec::new() };
    let mut seen = Vec::new();
    while let Some(Ok(message)) = ws.next().await {
        let at = Instant::now();
        let Ok(text) = message.into_text() else { break };
        #[derive(serde::Deserialize)]
        struct Head {
            r#type: String,
            height: u64,
        }
        let Ok(head) = serde_json::from_str::<Head>(&text) else { break };
        if head.r#type == "update" {
            seen.push((head.height, at));
        }
    }
    seen
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
            seen.push((Instant::now(), commit.receipts.receipts.len(), commit.height.get()));
        }
        seen
    });
    let api = format!("http://{}", nodes[0].api);
    let symbol =
        get(&format!("{api}/v1/markets")).await.1[0]["symbol"].as_str().unwrap().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stats = std::sync::Arc::new(ReadStats::default());
    let some_tx = trading_setup(now, NODES as u64, 2 * PAIRS)[0].hash().to_hex();
    // The read clients run on a thread of their own, as clients on other machines would; at
    // `TOKENBOOK_BENCH_CLIENT_NICE` they stand in for clients whose CPU is not the node's.
    let client_nice = env("TOKENBOOK_BENCH_CLIENT_NICE", 0) as i32;
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(move || {
            rustix::process::setpriority_process(Some(rustix::thread::gettid()), client_nice)
                .unwrap();
        })
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..env("TOKENBOOK_BENCH_READERS", 0) {
        let reading =
            reader(api.clone(), symbol.clone(), some_tx.clone(), stats.clone(), stop.clone());
        clients.spawn(reading);
    }
    let feed = format!("{}/v1/stream/markets/{symbol}?level=2", api.replace("http://", "ws://"));
    let subscribers: Vec<_> = (0..env("TOKENBOOK_BENCH_SUBSCRIBERS", 0))
        .map(|_| clients.spawn(subscriber(feed.clone())))
        .collect();
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
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let heights = nodes[0].handles.status.borrow().height.get();
    for node in nodes {
        node.stop().await.unwrap();
    }
    let seen = recorder.await.unwrap();
    report(&seen, offered, admitted, elapsed, heights);
    report_reads(&stats, elapsed);
    let mut arrivals = Vec::new();
    for s in subscribers {
        arrivals.push(s.await.unwrap_or_default());
    }
    clients.shutdown_background();
    report_feed(&seen, &arrivals);
}

fn report_reads(stats: &ReadStats, elapsed: Duration) {
    use std::sync::atomic::Ordering;
    let (answers, errors) =
        (stats.answers.load(Ordering::Relaxed), stats.errors.load(Ordering::Relaxed));
    if answers + errors > 0 {
        println!(
            "  reads: {answers} answered ({:.0}/s), {errors} failed",
            answers as f64 / elapsed.as_secs_f64()
        );
    }
}

/// Commit → subscriber delay of every update every subscriber received.
fn report_feed(seen: &[(Instant, usize, u64)], arrivals: &[Vec<(u64, Instant)>]) {
    let committed: std::collections::HashMap<u64, Instant> =
        seen.iter().map(|(at, _, h)| (*h, *at)).collect();
    let mut delays: Vec<f64> = arrivals
        .iter()
        .flatten()
        .filter_map(|(h, at)| {
            Some(at.saturating_duration_since(*committed.get(h)?).as_secs_f64() * 1e3)
        })
        .collect();
    if delays.is_empty() {
        return;
    }
    delays.sort_by(f64::total_cmp);
    let connected = arrivals.iter().filter(|a| !a.is_empty()).count();
    println!(
        "  book feed: {connected} of {} subscribers got updates; commit -> client ms: p50 {:.2}, p90 {:.2}, p99 {:.2} ({} deliveries)",
        arrivals.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.9),
        percentile(&delays, 0.99),
        delays.len()
    );
}

fn report(
    seen: &[(Instant, usize, u64)],
    offered: usize,
    admitted: usize,
    elapsed: Duration,
    h: u64,
) {
    let mut intervals: Vec<f64> =
        seen.windows(2).map(|w| w[1].0.duration_since(w[0].0).as_secs_f64() * 1e3).collect();
    intervals.sort_by(f64::total_cmp);
    let txs: usize = seen.iter().map(|(_, n, _)| n).sum();
    let mut sizes: Vec<f64> = seen.iter().map(|(_, n, _)| *n as f64).collect();
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
        "  interval ms: median {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
        percentile(&intervals, 0.5),
        percentile(&intervals, 0.9),
        percentile(&intervals, 0.99),
        intervals[intervals.len() - 1]
    );
    println!(
        "  txs per block: median {:.0}, p90 {:.0}, max {:.0}",
        percentile(&sizes, 0.5),
        percentile(&sizes, 0.9),
        sizes[sizes.len() - 1]
    );
}
