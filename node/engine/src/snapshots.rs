//! Serving snapshots to new nodes (state sync).
//!
//! A snapshot of the state after height `h` is offered with block `h + 1` and the certificate
//! that decided it: the block's header carries the root after `h`, so a node that verifies the
//! certificate against the validator set it trusts (genesis's) can verify every chunk against
//! that root, chunk by chunk, without trusting the peer.
//!
//! Promises:
//! - [`SnapshotServer`] exports at most one snapshot per `every` heights (reused in between,
//!   the previous one deleted), and answers chunk requests only for the snapshot it offers.
//! - The export runs on a thread of its own, never on the consensus path: a request that finds
//!   the offered snapshot too old starts one and is answered with the snapshot offered now (or
//!   nothing, the first time); the new one is offered once it is written.
//! - The daemon's `state_sync` is the other side: it imports only what a certificate by the
//!   genesis validators vouches for.

use crate::storage::ChainStore;
use std::path::PathBuf;
use tokenbook_protocol::Height;
use tokenbook_protocol::message::{MAX_MESSAGE_BYTES, Message};
use tokenbook_store::{
    MANIFEST_FILE, SnapshotManifest, StoreError, chunk_file, read_snapshot_file,
};

/// Serves this node's snapshots.
#[derive(Debug)]
pub struct SnapshotServer {
    dir: PathBuf,
    every: u64,
    chunk_entries: usize,
    current: Option<Served>,
    exporting: Option<Exporting>,
}

/// An export running on its thread.
#[derive(Debug)]
struct Exporting {
    height: Height,
    thread: std::thread::JoinHandle<Result<SnapshotManifest, StoreError>>,
}

#[derive(Debug)]
struct Served {
    height: Height,
    manifest: Vec<u8>,
    chunks: u32,
}

impl SnapshotServer {
    /// Snapshots go under `dir`; one is reused until it is `every` heights old; chunks hold at
    /// most `chunk_entries` pairs.
    #[must_use]
    pub fn new(dir: PathBuf, every: u64, chunk_entries: usize) -> SnapshotServer {
        SnapshotServer { dir, every: every.max(1), chunk_entries, current: None, exporting: None }
    }

    /// The offer for a [`Message::SnapshotRequest`]: the newest snapshot written, with the
    /// block and certificate that vouch for its root; an export of a newer one starts in the
    /// background when it is too old. `None` before height 2 (nothing to offer yet) and until
    /// the first export is written. A failure to export or read (disk full, unwritable
    /// directory) is logged and answered with nothing: serving snapshots never stops the
    /// validator.
    pub fn offer<S: ChainStore>(&mut self, store: &S) -> Option<Message> {
        self.collect();
        match self.try_offer(store) {
            Ok(offer) => offer,
            Err(e) => {
                tracing::warn!(error = %e, "cannot offer a snapshot");
                None
            }
        }
    }

    /// Whether an export is running.
    #[must_use]
    pub fn exporting(&self) -> bool {
        self.exporting.is_some()
    }

    /// Waits for the running export, if any, and offers it from now on (tests; the node never
    /// waits).
    pub fn finish_export(&mut self) {
        if let Some(exporting) = self.exporting.take() {
            let result = exporting.thread.join();
            self.served(exporting.height, result);
        }
    }

    fn try_offer<S: ChainStore>(&mut self, store: &S) -> Result<Option<Message>, StoreError> {
        let Some(latest) = store.height().filter(|h| h.get() >= 2) else { return Ok(None) };
        let wanted = Height::new(latest.get() - 1);
        let stale = self
            .current
            .as_ref()
            .is_none_or(|c| c.height.get().saturating_add(self.every) <= wanted.get());
        if stale && self.exporting.is_none() {
            self.start_export(store, wanted)?;
        }
        let Some(served) = &self.current else { return Ok(None) };
        let next = Height::new(served.height.get() + 1);
        let (Some(block), Some(certificate)) = (store.block(next)?, store.certificate(next)?)
        else {
            return Ok(None);
        };
        let offer =
            Message::SnapshotOffer { manifest: served.manifest.clone(), block, certificate };
        if offer.encode().len() > MAX_MESSAGE_BYTES {
            tracing::warn!(
                "snapshot offer over the message limit: raise sync.snapshot_chunk_entries"
            );
            return Ok(None);
        }
        Ok(Some(offer))
    }

    fn start_export<S: ChainStore>(&mut self, store: &S, height: Height) -> Result<(), StoreError> {
        let job = store.snapshot_job(height)?;
        let dir = self.snapshot_dir(height);
        let _ = std::fs::remove_dir_all(&dir);
        let chunk_entries = self.chunk_entries;
        let thread = std::thread::Builder::new()
            .name("snapshot-export".into())
            .spawn(move || job(&dir, chunk_entries))
            .map_err(|e| StoreError::Io(format!("cannot start the snapshot export: {e}")))?;
        self.exporting = Some(Exporting { height, thread });
        Ok(())
    }

    /// Takes a finished export (without waiting for a running one).
    fn collect(&mut self) {
        if self.exporting.as_ref().is_some_and(|e| e.thread.is_finished()) {
            self.finish_export();
        }
    }

    fn served(
        &mut self,
        height: Height,
        result: std::thread::Result<Result<SnapshotManifest, StoreError>>,
    ) {
        let dir = self.snapshot_dir(height);
        let manifest = match result {
            Ok(Ok(manifest)) => manifest,
            Ok(Err(e)) => return tracing::warn!(error = %e, "snapshot export failed"),
            Err(_) => return tracing::error!("snapshot export panicked"),
        };
        let bytes = match read_snapshot_file(&dir.join(MANIFEST_FILE)) {
            Ok(bytes) => bytes,
            Err(e) => return tracing::warn!(error = %e, "snapshot manifest unreadable"),
        };
        if let Some(old) = self.current.take() {
            let _ = std::fs::remove_dir_all(self.snapshot_dir(old.height));
        }
        let chunks = chunk_count(&manifest);
        tracing::info!(
            height = height.get(),
            chunks,
            entries = manifest.entries,
            "snapshot exported"
        );
        self.current = Some(Served { height, manifest: bytes, chunks });
    }

    /// The reply to a [`Message::ChunkRequest`], if it names a chunk of the offered snapshot.
    #[must_use]
    pub fn chunk(&self, height: Height, index: u32) -> Option<Message> {
        let served = self.current.as_ref().filter(|s| s.height == height && index < s.chunks)?;
        let path = self.snapshot_dir(served.height).join(chunk_file(index));
        match read_snapshot_file(&path).map(|bytes| Message::ChunkReply { height, index, bytes }) {
            Ok(reply) if reply.encode().len() <= MAX_MESSAGE_BYTES => Some(reply),
            Ok(_) => {
                tracing::error!(
                    index,
                    "snapshot chunk too large to send: lower \
                                        sync.snapshot_chunk_entries"
                );
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "snapshot chunk unreadable");
                None
            }
        }
    }

    fn snapshot_dir(&self, height: Height) -> PathBuf {
        self.dir.join(format!("{:020}", height.get()))
    }
}

impl Drop for SnapshotServer {
    /// Waits for a running export: it holds the store's database open, and a node restarted in
    /// the same process must find it closed.
    fn drop(&mut self) {
        if let Some(exporting) = self.exporting.take() {
            let _ = exporting.thread.join();
        }
    }
}

/// The number of chunks a manifest names.
#[must_use]
pub fn chunk_count(manifest: &SnapshotManifest) -> u32 {
    u32::try_from(manifest.chunk_hashes.len()).unwrap_or(u32::MAX)
}
