//! [`StoreReader`]: the store's read side, shareable across threads (cloning it is cheap), so
//! API reads never run on the task that commits.
//!
//! Promises: every read names a committed height or data that never changes once written
//! (blocks, certificates, receipts, a tree version); a commit is one RocksDB batch, so a reader
//! sees a height whole or not at all. A read never waits for a commit, with one exception: a
//! reader handed out by [`crate::Store::reader`] asked for a height the store has staged but
//! not yet written ([`crate::Store::stage`]) waits for that write (tens of milliseconds; at
//! most [`StoreReader::STAGED_WAIT`]) — the node publishes a height as soon as it is staged, so
//! an API read naming it must find it. The store's own reads never wait. A height the
//! background pruner is removing may answer [`StoreError::NotRetained`] mid-read, never a wrong
//! value.

use crate::db::{Db, DbTree, NodeCache};
use crate::error::StoreError;
use crate::prune::Pruning;
use crate::schema;
use crate::tree::{self, StateProof, Tree, key_hash, to_hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokenbook_ledger::BlockReceipts;
use tokenbook_ledger::ReceiptRecord;
use tokenbook_ledger::kv::KvMap;
use tokenbook_protocol::codec::decode_record;
use tokenbook_protocol::{Block, CommitCertificate, Hash, Height};

/// The read side of a [`crate::Store`].
#[derive(Clone)]
pub struct StoreReader {
    pub(crate) db: Arc<Db>,
    /// The commit path's node cache: the store's own reader reads through it; a reader handed
    /// to other threads ([`crate::Store::reader`]) has none (see there).
    pub(crate) cache: Option<Arc<NodeCache>>,
    pub(crate) pruning: Arc<Pruning>,
    /// The last committed height plus one (0: none yet, so genesis, height 0, is 1), set by the
    /// store after each commit.
    pub(crate) committed: Arc<AtomicU64>,
    /// The store's head plus one, written or not.
    pub(crate) staged: Arc<AtomicU64>,
    /// Whether reads of a staged height wait for its write (handed-out readers do).
    pub(crate) waits: bool,
}

impl std::fmt::Debug for StoreReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreReader").field("height", &self.height()).finish()
    }
}

impl StoreReader {
    /// The longest a handed-out reader waits for a staged height's write.
    pub const STAGED_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

    /// Waits, for a handed-out reader, until `height` is written if the store has staged it.
    fn written(&self, height: Height) {
        if !self.waits {
            return;
        }
        let deadline = std::time::Instant::now() + Self::STAGED_WAIT;
        while self.committed.load(Ordering::Acquire) <= height.get()
            && self.staged.load(Ordering::Acquire) > height.get()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Waits, for a handed-out reader, until every height the store has staged is written
    /// (a lookup by tx hash cannot name its height, so it settles first where it must not miss).
    pub fn settle(&self) {
        let staged = self.staged.load(Ordering::Acquire);
        if let Some(last) = staged.checked_sub(1) {
            self.written(Height::new(last));
        }
    }

    /// The last committed height, if any.
    #[must_use]
    pub fn height(&self) -> Option<Height> {
        match self.committed.load(Ordering::Acquire) {
            0 => None,
            h => Some(Height::new(h - 1)),
        }
    }

    pub(crate) fn tree(&self) -> DbTree {
        match &self.cache {
            Some(cache) => DbTree::cached(Arc::clone(&self.db), Arc::clone(cache)),
            None => DbTree::new(Arc::clone(&self.db)),
        }
    }

    /// The root after a retained height.
    ///
    /// # Errors
    /// [`StoreError::NotRetained`] for a pruned or future height.
    pub fn root_at(&self, height: Height) -> Result<Hash, StoreError> {
        self.check_retained(height)?;
        match Tree::new(&self.tree()).get_root_hash_option(height.get()) {
            Ok(Some(root)) => Ok(to_hash(root)),
            Ok(None) => Err(StoreError::NotRetained(height)),
            Err(e) => Err(StoreError::from_tree(&e)),
        }
    }

    /// A proof of a ledger key's value, or its absence, after a retained height.
    ///
    /// # Errors
    /// [`StoreError::NotRetained`] for a pruned or future height.
    pub fn prove(&self, key: &[u8], height: Height) -> Result<StateProof, StoreError> {
        self.root_at(height)?;
        tree::prove(&self.tree(), key, height.get())
    }

    /// A ledger key's value after a retained height (no proof).
    ///
    /// # Errors
    /// [`StoreError::NotRetained`] for a pruned or future height; read errors.
    pub fn get_state_at(&self, key: &[u8], height: Height) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_retained(height)?;
        Ok(self.db.versioned_value(&key_hash(key).0, height.get())?.and_then(|(_, v)| v))
    }

