//! [`Store`]: the node's durable state — blocks, certificates, receipts and the authenticated
//! ledger state — in one RocksDB database.
//!
//! Promises:
//! - **One batch per height.** [`Store::commit`] writes a height's state changes, tree nodes,
//!   versioned values, stale-node indexes, block, certificate, receipts, receipt indexes and the
//!   new height/root in a single RocksDB write batch, synced to disk before it returns. A crash
//!   at any moment leaves the store at the last height whose `commit` returned (or the one being
//!   written, complete) — never between.
//! - **Or staged, written behind.** [`Store::stage`] computes the same height's tree, root and
//!   batch, returns the root, and leaves the batch to the store's writer thread (`writer.rs`):
//!   the write and sync of height `h` overlap the caller's execution of `h + 1`. One batch is
//!   in flight at most, and every other write waits for it, so writes reach the disk in the
//!   order they were made: a consensus record is never on disk without the heights committed
//!   before it. Readers see a height once it is written; [`Store::wait_durable`] waits for it.
//! - **Refuses what is not its own.** [`Store::open`] refuses another program's directory,
//!   another chain's store, an unknown schema version, and a store whose metadata disagrees
//!   with its tree (corruption), each with a clear [`StoreError`].
//! - **Stops after a failed write.** RocksDB is read-only after a write error until reopened;
//!   every later write returns [`StoreError::Stopped`] naming the first failure.
//! - **Prunes only what no retained root reaches, never on the commit path.** With a retention
//!   window of `w` heights the tree keeps versions `[latest − w + 1, latest]`; pruning runs on a
//!   background thread at a cost proportional to what it removes (`prune.rs`); blocks,
//!   certificates and receipts are kept forever.

use crate::db::{Db, DbTree, NodeCache, borsh_bytes, put_nodes};
use crate::error::StoreError;
use crate::prune::{PruneStats, Pruning};
use crate::reader::StoreReader;
use crate::schema::{self, PruneLog, meta};
use crate::tree::{MemTree, Tree, key_hash, to_hash, value_set};
use crate::writer::Writer;
use rocksdb::WriteBatch;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenbook_ledger::kv::{Changes, KvMap, StateStore};
use tokenbook_ledger::{BlockReceipts, Event};
use tokenbook_protocol::codec::encode;
use tokenbook_protocol::{AccountId, Block, CommitCertificate, Hash, Height, MarketId};

/// How a store is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// The chain this store holds; opening another chain's store fails.
    pub chain_id: String,
    /// Tree versions kept (heights with proofs); `None` keeps every version (an archive node).
    pub retain_versions: Option<u64>,
    /// Heights whose block, certificate, receipts and receipt indexes are kept; `None` keeps
    /// every height (an archive node: what auditors replay from genesis). A node further
    /// behind than this window catches up by state sync, not by blocks.
    pub retain_blocks: Option<u64>,
    /// Each height's batch is synced to disk before `commit` returns (a validator's must: it
    /// votes on what it stored). An auditor's replay store, rebuilt from the chain at will,
    /// may skip it: each batch is still atomic and the store still reopens at a complete
    /// height, only the last few may be lost to a power cut.
    pub sync_commits: bool,
}

impl StoreConfig {
    /// Default retention: the last 10,000 heights have proofs.
    pub const DEFAULT_RETAIN: u64 = 10_000;

    /// Default block retention: the last 1,000,000 heights (11.6 days of an idle network's
    /// one-a-second heartbeat; about 9 hours at 30 blocks a second).
    pub const DEFAULT_RETAIN_BLOCKS: u64 = 1_000_000;

    /// Most heights of old blocks one commit deletes (a smaller window set at a restart is
    /// reached over the following commits, not in one long batch).
    pub const BLOCKS_DROPPED_PER_COMMIT: u64 = 16;

    /// A config with the default retention.
    #[must_use]
    pub fn new(chain_id: impl Into<String>) -> Self {
        StoreConfig {
            chain_id: chain_id.into(),
            retain_versions: Some(Self::DEFAULT_RETAIN),
            retain_blocks: Some(Self::DEFAULT_RETAIN_BLOCKS),
            sync_commits: true,
        }
    }
}

/// What a height brings besides its state changes.
#[derive(Clone, Copy, Debug)]
pub struct BlockData<'a> {
    /// The decided block.
    pub block: &'a Block,
    /// Its commit certificate.
    pub certificate: &'a CommitCertificate,
    /// The receipts applying it produced.
    pub receipts: &'a BlockReceipts,
}

