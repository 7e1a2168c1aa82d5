//! Pruning old tree versions.
//!
//! A tree node recorded stale since version `s` is unreachable from every root at `s` or later;
//! a versioned value recorded stale since `s` was superseded (or deleted) at `s`. Pruning to
//! `keep_from` deletes both kinds with `s ≤ keep_from`, in bounded unsynced batches (pruning is
//! idempotent: a crash part-way leaves entries the next prune deletes). A deleted key's preimage
//! goes with its last versioned value.

use crate::db::Db;
use crate::error::StoreError;
use crate::schema;
use rocksdb::WriteBatch;

/// Entries deleted per write batch.
const BATCH_ENTRIES: usize = 10_000;

/// Deletes everything no version at or above `keep_from` needs.
pub(crate) fn prune(db: &Db, keep_from: u64) -> Result<(), StoreError> {
    prune_nodes(db, keep_from)?;
    prune_values(db, keep_from)
}

fn prune_nodes(db: &Db, keep_from: u64) -> Result<(), StoreError> {
    let stale = db.cf(schema::TREE_STALE)?;
    let nodes = db.cf(schema::TREE_NODES)?;
    loop {
        let rows = stale_rows(db, schema::TREE_STALE, keep_from)?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for key in &rows {
            batch.delete_cf(nodes, &key[8..]);
            batch.delete_cf(stale, key);
        }
        db.write(batch, false)?;
    }
}

fn prune_values(db: &Db, keep_from: u64) -> Result<(), StoreError> {
    let stale = db.cf(schema::VALUE_STALE)?;
    let values = db.cf(schema::TREE_VALUES)?;
    let preimages = db.cf(schema::PREIMAGES)?;
    loop {
        let rows = stale_rows(db, schema::VALUE_STALE, keep_from)?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for key in &rows {
            let since = schema::be_u64(&key[..8]).unwrap_or_default();
            let hash: [u8; 32] = key[8..40].try_into().unwrap_or_default();
            let old = schema::be_u64(&key[40..]).unwrap_or_default();
            batch.delete_cf(values, schema::value_key(&hash, old));
            batch.delete_cf(stale, key);
            // A deletion's own tombstone: the key is gone unless it came back later.
            if since == old && !has_newer_value(db, &hash, since)? {
                batch.delete_cf(preimages, hash);
            }
        }
        db.write(batch, false)?;
    }
}

/// Up to [`BATCH_ENTRIES`] stale-index keys with stale-since ≤ `keep_from`.
fn stale_rows(db: &Db, cf: &str, keep_from: u64) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut it = db.raw().raw_iterator_cf(db.cf(cf)?);
    it.seek_to_first();
    let mut rows = Vec::new();
    while rows.len() < BATCH_ENTRIES {
        match it.key() {
            Some(k) if k.len() >= 8 && schema::be_u64(&k[..8]).is_some_and(|s| s <= keep_from) => {
                rows.push(k.to_vec());
            }
            _ => break,
        }
        it.next();
    }
    it.status()?;
    Ok(rows)
}

/// Whether the key has a versioned value after `version`.
fn has_newer_value(db: &Db, hash: &[u8; 32], version: u64) -> Result<bool, StoreError> {
    Ok(db.versioned_value(hash, u64::MAX)?.is_some_and(|(v, _)| v > version))
}
