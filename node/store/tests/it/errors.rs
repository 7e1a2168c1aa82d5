//! Foreign, corrupted, locked, full and read-only stores give clear errors, never a panic or a
//! half-written height.

use crate::fixture::{self, config};
use std::path::Path;
use std::process::Command;
use tokenbook_ledger::kv::KvMap;
use tokenbook_protocol::Height;
use tokenbook_store::{Store, StoreConfig, StoreError};

#[test]
fn another_programs_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"not a database").unwrap();
    let err = Store::open(dir.path(), config()).unwrap_err();
    assert_eq!(err.code(), "store_foreign", "{err}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    // A first open interrupted before RocksDB wrote CURRENT is still a store to open.
    let interrupted = tempfile::tempdir().unwrap();
    std::fs::write(interrupted.path().join("LOCK"), b"").unwrap();
    std::fs::write(interrupted.path().join("LOG"), b"").unwrap();
    Store::open(interrupted.path(), config()).unwrap();
    // A RocksDB database written by someone else.
    let other = tempfile::tempdir().unwrap();
    {
        let db = rocksdb::DB::open_default(other.path()).unwrap();
        db.put(b"hello", b"world").unwrap();
    }
    let err = Store::open(other.path(), config()).unwrap_err();
    assert_eq!(err.code(), "store_foreign", "{err}");
}

#[test]
fn another_chain_or_genesis_is_refused() {
    let chain = fixture::chain(31, 1, 20);
    let dir = tempfile::tempdir().unwrap();
    drop(fixture::fresh_store(dir.path(), &chain));
    let err = Store::open(dir.path(), StoreConfig::new("other-chain")).unwrap_err();
    assert!(
        matches!(&err, StoreError::Foreign { found, .. } if found.contains(fixture::CHAIN)),
        "{err}"
    );
    let mut store = Store::open(dir.path(), config()).unwrap();
    let mut other: KvMap = chain.genesis.clone();
    other.insert(vec![0xEE], vec![1]);
    let err = store.init_genesis(&other).unwrap_err();
    assert_eq!(err.code(), "store_foreign", "{err}");
}

#[test]
fn a_second_process_cannot_open_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path(), config()).unwrap();
    let err = Store::open(dir.path(), config()).unwrap_err();
    assert_eq!(err.code(), "store_locked", "{err}");
}

#[test]
fn a_corrupted_store_refuses_to_start() {
    let chain = fixture::chain(32, 2, 100);
    let dir = tempfile::tempdir().unwrap();
    let mut store = fixture::fresh_store(dir.path(), &chain);
    fixture::commit_all(&mut store, &chain.heights);
    drop(store);
    // Metadata that disagrees with the tree.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    {
        let names = tokenbook_store::schema::COLUMN_FAMILIES;
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), copy.path(), names).unwrap();
        let meta = db.cf_handle(tokenbook_store::schema::META).unwrap();
        db.put_cf(meta, tokenbook_store::schema::meta::ROOT, [7u8; 32]).unwrap();
    }
    let err = Store::open(copy.path(), config()).unwrap_err();
    assert_eq!(err.code(), "store_corrupt", "{err}");
    // Every table file overwritten in the middle: checksums catch it on open or first read.
    {
        let names = tokenbook_store::schema::COLUMN_FAMILIES;
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), names).unwrap();
        for name in names {
            db.flush_cf(db.cf_handle(name).unwrap()).unwrap();
        }
    }
    let mut damaged = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sst") {
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 3;
            let end = bytes.len().min(middle + 64);
            for b in &mut bytes[middle..end] {
                *b ^= 0xA5;
            }
            std::fs::write(&path, bytes).unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 0);
    let err = Store::open(dir.path(), config()).unwrap_err();
    assert_eq!(err.code(), "store_corrupt", "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A small tmpfs at a fresh mount point, or `None` when this process may not mount (the test
/// then says so and checks nothing; CI runs as root).
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs(dir))
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.0.path())
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_stops_the_store_and_loses_no_committed_height() {
    let Some(fs) = Tmpfs::mount("24m") else { return };
    let chain = fixture::chain(33, 40, 1_000);
    let roots = fixture::mem_roots(&chain);
    let dir = fs.0.path().join("store");
    let mut store = fixture::fresh_store(&dir, &chain);
    let mut committed = Height::new(0);
    let mut failure = None;
    for h in &chain.heights {
        match store.commit(h.height(), &h.changes, Some(h.data())) {
            Ok(_) => committed = h.height(),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("24 MiB must fill up");
    assert_eq!(err.code(), "store_disk_full", "{err}");
    assert!(err.to_string().contains("disk is full"), "{err}");
    // Nothing more is written until the store is reopened.
    let next = &chain.heights[committed.get() as usize];
    let stopped = store.commit(next.height(), &next.changes, Some(next.data())).unwrap_err();
    assert!(
        matches!(&stopped, StoreError::Stopped(cause) if cause.contains("disk is full")),
        "{stopped}"
    );
    assert!(store.append_consensus_record(next.height(), b"vote").is_err());
    drop(store);
    fs.remount("size=512m");
    let store = Store::open(&dir, config()).unwrap();
    // The failed batch is all there (it reached the log before the error) or not at all.
    let height = store.height().unwrap();
    assert!(
        height == committed || Some(height) == committed.next(),
        "reopened at {height}, last acknowledged {committed}"
    );
    assert_eq!(store.root(), Some(roots[height.get() as usize]));
}

#[test]
fn a_read_only_directory_gives_a_clear_error() {
    let Some(fs) = Tmpfs::mount("64m") else { return };
    let chain = fixture::chain(34, 1, 20);
    let dir = fs.0.path().join("store");
    drop(fixture::fresh_store(&dir, &chain));
    fs.remount("ro");
    let err = Store::open(&dir, config()).unwrap_err();
    assert_eq!(err.code(), "store_read_only", "{err}");
    let err = Store::open(&fs.0.path().join("new"), config()).unwrap_err();
    assert_eq!(err.code(), "store_read_only", "{err}");
}
