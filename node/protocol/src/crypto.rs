//! ed25519 keys and signatures with one validity rule (docs/adr/0002-signature-validity.md).
//!
//! Signed bytes are always `encode(domain_tag) ‖ encode(chain_id) ‖ encode(payload)`, where the
//! two strings are bincode strings (`u64` length, then bytes) and each message kind has its own
//! tag ([`Domain`]), so a signature for one kind or chain never verifies as another.
//!
//! **The rule.** A signature `(R, s)` by key `A` on message `M` is valid iff
//! 1. `A` is a canonical encoding of a point that is not of small order and lies in the
//!    prime-order subgroup (checked once, when a key enters state: [`VerifiedKey`]);
//! 2. `s < ℓ` (canonical scalar);
//! 3. `R`'s `y` coordinate is canonical (`y < p`), `R` decompresses, and `R` is not a
//!    small-order point;
//! 4. the cofactored equation holds: `[8]([s]B − R − [k]A) = 0` with `k = H(R‖A‖M)` over the
//!    encodings as sent.
//!
//! Checks 2 and 3 are byte comparisons ([`precheck_signature`]), cheap enough to run in front of
//! batch verification. [`verify_batch`] runs the same pre-checks, then the cofactored batch
//! equation over a random linear combination (coefficients drawn from a hash of the whole
//! batch); if the batch fails, every item is verified singly to name the bad ones. Because both
//! equations are cofactored, a signature gets the same verdict alone and in any batch (short
//! of a 2^-128 coincidence of coefficients no one can steer): a verdict reached once stands.

use crate::codec;
use bincode::{Decode, Encode};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use std::collections::BTreeMap;

/// A message kind's signing domain. Every tag is distinct; the tag is length-prefixed in the
/// preimage, so none can be confused with a prefix of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// A transaction (`Tx`).
    Tx,
    /// A consensus proposal.
    Proposal,
    /// A consensus vote (prevote or precommit).
    Vote,
}

impl Domain {
    /// The tag bytes signed in front of the chain id.
    #[must_use]
    pub const fn tag(self) -> &'static str {
        match self {
            Self::Tx => "tokenbook/tx/v1",
            Self::Proposal => "tokenbook/proposal/v1",
            Self::Vote => "tokenbook/vote/v1",
        }
    }
}

/// The exact bytes signed for a payload: `encode(tag) ‖ encode(chain_id) ‖ payload_bytes`.
#[must_use]
pub fn signing_preimage(domain: Domain, chain_id: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + domain.tag().len() + chain_id.len() + payload.len());
    codec::encode_into(&domain.tag(), &mut out);
    codec::encode_into(&chain_id, &mut out);
    out.extend_from_slice(payload);
    out
}

/// A 32-byte ed25519 public key as it appears on the wire (not yet checked).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct PublicKey(pub [u8; 32]);

/// A 64-byte ed25519 signature `R ‖ s` as it appears on the wire (not yet checked).
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Signature(pub [u8; 64]);

macro_rules! hex_bytes_impls {
    ($ty:ident, $len:literal) => {
        impl $ty {
            /// Lower-case hex.
            #[must_use]
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses exactly the right number of hex digits.
            ///
            /// # Errors
            /// When the text is not hex of the right length.
            pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
                let mut out = [0u8; $len];
                hex::decode_to_slice(text, &mut out)?;
                Ok(Self(out))
            }
        }

        impl core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({})", stringify!($ty), self.to_hex())
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_hex(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}
hex_bytes_impls!(PublicKey, 32);
hex_bytes_impls!(Signature, 64);

/// Why a key or signature was refused. Each variant has a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// The public key's encoding is not canonical or not a curve point.
    #[error("public key is not a canonical curve point")]
    KeyEncoding,
    /// The public key is a small-order point (a "weak" key any signature may match).
    #[error("public key has small order")]
    KeySmallOrder,
    /// The public key has a torsion component (outside the prime-order subgroup).
    #[error("public key is not in the prime-order subgroup")]
    KeyTorsion,
    /// The signature's `s` is not below the group order ℓ.
    #[error("signature scalar s is not canonical (s >= l)")]
    ScalarNotCanonical,
    /// The signature's `R` encoding is not canonical or not a curve point.
    #[error("signature point R is not canonically encoded")]
    REncoding,
    /// The signature's `R` is a small-order point.
    #[error("signature point R has small order")]
    RSmallOrder,
    /// Well-formed, but the equation does not hold: wrong key, message or chain id. (A chain id
    /// is only inside the signed preimage, so a signature for another chain is
    /// indistinguishable from a forged one.)
    #[error("signature does not verify (wrong key, message or chain id)")]
    Mismatch,
    /// The signature is valid, but for another message kind's domain (see [`diagnose`]).
    #[error("signature was made for another message kind (domain {0:?})")]
    WrongDomain(Domain),
}

