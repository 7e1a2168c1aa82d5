//! Where the engine keeps what must survive a crash: the authenticated state, decided blocks
//! with their certificates and receipts, and the consensus records written before a message
//! leaves.
//!
//! [`ChainStore`] is the engine's view of a store. The daemon runs on RocksDB
//! ([`tokenbook_store::Store`]); the simulator runs on [`MemChainStore`], whose every write is
//! durable the moment it returns (what a synced RocksDB write promises), so a simulated crash
//! keeps exactly what the node had written and a restart opens the same store again. Both compute
//! the state root with the same Jellyfish tree (`MemTree` and `Store` agree, ADR 0007).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokenbook_ledger::kv::{Changes, KvMap, MemStore};
use tokenbook_protocol::{Block, CommitCertificate, Hash, Height};
use tokenbook_store::{BlockData, MemTree, SnapshotManifest, Store, StoreError};

/// The store operations the engine needs.
pub trait ChainStore {
    /// The last complete height (`None` before genesis).
    fn height(&self) -> Option<Height>;
    /// The state root after it.
    fn root(&self) -> Option<Hash>;
    /// Writes the genesis state as height 0 (or checks a store that has it), returning its root.
    ///
    /// # Errors
    /// Another genesis; write errors.
    fn init_genesis(&mut self, state: &KvMap) -> Result<Hash, StoreError>;
    /// The whole current state.
    ///
    /// # Errors
    /// Read errors.
    fn load_state(&self) -> Result<KvMap, StoreError>;
    /// Commits the next height: its state changes and decided block; the new root. The
    /// height is the store's head at once and durable no later than the store's next write
    /// returns (RocksDB: its writer thread writes and syncs the batch while the node goes on,
    /// and every later write waits for it — a consensus record is never on disk without the
    /// heights before it).
    ///
    /// # Errors
    /// A height out of order; write errors (the store stops).
    fn commit(
        &mut self,
        height: Height,
        changes: &Changes,
        block: Option<BlockData<'_>>,
    ) -> Result<Hash, StoreError>;
    /// A decided block.
    ///
    /// # Errors
    /// Read errors.
    fn block(&self, height: Height) -> Result<Option<Block>, StoreError>;
    /// The certificate that decided a height.
    ///
    /// # Errors
    /// Read errors.
    fn certificate(&self, height: Height) -> Result<Option<CommitCertificate>, StoreError>;
    /// Appends consensus records of `height`, durably, all or none.
    ///
    /// # Errors
    /// Write errors (the store stops).
    fn append_consensus_records(
        &mut self,
        height: Height,
        records: &[&[u8]],
    ) -> Result<(), StoreError>;
    /// The consensus records of `height`, in the order appended.
    ///
    /// # Errors
    /// Read errors.
    fn consensus_records(&self, height: Height) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Drops the consensus records of heights below `height`.
    ///
    /// # Errors
    /// Write errors.
    fn prune_consensus_records(&mut self, height: Height) -> Result<(), StoreError>;
    /// The job that writes a verifiable snapshot of the state at `height` (into a directory,
    /// in chunks of at most so many pairs), detached from the store so it can run off the
    /// consensus path.
    ///
    /// # Errors
    /// The height is not retained; the store cannot export.
    fn snapshot_job(&self, height: Height) -> Result<SnapshotJob, StoreError>;
}

/// A snapshot export to run on any thread: writes to the directory, in chunks of at most the
/// given number of pairs.
pub type SnapshotJob = Box<dyn FnOnce(&Path, usize) -> Result<SnapshotManifest, StoreError> + Send>;

impl ChainStore for Store {
    fn height(&self) -> Option<Height> {
        Store::height(self)
    }

    fn root(&self) -> Option<Hash> {
        Store::root(self)
    }

    fn init_genesis(&mut self, state: &KvMap) -> Result<Hash, StoreError> {
        Store::init_genesis(self, state)
    }

    fn load_state(&self) -> Result<KvMap, StoreError> {
        tokenbook_store::StoreReader::load_state(self)
    }

    fn commit(
        &mut self,
        height: Height,
        changes: &Changes,
        block: Option<BlockData<'_>>,
    ) -> Result<Hash, StoreError> {
        Store::stage(self, height, changes, block)
    }

    fn block(&self, height: Height) -> Result<Option<Block>, StoreError> {
        tokenbook_store::StoreReader::block(self, height)
    }

    fn certificate(&self, height: Height) -> Result<Option<CommitCertificate>, StoreError> {
        tokenbook_store::StoreReader::certificate(self, height)
    }

    fn append_consensus_records(
        &mut self,
        height: Height,
        records: &[&[u8]],
    ) -> Result<(), StoreError> {
        Store::append_consensus_records(self, height, records)
    }

