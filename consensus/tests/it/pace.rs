//! The two liveness deviations that keep a faulty proposer cheap (crate docs, 8 and 9): a round
//! step where no value can win any more ends at once, and a proposer that sent nothing on
//! its last turn gets the short propose timeout until proposals of its arrive in time again.

use crate::harness::*;
use tokenbook_consensus::*;
use tokenbook_protocol::*;

fn propose_timeout(round: u32) -> Input {
    Input::Timeout(Timeout { height: h(1), round: r(round), kind: TimeoutKind::Propose })
}

/// A validator that timed out on round 0's proposal and, with two others' nil prevotes, has
/// precommitted nil; the other validators.
fn precommitted_nil(net: &Net) -> (Consensus<Ed25519>, Vec<usize>) {
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    core.handle(propose_timeout(0));
    let others = net.others(me);
    feed(&mut core, others.iter().take(2).map(|i| net.prevote(*i, 0, None)));
    (core, others)
}

#[test]
fn nil_precommits_that_leave_no_value_a_quorum_start_the_next_round_at_once() {
    let net = net(&[1, 1, 1, 1]);
    let (mut core, others) = precommitted_nil(&net);
    assert_eq!(core.step(), Step::Precommit);
    assert_eq!(core.round(), r(0), "my nil precommit alone: three unheard could decide a value");
    // Two nil precommits of four leave no value three, but only two of four have voted: the
    // others may still wait in this round for this validator's votes (seed 854), so it stays.
    core.handle(net.precommit(others[0], 0, None));
    assert_eq!(core.round(), r(0), "two of four heard: not yet the timeout's condition");
    core.handle(net.precommit(others[1], 0, None));
    assert_eq!(core.round(), r(1), "three of four heard, no value can win: the round ends");
}

#[test]
fn mixed_precommits_still_wait_for_the_precommit_timeout() {
    let net = net(&[1, 1, 1, 1]);
    let (mut core, others) = precommitted_nil(&net);
    // Value 1 has two of four and one is unheard: it could still win.
    let out = feed(
        &mut core,
        [net.precommit(others[0], 0, Some(value(1))), net.precommit(others[1], 0, Some(value(1)))],
    );
    assert_eq!(core.round(), r(0), "a value could still gather a quorum");
    assert_eq!(timeouts(&out), vec![(TimeoutKind::Precommit, 0)]);
}

#[test]
fn split_prevotes_no_value_can_win_precommit_nil_at_once() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = net.core(me);
    let proposal = net.proposal(&core, 0, value(1), None);
    core.handle(proposal);
    let others = net.others(me);
    // An equivocating proposer's two blocks split the prevotes two to two.
    let out = feed(
        &mut core,
        [net.prevote(others[0], 0, Some(value(2))), net.prevote(others[1], 0, Some(value(2)))],
    );
    assert!(votes(&out).is_empty(), "value 2 can still win with the last prevote");
    let out = core.handle(net.prevote(others[2], 0, Some(value(1))));
    assert_eq!(votes(&out), vec![(VoteKind::Precommit, 0, None)]);
}

#[test]
fn split_precommits_no_value_can_win_start_the_next_round_at_once() {
    let net = net(&[1, 1, 1, 1]);
    let (mut core, others) = precommitted_nil(&net);
    core.handle(net.precommit(others[0], 0, Some(value(1))));
    assert_eq!(core.round(), r(0), "value 1 has one, two are unheard");
    core.handle(net.precommit(others[1], 0, None));
    assert_eq!(core.round(), r(1), "value 1 has one, one is unheard: no quorum possible");
}

const ME: usize = 0;

/// Ends rounds of height 1 (each by a propose timeout and nil votes of the others) until one
/// that `proposer` proposes starts; the outputs on the way.
fn next_turn(net: &Net, core: &mut Consensus<Ed25519>, proposer: PublicKey) -> Vec<Output> {
    let others = net.others(ME);
    loop {
        let round = core.round().get();
        let mut out = core.handle(propose_timeout(round));
        out.extend(feed(core, others.iter().take(2).map(|i| net.prevote(*i, round, None))));
        out.extend(feed(core, others.iter().take(2).map(|i| net.precommit(*i, round, None))));
        out.extend(core.handle(Input::Timeout(Timeout {
            height: h(1),
            round: r(round),
            kind: TimeoutKind::Precommit,
        })));
        if core.proposer(core.round()) == proposer {
            return out;
        }
    }
}

fn propose_as(net: &Net, core: &Consensus<Ed25519>, round: u32) -> Input {
    let mut proposal = net.proposal(core, round, value(7), None);
    if let Input::Proposal(_, validity) = &mut proposal {
        *validity = Validity::Invalid;
    }
    proposal
}

#[test]
fn a_proposer_that_sent_nothing_on_its_turn_gets_the_short_timeout_until_it_proposes_in_time_again()
{
    let net = net(&[1, 1, 1, 1]);
    let (mut core, _) = net.core(ME);
    // Round 0's proposer if it is not me, else round 1's.
    if core.proposer(r(0)) == net.keys[ME].public_key() {
        let next = core.proposer(r(1));
        next_turn(&net, &mut core, next);
    }
    let absent = core.proposer(core.round());
    let params = TimeoutParams::default();
    let full = |round: u32| {
        params.duration_ms(Timeout { height: h(1), round: r(round), kind: TimeoutKind::Propose })
    };
    let short = |round: u32| params.absent_propose_ms(r(round));
    // Its turn passes with nothing from it: its next turn gets the short timeout.
    let out = next_turn(&net, &mut core, absent);
    let round = core.round().get();
    assert!(short(round) < full(round));
    assert_eq!(propose_delay(&out, round), Some(short(round)), "absent proposer, round {round}");
    // Its proposal arrives after the timeout (late): still absent.
    core.handle(propose_timeout(round));
    core.handle(propose_as(&net, &core, round));
    let out = next_turn(&net, &mut core, absent);
    let round = core.round().get();
    assert_eq!(propose_delay(&out, round), Some(short(round)), "late proposal, round {round}");
    // Its proposals arrive in time: after ABSENT_PARDON of them its turns get the full timeout.
    for paid in 1..=ABSENT_PARDON {
        let turn = core.round().get();
        core.handle(propose_as(&net, &core, turn));
        let out = next_turn(&net, &mut core, absent);
        let round = core.round().get();
        let expected = if paid == ABSENT_PARDON { full(round) } else { short(round) };
        assert_eq!(propose_delay(&out, round), Some(expected), "{paid} in time, round {round}");
    }
}
