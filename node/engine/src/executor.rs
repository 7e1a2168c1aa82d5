//! The executor: the ledger in memory over the durable store, one height at a time.
//!
//! Promises:
//! - [`Executor::open`] starts from the store's last complete height (or writes the genesis),
//!   and refuses a store whose state does not load into a consistent ledger.
//! - [`Executor::propose`] builds the next block's header from the committed state: height,
//!   time (strictly later), parent and certificate hashes, tx root, the state root after the
//!   current height, and the validator-set hashes of the next two heights.
//! - [`Executor::validate`] is consensus's `valid(v)`: a proposed block is valid exactly when
//!   it follows the chain rule ([`crate::chain::Tip::check`], the one the auditor applies too)
//!   with the certificate this node holds (or another valid one of the previous height the
//!   proposal carries), its fresh value's header names the proposal's signer, its proposer is a
//!   validator, and its time is at most `max_future_time_ms` ahead of this node's clock. Anything else
//!   is [`ExecError::Invalid`] — a wrong state root too: a proposal is never a reason to stop.
//! - [`Executor::validate_decided`] judges a block more than two thirds certified: only there
//!   is a state root this node cannot reproduce a divergence ([`ExecError::Divergence`]), and
//!   the node must stop, not vote or serve further.
//! - No arithmetic on a header's time can overflow.
//! - [`Executor::commit`] applies a decided block through the ledger and commits it with its
//!   certificate and receipts in one store batch, synced behind the node (the next write of the
//!   store waits for it). If the write fails the executor refuses
//!   every later commit (its ledger is ahead of the store): the node stops and restarts from the
//!   store.

use crate::chain::{ChainError, Tip, VerifiedTxs};
use crate::sigs::SigChecker;
use crate::storage::ChainStore;
use std::path::Path;
use tokenbook_consensus::{Ed25519, verify_certificate};
use tokenbook_ledger::kv;
use tokenbook_ledger::{BlockReceipts, Genesis, LedgerState};
use tokenbook_protocol::{Block, BlockHeader, CommitCertificate, Hash, Height, PublicKey, Tx};
use tokenbook_store::{BlockData, Store, StoreConfig, StoreError};

/// Why the executor refused or stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The store failed (the node must stop on a write error).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The block does not extend the committed state the way this node would build it.
    #[error("invalid block at height {height}: {reason}")]
    Invalid {
        /// The block's height.
        height: Height,
        /// What differs.
        reason: String,
    },
    /// The certified state root after `height` is not this node's.
    #[error("state diverged after height {height}: ours {ours}, certified {certified}")]
    Divergence {
        /// The height whose resulting state differs.
        height: Height,
        /// This node's root.
        ours: Hash,
        /// The root the certified next header carries.
        certified: Hash,
    },
    /// The store's contents do not load into a ledger.
    #[error("the store's state does not load: {0}")]
    Load(String),
}

impl ExecError {
    /// Stable machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ExecError::Store(e) => e.code(),
            ExecError::Invalid { .. } => "block_invalid",
            ExecError::Divergence { .. } => "state_divergence",
            ExecError::Load(_) => "state_load",
        }
    }
}

/// The ledger state after the store's last height, and the store (RocksDB in the daemon, memory
/// in the simulator).
#[derive(Debug)]
pub struct Executor<S = Store> {
    ledger: LedgerState,
    store: S,
    /// The last committed height's certificate (`None` at genesis), kept here: the store's
    /// copy may still be in its writer's hands.
    last_certificate: Option<CommitCertificate>,
    /// Its hash (zero at genesis).
    last_certificate_hash: Hash,
    signatures: SigChecker,
    /// Set when a commit failed after the ledger applied the block: the ledger is then ahead of
    /// the store and nothing more may be committed (the node stops and restarts from the store).
    failed: Option<String>,
    /// What the last commit changed.
    last_touched: tokenbook_ledger::Touched,
}

impl Executor<Store> {
    /// Opens the RocksDB store in `dir` and loads the ledger, writing the genesis into an empty
    /// store.
    ///
    /// # Errors
    /// Store errors, a genesis that does not build, or a stored state that does not load.
    pub fn open(dir: &Path, config: StoreConfig, genesis: &Genesis) -> Result<Executor, ExecError> {
        Executor::new(Store::open(dir, config)?, genesis)
    }
}

impl<S: ChainStore> Executor<S> {
    /// Loads the ledger from `store`, writing the genesis into an empty one.
    ///
    /// # Errors
    /// Store errors, a genesis that does not build, or a stored state that does not load.
    pub fn new(mut store: S, genesis: &Genesis) -> Result<Executor<S>, ExecError> {
        let ledger = match store.height() {
            None => {
                let ledger = tokenbook_ledger::genesis_state(genesis).map_err(ExecError::Load)?;
                store.init_genesis(&kv::export(&ledger))?;
                ledger
            }
            Some(height) => {
                let ledger = kv::import(&store.load_state()?).map_err(ExecError::Load)?;
                if ledger.height != height {
                    return Err(ExecError::Load(format!(
                        "the stored state is at height {}, the store at {height}",
                        ledger.height
                    )));
                }
                ledger
            }
        };
        let last_certificate = store.certificate(ledger.height)?;
        let last_certificate_hash = last_certificate.as_ref().map_or(Hash::ZERO, |c| c.hash());
        Ok(Executor {
            ledger,
            store,
            last_certificate,
            last_certificate_hash,
            signatures: SigChecker::new(),
            failed: None,
            last_touched: tokenbook_ledger::Touched::default(),
        })
    }

