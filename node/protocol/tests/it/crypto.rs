//! The signature rule: crafted edge cases, each refused with its own error, and single and
//! batch verification agreeing on all of them (the cofactored rule, docs/adr/0002).

use crate::samples::{self, CHAIN};
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use tokenbook_protocol::crypto::{
    BatchItem, diagnose, precheck_signature, signing_preimage, verify, verify_batch,
};
use tokenbook_protocol::*;

const MSG: &[u8] = b"place 10 lots at 1250";

/// Encodings of y = p + k (k < 19) that decompress: non-canonical encodings of real points.
fn non_canonical_point_encodings() -> Vec<[u8; 32]> {
    (0u8..19)
        .filter_map(|k| {
            let mut bytes = [0xffu8; 32];
            bytes[31] = 0x7f;
            bytes[0] = 0xed + k; // p + k, with p = 2^255 - 19
            CompressedEdwardsY(bytes).decompress().map(|_| bytes)
        })
        .collect()
}

/// 32 bytes whose y has no x on the curve.
fn not_a_point() -> [u8; 32] {
    (0u8..=255)
        .map(|b| [b; 32])
        .find(|bytes| CompressedEdwardsY(*bytes).decompress().is_none())
        .unwrap()
}

fn sign(n: u8, domain: Domain, chain: &str, msg: &[u8]) -> (VerifiedKey, Signature) {
    let key = samples::keypair(n);
    (key.verified_key(), key.sign(domain, chain, msg))
}

fn with_r(sig: &Signature, r: [u8; 32]) -> Signature {
    let mut out = sig.0;
    out[..32].copy_from_slice(&r);
    Signature(out)
}

fn preimage() -> Vec<u8> {
    signing_preimage(Domain::Tx, CHAIN, MSG)
}

#[test]
fn small_order_list_is_exactly_the_eight_torsion_points() {
    for point in EIGHT_TORSION {
        let enc = point.compress().0;
        let (key, sig) = sign(1, Domain::Tx, CHAIN, MSG);
        assert_eq!(precheck_signature(&with_r(&sig, enc)), Err(SigError::RSmallOrder));
        assert_eq!(verify(&key, &preimage(), &with_r(&sig, enc)), Err(SigError::RSmallOrder));
    }
    // Every listed encoding is refused by ed25519-dalek's verify_strict as well.
    let (key, sig) = sign(1, Domain::Tx, CHAIN, MSG);
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key().0).unwrap();
    for point in EIGHT_TORSION {
        let forged = with_r(&sig, point.compress().0);
        assert!(
            vk.verify_strict(&preimage(), &ed25519_dalek::Signature::from_bytes(&forged.0))
                .is_err()
        );
    }
}

#[test]
fn valid_signature_verifies() {
    let (key, sig) = sign(1, Domain::Tx, CHAIN, MSG);
    assert_eq!(verify(&key, &preimage(), &sig), Ok(()));
}

#[test]
fn scalar_at_or_above_group_order_is_refused() {
    let (key, sig) = sign(1, Domain::Tx, CHAIN, MSG);
    // s + l: same value mod l, so a lax verifier would accept it.
    let order_le: [u8; 32] =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
            .unwrap()
            .try_into()
            .unwrap();
    let mut s = [0u8; 32];
    s.copy_from_slice(&sig.0[32..]);
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s[i]) + u16::from(order_le[i]) + carry;
        s[i] = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    let mut bad = sig.0;
    bad[32..].copy_from_slice(&s);
    assert_eq!(verify(&key, &preimage(), &Signature(bad)), Err(SigError::ScalarNotCanonical));
    let mut exactly_l = sig.0;
    exactly_l[32..].copy_from_slice(&order_le);
    assert_eq!(verify(&key, &preimage(), &Signature(exactly_l)), Err(SigError::ScalarNotCanonical));
}

#[test]
fn bad_public_keys_are_refused_with_their_own_errors() {
    for point in EIGHT_TORSION {
        assert_eq!(VerifiedKey::new(&PublicKey(point.compress().0)), Err(SigError::KeySmallOrder));
    }
    let encodings = non_canonical_point_encodings();
    assert!(!encodings.is_empty());
    for enc in encodings {
        assert_eq!(VerifiedKey::new(&PublicKey(enc)), Err(SigError::KeyEncoding));
    }
    // The identity with its sign bit set ("negative zero") decompresses but is not canonical;
    // bytes that are not a point at all are refused too.
    let mut negative_zero = [0u8; 32];
    negative_zero[0] = 1;
    negative_zero[31] = 0x80;
    for bytes in [negative_zero, not_a_point()] {
        assert_eq!(VerifiedKey::new(&PublicKey(bytes)), Err(SigError::KeyEncoding));
    }
    // A real key plus a torsion component: passes verify_strict's small-order check, refused here.
    let honest = samples::keypair(1).verified_key().public_key();
    let a = CompressedEdwardsY(honest.0).decompress().unwrap();
    let mixed: EdwardsPoint = a + EIGHT_TORSION[1];
    assert_eq!(VerifiedKey::new(&PublicKey(mixed.compress().0)), Err(SigError::KeyTorsion));
}