/// The durable store.
pub struct Store {
    db: Arc<Db>,
    path: PathBuf,
    config: StoreConfig,
    /// Last complete height and the root after it; `None` before genesis.
    head: Option<(Height, Hash)>,
    /// Pruning (in the background) and the lowest tree version still kept.
    pruning: Arc<Pruning>,
    /// Consensus records below this height were deleted by this process (so pruning scans
    /// from here, not over the deleted keys' tombstones).
    wal_floor: u64,
    /// The first failed write: no write is attempted after it.
    failure: Option<StoreError>,
    last_commit: CommitStats,
    cache: Arc<NodeCache>,
    /// The read side, shared with readers on other threads.
    reader: StoreReader,
    /// Writes each height's batch behind the caller.
    writer: Writer,
    /// The lowest height whose block data is kept (its row in `meta` may not be written yet).
    blocks_from: u64,
    /// The tx hashes the batch in flight indexes, in order (a later block's replay of one of
    /// them must not take over its index entry before that batch is written).
    indexed_in_flight: Vec<[u8; 32]>,
}

/// Measurements of one commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// State keys changed.
    pub keys: usize,
    /// Tree nodes written.
    pub tree_nodes: usize,
    /// Size of the write batch.
    pub batch_bytes: usize,
    /// Time computing the new tree and root.
    pub tree: Duration,
    /// Time assembling the write batch (state rows, stale indexes, block, receipts, indexes).
    pub batch: Duration,
    /// Time the commit waited for the previous height's batch to be written (staged commits
    /// overlap it with the caller's work; a synced [`Store::commit`] waits for its own).
    pub write: Duration,
    /// How long the writer thread took for the last batch it finished (write and sync).
    pub writer: Duration,
}

impl Drop for Store {
    /// A running background prune holds the database open: wait for it, so the directory can
    /// be opened again as soon as the store is gone.
    fn drop(&mut self) {
        // The writer's thread finishes the batch in flight before the handle is gone.
        let _ = self.writer.wait();
        self.pruning.wait();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("head", &self.head).finish()
    }
}

impl std::ops::Deref for Store {
    type Target = StoreReader;

    /// A store reads like its [`StoreReader`].
    fn deref(&self) -> &StoreReader {
        &self.reader
    }
}

impl Store {
    /// A handle for reads from other threads (sees each commit once it is written). It reads
    /// tree nodes from RocksDB, not through the commit path's node cache: that cache's lock is
    /// then the committer's alone, so a reader — an API thread at a lower OS priority, say —
    /// can never hold it while a commit waits (a priority inversion: the committer would wait
    /// for the reader's next time slice). Readers pay with RocksDB reads for every node.
    #[must_use]
    pub fn reader(&self) -> StoreReader {
        StoreReader { cache: None, waits: true, ..self.reader.clone() }
    }

    /// Records the last complete height, for this store and, once `written`, its readers.
    fn set_head(&mut self, head: Option<(Height, Hash)>, written: bool) {
        self.head = head;
        let height = head.map_or(0, |(h, _)| h.get().saturating_add(1));
        self.reader.staged.store(height, std::sync::atomic::Ordering::Release);
        if written {
            self.reader.committed.store(height, std::sync::atomic::Ordering::Release);
        }
    }

