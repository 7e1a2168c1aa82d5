//! The same state gives the same root in memory, on disk and built from scratch.

use crate::fixture::{self, as_changes, config, scratch_root};
use proptest::prelude::*;
use tokenbook_ledger::kv::{self, Changes, KvMap, MemStore};
use tokenbook_protocol::Height;
use tokenbook_store::{MemTree, Store, StoreConfig, StoreError};

#[test]
fn ledger_streams_give_the_same_roots_in_memory_and_on_disk() {
    for seed in [1, 2, 3] {
        let chain = fixture::chain(seed, 6, 400);
        let dir = tempfile::tempdir().unwrap();
        let mut store = fixture::fresh_store(dir.path(), &chain);
        let roots = fixture::mem_roots(&chain);
        assert_eq!(store.root(), Some(roots[0]), "seed {seed}: genesis root");
        for (i, h) in chain.heights.iter().enumerate() {
            let root = store.commit(h.height(), &h.changes, Some(h.data())).unwrap();
            assert_eq!(root, roots[i + 1], "seed {seed}: root at height {}", h.height());
        }
        let exported = kv::export(&chain.final_state);
        assert_eq!(store.load_state().unwrap(), exported, "seed {seed}: stored state");
        assert_eq!(store.root(), Some(scratch_root(&exported)), "seed {seed}: root from scratch");
        // The ledger reloads from disk into the same state.
        let reloaded = kv::import(&store.load_state().unwrap()).unwrap();
        assert_eq!(kv::export(&reloaded), exported);
    }
}

#[test]
fn reopening_keeps_height_root_and_state() {
    let chain = fixture::chain(4, 3, 200);
    let dir = tempfile::tempdir().unwrap();
    let mut store = fixture::fresh_store(dir.path(), &chain);
    fixture::commit_all(&mut store, &chain.heights);
    let (height, root) = (store.height(), store.root());
    drop(store);
    let mut store = Store::open(dir.path(), config()).unwrap();
    assert_eq!((store.height(), store.root()), (height, root));
    assert_eq!(store.load_state().unwrap(), kv::export(&chain.final_state));
    // Same genesis again is accepted; the block data reads back.
    assert_eq!(store.init_genesis(&chain.genesis).unwrap(), fixture::mem_roots(&chain)[0]);
    let last = chain.heights.last().unwrap();
    assert_eq!(store.block(last.height()).unwrap().as_ref(), Some(&last.block));
    assert_eq!(store.certificate(last.height()).unwrap().as_ref(), Some(&last.certificate));
    assert_eq!(store.receipts(last.height()).unwrap().as_ref(), Some(&last.receipts));
}

#[test]
fn receipts_are_indexed_by_tx_account_and_market() {
    let chain = fixture::chain(5, 2, 300);
    let dir = tempfile::tempdir().unwrap();
    let mut store = fixture::fresh_store(dir.path(), &chain);
    fixture::commit_all(&mut store, &chain.heights);
    let last = chain.heights.last().unwrap();
    for (position, receipt) in last.receipts.receipts.iter().enumerate().step_by(37) {
        let (height, found) = store.tx_receipt(&receipt.tx_hash).unwrap().unwrap();
        assert_eq!((height, &found), (last.height(), receipt), "receipt {position}");
        let account = last.block.txs[receipt.tx_index as usize].payload.account.get();
        let history = store.account_history(account, last.height(), usize::MAX).unwrap();
        assert!(history.contains(&(last.height(), position as u32)), "account index {position}");
    }
    let market = store.market_history(1, Height::new(0), usize::MAX).unwrap();
    let with_market = last
        .receipts
        .receipts
        .iter()
        .filter(|r| r.result.as_ref().is_ok_and(|e| e.iter().any(|e| e.market().is_some())))
        .count();
    let at_last = market.iter().filter(|(h, p)| *h == last.height() && *p < u32::MAX - 1).count();
    assert_eq!(at_last, with_market, "one market index entry per receipt with market events");
    assert_eq!(store.tx_receipt(&tokenbook_protocol::Hash([9; 32])).unwrap(), None);
}

