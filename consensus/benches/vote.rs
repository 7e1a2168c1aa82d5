//! Handling one vote, signature verification excluded (docs/benchmarks.md "Consensus").
//!
//! `cargo bench -p tokenbook-consensus --bench vote`
//!
//! A core at height 1 with N equal validators is fed every other validator's prevote for one
//! round (signatures made up front, checked by a verifier that accepts everything): the vote
//! keeper, the rule checks and the output list. Two cases: nil prevotes while waiting for the
//! proposal (no rule fires), and prevotes for the proposal (a polka: the core signs and records
//! its precommit once per round — that signature is part of the figure, spread over the votes).

#![allow(missing_docs, clippy::unwrap_used, clippy::cast_possible_truncation)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tokenbook_consensus::*;
use tokenbook_protocol::*;

const CHAIN: &str = "tokenbook-bench";

/// Accepts every signature: the benchmark measures the core, not ed25519.
struct TrustAll;

impl Verifier for TrustAll {
    fn verify(&self, _: &PublicKey, _: &[u8], _: &Signature) -> bool {
        true
    }
}

struct Setup {
    keys: Vec<Keypair>,
    set: ValidatorSet,
}

fn setup(n: usize) -> Setup {
    let keys: Vec<Keypair> = (0..n)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Keypair::from_seed(&seed)
        })
        .collect();
    let validators = keys
        .iter()
        .map(|k| Validator { consensus_key: k.public_key(), network_key: k.public_key(), power: 1 })
        .collect();
    Setup { keys, set: ValidatorSet::new(validators).unwrap() }
}

impl Setup {
    /// A core for a validator that does not propose round 0.
    fn core(&self) -> (Consensus<TrustAll>, usize) {
        let start = |set: &ValidatorSet| HeightStart {
            height: Height::new(1),
            validators: set.clone(),
            next_validators: set.clone(),
            records: Vec::new(),
        };
        let probe = Keypair::from_seed(&self.keys[0].seed());
        let (core, _) =
            Consensus::new(CHAIN, probe, TimeoutParams::default(), TrustAll, start(&self.set));
        let proposer = core.proposer(Round::new(0));
        let me = self.keys.iter().position(|k| k.public_key() != proposer).unwrap();
        let key = Keypair::from_seed(&self.keys[me].seed());
        let (core, _) =
            Consensus::new(CHAIN, key, TimeoutParams::default(), TrustAll, start(&self.set));
        (core, me)
    }

    fn prevotes(&self, me: usize, value: Option<Hash>) -> Vec<Input> {
        (0..self.keys.len())
            .filter(|i| *i != me)
            .map(|i| {
                let payload = VotePayload {
                    kind: VoteKind::Prevote,
                    height: Height::new(1),
                    round: Round::new(0),
                    value,
                    validator: self.keys[i].public_key(),
                };
                Input::Vote(payload.sign(&self.keys[i], CHAIN))
            })
            .collect()
    }

    fn proposal(&self, core: &Consensus<TrustAll>, value: Hash) -> Input {
        let proposer = core.proposer(Round::new(0));
        let key = self.keys.iter().find(|k| k.public_key() == proposer).unwrap();
        let payload = ProposalPayload {
            height: Height::new(1),
            round: Round::new(0),
            pol_round: None,
            value,
            proposer,
        };
        Input::Proposal(payload.sign(key, CHAIN), Validity::Valid)
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("consensus");
    for n in [4usize, 64, 256] {
        let s = setup(n);
        let (probe, me) = s.core();
        let nil = s.prevotes(me, None);
        g.throughput(Throughput::Elements(nil.len() as u64));
        g.bench_function(format!("nil_prevotes_{n}_validators"), |b| {
            b.iter_batched(
                || (s.core().0, nil.clone()),
                |(mut core, votes)| {
                    for vote in votes {
                        std::hint::black_box(core.handle(vote));
                    }
                    core
                },
                BatchSize::SmallInput,
            )
        });
        let value = Hash::digest(b"block");
        let proposal = s.proposal(&probe, value);
        let polka = s.prevotes(me, Some(value));
        g.bench_function(format!("polka_prevotes_{n}_validators"), |b| {
            b.iter_batched(
                || {
                    let (mut core, _) = s.core();
                    core.handle(proposal.clone());
                    (core, polka.clone())
                },
                |(mut core, votes)| {
                    for vote in votes {
                        std::hint::black_box(core.handle(vote));
                    }
                    core
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
