//! One validator's driver (real executor, store and mempool) facing Byzantine peers that the
//! test plays with the other validators' keys: every bad proposal gets a nil prevote and never
//! stops the node; a block it voted for survives a restart; a re-proposed block carries the
//! certificate its header names; a block certified by more than two thirds whose root this
//! node cannot reproduce stops it with a divergence report.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

#[path = "../../daemon/tests/common/base.rs"]
mod common;

use common::*;
use tokenbook_consensus::TimeoutParams;
use tokenbook_engine::Message;
use tokenbook_engine::driver::{Action, BlockLimits, Driver, DriverError};
use tokenbook_engine::executor::{ExecError, Executor};
use tokenbook_engine::mempool::{Mempool, MempoolConfig};
use tokenbook_protocol::*;
use tokenbook_store::StoreConfig;

const LIMITS: BlockLimits = BlockLimits {
    max_txs: 1_000,
    max_bytes: 1 << 20,
    interval_ms: 20,
    heartbeat_ms: 0,
    max_future_time_ms: 1_000,
};

/// Validator `me`'s driver; the test speaks for the other validators.
struct Solo {
    dir: tempfile::TempDir,
    me: usize,
    driver: Driver,
    now: u64,
    /// Every action the driver returned.
    actions: Vec<Action>,
}

impl Solo {
    fn new(me: usize) -> Solo {
        let dir = tempfile::tempdir().unwrap();
        let now = GENESIS_MS + 1_000;
        let (driver, actions) = Self::open(dir.path(), me, now);
        let mut solo = Solo { dir, me, driver, now, actions: Vec::new() };
        solo.take(actions);
        solo
    }

    /// A validator that is not the round-0 proposer of height 1.
    fn not_proposing() -> Solo {
        let solo = Solo::new(0);
        let me = (0..NODES).find(|&i| solo.proposer_index(0) != i).unwrap();
        if me == 0 { solo } else { Solo::new(me) }
    }

    fn open(dir: &std::path::Path, me: usize, now: u64) -> (Driver, Vec<Action>) {
        let executor = Executor::open(dir, StoreConfig::new(CHAIN), &genesis()).unwrap();
        let mempool = Mempool::new(MempoolConfig::new(CHAIN));
        let key = key(100 + me as u64);
        Driver::start(executor, mempool, key, TimeoutParams::default(), LIMITS, now).unwrap()
    }

    /// Crash and restart from the store.
    fn restart(self) -> Solo {
        let Solo { dir, me, driver, now, actions, .. } = self;
        drop(driver);
        let now = now + 10;
        let (driver, initial) = Self::open(dir.path(), me, now);
        let mut solo = Solo { dir, me, driver, now, actions };
        solo.take(initial);
        solo
    }

    fn take(&mut self, actions: Vec<Action>) -> Vec<Action> {
        for action in &actions {
            if let Action::Broadcast(message) = action {
                // What the node sends must pass its peers' decoder (or they ban it).
                Message::decode(&message.encode()).expect("an honest node's message decodes");
            }
        }
        self.actions.extend(actions.clone());
        actions
    }

    fn proposer_index(&self, round: u32) -> usize {
        let key = self.driver.proposer(Round::new(round));
        (0..NODES).find(|&i| validator(i).public_key() == key).unwrap()
    }

    fn others(&self) -> Vec<usize> {
        (0..NODES).filter(|&i| i != self.me).collect()
    }

    /// The block the round's proposer would build (empty, one ms after the parent).
    fn block(&self, proposer: usize, txs: Vec<Tx>) -> Block {
        let time = self.driver.executor().ledger().time.get().saturating_add(1);
        self.driver.executor().propose(validator(proposer).public_key(), time.max(self.now), txs)
    }

    fn deliver(&mut self, from: usize, message: Message) -> Result<Vec<Action>, DriverError> {
        // Through the codec, as from a peer.
        let message = Message::decode(&message.encode()).unwrap();
        let actions = self.driver.on_message(from as u64, message, self.now)?;
        Ok(self.take(actions))
    }