/// The memory RocksDB holds by design is reported: committed blocks sit in memtables until a
/// flush, and reads after a reopen go through the block cache.
#[test]
fn the_store_reports_the_memory_rocksdb_holds() {
    let chain = fixture::chain(5, 3, 200);
    let dir = tempfile::tempdir().unwrap();
    let mut store = fixture::fresh_store(dir.path(), &chain);
    fixture::commit_all(&mut store, &chain.heights);
    let written = store.memory();
    assert!(written.memtables > 0, "{written:?}");
    drop(store);
    let store = Store::open(dir.path(), config()).unwrap();
    store.load_state().unwrap();
    let read = store.memory();
    assert!(read.block_cache > 0, "{read:?}");
    assert_eq!(read.total(), read.memtables + read.block_cache + read.table_readers);
}

#[test]
fn commits_must_follow_the_height() {
    let chain = fixture::chain(6, 1, 50);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config()).unwrap();
    let h = &chain.heights[0];
    assert_eq!(store.commit(h.height(), &h.changes, None), Err(StoreError::Empty));
    store.init_genesis(&chain.genesis).unwrap();
    let skip = &chain.heights[1];
    let err = store.commit(skip.height(), &skip.changes, Some(skip.data())).unwrap_err();
    assert_eq!(err, StoreError::WrongHeight { current: Height::new(0), found: skip.height() });
    assert_eq!(err.code(), "store_wrong_height");
    // A block whose header names another height than the commit is refused too.
    let err = store.commit(h.height(), &h.changes, Some(skip.data())).unwrap_err();
    assert!(matches!(err, StoreError::WrongHeight { .. }));
    assert_eq!(store.height(), Some(Height::new(0)));
}

/// A small key space so streams insert, update, delete and re-insert the same keys.
fn stream() -> impl Strategy<Value = Vec<Changes>> {
    let key = (0u8..48).prop_map(|k| vec![k % 7, k]);
    let value = prop::option::weighted(0.7, prop::collection::vec(any::<u8>(), 0..12));
    prop::collection::vec(prop::collection::btree_map(key, value, 0..16), 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Random change streams: every version's root is the same in memory, on disk and built
    /// from scratch; proofs verify for present and absent keys at every retained version;
    /// pruned versions are refused and retained ones still prove.
    #[test]
    fn random_streams_agree_and_prove(stream in stream(), window in 1u64..5) {
        let genesis: KvMap = (0u8..5).map(|i| (vec![9, i], vec![i])).collect();
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), StoreConfig { retain_versions: Some(window), ..config() }).unwrap();
        let mut mem = MemTree::new();
        let mut model = MemStore(genesis.clone());
        let mut states = vec![genesis.clone()];
        prop_assert_eq!(store.init_genesis(&genesis).unwrap(), mem.apply(&as_changes(&genesis)).unwrap());
        for (i, changes) in stream.iter().enumerate() {
            let height = Height::new(i as u64 + 1);
            let disk = store.commit(height, changes, None).unwrap();
            let memory = mem.apply(changes).unwrap();
            MemStore::apply_to(&mut model.0, changes);
            prop_assert_eq!(disk, memory, "height {}", height);
            prop_assert_eq!(disk, scratch_root(&model.0), "height {} from scratch", height);
            prop_assert_eq!(&store.load_state().unwrap(), &model.0);
            states.push(model.0.clone());
        }
        let latest = stream.len() as u64;
        for (version, state) in states.iter().enumerate() {
            let height = Height::new(version as u64);
            if height < store.retained_from() {
                prop_assert_eq!(store.prove(&[9, 0], height).unwrap_err(), StoreError::NotRetained(height));
                continue;
            }
            let root = store.root_at(height).unwrap();
            prop_assert_eq!(root, mem.root(version as u64).unwrap());
            for k in 0u8..48 {
                let key = vec![k % 7, k];
                let proof = store.prove(&key, height).unwrap();
                prop_assert_eq!(proof.value.as_ref(), state.get(&key), "value of {:?} at {}", key, height);
                prop_assert!(proof.verify(&root).is_ok(), "proof of {:?} at {}", key, height);
            }
        }
        prop_assert!(store.retained_from().get() + window > latest);
    }
}

