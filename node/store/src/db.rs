//! The RocksDB handle and the tree's view of it.
//!
//! [`Db`] opens the database with every column family of [`crate::schema`] and refuses
//! directories that are not a tokenbook store. [`DbTree`] is the `jmt` reader/writer over the
//! committed tree (reads never see a batch that is still being built).

use crate::error::StoreError;
use crate::schema::{self, COLUMN_FAMILIES};
use crate::tree::{decode_value, encode_value};
use borsh::BorshDeserialize;
use jmt::storage::{
    LeafNode, Node, NodeBatch, NodeKey, StaleNodeIndexBatch, TreeReader, TreeWriter,
};
use jmt::{KeyHash, OwnedValue, Version};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType,
    IteratorMode, Options, WriteBatch, WriteOptions,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokenbook_ledger::kv::KvMap;

/// A key and its value.
pub type Row = (Vec<u8>, Vec<u8>);

/// The database: RocksDB with the store's column families.
pub struct Db {
    inner: rocksdb::DB,
    /// The block cache every column family shares (its usage is reported by [`Db::memory`]).
    cache: Cache,
}

/// One column family's share of the disk ([`Db::column_sizes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnSize {
    /// The column family ([`crate::schema`]).
    pub name: &'static str,
    /// Bytes of its live SST files.
    pub sst_bytes: u64,
    /// Bytes of its live blob files (large values kept out of the SSTs).
    pub blob_bytes: u64,
    /// RocksDB's estimate of its keys.
    pub keys: u64,
}

/// Memory RocksDB holds by design, bounded by its configuration rather than by the chain's
/// length: what a long run's growth verdict subtracts from the resident size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    /// Bytes in memtables, every column family (bounded by the write buffers).
    pub memtables: u64,
    /// Bytes in the shared block cache (bounded by its capacity, 256 MiB).
    pub block_cache: u64,
    /// Bytes of open table readers outside the cache (index and filter blocks are cached).
    pub table_readers: u64,
}

impl MemoryUse {
    /// All of it.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.memtables + self.block_cache + self.table_readers
    }
}

