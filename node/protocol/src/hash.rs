//! SHA-256 hashes and the binary Merkle root used for a block's transaction root.
//!
//! Every hash in tokenbook is SHA-256. Objects are hashed over their canonical encoding
//! ([`crate::codec`]). The transaction root follows RFC 6962 §2.1: leaves are
//! `SHA-256(0x00 ‖ tx_hash)`, interior nodes `SHA-256(0x01 ‖ left ‖ right)`, the split is at the
//! largest power of two below the leaf count, and the empty tree is `SHA-256("")`. The prefixes
//! keep a leaf from being passed off as a node.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 digest.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash, used where a header field has no predecessor (height 1).
    pub const ZERO: Self = Self([0; 32]);

    /// SHA-256 of `bytes`.
    #[must_use]
    pub fn digest(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// SHA-256 over the concatenation of `parts`.
    #[must_use]
    pub fn digest_parts(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Self(hasher.finalize().into())
    }

    /// SHA-256 of the 64 bytes `first ‖ second`: the same digest as
    /// [`Self::digest_parts`]`(&[first, second])`, computed as the two compressions it is (the
    /// message block, then the constant padding block for a 512-bit message) without the
    /// streaming hasher's buffering — the fair sequence takes one per tx.
    #[must_use]
    pub fn digest_pair(first: &Self, second: &Self) -> Self {
        /// SHA-256's initial state (FIPS 180-4 §5.3.3).
        const INITIAL: [u32; 8] = [
            0x6a09_e667,
            0xbb67_ae85,
            0x3c6e_f372,
            0xa54f_f53a,
            0x510e_527f,
            0x9b05_688c,
            0x1f83_d9ab,
            0x5be0_cd19,
        ];
        /// The padding block of a 64-byte message: the 1 bit, zeros, the length 512 in bits.
        const PADDING: [u8; 64] = {
            let mut block = [0u8; 64];
            block[0] = 0x80;
            block[62] = 0x02;
            block
        };
        let mut message = [0u8; 64];
        message[..32].copy_from_slice(&first.0);
        message[32..].copy_from_slice(&second.0);
        let mut state = INITIAL;
        sha2::block_api::compress256(&mut state, &[message, PADDING]);
        let mut out = [0u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        Self(out)
    }

    /// Lower-case hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    ///
    /// # Errors
    /// When the text is not exactly 32 bytes of hex.
    pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out)?;
        Ok(Self(out))
    }
}

impl core::fmt::Debug for Hash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl core::fmt::Display for Hash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// RFC 6962 Merkle root over the given leaf hashes (in order).
#[must_use]
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Hash::digest(&[]),
        [leaf] => Hash::digest_parts(&[&[LEAF_PREFIX], &leaf.0]),
        _ => {
            let split = largest_power_of_two_below(leaves.len());
            let (left, right) = leaves.split_at(split);
            let (left, right) = (merkle_root(left), merkle_root(right));
            Hash::digest_parts(&[&[NODE_PREFIX], &left.0, &right.0])
        }
    }
}

/// The largest power of two strictly less than `n` (`n >= 2`).
fn largest_power_of_two_below(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            Hash::digest(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    proptest::proptest! {
        /// The two-compression shortcut is SHA-256 of the concatenation.
        #[test]
        fn digest_pair_is_sha256_of_both(a in proptest::array::uniform32(0u8..), b in proptest::array::uniform32(0u8..)) {
            let (a, b) = (Hash(a), Hash(b));
            proptest::prop_assert_eq!(Hash::digest_pair(&a, &b), Hash::digest_parts(&[&a.0, &b.0]));
        }
    }

    #[test]
    fn merkle_root_shapes() {
        let a = Hash::digest(b"a");
        let b = Hash::digest(b"b");
        let c = Hash::digest(b"c");
        let leaf = |h: Hash| Hash::digest_parts(&[&[0], &h.0]);
        let node = |l: Hash, r: Hash| Hash::digest_parts(&[&[1], &l.0, &r.0]);
        assert_eq!(merkle_root(&[]), Hash::digest(b""));
        assert_eq!(merkle_root(&[a]), leaf(a));
        assert_eq!(merkle_root(&[a, b]), node(leaf(a), leaf(b)));
        assert_eq!(merkle_root(&[a, b, c]), node(node(leaf(a), leaf(b)), leaf(c)));
        assert_ne!(merkle_root(&[a, b]), merkle_root(&[b, a]));
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = Hash::digest(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()).unwrap(), h);
        assert!(Hash::from_hex("00").is_err());
        assert!(Hash::from_hex(&"zz".repeat(32)).is_err());
    }
}
