//! How far the chain is known to have moved past this node, from validators' signed messages.
//!
//! Promises:
//! - A later height counts as reached only when validators holding more than a third of the
//!   power of one set that decides the node's next height (or the one after) have each signed a
//!   proposal or vote at that height or above. At least one of them is correct, and a correct
//!   validator signs for a height only after committing the one before. So no f members can make
//!   a node believe it lags, nor draw its sync requests to themselves.
//! - The peers to ask are those the proving validators' messages came through, lowest claim
//!   first: the validator just ahead is the likeliest to serve the next blocks, and a member
//!   claiming a height far ahead is tried last.
//! - Memory is one entry per validator of the two sets; claims the node has caught up with are
//!   dropped.

use crate::driver::Peer;
use std::collections::BTreeMap;
use tokenbook_consensus::tally::is_one_third;
use tokenbook_protocol::{Height, PublicKey, ValidatorSet};

/// Each validator's highest signed height above the node's next, and the peer it came through.
#[derive(Debug, Default)]
pub struct Ahead {
    claims: BTreeMap<PublicKey, (Height, Peer)>,
}

impl Ahead {
    /// Whether `validator` signing for `height` would raise what is known of it (a repeat of a
    /// known claim needs no signature check).
    #[must_use]
    pub fn is_news(&self, validator: &PublicKey, height: Height) -> bool {
        self.claims.get(validator).is_none_or(|(known, _)| *known < height)
    }

    /// Notes that `validator` signed for `height` (its signature checked), received from `peer`.
    pub fn note(&mut self, validator: PublicKey, height: Height, peer: Peer) {
        if self.is_news(&validator, height) {
            self.claims.insert(validator, (height, peer));
        }
    }

    /// Drops the claims not above `next` (the height the node needs) and those of validators in
    /// none of `sets`.
    pub fn prune(&mut self, next: Height, sets: &[&ValidatorSet]) {
        let member = |key: &PublicKey| sets.iter().any(|set| set.get(key).is_some());
        self.claims.retain(|key, (height, _)| *height > next && member(key));
    }

    /// The highest height that validators with more than a third of one set's power have
    /// signed for, or above, with the peers their claims came through, lowest claim first.
    #[must_use]
    pub fn proven(&self, sets: &[&ValidatorSet]) -> Option<(Height, Vec<Peer>)> {
        sets.iter().filter_map(|set| self.proven_by(set)).max_by_key(|(height, _)| *height)
    }

    fn proven_by(&self, set: &ValidatorSet) -> Option<(Height, Vec<Peer>)> {
        let total = set.total_power()?;
        let mut claims: Vec<(Height, Peer, u64)> = self
            .claims
            .iter()
            .filter_map(|(key, (height, peer))| set.get(key).map(|v| (*height, *peer, v.power)))
            .collect();
        claims.sort_unstable_by_key(|(height, _, _)| std::cmp::Reverse(*height));
        let mut power = 0u64;
        for (i, (height, _, weight)) in claims.iter().enumerate() {
            power = power.saturating_add(*weight);
            if is_one_third(power, total) {
                let peers = claims[..=i].iter().rev().map(|(_, peer, _)| *peer).collect();
                return Some((*height, peers));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenbook_protocol::{Keypair, Validator};

    fn key(i: u8) -> PublicKey {
        Keypair::from_seed(&[i; 32]).public_key()
    }

    fn set(n: u8) -> ValidatorSet {
        let validators = (1..=n)
            .map(|i| Validator { consensus_key: key(i), network_key: key(i), power: 1 })
            .collect();
        ValidatorSet::new(validators).unwrap()
    }

    #[test]
    fn one_of_four_proves_nothing_two_prove_the_lower_claim() {
        let four = set(4);
        let mut ahead = Ahead::default();
        ahead.note(key(4), Height::new(1_000), 40);
        assert_eq!(ahead.proven(&[&four]), None);
        ahead.note(key(3), Height::new(7), 30);
        assert_eq!(ahead.proven(&[&four]), Some((Height::new(7), vec![30, 40])));
    }

    #[test]
    fn strangers_and_caught_up_claims_are_dropped() {
        let four = set(4);
        let mut ahead = Ahead::default();
        ahead.note(key(9), Height::new(50), 90);
        ahead.note(key(8), Height::new(50), 80);
        assert_eq!(ahead.proven(&[&four]), None, "strangers proved a height");
        ahead.note(key(1), Height::new(5), 10);
        ahead.note(key(2), Height::new(6), 20);
        ahead.prune(Height::new(5), &[&four]);
        assert_eq!(ahead.claims.len(), 1);
        assert!(ahead.is_news(&key(1), Height::new(6)));
        assert!(!ahead.is_news(&key(2), Height::new(6)));
    }
}
