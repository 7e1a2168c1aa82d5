//! State snapshots (state sync): the state at a height as chunks with Merkle range proofs
//! against the certified root.
//!
//! Promises:
//! - [`Store::export_snapshot`] writes `manifest.bin` and `chunk-NNNNN.bin` files: the state's
//!   (key, value) pairs in tree-key order, each chunk with a range proof; the manifest names
//!   the height, root and every chunk's hash.
//! - [`SnapshotImport`] builds a new store from chunks, in a staging directory renamed into
//!   place only after the whole tree reproduces the trusted root and the ledger loads from it.
//!   A chunk whose hash is not the manifest's is rejected and changes nothing (ask another
//!   peer); chunks that match the manifest but do not prove the root abort the import (the
//!   manifest was bad). Tree keys are recomputed from the keys, so key preimages are proved too.

use crate::db::{Db, DbTree};
use crate::error::StoreError;
use crate::schema::{self, meta};
use crate::store::{Store, StoreConfig};
use crate::tree::{Hasher, Tree, key_hash};
use bincode::{Decode, Encode};
use borsh::BorshDeserialize;
use jmt::proof::SparseMerkleRangeProof;
use jmt::restore::{JellyfishMerkleRestore, StateSnapshotReceiver};
use jmt::{JellyfishMerkleIterator, KeyHash, RootHash};
use rocksdb::WriteBatch;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokenbook_protocol::codec::{decode_record, encode, hash_of};
use tokenbook_protocol::{Hash, Height};

/// Largest chunk file accepted (bytes).
pub const MAX_CHUNK_BYTES: usize = 64 << 20;

/// What a snapshot holds.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SnapshotManifest {
    /// The chain.
    pub chain_id: String,
    /// The state after this height.
    pub height: Height,
    /// Its root (certified by the header of `height + 1`).
    pub root: Hash,
    /// Number of (key, value) pairs.
    pub entries: u64,
    /// Hash of each chunk's canonical encoding, in order.
    pub chunk_hashes: Vec<Hash>,
}

/// A run of (key, value) pairs in tree-key order, with the proof that they and every earlier
/// pair are exactly the tree's leftmost leaves.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SnapshotChunk {
    /// The snapshot's height.
    pub height: Height,
    /// Position in the manifest.
    pub index: u32,
    /// Ledger keys and values.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// `jmt` range proof (borsh) for the last entry.
    pub proof: Vec<u8>,
}

/// File name of chunk `index`.
#[must_use]
pub fn chunk_file(index: u32) -> String {
    format!("chunk-{index:05}.bin")
}

/// File name of the manifest.
pub const MANIFEST_FILE: &str = "manifest.bin";

impl Store {
    /// Writes the state after a retained height to `dir` as a manifest and chunks of at most
    /// `chunk_entries` pairs.
    ///
    /// # Errors
    /// [`StoreError::NotRetained`] for a pruned height; read and file errors.
    pub fn export_snapshot(
        &self,
        height: Height,
        dir: &Path,
        chunk_entries: usize,
    ) -> Result<SnapshotManifest, StoreError> {
        self.snapshot_export(height)?.write(dir, chunk_entries)
    }

    /// The export of the state after a retained height, to run on any thread: it reads the
    /// tree version of `height` only (later commits add versions and leave it alone), so a
    /// node exports while its consensus goes on.
    ///
    /// # Errors
    /// [`StoreError::NotRetained`] for a pruned height; read errors.
    pub fn snapshot_export(&self, height: Height) -> Result<SnapshotExport, StoreError> {
        Ok(SnapshotExport {
            db: Arc::clone(self.db()),
            reader: Arc::new(self.tree()),
            chain_id: self.chain_id().to_string(),
            height,
            root: self.root_at(height)?,
        })
    }
}

