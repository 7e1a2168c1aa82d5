//! Pruning old tree versions.
//!
//! Each version's [`PruneLog`] names the tree nodes it made stale (unreachable from that
//! version on) and the keys it changed (whose older versioned values it superseded). Pruning to
//! `keep_from` replays the logs of versions `≤ keep_from`: deletes those nodes, each changed
//! key's values older than the logged version, and the logged version's own value if it is a
//! deletion (with the key's preimage, unless the key came back later). One batch per version,
//! unsynced: pruning is idempotent, and a crash part-way leaves logs the next prune replays.

use crate::db::Db;
use crate::error::StoreError;
use crate::schema::{self, PruneLog};
use rocksdb::WriteBatch;
use tokenbook_protocol::codec::decode_record;

/// Deletes everything no version at or above `keep_from` needs.
pub(crate) fn prune(db: &Db, keep_from: u64) -> Result<(), StoreError> {
    let logs = db.cf(schema::PRUNE_LOG)?;
    loop {
        let mut it = db.raw().raw_iterator_cf(logs);
        it.seek_to_first();
        let (version, log) = match (it.key(), it.value()) {
            (Some(k), Some(v)) => match schema::be_u64(k) {
                Some(version) if version <= keep_from => (version, decode_log(v)?),
                _ => return Ok(()),
            },
            _ => {
                it.status()?;
                return Ok(());
            }
        };
        drop(it);
        let mut batch = WriteBatch::default();
        prune_version(db, &mut batch, version, &log)?;
        batch.delete_cf(logs, version.to_be_bytes());
        db.write(batch, false)?;
    }
}

fn decode_log(bytes: &[u8]) -> Result<PruneLog, StoreError> {
    decode_record(bytes).map_err(|e| StoreError::Corrupt(format!("prune log: {e}")))
}

fn prune_version(
    db: &Db,
    batch: &mut WriteBatch,
    version: u64,
    log: &PruneLog,
) -> Result<(), StoreError> {
    let nodes = db.cf(schema::TREE_NODES)?;
    for node in &log.stale_nodes {
        batch.delete_cf(nodes, node);
    }
    let values = db.cf(schema::TREE_VALUES)?;
    let preimages = db.cf(schema::PREIMAGES)?;
    let mut it = db.raw().raw_iterator_cf(values);
    for hash in &log.changed {
        it.seek(schema::value_key(hash, 0));
        while let Some(k) = it.key() {
            let Some(v) = entry_version(k, hash) else { break };
            if v > version {
                break;
            }
            let deleted = it.value() == Some(&[0][..]);
            if v < version || deleted {
                batch.delete_cf(values, k);
            }
            if v == version && deleted {
                it.next();
                let comes_back = it.key().is_some_and(|k| entry_version(k, hash).is_some());
                if !comes_back {
                    batch.delete_cf(preimages, hash);
                }
                break;
            }
            it.next();
        }
    }
    it.status()?;
    Ok(())
}

/// The version of a tree-value key of `hash`, or `None` for another key.
fn entry_version(key: &[u8], hash: &[u8; 32]) -> Option<u64> {
    if key.len() == 40 && key[..32] == hash[..] { schema::be_u64(&key[32..]) } else { None }
}
