//! Double-sign protection across restarts, equivocation evidence, and what the core ignores.

use crate::harness::*;
use tokenbook_consensus::*;
use tokenbook_protocol::*;

fn records(out: &[Output]) -> Vec<Record> {
    out.iter()
        .filter_map(|o| match o {
            Output::Persist(r) => Some(*r),
            _ => None,
        })
        .collect()
}

#[test]
fn after_a_restart_the_same_vote_is_repeated_never_a_different_one() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    let out = core.handle(net.proposal(&core, 0, value(1), None));
    let log = records(&out);
    assert_eq!(log.len(), 1);
    // Restarted: the propose timeout would prevote nil, but it already prevoted value 1.
    let (mut restarted, _) = net.restarted(me, log.clone());
    let out = restarted.handle(Input::Timeout(Timeout {
        height: h(1),
        round: r(0),
        kind: TimeoutKind::Propose,
    }));
    assert_eq!(votes(&out), vec![(VoteKind::Prevote, 0, Some(value(1)))]);
    assert!(records(&out).is_empty(), "nothing new was signed");
    let Record::Vote(first) = log[0] else { unreachable!() };
    assert!(out.contains(&Output::BroadcastVote(first)), "the very same signed vote");
}

#[test]
fn a_restarted_validator_keeps_its_lock_and_its_polka() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    let mut out = core.handle(net.proposal(&core, 0, value(1), None));
    for i in net.others(me).into_iter().take(2) {
        out.extend(core.handle(net.prevote(i, 0, Some(value(1)))));
    }
    assert_eq!(core.locked(), Some((r(0), value(1))));
    let (restarted, _) = net.restarted(me, records(&out));
    assert_eq!(restarted.locked(), Some((r(0), value(1))));
    assert_eq!(restarted.valid_round(), Some(r(0)));
    // Its own prevote and the two others': the polka a re-proposal needs.
    assert_eq!(restarted.votes(r(0), VoteKind::Prevote).len(), 3);
}

#[test]
fn equivocation_yields_evidence_once_and_both_votes_count_toward_their_values() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    let j = net.others(me)[0];
    assert!(core.handle(net.prevote(j, 0, Some(value(1)))).is_empty());
    let out = core.handle(net.prevote(j, 0, Some(value(2))));
    let evidence: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Evidence(e) => Some(*e),
            _ => None,
        })
        .collect();
    assert_eq!(evidence.len(), 1);
    evidence[0].check_shape().unwrap();
    assert_eq!(evidence[0].first.payload.validator, net.keys[j].public_key());
    // A third version and repeats: nothing more.
    assert!(core.handle(net.prevote(j, 0, None)).is_empty());
    assert!(core.handle(net.prevote(j, 0, Some(value(2)))).is_empty());
    let values: Vec<_> =
        core.votes(r(0), VoteKind::Prevote).iter().map(|v| v.payload.value).collect();
    assert_eq!(values, vec![Some(value(1)), Some(value(2))]);
}

#[test]
fn an_equivocating_proposers_second_proposal_is_ignored() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    let first = core.handle(net.proposal(&core, 0, value(1), None));
    assert_eq!(votes(&first).len(), 1);
    let second = core.handle(net.proposal(&core, 0, value(2), None));
    assert!(votes(&second).is_empty());
}

#[test]
fn strangers_bad_signatures_wrong_proposers_far_heights_are_ignored() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    let stranger = Keypair::from_seed(&[99; 32]);
    let payload = VotePayload {
        kind: VoteKind::Prevote,
        height: h(1),
        round: r(3),
        value: None,
        validator: stranger.public_key(),
    };
    let others = net.others(me);
    // A stranger and a validator (two "senders" of round 3) would skip if the stranger counted.
    core.handle(Input::Vote(payload.sign(&stranger, CHAIN)));
    core.handle(net.prevote(others[0], 3, None));
    assert_eq!(core.round(), r(0));
    // A forged signature.
    let mut forged = net.vote(others[1], VoteKind::Prevote, 3, None);
    forged.signature.0[0] ^= 1;
    core.handle(Input::Vote(forged));
    assert_eq!(core.round(), r(0));
    // A proposal signed by someone who is not the round's proposer.
    let wrong = (net.index_of(core.proposer(r(0))) + 1) % 4;
    let proposal = ProposalPayload {
        height: h(1),
        round: r(0),
        pol_round: None,
        value: value(1),
        proposer: net.keys[wrong].public_key(),
    }
    .sign(&net.keys[wrong], CHAIN);
    assert!(core.handle(Input::Proposal(proposal, Validity::Valid)).is_empty());
    // Votes for heights other than this one and the next.
    let far =
        VotePayload { height: h(5), ..net.vote(others[0], VoteKind::Precommit, 0, None).payload };
    assert!(core.handle(Input::Vote(far.sign(&net.keys[others[0]], CHAIN))).is_empty());
}

#[test]
fn next_height_votes_wait_for_the_height() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    let others = net.others(me);
    // Two validators' round-4 votes for height 2 arrive while at height 1: kept, not acted on.
    for i in others.iter().take(2) {
        let vote = VotePayload {
            kind: VoteKind::Prevote,
            height: h(2),
            round: r(4),
            value: None,
            validator: net.keys[*i].public_key(),
        };
        assert!(core.handle(Input::Vote(vote.sign(&net.keys[*i], CHAIN))).is_empty());
    }
    assert_eq!((core.height(), core.round()), (h(1), r(0)));
    // At height 2 they count: more than a third at round 4 → skip there.
    core.start_height(net.start(2, vec![]));
    assert_eq!((core.height(), core.round()), (h(2), r(4)));
}

#[test]
fn far_rounds_are_not_stored_but_count_for_the_skip() {
    let net = net(&[1, 1, 1, 1]);
    let mut keeper = tally::VoteKeeper::new(net.set.clone(), r(ROUNDS_AHEAD));
    let far = net.vote(0, VoteKind::Prevote, 1_000_000, None);
    assert_eq!(keeper.add(far), tally::Added::Ignored);
    assert!(keeper.tally(r(1_000_000), VoteKind::Prevote).is_none());
    assert_eq!(keeper.skip_round(r(0)), None);
    keeper.add(net.vote(1, VoteKind::Prevote, 2_000_000, None));
    // Two validators are beyond round 1,000,000: skip to the highest round both reached.
    assert_eq!(keeper.skip_round(r(0)), Some(r(1_000_000)));
}

#[test]
fn a_restart_resumes_in_the_highest_round_signed_with_its_votes_counted() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    let others = net.others(me);
    // Two validators at round 12: skip there (beyond the window of kept rounds at the start).
    feed(&mut core, others.iter().take(2).map(|i| net.precommit(*i, 12, None)));
    assert_eq!(core.round(), r(12));
    let out = core.handle(Input::Timeout(Timeout {
        height: h(1),
        round: r(12),
        kind: TimeoutKind::Propose,
    }));
    let (restarted, _) = net.restarted(me, records(&out));
    assert_eq!(restarted.round(), r(12));
    assert_eq!(restarted.votes(r(12), VoteKind::Prevote).len(), 1);
}