    /// Opens the store in `path`, creating it if the directory is empty or missing.
    ///
    /// # Errors
    /// [`StoreError::Foreign`] (another program's or chain's data), [`StoreError::Corrupt`]
    /// (metadata and tree disagree), or the classified I/O error.
    pub fn open(path: &Path, config: StoreConfig) -> Result<Store, StoreError> {
        let db = Arc::new(Db::open(path)?);
        let cache: Arc<NodeCache> = Arc::default();
        let committed: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let reader = StoreReader {
            db: Arc::clone(&db),
            cache: Some(Arc::clone(&cache)),
            pruning: Arc::default(),
            committed: Arc::clone(&committed),
            staged: Arc::default(),
            waits: false,
        };
        let mut store = Store {
            db,
            path: path.to_path_buf(),
            config,
            head: None,
            pruning: Arc::default(),
            wal_floor: 0,
            failure: None,
            last_commit: CommitStats::default(),
            cache,
            reader,
            writer: Writer::start(committed)?,
            blocks_from: 1,
            indexed_in_flight: Vec::new(),
        };
        store.check_identity()?;
        store.pruning = Arc::new(Pruning::new(store.meta_u64(meta::PRUNED_TO)?.unwrap_or(0)));
        store.reader.pruning = Arc::clone(&store.pruning);
        let head = store.read_head()?;
        store.set_head(head, true);
        store.check_head()?;
        store.blocks_from = store.meta_u64(meta::BLOCKS_FROM)?.unwrap_or(1).max(1);
        Ok(store)
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The chain id.
    #[must_use]
    pub fn chain_id(&self) -> &str {
        &self.config.chain_id
    }

    /// The last complete height, `None` before genesis.
    #[must_use]
    pub fn height(&self) -> Option<Height> {
        self.head.map(|(h, _)| h)
    }

    /// The state root after the last complete height.
    #[must_use]
    pub fn root(&self) -> Option<Hash> {
        self.head.map(|(_, r)| r)
    }

    /// The lowest height whose tree (proofs, snapshots) is kept.
    #[must_use]
    pub fn retained_from(&self) -> Height {
        Height::new(self.pruning.floor())
    }

    /// What the last finished prune did.
    #[must_use]
    pub fn last_prune(&self) -> PruneStats {
        self.pruning.last()
    }

    /// Waits until a background prune (if one is running) has finished.
    pub fn wait_for_prune(&self) {
        self.pruning.wait();
    }

    /// Writes the genesis state as height 0. On a store that already has it, checks it is the
    /// same genesis (same root) and returns the root.
    ///
    /// # Errors
    /// [`StoreError::Foreign`] for a store with another genesis; write errors.
    pub fn init_genesis(&mut self, state: &KvMap) -> Result<Hash, StoreError> {
        let changes: Changes = state.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        if self.head.is_some() {
            let expected = MemTree::new().apply(&changes)?;
            let stored = self.genesis_root()?;
            if stored != expected {
                return Err(StoreError::Foreign {
                    expected: format!("genesis root {expected}"),
                    found: format!("genesis root {stored}"),
                });
            }
            return Ok(stored);
        }
        self.commit_version(Height::new(0), &changes, None)?;
        self.wait_durable()?;
        Ok(self.head.map_or(Hash::ZERO, |(_, root)| root))
    }

    /// Commits one height: its state changes and, for a block, the block, certificate and
    /// receipts. Returns the new state root once everything is synced to disk.
    ///
    /// # Errors
    /// [`StoreError::WrongHeight`] unless `height` is the next one; [`StoreError::Stopped`] after
    /// an earlier failed write; the classified write error (then the store is stopped).
    pub fn commit(
        &mut self,
        height: Height,
        changes: &Changes,
        block: Option<BlockData<'_>>,
    ) -> Result<Hash, StoreError> {
        let root = self.stage(height, changes, block)?;
        let waited = Instant::now();
        self.wait_durable()?;
        self.last_commit.write += waited.elapsed();
        self.last_commit.writer = self.writer.last_write();
        self.prune_to_window();
        Ok(root)
    }

    /// [`Self::commit`] without waiting for the write: computes the height's tree, root and
    /// batch, hands the batch to the writer thread once the previous height's is written, and
    /// returns the new root. The height is the store's head at once; readers see it once it is
    /// written, and it is durable (synced, when commits are) once [`Self::wait_durable`] or any
    /// later write of this store returns.
    ///
    /// # Errors
    /// As [`Self::commit`]; a failed write of the previous height stops the store and is
    /// reported here.
    pub fn stage(
        &mut self,
        height: Height,
        changes: &Changes,
        block: Option<BlockData<'_>>,
    ) -> Result<Hash, StoreError> {
        self.stopped()?;
        let current = self.height().ok_or(StoreError::Empty)?;
        if current.next() != Some(height) {
            return Err(StoreError::WrongHeight { current, found: height });
        }
        if let Some(data) = block
            && data.block.header.height != height
        {
            return Err(StoreError::WrongHeight { current, found: data.block.header.height });
        }
        let root = self.commit_version(height, changes, block)?;
        // The height is durable whatever pruning does; pruning runs in the background, and a
        // pruning failure stops the store, so the next commit reports it.
        self.prune_to_window();
        Ok(root)
    }

    /// Waits until the last staged height is written (and synced, when commits are).
    ///
    /// # Errors
    /// Its write failed (the store is stopped).
    pub fn wait_durable(&mut self) -> Result<(), StoreError> {
        match self.writer.wait() {
            Ok(()) => Ok(()),
            // The first report of a failed write is its own error; later ones say the store
            // stopped on it.
            Err(e) if self.failure.is_none() => {
                self.failure = Some(e.clone());
                Err(e)
            }
            Err(_) => self.stopped(),
        }
    }

    /// The last height written (synced, when commits are), which readers see; the head may be
    /// one height further while its batch is in flight.
    #[must_use]
    pub fn durable_height(&self) -> Option<Height> {
        self.reader.height()
    }

    /// The first failure of this store, its writer's or its pruning's.
    fn stopped(&mut self) -> Result<(), StoreError> {
        if self.failure.is_none() {
            self.failure = self.pruning.failure();
        }
        match &self.failure {
            Some(e) => Err(StoreError::Stopped(e.to_string())),
            None => Ok(()),
        }
    }

    /// Writes a batch, after the batch in flight and unless an earlier write failed; a failure
    /// stops the store.
    fn write(&mut self, batch: WriteBatch, sync: bool) -> Result<(), StoreError> {
        self.wait_durable()?;
        self.stopped()?;
        write_batch(&self.db, &self.pruning, batch, sync)
            .inspect_err(|e| self.failure = Some(e.clone()))
    }

    fn commit_version(
        &mut self,
        height: Height,
        changes: &Changes,
        block: Option<BlockData<'_>>,
    ) -> Result<Hash, StoreError> {
        self.stopped()?;
        let version = height.get();
        let started = Instant::now();
        let reader = self.tree();
        let (root, update) = Tree::new(&reader)
            .put_value_set(value_set(changes), version)
            .map_err(|e| StoreError::from_tree(&e))?;
        let root = to_hash(root);
        let tree_done = Instant::now();
        let mut batch = WriteBatch::default();
        self.put_preimages(&mut batch, changes)?;
        put_nodes(&self.db, &mut batch, &update.node_batch)?;
        let log = PruneLog {
            stale_nodes: update
                .stale_node_index_batch
                .iter()
                .map(|index| borsh_bytes(&index.node_key))
                .collect::<Result<_, _>>()?,
            changed: changes.keys().map(|k| key_hash(k).0).collect(),
        };
        batch.put_cf(self.db.cf(schema::PRUNE_LOG)?, version.to_be_bytes(), encode(&log));
        let indexed = match block {
            Some(data) => self.put_block(&mut batch, data)?,
            None => Vec::new(),
        };
        self.drop_old_blocks(&mut batch, height)?;
        let meta_cf = self.db.cf(schema::META)?;
        batch.put_cf(meta_cf, meta::HEIGHT, version.to_be_bytes());
        batch.put_cf(meta_cf, meta::ROOT, root.0);
        if version == 0 {
            batch.put_cf(meta_cf, meta::GENESIS_ROOT, root.0);
        }
        let batch_done = Instant::now();
        let bytes = batch.size_in_bytes();
        // The previous height's batch must be written before this one is handed over, and
        // before the cache may drop that height's nodes (this tree was computed through them).
        self.wait_durable()?;
        let waited = batch_done.elapsed();
        self.cache.commit(&update.node_batch, &update.stale_node_index_batch);
        let (db, pruning, sync) =
            (Arc::clone(&self.db), Arc::clone(&self.pruning), self.config.sync_commits);
        self.writer
            .submit(version + 1, Box::new(move || write_batch(&db, &pruning, batch, sync)))
            .inspect_err(|e| self.failure = Some(e.clone()))?;
        self.indexed_in_flight = indexed;
        self.set_head(Some((height, root)), false);
        self.last_commit = CommitStats {
            keys: changes.len(),
            tree_nodes: update.node_batch.nodes().len(),
            batch_bytes: bytes,
            tree: tree_done - started,
            batch: batch_done - tree_done,
            write: waited,
            writer: self.writer.last_write(),
        };
        Ok(root)
    }

    /// What the last commit did and where its time went (for metrics and benchmarks).
    #[must_use]
    pub fn last_commit(&self) -> CommitStats {
        self.last_commit
    }

    /// Key preimages for one version's writes (values live in the tree's versioned values).
    fn put_preimages(&self, batch: &mut WriteBatch, changes: &Changes) -> Result<(), StoreError> {
        let preimages = self.db.cf(schema::PREIMAGES)?;
        let mut rows: Vec<_> =
            changes.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| (key_hash(k).0, k)).collect();
        // In key order: RocksDB's memtable inserts a run of ascending keys from the last
        // insert's position instead of searching from the top for each.
        rows.sort_unstable_by_key(|row| row.0);
        for (hash, key) in rows {
            batch.put_cf(preimages, hash, key);
        }
        Ok(())
    }

