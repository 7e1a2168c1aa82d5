//! One test per rule of Algorithm 1, named by its lines. Four validators of power 1: a quorum is
//! 3, "more than a third" is 2.

use crate::harness::*;
use tokenbook_consensus::*;
use tokenbook_protocol::*;

const PV: VoteKind = VoteKind::Prevote;
const PC: VoteKind = VoteKind::Precommit;

#[test]
fn l21_l22_a_valid_proposal_gets_a_prevote_for_it_and_an_invalid_one_nil() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, out) = net.core(me);
    assert_eq!(timeouts(&out), vec![(TimeoutKind::Propose, 0)]); // L21
    let out = core.handle(net.proposal(&core, 0, value(1), None));
    assert_eq!(votes(&out), vec![(PV, 0, Some(value(1)))]);
    assert_eq!(core.step(), Step::Prevote);
    let (mut core, _) = net.core(me);
    let Input::Proposal(p, _) = net.proposal(&core, 0, value(1), None) else { unreachable!() };
    let out = core.handle(Input::Proposal(p, Validity::Invalid));
    assert_eq!(votes(&out), vec![(PV, 0, None)]);
}

#[test]
fn every_signed_message_is_persisted_before_it_is_broadcast() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    let out = core.handle(net.proposal(&core, 0, value(1), None));
    let persisted = out.iter().position(|o| matches!(o, Output::Persist(Record::Vote(_))));
    let sent = out.iter().position(|o| matches!(o, Output::BroadcastVote(_)));
    assert!(persisted.unwrap() < sent.unwrap(), "{out:?}");
    let Output::Persist(Record::Vote(recorded)) = &out[persisted.unwrap()] else { unreachable!() };
    assert_eq!(out[sent.unwrap()], Output::BroadcastVote(*recorded));
}

/// `me` prevoted `value(1)` in round 0 and two others did too: locked on it.
fn locked_at_round_0(net: &Net) -> (usize, Consensus<Ed25519>, Vec<Output>) {
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    let mut out = core.handle(net.proposal(&core, 0, value(1), None));
    for i in net.others(me).into_iter().take(2) {
        out.extend(core.handle(net.prevote(i, 0, Some(value(1)))));
    }
    (me, core, out)
}

#[test]
fn l36_a_polka_locks_the_value_and_precommits_it() {
    let net = net(&[1, 1, 1, 1]);
    let (me, core, out) = locked_at_round_0(&net);
    assert_eq!(votes(&out), vec![(PV, 0, Some(value(1))), (PC, 0, Some(value(1)))]);
    assert_eq!(core.locked(), Some((r(0), value(1))));
    assert_eq!(core.valid_round(), Some(r(0)));
    assert_eq!(core.step(), Step::Precommit);
    // The polka (the two other prevotes) is recorded with the lock, before the precommit.
    let polka: Vec<_> = out
        .iter()
        .filter(|o| matches!(o, Output::Persist(Record::Vote(v)) if v.payload.validator != net.keys[me].public_key()))
        .collect();
    assert_eq!(polka.len(), 2);
    // L34: a quorum of prevotes in the prevote step scheduled the prevote timeout.
    assert!(timeouts(&out).contains(&(TimeoutKind::Prevote, 0)));
}

/// From the lock at round 0, round 1 starts after a quorum of (nil) precommits and the timeout.
fn at_round_1_locked(net: &Net) -> (usize, Consensus<Ed25519>) {
    let (me, mut core, _) = locked_at_round_0(net);
    let others = net.others(me);
    let out = feed(&mut core, others.iter().take(2).map(|i| net.precommit(*i, 0, None)));
    assert!(timeouts(&out).contains(&(TimeoutKind::Precommit, 0)), "L47"); // L47
    core.handle(Input::Timeout(Timeout {
        height: h(1),
        round: r(0),
        kind: TimeoutKind::Precommit,
    }));
    assert_eq!(core.round(), r(1)); // L65–L67
    (me, core)
}

