//! The mempool: signed txs waiting for a block.
//!
//! Promises:
//! - **Bounded.** At most `max_txs` txs and `max_bytes` encoded bytes, and at most
//!   `max_per_account` from one account, so one trader cannot fill it. A full pool refuses new
//!   txs (it never evicts admitted ones: their senders were told "accepted").
//! - **Checked on entry.** Size, duplicate (by tx hash, and by account and nonce), the ledger's
//!   read-only [`LedgerState::precheck_tx`] (account, signer, nonce window, market), then the
//!   signature (batch verification, with each bad signature named; [`verify_txs`] checks it
//!   before the precheck for the API, which answers a client at once). Every refusal has a
//!   stable code ([`AdmitError::code`]); a refused tx leaves no trace. Every tx held has a
//!   valid signature, so a block check may take the mempool's verdict
//!   ([`crate::chain::VerifiedTxs`]).
//! - **Re-checked after each block.** [`Mempool::on_block`] drops the txs the block included
//!   and any that the new state refuses (nonce now used or too old, key revoked, ...).
//! - **Fair order.** [`Mempool::batch`] proposes txs in arrival order, bounded by count and bytes.

use crate::chain::VerifiedTxs;
use crate::sigs::{SigChecker, SigItem};
use std::collections::{BTreeMap, HashMap, HashSet};
use tokenbook_ledger::{LedgerState, Reject};
use tokenbook_protocol::codec::encode;
use tokenbook_protocol::crypto::{Domain, signing_preimage};
use tokenbook_protocol::{AccountId, Hash, SigError, Tx};

/// Limits of a mempool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// The chain id every signature covers.
    pub chain_id: String,
    /// Most txs held.
    pub max_txs: usize,
    /// Most encoded bytes held.
    pub max_bytes: usize,
    /// Most txs held from one account.
    pub max_per_account: usize,
}

impl MempoolConfig {
    /// Defaults for a validator: 100,000 txs, 64 MiB, 1,000 per account.
    #[must_use]
    pub fn new(chain_id: impl Into<String>) -> Self {
        MempoolConfig {
            chain_id: chain_id.into(),
            max_txs: 100_000,
            max_bytes: 64 << 20,
            max_per_account: 1_000,
        }
    }
}

/// Why a tx was not admitted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// The same tx is already waiting.
    #[error("the tx is already in the mempool")]
    Duplicate,
    /// Another waiting tx of the account uses the same nonce.
    #[error("account {account} already has a pending tx with nonce {nonce}")]
    NoncePending {
        /// The account.
        account: AccountId,
        /// The nonce.
        nonce: u64,
    },
    /// The pool is at its count or byte limit.
    #[error("the mempool is full; retry later")]
    Full,
    /// More is waiting than the chain commits in the node's admission window (the daemon's
    /// client admission; same code as [`AdmitError::Full`]).
    #[error(
        "{waiting} txs are waiting, more than the chain commits in {window_ms} ms; retry later"
    )]
    Backlog {
        /// Txs in the mempool.
        waiting: usize,
        /// The window (ms).
        window_ms: u64,
    },
    /// The account has its maximum number of pending txs.
    #[error("account {0} has too many pending txs; wait for a block")]
    AccountFull(AccountId),
    /// The signature does not verify.
    #[error("bad signature: {0}")]
    Signature(SigError),
    /// The ledger would refuse it.
    #[error("{}: {}", .0.code.code(), .0.message)]
    Rejected(Reject),
}

impl AdmitError {
    /// Stable machine-readable code (the API's error code).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            AdmitError::Duplicate => "mempool_duplicate",
            AdmitError::NoncePending { .. } => "mempool_nonce_pending",
            AdmitError::Full | AdmitError::Backlog { .. } => "mempool_full",
            AdmitError::AccountFull(_) => "mempool_account_full",
            AdmitError::Signature(e) => e.code(),
            AdmitError::Rejected(r) => r.code.code(),
        }
    }
}

struct Entry {
    tx: Tx,
    bytes: usize,
    seq: u64,
}

/// A signature's encoded length (fixed-size arrays carry no length prefix).
const SIGNATURE_BYTES: usize = 64;