    fn consensus_records(&self, height: Height) -> Result<Vec<Vec<u8>>, StoreError> {
        Store::consensus_records(self, height)
    }

    fn prune_consensus_records(&mut self, height: Height) -> Result<(), StoreError> {
        Store::prune_consensus_records(self, height)
    }

    fn snapshot_job(&self, height: Height) -> Result<SnapshotJob, StoreError> {
        let export = self.snapshot_export(height)?;
        Ok(Box::new(move |dir: &Path, chunk_entries| export.write(dir, chunk_entries)))
    }
}

/// A store in memory with crash semantics: every call that returns has written durably; after
/// [`fail_writes`](Self::fail_writes) the next write writes nothing and stops the store (as a
/// failed RocksDB write does: a full disk, a crash in the middle of a write) until it is opened
/// again ([`reopen`](Self::reopen)).
#[derive(Clone, Debug, Default)]
pub struct MemChainStore {
    tree: MemTree,
    state: KvMap,
    head: Option<(Height, Hash)>,
    blocks: BTreeMap<Height, (Block, CommitCertificate)>,
    records: BTreeMap<Height, Vec<Vec<u8>>>,
    /// Set: the next write fails (shared, so a harness can set it while an executor owns the
    /// store).
    failing: Arc<AtomicBool>,
    /// The first refused write: every later write is refused too, until reopened.
    stopped: Option<String>,
}

impl MemChainStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        MemChainStore::default()
    }

    /// The next write fails and stops the store.
    pub fn fail_writes(&self) {
        self.failing.store(true, Ordering::Relaxed);
    }

    /// The same durable contents, opened again after a crash (a stopped store works again).
    #[must_use]
    pub fn reopen(&self) -> MemChainStore {
        MemChainStore { failing: Arc::default(), stopped: None, ..self.clone() }
    }

    fn writable(&mut self) -> Result<(), StoreError> {
        if let Some(e) = &self.stopped {
            return Err(StoreError::Stopped(e.clone()));
        }
        if self.failing.load(Ordering::Relaxed) {
            let e = "simulated write failure".to_string();
            self.stopped = Some(e.clone());
            return Err(StoreError::Io(e));
        }
        Ok(())
    }
}

impl ChainStore for MemChainStore {
    fn height(&self) -> Option<Height> {
        self.head.map(|(h, _)| h)
    }

    fn root(&self) -> Option<Hash> {
        self.head.map(|(_, r)| r)
    }

    fn init_genesis(&mut self, state: &KvMap) -> Result<Hash, StoreError> {
        if let Some((_, root)) = self.head.filter(|(h, _)| h.get() == 0) {
            return Ok(root);
        }
        self.writable()?;
        let changes: Changes = state.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        let root = self.tree.apply(&changes)?;
        self.state = state.clone();
        self.head = Some((Height::new(0), root));
        Ok(root)
    }

    fn load_state(&self) -> Result<KvMap, StoreError> {
        Ok(self.state.clone())
    }

    fn commit(
        &mut self,
        height: Height,
        changes: &Changes,
        block: Option<BlockData<'_>>,
    ) -> Result<Hash, StoreError> {
        let current = self.height().ok_or(StoreError::Empty)?;
        if current.next() != Some(height) {
            return Err(StoreError::WrongHeight { current, found: height });
        }
        self.writable()?;
        let root = self.tree.apply(changes)?;
        MemStore::apply_to(&mut self.state, changes);
        if let Some(data) = block {
            self.blocks.insert(height, (data.block.clone(), data.certificate.clone()));
        }
        self.head = Some((height, root));
        Ok(root)
    }

    fn block(&self, height: Height) -> Result<Option<Block>, StoreError> {
        Ok(self.blocks.get(&height).map(|(b, _)| b.clone()))
    }

    fn certificate(&self, height: Height) -> Result<Option<CommitCertificate>, StoreError> {
        Ok(self.blocks.get(&height).map(|(_, c)| c.clone()))
    }

    fn append_consensus_records(
        &mut self,
        height: Height,
        records: &[&[u8]],
    ) -> Result<(), StoreError> {
        self.writable()?;
        let log = self.records.entry(height).or_default();
        log.extend(records.iter().map(|r| r.to_vec()));
        Ok(())
    }

    fn consensus_records(&self, height: Height) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.records.get(&height).cloned().unwrap_or_default())
    }

    fn prune_consensus_records(&mut self, height: Height) -> Result<(), StoreError> {
        self.records = self.records.split_off(&height);
        Ok(())
    }

    fn snapshot_job(&self, _height: Height) -> Result<SnapshotJob, StoreError> {
        Err(StoreError::Io("a store in memory exports no snapshots".into()))
    }
}