    /// Deletes, in this commit's batch, the block data of the heights that fell out of the
    /// `retain_blocks` window (block, certificate, receipts, and their tx, account, market and
    /// clearing index entries), from the lowest kept one up, at most
    /// [`StoreConfig::BLOCKS_DROPPED_PER_COMMIT`] heights.
    fn drop_old_blocks(
        &mut self,
        batch: &mut WriteBatch,
        height: Height,
    ) -> Result<(), StoreError> {
        let Some(retain) = self.config.retain_blocks else { return Ok(()) };
        let Some(below) = height.get().checked_sub(retain.max(1)).map(|h| h + 1) else {
            return Ok(());
        };
        let from = self.blocks_from;
        let to = below.min(from.saturating_add(StoreConfig::BLOCKS_DROPPED_PER_COMMIT));
        if to >= height.get() {
            // A window of one height drops the height in flight: read it once written.
            self.wait_durable()?;
        }
        for old in from..to {
            self.drop_block(batch, Height::new(old))?;
        }
        if to > from {
            batch.put_cf(self.db.cf(schema::META)?, meta::BLOCKS_FROM, to.to_be_bytes());
            self.blocks_from = to;
        }
        Ok(())
    }

    /// One height's block data and every index entry `put_block` wrote for it.
    fn drop_block(&self, batch: &mut WriteBatch, height: Height) -> Result<(), StoreError> {
        let key = schema::height_key(height);
        let (block, receipts) = (self.reader.block(height)?, self.reader.receipts(height)?);
        if let (Some(block), Some(receipts)) = (block, receipts) {
            let tx_index = self.db.cf(schema::TX_INDEX)?;
            for receipt in &receipts.receipts {
                // Only the entry naming this height: a replay refused later names the first.
                let location = self.db.get(schema::TX_INDEX, &receipt.tx_hash.0)?;
                if location.as_deref().is_some_and(|l| l.starts_with(&key)) {
                    batch.delete_cf(tx_index, receipt.tx_hash.0);
                }
            }
            let indexes = Indexes::of(&block, &receipts);
            let accounts = self.db.cf(schema::ACCOUNT_INDEX)?;
            for id in indexes.accounts.keys() {
                batch.delete_cf(accounts, schema::index_key(&id.get().to_be_bytes(), height));
            }
            let markets = self.db.cf(schema::MARKET_INDEX)?;
            for id in indexes.markets.keys() {
                batch.delete_cf(markets, schema::index_key(&id.get().to_be_bytes(), height));
            }
        }
        for cf in [schema::BLOCKS, schema::CERTS, schema::RECEIPTS, schema::CLEARING_INDEX] {
            batch.delete_cf(self.db.cf(cf)?, key);
        }
        Ok(())
    }

