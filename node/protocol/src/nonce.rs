//! The nonce rule (docs/wire-format.md "Nonce rule"): replay protection per account that lets
//! one trader sign from several processes at once.
//!
//! Each signer of an account (the owner, and each scoped key: the ledger keeps one window per
//! signer) keeps its [`NONCE_WINDOW`] highest used nonces. A tx's nonce `n` (milliseconds)
//! is accepted at block time `t` iff
//! 1. `|n - t| <= NONCE_MAX_SKEW_MS` (one day), and
//! 2. `n` was not used before: it is not in the window as it stood at the start of the block, nor
//!    accepted earlier in the same block, and
//! 3. `n` is above that start-of-block window's *floor*: its smallest nonce, if it was full (no
//!    floor otherwise).
//!
//! Accepting `n` inserts it into the window and, when the window overflows, drops the smallest.
//! Judging every tx of a block against the window as it stood at the block's start
//! ([`BlockNonces`]) makes the verdicts independent of the order of an account's txs inside the
//! block (the fair sequence shuffles them). No tx applies twice: inside a block, the start window
//! and the block's accepted set catch repeats; afterwards, a nonce is either still in the window
//! or was pushed out by 32 larger ones, which puts it at or below every later floor.

use crate::ids::Timestamp;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// How many of an account's highest nonces are remembered.
pub const NONCE_WINDOW: usize = 32;
/// Largest allowed distance between a nonce and block time (one day).
pub const NONCE_MAX_SKEW_MS: u64 = 24 * 60 * 60 * 1000;

/// Why a nonce was refused. Each variant has a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// More than a day from block time.
    #[error("nonce {nonce} is more than a day from block time {time}")]
    OutOfRange {
        /// The nonce.
        nonce: u64,
        /// Block time.
        time: u64,
    },
    /// Already used.
    #[error("nonce {0} was already used")]
    Replayed(u64),
    /// At or below the smallest remembered nonce of a full window.
    #[error("nonce {nonce} is not above the window's smallest nonce {smallest}")]
    TooOld {
        /// The nonce.
        nonce: u64,
        /// Smallest nonce in the window.
        smallest: u64,
    },
}

impl NonceError {
    /// Stable machine-readable code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::OutOfRange { .. } => "nonce_out_of_range",
            Self::Replayed(_) => "nonce_replayed",
            Self::TooOld { .. } => "nonce_too_old",
        }
    }
}

/// An account's window of highest used nonces, kept sorted ascending in one contiguous array
/// (length, then the nonces, when encoded). Nonces mostly arrive at or near the top: a nonce
/// above the largest is judged without a search, and when the window is full the smallest
/// leaves in the same shift that makes room for the new one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct NonceWindow {
    used: Vec<u64>,
}

impl NonceWindow {
    /// The floor: the smallest remembered nonce when the window is full.
    #[must_use]
    pub fn floor(&self) -> Option<u64> {
        (self.used.len() >= NONCE_WINDOW).then(|| self.used.first().copied()).flatten()
    }

    /// Checks `nonce` at block time `time` against `floor` (the window's floor at the start of
    /// the block) without changing the window. The caller also refuses nonces used earlier in the
    /// same block.
    ///
    /// # Errors
    /// Which part of the rule fails.
    pub fn check(&self, nonce: u64, time: Timestamp, floor: Option<u64>) -> Result<(), NonceError> {
        if nonce.abs_diff(time.get()) > NONCE_MAX_SKEW_MS {
            return Err(NonceError::OutOfRange { nonce, time: time.get() });
        }
        if self.position(nonce).is_ok() {
            return Err(NonceError::Replayed(nonce));
        }
        match floor {
            Some(smallest) if nonce <= smallest => Err(NonceError::TooOld { nonce, smallest }),
            _ => Ok(()),
        }
    }

    /// Records an accepted nonce; returns the smallest nonce if the window overflowed and dropped
    /// it.
    pub fn record(&mut self, nonce: u64) -> Option<u64> {
        let Err(at) = self.position(nonce) else { return None };
        if self.used.len() < NONCE_WINDOW {
            // One allocation for the window's whole life instead of one per doubling.
            self.used.reserve_exact(NONCE_WINDOW - self.used.len());
            self.used.insert(at, nonce);
            return None;
        }
        // Full: the smallest of the window and `nonce` leaves. Below the smallest, `nonce`
        // itself is that one; otherwise everything under `at` shifts down a place.
        if at == 0 {
            return Some(nonce);
        }
        let dropped = self.used[0];
        self.used.copy_within(1..at, 0);
        self.used[at - 1] = nonce;
        debug_assert!(self.used.windows(2).all(|w| w[0] < w[1]));
        Some(dropped)
    }

    /// Where `nonce` is (`Ok`) or would go (`Err`); above the largest without a search.
    fn position(&self, nonce: u64) -> Result<usize, usize> {
        match self.used.last() {
            Some(&top) if nonce > top => Err(self.used.len()),
            _ => self.used.binary_search(&nonce),
        }
    }

    /// Checks against the current floor and records: the rule for a tx alone in its block.
    ///
    /// # Errors
    /// As [`Self::check`]; the window is unchanged on error.
    pub fn accept(&mut self, nonce: u64, time: Timestamp) -> Result<(), NonceError> {
        self.check(nonce, time, self.floor())?;
        let _ = self.record(nonce);
        Ok(())
    }

