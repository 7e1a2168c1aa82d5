//! Proposer rotation weighted by voting power, deterministic and stateless.
//!
//! A schedule of `L` slots is built from the validator set by smooth weighted round robin
//! (each step every validator's credit grows by its power, the one with the most credit — ties to
//! the smaller key — is chosen and pays the total): within any `total power` consecutive slots
//! each validator is chosen exactly `power` times, spread evenly. `L` is the total power when it
//! is at most [`MAX_SLOTS`] (exact weights), else [`MAX_SLOTS`] (weights within one slot per
//! validator). The proposer of (height, round) is slot `(height + round) mod L`, so the next round
//! goes to the next slot: a crashed proposer costs one round, not many.

use tokenbook_protocol::{Height, PublicKey, Round, ValidatorSet};

/// Longest schedule built.
pub const MAX_SLOTS: u64 = 4_096;

/// A validator set's proposer schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    slots: Vec<PublicKey>,
}

impl Schedule {
    /// The schedule of `validators`.
    #[must_use]
    pub fn new(validators: &ValidatorSet) -> Self {
        let total = validators.total_power().unwrap_or(u64::MAX);
        let len = total.clamp(1, MAX_SLOTS);
        let mut credit: Vec<i128> = vec![0; validators.validators.len()];
        let mut slots = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        for _ in 0..len {
            for (c, v) in credit.iter_mut().zip(&validators.validators) {
                *c += i128::from(v.power);
            }
            // The first maximum in key order wins ties.
            let (best, _) = credit
                .iter()
                .enumerate()
                .fold((0, i128::MIN), |acc, (i, c)| if *c > acc.1 { (i, *c) } else { acc });
            credit[best] -= i128::from(total);
            slots.push(validators.validators[best].consensus_key);
        }
        Self { slots }
    }

    /// The proposer of `round` at `height`.
    #[must_use]
    pub fn proposer(&self, height: Height, round: Round) -> PublicKey {
        let len = self.slots.len() as u64;
        let slot = (height.get() % len + u64::from(round.get()) % len) % len;
        self.slots[usize::try_from(slot).unwrap_or(0)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenbook_protocol::{Keypair, Validator};

    fn set(powers: &[u64]) -> ValidatorSet {
        let validators = powers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let key = Keypair::from_seed(&[u8::try_from(i).unwrap() + 1; 32]).public_key();
                Validator { consensus_key: key, network_key: key, power: *p }
            })
            .collect();
        ValidatorSet::new(validators).unwrap()
    }

    #[test]
    fn each_validator_proposes_in_proportion_to_its_power_and_evenly() {
        let validators = set(&[1, 2, 3, 4]);
        let schedule = Schedule::new(&validators);
        for start in 0..10u64 {
            let mut counts = std::collections::BTreeMap::new();
            for h in start..start + 10 {
                *counts.entry(schedule.proposer(Height::new(h), Round::new(0))).or_insert(0) += 1;
            }
            for v in &validators.validators {
                assert_eq!(counts[&v.consensus_key], v.power, "window starting at {start}");
            }
        }
        // Equal powers: plain round robin, consecutive rounds go to different validators.
        let equal = Schedule::new(&set(&[5, 5, 5, 5]));
        let first: Vec<_> = (0..4).map(|r| equal.proposer(Height::new(7), Round::new(r))).collect();
        let distinct: std::collections::BTreeSet<_> = first.iter().collect();
        assert_eq!(distinct.len(), 4);
    }

    #[test]
    fn large_powers_use_a_bounded_schedule() {
        let schedule = Schedule::new(&set(&[u64::MAX / 8, 1, 1]));
        assert_eq!(schedule.slots.len() as u64, MAX_SLOTS);
        let _ = schedule.proposer(Height::new(u64::MAX), Round::new(u32::MAX));
    }
}
