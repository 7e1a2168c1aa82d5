//! The proof vectors of docs/wire-format.md ("State proofs") verify with the node's own
//! [`StateProof::verify`], and the proven account value decodes to the record the document
//! describes — so the section a verifier in another language follows cannot drift from the code.

use tokenbook_protocol::Hash;
use tokenbook_protocol::codec::decode_record;
use tokenbook_store::StateProof;

#[path = "../../../protocol/tests/it/fenced.rs"]
mod fenced;

/// Every `proof-vector` block as its `key: value` lines.
fn proof_vectors() -> Vec<std::collections::BTreeMap<String, String>> {
    fenced::blocks_tagged("proof-vector")
}

#[test]
fn the_documented_proofs_verify_and_their_claims_are_exact() {
    let vectors = proof_vectors();
    assert!(vectors.len() >= 2, "docs/wire-format.md must carry proof vectors");
    for v in &vectors {
        let name = &v["name"];
        let root = Hash::from_hex(&v["state_root"]).unwrap();
        let proof: StateProof = decode_record(&hex::decode(&v["proof_hex"]).unwrap()).unwrap();
        assert_eq!(hex::encode(&proof.key), v["key"], "{name}: key");
        let value = (v["value"] != "none").then(|| hex::decode(&v["value"]).unwrap());
        assert_eq!(proof.value, value, "{name}: value");
        proof.verify(&root).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The same proof claiming anything else, or against another root, fails.
        let mut lie = proof.clone();
        lie.value = match &proof.value {
            Some(_) => None,
            None => Some(vec![1]),
        };
        assert!(lie.verify(&root).is_err(), "{name}: a false claim verified");
        assert!(proof.verify(&Hash([7; 32])).is_err(), "{name}: verified against another root");
    }
}

#[test]
fn the_documented_account_value_reads_as_described() {
    let vectors = proof_vectors();
    let v = vectors.iter().find(|v| v["name"] == "account-5").expect("the account-5 vector");
    let account = tokenbook_ledger::kv::decode_account(&hex::decode(&v["value"]).unwrap()).unwrap();
    assert_eq!(account.id.get(), 5);
    assert_eq!(account.member.get(), 1);
    assert_eq!(account.kind, tokenbook_ledger::state::AccountKind::Trader);
    assert_eq!(account.cash.get(), 10_000_619_414_600, "cash 10,000,619.414600 USD");
    let positions: Vec<(u32, i64, i128)> =
        account.positions.iter().map(|(m, p)| (m.get(), p.qty.get(), p.cost.get())).collect();
    assert_eq!(positions, vec![(1, 13, 10_970_000_000), (2, 8, 3_740_000_000)]);
    assert!(account.open_orders.is_empty(), "stored without its order index");
}
