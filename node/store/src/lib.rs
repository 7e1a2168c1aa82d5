//! The node's durable store: RocksDB holding blocks, commit certificates, receipts (indexed by
//! tx hash, account and market), consensus records, and the ledger state under a Jellyfish
//! Merkle root with inclusion and non-inclusion proofs, pruning and snapshots.
//!
//! What it promises (details in each module and docs/adr/0007):
//! - [`Store::commit`]: one synced RocksDB write batch per height; after a crash the store
//!   reopens at the last complete height, never a half-written one. [`Store::stage`] hands the
//!   same batch to the store's writer thread, so the write and sync of a height overlap the work
//!   on the next; every other write waits for it (`writer.rs`).
//! - The state root depends only on the state: [`MemTree`] and [`Store`] agree for the same
//!   blocks, and [`StateProof::verify`] needs nothing but the root.
//! - [`Store::open`] refuses foreign, other-chain and inconsistent databases with a clear
//!   [`StoreError`]; a failed write stops the store instead of continuing on a read-only DB.
//! - Snapshots ([`Store::export_snapshot`], [`SnapshotImport`]) verify every chunk against the
//!   certified root before the new store is moved into place.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

pub mod db;
pub mod error;
mod prune;
pub mod reader;
pub mod schema;
pub mod snapshot;
pub mod store;
pub mod tree;
mod writer;

pub use error::StoreError;
pub use prune::PruneStats;
pub use reader::StoreReader;
pub use snapshot::{
    MANIFEST_FILE, MAX_CHUNK_BYTES, SnapshotChunk, SnapshotExport, SnapshotImport,
    SnapshotManifest, chunk_file, decode_manifest, read_snapshot_file,
};
pub use store::{BlockData, CommitStats, Store, StoreConfig};
pub use tree::{MemTree, ProofError, StateProof};

/// The wire-protocol crate this crate builds on.
pub use tokenbook_protocol as protocol;