    fn propose(
        &mut self,
        round: u32,
        block: Block,
        prev_certificate: Option<CommitCertificate>,
    ) -> Result<Vec<Action>, DriverError> {
        let proposer = self.proposer_index(round);
        let message = proposal_message(proposer, round, None, block, prev_certificate);
        self.deliver(proposer, message)
    }

    /// Prevotes (or precommits) of every other validator for `value` in `round`.
    fn votes(
        &mut self,
        kind: VoteKind,
        round: u32,
        value: Option<Hash>,
    ) -> Result<Vec<Action>, DriverError> {
        let mut out = Vec::new();
        let height = self.driver.height();
        for i in self.others() {
            let vote = vote(i, kind, height, round, value);
            out.extend(self.deliver(i, Message::Vote(vote))?);
        }
        Ok(out)
    }

    /// The other validators decide an empty block of the round-0 proposer's (proposed by the
    /// test or by this node) and this node commits it and starts the next height.
    fn decide_height(&mut self) {
        let height = self.driver.height();
        let proposer = self.proposer_index(0);
        let value = if proposer == self.me {
            proposed_value(&self.actions, height).expect("this node proposed")
        } else {
            let block = self.block(proposer, Vec::new());
            let certificate = self.driver.executor().last_certificate().unwrap();
            let value = block.hash();
            self.propose(0, block, certificate).unwrap();
            value
        };
        self.votes(VoteKind::Prevote, 0, Some(value)).unwrap();
        let actions = self.votes(VoteKind::Precommit, 0, Some(value)).unwrap();
        assert!(committed(&actions, height), "height {height} not committed: {actions:?}");
        self.now += 100;
        let actions = self.driver.start_next_height(self.now).unwrap();
        self.take(actions);
    }
}

/// Validator `i`'s consensus key.
fn validator(i: usize) -> Keypair {
    key(100 + i as u64)
}

fn proposal_message(
    proposer: usize,
    round: u32,
    pol_round: Option<u32>,
    block: Block,
    prev_certificate: Option<CommitCertificate>,
) -> Message {
    let proposal = ProposalPayload {
        height: block.header.height,
        round: Round::new(round),
        pol_round: pol_round.map(Round::new),
        value: block.hash(),
        proposer: validator(proposer).public_key(),
    }
    .sign(&validator(proposer), CHAIN);
    Message::Proposal { proposal, block, prev_certificate }
}

fn vote(i: usize, kind: VoteKind, height: Height, round: u32, value: Option<Hash>) -> Vote {
    VotePayload {
        kind,
        height,
        round: Round::new(round),
        value,
        validator: validator(i).public_key(),
    }
    .sign(&validator(i), CHAIN)
}

/// The value of this node's vote of `kind` among `actions` (`Some(None)`: a nil vote).
fn my_vote(actions: &[Action], kind: VoteKind) -> Option<Option<Hash>> {
    actions.iter().find_map(|a| match a {
        Action::Broadcast(Message::Vote(v)) if v.payload.kind == kind => Some(v.payload.value),
        _ => None,
    })
}

fn committed(actions: &[Action], height: Height) -> bool {
    actions.iter().any(|a| matches!(a, Action::Committed { height: h, .. } if *h == height))
}

fn proposed_value(actions: &[Action], height: Height) -> Option<Hash> {
    actions.iter().rev().find_map(|a| match a {
        Action::Broadcast(Message::Proposal { proposal, .. })
            if proposal.payload.height == height =>
        {
            Some(proposal.payload.value)
        }
        _ => None,
    })
}

/// A node at height 3 (two heights decided) that does not propose round 0 there.
fn at_height_three() -> Solo {
    for me in 0..NODES {
        let mut solo = Solo::new(me);
        solo.decide_height();
        solo.decide_height();
        if solo.proposer_index(0) != me {
            return solo;
        }
    }
    unreachable!("some validator does not propose round 0 of height 3")
}

