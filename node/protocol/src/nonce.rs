//! The nonce rule (docs/wire-format.md "Nonce rule"): replay protection per account that lets
//! one trader sign from several processes at once.
//!
//! Each account keeps its [`NONCE_WINDOW`] highest used nonces. A tx's nonce `n` (milliseconds)
//! is accepted at block time `t` iff
//! 1. `|n - t| <= NONCE_MAX_SKEW_MS` (one day), and
//! 2. `n` is not in the window, and
//! 3. the window is not full, or `n` is above the smallest nonce in it.
//!
//! Accepting `n` inserts it and, when the window overflows, drops the smallest. Because the
//! window only ever drops its minimum, every nonce at or below the minimum is refused forever:
//! a tx never applies twice.

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

/// An account's window of highest used nonces, kept sorted ascending.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct NonceWindow {
    used: Vec<u64>,
}

impl NonceWindow {
    /// Checks `nonce` at block time `time` without changing the window.
    ///
    /// # Errors
    /// Which part of the rule fails.
    pub fn check(&self, nonce: u64, time: Timestamp) -> Result<(), NonceError> {
        if nonce.abs_diff(time.get()) > NONCE_MAX_SKEW_MS {
            return Err(NonceError::OutOfRange {
                nonce,
                time: time.get(),
            });
        }
        if self.used.binary_search(&nonce).is_ok() {
            return Err(NonceError::Replayed(nonce));
        }
        match self.used.first() {
            Some(&smallest) if self.used.len() >= NONCE_WINDOW && nonce <= smallest => {
                Err(NonceError::TooOld { nonce, smallest })
            }
            _ => Ok(()),
        }
    }

    /// Checks and records `nonce`.
    ///
    /// # Errors
    /// As [`Self::check`]; the window is unchanged on error.
    pub fn accept(&mut self, nonce: u64, time: Timestamp) -> Result<(), NonceError> {
        self.check(nonce, time)?;
        let at = self.used.partition_point(|&n| n < nonce);
        self.used.insert(at, nonce);
        if self.used.len() > NONCE_WINDOW {
            self.used.remove(0);
        }
        debug_assert!(self.used.windows(2).all(|w| w[0] < w[1]));
        Ok(())
    }

    /// The remembered nonces, ascending.
    #[must_use]
    pub fn used(&self) -> &[u64] {
        &self.used
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
        assert!(matches!(
            w.accept(base - 5, T),
            Err(NonceError::TooOld { .. })
        ));
        assert!(matches!(
            w.accept(base + NONCE_MAX_SKEW_MS + 1, T),
            Err(NonceError::OutOfRange { .. })
        ));
    }

    proptest! {
        /// Whatever order nonces arrive in, no nonce is ever accepted twice.
        #[test]
        fn never_accepts_twice(nonces in proptest::collection::vec(0u64..200, 1..400)) {
            let mut w = NonceWindow::default();
            let mut accepted = std::collections::BTreeSet::new();
            let t = Timestamp::new(100);
            for n in nonces {
                if w.accept(n, t).is_ok() {
                    prop_assert!(accepted.insert(n), "nonce {} accepted twice", n);
                }
                prop_assert!(w.used().len() <= NONCE_WINDOW);
            }
        }
    }
}
