//! The vote keeper's weights and the certificate verifier.

use crate::harness::*;
use tokenbook_consensus::tally::{Added, VoteKeeper, is_one_third, is_quorum};
use tokenbook_consensus::*;
use tokenbook_protocol::*;

#[test]
fn thresholds_are_strictly_above_two_thirds_and_one_third() {
    assert!(!is_quorum(2, 3) && is_quorum(3, 4) && !is_quorum(6, 9) && is_quorum(7, 9));
    assert!(!is_one_third(1, 3) && is_one_third(2, 4) && is_one_third(1, 2));
    assert!(is_quorum(u64::MAX, u64::MAX));
}

#[test]
fn weights_follow_voting_power() {
    let net = net(&[5, 1, 1, 1]);
    let mut keeper = VoteKeeper::new(net.set.clone(), r(8));
    assert_eq!(keeper.add(net.vote(0, VoteKind::Prevote, 0, Some(value(1)))), Added::Counted);
    // 5 of 8 is not more than two thirds; with one more it is.
    assert!(!keeper.quorum_for(r(0), VoteKind::Prevote, Some(value(1))));
    keeper.add(net.vote(1, VoteKind::Prevote, 0, Some(value(1))));
    assert!(keeper.quorum_for(r(0), VoteKind::Prevote, Some(value(1))));
    assert_eq!(keeper.add(net.vote(1, VoteKind::Prevote, 0, Some(value(1)))), Added::Repeat);
    assert_eq!(keeper.weight(r(0), VoteKind::Prevote, Some(value(1))), 6);
}

fn certificate(net: &Net, signers: &[usize]) -> CommitCertificate {
    let mut signatures: Vec<CommitSignature> = signers
        .iter()
        .map(|i| {
            let vote = net.vote(*i, VoteKind::Precommit, 2, Some(value(9)));
            CommitSignature { validator: vote.payload.validator, signature: vote.signature }
        })
        .collect();
    signatures.sort_by_key(|s| s.validator);
    CommitCertificate { height: h(1), round: r(2), block_hash: value(9), signatures }
}

#[test]
fn certificates_need_valid_sorted_signatures_of_more_than_two_thirds() {
    let net = net(&[1, 1, 1, 1]);
    verify_certificate(&certificate(&net, &[0, 1, 2]), &net.set, CHAIN, &Ed25519).unwrap();
    assert!(matches!(
        verify_certificate(&certificate(&net, &[0, 1]), &net.set, CHAIN, &Ed25519),
        Err(CertificateError::NoQuorum { signed: 2, total: 4 })
    ));
    let mut bad = certificate(&net, &[0, 1, 2]);
    bad.signatures[1].signature.0[5] ^= 1;
    assert!(matches!(
        verify_certificate(&bad, &net.set, CHAIN, &Ed25519),
        Err(CertificateError::BadSignature(_))
    ));
    let mut duplicated = certificate(&net, &[0, 1, 2]);
    duplicated.signatures[2] = duplicated.signatures[1];
    assert_eq!(
        verify_certificate(&duplicated, &net.set, CHAIN, &Ed25519),
        Err(CertificateError::NotCanonical)
    );
    let other = super::harness::net(&[1, 1, 1, 1, 1]);
    let stranger = certificate(&other, &[0, 1, 2, 4]);
    assert!(verify_certificate(&stranger, &net.set, CHAIN, &Ed25519).is_err());
    // Signed for another block: the signatures do not verify for this one.
    let mut moved = certificate(&net, &[0, 1, 2]);
    moved.block_hash = value(8);
    assert!(verify_certificate(&moved, &net.set, CHAIN, &Ed25519).is_err());
}
