//! What validators send each other ([`Message`]), with one bounded canonical codec. The
//! transport (`tokenbook-net`) moves these as bytes; the engine speaks in them.

use crate::codec::{self, CodecError, Wire};
use crate::{
    Block, CommitCertificate, Height, MAX_BLOCK_BYTES, MAX_CERTIFICATE_BYTES, Proposal, Tx, Vote,
};
use bincode::{Decode, Encode};

/// Most txs in one gossiped batch.
pub const MAX_TX_BATCH: usize = 4_096;

/// Largest encoded message: a block with its certificate, plus framing.
pub const MAX_MESSAGE_BYTES: usize = MAX_BLOCK_BYTES + MAX_CERTIFICATE_BYTES + 1_024;

/// What validators send each other.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Message {
    /// A signed proposal and the block it proposes (its hash is the proposal's value), with the
    /// certificate of the previous height the block's header names (validators may hold
    /// different ones).
    Proposal {
        /// The signed proposal.
        proposal: Proposal,
        /// The proposed block.
        block: Block,
        /// The previous height's certificate (`None` at height 1).
        prev_certificate: Option<CommitCertificate>,
    },
    /// A signed prevote or precommit.
    Vote(Vote),
    /// Txs for the mempools.
    Txs(Vec<Tx>),
    /// "Send me decided blocks from this height on."
    SyncRequest {
        /// First height wanted.
        from: Height,
    },
    /// A decided block with the certificate that decided it.
    SyncReply {
        /// The block.
        block: Block,
        /// Its commit certificate.
        certificate: CommitCertificate,
    },
    /// "Offer me a snapshot of your state" (a new node's state sync).
    SnapshotRequest,
    /// A snapshot of the state after height `h`: its manifest, and block `h + 1` with the
    /// certificate that decided it (the block's header carries the root after `h`).
    SnapshotOffer {
        /// The store's canonical manifest bytes (chain, height, root, chunk hashes).
        manifest: Vec<u8>,
        /// Block `h + 1`.
        block: Block,
        /// Its commit certificate.
        certificate: CommitCertificate,
    },
    /// "Send me chunk `index` of your snapshot at `height`."
    ChunkRequest {
        /// The snapshot's height.
        height: Height,
        /// The chunk.
        index: u32,
    },
    /// A snapshot chunk's canonical bytes (checked against the manifest's hash by the node).
    ChunkReply {
        /// The snapshot's height.
        height: Height,
        /// The chunk.
        index: u32,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// Prevotes for one value in one round from more than two thirds of the power: the polka a
    /// re-proposal of that value needs, shown whole (a peer that saw a validator equivocate
    /// may have dropped the vote that completes it).
    Polka(Vec<Vote>),
}

impl Wire for Message {
    const KIND: &'static str = "message";
    const MAX_BYTES: usize = MAX_MESSAGE_BYTES;

    fn decode_prefix(bytes: &[u8]) -> Result<(Self, usize), bincode::error::DecodeError> {
        const LIMIT: usize = MAX_MESSAGE_BYTES * codec::ALLOC_FACTOR;
        let config = bincode::config::standard().with_fixed_int_encoding().with_limit::<LIMIT>();
        bincode::decode_from_slice(bytes, config)
    }

    fn check_shape(&self) -> Result<(), String> {
        match self {
            Message::Proposal { proposal, block, prev_certificate } => {
                block.check_shape()?;
                if prev_certificate
                    .as_ref()
                    .is_some_and(|c| c.hash() != block.header.prev_certificate_hash)
                {
                    return Err("the certificate is not the one the header names".into());
                }
                if proposal.payload.value != block.hash() {
                    return Err("the proposal's value is not the block's hash".into());
                }
                if proposal.payload.height != block.header.height {
                    return Err("the proposal's height is not the block's".into());
                }
                Ok(())
            }
            Message::Polka(votes) => {
                if votes.len() > crate::MAX_VALIDATORS {
                    return Err(format!(
                        "{} votes; at most {} in a polka",
                        votes.len(),
                        crate::MAX_VALIDATORS
                    ));
                }
                Ok(())
            }
            Message::Vote(_)
            | Message::SyncRequest { .. }
            | Message::SnapshotRequest
            | Message::ChunkRequest { .. }
            | Message::ChunkReply { .. } => Ok(()),
            Message::Txs(txs) => {
                if txs.len() > MAX_TX_BATCH {
                    return Err(format!("{} txs; at most {MAX_TX_BATCH} per batch", txs.len()));
                }
                txs.iter().try_for_each(Tx::check_shape)
            }
            Message::SyncReply { block, certificate }
            | Message::SnapshotOffer { block, certificate, .. } => {
                block.check_shape()?;
                if certificate.block_hash != block.hash()
                    || certificate.height != block.header.height
                {
                    return Err("the certificate is not the block's".into());
                }
                Ok(())
            }
        }
    }
}

impl Message {
    /// The canonical bytes.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a message from a peer: size limit, no trailing bytes, shape rules.
    ///
    /// # Errors
    /// [`CodecError`] with a stable code; the peer sent something no honest node sends.
    pub fn decode(bytes: &[u8]) -> Result<Message, CodecError> {
        codec::decode(bytes)
    }
}