    /// Block, certificate, receipts and the receipt indexes; returns the tx hashes indexed, in
    /// order.
    fn put_block(
        &self,
        batch: &mut WriteBatch,
        data: BlockData<'_>,
    ) -> Result<Vec<[u8; 32]>, StoreError> {
        let height = data.block.header.height;
        let key = schema::height_key(height);
        batch.put_cf(self.db.cf(schema::BLOCKS)?, key, encode(data.block));
        batch.put_cf(self.db.cf(schema::CERTS)?, key, encode(data.certificate));
        batch.put_cf(self.db.cf(schema::RECEIPTS)?, key, encode(data.receipts));
        let tx_index = self.db.cf(schema::TX_INDEX)?;
        let indexes = Indexes::of(data.block, data.receipts);
        let mut located = Vec::with_capacity(data.receipts.receipts.len());
        for (position, receipt) in (0u32..).zip(&data.receipts.receipts) {
            // A tx included again after it was accepted (a replay a faulty proposer put in a
            // later block) is refused there: its first inclusion stays the one the index names.
            let refused_again = receipt.result.is_err() && self.indexed(&receipt.tx_hash.0)?;
            if !refused_again {
                located.push((receipt.tx_hash.0, position));
            }
        }
        // In hash order, as the preimages (see there).
        located.sort_unstable();
        for (hash, position) in &located {
            let mut location = key.to_vec();
            location.extend_from_slice(&position.to_be_bytes());
            batch.put_cf(tx_index, hash, location);
        }
        let accounts =
            indexes.accounts.into_iter().map(|(id, p)| (id.get().to_be_bytes().to_vec(), p));
        let markets =
            indexes.markets.into_iter().map(|(id, p)| (id.get().to_be_bytes().to_vec(), p));
        let clearing = (!indexes.clearing.is_empty()).then(|| (Vec::new(), indexes.clearing));
        for (cf, rows) in [
            (schema::ACCOUNT_INDEX, accounts.collect::<Vec<_>>()),
            (schema::MARKET_INDEX, markets.collect()),
            (schema::CLEARING_INDEX, clearing.into_iter().collect()),
        ] {
            let cf = self.db.cf(cf)?;
            for (id, positions) in rows {
                batch.put_cf(cf, schema::index_key(&id, height), encode_positions(&positions));
            }
        }
        Ok(located.into_iter().map(|(hash, _)| hash).collect())
    }

