//! Consensus-level types: validator set, block header, block, proposal, vote, commit
//! certificate and equivocation evidence.
//!
//! Hashes: a block's hash is the hash of its header (the header commits to the txs through
//! `tx_root`); a validator set's hash is the hash of its encoding; a certificate's hash is the
//! hash of its encoding. Proposals and votes are signed in their own domains over their payloads
//! (everything but the signature), exactly like txs.

use crate::admin::Validator;
use crate::codec::{self, wire_kind};
use crate::crypto::{self, Domain, Keypair, PublicKey, Signature};
use crate::hash::{Hash, merkle_root};
use crate::ids::{Height, Round, Timestamp};
use crate::tx::{Tx, is_valid_chain_id};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Most validators in a set.
pub const MAX_VALIDATORS: usize = 256;
/// Most txs in one block.
pub const MAX_BLOCK_TXS: usize = 16_384;
/// Largest encoded block in bytes.
pub const MAX_BLOCK_BYTES: usize = 8 * 1024 * 1024;
/// Largest encoded header, vote or proposal in bytes.
pub const MAX_SMALL_MESSAGE_BYTES: usize = 512;
/// Largest encoded commit certificate in bytes (`MAX_VALIDATORS` signatures plus framing).
pub const MAX_CERTIFICATE_BYTES: usize = 64 + MAX_VALIDATORS * (32 + 64) + 64;
/// Largest encoded validator set in bytes.
pub const MAX_VALIDATOR_SET_BYTES: usize = 8 + MAX_VALIDATORS * (32 + 32 + 8);

/// The validators of one height, in a canonical order (ascending consensus key).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ValidatorSet {
    /// Members of the set, sorted by consensus key, no duplicates, power > 0.
    pub validators: Vec<Validator>,
}

wire_kind!(ValidatorSet, "validator_set", MAX_VALIDATOR_SET_BYTES, |v: &ValidatorSet| v
    .check_shape());

impl ValidatorSet {
    /// Builds a set, sorting by consensus key.
    ///
    /// # Errors
    /// When the set is empty, too large, has duplicate keys, zero power, or total power
    /// overflows.
    pub fn new(mut validators: Vec<Validator>) -> Result<Self, String> {
        validators.sort_by_key(|v| v.consensus_key);
        let set = Self { validators };
        set.check_shape()?;
        Ok(set)
    }

    /// The set's rules: 1..=256 validators, sorted, unique, positive power, total fits u64.
    ///
    /// # Errors
    /// The rule broken.
    pub fn check_shape(&self) -> Result<(), String> {
        if self.validators.is_empty() || self.validators.len() > MAX_VALIDATORS {
            return Err(format!("validator set must have 1..={MAX_VALIDATORS} members"));
        }
        if self.validators.windows(2).any(|w| w[0].consensus_key >= w[1].consensus_key) {
            return Err("validators must be sorted by consensus key without duplicates".into());
        }
        if self.validators.iter().any(|v| v.power == 0) {
            return Err("validator power must be positive".into());
        }
        self.total_power().map(|_| ()).ok_or_else(|| "total voting power overflows".into())
    }

    /// Sum of voting power, `None` on overflow.
    #[must_use]
    pub fn total_power(&self) -> Option<u64> {
        self.validators.iter().try_fold(0u64, |acc, v| acc.checked_add(v.power))
    }

    /// The validator with this consensus key.
    #[must_use]
    pub fn get(&self, key: &PublicKey) -> Option<&Validator> {
        self.validators
            .binary_search_by_key(key, |v| v.consensus_key)
            .ok()
            .map(|i| &self.validators[i])
    }

    /// Hash of the canonical encoding (carried in block headers).
    #[must_use]
    pub fn hash(&self) -> Hash {
        codec::hash_of(self)
    }
}

