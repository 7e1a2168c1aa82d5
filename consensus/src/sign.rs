//! Signing consensus messages through a seam: the core never holds key bytes itself, only a
//! [`Signer`], so a member can keep its validator key where it likes — in the process
//! ([`Keypair`] implements [`Signer`]), in an HSM, or behind a remote signer with its own
//! double-sign guard (the tmkms habit of CometBFT operators).
//!
//! Promises:
//! - The core signs only through [`Signer::sign`], with the full signing preimage (domain tag,
//!   chain id, payload: docs/wire-format.md), and only after it has decided what to sign.
//! - A signer that refuses or fails costs this validator its proposal or vote for that step,
//!   never a crash: the core counts the failure ([`crate::Consensus::sign_failures`]) and goes
//!   on (timeouts move the round as for any silent validator).

use tokenbook_protocol::{Keypair, PublicKey, Signature};

/// Why a signer did not sign.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the signer refused: {0}")]
pub struct SignError(pub String);

/// Signs consensus messages with this validator's key.
pub trait Signer: std::fmt::Debug + Send {
    /// The public key the signatures verify under (the validator's consensus key).
    fn public_key(&self) -> PublicKey;

    /// Signs `preimage` (the full signing preimage of a vote or proposal).
    ///
    /// # Errors
    /// The signer refused (its double-sign guard, a policy) or could not be reached.
    fn sign(&mut self, preimage: &[u8]) -> Result<Signature, SignError>;
}

impl Signer for Keypair {
    fn public_key(&self) -> PublicKey {
        Keypair::public_key(self)
    }

    fn sign(&mut self, preimage: &[u8]) -> Result<Signature, SignError> {
        Ok(self.sign_preimage(preimage))
    }
}

impl Signer for Box<dyn Signer> {
    fn public_key(&self) -> PublicKey {
        self.as_ref().public_key()
    }

    fn sign(&mut self, preimage: &[u8]) -> Result<Signature, SignError> {
        self.as_mut().sign(preimage)
    }
}