#[test]
fn bad_r_encodings_are_refused() {
    let (key, sig) = sign(1, Domain::Tx, CHAIN, MSG);
    for enc in non_canonical_point_encodings() {
        assert_eq!(verify(&key, &preimage(), &with_r(&sig, enc)), Err(SigError::REncoding));
    }
    assert_eq!(verify(&key, &preimage(), &with_r(&sig, not_a_point())), Err(SigError::REncoding));
}

#[test]
fn wrong_chain_and_wrong_domain_are_refused() {
    let (key, sig) = sign(1, Domain::Tx, "another-chain", MSG);
    assert_eq!(verify(&key, &preimage(), &sig), Err(SigError::Mismatch));
    let (key, vote_sig) = sign(1, Domain::Vote, CHAIN, MSG);
    assert_eq!(verify(&key, &preimage(), &vote_sig), Err(SigError::Mismatch));
    assert_eq!(
        diagnose(&key, Domain::Tx, CHAIN, MSG, &vote_sig),
        Some(SigError::WrongDomain(Domain::Vote))
    );
    assert_eq!(diagnose(&key, Domain::Tx, CHAIN, MSG, &sig), Some(SigError::Mismatch));
    let (_, good) = sign(1, Domain::Tx, CHAIN, MSG);
    assert_eq!(diagnose(&key, Domain::Tx, CHAIN, MSG, &good), None);
    // Wrong key.
    let other = samples::keypair(2).verified_key();
    assert_eq!(verify(&other, &preimage(), &good), Err(SigError::Mismatch));
}

#[test]
fn tx_signature_binds_every_field() {
    let (_, tx) = samples::txs().into_iter().next().unwrap();
    let key = samples::keypair(1).verified_key();
    assert_eq!(tx.verify_signature(&key, CHAIN), Ok(()));
    assert_eq!(tx.verify_signature(&key, "tokenbook-other"), Err(SigError::Mismatch));
    let mut changed = tx.clone();
    changed.payload.nonce += 1;
    assert_eq!(changed.verify_signature(&key, CHAIN), Err(SigError::Mismatch));
    let mut changed = tx;
    changed.payload.account = AccountId::new(12);
    assert_eq!(changed.verify_signature(&key, CHAIN), Err(SigError::Mismatch));
}

/// Someone's signature with a torsion point added to its R (what a third party can do): the
/// hash `k` changes with R, so the equation fails, cofactored or not (docs/adr/0002).
fn mixed_order_r_signature() -> (VerifiedKey, Signature) {
    let (key, sig) = sign(1, Domain::Tx, CHAIN, MSG);
    let r = CompressedEdwardsY(sig.0[..32].try_into().unwrap()).decompress().unwrap();
    (key, with_r(&sig, (r + EIGHT_TORSION[4]).compress().0))
}

#[test]
fn torsion_added_to_anothers_r_is_refused_alone_and_in_a_batch() {
    let (key, sig) = mixed_order_r_signature();
    assert_eq!(precheck_signature(&sig), Ok(()));
    assert_eq!(verify(&key, &preimage(), &sig), Err(SigError::Mismatch));
    let mine = preimage();
    let item = BatchItem { key: &key, preimage: &mine, signature: &sig };
    assert_eq!(verify_batch(&[item]), vec![Err(SigError::Mismatch)]);
}

#[test]
fn a_key_holders_mixed_order_r_gets_one_verdict_alone_and_in_every_batch() {
    // Only the key's holder can make `R = [r]B + T` satisfy the equation (`s = r + k·a`). Under
    // the cofactored rule (docs/adr/0002) it is valid, singly and in any batch, so a verdict
    // reached in one batch holds in every other: the property a verified-tx cache rests on.
    let holder = samples::keypair(1);
    let key = holder.verified_key();
    let others: Vec<(VerifiedKey, Vec<u8>, Signature)> = (2..=5u8)
        .map(|n| {
            let msg = [MSG, &[n]].concat();
            let (key, sig) = sign(n, Domain::Tx, CHAIN, &msg);
            (key, signing_preimage(Domain::Tx, CHAIN, &msg), sig)
        })
        .collect();
    for nonce in 0..16 {
        let sig = crypto::craft::torsion_signature(&holder, &preimage(), nonce);
        assert_eq!(verify(&key, &preimage(), &sig), Ok(()), "alone, nonce {nonce}");
        for with in 0..=others.len() {
            let mut items: Vec<BatchItem<'_>> = others[..with]
                .iter()
                .map(|(key, preimage, signature)| BatchItem { key, preimage, signature })
                .collect();
            let mine = preimage();
            items.insert(with / 2, BatchItem { key: &key, preimage: &mine, signature: &sig });
            let verdicts = verify_batch(&items);
            assert!(
                verdicts.iter().all(Result::is_ok),
                "nonce {nonce}, {with} others: {verdicts:?}"
            );
        }
    }
}

