//! Four equal validators, signed messages from any of them, and output inspection.

use tokenbook_consensus::*;
use tokenbook_protocol::*;

pub const CHAIN: &str = "tokenbook-test";

pub struct Net {
    pub keys: Vec<Keypair>,
    pub set: ValidatorSet,
}

pub fn net(powers: &[u64]) -> Net {
    let keys: Vec<Keypair> =
        (0..powers.len()).map(|i| Keypair::from_seed(&[i as u8 + 1; 32])).collect();
    let validators = keys
        .iter()
        .zip(powers)
        .map(|(k, p)| Validator {
            consensus_key: k.public_key(),
            network_key: k.public_key(),
            power: *p,
        })
        .collect();
    Net { keys, set: ValidatorSet::new(validators).unwrap() }
}

pub fn h(n: u64) -> Height {
    Height::new(n)
}

pub fn r(n: u32) -> Round {
    Round::new(n)
}

pub fn value(n: u8) -> Hash {
    Hash::digest(&[n])
}

impl Net {
    pub fn key(&self, i: usize) -> Keypair {
        Keypair::from_seed(&self.keys[i].seed())
    }

    pub fn start(&self, height: u64, records: Vec<Record>) -> HeightStart {
        HeightStart {
            height: h(height),
            validators: self.set.clone(),
            next_validators: self.set.clone(),
            records,
        }
    }

    /// Validator `i`'s core at height 1.
    pub fn core(&self, i: usize) -> (Consensus<Ed25519>, Vec<Output>) {
        Consensus::new(CHAIN, self.key(i), TimeoutParams::default(), Ed25519, self.start(1, vec![]))
    }

    /// Validator `i`'s core at height 1 after a restart with these records.
    pub fn restarted(&self, i: usize, records: Vec<Record>) -> (Consensus<Ed25519>, Vec<Output>) {
        Consensus::new(
            CHAIN,
            self.key(i),
            TimeoutParams::default(),
            Ed25519,
            self.start(1, records),
        )
    }

    pub fn index_of(&self, key: PublicKey) -> usize {
        self.keys.iter().position(|k| k.public_key() == key).unwrap()
    }

    pub fn vote(&self, i: usize, kind: VoteKind, round: u32, value: Option<Hash>) -> Vote {
        VotePayload {
            kind,
            height: h(1),
            round: r(round),
            value,
            validator: self.keys[i].public_key(),
        }
        .sign(&self.keys[i], CHAIN)
    }

    pub fn prevote(&self, i: usize, round: u32, value: Option<Hash>) -> Input {
        Input::Vote(self.vote(i, VoteKind::Prevote, round, value))
    }

    pub fn precommit(&self, i: usize, round: u32, value: Option<Hash>) -> Input {
        Input::Vote(self.vote(i, VoteKind::Precommit, round, value))
    }

    /// The round's proposal by its proposer.
    pub fn proposal(
        &self,
        core: &Consensus<Ed25519>,
        round: u32,
        v: Hash,
        pol: Option<u32>,
    ) -> Input {
        let proposer = self.index_of(core.proposer(r(round)));
        let payload = ProposalPayload {
            height: h(1),
            round: r(round),
            pol_round: pol.map(r),
            value: v,
            proposer: self.keys[proposer].public_key(),
        };
        Input::Proposal(payload.sign(&self.keys[proposer], CHAIN), Validity::Valid)
    }

    /// A validator that does not propose `round` at height 1.
    pub fn not_proposing(&self, round: u32) -> usize {
        let (core, _) = self.core(0);
        let proposer = self.index_of(core.proposer(r(round)));
        (proposer + 1) % self.keys.len()
    }

    /// Other validators than `me`, in index order.
    pub fn others(&self, me: usize) -> Vec<usize> {
        (0..self.keys.len()).filter(|i| *i != me).collect()
    }
}

/// The votes broadcast in `out`: (kind, round, value).
pub fn votes(out: &[Output]) -> Vec<(VoteKind, u32, Option<Hash>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::BroadcastVote(v) => {
                Some((v.payload.kind, v.payload.round.get(), v.payload.value))
            }
            _ => None,
        })
        .collect()
}

pub fn timeouts(out: &[Output]) -> Vec<(TimeoutKind, u32)> {
    out.iter()
        .filter_map(|o| match o {
            Output::ScheduleTimeout { timeout, .. } => Some((timeout.kind, timeout.round.get())),
            _ => None,
        })
        .collect()
}

pub fn decision(out: &[Output]) -> Option<(Hash, CommitCertificate)> {
    out.iter().find_map(|o| match o {
        Output::Decide { value, certificate, .. } => Some((*value, certificate.clone())),
        _ => None,
    })
}

/// Feeds inputs one by one; returns every output.
pub fn feed(core: &mut Consensus<Ed25519>, inputs: impl IntoIterator<Item = Input>) -> Vec<Output> {
    inputs.into_iter().flat_map(|i| core.handle(i)).collect()
}

/// The delay of the propose timeout scheduled in `out` for `round`, if one was.
pub fn propose_delay(out: &[Output], round: u32) -> Option<u64> {
    out.iter().find_map(|o| match o {
        Output::ScheduleTimeout { timeout, after_ms }
            if timeout.kind == TimeoutKind::Propose && timeout.round.get() == round =>
        {
            Some(*after_ms)
        }
        _ => None,
    })
}