    /// The committed ledger state.
    #[must_use]
    pub fn ledger(&self) -> &LedgerState {
        &self.ledger
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The last committed height.
    #[must_use]
    pub fn height(&self) -> Height {
        self.ledger.height
    }

    /// The state root after the last committed height.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.store.root().unwrap_or(Hash::ZERO)
    }

    /// Hash of the last committed block (zero before the first).
    #[must_use]
    pub fn last_block_hash(&self) -> Hash {
        self.ledger.last_block_hash
    }

    /// Appends consensus records for `height` in one synced write (persist-before-send).
    ///
    /// # Errors
    /// Store errors (the node must stop).
    pub fn append_records(&mut self, height: Height, records: &[&[u8]]) -> Result<(), ExecError> {
        Ok(self.store.append_consensus_records(height, records)?)
    }

    /// Drops the consensus records of heights up to `height` (decided; never needed again).
    ///
    /// # Errors
    /// Store errors.
    pub fn prune_records(&mut self, height: Height) -> Result<(), ExecError> {
        Ok(self.store.prune_consensus_records(Height::new(height.get() + 1))?)
    }

    /// The committed state the next block is judged against (the chain rule).
    #[must_use]
    pub fn tip(&self) -> Tip<'_> {
        Tip::new(&self.ledger, self.root(), self.last_certificate_hash())
    }

    /// The header the next block must carry, for `proposer` at `now_ms` with `txs`.
    #[must_use]
    pub fn next_header(&self, proposer: PublicKey, now_ms: u64, txs: &[Tx]) -> BlockHeader {
        self.tip().next_header(proposer, now_ms, txs)
    }

    /// The next block with these txs.
    #[must_use]
    pub fn propose(&self, proposer: PublicKey, now_ms: u64, txs: Vec<Tx>) -> Block {
        Block { header: self.next_header(proposer, now_ms, &txs), txs }
    }

    /// Consensus's `valid(v)` for a proposal signed by `proposal.proposer`, judged at
    /// `proposal.now_ms` of this node's clock. Validators may hold different certificates for
    /// the previous height (any set of signatures over two thirds is one), so a header may name
    /// another certificate than ours: the proposal then carries it, and it must verify.
    ///
    /// The verdict is a function of the block, the committed state and the clock alone: every
    /// tx signature not in `verified` (the txs this node's mempool already verified) is
    /// verified, as one batch in block order. The rule gives a tx one verdict in any batch
    /// (docs/adr/0002), so what the mempool holds changes the cost, never the verdict.
    ///
    /// # Errors
    /// [`ExecError::Invalid`] naming the first difference (a wrong state root included: a
    /// proposal is only ever valid or invalid); store errors.
    pub fn validate(
        &mut self,
        block: &Block,
        proposal: &Proposed<'_>,
        verified: &dyn VerifiedTxs,
    ) -> Result<(), ExecError> {
        let names_carried = proposal.prev_certificate.is_some_and(|certificate| {
            certificate.hash() == block.header.prev_certificate_hash
                && self.certifies_last(certificate)
        });
        self.check(block, &Judged::Proposal { proposal, names_carried }, verified)
    }

    /// [`validate`](Self::validate) for a block a verified certificate has already decided
    /// (catch-up): its header may name any certificate of the previous height and any
    /// proposer, and its time may be ahead of this node's clock (the validators that certified
    /// the block checked those when they voted); everything else must be this node's next. A
    /// state root this node cannot reproduce is then a divergence: more than two thirds
    /// certified a state this node does not have.
    ///
    /// # Errors
    /// [`ExecError::Invalid`]; [`ExecError::Divergence`] when only the state root differs.
    pub fn validate_decided(
        &mut self,
        block: &Block,
        verified: &dyn VerifiedTxs,
    ) -> Result<(), ExecError> {
        self.check(block, &Judged::Decided, verified)
    }

    fn check(
        &mut self,
        block: &Block,
        judged: &Judged<'_>,
        verified: &dyn VerifiedTxs,
    ) -> Result<(), ExecError> {
        let header = &block.header;
        let invalid = |reason: String| ExecError::Invalid { height: header.height, reason };
        let pin_certificate = match judged {
            Judged::Decided => false,
            Judged::Proposal { proposal, names_carried } => {
                proposal.check_header(header).map_err(invalid)?;
                if self.ledger.validator_set_for(header.height).get(&header.proposer).is_none() {
                    return Err(invalid("its proposer is not a validator of the height".into()));
                }
                !*names_carried
            }
        };
        let root = self.root();
        let tip = Tip::new(&self.ledger, root, self.last_certificate_hash());
        match tip.check(block, pin_certificate, &mut self.signatures, Some(verified)) {
            Ok(()) => Ok(()),
            Err(ChainError::StateRoot { ours, certified }) if matches!(judged, Judged::Decided) => {
                Err(ExecError::Divergence { height: self.ledger.height, ours, certified })
            }
            Err(e) => Err(invalid(e.to_string())),
        }
    }

    /// Whether `certificate` is a valid certificate of the last committed block.
    fn certifies_last(&self, certificate: &CommitCertificate) -> bool {
        let ledger = &self.ledger;
        certificate.height == ledger.height
            && certificate.block_hash == ledger.last_block_hash
            && verify_certificate(
                certificate,
                ledger.validator_set_for(ledger.height),
                &ledger.chain_id,
                &Ed25519,
            )
            .is_ok()
    }

    /// This node's certificate of the last committed height (`None` at genesis).
    ///
    /// # Errors
    /// Store errors.
    pub fn last_certificate(&self) -> Result<Option<CommitCertificate>, ExecError> {
        Ok(self.last_certificate.clone())
    }

    /// What the last [`Self::commit`] changed (empty before the first): the keys of the accounts,
    /// markets, orders and grants whose records it rewrote.
    #[must_use]
    pub fn last_touched(&self) -> &tokenbook_ledger::Touched {
        &self.last_touched
    }

    /// How many tx signatures this executor has verified judging blocks (those a mempool had
    /// verified are not verified again).
    #[must_use]
    pub fn signatures_verified(&self) -> u64 {
        self.signatures.verified()
    }

    /// The hash of the last committed height's certificate (zero at genesis), from memory.
    #[must_use]
    pub fn last_certificate_hash(&self) -> Hash {
        self.last_certificate_hash
    }

    /// Applies a decided block and commits it with its certificate; returns the new root and
    /// the receipts. The store writes the height behind the node (see
    /// [`ChainStore::commit`]): its write and sync overlap the next height's consensus and
    /// execution.
    ///
    /// # Errors
    /// [`ExecError::Invalid`] if the ledger refuses the header (never for a validated block);
    /// store errors (then the node must stop).
    pub fn commit(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
    ) -> Result<(Hash, BlockReceipts), ExecError> {
        if let Some(failed) = &self.failed {
            return Err(ExecError::Store(StoreError::Stopped(failed.clone())));
        }
        // In place, not on a copy of the whole state: `apply_block` leaves the state unchanged
        // when it refuses the header, and a store failure after it stops the node for good.
        let outcome =
            tokenbook_ledger::apply_block(&mut self.ledger, &block.header, &block.txs).map_err(
                |e| ExecError::Invalid { height: block.header.height, reason: e.to_string() },
            )?;
        let changes = kv::changes(&self.ledger, &outcome.touched);
        let receipts = BlockReceipts::from(&outcome);
        self.last_touched = outcome.touched;
        let data = BlockData { block, certificate, receipts: &receipts };
        let root = self
            .store
            .commit(block.header.height, &changes, Some(data))
            .inspect_err(|e| self.failed = Some(e.to_string()))?;
        self.last_certificate_hash = certificate.hash();
        self.last_certificate = Some(certificate.clone());
        Ok((root, receipts))
    }
}