/// A block header. The `state_root` is the root *after* the previous height (CometBFT's
/// AppHash rule), so block `h + 1`'s certificate certifies the state after `h`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Chain identity (also inside every signature preimage).
    pub chain_id: String,
    /// Height of this block (≥ 1).
    pub height: Height,
    /// Block time, set by the proposer, strictly increasing (the ledger's only clock).
    pub time: Timestamp,
    /// Consensus key of the proposer.
    pub proposer: PublicKey,
    /// Hash of the previous block's header (`Hash::ZERO` at height 1).
    pub prev_block_hash: Hash,
    /// Hash of the previous block's commit certificate (`Hash::ZERO` at height 1).
    pub prev_certificate_hash: Hash,
    /// RFC 6962 Merkle root of the txs' hashes.
    pub tx_root: Hash,
    /// State root after applying the previous height (genesis state root at height 1).
    pub state_root: Hash,
    /// Hash of the validator set that certifies this height.
    pub validator_set_hash: Hash,
    /// Hash of the validator set for the next height.
    pub next_validator_set_hash: Hash,
}

wire_kind!(BlockHeader, "block_header", MAX_SMALL_MESSAGE_BYTES, |h: &BlockHeader| {
    if is_valid_chain_id(&h.chain_id) { Ok(()) } else { Err("invalid chain id".into()) }
});

impl BlockHeader {
    /// The block hash.
    #[must_use]
    pub fn hash(&self) -> Hash {
        codec::hash_of(self)
    }
}

/// A header and its transactions, in proposal order (the ledger re-sequences them fairly).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions.
    pub txs: Vec<Tx>,
}

wire_kind!(Block, "block", MAX_BLOCK_BYTES, |b: &Block| b.check_shape());

impl Block {
    /// The block hash (hash of the header).
    #[must_use]
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The Merkle root over the txs' hashes (must equal `header.tx_root`).
    #[must_use]
    pub fn compute_tx_root(&self) -> Hash {
        tx_root(&self.txs)
    }

    /// Counts, per-tx sizes and shapes, and the tx root.
    ///
    /// # Errors
    /// The rule broken.
    pub fn check_shape(&self) -> Result<(), String> {
        if !is_valid_chain_id(&self.header.chain_id) {
            return Err("invalid chain id".into());
        }
        if self.txs.len() > MAX_BLOCK_TXS {
            return Err(format!("block has {} txs; the limit is {MAX_BLOCK_TXS}", self.txs.len()));
        }
        crate::tx::check_each(&self.txs)?;
        if self.compute_tx_root() != self.header.tx_root {
            return Err("tx_root does not match the txs".into());
        }
        Ok(())
    }
}

/// RFC 6962 Merkle root over the txs' hashes.
#[must_use]
pub fn tx_root(txs: &[Tx]) -> Hash {
    let leaves: Vec<Hash> = txs.iter().map(Tx::hash).collect();
    merkle_root(&leaves)
}

/// Prevote or precommit.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    /// First voting step.
    Prevote,
    /// Second voting step; > 2/3 precommits for a value decide it.
    Precommit,
}

/// The signed part of a vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct VotePayload {
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// Height voted on.
    pub height: Height,
    /// Round voted in.
    pub round: Round,
    /// Block hash voted for; `None` is a vote for nil.
    pub value: Option<Hash>,
    /// Consensus key of the voter.
    pub validator: PublicKey,
}

/// A signed vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Vote {
    /// What was signed.
    pub payload: VotePayload,
    /// Signature in the vote domain.
    pub signature: Signature,
}

wire_kind!(Vote, "vote", MAX_SMALL_MESSAGE_BYTES);

impl VotePayload {
    /// Signs the vote.
    #[must_use]
    pub fn sign(self, key: &Keypair, chain_id: &str) -> Vote {
        let signature = key.sign(Domain::Vote, chain_id, &codec::encode(&self));
        Vote { payload: self, signature }
    }

    /// The exact bytes the signature covers.
    #[must_use]
    pub fn signing_preimage(&self, chain_id: &str) -> Vec<u8> {
        crypto::signing_preimage(Domain::Vote, chain_id, &codec::encode(self))
    }
}

/// The signed part of a proposal (the block travels beside it and must hash to `value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ProposalPayload {
    /// Height proposed for.
    pub height: Height,
    /// Round proposed in.
    pub round: Round,
    /// The proof-of-lock round (Tendermint's `validRound`), `None` for -1.
    pub pol_round: Option<Round>,
    /// Hash of the proposed block.
    pub value: Hash,
    /// Consensus key of the proposer.
    pub proposer: PublicKey,
}

