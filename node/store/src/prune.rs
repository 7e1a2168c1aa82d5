//! Pruning old tree versions, off the commit path and at a cost proportional to what it removes.
//!
//! Each version's [`PruneLog`] names the tree nodes it made stale (unreachable from that
//! version on) and the keys it changed (whose older versioned values it superseded). Pruning to
//! `keep_from` replays the logs of versions `≤ keep_from` in order: deletes those nodes, each
//! changed key's previous value, and the logged version's own value if it is a deletion (with
//! the key's preimage, unless the key came back later). One batch per version, unsynced:
//! pruning is idempotent, and a crash part-way leaves logs the next prune replays.
//!
//! **Cost.** Deleted entries stay behind as tombstones until compaction, and a scan that starts
//! before them steps over every one (the stall issue #16 found: each prune re-scanned every
//! earlier prune's tombstones, seconds per prune after ~17,000 heights). So nothing here scans
//! from a position earlier prunes deleted: the logs are read from the first version not yet
//! pruned, and a changed key's previous value is found by a backward seek from just below the
//! logged version — since the logs are replayed in order, every older value of that key was
//! deleted by an earlier log, so the newest one below is the only one left. [`PruneStats`]
//! counts the tombstones a prune stepped over (RocksDB's perf counter) so tests hold it to that.
//!
//! [`Pruning`] runs prunes on a background thread (one at a time) so a commit never waits for
//! one; the retained floor is raised before the prune starts, so no reader asks for a version
//! being deleted.

use crate::db::Db;
use crate::error::StoreError;
use crate::schema::{self, PruneLog, meta};
use rocksdb::perf::{PerfContext, PerfMetric, PerfStatsLevel, set_perf_stats};
use rocksdb::{ReadOptions, WriteBatch};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokenbook_protocol::codec::decode_record;

/// What one prune did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Versions whose logs were replayed.
    pub versions: u64,
    /// Entries deleted (tree nodes, values, preimages, logs).
    pub deleted: u64,
    /// Tombstones of earlier deletions the prune's reads stepped over.
    pub tombstones_skipped: u64,
    /// How long it took.
    pub took: Duration,
}

/// The store's pruning state, shared with the background prune.
#[derive(Debug, Default)]
pub(crate) struct Pruning {
    /// Lowest version kept: readers refuse versions below it. Raised before a prune starts.
    floor: AtomicU64,
    /// What the background worker is asked to reach, and whether it runs.
    work: Mutex<Work>,
    /// The first prune failure (the store stops on it).
    failure: Mutex<Option<StoreError>>,
    /// The last prune's measurements.
    last: Mutex<PruneStats>,
    /// The background worker.
    worker: Mutex<Option<JoinHandle<()>>>,
    /// Held by every store write and by each prune batch's preimage decision.
    writes: Mutex<()>,
}

#[derive(Debug, Default)]
struct Work {
    /// The highest `keep_from` asked for.
    target: u64,
    /// Versions below this are pruned.
    done: u64,
    /// Whether the worker is running (it takes up every target raised meanwhile).
    running: bool,
}

impl Pruning {
    /// Pruning state for a store whose versions below `floor` are pruned.
    pub(crate) fn new(floor: u64) -> Self {
        let work = Mutex::new(Work { target: floor, done: floor, running: false });
        Pruning { floor: AtomicU64::new(floor), work, ..Pruning::default() }
    }

    /// Lowest version kept.
    pub(crate) fn floor(&self) -> u64 {
        self.floor.load(Ordering::Acquire)
    }

    /// The lock every store write holds (see [`drop_preimages`]).
    pub(crate) fn writes(&self) -> &Mutex<()> {
        &self.writes
    }

    /// The first failure of a prune, if any.
    pub(crate) fn failure(&self) -> Option<StoreError> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// The last prune's measurements.
    pub(crate) fn last(&self) -> PruneStats {
        self.last.lock().map(|s| *s).unwrap_or_default()
    }