impl SigError {
    /// Stable machine-readable code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::KeyEncoding => "sig_key_encoding",
            Self::KeySmallOrder => "sig_key_small_order",
            Self::KeyTorsion => "sig_key_torsion",
            Self::ScalarNotCanonical => "sig_s_not_canonical",
            Self::REncoding => "sig_r_encoding",
            Self::RSmallOrder => "sig_r_small_order",
            Self::Mismatch => "sig_mismatch",
            Self::WrongDomain(_) => "sig_wrong_domain",
        }
    }
}

/// A public key that passed the key half of the rule (canonical, not small order, prime-order
/// subgroup). Build it once when a key enters state and keep it: the torsion check costs about
/// as much as a signature verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedKey {
    bytes: [u8; 32],
    /// `−A`, the form the equation uses.
    minus_point: EdwardsPoint,
}

impl VerifiedKey {
    /// Checks a wire key against the key half of the rule.
    ///
    /// # Errors
    /// [`SigError::KeyEncoding`], [`SigError::KeySmallOrder`] or [`SigError::KeyTorsion`].
    pub fn new(key: &PublicKey) -> Result<Self, SigError> {
        if !is_canonical_y(&key.0) {
            return Err(SigError::KeyEncoding);
        }
        let point = CompressedEdwardsY(key.0).decompress().ok_or(SigError::KeyEncoding)?;
        if point.compress().0 != key.0 {
            return Err(SigError::KeyEncoding);
        }
        if point.is_small_order() {
            return Err(SigError::KeySmallOrder);
        }
        if !point.is_torsion_free() {
            return Err(SigError::KeyTorsion);
        }
        Ok(Self { bytes: key.0, minus_point: -point })
    }

    /// The wire form of the key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.bytes)
    }
}

/// ℓ, the prime order of the base point, little-endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// Canonical encodings (`y < p`, with either sign bit where `x ≠ 0`) of the eight points of
/// small order, and the two sign-bit-set encodings of the points with `x = 0`. An `R` in this
/// list is refused.
const SMALL_ORDER_ENCODINGS: [[u8; 32]; 10] = small_order_encodings();

const fn small_order_encodings() -> [[u8; 32]; 10] {
    // y = 1 (identity) and y = -1 (order 2), each with sign 0 and the non-canonical sign 1.
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut one_signed = one;
    one_signed[31] = 0x80;
    let mut minus_one = [0xff; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let mut minus_one_signed = minus_one;
    minus_one_signed[31] = 0xff;
    // y = 0: the two points of order 4, (±√-1, 0) → sign bit selects x.
    let zero = [0u8; 32];
    let mut zero_signed = [0u8; 32];
    zero_signed[31] = 0x80;
    // The four points of order 8 share two y values, each with both signs.
    let order8_a: [u8; 32] = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ];
    let order8_b: [u8; 32] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ];
    let mut order8_a_signed = order8_a;
    order8_a_signed[31] |= 0x80;
    let mut order8_b_signed = order8_b;
    order8_b_signed[31] |= 0x80;
    [
        one,
        one_signed,
        minus_one,
        minus_one_signed,
        zero,
        zero_signed,
        order8_a,
        order8_a_signed,
        order8_b,
        order8_b_signed,
    ]
}

