//! Staged commits (`Store::stage`): the writer thread writes height `h` while the caller goes
//! on with `h + 1`, and nothing the caller sees or writes depends on whether it has finished.

use crate::fixture::{self, config};
use tokenbook_ledger::kv;
use tokenbook_protocol::Height;
use tokenbook_store::Store;

#[test]
fn staged_heights_have_the_roots_of_synced_ones_and_survive_a_reopen() {
    for seed in [11, 12] {
        let chain = fixture::chain(seed, 8, 300);
        let roots = fixture::mem_roots(&chain);
        let dir = tempfile::tempdir().unwrap();
        let mut store = fixture::fresh_store(dir.path(), &chain);
        for (i, h) in chain.heights.iter().enumerate() {
            let root = store.stage(h.height(), &h.changes, Some(h.data())).unwrap();
            assert_eq!(root, roots[i + 1], "seed {seed}: root at height {}", h.height());
            assert_eq!(store.height(), Some(h.height()), "the staged height is the head");
            // Readers see a height only once it is written: never ahead of the head.
            assert!(store.reader().height() <= store.height());
        }
        store.wait_durable().unwrap();
        let last = chain.heights.last().unwrap().height();
        assert_eq!(store.durable_height(), Some(last));
        assert_eq!(store.reader().height(), Some(last));
        assert_eq!(store.load_state().unwrap(), kv::export(&chain.final_state));
        // Dropping the store right after a stage still writes it.
        drop(store);
        let store = Store::open(dir.path(), config()).unwrap();
        assert_eq!(store.height(), Some(last), "seed {seed}");
        assert_eq!(store.root(), roots.last().copied(), "seed {seed}");
        assert_eq!(store.load_state().unwrap(), kv::export(&chain.final_state), "seed {seed}");
    }
}

#[test]
fn a_consensus_record_is_written_after_the_height_staged_before_it() {
    let chain = fixture::chain(13, 6, 300);
    let dir = tempfile::tempdir().unwrap();
    let mut store = fixture::fresh_store(dir.path(), &chain);
    for h in &chain.heights {
        store.stage(h.height(), &h.changes, Some(h.data())).unwrap();
        let next = Height::new(h.height().get() + 1);
        store.append_consensus_record(next, b"prevote").unwrap();
        // The record's synced write waited for the height's batch: both are on disk.
        assert_eq!(store.durable_height(), Some(h.height()), "a record ran ahead of its height");
        assert_eq!(store.consensus_records(next).unwrap(), vec![b"prevote".to_vec()]);
    }
}

#[test]
fn a_tx_replayed_while_its_first_block_is_being_written_keeps_its_first_index_entry() {
    for seed in [14, 15, 16] {
        let mut chain = fixture::chain(seed, 2, 300);
        let dir = tempfile::tempdir().unwrap();
        let mut store = fixture::fresh_store(dir.path(), &chain);
        let (last, rest) = chain.heights.split_last().unwrap();
        fixture::commit_all(&mut store, rest);
        let (tx, accepted, replay) = fixture::replay_of_accepted(&mut chain.final_state, last);
        // The first inclusion's batch is handed to the writer and the replay staged at once,
        // while that batch is (almost always) still being written.
        store.stage(last.height(), &last.changes, Some(last.data())).unwrap();
        store.stage(replay.height(), &replay.changes, Some(replay.data())).unwrap();
        store.wait_durable().unwrap();
        let (height, found) = store.tx_receipt(&tx.hash()).unwrap().unwrap();
        assert_eq!((height, found), (last.height(), accepted), "seed {seed}: the first inclusion");
    }
}

#[test]
fn a_reader_asked_for_a_staged_height_answers_once_it_is_written() {
    let chain = fixture::chain(17, 6, 300);
    let roots = fixture::mem_roots(&chain);
    let dir = tempfile::tempdir().unwrap();
    let mut store = fixture::fresh_store(dir.path(), &chain);
    // A handed-out reader (the API's): the node publishes a height as soon as it is staged, so
    // a read naming it must wait for its write, not answer that it does not exist.
    let reader = store.reader();
    for (i, h) in chain.heights.iter().enumerate() {
        store.stage(h.height(), &h.changes, Some(h.data())).unwrap();
        let height = h.height();
        assert_eq!(reader.root_at(height).unwrap(), roots[i + 1], "root at {height}");
        assert!(reader.block(height).unwrap().is_some(), "block at {height}");
        assert!(reader.receipts(height).unwrap().is_some(), "receipts at {height}");
    }
    // A height never staged is still refused at once.
    let next = Height::new(chain.heights.last().unwrap().height().get() + 1);
    assert!(reader.root_at(next).is_err());
    assert!(reader.block(next).unwrap().is_none());
}

#[test]
fn a_settled_reader_finds_the_txs_of_every_staged_height() {
    let chain = fixture::chain(18, 4, 300);
    let dir = tempfile::tempdir().unwrap();
    let mut store = fixture::fresh_store(dir.path(), &chain);
    let reader = store.reader();
    for h in &chain.heights {
        store.stage(h.height(), &h.changes, Some(h.data())).unwrap();
        reader.settle();
        let tx = h.block.txs.last().unwrap().hash();
        let (height, _) = reader.tx_receipt(&tx).unwrap().expect("the tx of a staged height");
        assert_eq!(height, h.height());
    }
}
