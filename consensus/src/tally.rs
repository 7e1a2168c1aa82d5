//! The vote keeper: votes of one height counted by voting power per (round, kind, value).
//!
//! Promises:
//! - Only votes by members of the height's validator set are kept. A validator's first vote per
//!   (round, kind) counts toward its value and toward the round's total. A second, different
//!   vote is equivocation: [`Added::Equivocation`] carries the evidence, and the vote counts
//!   toward *its* value too (never toward the total), since the validator may have shown it to
//!   others: a correct validator that counted the other version must still be able to see the
//!   quorum they saw (as CometBFT's peer-claimed majorities allow). Safety is unaffected — the
//!   paper's quorum arguments are about which signed votes exist, not who saw them. A third
//!   version is dropped (memory bound). Repeats change nothing.
//! - Memory is bounded: rounds above `max_round` are refused (the core keeps it a fixed distance
//!   ahead of its own round), so a validator holds at most two votes per admitted round.
//! - For the round-skip rule (L55) the keeper remembers, per validator, the highest round it has
//!   sent anything for, even beyond `max_round`.

use std::collections::BTreeMap;
use tokenbook_protocol::{
    DuplicateVoteEvidence, Hash, PublicKey, Round, ValidatorSet, Vote, VoteKind,
};

/// True when `power` is more than two thirds of `total` (the paper's 2f + 1).
#[must_use]
pub fn is_quorum(power: u64, total: u64) -> bool {
    3 * u128::from(power) > 2 * u128::from(total)
}

/// True when `power` is more than one third of `total` (the paper's f + 1).
#[must_use]
pub fn is_one_third(power: u64, total: u64) -> bool {
    3 * u128::from(power) > u128::from(total)
}

/// Summed voting power of `keys` in `validators` (non-members count zero).
pub fn power_of<'a>(validators: &ValidatorSet, keys: impl Iterator<Item = &'a PublicKey>) -> u64 {
    keys.filter_map(|k| validators.get(k)).fold(0u64, |sum, v| sum.saturating_add(v.power))
}

/// The votes of one kind in one round.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// The first vote of each validator.
    votes: BTreeMap<PublicKey, Vote>,
    /// A second, conflicting vote of an equivocating validator.
    extra: BTreeMap<PublicKey, Vote>,
    /// Power per value (`None` = nil).
    weights: BTreeMap<Option<Hash>, u64>,
    /// Power of every validator that voted (each once).
    total: u64,
}

impl Tally {
    /// Power that voted for `value`.
    #[must_use]
    pub fn weight(&self, value: Option<Hash>) -> u64 {
        self.weights.get(&value).copied().unwrap_or(0)
    }

    /// Power that voted at all.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Every kept vote (first votes, then conflicting second ones).
    pub fn votes(&self) -> impl Iterator<Item = &Vote> {
        self.votes.values().chain(self.extra.values())
    }

    /// The kept votes for `value`, one per validator, sorted by validator key.
    #[must_use]
    pub fn votes_for(&self, value: Option<Hash>) -> Vec<Vote> {
        let mut votes: Vec<Vote> =
            self.votes().filter(|v| v.payload.value == value).copied().collect();
        votes.sort_by_key(|v| v.payload.validator);
        votes
    }
}

/// What adding a vote did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Added {
    /// Counted.
    Counted,
    /// Already counted, or already reported: nothing changed.
    Repeat,
    /// A second, different vote: counted toward its value only; here is the evidence.
    Equivocation(Box<DuplicateVoteEvidence>),
    /// Not a validator of the height, or a round beyond the bound: ignored.
    Ignored,
}

/// The votes of one height.
#[derive(Clone, Debug)]
pub struct VoteKeeper {
    validators: ValidatorSet,
    total_power: u64,
    rounds: BTreeMap<Round, [Tally; 2]>,
    /// Highest round each validator has sent a message for (the L55 rule).
    highest: BTreeMap<PublicKey, Round>,
    max_round: Round,
}

fn slot(kind: VoteKind) -> usize {
    match kind {
        VoteKind::Prevote => 0,
        VoteKind::Precommit => 1,
    }
}

impl VoteKeeper {
    /// An empty keeper for a height's validator set, admitting rounds up to `max_round`.
    #[must_use]
    pub fn new(validators: ValidatorSet, max_round: Round) -> Self {
        let total_power = validators.total_power().unwrap_or(u64::MAX);
        Self {
            validators,
            total_power,
            rounds: BTreeMap::new(),
            highest: BTreeMap::new(),
            max_round,
        }
    }