    /// Whether a tx hash is in the tx index, or in the batch in flight's.
    fn indexed(&self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        if self.writer.busy() && self.indexed_in_flight.binary_search(hash).is_ok() {
            return Ok(true);
        }
        Ok(self.db.get(schema::TX_INDEX, hash)?.is_some())
    }

    /// Appends a consensus record (persist-before-send), synced before it returns.
    ///
    /// # Errors
    /// Write errors (the store stops).
    pub fn append_consensus_record(
        &mut self,
        height: Height,
        record: &[u8],
    ) -> Result<(), StoreError> {
        self.append_consensus_records(height, &[record])
    }

    /// Appends consensus records in order, in one write synced before it returns (all or none
    /// survive a crash).
    ///
    /// # Errors
    /// Write errors (the store stops).
    pub fn append_consensus_records(
        &mut self,
        height: Height,
        records: &[&[u8]],
    ) -> Result<(), StoreError> {
        let prefix = schema::height_key(height);
        let end = schema::height_key(Height::new(height.get().saturating_add(1)));
        // Keys only: records may hold whole blocks.
        let next = self.db.keys_between(schema::CONSENSUS_WAL, &prefix, &end)?.len() as u64;
        let cf = self.db.cf(schema::CONSENSUS_WAL)?;
        let mut batch = WriteBatch::default();
        for (i, record) in (next..).zip(records) {
            let mut key = prefix.to_vec();
            key.extend_from_slice(&i.to_be_bytes());
            batch.put_cf(cf, key, record);
        }
        self.write(batch, true)
    }