/// True when the 255-bit `y` in an encoded point is below p = 2^255 - 19.
fn is_canonical_y(bytes: &[u8; 32]) -> bool {
    // y >= p only for y in [2^255 - 19, 2^255 - 1]: low byte >= 0xed, all middle bytes 0xff,
    // top byte (sign bit cleared) 0x7f.
    let top = bytes[31] & 0x7f;
    !(top == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed)
}

/// True when the little-endian 256-bit `s` is below ℓ.
fn is_canonical_scalar(s: &[u8; 32]) -> bool {
    for i in (0..32).rev() {
        if s[i] != GROUP_ORDER[i] {
            return s[i] < GROUP_ORDER[i];
        }
    }
    false
}

/// The signature half of the rule that needs no curve arithmetic: `s < ℓ`, `R` canonical and
/// not of small order.
///
/// # Errors
/// [`SigError::ScalarNotCanonical`], [`SigError::REncoding`] or [`SigError::RSmallOrder`].
pub fn precheck_signature(sig: &Signature) -> Result<(), SigError> {
    let (r, s) = split_signature(sig);
    if !is_canonical_scalar(&s) {
        return Err(SigError::ScalarNotCanonical);
    }
    if !is_canonical_y(&r) {
        return Err(SigError::REncoding);
    }
    if SMALL_ORDER_ENCODINGS.contains(&r) {
        return Err(SigError::RSmallOrder);
    }
    Ok(())
}

fn split_signature(sig: &Signature) -> ([u8; 32], [u8; 32]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&sig.0[..32]);
    s.copy_from_slice(&sig.0[32..]);
    (r, s)
}

/// Verifies one signature over `preimage` (already built with [`signing_preimage`]) by the rule.
///
/// # Errors
/// The first part of the rule that fails.
pub fn verify(key: &VerifiedKey, preimage: &[u8], sig: &Signature) -> Result<(), SigError> {
    let parts = SigParts::new(key, preimage, sig)?;
    let residual =
        EdwardsPoint::vartime_double_scalar_mul_basepoint(&parts.k, &key.minus_point, &parts.s)
            - parts.r;
    if residual.mul_by_cofactor().is_identity() { Ok(()) } else { Err(SigError::Mismatch) }
}

/// A pre-checked signature's `R` as a point, `s` and `k = H(R‖A‖M)`, with the 64-byte hash
/// (which binds the message into a batch's coefficients).
struct SigParts {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
    hram: [u8; 64],
}

impl SigParts {
    fn new(key: &VerifiedKey, preimage: &[u8], sig: &Signature) -> Result<Self, SigError> {
        precheck_signature(sig)?;
        let (r_bytes, s_bytes) = split_signature(sig);
        let r = CompressedEdwardsY(r_bytes).decompress().ok_or(SigError::REncoding)?;
        let s = Scalar::from_bytes_mod_order(s_bytes);
        let mut hash = Sha512::new();
        hash.update(r_bytes);
        hash.update(key.bytes);
        hash.update(preimage);
        let mut hram = [0u8; 64];
        hram.copy_from_slice(hash.finalize().as_slice());
        Ok(Self { r, s, k: Scalar::from_bytes_mod_order_wide(&hram), hram })
    }
}

/// Explains a failed verification of `payload` in `domain`: if the signature verifies in
/// another domain it returns [`SigError::WrongDomain`], otherwise the rule's verdict. Costs up
/// to three verifications, so call it only to report an error to a client, never on a path a
/// peer can trigger at will.
#[must_use]
pub fn diagnose(
    key: &VerifiedKey,
    domain: Domain,
    chain_id: &str,
    payload: &[u8],
    sig: &Signature,
) -> Option<SigError> {
    let verdict = verify(key, &signing_preimage(domain, chain_id, payload), sig).err()?;
    if verdict != SigError::Mismatch {
        return Some(verdict);
    }
    let other = [Domain::Tx, Domain::Proposal, Domain::Vote].into_iter().find(|&d| {
        d != domain && verify(key, &signing_preimage(d, chain_id, payload), sig).is_ok()
    });
    Some(other.map_or(SigError::Mismatch, SigError::WrongDomain))
}