    /// The remembered nonces, ascending.
    #[must_use]
    pub fn used(&self) -> impl ExactSizeIterator<Item = u64> + '_ {
        self.used.iter().copied()
    }
}

/// One account's nonce verdicts within one block: judged against the window as it stood when
/// the block began plus the nonces the block already accepted.
///
/// That union is exactly the live window plus the nonces the block pushed out of it, so only the
/// pushed-out ones and the start-of-block floor are kept (no copy of the window).
#[derive(Clone, Debug, Default)]
pub struct BlockNonces {
    floor: Option<u64>,
    /// Nonces pushed out of the window during this block, unsorted (a handful at most).
    dropped: Vec<u64>,
}

impl BlockNonces {
    /// Starts a block for an account whose window is `window`.
    #[must_use]
    pub fn new(window: &NonceWindow) -> Self {
        Self { floor: window.floor(), dropped: Vec::new() }
    }

    /// Starts the next block for the same account, keeping this record's allocation.
    pub fn restart(&mut self, window: &NonceWindow) {
        self.floor = window.floor();
        self.dropped.clear();
    }

    /// Checks `nonce` at block time `time`; on success records it in `window` (the account's
    /// live window).
    ///
    /// # Errors
    /// Which part of the rule fails; nothing changes on error.
    pub fn accept(
        &mut self,
        window: &mut NonceWindow,
        nonce: u64,
        time: Timestamp,
    ) -> Result<(), NonceError> {
        window.check(nonce, time, self.floor)?;
        if self.dropped.contains(&nonce) {
            return Err(NonceError::Replayed(nonce));
        }
        if let Some(dropped) = window.record(nonce) {
            self.dropped.push(dropped);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Timestamp = Timestamp::new(1_800_000_000_000);

    #[test]
    fn replay_and_age_rules() {
        let mut w = NonceWindow::default();
        let base = T.get();
        w.accept(base, T).unwrap();
        assert_eq!(w.accept(base, T), Err(NonceError::Replayed(base)));
        // Out of order is fine while the window has room.
        w.accept(base - 5, T).unwrap();
        for i in 1..NONCE_WINDOW as u64 {
            w.accept(base + i, T).unwrap();
        }
        assert_eq!(w.used().len(), NONCE_WINDOW);
        // base - 5 was dropped; it and anything below the new minimum are refused.
        assert!(matches!(w.accept(base - 5, T), Err(NonceError::TooOld { .. })));
        assert!(matches!(
            w.accept(base + NONCE_MAX_SKEW_MS + 1, T),
            Err(NonceError::OutOfRange { .. })
        ));
    }

    /// Applies blocks of nonces the way the ledger does: floor fixed at the start of each block,
    /// nonces used earlier in the block refused. Returns the accepted ones in order.
    fn run_blocks(blocks: &[Vec<u64>]) -> Vec<u64> {
        let mut w = NonceWindow::default();
        let mut accepted = Vec::new();
        let t = Timestamp::new(100);
        for block in blocks {
            let mut nonces = BlockNonces::new(&w);
            for &n in block {
                if nonces.accept(&mut w, n, t).is_ok() {
                    accepted.push(n);
                }
            }
        }
        accepted
    }

    #[test]
    fn order_inside_a_block_does_not_matter() {
        // 100 increasing nonces in one block, in any order, all apply.
        let mut block: Vec<u64> = (1..=100).collect();
        block.reverse();
        assert_eq!(run_blocks(&[block]).len(), 100);
    }

    proptest! {
        /// Whatever order nonces arrive in, and however they are cut into blocks, no nonce is
        /// ever accepted twice.
        #[test]
        fn never_accepts_twice(blocks in proptest::collection::vec(proptest::collection::vec(0u64..200, 0..60), 1..12)) {
            let accepted = run_blocks(&blocks);
            let unique: std::collections::BTreeSet<u64> = accepted.iter().copied().collect();
            prop_assert_eq!(unique.len(), accepted.len(), "a nonce was accepted twice: {:?}", accepted);
        }

        /// The window records exactly like a sorted set that keeps the [`NONCE_WINDOW`] largest
        /// nonces: same nonce dropped, same contents, after every record.
        #[test]
        fn record_matches_a_sorted_set(nonces in proptest::collection::vec(0u64..120, 0..200)) {
            let mut window = NonceWindow::default();
            let mut model = std::collections::BTreeSet::new();
            for n in nonces {
                let expected = if model.insert(n) && model.len() > NONCE_WINDOW {
                    model.pop_first()
                } else {
                    None
                };
                prop_assert_eq!(window.record(n), expected, "recording {}", n);
                prop_assert!(window.used().eq(model.iter().copied()));
            }
        }

        /// Shuffling a block does not change which nonces it accepts.
        #[test]
        fn verdicts_do_not_depend_on_order_in_block(
            history in proptest::collection::vec(0u64..100, 0..40),
            block in proptest::collection::vec(0u64..200, 0..60),
        ) {
            let mut reversed = block.clone();
            reversed.reverse();
            let a: std::collections::BTreeSet<u64> = run_blocks(&[history.clone(), block]).into_iter().collect();
            let b: std::collections::BTreeSet<u64> = run_blocks(&[history, reversed]).into_iter().collect();
            prop_assert_eq!(a, b);
        }
    }
}