/// The node's prevote on a round-0 proposal of `block` (with this node's certificate).
fn prevote_on(solo: &mut Solo, block: Block) -> Option<Hash> {
    let certificate = solo.driver.executor().last_certificate().unwrap();
    let actions =
        solo.propose(0, block, certificate).expect("a bad proposal must not stop the node");
    my_vote(&actions, VoteKind::Prevote).expect("the node prevotes on the round's proposal")
}

#[test]
fn a_proposal_with_a_wrong_state_root_is_prevoted_nil_not_a_stop() {
    let mut solo = at_height_three();
    let proposer = solo.proposer_index(0);
    let mut block = solo.block(proposer, Vec::new());
    block.header.state_root = Hash::digest(b"not the state root");
    assert_eq!(prevote_on(&mut solo, block), None);
    // The network goes on without the bad block: the next round's proposer is honest.
    let height = solo.driver.height();
    solo.votes(VoteKind::Prevote, 0, None).unwrap();
    // Nil precommits leave no value a quorum: the round ends at once (consensus deviation 8).
    solo.votes(VoteKind::Precommit, 0, None).unwrap();
    assert_eq!(solo.driver.round(), Round::new(1));
    assert_eq!(solo.driver.height(), height);
}

#[test]
fn block_times_out_of_bounds_are_prevoted_nil_and_in_bounds_accepted() {
    let far = [
        u64::MAX,
        GENESIS_MS + 1_000 + 365 * 24 * 3_600_000,
        GENESIS_MS + 1_000 + LIMITS.max_future_time_ms + 1_000,
    ];
    for time in far {
        let mut solo = at_height_three();
        let mut block = solo.block(solo.proposer_index(0), Vec::new());
        block.header.time = Timestamp::new(time);
        assert_eq!(prevote_on(&mut solo, block), None, "time {time}");
    }
    // Not after the parent.
    let mut solo = at_height_three();
    let mut block = solo.block(solo.proposer_index(0), Vec::new());
    block.header.time = solo.driver.executor().ledger().time;
    assert_eq!(prevote_on(&mut solo, block), None, "stale time");
    // Ahead of this node's clock by less than the bound.
    let mut solo = at_height_three();
    let mut block = solo.block(solo.proposer_index(0), Vec::new());
    block.header.time = Timestamp::new(solo.now + LIMITS.max_future_time_ms / 2);
    let value = block.hash();
    assert_eq!(prevote_on(&mut solo, block), Some(value));
}

#[test]
fn a_block_at_the_end_of_time_cannot_overflow_the_next_header() {
    // Even if more than two thirds certified a block at the last millisecond, computing the
    // next header (and judging proposals) must not panic.
    let mut solo = at_height_three();
    let proposer = solo.proposer_index(0);
    let mut block = solo.block(proposer, Vec::new());
    block.header.time = Timestamp::new(u64::MAX);
    let height = block.header.height;
    let certificate = certificate(height, Round::new(0), block.hash(), &solo.others());
    let actions = solo.deliver(proposer, Message::SyncReply { block, certificate }).unwrap();
    assert!(committed(&actions, height), "{actions:?}");
    let next = solo.driver.executor().propose(validator(proposer).public_key(), solo.now, vec![]);
    assert_eq!(next.header.time, Timestamp::new(u64::MAX));
    solo.now += 100;
    let actions = solo.driver.start_next_height(solo.now).unwrap();
    solo.take(actions);
    if solo.proposer_index(0) != solo.me {
        let mut block = solo.block(solo.proposer_index(0), Vec::new());
        block.header.time = Timestamp::new(u64::MAX);
        assert_eq!(prevote_on(&mut solo, block), None, "no time is after the last millisecond");
    }
}

#[test]
fn a_header_naming_another_proposer_is_prevoted_nil() {
    let mut solo = at_height_three();
    let proposer = solo.proposer_index(0);
    let other = (0..NODES).find(|&i| i != proposer).unwrap();
    let block = solo.block(other, Vec::new());
    assert_eq!(prevote_on(&mut solo, block), None);
}