fn count(dir: &std::path::Path, cf: &str) -> usize {
    let names = tokenbook_store::schema::COLUMN_FAMILIES;
    let db = rocksdb::DB::open_cf_for_read_only(&rocksdb::Options::default(), dir, names, false)
        .unwrap();
    db.iterator_cf(db.cf_handle(cf).unwrap(), rocksdb::IteratorMode::Start).count()
}

#[test]
fn pruning_keeps_the_window_and_deletes_the_rest() {
    use tokenbook_store::schema::{PREIMAGES, TREE_NODES, TREE_VALUES};
    let chain = fixture::chain(7, 8, 300);
    let roots = fixture::mem_roots(&chain);
    let (archive_dir, pruned_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut archive = fixture::fresh_store(archive_dir.path(), &chain);
    let pruned_config = StoreConfig { retain_versions: Some(3), ..config() };
    let mut pruned = Store::open(pruned_dir.path(), pruned_config.clone()).unwrap();
    pruned.init_genesis(&chain.genesis).unwrap();
    for h in &chain.heights {
        archive.commit(h.height(), &h.changes, Some(h.data())).unwrap();
        pruned.commit(h.height(), &h.changes, Some(h.data())).unwrap();
    }
    let latest = pruned.height().unwrap().get();
    assert_eq!(pruned.retained_from(), Height::new(latest - 2));
    let key = [kv::table::GLOBALS];
    for h in 0..=latest {
        let height = Height::new(h);
        archive.prove(&key, height).unwrap().verify(&roots[h as usize]).unwrap();
        match pruned.prove(&key, height) {
            Ok(proof) => {
                assert!(h >= latest - 2, "height {h} should be pruned");
                proof.verify(&roots[h as usize]).unwrap();
            }
            Err(e) => {
                assert!(h < latest - 2, "height {h} should be kept");
                assert_eq!(e, StoreError::NotRetained(height));
            }
        }
    }
    // Blocks stay; the state is whole.
    assert!(pruned.block(Height::new(1)).unwrap().is_some());
    assert_eq!(pruned.load_state().unwrap(), archive.load_state().unwrap());
    // A snapshot of the oldest kept height still exports: every preimage it needs is there.
    let files = tempfile::tempdir().unwrap();
    pruned.export_snapshot(pruned.retained_from(), files.path(), 1_000).unwrap();
    drop((archive, pruned));
    for cf in [TREE_NODES, TREE_VALUES] {
        let (a, p) = (count(archive_dir.path(), cf), count(pruned_dir.path(), cf));
        assert!(p * 10 < a * 8, "{cf}: pruned store keeps {p} of {a} entries");
    }
    assert!(count(pruned_dir.path(), PREIMAGES) <= count(archive_dir.path(), PREIMAGES));
    // Reopened, it remembers what it pruned.
    let reopened = Store::open(pruned_dir.path(), pruned_config).unwrap();
    assert_eq!(reopened.retained_from(), Height::new(latest - 2));
}

#[test]
fn consensus_records_read_back_in_order_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config()).unwrap();
    for (h, n) in [(5u64, 3u8), (6, 2), (7, 1)] {
        for i in 0..n {
            store.append_consensus_record(Height::new(h), &[h as u8, i]).unwrap();
        }
    }
    drop(store);
    let mut store = Store::open(dir.path(), config()).unwrap();
    assert_eq!(
        store.consensus_records(Height::new(5)).unwrap(),
        vec![vec![5, 0], vec![5, 1], vec![5, 2]]
    );
    assert_eq!(store.consensus_records(Height::new(6)).unwrap(), vec![vec![6, 0], vec![6, 1]]);
    store.prune_consensus_records(Height::new(7)).unwrap();
    assert!(store.consensus_records(Height::new(5)).unwrap().is_empty());
    assert!(store.consensus_records(Height::new(6)).unwrap().is_empty());
    assert_eq!(store.consensus_records(Height::new(7)).unwrap(), vec![vec![7, 0]]);
    // Pruning height by height (as a running node does), then again at or below the floor.
    for h in 8..=40u64 {
        store.append_consensus_record(Height::new(h), &[h as u8]).unwrap();
        store.prune_consensus_records(Height::new(h)).unwrap();
        assert!(store.consensus_records(Height::new(h - 1)).unwrap().is_empty(), "{h}");
        assert_eq!(store.consensus_records(Height::new(h)).unwrap(), vec![vec![h as u8]]);
    }
    store.prune_consensus_records(Height::new(3)).unwrap();
    assert_eq!(store.consensus_records(Height::new(40)).unwrap(), vec![vec![40]]);
    // After a reopen the first prune scans from the start and still finds what is left.
    drop(store);
    let mut store = Store::open(dir.path(), config()).unwrap();
    store.prune_consensus_records(Height::new(41)).unwrap();
    assert!(store.consensus_records(Height::new(40)).unwrap().is_empty());
}

