//! Inclusion and non-inclusion proofs: valid, tampered, wrong root, wrong claim.

use crate::fixture;
use tokenbook_protocol::Height;
use tokenbook_store::tree::MAX_PROOF_BYTES;
use tokenbook_store::{ProofError, StateProof, Store};

fn account_key(id: u64) -> Vec<u8> {
    tokenbook_ledger::kv::account_key(tokenbook_protocol::AccountId::new(id))
}

fn committed_store(dir: &std::path::Path) -> (Store, fixture::Chain) {
    let chain = fixture::chain(11, 3, 300);
    let mut store = fixture::fresh_store(dir, &chain);
    fixture::commit_all(&mut store, &chain.heights);
    (store, chain)
}

#[test]
fn account_proofs_verify_against_the_root_only() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = committed_store(dir.path());
    let height = store.height().unwrap();
    let root = store.root().unwrap();
    for id in [1, 2, 500, 1001] {
        let proof = store.prove(&account_key(id), height).unwrap();
        assert!(proof.value.is_some(), "account {id} exists");
        assert_eq!(proof.value, store.get_state(&account_key(id)).unwrap());
        proof.verify(&root).unwrap();
        // The proof survives its own wire encoding.
        let bytes = tokenbook_protocol::codec::encode(&proof);
        let decoded: StateProof = tokenbook_protocol::codec::decode_record(&bytes).unwrap();
        decoded.verify(&root).unwrap();
    }
}

#[test]
fn absent_keys_have_non_inclusion_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = committed_store(dir.path());
    let height = store.height().unwrap();
    let root = store.root().unwrap();
    let absent = store.prove(&account_key(999_999), height).unwrap();
    assert_eq!(absent.value, None);
    absent.verify(&root).unwrap();
    // Claiming a value for the absent key fails; claiming absence of a present key fails.
    let mut claim = absent.clone();
    claim.value = Some(vec![1, 2, 3]);
    assert!(matches!(claim.verify(&root), Err(ProofError::Mismatch(_))));
    let mut present = store.prove(&account_key(1), height).unwrap();
    present.value = None;
    assert!(matches!(present.verify(&root), Err(ProofError::Mismatch(_))));
}

#[test]
fn tampered_proofs_and_wrong_roots_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = committed_store(dir.path());
    let height = store.height().unwrap();
    let root = store.root().unwrap();
    let proof = store.prove(&account_key(7), height).unwrap();
    // Another value.
    let mut tampered = proof.clone();
    tampered.value.as_mut().unwrap()[0] ^= 1;
    assert_eq!(tampered.verify(&root).unwrap_err().code(), "proof_mismatch");
    // Another key with the same value.
    let mut moved = proof.clone();
    moved.key = account_key(8);
    assert!(moved.verify(&root).is_err());
    // Another root.
    let mut wrong = root;
    wrong.0[31] ^= 1;
    assert!(matches!(proof.verify(&wrong), Err(ProofError::Mismatch(_))));
    // Every single-byte change of the proof bytes is caught, by the decoder or the check.
    for i in 0..proof.proof.len() {
        let mut bad = proof.clone();
        bad.proof[i] ^= 0x40;
        assert!(bad.verify(&root).is_err(), "flipping proof byte {i} went unnoticed");
    }
    // Trailing and oversized bytes are refused before decoding.
    let mut trailing = proof.clone();
    trailing.proof.push(0);
    assert!(trailing.verify(&root).is_err());
    let mut huge = proof;
    huge.proof = vec![0; MAX_PROOF_BYTES + 1];
    assert!(matches!(huge.verify(&root), Err(ProofError::Malformed(_))));
}

#[test]
fn old_heights_prove_their_own_state() {
    let dir = tempfile::tempdir().unwrap();
    let (store, chain) = committed_store(dir.path());
    let roots = fixture::mem_roots(&chain);
    let key = vec![tokenbook_ledger::kv::table::GLOBALS];
    let latest = store.height().unwrap().get();
    for h in 0..=latest {
        let proof = store.prove(&key, Height::new(h)).unwrap();
        proof.verify(&roots[h as usize]).unwrap();
        if h < latest {
            assert!(proof.verify(&roots[latest as usize]).is_err(), "height {h}'s globals differ");
        }
    }
    assert!(store.prove(&key, Height::new(latest + 1)).is_err());
    assert_eq!(store.root_at(Height::new(latest)).unwrap(), store.root().unwrap());
}
