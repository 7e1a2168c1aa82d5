//! Snapshot export and import (state sync): round trip, tampered chunks, bad manifests, and a
//! restored node that goes on committing blocks with the same roots.

use crate::fixture::{self, config};
use tokenbook_ledger::kv;
use tokenbook_protocol::codec::encode;
use tokenbook_protocol::{Hash, Height};
use tokenbook_store::snapshot::{MANIFEST_FILE, chunk_file, decode_manifest, read_snapshot_file};
use tokenbook_store::{SnapshotChunk, SnapshotImport, Store, StoreError};

struct Exported {
    chain: fixture::Chain,
    source: tempfile::TempDir,
    files: tempfile::TempDir,
    height: Height,
}

/// A chain committed up to its third-last height, exported there in chunks of 700 entries.
fn exported() -> Exported {
    let chain = fixture::chain(21, 4, 300);
    let source = tempfile::tempdir().unwrap();
    let mut store = fixture::fresh_store(source.path(), &chain);
    let stop = chain.heights.len() - 2;
    fixture::commit_all(&mut store, &chain.heights[..stop]);
    let height = store.height().unwrap();
    let files = tempfile::tempdir().unwrap();
    let manifest = store.export_snapshot(height, files.path(), 700).unwrap();
    assert!(manifest.chunk_hashes.len() > 3, "several chunks: {}", manifest.chunk_hashes.len());
    assert_eq!(manifest.root, store.root().unwrap());
    Exported { chain, source, files, height }
}

fn manifest(e: &Exported) -> tokenbook_store::SnapshotManifest {
    decode_manifest(&read_snapshot_file(&e.files.path().join(MANIFEST_FILE)).unwrap()).unwrap()
}

fn chunk(e: &Exported, index: u32) -> Vec<u8> {
    read_snapshot_file(&e.files.path().join(chunk_file(index))).unwrap()
}

#[test]
fn snapshot_round_trip_then_the_new_node_follows_the_chain() {
    let e = exported();
    let m = manifest(&e);
    let roots = fixture::mem_roots(&e.chain);
    let target = tempfile::tempdir().unwrap();
    let dir = target.path().join("node");
    let mut import =
        SnapshotImport::begin(&dir, config(), m.clone(), roots[e.height.get() as usize]).unwrap();
    for i in 0..m.chunk_hashes.len() as u32 {
        assert_eq!(import.next_chunk(), i);
        import.add_chunk(&chunk(&e, i)).unwrap();
    }
    let mut restored = import.finish().unwrap();
    assert_eq!(restored.height(), Some(e.height));
    assert_eq!(restored.root(), Some(m.root));
    let source = Store::open(e.source.path(), config()).unwrap();
    assert_eq!(restored.load_state().unwrap(), source.load_state().unwrap());
    // Proofs at the snapshot height work on the new node.
    let proof = restored.prove(&[kv::table::GLOBALS], e.height).unwrap();
    proof.verify(&m.root).unwrap();
    // The restored node commits the remaining blocks with the same roots as everyone else.
    for h in &e.chain.heights[e.height.get() as usize..] {
        let root = restored.commit(h.height(), &h.changes, Some(h.data())).unwrap();
        assert_eq!(root, roots[h.height().get() as usize], "height {}", h.height());
    }
    assert_eq!(restored.load_state().unwrap(), kv::export(&e.chain.final_state));
    // It reopens like any store.
    drop(restored);
    let reopened = Store::open(&dir, config()).unwrap();
    assert_eq!(reopened.root(), Some(*roots.last().unwrap()));
}

#[test]
fn a_tampered_chunk_is_rejected_and_a_good_copy_still_completes() {
    let e = exported();
    let m = manifest(&e);
    let target = tempfile::tempdir().unwrap();
    let dir = target.path().join("node");
    let mut import = SnapshotImport::begin(&dir, config(), m.clone(), m.root).unwrap();
    import.add_chunk(&chunk(&e, 0)).unwrap();
    let good = chunk(&e, 1);
    for position in [0, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[position] ^= 0x01;
        let err = import.add_chunk(&bad).unwrap_err();
        assert_eq!(err.code(), "snapshot_rejected");
        assert!(err.to_string().contains("chunk 1"), "{err}");
        assert_eq!(import.next_chunk(), 1, "a rejected chunk changes nothing");
    }
    // The wrong chunk (a valid one, out of order) is rejected as well.
    assert!(import.add_chunk(&chunk(&e, 2)).is_err());
    for i in 1..m.chunk_hashes.len() as u32 {
        import.add_chunk(&chunk(&e, i)).unwrap();
    }
    assert_eq!(import.finish().unwrap().root(), Some(m.root));
}

#[test]
fn a_manifest_that_lies_is_caught() {
    let e = exported();
    let m = manifest(&e);
    let target = tempfile::tempdir().unwrap();
    // A manifest whose root is not the certified one.
    let mut wrong_root = m.root;
    wrong_root.0[0] ^= 1;
    let err = SnapshotImport::begin(&target.path().join("a"), config(), m.clone(), wrong_root)
        .unwrap_err();
    assert!(matches!(err, StoreError::Snapshot(_)), "{err}");
    // A peer that alters a chunk's entries and lists the altered chunk's hash in its manifest:
    // the chunk matches the manifest but not the root.
    let mut chunk1: SnapshotChunk =
        tokenbook_protocol::codec::decode_record(&chunk(&e, 1)).unwrap();
    chunk1.entries[3].1.push(0);
    let bytes = encode(&chunk1);
    let mut lying = m.clone();
    lying.chunk_hashes[1] = Hash::digest(&bytes);
    let mut import =
        SnapshotImport::begin(&target.path().join("b"), config(), lying, m.root).unwrap();
    import.add_chunk(&chunk(&e, 0)).unwrap();
    let err = import.add_chunk(&bytes).unwrap_err();
    assert!(err.to_string().contains("does not prove the root"), "{err}");
    assert!(import.add_chunk(&chunk(&e, 1)).is_err(), "the import is over after a bad proof");
    // A peer that drops an entry.
    let mut short: SnapshotChunk = tokenbook_protocol::codec::decode_record(&chunk(&e, 1)).unwrap();
    short.entries.remove(5);
    let bytes = encode(&short);
    let mut dropping = m.clone();
    dropping.chunk_hashes[1] = Hash::digest(&bytes);
    let mut import =
        SnapshotImport::begin(&target.path().join("c"), config(), dropping, m.root).unwrap();
    import.add_chunk(&chunk(&e, 0)).unwrap();
    assert!(import.add_chunk(&bytes).is_err());
    // Stopping early leaves no store.
    let mut partial =
        SnapshotImport::begin(&target.path().join("d"), config(), m.clone(), m.root).unwrap();
    partial.add_chunk(&chunk(&e, 0)).unwrap();
    assert!(partial.finish().is_err());
    assert!(!target.path().join("d").join("CURRENT").exists());
}
