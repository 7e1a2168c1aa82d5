//! Reads the test vectors out of docs/wire-format.md and checks each against the code, so the
//! document a trading desk signs from cannot drift from what the node accepts.
//!
//! A vector is a fenced block tagged `vector` of `key: value` lines: `name`, `seed` (hex),
//! `chain_id`, `payload` (the tx payload as JSON), then the expected `payload_hex`,
//! `preimage_hex`, `signature`, `tx_hex` and `tx_hash`. With `TOKENBOOK_BLESS=1` the test
//! prints the computed block for any vector that does not match instead of only failing.

use std::collections::BTreeMap;
use tokenbook_protocol::*;

const DOC: &str = include_str!("../../../../docs/wire-format.md");

fn vector_blocks() -> Vec<BTreeMap<String, String>> {
    let mut blocks = Vec::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    for line in DOC.lines() {
        match (&mut current, line.trim()) {
            (None, "```vector") => current = Some(BTreeMap::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), text) => {
                let (key, value) = text.split_once(": ").expect("vector lines are `key: value`");
                block.insert(key.to_owned(), value.to_owned());
            }
            (None, _) => {}
        }
    }
    blocks
}

fn computed(block: &BTreeMap<String, String>) -> (Tx, BTreeMap<&'static str, String>) {
    let seed: [u8; 32] = hex::decode(&block["seed"]).unwrap().try_into().unwrap();
    let key = Keypair::from_seed(&seed);
    let chain = &block["chain_id"];
    let payload: TxPayload = serde_json::from_str(&block["payload"]).unwrap();
    assert_eq!(
        payload.signer,
        key.public_key(),
        "vector {}: signer must be the seed's key",
        block["name"]
    );
    let tx = payload.clone().sign(&key, chain);
    let mut out = BTreeMap::new();
    out.insert("payload_hex", hex::encode(encode(&payload)));
    out.insert("preimage_hex", hex::encode(payload.signing_preimage(chain)));
    out.insert("signature", tx.signature.to_hex());
    out.insert("tx_hex", hex::encode(encode(&tx)));
    out.insert("tx_hash", tx.hash().to_hex());
    (tx, out)
}

#[test]
fn wire_format_document_vectors_match_the_code() {
    let blocks = vector_blocks();
    assert!(blocks.len() >= 3, "docs/wire-format.md must carry at least 3 vectors");
    let bless = std::env::var_os("TOKENBOOK_BLESS").is_some();
    let mut failures = Vec::new();
    for block in &blocks {
        let (tx, expected) = computed(block);
        let mismatched: Vec<_> =
            expected.iter().filter(|(k, v)| block.get(**k) != Some(*v)).collect();
        if mismatched.is_empty() {
            // And the other direction: the documented bytes decode to the documented tx.
            let decoded: Tx = decode(&hex::decode(&block["tx_hex"]).unwrap()).unwrap();
            assert_eq!(decoded, tx);
            continue;
        }
        if bless {
            println!("vector {}:", block["name"]);
            for (k, v) in &expected {
                println!("{k}: {v}");
            }
        }
        failures.push(format!(
            "{}: {:?}",
            block["name"],
            mismatched.iter().map(|(k, _)| k).collect::<Vec<_>>()
        ));
    }
    assert!(failures.is_empty(), "vectors out of date: {failures:?}");
}