#[test]
fn l22_a_locked_validator_prevotes_nil_for_another_value() {
    let net = net(&[1, 1, 1, 1]);
    let (me, mut core) = at_round_1_locked(&net);
    if core.proposer(r(1)) == net.keys[me].public_key() {
        return; // this layout makes `me` propose round 1; covered by the re-proposal test
    }
    let out = core.handle(net.proposal(&core, 1, value(2), None));
    assert_eq!(votes(&out), vec![(PV, 1, None)]);
    // The locked value itself still gets its prevote.
    let (_, mut again) = at_round_1_locked(&net);
    let out = again.handle(net.proposal(&again, 1, value(1), None));
    assert_eq!(votes(&out), vec![(PV, 1, Some(value(1)))]);
}

#[test]
fn l28_a_newer_polka_releases_the_lock() {
    let net = net(&[1, 1, 1, 1]);
    let (me, mut core) = at_round_1_locked(&net);
    let others = net.others(me);
    // Round 1: three others prevote value 2 (a polka this validator sees), then round 2.
    feed(&mut core, others.iter().map(|i| net.prevote(*i, 1, Some(value(2)))));
    feed(&mut core, others.iter().map(|i| net.precommit(*i, 1, None)));
    core.handle(Input::Timeout(Timeout {
        height: h(1),
        round: r(1),
        kind: TimeoutKind::Precommit,
    }));
    assert_eq!(core.round(), r(2));
    if core.proposer(r(2)) == net.keys[me].public_key() {
        return;
    }
    // Round 2 re-proposes value 2 with valid round 1: locked round 0 ≤ 1, so it gets a prevote.
    let out = core.handle(net.proposal(&core, 2, value(2), Some(1)));
    assert_eq!(votes(&out), vec![(PV, 2, Some(value(2)))]);
}

#[test]
fn l28_without_the_polka_there_is_no_prevote_until_the_timeout() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(1);
    let (mut core, _) = net.core(me);
    core.handle(Input::Timeout(Timeout { height: h(1), round: r(0), kind: TimeoutKind::Propose }));
    let others = net.others(me);
    feed(&mut core, others.iter().map(|i| net.precommit(*i, 0, None)));
    core.handle(Input::Timeout(Timeout {
        height: h(1),
        round: r(0),
        kind: TimeoutKind::Precommit,
    }));
    assert_eq!(core.round(), r(1));
    let out = core.handle(net.proposal(&core, 1, value(3), Some(0)));
    assert!(votes(&out).is_empty(), "{out:?}");
    // L57–L60: the propose timeout prevotes nil.
    let out = core.handle(Input::Timeout(Timeout {
        height: h(1),
        round: r(1),
        kind: TimeoutKind::Propose,
    }));
    assert_eq!(votes(&out), vec![(PV, 1, None)]);
}

#[test]
fn l44_a_nil_polka_precommits_nil_and_l61_the_prevote_timeout_too() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    core.handle(Input::Timeout(Timeout { height: h(1), round: r(0), kind: TimeoutKind::Propose }));
    let others = net.others(me);
    let out = feed(&mut core, others.iter().take(2).map(|i| net.prevote(*i, 0, None)));
    assert_eq!(votes(&out), vec![(PC, 0, None)]);
    // Mixed prevotes a value could still win (two of four, one unheard): only the timeout (L34)
    // and then L61–L64.
    let (mut core, _) = net.core(me);
    core.handle(Input::Timeout(Timeout { height: h(1), round: r(0), kind: TimeoutKind::Propose }));
    let out = feed(
        &mut core,
        [net.prevote(others[0], 0, Some(value(1))), net.prevote(others[1], 0, Some(value(1)))],
    );
    assert_eq!(timeouts(&out), vec![(TimeoutKind::Prevote, 0)]);
    assert!(votes(&out).is_empty());
    let out = core.handle(Input::Timeout(Timeout {
        height: h(1),
        round: r(0),
        kind: TimeoutKind::Prevote,
    }));
    assert_eq!(votes(&out), vec![(PC, 0, None)]);
    assert_eq!(core.step(), Step::Precommit);
}