    /// The height's validator set.
    #[must_use]
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// Total voting power of the set.
    #[must_use]
    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// Raises the highest admitted round (never lowers it).
    pub fn admit_up_to(&mut self, round: Round) {
        self.max_round = self.max_round.max(round);
    }

    /// Counts a vote whose signature was checked.
    pub fn add(&mut self, vote: Vote) -> Added {
        let p = vote.payload;
        let Some(validator) = self.validators.get(&p.validator) else {
            return Added::Ignored;
        };
        let power = validator.power;
        self.saw(p.validator, p.round);
        if p.round > self.max_round {
            return Added::Ignored;
        }
        let tally = &mut self.rounds.entry(p.round).or_default()[slot(p.kind)];
        match tally.votes.get(&p.validator) {
            None => {
                tally.votes.insert(p.validator, vote);
                // Saturating: powers come from state, and no sum of them may stop the node.
                let weight = tally.weights.entry(p.value).or_default();
                *weight = weight.saturating_add(power);
                tally.total = tally.total.saturating_add(power);
                Added::Counted
            }
            Some(first) if first.payload == p || tally.extra.contains_key(&p.validator) => {
                Added::Repeat
            }
            Some(first) => match DuplicateVoteEvidence::new(*first, vote) {
                Some(evidence) => {
                    tally.extra.insert(p.validator, vote);
                    let weight = tally.weights.entry(p.value).or_default();
                    *weight = weight.saturating_add(power);
                    Added::Equivocation(Box::new(evidence))
                }
                None => Added::Repeat,
            },
        }
    }

    /// Notes that a validator sent something for `round` (a vote or a proposal).
    pub fn saw(&mut self, validator: PublicKey, round: Round) {
        if self.validators.get(&validator).is_none() {
            return;
        }
        let highest = self.highest.entry(validator).or_insert(round);
        *highest = (*highest).max(round);
    }

    /// The votes of one kind in one round (empty if none).
    #[must_use]
    pub fn tally(&self, round: Round, kind: VoteKind) -> Option<&Tally> {
        self.rounds.get(&round).map(|t| &t[slot(kind)])
    }

    /// Power that voted `value` in (round, kind).
    #[must_use]
    pub fn weight(&self, round: Round, kind: VoteKind, value: Option<Hash>) -> u64 {
        self.tally(round, kind).map_or(0, |t| t.weight(value))
    }

    /// More than two thirds voted `value` in (round, kind).
    #[must_use]
    pub fn quorum_for(&self, round: Round, kind: VoteKind, value: Option<Hash>) -> bool {
        is_quorum(self.weight(round, kind, value), self.total_power)
    }

    /// More than two thirds voted anything in (round, kind).
    #[must_use]
    pub fn quorum_any(&self, round: Round, kind: VoteKind) -> bool {
        is_quorum(self.tally(round, kind).map_or(0, Tally::total), self.total_power)
    }

    /// No value (nil aside) can gather more than two thirds in (round, kind) any more: the most
    /// any value has, plus the power not heard from, is not more than two thirds. (An
    /// equivocator's second vote could still add to a value; giving up on such a round only
    /// costs liveness when a Byzantine validator helps, never safety.)
    #[must_use]
    pub fn no_value_can_win(&self, round: Round, kind: VoteKind) -> bool {
        let Some(tally) = self.tally(round, kind) else { return false };
        let unheard = self.total_power.saturating_sub(tally.total);
        let values = tally.weights.iter().filter(|(value, _)| value.is_some());
        let best = values.map(|(_, weight)| *weight).max().unwrap_or(0);
        !is_quorum(best.saturating_add(unheard), self.total_power)
    }

    /// The highest round above `above` for which validators holding more than a third of the
    /// power have sent messages for that round or a higher one (the L55 rule; see the crate docs
    /// for why "or higher").
    #[must_use]
    pub fn skip_round(&self, above: Round) -> Option<Round> {
        let mut ahead: Vec<(Round, u64)> = self
            .highest
            .iter()
            .filter(|(_, r)| **r > above)
            .filter_map(|(k, r)| self.validators.get(k).map(|v| (*r, v.power)))
            .collect();
        ahead.sort_unstable_by_key(|a| std::cmp::Reverse(a.0));
        let mut power = 0u64;
        for (round, p) in ahead {
            power = power.saturating_add(p);
            if is_one_third(power, self.total_power) {
                return Some(round);
            }
        }
        None
    }
}