#[test]
fn batch_and_single_agree_on_every_crafted_case() {
    let mut cases: Vec<(VerifiedKey, Vec<u8>, Signature)> = Vec::new();
    for n in 1..=20u8 {
        let msg = [MSG, &[n]].concat();
        let (key, sig) = sign(n, Domain::Tx, CHAIN, &msg);
        cases.push((key, signing_preimage(Domain::Tx, CHAIN, &msg), sig));
    }
    let (key, good) = sign(1, Domain::Tx, CHAIN, MSG);
    let mut s_plus_l = good.0;
    s_plus_l[63] |= 0x10;
    cases.push((key, preimage(), Signature(s_plus_l)));
    cases.push((key, preimage(), with_r(&good, EIGHT_TORSION[3].compress().0)));
    cases.push((key, preimage(), with_r(&good, non_canonical_point_encodings()[0])));
    let (k, wrong_chain) = sign(1, Domain::Tx, "another-chain", MSG);
    cases.push((k, preimage(), wrong_chain));
    let (k, wrong_domain) = sign(1, Domain::Proposal, CHAIN, MSG);
    cases.push((k, preimage(), wrong_domain));
    cases.push((samples::keypair(2).verified_key(), preimage(), good));
    let items: Vec<BatchItem<'_>> = cases
        .iter()
        .map(|(key, preimage, signature)| BatchItem { key, preimage, signature })
        .collect();
    let single: Vec<_> = cases.iter().map(|(k, p, s)| verify(k, p, s)).collect();
    assert_eq!(verify_batch(&items), single);
    assert_eq!(single.iter().filter(|v| v.is_ok()).count(), 20);
    // The good ones alone pass as a batch; so does an empty batch.
    assert!(verify_batch(&items[..20]).iter().all(Result::is_ok));
    assert!(verify_batch(&[]).is_empty());
}

#[test]
fn honest_r_is_always_torsion_free() {
    // Honest signers produce R = [r]B, which never has a torsion component: the cofactored
    // and cofactorless equations agree on every honest signature (ADR 0002).
    for n in 1..=8u8 {
        let (_, sig) = sign(n, Domain::Tx, CHAIN, MSG);
        let r = CompressedEdwardsY(sig.0[..32].try_into().unwrap()).decompress().unwrap();
        assert!(r.is_torsion_free());
    }
    assert!(ED25519_BASEPOINT_POINT.is_torsion_free());
}

/// The batch equation takes one term per distinct key (docs/adr/0002): many signatures by one
/// key pass together, and a forged one among them — or two of its signatures swapped between
/// their messages, whose errors could cancel if the key's terms were summed without the
/// per-signature coefficients — is named exactly as single verification names it.
#[test]
fn one_keys_many_signatures_are_judged_one_by_one_in_a_batch() {
    let mut cases: Vec<(VerifiedKey, Vec<u8>, Signature)> = (0..24u8)
        .map(|n| {
            let msg = [MSG, &[n]].concat();
            let (key, sig) = sign(1 + n % 3, Domain::Tx, CHAIN, &msg);
            (key, signing_preimage(Domain::Tx, CHAIN, &msg), sig)
        })
        .collect();
    let items = |cases: &[(VerifiedKey, Vec<u8>, Signature)]| -> Vec<Result<(), SigError>> {
        let items: Vec<BatchItem<'_>> = cases
            .iter()
            .map(|(key, preimage, signature)| BatchItem { key, preimage, signature })
            .collect();
        verify_batch(&items)
    };
    assert!(items(&cases).iter().all(Result::is_ok));
    // Signatures 0 and 3 are by the same key: swapped, each signs the other's message.
    let (first, fourth) = (cases[0].2, cases[3].2);
    cases[0].2 = fourth;
    cases[3].2 = first;
    cases[7].2.0[40] ^= 1;
    let single: Vec<_> = cases.iter().map(|(k, p, s)| verify(k, p, s)).collect();
    assert_eq!(items(&cases), single);
    let refused: Vec<usize> = (0..single.len()).filter(|&i| single[i].is_err()).collect();
    assert_eq!(refused, vec![0, 3, 7]);
}