#[test]
fn l49_precommits_for_the_proposal_decide_with_a_certificate_that_verifies() {
    let net = net(&[1, 1, 1, 1]);
    let (me, mut core, _) = locked_at_round_0(&net);
    let others = net.others(me);
    let out = feed(&mut core, others.iter().take(2).map(|i| net.precommit(*i, 0, Some(value(1)))));
    let (decided, certificate) = decision(&out).unwrap();
    assert_eq!(decided, value(1));
    assert_eq!(core.step(), Step::Commit);
    assert_eq!(certificate.signatures.len(), 3);
    verify_certificate(&certificate, &net.set, CHAIN, &Ed25519).unwrap();
    // A certificate from another chain id does not verify.
    assert!(verify_certificate(&certificate, &net.set, "other-chain", &Ed25519).is_err());
}

#[test]
fn l49_a_decision_can_come_from_an_earlier_round() {
    let net = net(&[1, 1, 1, 1]);
    let (me, mut core) = at_round_1_locked(&net);
    let others = net.others(me);
    // Late precommits of round 0 for value 1 arrive while in round 1.
    let out = feed(&mut core, others.iter().take(2).map(|i| net.precommit(*i, 0, Some(value(1)))));
    let (decided, certificate) = decision(&out).unwrap();
    assert_eq!((decided, certificate.round), (value(1), r(0)));
}

#[test]
fn l55_messages_of_a_later_round_from_more_than_a_third_skip_to_it() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    let others = net.others(me);
    core.handle(net.prevote(others[0], 5, None));
    assert_eq!(core.round(), r(0), "one validator is not more than a third");
    let out = core.handle(net.precommit(others[1], 5, None));
    assert_eq!(core.round(), r(5));
    assert!(
        timeouts(&out).contains(&(TimeoutKind::Propose, 5))
            || core.proposer(r(5)) == net.keys[me].public_key()
    );
}

#[test]
fn timeouts_of_other_rounds_or_steps_do_nothing() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    for kind in [TimeoutKind::Prevote, TimeoutKind::Precommit] {
        let out = core.handle(Input::Timeout(Timeout { height: h(1), round: r(0), kind }));
        // Precommit timeout at round 0 starts round 1 (L65 has no step condition); prevote does nothing.
        if kind == TimeoutKind::Prevote {
            assert!(out.is_empty());
        }
    }
    let round = core.round();
    let out =
        core.handle(Input::Timeout(Timeout { height: h(9), round, kind: TimeoutKind::Precommit }));
    assert!(out.is_empty());
    assert_eq!(core.round(), round);
}

#[test]
fn the_proposer_asks_for_a_value_and_re_proposes_its_valid_value() {
    let net = net(&[1, 1, 1, 1]);
    let (core0, _) = net.core(0);
    let proposer = net.index_of(core0.proposer(r(0)));
    let (mut core, out) = net.core(proposer);
    assert!(out.contains(&Output::RequestValue { height: h(1), round: r(0) }), "L18");
    let out = core.handle(Input::Value { height: h(1), round: r(0), value: value(7) });
    let proposal = out.iter().find_map(|o| match o {
        Output::BroadcastProposal(p) => Some(*p),
        _ => None,
    });
    let proposal = proposal.unwrap();
    assert_eq!((proposal.payload.value, proposal.payload.pol_round), (value(7), None));
    assert!(out.contains(&Output::Persist(Record::Proposal(proposal))));
    // Its own proposal counts as received: it prevotes it (L22).
    assert_eq!(votes(&out), vec![(PV, 0, Some(value(7)))]);
    // A second value for the same round is not proposed.
    let out = core.handle(Input::Value { height: h(1), round: r(0), value: value(8) });
    assert!(out.is_empty());
}