    /// A ledger key's value after the last committed height.
    ///
    /// # Errors
    /// Read errors.
    pub fn get_state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(height) = self.height() else { return Ok(None) };
        Ok(self.db.versioned_value(&key_hash(key).0, height.get())?.and_then(|(_, v)| v))
    }

    /// The whole current state (to load the ledger at start).
    ///
    /// # Errors
    /// Read errors.
    pub fn load_state(&self) -> Result<KvMap, StoreError> {
        match self.height() {
            Some(height) => self.db.state_at(height.get()),
            None => Ok(KvMap::new()),
        }
    }

    /// The block at a height.
    ///
    /// # Errors
    /// Read errors; a stored block that does not decode is corruption.
    pub fn block(&self, height: Height) -> Result<Option<Block>, StoreError> {
        self.record(schema::BLOCKS, height)
    }

    /// The block's canonical bytes at a height.
    ///
    /// # Errors
    /// Read errors.
    pub fn block_bytes(&self, height: Height) -> Result<Option<Vec<u8>>, StoreError> {
        self.written(height);
        self.db.get(schema::BLOCKS, &schema::height_key(height))
    }

    /// The commit certificate of a height.
    ///
    /// # Errors
    /// Read errors; corruption.
    pub fn certificate(&self, height: Height) -> Result<Option<CommitCertificate>, StoreError> {
        self.record(schema::CERTS, height)
    }

    /// The receipts of a height.
    ///
    /// # Errors
    /// Read errors; corruption.
    pub fn receipts(&self, height: Height) -> Result<Option<BlockReceipts>, StoreError> {
        self.record(schema::RECEIPTS, height)
    }

    /// Where a committed tx is: its height and receipt.
    ///
    /// # Errors
    /// Read errors; corruption.
    pub fn tx_receipt(
        &self,
        tx_hash: &Hash,
    ) -> Result<Option<(Height, ReceiptRecord)>, StoreError> {
        let Some(location) = self.db.get(schema::TX_INDEX, &tx_hash.0)? else { return Ok(None) };
        let (height, position) = split_location(&location)?;
        let receipts = self.receipts(height)?.ok_or_else(|| {
            StoreError::Corrupt(format!("tx index names height {height} without receipts"))
        })?;
        let receipt = receipts.receipts.get(position as usize).cloned().ok_or_else(|| {
            StoreError::Corrupt(format!("tx index names receipt {position} of height {height}"))
        })?;
        Ok(Some((height, receipt)))
    }

    /// An account's receipt positions `(height, position)`, oldest first, from `from` on.
    /// Positions [`schema::BEGIN_EVENTS`]/[`schema::END_EVENTS`] are block housekeeping.
    ///
    /// # Errors
    /// Read errors.
    pub fn account_history(
        &self,
        account: u64,
        from: Height,
        limit: usize,
    ) -> Result<Vec<(Height, u32)>, StoreError> {
        self.history(schema::ACCOUNT_INDEX, &account.to_be_bytes(), from, limit)
    }

    /// A market's receipt positions, as [`Store::account_history`].
    ///
    /// # Errors
    /// Read errors.
    pub fn market_history(
        &self,
        market: u32,
        from: Height,
        limit: usize,
    ) -> Result<Vec<(Height, u32)>, StoreError> {
        self.history(schema::MARKET_INDEX, &market.to_be_bytes(), from, limit)
    }

    /// The heights holding clearing events (`Event::is_clearing`), across all accounts, from
    /// `from` on, oldest first, at most `heights` of them, each with all its receipt positions.
    ///
    /// # Errors
    /// Read errors.
    pub fn clearing_history(
        &self,
        from: Height,
        heights: usize,
    ) -> Result<Vec<(Height, Vec<u32>)>, StoreError> {
        let mut it = self.db.raw().raw_iterator_cf(self.db.cf(schema::CLEARING_INDEX)?);
        it.seek(schema::height_key(from));
        let mut out = Vec::new();
        while out.len() < heights {
            let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
            let height = Height::new(schema::be_u64(k).unwrap_or_default());
            let positions = v.chunks_exact(4).map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]));
            out.push((height, positions.collect()));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// The first retained height whose block time is at or after `time` (ms), by binary search
    /// over the blocks' headers; `None` when no retained block is that late.
    ///
    /// # Errors
    /// Read errors, or a block that does not decode.
    pub fn height_at_time(&self, time: u64) -> Result<Option<Height>, StoreError> {
        let Some(latest) = self.height() else { return Ok(None) };
        let (mut low, mut high) = (self.pruning.floor().max(1), latest.get().saturating_add(1));
        while low < high {
            let mid = low + (high - low) / 2;
            let at = self.block(Height::new(mid))?.map_or(0, |b| b.header.time.get());
            if at < time { low = mid + 1 } else { high = mid }
        }
        Ok((low <= latest.get()).then_some(Height::new(low)))
    }

    fn history(
        &self,
        cf: &str,
        id: &[u8],
        from: Height,
        limit: usize,
    ) -> Result<Vec<(Height, u32)>, StoreError> {
        let mut it = self.db.raw().raw_iterator_cf(self.db.cf(cf)?);
        it.seek(schema::index_key(id, from));
        let mut out = Vec::new();
        while out.len() < limit {
            let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
            if k.len() != id.len() + 8 || !k.starts_with(id) {
                break;
            }
            let height = Height::new(schema::be_u64(&k[id.len()..]).unwrap_or_default());
            for p in v.chunks_exact(4).take(limit - out.len()) {
                out.push((height, u32::from_be_bytes([p[0], p[1], p[2], p[3]])));
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    pub(crate) fn check_retained(&self, height: Height) -> Result<(), StoreError> {
        self.written(height);
        match self.height() {
            Some(latest) if height <= latest && height.get() >= self.pruning.floor() => Ok(()),
            _ => Err(StoreError::NotRetained(height)),
        }
    }

    pub(crate) fn record<T: bincode::Decode<()>>(
        &self,
        cf: &str,
        height: Height,
    ) -> Result<Option<T>, StoreError> {
        self.written(height);
        let Some(bytes) = self.db.get(cf, &schema::height_key(height))? else { return Ok(None) };
        decode_record(&bytes).map(Some).map_err(|e| {
            StoreError::Corrupt(format!("{cf} at height {height} does not decode: {e}"))
        })
    }
}

/// A tx index entry: height (8 bytes) and receipt position (4 bytes).
pub(crate) fn split_location(bytes: &[u8]) -> Result<(Height, u32), StoreError> {
    if bytes.len() != 12 {
        return Err(StoreError::Corrupt("a receipt location is not 12 bytes".into()));
    }
    let (h, p) = bytes.split_at(8);
    let height = schema::be_u64(h).unwrap_or_default();
    let position = u32::from_be_bytes(p.try_into().unwrap_or_default());
    Ok((Height::new(height), position))
}
