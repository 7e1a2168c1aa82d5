//! Applying blocks of 10,000 orders through the ledger into RocksDB, state root included, one
//! synced batch per block; account proofs; state size on disk (docs/benchmarks.md "Store").
//!
//! `cargo bench -p tokenbook-store --bench commit`
//! `TOKENBOOK_STORE_SIZE_BLOCKS=100 cargo bench -p tokenbook-store --bench commit` instead runs
//! 100 blocks of 10,000 orders (1 M orders) sustained, in each way a store can commit —
//! synced (`Store::commit`), staged (`Store::stage`, what a validator does: the store's writer
//! thread writes and syncs `h` while the ledger executes `h + 1` and the tree of `h + 1` is
//! computed) and unsynced (an auditor's store: `Store::commit` without the disk's sync) — alternating them twice on the same stream, and prints
//! each run's rate, its median block's split and the store's size on disk.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)]

#[path = "../../ledger/benches/chain/mod.rs"]
#[allow(dead_code)]
mod chain;
#[path = "../../ledger/benches/common/mod.rs"]
mod common;
#[path = "../../ledger/benches/chain/workload.rs"]
mod workload;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::path::Path;
use tokenbook_ledger::kv;
use tokenbook_ledger::{BlockReceipts, LedgerState, apply_block_with_hashes};
use tokenbook_protocol::{Block, BlockHeader, CommitCertificate, Hash, Tx};
use tokenbook_store::{BlockData, Store, StoreConfig};
use workload::BLOCK_TXS;

const BLOCKS: usize = 10;

/// How a measured block is committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `Store::commit` with synced commits: the fsync on the path.
    Synced,
    /// `Store::stage`: written and synced by the store's writer thread (a validator).
    Staged,
    /// `Store::commit` on a store whose commits are not synced (an auditor).
    Unsynced,
}

/// Applies one block through the ledger and commits it the synced way.
fn apply_and_commit(
    store: &mut Store,
    state: &mut LedgerState,
    block: &Block,
    hashes: &[Hash],
) -> Hash {
    apply_and(store, state, block, hashes, Mode::Synced)
}

/// Applies one block through the ledger and commits it: what a node does per decided block
/// (the block arrives decoded, its tx hashes known from the mempool).
fn apply_and(
    store: &mut Store,
    state: &mut LedgerState,
    block: &Block,
    hashes: &[Hash],
    mode: Mode,
) -> Hash {
    let header = &block.header;
    let outcome = apply_block_with_hashes(state, header, &block.txs, hashes).unwrap();
    let changes = kv::changes(state, &outcome.touched);
    let certificate = CommitCertificate {
        height: header.height,
        round: tokenbook_protocol::Round::new(0),
        block_hash: block.hash(),
        signatures: Vec::new(),
    };
    let receipts = BlockReceipts::from(&outcome);
    let data = BlockData { block, certificate: &certificate, receipts: &receipts };
    match mode {
        Mode::Staged => store.stage(header.height, &changes, Some(data)).unwrap(),
        Mode::Synced | Mode::Unsynced => store.commit(header.height, &changes, Some(data)).unwrap(),
    }
}

/// Blocks with their tx hashes.
fn with_hashes(list: &[(BlockHeader, Vec<Tx>)]) -> Vec<(Block, Vec<Hash>)> {
    list.iter()
        .map(|(header, txs)| {
            (Block { header: header.clone(), txs: txs.clone() }, txs.iter().map(Tx::hash).collect())
        })
        .collect()
}

/// A store and ledger at the start of the measured blocks.
fn ready(dir: &Path, stream: &workload::Stream) -> (Store, LedgerState) {
    ready_for(dir, stream, Mode::Synced)
}

/// [`ready`], for commits of `mode`.
fn ready_for(dir: &Path, stream: &workload::Stream, mode: Mode) -> (Store, LedgerState) {
    let mut config = StoreConfig::new(chain::CHAIN);
    config.sync_commits = mode != Mode::Unsynced;
    let mut store = Store::open(dir, config).unwrap();
    let mut state = tokenbook_ledger::genesis_state(&stream.genesis).unwrap();
    store.init_genesis(&kv::export(&state)).unwrap();
    for (block, hashes) in with_hashes(&stream.setup) {
        apply_and_commit(&mut store, &mut state, &block, &hashes);
    }
    (store, state)
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() { dir_size(&e.path()) } else { m.len() }
        })
        .sum()
}

fn size_report(blocks: usize) {
    let stream = workload::prepare(9, blocks, BLOCK_TXS);
    let measured = with_hashes(&stream.blocks);
    for round in 0..2 {
        for mode in [Mode::Synced, Mode::Staged, Mode::Unsynced] {
            sustained(&stream, &measured, mode, round == 0 && mode == Mode::Synced);
        }
    }
}

