//! State sync: serving snapshots to new nodes, and starting a new node from one.
//!
//! A snapshot of the state after height `h` is offered with block `h + 1` and the certificate
//! that decided it: the block's header carries the root after `h`, so a node that verifies the
//! certificate against the validator set it trusts (genesis's) can verify every chunk against
//! that root, chunk by chunk, without trusting the peer.
//!
//! Promises:
//! - [`SnapshotServer`] exports at most one snapshot per `every` heights (reused in between,
//!   the previous one deleted), and answers chunk requests only for the snapshot it offers.
//! - [`state_sync`] imports only a state whose root a certificate by the genesis validators
//!   vouches for, through the store's verified import; peers are asked one at a time, and one
//!   whose offer or chunks fail is penalized (if provably at fault) and not asked again; when no
//!   offer verifies before the deadline (for instance because the validator set has changed
//!   since genesis, so no certificate can be checked from genesis alone) it returns `false` and
//!   the node replays blocks from genesis instead. Trusting genesis means trusting its
//!   validators' keys forever: validators rotated out since could still sign a fake snapshot
//!   (a trusted recent header in config is the known remedy; not built).

use crate::driver::Peer;
use crate::runtime::Network;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokenbook_consensus::{Ed25519, verify_certificate};
use tokenbook_ledger::Genesis;
use tokenbook_net::Message;
use tokenbook_protocol::{Block, CommitCertificate, Height};
use tokenbook_store::{
    MANIFEST_FILE, SnapshotImport, SnapshotManifest, Store, StoreConfig, StoreError, chunk_file,
    decode_manifest, read_snapshot_file,
};

