//! State sync: starting a new node from a peer's snapshot (the serving side is the engine's
//! [`SnapshotServer`]).
//!
//! Promises: [`state_sync`] imports only a state whose root a certificate by the genesis
//! validators vouches for, through the store's verified import; peers are asked one at a time,
//! and one whose offer or chunks fail is penalized (if provably at fault) and not asked again;
//! when no offer verifies before the deadline (for instance because the validator set has
//! changed since genesis, so no certificate can be checked from genesis alone) it returns
//! `false` and the node replays blocks from genesis instead. Trusting genesis means trusting
//! its validators' keys forever: validators rotated out since could still sign a fake snapshot
//! (a trusted recent header in config is the known remedy; not built).

pub use tokenbook_engine::snapshots::SnapshotServer;

use crate::driver::Peer;
use crate::runtime::Network;
use std::path::Path;
use std::time::Duration;
use tokenbook_consensus::{Ed25519, verify_certificate};
use tokenbook_engine::snapshots::chunk_count;
use tokenbook_ledger::Genesis;
use tokenbook_net::Message;
use tokenbook_protocol::{Block, CommitCertificate, Height};
use tokenbook_store::{SnapshotImport, SnapshotManifest, StoreConfig, StoreError, decode_manifest};

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