/// A signed proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Proposal {
    /// What was signed.
    pub payload: ProposalPayload,
    /// Signature in the proposal domain.
    pub signature: Signature,
}

wire_kind!(Proposal, "proposal", MAX_SMALL_MESSAGE_BYTES);

impl ProposalPayload {
    /// Signs the proposal.
    #[must_use]
    pub fn sign(self, key: &Keypair, chain_id: &str) -> Proposal {
        let signature = key.sign(Domain::Proposal, chain_id, &codec::encode(&self));
        Proposal { payload: self, signature }
    }

    /// The exact bytes the signature covers.
    #[must_use]
    pub fn signing_preimage(&self, chain_id: &str) -> Vec<u8> {
        crypto::signing_preimage(Domain::Proposal, chain_id, &codec::encode(self))
    }
}

/// One precommit signature inside a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CommitSignature {
    /// The voter.
    pub validator: PublicKey,
    /// Its precommit signature for `(height, round, Some(block_hash))`.
    pub signature: Signature,
}

/// Proof that a block was decided: precommits for it from more than 2/3 of the voting power of
/// the height's validator set, all in one round.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CommitCertificate {
    /// Decided height.
    pub height: Height,
    /// Round of the precommits.
    pub round: Round,
    /// Decided block hash.
    pub block_hash: Hash,
    /// Precommit signatures, sorted by validator key, no duplicates.
    pub signatures: Vec<CommitSignature>,
}

wire_kind!(
    CommitCertificate,
    "commit_certificate",
    MAX_CERTIFICATE_BYTES,
    |c: &CommitCertificate| {
        if c.signatures.len() > MAX_VALIDATORS {
            return Err(format!("more than {MAX_VALIDATORS} signatures"));
        }
        if c.signatures.windows(2).any(|w| w[0].validator >= w[1].validator) {
            return Err("signatures must be sorted by validator without duplicates".into());
        }
        Ok(())
    }
);

impl CommitCertificate {
    /// Hash of the canonical encoding (carried in the next header).
    #[must_use]
    pub fn hash(&self) -> Hash {
        codec::hash_of(self)
    }

    /// The vote payload every signature in the certificate signs.
    #[must_use]
    pub fn vote_payload(&self, validator: PublicKey) -> VotePayload {
        VotePayload {
            kind: VoteKind::Precommit,
            height: self.height,
            round: self.round,
            value: Some(self.block_hash),
            validator,
        }
    }
}

/// Two conflicting votes by one validator: same height, round and kind, different values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct DuplicateVoteEvidence {
    /// First vote (the one with the smaller encoding, for a canonical form).
    pub first: Vote,
    /// Second vote.
    pub second: Vote,
}

wire_kind!(
    DuplicateVoteEvidence,
    "evidence",
    2 * MAX_SMALL_MESSAGE_BYTES,
    |e: &DuplicateVoteEvidence| e.check_shape()
);

impl DuplicateVoteEvidence {
    /// Builds evidence in canonical order, or `None` if the votes do not conflict.
    #[must_use]
    pub fn new(a: Vote, b: Vote) -> Option<Self> {
        let (first, second) = if codec::encode(&a) <= codec::encode(&b) { (a, b) } else { (b, a) };
        let evidence = Self { first, second };
        evidence.check_shape().ok().map(|()| evidence)
    }

    /// Same validator, height, round and kind; different values; canonical order.
    ///
    /// # Errors
    /// The rule broken. Signatures are checked by the consensus crate against the validator set.
    pub fn check_shape(&self) -> Result<(), String> {
        let (a, b) = (&self.first.payload, &self.second.payload);
        if a.validator != b.validator
            || a.height != b.height
            || a.round != b.round
            || a.kind != b.kind
        {
            return Err("votes are not by one validator for one height, round and kind".into());
        }
        if a.value == b.value {
            return Err("votes do not conflict".into());
        }
        if codec::encode(&self.first) > codec::encode(&self.second) {
            return Err("votes are not in canonical order".into());
        }
        Ok(())
    }
}