    /// The consensus records of a height, in the order appended.
    ///
    /// # Errors
    /// Read errors.
    pub fn consensus_records(&self, height: Height) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows =
            self.db.scan_prefix(schema::CONSENSUS_WAL, &schema::height_key(height), usize::MAX)?;
        Ok(rows.into_iter().map(|(_, v)| v).collect())
    }

    /// Deletes the consensus records of heights below `height`.
    ///
    /// # Errors
    /// Write errors.
    ///
    /// Point deletes of the few keys there are, from the last pruned height on: a range
    /// tombstone per height would pile up in the memtable and every later read of the column
    /// family would re-fragment all of them (measured: block intervals doubling within minutes).
    pub fn prune_consensus_records(&mut self, height: Height) -> Result<(), StoreError> {
        if height.get() <= self.wal_floor {
            return Ok(());
        }
        let from = schema::height_key(Height::new(self.wal_floor));
        let keys =
            self.db.keys_between(schema::CONSENSUS_WAL, &from, &schema::height_key(height))?;
        let cf = self.db.cf(schema::CONSENSUS_WAL)?;
        let mut batch = WriteBatch::default();
        for key in keys {
            batch.delete_cf(cf, key);
        }
        self.write(batch, false)?;
        self.wal_floor = height.get();
        Ok(())
    }

    /// Deletes tree nodes and versioned values that no root at or above `keep_from` reaches.
    /// Idempotent; a crash part-way leaves a store that still serves every kept version.
    ///
    /// # Errors
    /// [`StoreError::NotRetained`] if `keep_from` is above the last height; read/write errors.
    pub fn prune(&mut self, keep_from: Height) -> Result<(), StoreError> {
        let latest = self.height().ok_or(StoreError::Empty)?;
        if keep_from > latest {
            return Err(StoreError::NotRetained(keep_from));
        }
        // The logs replayed must be written: the last may be in flight.
        self.wait_durable()?;
        self.stopped()?;
        self.pruning.run(&self.db, keep_from.get()).inspect_err(|e| self.failure = Some(e.clone()))
    }

    /// Starts a background prune when the retention window has moved on by at least 1% of it
    /// (so each prune's fixed costs are amortised).
    fn prune_to_window(&mut self) {
        // From the last height written: the logs a prune replays must be on disk.
        let (Some(window), Some(latest)) = (self.config.retain_versions, self.durable_height())
        else {
            return;
        };
        let keep_from = latest.get().saturating_sub(window.saturating_sub(1));
        if keep_from >= self.pruning.floor() + (window / 100).max(1) {
            self.pruning.start(&self.db, keep_from);
        }
    }

    /// The memory RocksDB holds by design (memtables, block cache, table readers).
    #[must_use]
    pub fn memory(&self) -> crate::db::MemoryUse {
        self.db.memory()
    }

    /// The shared database handle (snapshot export reads through it).
    pub(crate) fn db(&self) -> &Arc<Db> {
        &self.db
    }

    /// Flushes and compacts the database (frees the space of pruned and overwritten entries now
    /// rather than in the background).
    ///
    /// # Errors
    /// The classified RocksDB error.
    pub fn compact(&self) -> Result<(), StoreError> {
        self.writer.wait()?;
        self.db.compact()
    }

    /// Each column family's size on disk and key count ([`crate::db::Db::column_sizes`]).
    #[must_use]
    pub fn column_sizes(&self) -> Vec<crate::db::ColumnSize> {
        self.db.column_sizes()
    }

    /// The tree's reader, through the node cache.
    pub(crate) fn tree(&self) -> DbTree {
        DbTree::cached(Arc::clone(&self.db), Arc::clone(&self.cache))
    }

    fn meta_u64(&self, key: &[u8]) -> Result<Option<u64>, StoreError> {
        match self.db.get(schema::META, key)? {
            None => Ok(None),
            Some(bytes) => schema::be_u64(&bytes).map(Some).ok_or_else(|| {
                StoreError::Corrupt(format!("meta {} is not a u64", String::from_utf8_lossy(key)))
            }),
        }
    }

    fn genesis_root(&self) -> Result<Hash, StoreError> {
        let bytes = self.db.get(schema::META, meta::GENESIS_ROOT)?.ok_or_else(|| {
            StoreError::Corrupt("the store has a height but no genesis root".into())
        })?;
        bytes
            .try_into()
            .map(Hash)
            .map_err(|_| StoreError::Corrupt("genesis root is not 32 bytes".into()))
    }

    /// Program, schema and chain id: written on first open, checked on every later one.
    fn check_identity(&self) -> Result<(), StoreError> {
        let chain = self.config.chain_id.as_bytes();
        let program = self.db.get(schema::META, meta::PROGRAM)?;
        let Some(program) = program else {
            if !self.is_empty(schema::TREE_VALUES)? || !self.is_empty("default")? {
                return Err(StoreError::Foreign {
                    expected: "a tokenbook store".into(),
                    found: "a database with data but no tokenbook metadata".into(),
                });
            }
            let mut batch = WriteBatch::default();
            let cf = self.db.cf(schema::META)?;
            batch.put_cf(cf, meta::PROGRAM, schema::PROGRAM);
            batch.put_cf(cf, meta::SCHEMA, schema::SCHEMA_VERSION.to_be_bytes());
            batch.put_cf(cf, meta::CHAIN_ID, chain);
            return self.db.write(batch, true);
        };
        if program != schema::PROGRAM {
            return Err(StoreError::Foreign {
                expected: "a tokenbook store".into(),
                found: format!("a database written by {:?}", String::from_utf8_lossy(&program)),
            });
        }
        let version = self.db.get(schema::META, meta::SCHEMA)?;
        if version.as_deref() != Some(&schema::SCHEMA_VERSION.to_be_bytes()[..]) {
            return Err(StoreError::Foreign {
                expected: format!("store schema {}", schema::SCHEMA_VERSION),
                found: format!("schema {version:?}"),
            });
        }
        let found = self.db.get(schema::META, meta::CHAIN_ID)?.unwrap_or_default();
        if found != chain {
            return Err(StoreError::Foreign {
                expected: format!("chain {}", self.config.chain_id),
                found: format!("chain {}", String::from_utf8_lossy(&found)),
            });
        }
        Ok(())
    }

    fn is_empty(&self, cf: &str) -> Result<bool, StoreError> {
        let mut it = self.db.raw().raw_iterator_cf(self.db.cf(cf)?);
        it.seek_to_first();
        it.status()?;
        Ok(!it.valid())
    }

    fn read_head(&self) -> Result<Option<(Height, Hash)>, StoreError> {
        let Some(height) = self.meta_u64(meta::HEIGHT)? else { return Ok(None) };
        let root = self
            .db
            .get(schema::META, meta::ROOT)?
            .ok_or_else(|| StoreError::Corrupt("the store has a height but no root".into()))?;
        let root = root
            .try_into()
            .map(Hash)
            .map_err(|_| StoreError::Corrupt("root is not 32 bytes".into()))?;
        Ok(Some((Height::new(height), root)))
    }

    /// The metadata's root is the tree's root at that height, and the block and certificate of
    /// that height are present.
    fn check_head(&self) -> Result<(), StoreError> {
        let Some((height, root)) = self.head else { return Ok(()) };
        let tree_root = self.root_at(height).map_err(|e| {
            StoreError::Corrupt(format!(
                "height {height} is recorded but its tree is not readable: {e}"
            ))
        })?;
        if tree_root != root {
            return Err(StoreError::Corrupt(format!(
                "height {height}: recorded root {root} but the tree's root is {tree_root}"
            )));
        }
        Ok(())
    }
}