/// The pool.
pub struct Mempool {
    config: MempoolConfig,
    entries: HashMap<Hash, Entry>,
    /// Arrival order.
    queue: BTreeMap<u64, Hash>,
    per_account: HashMap<AccountId, usize>,
    nonces: HashSet<(AccountId, u64)>,
    bytes: usize,
    next_seq: u64,
    signatures: SigChecker,
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("txs", &self.entries.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Mempool {
    /// An empty pool.
    #[must_use]
    pub fn new(config: MempoolConfig) -> Self {
        Mempool {
            config,
            entries: HashMap::new(),
            queue: BTreeMap::new(),
            per_account: HashMap::new(),
            nonces: HashSet::new(),
            bytes: 0,
            next_seq: 0,
            signatures: SigChecker::new(),
        }
    }

    /// Txs waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Encoded bytes waiting.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many signatures [`Self::admit_batch`] has verified (txs the API verified are
    /// admitted with [`Self::admit_verified`] and not counted here).
    #[must_use]
    pub fn signatures_verified(&self) -> u64 {
        self.signatures.verified()
    }

    /// Whether a tx waits.
    #[must_use]
    pub fn contains(&self, hash: &Hash) -> bool {
        self.entries.contains_key(hash)
    }

    /// Admits one tx against the last committed state.
    ///
    /// # Errors
    /// [`AdmitError`] naming the first check it failed.
    pub fn admit(&mut self, tx: Tx, state: &LedgerState) -> Result<Hash, AdmitError> {
        self.admit_batch(vec![tx], state).pop().unwrap_or(Err(AdmitError::Full))
    }

    /// Admits many txs (one signature batch); one verdict per tx, in order.
    pub fn admit_batch(
        &mut self,
        txs: Vec<Tx>,
        state: &LedgerState,
    ) -> Vec<Result<Hash, AdmitError>> {
        // The state's precheck first: a tx gossiped after its block committed here is refused
        // (nonce used) without paying for its signature.
        let prepared: Vec<Result<Prepared, AdmitError>> = txs
            .into_iter()
            .map(|tx| {
                let prepared = self.prepare(tx)?;
                state.precheck_tx(&prepared.tx).map_err(AdmitError::Rejected)?;
                Ok(prepared)
            })
            .collect();
        let signatures = self.verify_signatures(&prepared);
        prepared
            .into_iter()
            .zip(signatures)
            .map(|(prepared, signature)| {
                let prepared = prepared?;
                signature.map_err(AdmitError::Signature)?;
                self.insert(prepared)
            })
            .collect()
    }

    /// Admits txs whose signatures [`verify_txs`] checked (the API verifies off the node's task,
    /// after the cheap checks); one verdict per tx, in order. Duplicates, room and the ledger's
    /// precheck are checked here, against the live state.
    pub fn admit_verified(
        &mut self,
        txs: Vec<VerifiedTx>,
        state: &LedgerState,
    ) -> Vec<Result<Hash, AdmitError>> {
        txs.into_iter()
            .map(|verified| {
                state.precheck_tx(&verified.tx).map_err(AdmitError::Rejected)?;
                let VerifiedTx { tx, hash, bytes } = verified;
                self.insert(Prepared { tx, hash, bytes, preimage: Vec::new() })
            })
            .collect()
    }

    /// Up to `max_txs` txs and `max_bytes` bytes, oldest first (they stay until a block
    /// includes them).
    #[must_use]
    pub fn batch(&self, max_txs: usize, max_bytes: usize) -> Vec<Tx> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for hash in self.queue.values() {
            let Some(entry) = self.entries.get(hash) else { continue };
            if out.len() == max_txs || bytes + entry.bytes > max_bytes {
                break;
            }
            bytes += entry.bytes;
            out.push(entry.tx.clone());
        }
        out
    }

    /// After a block: drops the txs it included, then re-checks the rest against the new state.
    /// Returns the txs dropped by the re-check with the refusal each now meets (their senders'
    /// txs will never be included).
    pub fn on_block(&mut self, included: &[Hash], state: &LedgerState) -> Vec<(Hash, Reject)> {
        for hash in included {
            self.remove(hash);
        }
        let refused: Vec<(Hash, Reject)> = self
            .queue
            .values()
            .filter_map(|hash| {
                let entry = self.entries.get(hash)?;
                state.precheck_tx(&entry.tx).err().map(|reject| (*hash, reject))
            })
            .collect();
        for (hash, _) in &refused {
            self.remove(hash);
        }
        refused
    }

    /// Cheap checks before the signature: duplicates and room.
    fn prepare(&mut self, tx: Tx) -> Result<Prepared, AdmitError> {
        // One encoding serves the hash, the size and the signing preimage: a tx encodes as its
        // payload followed by the 64 signature bytes.
        let encoded = encode(&tx);
        let hash = Hash::digest(&encoded);
        debug_assert_eq!(hash, tx.hash());
        if self.entries.contains_key(&hash) {
            return Err(AdmitError::Duplicate);
        }
        let account = tx.payload.account;
        let nonce = tx.payload.nonce;
        if self.nonces.contains(&(account, nonce)) {
            return Err(AdmitError::NoncePending { account, nonce });
        }
        let bytes = encoded.len();
        if self.entries.len() >= self.config.max_txs || self.bytes + bytes > self.config.max_bytes {
            return Err(AdmitError::Full);
        }
        if self.per_account.get(&account).copied().unwrap_or(0) >= self.config.max_per_account {
            return Err(AdmitError::AccountFull(account));
        }
        let payload = &encoded[..bytes.saturating_sub(SIGNATURE_BYTES)];
        let preimage = signing_preimage(Domain::Tx, &self.config.chain_id, payload);
        debug_assert_eq!(preimage, tx.payload.signing_preimage(&self.config.chain_id));
        Ok(Prepared { tx, hash, bytes, preimage })
    }

    fn verify_signatures(
        &mut self,
        prepared: &[Result<Prepared, AdmitError>],
    ) -> Vec<Result<(), SigError>> {
        let ready: Vec<(usize, &Prepared)> =
            prepared.iter().enumerate().filter_map(|(i, p)| Some((i, p.as_ref().ok()?))).collect();
        let items: Vec<SigItem<'_>> = ready
            .iter()
            .map(|(_, p)| SigItem {
                signer: &p.tx.payload.signer,
                preimage: &p.preimage,
                signature: &p.tx.signature,
            })
            .collect();
        let mut verdicts: Vec<Result<(), SigError>> = vec![Ok(()); prepared.len()];
        for ((i, _), verdict) in ready.iter().zip(self.signatures.verify(&items)) {
            verdicts[*i] = verdict;
        }
        verdicts
    }

    fn insert(&mut self, p: Prepared) -> Result<Hash, AdmitError> {
        // Checked again: an earlier tx of the same batch may have taken the room or the nonce.
        let account = p.tx.payload.account;
        let nonce = p.tx.payload.nonce;
        if self.entries.contains_key(&p.hash) {
            return Err(AdmitError::Duplicate);
        }
        if !self.nonces.insert((account, nonce)) {
            return Err(AdmitError::NoncePending { account, nonce });
        }
        let count = self.per_account.entry(account).or_default();
        let full = self.entries.len() >= self.config.max_txs
            || self.bytes + p.bytes > self.config.max_bytes;
        if *count >= self.config.max_per_account || full {
            self.nonces.remove(&(account, nonce));
            return Err(if full { AdmitError::Full } else { AdmitError::AccountFull(account) });
        }
        *count += 1;
        self.bytes += p.bytes;
        self.queue.insert(self.next_seq, p.hash);
        self.entries.insert(p.hash, Entry { tx: p.tx, bytes: p.bytes, seq: self.next_seq });
        self.next_seq += 1;
        Ok(p.hash)
    }

    fn remove(&mut self, hash: &Hash) {
        let Some(entry) = self.entries.remove(hash) else { return };
        let account = entry.tx.payload.account;
        self.queue.remove(&entry.seq);
        self.nonces.remove(&(account, entry.tx.payload.nonce));
        self.bytes -= entry.bytes;
        if let Some(count) = self.per_account.get_mut(&account) {
            *count -= 1;
            if *count == 0 {
                self.per_account.remove(&account);
            }
        }
    }
}

/// Every tx a mempool holds verified under its chain id on the way in ([`Mempool::admit_batch`]
/// or [`verify_txs`]), so a block check need not verify it again.
impl VerifiedTxs for Mempool {
    fn verified(&self, tx: &Hash) -> bool {
        self.contains(tx)
    }
}

/// A tx whose signature verified, with its hash and encoded size. Only [`verify_txs`] makes
/// one, so a mempool can admit it without checking again.
#[derive(Clone, Debug)]
pub struct VerifiedTx {
    tx: Tx,
    hash: Hash,
    bytes: usize,
}

impl VerifiedTx {
    /// The tx.
    #[must_use]
    pub fn tx(&self) -> &Tx {
        &self.tx
    }

