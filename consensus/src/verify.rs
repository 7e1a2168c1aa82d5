//! Signatures and commit certificates.
//!
//! The core checks the signature of every proposal and vote it is given through a [`Verifier`]:
//! [`Ed25519`] applies the protocol's strict rule (docs/adr/0002-signature-validity.md); a driver
//! may wrap it (the simulator shares one cache of verdicts between its nodes). [`verify_certificate`]
//! is the check anyone — node, auditor — runs on a certificate and the height's validator set.

use crate::tally::{is_quorum, power_of};
use std::collections::BTreeSet;
use tokenbook_protocol::{
    CommitCertificate, Proposal, PublicKey, Signature, ValidatorSet, VerifiedKey, Vote, crypto,
};

/// Checks signatures of consensus messages.
pub trait Verifier {
    /// True when `signature` by `key` over `preimage` is valid.
    fn verify(&self, key: &PublicKey, preimage: &[u8], signature: &Signature) -> bool;

    /// True when the vote's signature is valid for `chain_id`.
    fn vote(&self, chain_id: &str, vote: &Vote) -> bool {
        let preimage = vote.payload.signing_preimage(chain_id);
        self.verify(&vote.payload.validator, &preimage, &vote.signature)
    }

    /// True when the proposal's signature is valid for `chain_id`.
    fn proposal(&self, chain_id: &str, proposal: &Proposal) -> bool {
        let preimage = proposal.payload.signing_preimage(chain_id);
        self.verify(&proposal.payload.proposer, &preimage, &proposal.signature)
    }
}

/// The protocol's strict ed25519 rule.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ed25519;

impl Verifier for Ed25519 {
    fn verify(&self, key: &PublicKey, preimage: &[u8], signature: &Signature) -> bool {
        VerifiedKey::new(key).is_ok_and(|k| crypto::verify(&k, preimage, signature).is_ok())
    }
}

/// Why a certificate does not prove its block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// A signer is not in the height's validator set.
    #[error("signer {0} is not a validator of the height")]
    NotAValidator(PublicKey),
    /// A signer appears twice, or the signatures are not sorted.
    #[error("signatures are not sorted by validator without duplicates")]
    NotCanonical,
    /// A signature does not verify.
    #[error("signature of {0} does not verify")]
    BadSignature(PublicKey),
    /// The signers hold two thirds of the voting power or less.
    #[error("signers hold {signed} of {total} voting power, not more than two thirds")]
    NoQuorum {
        /// Power that signed.
        signed: u64,
        /// Total power of the set.
        total: u64,
    },
}

/// Checks that `certificate` holds valid precommits for its block from more than two thirds of
/// `validators`' voting power, for `chain_id`.
///
/// # Errors
/// The first [`CertificateError`] found.
pub fn verify_certificate(
    certificate: &CommitCertificate,
    validators: &ValidatorSet,
    chain_id: &str,
    verifier: &impl Verifier,
) -> Result<(), CertificateError> {
    let mut seen = BTreeSet::new();
    let mut last: Option<PublicKey> = None;
    for signature in &certificate.signatures {
        let key = signature.validator;
        if last.is_some_and(|l| l >= key) || !seen.insert(key) {
            return Err(CertificateError::NotCanonical);
        }
        last = Some(key);
        if validators.get(&key).is_none() {
            return Err(CertificateError::NotAValidator(key));
        }
        let preimage = certificate.vote_payload(key).signing_preimage(chain_id);
        if !verifier.verify(&key, &preimage, &signature.signature) {
            return Err(CertificateError::BadSignature(key));
        }
    }
    let signed = power_of(validators, seen.iter());
    let total = validators.total_power().unwrap_or(u64::MAX);
    if !is_quorum(signed, total) {
        return Err(CertificateError::NoQuorum { signed, total });
    }
    Ok(())
}
