//! The chain rule, written once: what block `h+1` must be, given the committed state after `h`.
//!
//! The executor (judging proposals and decided blocks), the auditor (`tokenbook audit verify`)
//! and the simulator all judge a block with [`Tip::check`], so a block one of them accepts is a
//! block every other accepts. The rule is a function of the block and the committed state
//! alone: no clock, no mempool, no cache that changes a verdict. Two caches only save work: the
//! key cache in [`SigChecker`], and [`VerifiedTxs`] — txs this party already verified, whose
//! verdict the signature rule makes a function of the tx alone (docs/adr/0002).
//!
//! Promises:
//! - [`Tip::next_header`] is the header an honest proposer builds; it never overflows.
//! - [`Tip::check`] accepts a block exactly when its shape is canonical, its time is after the
//!   parent's, its header equals [`Tip::next_header`] for its own proposer and time (the
//!   previous certificate's hash only when the caller pins it), no tx appears twice, and every
//!   tx signature verifies (those the caller has not verified before: one batch, in block
//!   order). The first failure is named.
//! - Whether the proposer may propose, and how far ahead of a clock the time may be, are the
//!   caller's: they depend on the round (executor) or were checked by the voters (auditor).

use crate::sigs::{SigChecker, SigItem};
use tokenbook_ledger::LedgerState;
use tokenbook_protocol::hash::merkle_root;
use tokenbook_protocol::{
    Block, BlockHeader, Hash, Height, PublicKey, SigError, Timestamp, Tx, tx_root,
};

/// Txs a party has already verified under the signature rule, by hash (the hash covers the
/// signature, the payload and the signer). The rule's verdict on a tx is a function of the tx
/// and the chain id alone — the cofactored equation gives one verdict singly and in any batch
/// (docs/adr/0002) — so a block check may take a verdict reached before, in another batch,
/// instead of verifying again: the block's verdict does not change, only its cost.
pub trait VerifiedTxs {
    /// Whether the tx with this hash verified under this party's chain id.
    fn verified(&self, tx: &Hash) -> bool;
}

/// No tx verified before: a check verifies every signature (tests, and callers without a
/// mempool).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoneVerified;

impl VerifiedTxs for NoneVerified {
    fn verified(&self, _: &Hash) -> bool {
        false
    }
}

/// The committed state a next block is judged against.
#[derive(Clone, Copy, Debug)]
pub struct Tip<'a> {
    /// The ledger after the last committed height.
    pub ledger: &'a LedgerState,
    /// The state root after the last committed height.
    pub state_root: Hash,
    /// The hash of the certificate of the last committed height that this party holds (zero at
    /// genesis).
    pub prev_certificate_hash: Hash,
}

/// Why a block is not the chain's next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The block is not in canonical shape (sizes, counts).
    #[error("{0}")]
    Shape(String),
    /// A header field other than the state root is not the chain's next.
    #[error("its {field} is not this chain's next")]
    Header {
        /// The first differing field.
        field: &'static str,
    },
    /// Only the state root differs: the block certifies a state after the last height that is
    /// not this party's.
    #[error("its state root {certified} is not this chain's {ours}")]
    StateRoot {
        /// This party's root.
        ours: Hash,
        /// The root the header carries.
        certified: Hash,
    },
    /// A tx appears twice.
    #[error("tx {index} repeats tx {first}")]
    Repeated {
        /// The later position.
        index: usize,
        /// The first position.
        first: usize,
    },
    /// A tx signature does not verify.
    #[error("tx {index} ({hash}) has a bad signature: {error}")]
    Signature {
        /// Its position.
        index: usize,
        /// Its hash.
        hash: Hash,
        /// Why.
        error: SigError,
    },
}

impl<'a> Tip<'a> {
    /// The tip after `ledger`'s height, with its root and the certificate hash held for it.
    #[must_use]
    pub fn new(ledger: &'a LedgerState, state_root: Hash, prev_certificate_hash: Hash) -> Self {
        Tip { ledger, state_root, prev_certificate_hash }
    }