/// One sustained run of `mode` over the measured blocks in a fresh store.
fn sustained(
    stream: &workload::Stream,
    measured: &[(Block, Vec<Hash>)],
    mode: Mode,
    describe: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, mut state) = ready_for(dir.path(), stream, mode);
    let before = dir_size(dir.path());
    let start = std::time::Instant::now();
    let cpu_start = cpu_seconds();
    let mut stats = Vec::new();
    for (block, hashes) in measured {
        let t = std::time::Instant::now();
        apply_and(&mut store, &mut state, block, hashes, mode);
        stats.push((t.elapsed(), store.last_commit()));
    }
    store.wait_durable().unwrap();
    let elapsed = start.elapsed();
    let cpu = cpu_seconds() - cpu_start;
    let raw = dir_size(dir.path());
    store.compact().unwrap();
    if describe {
        describe_last_block(stream);
    }
    stats.sort_by_key(|(t, _)| *t);
    let (total, median) = stats[stats.len() / 2];
    eprintln!(
        "{mode:?}: median block {total:?} = ledger and batch inputs {:?} + tree {:?} + batch {:?} + waiting for the write {:?} (the writer's last write {:?}); {} keys, {} tree nodes, {} batch bytes",
        total - median.tree - median.batch - median.write,
        median.tree,
        median.batch,
        median.write,
        median.writer,
        median.keys,
        median.tree_nodes,
        median.batch_bytes
    );
    drop(store);
    let after = dir_size(dir.path());
    let orders = (measured.len() * BLOCK_TXS) as f64;
    eprintln!(
        "{mode:?}: {orders} txs in {} blocks: {:.0} txs/s, {:.2} cores busy (the process's CPU time over the wall time, RocksDB's flushes and compactions included); store {:.1} MB before, {:.1} MB after ({:.1} MB before compaction; {:.1} MB per million txs); {} resting orders",
        measured.len(),
        orders / elapsed.as_secs_f64(),
        cpu / elapsed.as_secs_f64(),
        before as f64 / 1e6,
        after as f64 / 1e6,
        raw as f64 / 1e6,
        (after - before) as f64 / 1e6 / (orders / 1e6),
        state.orders.len()
    );
}

/// The CPU time this process has used, every thread's, in seconds (Linux: `/proc/self/stat`,
/// in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are the 14th and 15th fields; the name and state are the 2nd and 3rd.
    (ticks(11) + ticks(12)) / 100.0
}

/// What the stream's last block changes, by table, and its block and receipt sizes.
fn describe_last_block(stream: &workload::Stream) {
    let Some((header, txs)) = stream.blocks.last() else { return };
    let mut replay = tokenbook_ledger::genesis_state(&stream.genesis).unwrap();
    for (h, t) in stream.setup.iter().chain(&stream.blocks[..stream.blocks.len() - 1]) {
        tokenbook_ledger::apply_block(&mut replay, h, t).unwrap();
    }
    let outcome = tokenbook_ledger::apply_block(&mut replay, header, txs).unwrap();
    let changes = kv::changes(&replay, &outcome.touched);
    let mut by_table = std::collections::BTreeMap::<u8, (usize, usize)>::new();
    for (k, v) in &changes {
        let e = by_table.entry(k[0]).or_default();
        e.0 += 1;
        e.1 += v.as_ref().map_or(0, Vec::len);
    }
    let block = Block { header: header.clone(), txs: txs.clone() };
    eprintln!(
        "last block: changes by table (count, value bytes) {by_table:?}; block {} bytes; receipts {} bytes",
        tokenbook_protocol::codec::encode(&block).len(),
        tokenbook_protocol::codec::encode(&BlockReceipts::from(&outcome)).len()
    );
}

fn bench(c: &mut Criterion) {
    if let Some(blocks) =
        std::env::var("TOKENBOOK_STORE_SIZE_BLOCKS").ok().and_then(|v| v.parse().ok())
    {
        size_report(blocks);
        std::process::exit(0);
    }
    let stream = workload::prepare(7, BLOCKS, BLOCK_TXS);
    let measured = with_hashes(&stream.blocks);
    let ops = (BLOCKS * BLOCK_TXS) as u64;
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(ops));
    g.sample_size(10);
    for (name, mode) in
        [("apply_and_commit_10x10k", Mode::Synced), ("apply_and_stage_10x10k", Mode::Staged)]
    {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let (store, state) = ready(dir.path(), &stream);
                    (dir, store, state)
                },
                |(dir, mut store, mut state)| {
                    for (block, hashes) in &measured {
                        apply_and(&mut store, &mut state, block, hashes, mode);
                    }
                    store.wait_durable().unwrap();
                    (dir, store)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();

    // Proofs: an account at the latest height of a store holding the whole stream.
    let dir = tempfile::tempdir().unwrap();
    let (mut store, mut state) = ready(dir.path(), &stream);
    for (block, hashes) in &measured {
        apply_and_commit(&mut store, &mut state, block, hashes);
    }
    let height = store.height().unwrap();
    let root = store.root().unwrap();
    let key = |id: u64| kv::account_key(tokenbook_protocol::AccountId::new(id));
    let mut g = c.benchmark_group("proof");
    let mut id = 0;
    g.bench_function("prove_account", |b| {
        b.iter(|| {
            id = id % 1_000 + 1;
            store.prove(&key(id), height).unwrap()
        })
    });
    let proof = store.prove(&key(500), height).unwrap();
    g.bench_function("verify_account", |b| b.iter(|| proof.verify(&root).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