impl Db {
    /// Opens (creating if missing) the database in `path`.
    ///
    /// # Errors
    /// [`StoreError::Foreign`] for a directory holding something else, the classified RocksDB
    /// error otherwise.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        refuse_foreign_directory(path)?;
        std::fs::create_dir_all(path).map_err(|e| io_error(path, &e))?;
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_paranoid_checks(true);
        let existing = rocksdb::DB::list_cf(&options, path).unwrap_or_default();
        if let Some(unknown) = existing.iter().find(|cf| !COLUMN_FAMILIES.contains(&cf.as_str())) {
            return Err(StoreError::Foreign {
                expected: "a tokenbook store".into(),
                found: format!("a RocksDB database with column family {unknown:?}"),
            });
        }
        let cache = Cache::new_lru_cache(256 << 20);
        let descriptors = COLUMN_FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, cf_options(name, &cache)));
        let inner = rocksdb::DB::open_cf_descriptors(&options, path, descriptors)?;
        Ok(Db { inner, cache })
    }

    /// Each column family's size on disk (live SST and blob files) and estimated key count, in
    /// [`COLUMN_FAMILIES`] order (a property RocksDB cannot read counts as 0). Memtables are not
    /// counted: [`Self::compact`] first for the whole picture.
    #[must_use]
    pub fn column_sizes(&self) -> Vec<ColumnSize> {
        let int = |cf, property: &str| {
            self.inner.property_int_value_cf(cf, property).ok().flatten().unwrap_or(0)
        };
        COLUMN_FAMILIES
            .iter()
            .filter_map(|name| self.inner.cf_handle(name).map(|cf| (*name, cf)))
            .map(|(name, cf)| ColumnSize {
                name,
                sst_bytes: int(cf, "rocksdb.live-sst-files-size"),
                blob_bytes: int(cf, "rocksdb.live-blob-file-size"),
                keys: int(cf, "rocksdb.estimate-num-keys"),
            })
            .collect()
    }

    /// The memory RocksDB holds now (a property RocksDB cannot read counts as 0).
    #[must_use]
    pub fn memory(&self) -> MemoryUse {
        let sum = |property: &str| -> u64 {
            (COLUMN_FAMILIES.iter())
                .filter_map(|name| self.inner.cf_handle(name))
                .filter_map(|cf| self.inner.property_int_value_cf(cf, property).ok().flatten())
                .sum()
        };
        MemoryUse {
            memtables: sum("rocksdb.cur-size-all-mem-tables"),
            block_cache: self.cache.get_usage() as u64,
            table_readers: sum("rocksdb.estimate-table-readers-mem"),
        }
    }

    /// The raw RocksDB handle.
    #[must_use]
    pub fn raw(&self) -> &rocksdb::DB {
        &self.inner
    }

    /// A column family handle.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the family is missing (it is created at open).
    pub fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        self.inner
            .cf_handle(name)
            .ok_or_else(|| StoreError::Corrupt(format!("column family {name} is missing")))
    }

    /// Flushes every memtable and compacts every column family (operators; size reports).
    ///
    /// # Errors
    /// The classified RocksDB error.
    pub fn compact(&self) -> Result<(), StoreError> {
        for name in COLUMN_FAMILIES {
            let cf = self.cf(name)?;
            self.inner.flush_cf(cf)?;
            self.inner.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Reads one key.
    ///
    /// # Errors
    /// The classified RocksDB error.
    pub fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.get_cf(self.cf(cf)?, key)?)
    }

    /// Writes a batch; `sync` waits until it is on disk.
    ///
    /// # Errors
    /// The classified RocksDB error.
    pub fn write(&self, batch: WriteBatch, sync: bool) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        Ok(self.inner.write_opt(batch, &options)?)
    }

    /// Syncs the write-ahead log to disk: every write made before the call is durable after it.
    ///
    /// # Errors
    /// The classified RocksDB error.
    pub fn sync_wal(&self) -> Result<(), StoreError> {
        Ok(self.inner.flush_wal(true)?)
    }

    /// The keys of a column family in `[from, to)`, in order.
    ///
    /// # Errors
    /// The classified RocksDB error.
    pub fn keys_between(
        &self,
        cf: &str,
        from: &[u8],
        to: &[u8],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut it = self.inner.raw_iterator_cf(self.cf(cf)?);
        it.seek(from);
        let mut out = Vec::new();
        while let Some(key) = it.key() {
            if key >= to {
                break;
            }
            out.push(key.to_vec());
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Every (key, value) of a column family whose key starts with `prefix`, in key order.
    ///
    /// # Errors
    /// The classified RocksDB error.
    pub fn scan_prefix(
        &self,
        cf: &str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<Row>, StoreError> {
        let mut it = self.inner.raw_iterator_cf(self.cf(cf)?);
        it.seek(prefix);
        let mut out = Vec::new();
        while out.len() < limit {
            match (it.key(), it.value()) {
                (Some(k), Some(v)) if k.starts_with(prefix) => out.push((k.to_vec(), v.to_vec())),
                _ => break,
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Every key with a value at version `version` (the newest versioned value of each
    /// preimage's key hash at or below it), in key order.
    ///
    /// # Errors
    /// The classified RocksDB error, or a malformed entry.
    pub fn state_at(&self, version: Version) -> Result<KvMap, StoreError> {
        let mut values = self.inner.raw_iterator_cf(self.cf(schema::TREE_VALUES)?);
        let mut out = KvMap::new();
        for item in self.inner.iterator_cf(self.cf(schema::PREIMAGES)?, IteratorMode::Start) {
            let (hash, key) = item?;
            let hash32: [u8; 32] = hash.as_ref().try_into().map_err(|_| {
                StoreError::Corrupt(format!("a preimage row has a {}-byte key hash", hash.len()))
            })?;
            values.seek_for_prev(schema::value_key(&hash32, version));
            if let (Some(k), Some(v)) = (values.key(), values.value())
                && k.len() == 40
                && k[..32] == hash[..]
                && let Some(value) = decode_value(v)?
            {
                out.insert(key.to_vec(), value);
            }
        }
        values.status()?;
        Ok(out)
    }

    /// The newest versioned value of a key with version ≤ `max`: `(version, value)`.
    ///
    /// # Errors
    /// The classified RocksDB error, or a malformed entry.
    pub fn versioned_value(
        &self,
        key_hash: &[u8; 32],
        max: Version,
    ) -> Result<Option<(Version, Option<OwnedValue>)>, StoreError> {
        let mut it = self.inner.raw_iterator_cf(self.cf(schema::TREE_VALUES)?);
        it.seek_for_prev(schema::value_key(key_hash, max));
        let found = match (it.key(), it.value()) {
            (Some(k), Some(v)) if k.len() == 40 && k[..32] == key_hash[..] => {
                let version = schema::be_u64(&k[32..]).unwrap_or_default();
                Some((version, decode_value(v)?))
            }
            _ => None,
        };
        it.status()?;
        Ok(found)
    }
}

/// Per-family tuning: hashes do not compress, so tree nodes and hash-keyed indexes are stored
/// raw; blocks and receipts (megabytes per height, written once, read rarely) go to blob files so
/// compaction moves their keys, not their bytes.
fn cf_options(name: &str, cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    table.set_bloom_filter(10.0, false);
    table.set_cache_index_and_filter_blocks(true);
    let mut options = Options::default();
    options.set_block_based_table_factory(&table);
    match name {
        schema::TREE_NODES | schema::PREIMAGES | schema::TX_INDEX | schema::PRUNE_LOG => {
            options.set_compression_type(DBCompressionType::None);
        }
        schema::BLOCKS | schema::RECEIPTS => {
            options.set_compression_type(DBCompressionType::Lz4);
            options.set_enable_blob_files(true);
            options.set_min_blob_size(4096);
            options.set_blob_compression_type(DBCompressionType::Lz4);
        }
        _ => options.set_compression_type(DBCompressionType::Lz4),
    }
    options
}

/// A directory holding any file RocksDB would not have written is someone else's. (Checking
/// names, not just `CURRENT`, keeps a store whose very first open was interrupted openable.)
fn refuse_foreign_directory(path: &Path) -> Result<(), StoreError> {
    let Ok(entries) = std::fs::read_dir(path) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_rocksdb_file(&name) {
            return Err(StoreError::Foreign {
                expected: "a tokenbook store".into(),
                found: format!("{} holds {name:?}, which is not a database file", path.display()),
            });
        }
    }
    Ok(())
}

fn is_rocksdb_file(name: &str) -> bool {
    const EXACT: [&str; 4] = ["CURRENT", "IDENTITY", "LOCK", "LOG"];
    const PREFIXES: [&str; 4] = ["MANIFEST-", "OPTIONS-", "LOG.old.", "000"];
    const SUFFIXES: [&str; 4] = [".sst", ".log", ".blob", ".dbtmp"];
    EXACT.contains(&name)
        || PREFIXES.iter().any(|p| name.starts_with(p))
        || SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Classifies a file-system error at `path`.
pub(crate) fn io_error(path: &Path, e: &std::io::Error) -> StoreError {
    let text = format!("{}: {e}", path.display());
    match e.raw_os_error() {
        Some(28) => StoreError::DiskFull(text),
        Some(13 | 30) => StoreError::ReadOnly(text),
        _ => StoreError::Io(text),
    }
}

/// Decoded tree nodes kept in memory: every node written or read, minus those a later version
/// made stale. The latest tree is small (one leaf per account and per page of orders), so this
/// keeps block commits off the disk; it is cleared when a commit would outgrow its cap. It
/// affects speed only — a miss reads the same node from the database — except for the nodes
/// of the version whose batch the store's writer has in flight: those are read from here until
/// written, so nothing but a commit (after that write) ever removes a node.
#[derive(Debug, Default)]
pub struct NodeCache {
    nodes: Mutex<HashMap<NodeKey, Node>>,
}

impl NodeCache {
    /// Nodes kept before the cache is cleared.
    pub const CAP: usize = 1 << 20;

    fn get(&self, key: &NodeKey) -> Option<Node> {
        self.nodes.lock().ok()?.get(key).cloned()
    }

    /// Caches a node read from the database; a full cache caches nothing more until the next
    /// commit clears it (never here: the nodes of a version whose batch is still being written
    /// are only in the cache, and a tree update may be reading through them).
    fn insert(&self, key: &NodeKey, node: &Node) {
        if let Ok(mut nodes) = self.nodes.lock()
            && nodes.len() < Self::CAP
        {
            nodes.insert(key.clone(), node.clone());
        }
    }

    /// Applies a version about to be written: its new nodes in, its stale nodes out. Called
    /// only once the previous version's batch is written (the store's writer is idle), so
    /// clearing here never drops a node the database does not have yet.
    pub(crate) fn commit(&self, batch: &NodeBatch, stale: &StaleNodeIndexBatch) {
        if let Ok(mut nodes) = self.nodes.lock() {
            for index in stale {
                nodes.remove(&index.node_key);
            }
            if nodes.len() + batch.nodes().len() > Self::CAP {
                nodes.clear();
            }
            nodes.extend(batch.nodes().iter().map(|(k, n)| (k.clone(), n.clone())));
        }
    }
}

/// The `jmt` reader and writer over the database, optionally through a [`NodeCache`].
#[derive(Clone)]
pub struct DbTree {
    db: Arc<Db>,
    cache: Option<Arc<NodeCache>>,
}

impl DbTree {
    /// Reads straight from the database.
    #[must_use]
    pub fn new(db: Arc<Db>) -> Self {
        DbTree { db, cache: None }
    }

    /// Reads through a cache.
    #[must_use]
    pub fn cached(db: Arc<Db>, cache: Arc<NodeCache>) -> Self {
        DbTree { db, cache: Some(cache) }
    }

    fn read_node(&self, node_key: &NodeKey) -> Result<Option<Node>, StoreError> {
        let db = &self.db;
        let raw = db.inner.get_pinned_cf(db.cf(schema::TREE_NODES)?, borsh_bytes(node_key)?)?;
        match raw {
            None => Ok(None),
            Some(bytes) => Node::try_from_slice(&bytes).map(Some).map_err(|e| {
                StoreError::Corrupt(format!("tree node {node_key:?} does not decode: {e}"))
            }),
        }
    }
}

impl TreeReader for DbTree {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let Some(cache) = &self.cache else { return Ok(self.read_node(node_key)?) };
        if let Some(node) = cache.get(node_key) {
            return Ok(Some(node));
        }
        let node = self.read_node(node_key)?;
        if let Some(node) = &node {
            cache.insert(node_key, node);
        }
        Ok(node)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.db.versioned_value(&key_hash.0, max_version)?.and_then(|(_, v)| v))
    }

    /// Restores always start in a fresh directory, so there is never a partial restore to resume.
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

impl TreeWriter for DbTree {
    /// Used by snapshot restore only (block commits write their nodes in the block's batch).
    fn write_node_batch(&self, node_batch: &NodeBatch) -> anyhow::Result<()> {
        let mut batch = WriteBatch::default();
        put_nodes(&self.db, &mut batch, node_batch)?;
        self.db.write(batch, false)?;
        Ok(())
    }
}

/// Adds a `jmt` node batch (nodes and versioned values) to a write batch.
pub(crate) fn put_nodes(
    db: &Db,
    batch: &mut WriteBatch,
    node_batch: &NodeBatch,
) -> Result<(), StoreError> {
    let nodes = db.cf(schema::TREE_NODES)?;
    let values = db.cf(schema::TREE_VALUES)?;
    let mut rows = node_batch
        .nodes()
        .iter()
        .map(|(key, node)| Ok((borsh_bytes(key)?, borsh_bytes(node)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    // In the encoded keys' order (the batch's own order is the nodes' `Ord`, not their bytes'):
    // RocksDB's memtable inserts a run of ascending keys from the last insert's position.
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (key, node) in rows {
        batch.put_cf(nodes, key, node);
    }
    for ((version, key_hash), value) in node_batch.values() {
        batch.put_cf(
            values,
            schema::value_key(&key_hash.0, *version),
            encode_value(value.as_deref()),
        );
    }
    Ok(())
}

/// Borsh bytes of a tree type.
pub(crate) fn borsh_bytes<T: borsh::BorshSerialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    borsh::to_vec(value).map_err(|e| StoreError::Corrupt(format!("tree encoding: {e}")))
}