#[test]
fn a_tx_replayed_in_a_later_block_keeps_the_receipt_of_its_first_inclusion() {
    let mut chain = fixture::chain(5, 2, 50);
    let dir = tempfile::tempdir().unwrap();
    let mut store = fixture::fresh_store(dir.path(), &chain);
    fixture::commit_all(&mut store, &chain.heights);
    let last = chain.heights.last().unwrap();
    // A faulty proposer includes the same tx again: the ledger refuses it (nonce used).
    let (tx, first_receipt, replay) = fixture::replay_of_accepted(&mut chain.final_state, last);
    let first = last.height();
    store.commit(replay.height(), &replay.changes, Some(replay.data())).unwrap();
    let (height, found) = store.tx_receipt(&tx.hash()).unwrap().unwrap();
    assert_eq!((height, found), (first, first_receipt), "the index names the first inclusion");
}

#[test]
fn a_prune_steps_over_nothing_earlier_prunes_deleted() {
    // A hot key written at every height, keys created and deleted, a small window: the
    // tombstones of earlier prunes pile up until compaction. A prune must cost what it
    // removes, not step over them (they made pruning stall the chain for seconds).
    let genesis: KvMap = [(b"hot".to_vec(), vec![0])].into_iter().collect();
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig { retain_versions: Some(4), ..config() };
    let mut store = Store::open(dir.path(), config).unwrap();
    store.init_genesis(&genesis).unwrap();
    let mut skipped = Vec::new();
    for h in 1..=600u64 {
        let mut changes = Changes::new();
        changes.insert(b"hot".to_vec(), Some(h.to_be_bytes().to_vec()));
        changes.insert(h.to_be_bytes().to_vec(), Some(vec![1]));
        changes.insert((h - 1).to_be_bytes().to_vec(), None);
        store.commit(Height::new(h), &changes, None).unwrap();
        store.wait_for_prune();
        skipped.push(store.last_prune().tombstones_skipped);
    }
    let worst = skipped.iter().max().unwrap();
    assert!(*worst <= 8, "a prune stepped over {worst} tombstones (per height: {skipped:?})");
    assert_eq!(store.retained_from(), Height::new(597));
    assert!(store.last_prune().versions >= 1);
}