    /// The height the next block has.
    #[must_use]
    pub fn next_height(&self) -> Height {
        Height::new(self.ledger.height.get().saturating_add(1))
    }

    /// The header the next block must carry, for `proposer` at `time_ms` with `txs`.
    #[must_use]
    pub fn next_header(&self, proposer: PublicKey, time_ms: u64, txs: &[Tx]) -> BlockHeader {
        self.header_with_root(proposer, time_ms, tx_root(txs))
    }

    /// [`Self::next_header`] for txs whose Merkle root is `tx_root`.
    fn header_with_root(&self, proposer: PublicKey, time_ms: u64, tx_root: Hash) -> BlockHeader {
        let ledger = self.ledger;
        let height = self.next_height();
        BlockHeader {
            chain_id: ledger.chain_id.clone(),
            height,
            // Saturating: a chain whose last block is at the last millisecond has no next time
            // (every header then fails `check`), but computing one must not overflow.
            time: Timestamp::new(time_ms.max(ledger.time.get().saturating_add(1))),
            proposer,
            prev_block_hash: ledger.last_block_hash,
            prev_certificate_hash: self.prev_certificate_hash,
            tx_root,
            state_root: self.state_root,
            validator_set_hash: ledger.validator_set_for(height).hash(),
            next_validator_set_hash: ledger
                .validator_set_for(Height::new(height.get().saturating_add(1)))
                .hash(),
        }
    }

    /// Judges `block` as the next height. `pin_certificate` makes the header's previous
    /// certificate hash part of the rule (a proposal that carries no other certificate);
    /// without it any hash is accepted (the certificate was checked elsewhere, or the block is
    /// already certified).
    ///
    /// # Errors
    /// The first [`ChainError`]: shape, time, header fields, state root, repeated tx, bad
    /// signature — in that order.
    pub fn check(
        &self,
        block: &Block,
        pin_certificate: bool,
        signatures: &mut SigChecker,
        verified: Option<&dyn VerifiedTxs>,
    ) -> Result<(), ChainError> {
        block.check_shape().map_err(ChainError::Shape)?;
        // Each tx hashed once: the tx root, the repeat check and the verified set share them.
        let hashes = tx_hashes(block);
        self.check_shaped_header(block, pin_certificate, &hashes)?;
        let known = verified.map(|verified| (verified, hashes.as_slice()));
        check_signatures_known(block, &self.ledger.chain_id, signatures, known)
    }

    /// [`Self::check`] without the signatures: for a caller that ran [`check_signatures`] on
    /// the block itself (the auditor verifies the next block's while it applies this one).
    ///
    /// # Errors
    /// The first [`ChainError`]: shape, time, header fields, state root, repeated tx.
    pub fn check_header(&self, block: &Block, pin_certificate: bool) -> Result<(), ChainError> {
        block.check_shape().map_err(ChainError::Shape)?;
        self.check_shaped_header(block, pin_certificate, &tx_hashes(block))
    }

    /// [`Self::check_header`] after the shape check, with the block's tx hashes in order.
    fn check_shaped_header(
        &self,
        block: &Block,
        pin_certificate: bool,
        hashes: &[Hash],
    ) -> Result<(), ChainError> {
        let header = &block.header;
        if header.time <= self.ledger.time {
            return Err(ChainError::Header { field: "time" });
        }
        let mut expected =
            self.header_with_root(header.proposer, header.time.get(), merkle_root(hashes));
        if !pin_certificate {
            expected.prev_certificate_hash = header.prev_certificate_hash;
        }
        let same_but_root = BlockHeader { state_root: header.state_root, ..expected.clone() };
        if *header != same_but_root {
            let field = first_difference(header, &expected).unwrap_or("header");
            return Err(ChainError::Header { field });
        }
        if header.state_root != expected.state_root {
            return Err(ChainError::StateRoot {
                ours: expected.state_root,
                certified: header.state_root,
            });
        }
        check_unique(hashes)?;
        Ok(())
    }
}