/// A snapshot export of one height, detached from the [`Store`] ([`Store::snapshot_export`]).
pub struct SnapshotExport {
    db: Arc<Db>,
    reader: Arc<DbTree>,
    chain_id: String,
    height: Height,
    root: Hash,
}

impl std::fmt::Debug for SnapshotExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotExport").field("height", &self.height).finish_non_exhaustive()
    }
}

impl SnapshotExport {
    /// The height whose state is exported.
    #[must_use]
    pub fn height(&self) -> Height {
        self.height
    }

    /// Writes the manifest and chunks of at most `chunk_entries` pairs to `dir`.
    ///
    /// # Errors
    /// Read and file errors (a height pruned meanwhile reads as missing nodes).
    pub fn write(self, dir: &Path, chunk_entries: usize) -> Result<SnapshotManifest, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| crate::db::io_error(dir, &e))?;
        let reader = self.reader;
        let leaves =
            JellyfishMerkleIterator::new(Arc::clone(&reader), self.height.get(), KeyHash([0; 32]))
                .map_err(|e| StoreError::from_tree(&e))?;
        let mut manifest = SnapshotManifest {
            chain_id: self.chain_id,
            height: self.height,
            root: self.root,
            entries: 0,
            chunk_hashes: Vec::new(),
        };
        let mut entries = Vec::new();
        let mut last = KeyHash([0; 32]);
        for leaf in leaves {
            let (hash, value) = leaf.map_err(|e| StoreError::from_tree(&e))?;
            let key = self
                .db
                .get(schema::PREIMAGES, &hash.0)?
                .ok_or_else(|| StoreError::Corrupt(format!("no preimage for tree key {hash:?}")))?;
            entries.push((key, value));
            last = hash;
            if entries.len() >= chunk_entries.max(1) {
                write_chunk(&reader, dir, &mut manifest, std::mem::take(&mut entries), last)?;
            }
        }
        if !entries.is_empty() {
            write_chunk(&reader, dir, &mut manifest, entries, last)?;
        }
        write_file(&dir.join(MANIFEST_FILE), &encode(&manifest))?;
        Ok(manifest)
    }
}

fn write_chunk(
    reader: &DbTree,
    dir: &Path,
    manifest: &mut SnapshotManifest,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    last: KeyHash,
) -> Result<(), StoreError> {
    let proof = Tree::new(reader)
        .get_range_proof(last, manifest.height.get())
        .map_err(|e| StoreError::from_tree(&e))?;
    let index = u32::try_from(manifest.chunk_hashes.len())
        .map_err(|_| StoreError::Snapshot("more than 2^32 chunks".into()))?;
    manifest.entries += entries.len() as u64;
    let chunk = SnapshotChunk {
        height: manifest.height,
        index,
        entries,
        proof: crate::db::borsh_bytes(&proof)?,
    };
    let bytes = encode(&chunk);
    manifest.chunk_hashes.push(Hash::digest(&bytes));
    write_file(&dir.join(chunk_file(index)), &bytes)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    std::fs::write(path, bytes).map_err(|e| crate::db::io_error(path, &e))
}

/// Reads a snapshot file with the chunk size limit.
///
/// # Errors
/// The file is missing, unreadable or too large.
pub fn read_snapshot_file(path: &Path) -> Result<Vec<u8>, StoreError> {
    let size = std::fs::metadata(path).map_err(|e| crate::db::io_error(path, &e))?.len();
    if size > MAX_CHUNK_BYTES as u64 {
        return Err(StoreError::Snapshot(format!("{} is {size} bytes", path.display())));
    }
    std::fs::read(path).map_err(|e| crate::db::io_error(path, &e))
}

/// Decodes a manifest from its bytes.
///
/// # Errors
/// The bytes are not a manifest.
pub fn decode_manifest(bytes: &[u8]) -> Result<SnapshotManifest, StoreError> {
    decode_record(bytes).map_err(|e| StoreError::Snapshot(format!("manifest does not decode: {e}")))
}