#[test]
fn a_block_with_a_tx_twice_is_prevoted_nil() {
    let mut solo = at_height_three();
    let tx = registrations(0, 1).remove(0);
    let block = solo.block(solo.proposer_index(0), vec![tx.clone(), tx]);
    assert_eq!(prevote_on(&mut solo, block), None);
}

#[test]
fn a_bad_signature_is_prevoted_nil() {
    let mut solo = at_height_three();
    let mut tx = registrations(0, 1).remove(0);
    tx.signature.0[5] ^= 1;
    let block = solo.block(solo.proposer_index(0), vec![tx]);
    assert_eq!(prevote_on(&mut solo, block), None);
}

/// `tx` signed again by `signer` with a torsion point of order 2 in `R`
/// ([`crypto::craft::torsion_signature`]).
fn with_torsion(tx: &Tx, signer: &Keypair, nonce: u64) -> Tx {
    let mut out = tx.clone();
    let preimage = tx.payload.signing_preimage(CHAIN);
    out.signature = crypto::craft::torsion_signature(signer, &preimage, nonce);
    out
}

#[test]
fn a_torsion_signature_gets_one_verdict_with_or_without_the_mempool() {
    // A key holder's signature with a torsion component in R: valid under the cofactored rule,
    // alone and in any batch (docs/adr/0002), so a validator whose mempool verified it and one
    // that verifies it inside the block agree on the block.
    let good = registrations(0, 1).remove(0);
    let member = key(0);
    let torsion = with_torsion(&registrations(1, 1)[0], &member, 0);
    let checked = VerifiedKey::new(&member.public_key()).unwrap();
    assert_eq!(torsion.verify_signature(&checked, CHAIN), Ok(()));
    let mut holder = Solo::not_proposing();
    for tx in [torsion.clone(), good.clone()] {
        let (verdicts, _) = holder.driver.submit(vec![tx]);
        assert!(verdicts[0].is_ok(), "the mempool admitted it alone: {verdicts:?}");
    }
    let mut stranger = Solo::not_proposing();
    let block = holder.block(holder.proposer_index(0), vec![good, torsion]);
    let held = prevote_on(&mut holder, block.clone());
    let fresh = prevote_on(&mut stranger, block.clone());
    assert_eq!(held, fresh, "validators must agree on a block whatever their mempools hold");
    assert_eq!(held, Some(block.hash()));
}

#[test]
fn a_block_of_txs_the_mempool_verified_is_judged_without_verifying_them_again() {
    let mut solo = Solo::not_proposing();
    let txs = registrations(0, 3);
    let (verdicts, _) = solo.driver.submit(txs.clone());
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
    let before = solo.driver.executor().signatures_verified();
    let block = solo.block(solo.proposer_index(0), txs);
    assert_eq!(prevote_on(&mut solo, block.clone()), Some(block.hash()));
    let again = solo.driver.executor().signatures_verified() - before;
    assert_eq!(again, 0, "signatures the mempool verified were verified again");
}

#[test]
fn a_forged_copy_of_a_tx_the_mempool_holds_is_verified_not_excused() {
    let mut solo = Solo::not_proposing();
    let txs = registrations(0, 2);
    let (verdicts, _) = solo.driver.submit(txs.clone());
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
    // The same payload (same signer field) signed by another key: another hash, a bad signature.
    let forged = txs[1].payload.clone().sign(&key(7), CHAIN);
    assert_ne!(forged.hash(), txs[1].hash());
    let before = solo.driver.executor().signatures_verified();
    let block = solo.block(solo.proposer_index(0), vec![txs[0].clone(), forged]);
    assert_eq!(prevote_on(&mut solo, block), None, "a forged signature makes the block invalid");
    let checked = solo.driver.executor().signatures_verified() - before;
    assert_eq!(checked, 1, "exactly the tx the mempool does not hold is verified");
}