    /// Waits until every prune asked for so far has finished.
    pub(crate) fn wait(&self) {
        let handle = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Prunes to `keep_from` on this thread (after the background worker finished).
    pub(crate) fn run(&self, db: &Db, keep_from: u64) -> Result<(), StoreError> {
        self.wait();
        self.floor.fetch_max(keep_from, Ordering::AcqRel);
        let from = self.work.lock().map(|w| w.done).unwrap_or(keep_from);
        if keep_from <= from {
            return Ok(());
        }
        self.prune_and_record(db, from, keep_from)
    }

    /// Asks the background worker to prune to `keep_from`, starting it if it is not running.
    pub(crate) fn start(self: &Arc<Self>, db: &Arc<Db>, keep_from: u64) {
        // Readers refuse the versions being pruned from now on.
        self.floor.fetch_max(keep_from, Ordering::AcqRel);
        let Ok(mut work) = self.work.lock() else { return };
        work.target = work.target.max(keep_from);
        if work.running {
            return;
        }
        work.running = true;
        drop(work);
        self.wait();
        let (pruning, db) = (Arc::clone(self), Arc::clone(db));
        let spawned = std::thread::Builder::new()
            .name("store-prune".into())
            .spawn(move || pruning.work_through(&db))
            .map_err(|e| StoreError::Io(format!("cannot start the prune thread: {e}")));
        match spawned {
            Ok(handle) => {
                if let Ok(mut worker) = self.worker.lock() {
                    *worker = Some(handle);
                }
            }
            Err(e) => {
                self.fail(e);
                if let Ok(mut work) = self.work.lock() {
                    work.running = false;
                }
            }
        }
    }

    /// The worker: prunes to the target, again while it was raised meanwhile.
    fn work_through(&self, db: &Db) {
        loop {
            let (from, target) = {
                let Ok(mut work) = self.work.lock() else { return };
                if work.target <= work.done || self.failure().is_some() {
                    work.running = false;
                    return;
                }
                (work.done, work.target)
            };
            let _ = self.prune_and_record(db, from, target);
        }
    }

    fn prune_and_record(&self, db: &Db, from: u64, keep_from: u64) -> Result<(), StoreError> {
        let result = prune(db, &self.writes, from, keep_from).and_then(|stats| {
            let mut batch = WriteBatch::default();
            batch.put_cf(db.cf(schema::META)?, meta::PRUNED_TO, keep_from.to_be_bytes());
            db.write(batch, true)?;
            Ok(stats)
        });
        match result {
            Ok(stats) => {
                if let Ok(mut last) = self.last.lock() {
                    *last = stats;
                }
                if let Ok(mut work) = self.work.lock() {
                    work.done = work.done.max(keep_from);
                }
                Ok(())
            }
            Err(e) => {
                self.fail(e.clone());
                Err(e)
            }
        }
    }

    fn fail(&self, e: StoreError) {
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(e);
        }
    }
}

/// Deletes everything no version at or above `keep_from` needs, replaying the logs of versions
/// `from..=keep_from` (those below `from` were replayed by earlier prunes).
pub(crate) fn prune(
    db: &Db,
    writes: &Mutex<()>,
    from: u64,
    keep_from: u64,
) -> Result<PruneStats, StoreError> {
    let started = Instant::now();
    set_perf_stats(PerfStatsLevel::EnableCount);
    let mut perf = PerfContext::default();
    perf.reset();
    let logs = db.cf(schema::PRUNE_LOG)?;
    let mut stats = PruneStats::default();
    let mut next = from;
    loop {
        let mut it = db.raw().raw_iterator_cf(logs);
        it.seek(next.to_be_bytes());
        let (version, log) = match (it.key(), it.value()) {
            (Some(k), Some(v)) => match schema::be_u64(k) {
                Some(version) if version <= keep_from => (version, decode_log(v)?),
                _ => break,
            },
            _ => {
                it.status()?;
                break;
            }
        };
        drop(it);
        let mut batch = WriteBatch::default();
        let deleted_keys = prune_version(db, &mut batch, version, &log)?;
        batch.delete_cf(logs, version.to_be_bytes());
        {
            let _writes =
                writes.lock().map_err(|_| StoreError::Io("write lock poisoned".into()))?;
            drop_preimages(db, &mut batch, version, &deleted_keys)?;
            stats.deleted += batch.len() as u64;
            db.write(batch, false)?;
        }
        stats.versions += 1;
        next = version.saturating_add(1);
    }
    stats.tombstones_skipped = perf.metric(PerfMetric::InternalDeleteSkippedCount);
    set_perf_stats(PerfStatsLevel::Disable);
    stats.took = started.elapsed();
    Ok(stats)
}