/// Clearing events are indexed across all accounts, whole heights, wherever they sit (a tx's
/// receipt or the block's end events); other heights are not in the index.
#[test]
fn clearing_events_are_indexed_across_accounts() {
    use tokenbook_ledger::Event;
    use tokenbook_protocol::{AccountId, Cash};
    let mut chain = fixture::chain(6, 4, 50);
    let liquidated = Event::Liquidated {
        account: AccountId::new(7),
        equity: Cash::new(-5),
        maintenance: Cash::new(10),
    };
    chain.heights[1].receipts.end_events.push(liquidated.clone());
    let receipt = chain.heights[3].receipts.receipts.iter_mut().find(|r| r.result.is_ok()).unwrap();
    receipt.result.as_mut().unwrap().push(Event::InsuranceFunded { amount: Cash::new(3) });
    let dir = tempfile::tempdir().unwrap();
    let mut store = fixture::fresh_store(dir.path(), &chain);
    fixture::commit_all(&mut store, &chain.heights);
    let (second, fourth) = (chain.heights[1].height(), chain.heights[3].height());
    let index = store.clearing_history(Height::new(0), 10).unwrap();
    assert_eq!(index.len(), 2, "two heights hold clearing events: {index:?}");
    assert_eq!(index[0], (second, vec![tokenbook_store::schema::END_EVENTS]));
    assert_eq!(index[1].0, fourth);
    assert_eq!(store.clearing_history(Height::new(second.get() + 1), 10).unwrap().len(), 1);
    assert_eq!(store.clearing_history(Height::new(0), 1).unwrap().len(), 1, "at most `heights`");
    // Block time finds heights: the first block at or after a time.
    for h in &chain.heights {
        let t = h.block.header.time.get();
        assert_eq!(store.height_at_time(t).unwrap(), Some(h.height()));
    }
    let last = chain.heights.last().unwrap().block.header.time.get();
    assert_eq!(store.height_at_time(last + 1).unwrap(), None);
    assert_eq!(store.height_at_time(0).unwrap(), Some(chain.heights[0].height()));
}

/// With a block window, each commit deletes the height that leaves it — block, certificate,
/// receipts and every index entry naming it — and nothing inside the window; a smaller window
/// set at a restart is reached a bounded number of heights per commit.
#[test]
fn blocks_older_than_the_window_are_dropped_with_their_indexes() {
    let chain = fixture::chain(7, 12, 60);
    let dir = tempfile::tempdir().unwrap();
    let windowed = StoreConfig { retain_blocks: Some(5), ..config() };
    let mut store = fixture::fresh_store(dir.path(), &chain);
    drop(store);
    store = Store::open(dir.path(), windowed).unwrap();
    fixture::commit_all(&mut store, &chain.heights);
    let last = chain.heights.last().unwrap().height().get();
    for h in &chain.heights {
        let height = h.height();
        let kept = height.get() + 5 > last;
        assert_eq!(store.block(height).unwrap().is_some(), kept, "block {height}");
        assert_eq!(store.certificate(height).unwrap().is_some(), kept, "certificate {height}");
        assert_eq!(store.receipts(height).unwrap().is_some(), kept, "receipts {height}");
        for receipt in h.receipts.receipts.iter().step_by(11) {
            assert_eq!(store.tx_receipt(&receipt.tx_hash).unwrap().is_some(), kept, "tx {height}");
        }
    }
    // No index entry names a dropped height.
    for account in 0..200 {
        for (height, _) in store.account_history(account, Height::new(0), usize::MAX).unwrap() {
            assert!(height.get() + 5 > last, "account {account} still indexed at {height}");
        }
    }
    let markets = store.market_history(1, Height::new(0), usize::MAX).unwrap();
    assert!(markets.iter().all(|(h, _)| h.get() + 5 > last), "{markets:?}");
    // The state is whole: only block data goes.
    assert_eq!(store.load_state().unwrap(), kv::export(&chain.final_state));
}

/// An auditor's unsynced store gives the same roots and reopens at its last height (a process
/// exit loses nothing: RocksDB's WAL is written, only not fsynced, per batch).
#[test]
fn an_unsynced_store_gives_the_same_roots_and_reopens() {
    let chain = fixture::chain(8, 5, 100);
    let dir = tempfile::tempdir().unwrap();
    let unsynced = StoreConfig { sync_commits: false, ..config() };
    let mut store = fixture::fresh_store(dir.path(), &chain);
    drop(store);
    store = Store::open(dir.path(), unsynced.clone()).unwrap();
    let roots = fixture::mem_roots(&chain);
    for (i, h) in chain.heights.iter().enumerate() {
        assert_eq!(store.commit(h.height(), &h.changes, Some(h.data())).unwrap(), roots[i + 1]);
    }
    let (height, root) = (store.height(), store.root());
    drop(store);
    let store = Store::open(dir.path(), unsynced).unwrap();
    assert_eq!((store.height(), store.root()), (height, root));
}