/// One item of a batch: who signed, what preimage, which signature.
#[derive(Clone, Copy, Debug)]
pub struct BatchItem<'a> {
    /// The signer's checked key.
    pub key: &'a VerifiedKey,
    /// The full signing preimage.
    pub preimage: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

/// Verifies many signatures at once. Returns one verdict per item, in order: the verdicts
/// [`verify`] gives each item alone.
///
/// Items failing the byte pre-checks are refused without entering the batch; the rest go
/// through the cofactored batch equation `[8]Σ zᵢ([sᵢ]B − Rᵢ − [kᵢ]Aᵢ) = 0`, with 128-bit
/// coefficients `zᵢ` drawn from a SHA-512 transcript of the whole batch (deterministic, and
/// fixed only once every signature is); if it fails, each item is verified singly so that the
/// verdicts name exactly the bad signatures.
#[must_use]
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<Result<(), SigError>> {
    let mut verdicts: Vec<Result<(), SigError>> =
        items.iter().map(|item| precheck_signature(item.signature)).collect();
    let candidates: Vec<usize> = (0..items.len()).filter(|&i| verdicts[i].is_ok()).collect();
    if !candidates.is_empty() && !batch_equation_holds(items, &candidates) {
        for &i in &candidates {
            verdicts[i] = verify(items[i].key, items[i].preimage, items[i].signature);
        }
    }
    verdicts
}

/// Domain of the transcript the batch coefficients are drawn from.
const BATCH_TRANSCRIPT: &[u8] = b"tokenbook/batch-verify/v1";

/// Whether the cofactored batch equation holds over `items[candidates]` (false also when an
/// `R` does not decompress: the single path then names it).
fn batch_equation_holds(items: &[BatchItem<'_>], candidates: &[usize]) -> bool {
    let mut parts = Vec::with_capacity(candidates.len());
    let mut transcript = Sha512::new();
    transcript.update(BATCH_TRANSCRIPT);
    for &i in candidates {
        let item = &items[i];
        let Ok(part) = SigParts::new(item.key, item.preimage, item.signature) else {
            return false;
        };
        transcript.update(part.hram);
        transcript.update(part.s.as_bytes());
        parts.push(part);
    }
    let zs = coefficients(transcript.finalize().as_slice(), parts.len());
    let b_coefficient: Scalar = zs.iter().zip(&parts).map(|(z, part)| z * part.s).sum();
    let keys = key_terms(items, candidates, &zs, &parts);
    let scalars = std::iter::once(b_coefficient)
        .chain(zs.iter().map(|z| -z))
        .chain(keys.iter().map(|(_, scalar)| *scalar));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(parts.iter().map(|part| part.r))
        .chain(keys.iter().map(|(point, _)| *point));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).mul_by_cofactor().is_identity()
}