/// A snapshot being imported into a new store.
pub struct SnapshotImport {
    restore: Option<JellyfishMerkleRestore<Hasher>>,
    db: Arc<Db>,
    staging: PathBuf,
    target: PathBuf,
    config: StoreConfig,
    manifest: SnapshotManifest,
    next: u32,
    failed: bool,
}

impl std::fmt::Debug for SnapshotImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotImport")
            .field("target", &self.target)
            .field("height", &self.manifest.height)
            .field("next", &self.next)
            .finish()
    }
}

impl SnapshotImport {
    /// Starts importing into `target` (which must not hold a store) the snapshot `manifest`
    /// describes; `trusted_root` is the certified root for its height.
    ///
    /// # Errors
    /// [`StoreError::Snapshot`] for a manifest of another chain or root; file and database errors.
    pub fn begin(
        target: &Path,
        config: StoreConfig,
        manifest: SnapshotManifest,
        trusted_root: Hash,
    ) -> Result<SnapshotImport, StoreError> {
        if manifest.root != trusted_root {
            return Err(StoreError::Snapshot(format!(
                "manifest root {} is not the certified root {trusted_root}",
                manifest.root
            )));
        }
        if manifest.chain_id != config.chain_id {
            return Err(StoreError::Snapshot(format!(
                "manifest is for chain {}",
                manifest.chain_id
            )));
        }
        if manifest.chunk_hashes.is_empty() {
            return Err(StoreError::Snapshot("manifest lists no chunks".into()));
        }
        if std::fs::read_dir(target).is_ok_and(|mut d| d.next().is_some()) {
            return Err(StoreError::Snapshot(format!("{} is not empty", target.display())));
        }
        let staging = staging_dir(target);
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| crate::db::io_error(&staging, &e))?;
        }
        let db = Arc::new(Db::open(&staging)?);
        let restore = JellyfishMerkleRestore::new(
            Arc::new(DbTree::new(Arc::clone(&db))),
            manifest.height.get(),
            RootHash(trusted_root.0),
        )
        .map_err(|e| StoreError::from_tree(&e))?;
        Ok(SnapshotImport {
            restore: Some(restore),
            db,
            staging,
            target: target.to_path_buf(),
            config,
            manifest,
            next: 0,
            failed: false,
        })
    }

    /// The index of the chunk expected next.
    #[must_use]
    pub fn next_chunk(&self) -> u32 {
        self.next
    }

    /// Whether every chunk has been added.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.next as usize == self.manifest.chunk_hashes.len()
    }

    /// Adds the next chunk (its canonical bytes).
    ///
    /// # Errors
    /// [`StoreError::Snapshot`]: a chunk that is not the manifest's next chunk is rejected and
    /// the import can go on with a correct copy; a chunk that matches the manifest but fails
    /// the proof ends the import (start again with another peer's manifest).
    pub fn add_chunk(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        if self.failed {
            return Err(StoreError::Snapshot("the import failed earlier; start again".into()));
        }
        let index = self.next as usize;
        let Some(expected) = self.manifest.chunk_hashes.get(index) else {
            return Err(StoreError::Snapshot("every chunk was already added".into()));
        };
        if bytes.len() > MAX_CHUNK_BYTES || Hash::digest(bytes) != *expected {
            return Err(StoreError::Snapshot(format!("chunk {index} does not match the manifest")));
        }
        let chunk: SnapshotChunk = decode_record(bytes)
            .map_err(|e| StoreError::Snapshot(format!("chunk {index} does not decode: {e}")))?;
        self.failed = true;
        self.apply_chunk(index, chunk)?;
        self.failed = false;
        self.next += 1;
        Ok(())
    }

    fn apply_chunk(&mut self, index: usize, chunk: SnapshotChunk) -> Result<(), StoreError> {
        if chunk.height != self.manifest.height || chunk.index as usize != index {
            return Err(StoreError::Snapshot(format!("chunk {index} names another position")));
        }
        let proof = SparseMerkleRangeProof::<Hasher>::try_from_slice(&chunk.proof)
            .map_err(|e| StoreError::Snapshot(format!("chunk {index} proof: {e}")))?;
        let mut batch = WriteBatch::default();
        let preimages = self.db.cf(schema::PREIMAGES)?;
        let mut leaves = Vec::with_capacity(chunk.entries.len());
        for (key, value) in chunk.entries {
            let hash = key_hash(&key);
            batch.put_cf(preimages, hash.0, &key);
            leaves.push((hash, value));
        }
        let restore =
            self.restore.as_mut().ok_or(StoreError::Snapshot("import finished".into()))?;
        restore.add_chunk(leaves, proof).map_err(|e| {
            StoreError::Snapshot(format!("chunk {index} does not prove the root: {e:#}"))
        })?;
        self.db.write(batch, false)
    }

    /// Completes the import: checks the tree's root and that the ledger loads, writes the
    /// metadata, syncs, and moves the store into place.
    ///
    /// # Errors
    /// [`StoreError::Snapshot`] if chunks are missing or the result is not the certified state.
    pub fn finish(mut self) -> Result<Store, StoreError> {
        if !self.is_complete() || self.failed {
            return Err(StoreError::Snapshot(format!(
                "{} of {} chunks added",
                self.next,
                self.manifest.chunk_hashes.len()
            )));
        }
        let restore = self.restore.take().ok_or(StoreError::Snapshot("import finished".into()))?;
        restore.finish().map_err(|e| StoreError::Snapshot(format!("restore: {e:#}")))?;
        let height = self.manifest.height;
        let root = Tree::new(&DbTree::new(Arc::clone(&self.db)))
            .get_root_hash(height.get())
            .map_err(|e| StoreError::from_tree(&e))?;
        if root.0 != self.manifest.root.0 {
            return Err(StoreError::Snapshot("the restored tree has another root".into()));
        }
        self.check_ledger_loads()?;
        self.write_meta()?;
        let SnapshotImport { db, staging, target, config, .. } = self;
        drop(db);
        if target.exists() {
            std::fs::remove_dir(&target).map_err(|e| crate::db::io_error(&target, &e))?;
        }
        std::fs::rename(&staging, &target).map_err(|e| crate::db::io_error(&target, &e))?;
        Store::open(&target, config)
    }

    fn check_ledger_loads(&self) -> Result<(), StoreError> {
        let state = self.db.state_at(self.manifest.height.get())?;
        let ledger = tokenbook_ledger::kv::import(&state)
            .map_err(|e| StoreError::Snapshot(format!("the state does not load: {e}")))?;
        if ledger.height != self.manifest.height || ledger.chain_id != self.config.chain_id {
            return Err(StoreError::Snapshot("the state is for another height or chain".into()));
        }
        Ok(())
    }

    fn write_meta(&self) -> Result<(), StoreError> {
        let cf = self.db.cf(schema::META)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, meta::PROGRAM, schema::PROGRAM);
        batch.put_cf(cf, meta::SCHEMA, schema::SCHEMA_VERSION.to_be_bytes());
        batch.put_cf(cf, meta::CHAIN_ID, self.config.chain_id.as_bytes());
        batch.put_cf(cf, meta::HEIGHT, self.manifest.height.get().to_be_bytes());
        batch.put_cf(cf, meta::ROOT, self.manifest.root.0);
        batch.put_cf(cf, meta::PRUNED_TO, self.manifest.height.get().to_be_bytes());
        self.db.write(batch, true)
    }
}

impl SnapshotChunk {
    /// Hash of the canonical encoding (what the manifest lists).
    #[must_use]
    pub fn hash(&self) -> Hash {
        hash_of(self)
    }
}

fn staging_dir(target: &Path) -> PathBuf {
    let mut name = target.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".staging");
    target.with_file_name(name)
}