impl StateStore for Store {
    type Error = StoreError;

    fn load_all(&self) -> Result<KvMap, StoreError> {
        self.load_state()
    }

    /// Commits the changes as the next height, without a block (replays and tools).
    fn apply_changes(&mut self, changes: &Changes) -> Result<(), StoreError> {
        let next = self.height().ok_or(StoreError::Empty)?.next().ok_or(StoreError::Empty)?;
        self.commit(next, changes, None).map(|_| ())
    }
}

/// The per-account and per-market receipt indexes of one height: one entry per account or
/// market per height (not per receipt) keeps the block's batch small.
#[derive(Default)]
struct Indexes {
    accounts: BTreeMap<AccountId, Vec<u32>>,
    markets: BTreeMap<MarketId, Vec<u32>>,
    clearing: Vec<u32>,
}

impl Indexes {
    /// The index entries of one height: its housekeeping events and every receipt.
    fn of(block: &Block, receipts: &BlockReceipts) -> Indexes {
        let mut indexes = Indexes::default();
        indexes.add(schema::BEGIN_EVENTS, None, &receipts.begin_events);
        indexes.add(schema::END_EVENTS, None, &receipts.end_events);
        for (position, receipt) in (0u32..).zip(&receipts.receipts) {
            let signer = block.txs.get(receipt.tx_index as usize).map(|tx| tx.payload.account);
            indexes.add(position, signer, receipt.result.as_deref().unwrap_or_default());
        }
        indexes
    }

    /// Indexes one receipt (or the block's housekeeping events) under every account and market
    /// its events name, under the tx's signing account, and as clearing if it holds a clearing
    /// event.
    fn add(&mut self, position: u32, signer: Option<AccountId>, events: &[Event]) {
        if events.iter().any(Event::is_clearing) {
            self.clearing.push(position);
        }
        let accounts = events.iter().flat_map(Event::accounts).chain(signer);
        for id in accounts {
            let list = self.accounts.entry(id).or_default();
            if list.last() != Some(&position) {
                list.push(position);
            }
        }
        for id in events.iter().filter_map(Event::market) {
            let list = self.markets.entry(id).or_default();
            if list.last() != Some(&position) {
                list.push(position);
            }
        }
    }
}

fn encode_positions(positions: &[u32]) -> Vec<u8> {
    let mut sorted = positions.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.iter().flat_map(|p| p.to_be_bytes()).collect()
}

/// Writes one batch under the pruning's write lock (see `prune.rs`).
fn write_batch(
    db: &Db,
    pruning: &Pruning,
    batch: WriteBatch,
    sync: bool,
) -> Result<(), StoreError> {
    match pruning.writes().lock() {
        Ok(_writes) => db.write(batch, sync),
        Err(_) => Err(StoreError::Io("write lock poisoned".into())),
    }
}
