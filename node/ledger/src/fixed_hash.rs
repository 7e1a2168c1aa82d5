//! Hash maps for O(1) lookups by integer id, with a fixed hasher.
//!
//! The pure crates ban `HashMap` because iterating one visits entries in an order that can differ
//! between processes. The maps here are wrapped so that callers can only look up, insert and
//! remove — or iterate through an explicit sort — and the hasher has no per-process random seed,
//! so even the memory layout is the same on every validator.
#![allow(clippy::disallowed_types)]

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiplicative hasher for integer ids (Fibonacci hashing).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n ^ (n >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A `HashMap` with the fixed [`IdHasher`]. Only this module may iterate it; see the wrappers.
pub type FixedHashMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;