#[test]
fn a_block_this_node_voted_for_survives_a_restart() {
    let mut solo = at_height_three();
    let height = solo.driver.height();
    let block = solo.block(solo.proposer_index(0), registrations(0, 3));
    let value = block.hash();
    assert_eq!(prevote_on(&mut solo, block), Some(value));
    let actions = solo.votes(VoteKind::Prevote, 0, Some(value)).unwrap();
    assert_eq!(my_vote(&actions, VoteKind::Precommit), Some(Some(value)));
    // Crash after the precommit left; the others decide the block.
    let mut solo = solo.restart();
    let actions = solo.votes(VoteKind::Precommit, 0, Some(value)).expect("decides from its store");
    assert!(committed(&actions, height));
    assert_eq!(solo.driver.executor().ledger().accounts.len(), NODES + 1 + 3);
}

#[test]
fn a_reproposed_block_carries_the_certificate_its_header_names() {
    let mut solo = at_height_three();
    let height = solo.driver.height();
    // A valid certificate of the previous height other than the one this node stored.
    let ours = solo.driver.executor().last_certificate().unwrap().unwrap();
    let signers: Vec<usize> =
        if ours.signatures.len() == NODES { vec![0, 1, 2] } else { vec![0, 1, 2, 3] };
    let theirs = certificate(ours.height, ours.round, ours.block_hash, &signers);
    assert_ne!(theirs.hash(), ours.hash());
    // The round-0 proposer's block names that certificate; this node prevotes it, sees a polka
    // and locks on it, but the round ends without a decision.
    let mut block = solo.block(solo.proposer_index(0), Vec::new());
    block.header.prev_certificate_hash = theirs.hash();
    let value = block.hash();
    let actions = solo.propose(0, block, Some(theirs.clone())).unwrap();
    assert_eq!(my_vote(&actions, VoteKind::Prevote), Some(Some(value)));
    solo.votes(VoteKind::Prevote, 0, Some(value)).unwrap();
    // Rounds pass with nil precommits until this node is the proposer: it re-proposes its
    // valid value, and must send the certificate that value's header names.
    let mut round = 0;
    loop {
        // Nil precommits end the round at once (consensus deviation 8).
        solo.votes(VoteKind::Precommit, round, None).unwrap();
        round += 1;
        assert_eq!(solo.driver.round(), Round::new(round));
        assert_eq!(solo.driver.height(), height);
        if solo.proposer_index(round) == solo.me {
            break;
        }
        solo.votes(VoteKind::Prevote, round, None).unwrap();
    }
    let carried = solo.actions.iter().rev().find_map(|a| match a {
        Action::Broadcast(Message::Proposal { proposal, prev_certificate, .. })
            if proposal.payload.round == Round::new(round) =>
        {
            Some((proposal.payload.value, prev_certificate.clone()))
        }
        _ => None,
    });
    assert_eq!(carried, Some((value, Some(theirs))), "re-proposal in round {round}");
}

/// A certificate of `block_hash` signed by `signers`.
fn certificate(
    height: Height,
    round: Round,
    block_hash: Hash,
    signers: &[usize],
) -> CommitCertificate {
    let mut signatures: Vec<CommitSignature> = signers
        .iter()
        .map(|&i| {
            let v = vote(i, VoteKind::Precommit, height, round.get(), Some(block_hash));
            CommitSignature { validator: v.payload.validator, signature: v.signature }
        })
        .collect();
    signatures.sort_by_key(|s| s.validator);
    CommitCertificate { height, round, block_hash, signatures }
}

#[test]
fn a_certified_block_with_a_root_this_node_cannot_reproduce_stops_it() {
    let mut solo = at_height_three();
    let proposer = solo.proposer_index(0);
    let mut block = solo.block(proposer, Vec::new());
    block.header.state_root = Hash::digest(b"the others' root");
    assert_eq!(prevote_on(&mut solo, block.clone()), None);
    // More than two thirds of the others decided it: this node is the one that diverged, and
    // must stop rather than go on with a state nobody else has.
    let certificate = certificate(block.header.height, Round::new(0), block.hash(), &solo.others());
    let stopped = solo.deliver(proposer, Message::SyncReply { block, certificate });
    assert!(matches!(stopped, Err(DriverError::Exec(ExecError::Divergence { .. }))), "{stopped:?}");
}