/// Serves this node's snapshots.
#[derive(Debug)]
pub struct SnapshotServer {
    dir: PathBuf,
    every: u64,
    chunk_entries: usize,
    current: Option<Served>,
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
        SnapshotServer { dir, every: every.max(1), chunk_entries, current: None }
    }

    /// The offer for a [`Message::SnapshotRequest`]: the newest snapshot (exported now if the
    /// last is too old), with the block and certificate that vouch for its root. `None` before
    /// height 2 (nothing to offer yet). A failure to export or read (disk full, unwritable
    /// directory) is logged and answered with nothing: serving snapshots never stops the
    /// validator.
    pub fn offer(&mut self, store: &Store) -> Option<Message> {
        match self.try_offer(store) {
            Ok(offer) => offer,
            Err(e) => {
                tracing::warn!(error = %e, "cannot offer a snapshot");
                None
            }
        }
    }

    fn try_offer(&mut self, store: &Store) -> Result<Option<Message>, StoreError> {
        let Some(latest) = store.height().filter(|h| h.get() >= 2) else { return Ok(None) };
        let wanted = Height::new(latest.get() - 1);
        let stale = self
            .current
            .as_ref()
            .is_none_or(|c| c.height.get().saturating_add(self.every) <= wanted.get());
        if stale {
            self.export(store, wanted)?;
        }
        let Some(served) = &self.current else { return Ok(None) };
        let next = Height::new(served.height.get() + 1);
        let (Some(block), Some(certificate)) = (store.block(next)?, store.certificate(next)?)
        else {
            return Ok(None);
        };
        let offer =
            Message::SnapshotOffer { manifest: served.manifest.clone(), block, certificate };
        if offer.encode().len() > tokenbook_net::MAX_MESSAGE_BYTES {
            tracing::warn!(
                "snapshot offer over the message limit: raise sync.snapshot_chunk_entries"
            );
            return Ok(None);
        }
        Ok(Some(offer))
    }

    fn export(&mut self, store: &Store, height: Height) -> Result<(), StoreError> {
        if let Some(old) = self.current.take() {
            let _ = std::fs::remove_dir_all(self.snapshot_dir(old.height));
        }
        let dir = self.snapshot_dir(height);
        let _ = std::fs::remove_dir_all(&dir);
        let manifest = store.export_snapshot(height, &dir, self.chunk_entries)?;
        let bytes = read_snapshot_file(&dir.join(MANIFEST_FILE))?;
        let chunks = chunk_count(&manifest);
        tracing::info!(
            height = height.get(),
            chunks,
            entries = manifest.entries,
            "snapshot exported"
        );
        self.current = Some(Served { height, manifest: bytes, chunks });
        Ok(())
    }

    /// The reply to a [`Message::ChunkRequest`], if it names a chunk of the offered snapshot.
    #[must_use]
    pub fn chunk(&self, height: Height, index: u32) -> Option<Message> {
        let served = self.current.as_ref().filter(|s| s.height == height && index < s.chunks)?;
        let path = self.snapshot_dir(served.height).join(chunk_file(index));
        match read_snapshot_file(&path).map(|bytes| Message::ChunkReply { height, index, bytes }) {
            Ok(reply) if reply.encode().len() <= tokenbook_net::MAX_MESSAGE_BYTES => Some(reply),
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

/// How a new node looks for a snapshot.
#[derive(Clone, Debug)]
pub struct StateSync {
    /// Number of members the network names (peers `0..members`).
    pub members: u64,
    /// This node's own index among them, if it is one.
    pub me: Option<Peer>,
    /// Give up (and sync blocks from genesis) after this long without a usable offer.
    pub timeout: Duration,
}

/// Fills the empty store at `target` from a peer's snapshot. Returns whether it did.
///
/// # Errors
/// Only errors of this node's own disk or genesis (a peer's failure is never an error here).
pub async fn state_sync<N: Network>(
    net: &mut N,
    genesis: &Genesis,
    target: &Path,
    config: &StoreConfig,
    how: &StateSync,
) -> Result<bool, String> {
    let trusted = tokenbook_ledger::genesis_state(genesis)?;
    let deadline = tokio::time::Instant::now() + how.timeout;
    // One peer asked at a time, in turn (so validators do not all export at once); a peer
    // that failed once is not asked again.
    let mut failed = std::collections::BTreeSet::new();
    let mut turn = 0u64;
    while tokio::time::Instant::now() < deadline {
        let candidates: Vec<Peer> =
            (0..how.members).filter(|p| Some(*p) != how.me && !failed.contains(p)).collect();
        let Some(&asked) =
            candidates.get(usize::try_from(turn).unwrap_or(0) % candidates.len().max(1))
        else {
            break;
        };
        turn += 1;
        net.send(asked, Message::SnapshotRequest.encode());
        let Some((peer, manifest, block, certificate)) = next_offer(
            net,
            asked,
            Duration::from_secs(2).min(deadline - tokio::time::Instant::now()),
        )
        .await
        else {
            continue;
        };
        // The certificate first: nothing the peer says is believed before it verifies.
        let set = trusted.validator_set_for(block.header.height);
        if let Err(e) = verify_certificate(&certificate, set, &genesis.chain_id, &Ed25519) {
            // Either a forgery, or the validator set has changed since genesis (then no offer
            // can be verified from genesis alone, and the node replays blocks after the
            // deadline).
            tracing::warn!(peer, error = %e, "state sync: offer's certificate does not verify \
                against the genesis validators (forged, or the set has changed since genesis)");
            failed.insert(peer);
            continue;
        }
        match fetch(net, peer, &manifest, &block, target, config, deadline).await {
            Ok(true) => return Ok(true),
            Ok(false) => {
                failed.insert(peer);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    tracing::warn!("state sync: no usable snapshot offer in time; syncing blocks from genesis");
    Ok(false)
}

async fn next_offer<N: Network>(
    net: &mut N,
    asked: Peer,
    wait: Duration,
) -> Option<(Peer, Vec<u8>, Block, CommitCertificate)> {
    let until = tokio::time::Instant::now() + wait;
    loop {
        let (peer, bytes) = tokio::time::timeout_at(until, net.recv()).await.ok()??;
        if peer != asked {
            continue;
        }
        if let Ok(Message::SnapshotOffer { manifest, block, certificate }) = Message::decode(&bytes)
        {
            return Some((peer, manifest, block, certificate));
        }
    }
}

/// Downloads and imports one offered snapshot. `Ok(false)`: the peer failed (penalized).
async fn fetch<N: Network>(
    net: &mut N,
    peer: Peer,
    manifest_bytes: &[u8],
    block: &Block,
    target: &Path,
    config: &StoreConfig,
    deadline: tokio::time::Instant,
) -> Result<bool, StoreError> {
    let manifest: SnapshotManifest = match decode_manifest(manifest_bytes) {
        Ok(m) if m.height.next() == Some(block.header.height) => m,
        _ => {
            net.penalize(peer, "snapshot offer: manifest does not match its block".into());
            return Ok(false);
        }
    };
    let height = manifest.height;
    let chunks = chunk_count(&manifest);
    let mut import =
        match SnapshotImport::begin(target, config.clone(), manifest, block.header.state_root) {
            Ok(import) => import,
            Err(StoreError::Snapshot(reason)) => {
                net.penalize(peer, format!("snapshot offer: {reason}"));
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
    tracing::info!(peer, height = height.get(), chunks, "state sync: importing a snapshot");
    for index in 0..chunks {
        net.send(peer, Message::ChunkRequest { height, index }.encode());
        let wait = Duration::from_secs(30).min(deadline - tokio::time::Instant::now());
        let Some(bytes) = next_chunk(net, peer, height, index, wait).await else {
            tracing::warn!(peer, index, "state sync: chunk never came");
            return Ok(false);
        };
        match import.add_chunk(&bytes) {
            Ok(()) => {}
            Err(StoreError::Snapshot(reason)) => {
                net.penalize(peer, format!("snapshot chunk {index}: {reason}"));
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
    }
    match import.finish() {
        Ok(store) => {
            drop(store);
            tracing::info!(height = height.get(), "state sync: snapshot imported");
            Ok(true)
        }
        Err(StoreError::Snapshot(reason)) => {
            net.penalize(peer, format!("snapshot: {reason}"));
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

async fn next_chunk<N: Network>(
    net: &mut N,
    from: Peer,
    height: Height,
    index: u32,
    wait: Duration,
) -> Option<Vec<u8>> {
    let until = tokio::time::Instant::now() + wait;
    loop {
        let (peer, bytes) = tokio::time::timeout_at(until, net.recv()).await.ok()??;
        if peer != from {
            continue;
        }
        if let Ok(Message::ChunkReply { height: h, index: i, bytes }) = Message::decode(&bytes)
            && h == height
            && i == index
        {
            return Some(bytes);
        }
    }
}

fn chunk_count(manifest: &SnapshotManifest) -> u32 {
    u32::try_from(manifest.chunk_hashes.len()).unwrap_or(u32::MAX)
}