/// The block's tx hashes, in order.
fn tx_hashes(block: &Block) -> Vec<Hash> {
    block.txs.iter().map(Tx::hash).collect()
}

/// Refuses a block that includes one tx twice (the ledger would refuse the second; an honest
/// proposer never includes it).
fn check_unique(hashes: &[Hash]) -> Result<(), ChainError> {
    let mut seen = std::collections::BTreeMap::new();
    for (index, hash) in hashes.iter().enumerate() {
        if let Some(first) = seen.insert(*hash, index) {
            return Err(ChainError::Repeated { index, first });
        }
    }
    Ok(())
}

/// Every tx signature: those not in `verified` are verified as one batch in block order; the
/// first bad one is named. A function of the block and the chain id alone (every tx names its
/// signer's key, and a verdict in `verified` is the one verifying again would reach), so it may
/// run before the state the block follows exists.
///
/// # Errors
/// [`ChainError::Signature`] for the first bad one.
pub fn check_signatures(
    block: &Block,
    chain: &str,
    signatures: &mut SigChecker,
    verified: Option<&dyn VerifiedTxs>,
) -> Result<(), ChainError> {
    match verified {
        None => check_signatures_known(block, chain, signatures, None),
        Some(verified) => {
            let hashes = tx_hashes(block);
            check_signatures_known(block, chain, signatures, Some((verified, &hashes)))
        }
    }
}

/// [`check_signatures`] with the verified set and the block's tx hashes, in order.
fn check_signatures_known(
    block: &Block,
    chain: &str,
    signatures: &mut SigChecker,
    known: Option<(&dyn VerifiedTxs, &[Hash])>,
) -> Result<(), ChainError> {
    let pending: Vec<(usize, &Tx)> = match known {
        None => block.txs.iter().enumerate().collect(),
        Some((verified, hashes)) => block
            .txs
            .iter()
            .zip(hashes)
            .enumerate()
            .filter(|(_, (_, hash))| !verified.verified(hash))
            .map(|(index, (tx, _))| (index, tx))
            .collect(),
    };
    let preimages: Vec<Vec<u8>> =
        pending.iter().map(|(_, tx)| tx.payload.signing_preimage(chain)).collect();
    let items: Vec<SigItem<'_>> = pending
        .iter()
        .map(|(_, tx)| tx)
        .zip(&preimages)
        .map(|(tx, preimage)| SigItem {
            signer: &tx.payload.signer,
            preimage,
            signature: &tx.signature,
        })
        .collect();
    let verdicts = signatures.verify(&items);
    let first_bad =
        verdicts.into_iter().zip(&pending).find_map(|(v, (i, _))| v.err().map(|e| (*i, e)));
    match first_bad {
        None => Ok(()),
        Some((index, error)) => {
            let hash = block.txs.get(index).map(Tx::hash).unwrap_or_default();
            Err(ChainError::Signature { index, hash, error })
        }
    }
}

/// The first header field other than the state root that differs.
fn first_difference(found: &BlockHeader, expected: &BlockHeader) -> Option<&'static str> {
    let fields: [(&str, bool); 9] = [
        ("chain id", found.chain_id == expected.chain_id),
        ("height", found.height == expected.height),
        ("previous block hash", found.prev_block_hash == expected.prev_block_hash),
        (
            "previous certificate hash",
            found.prev_certificate_hash == expected.prev_certificate_hash,
        ),
        ("tx root", found.tx_root == expected.tx_root),
        ("validator set hash", found.validator_set_hash == expected.validator_set_hash),
        (
            "next validator set hash",
            found.next_validator_set_hash == expected.next_validator_set_hash,
        ),
        ("time", found.time == expected.time),
        ("proposer", found.proposer == expected.proposer),
    ];
    fields.iter().find(|(_, same)| !same).map(|(name, _)| *name)
}
