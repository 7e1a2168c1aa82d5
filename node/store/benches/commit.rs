//! Applying blocks of 10,000 orders through the ledger into RocksDB, state root included, one
//! synced batch per block; account proofs; state size on disk (docs/benchmarks.md "Store").
//!
//! `cargo bench -p tokenbook-store --bench commit`
//! `TOKENBOOK_STORE_SIZE_BLOCKS=100 cargo bench -p tokenbook-store --bench commit` also prints
//! the store's size after 100 blocks of 10,000 orders (1 M orders) and exits.

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

/// Applies one block through the ledger and commits it: what a node does per decided block
/// (the block arrives decoded, its tx hashes known from the mempool).
fn apply_and_commit(
    store: &mut Store,
    state: &mut LedgerState,
    block: &Block,
    hashes: &[Hash],
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
    store.commit(header.height, &changes, Some(data)).unwrap()
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
    let mut store = Store::open(dir, StoreConfig::new(chain::CHAIN)).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let (mut store, mut state) = ready(dir.path(), &stream);
    let before = dir_size(dir.path());
    let measured = with_hashes(&stream.blocks);
    let start = std::time::Instant::now();
    let mut stats = Vec::new();
    for (block, hashes) in &measured {
        let t = std::time::Instant::now();
        apply_and_commit(&mut store, &mut state, block, hashes);
        stats.push((t.elapsed(), store.last_commit()));
    }
    let elapsed = start.elapsed();
    let raw = dir_size(dir.path());
    store.compact().unwrap();
    if let Some((header, txs)) = stream.blocks.last() {
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
    stats.sort_by_key(|(t, _)| *t);
    let (total, median) = stats[stats.len() / 2];
    eprintln!(
        "median block: {total:?} = ledger and batch inputs {:?} + tree {:?} + batch {:?} + write {:?}; {} keys, {} tree nodes, {} batch bytes",
        total - median.tree - median.batch - median.write,
        median.tree,
        median.batch,
        median.write,
        median.keys,
        median.tree_nodes,
        median.batch_bytes
    );
    drop(store);
    let after = dir_size(dir.path());
    let orders = (blocks * BLOCK_TXS) as f64;
    eprintln!(
        "{orders} txs in {blocks} blocks: {:.0} txs/s; store {:.1} MB before, {:.1} MB after ({:.1} MB before compaction; {:.1} MB per million txs); {} resting orders",
        orders / elapsed.as_secs_f64(),
        before as f64 / 1e6,
        after as f64 / 1e6,
        raw as f64 / 1e6,
        (after - before) as f64 / 1e6 / (orders / 1e6),
        state.orders.len()
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
    g.bench_function("apply_and_commit_10x10k", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let (store, state) = ready(dir.path(), &stream);
                (dir, store, state)
            },
            |(dir, mut store, mut state)| {
                for (block, hashes) in &measured {
                    apply_and_commit(&mut store, &mut state, block, hashes);
                }
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
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