/// A proposal's claims about its block, and this node's clock when it arrived.
#[derive(Clone, Copy, Debug)]
pub struct Proposed<'a> {
    /// The round's proposer, who signed the proposal.
    pub proposer: PublicKey,
    /// The proposal re-proposes a value from an earlier round (it names a POL round): the block
    /// was built by that round's proposer, whom its header names.
    pub reproposed: bool,
    /// The certificate of the previous height the proposal carries.
    pub prev_certificate: Option<&'a CommitCertificate>,
    /// This node's clock (ms since the Unix epoch).
    pub now_ms: u64,
    /// How far the block's time may be ahead of `now_ms`.
    pub max_future_time_ms: u64,
}

impl Proposed<'_> {
    /// The header fields a proposal vouches for: its proposer (for a fresh value) and a time
    /// not too far ahead.
    fn check_header(&self, header: &BlockHeader) -> Result<(), String> {
        if !self.reproposed && header.proposer != self.proposer {
            return Err("its proposer is not the validator that signed the proposal".into());
        }
        let latest = self.now_ms.saturating_add(self.max_future_time_ms);
        if header.time.get() > latest {
            return Err(format!(
                "its time {} is more than {} ms ahead of this node's clock ({})",
                header.time, self.max_future_time_ms, self.now_ms
            ));
        }
        Ok(())
    }
}

/// How the block being checked reached this node.
enum Judged<'a> {
    /// Proposed for a round this node votes in.
    Proposal {
        /// The proposal's claims.
        proposal: &'a Proposed<'a>,
        /// The proposal carries the certificate the header names, and it verifies.
        names_carried: bool,
    },
    /// Decided by a certificate already verified.
    Decided,
}
