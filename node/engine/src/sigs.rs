//! Transaction signature checks shared by the mempool and block validation: signers' keys are
//! checked once and cached (the key check costs about as much as a verification), signatures
//! are verified as one batch with each bad one named.

use std::collections::HashMap;
use tokenbook_protocol::crypto::{BatchItem, verify_batch};
use tokenbook_protocol::{PublicKey, SigError, Signature, VerifiedKey};

/// Checked keys kept before the cache is cleared.
const KEY_CACHE: usize = 100_000;

/// One signature to check: the signer, the full signing preimage, the signature.
#[derive(Clone, Copy, Debug)]
pub struct SigItem<'a> {
    /// Who signed.
    pub signer: &'a PublicKey,
    /// The full signing preimage (domain tag, chain id, payload).
    pub preimage: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

/// A cache of checked keys and the batch verifier.
#[derive(Debug, Default)]
pub struct SigChecker {
    keys: HashMap<PublicKey, VerifiedKey>,
    /// Signatures verified so far (a node's metric, and what tests count).
    verified: u64,
}

impl SigChecker {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        SigChecker::default()
    }

    /// One verdict per item, in order.
    pub fn verify(&mut self, items: &[SigItem<'_>]) -> Vec<Result<(), SigError>> {
        let keys: Vec<Result<VerifiedKey, SigError>> =
            items.iter().map(|item| self.checked_key(item.signer)).collect();
        let mut verdicts: Vec<Result<(), SigError>> = vec![Ok(()); items.len()];
        let mut batch = Vec::with_capacity(items.len());
        let mut positions = Vec::with_capacity(items.len());
        for (i, (item, key)) in items.iter().zip(&keys).enumerate() {
            match key {
                Ok(key) => {
                    batch.push(BatchItem {
                        key,
                        preimage: item.preimage,
                        signature: item.signature,
                    });
                    positions.push(i);
                }
                Err(e) => verdicts[i] = Err(*e),
            }
        }
        self.verified = self.verified.saturating_add(batch.len() as u64);
        for (i, verdict) in positions.into_iter().zip(verify_batch(&batch)) {
            verdicts[i] = verdict;
        }
        verdicts
    }

    /// How many signatures [`Self::verify`] has verified (key refusals not counted).
    #[must_use]
    pub fn verified(&self) -> u64 {
        self.verified
    }

    fn checked_key(&mut self, key: &PublicKey) -> Result<VerifiedKey, SigError> {
        if let Some(checked) = self.keys.get(key) {
            return Ok(*checked);
        }
        let checked = VerifiedKey::new(key)?;
        if self.keys.len() >= KEY_CACHE {
            self.keys.clear();
        }
        self.keys.insert(*key, checked);
        Ok(checked)
    }
}