    /// Its hash.
    #[must_use]
    pub fn hash(&self) -> Hash {
        self.hash
    }
}

/// Verifies txs' signatures under `chain_id` as one batch (keys checked once and cached in
/// `checker`); one verdict per tx, in order.
pub fn verify_txs(
    checker: &mut SigChecker,
    chain_id: &str,
    txs: Vec<Tx>,
) -> Vec<Result<VerifiedTx, AdmitError>> {
    let prepared: Vec<(Tx, Hash, usize, Vec<u8>)> = txs
        .into_iter()
        .map(|tx| {
            let encoded = encode(&tx);
            let hash = Hash::digest(&encoded);
            let bytes = encoded.len();
            let payload = &encoded[..bytes.saturating_sub(SIGNATURE_BYTES)];
            let preimage = signing_preimage(Domain::Tx, chain_id, payload);
            (tx, hash, bytes, preimage)
        })
        .collect();
    let items: Vec<SigItem<'_>> = prepared
        .iter()
        .map(|(tx, _, _, preimage)| SigItem {
            signer: &tx.payload.signer,
            preimage,
            signature: &tx.signature,
        })
        .collect();
    let verdicts = checker.verify(&items);
    prepared
        .into_iter()
        .zip(verdicts)
        .map(|((tx, hash, bytes, _), verdict)| {
            verdict.map_err(AdmitError::Signature)?;
            Ok(VerifiedTx { tx, hash, bytes })
        })
        .collect()
}

/// A tx past the cheap checks, with what its signature check needs.
struct Prepared {
    tx: Tx,
    hash: Hash,
    bytes: usize,
    preimage: Vec<u8>,
}