fn decode_log(bytes: &[u8]) -> Result<PruneLog, StoreError> {
    decode_record(bytes).map_err(|e| StoreError::Corrupt(format!("prune log: {e}")))
}

/// Adds the deletions of version `version`'s log to `batch`; returns the keys it deleted
/// whose preimages may go too (decided under the write lock: [`drop_preimages`]).
fn prune_version(
    db: &Db,
    batch: &mut WriteBatch,
    version: u64,
    log: &PruneLog,
) -> Result<Vec<[u8; 32]>, StoreError> {
    let nodes = db.cf(schema::TREE_NODES)?;
    for node in &log.stale_nodes {
        batch.delete_cf(nodes, node);
    }
    let values = db.cf(schema::TREE_VALUES)?;
    let mut deleted_keys = Vec::new();
    for hash in &log.changed {
        let mut it = key_iterator(db, hash)?;
        // The value this version superseded: the only one left below it.
        if let Some(below) = version.checked_sub(1) {
            it.seek_for_prev(schema::value_key(hash, below));
            if let Some(k) = it.key().filter(|k| entry_version(k, hash).is_some()) {
                batch.delete_cf(values, k);
            }
        }
        // The version's own value, if it deleted the key.
        it.seek(schema::value_key(hash, version));
        let deleted = it.key().is_some_and(|k| entry_version(k, hash) == Some(version))
            && it.value() == Some(&[0][..]);
        it.status()?;
        if deleted {
            batch.delete_cf(values, schema::value_key(hash, version));
            deleted_keys.push(*hash);
        }
    }
    Ok(deleted_keys)
}

/// Deletes the preimages of keys deleted at `version` that no later version brought back.
/// Runs under the store's write lock: a commit that brings a key back either wrote before
/// (seen here) or writes after (and puts the preimage again).
fn drop_preimages(
    db: &Db,
    batch: &mut WriteBatch,
    version: u64,
    keys: &[[u8; 32]],
) -> Result<(), StoreError> {
    let preimages = db.cf(schema::PREIMAGES)?;
    for hash in keys {
        let mut it = key_iterator(db, hash)?;
        it.seek(schema::value_key(hash, version.saturating_add(1)));
        let comes_back = it.key().is_some_and(|k| entry_version(k, hash).is_some());
        it.status()?;
        if !comes_back {
            batch.delete_cf(preimages, hash);
        }
    }
    Ok(())
}

/// An iterator over the tree values of one key: a seek never walks over other keys'
/// tombstones.
fn key_iterator<'a>(
    db: &'a Db,
    hash: &[u8; 32],
) -> Result<rocksdb::DBRawIteratorWithThreadMode<'a, rocksdb::DB>, StoreError> {
    let mut options = ReadOptions::default();
    options.set_iterate_lower_bound(schema::value_key(hash, 0).to_vec());
    options.set_iterate_upper_bound(schema::value_key(hash, u64::MAX).to_vec());
    Ok(db.raw().raw_iterator_cf_opt(db.cf(schema::TREE_VALUES)?, options))
}

/// The version of a tree-value key of `hash`, or `None` for another key.
fn entry_version(key: &[u8], hash: &[u8; 32]) -> Option<u64> {
    if key.len() == 40 && key[..32] == hash[..] { schema::be_u64(&key[32..]) } else { None }
}