/// The key terms of the batch equation, one per distinct key: `−A` with the sum of `z·k` over
/// that key's signatures. It is the same sum as a term per signature (`Σ zᵢkᵢ(−A) =
/// (Σ zᵢkᵢ)(−A)`), so the verdict is unchanged; the multiscalar multiplication has one point
/// per signer instead of one per signature (market makers sign most orders with a few keys).
fn key_terms(
    items: &[BatchItem<'_>],
    candidates: &[usize],
    zs: &[Scalar],
    parts: &[SigParts],
) -> Vec<(EdwardsPoint, Scalar)> {
    let mut slots: BTreeMap<&[u8; 32], usize> = BTreeMap::new();
    let mut terms: Vec<(EdwardsPoint, Scalar)> = Vec::new();
    for ((&i, z), part) in candidates.iter().zip(zs).zip(parts) {
        let key = items[i].key;
        let slot = *slots.entry(&key.bytes).or_insert_with(|| {
            terms.push((key.minus_point, Scalar::ZERO));
            terms.len() - 1
        });
        terms[slot].1 += z * part.k;
    }
    terms
}

/// `count` 128-bit coefficients, four from each SHA-512 of the seed and a block counter.
fn coefficients(seed: &[u8], count: usize) -> Vec<Scalar> {
    let mut out = Vec::with_capacity(count);
    let mut block = 0u64;
    while out.len() < count {
        let mut hash = Sha512::new();
        hash.update(seed);
        hash.update(block.to_le_bytes());
        let bytes = hash.finalize();
        for chunk in bytes.as_slice().chunks_exact(16).take(count - out.len()) {
            let mut z = [0u8; 16];
            z.copy_from_slice(chunk);
            out.push(Scalar::from(u128::from_le_bytes(z)));
        }
        block += 1;
    }
    out
}

/// A signing key (held by traders, members and validators; never by pure code paths that
/// affect state).
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// Builds the key from a 32-byte seed (RFC 8032 secret key).
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { signing: SigningKey::from_bytes(seed) }
    }

    /// The 32-byte seed (keep it secret).
    #[must_use]
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// The public key, already checked (a key we derived ourselves always passes).
    #[must_use]
    pub fn verified_key(&self) -> VerifiedKey {
        let key = self.signing.verifying_key();
        VerifiedKey { bytes: key.to_bytes(), minus_point: -key.to_edwards() }
    }

    /// Signs `payload` in `domain` for `chain_id`.
    #[must_use]
    pub fn sign(&self, domain: Domain, chain_id: &str, payload: &[u8]) -> Signature {
        self.sign_preimage(&signing_preimage(domain, chain_id, payload))
    }

    /// Signs an already-built preimage.
    #[must_use]
    pub fn sign_preimage(&self, preimage: &[u8]) -> Signature {
        Signature(self.signing.sign(preimage).to_bytes())
    }
}

impl core::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Keypair({})", self.public_key().to_hex())
    }
}

/// Signatures no honest signer makes, for tests of validators and auditors (a Byzantine
/// member's tools): nothing in a node calls these.
pub mod craft {
    use super::{Keypair, Signature};
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::scalar::{Scalar, clamp_integer};
    use sha2::{Digest, Sha512};

    fn sha512(parts: &[&[u8]]) -> [u8; 64] {
        let mut h = Sha512::new();
        for part in parts {
            h.update(part);
        }
        let mut out = [0u8; 64];
        out.copy_from_slice(h.finalize().as_slice());
        out
    }

    /// A signature by `key` over `preimage` whose `R` carries the torsion point of order 2:
    /// `R = [r]B + T`, `s = r + H(R ‖ A ‖ M)·a`, so `[s]B = R + [k]A − T`. Only the key's
    /// holder can make one. The cofactored rule accepts it, alone and in any batch; a
    /// cofactorless rule refuses it alone and passes it in a batch half the time, which is why
    /// the rule is cofactored (docs/adr/0002). `nonce` picks `r`, so callers can try several.
    #[must_use]
    pub fn torsion_signature(key: &Keypair, preimage: &[u8], nonce: u64) -> Signature {
        let expanded = sha512(&[&key.seed()]);
        let mut low = [0u8; 32];
        low.copy_from_slice(&expanded[..32]);
        let a = Scalar::from_bytes_mod_order(clamp_integer(low));
        let r =
            Scalar::from_bytes_mod_order_wide(&sha512(&[&expanded[32..], &nonce.to_le_bytes()]));
        let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[4]).compress().0;
        let k =
            Scalar::from_bytes_mod_order_wide(&sha512(&[&big_r, &key.public_key().0, preimage]));
        let s = r + k * a;
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&big_r);
        out[32..].copy_from_slice(&s.to_bytes());
        Signature(out)
    }
}
