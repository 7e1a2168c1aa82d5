//! Reads the test vectors out of docs/wire-format.md and checks each against the code, so the
//! document a trading desk signs from cannot drift from what the node accepts.
//!
//! A vector is a fenced block tagged `vector` of `key: value` lines: `name`, `seed` (hex),
//! `chain_id`, `payload` (the tx payload as JSON), then the expected `payload_hex`,
//! `preimage_hex`, `signature`, `tx_hex` and `tx_hash`. With `TOKENBOOK_BLESS=1` the test
//! prints the computed block for any vector that does not match instead of only failing.

use std::collections::BTreeMap;
use tokenbook_protocol::*;

use crate::fenced::blocks_tagged;

fn vector_blocks() -> Vec<BTreeMap<String, String>> {
    blocks_tagged("vector")
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

/// Checks each block's expected fields against `compute`'s; with `TOKENBOOK_BLESS=1` prints the
/// computed fields of a block that does not match.
fn check_blocks(
    tag: &str,
    compute: impl Fn(&BTreeMap<String, String>) -> BTreeMap<&'static str, String>,
) {
    let blocks = blocks_tagged(tag);
    assert!(!blocks.is_empty(), "docs/wire-format.md must carry `{tag}` blocks");
    let bless = std::env::var_os("TOKENBOOK_BLESS").is_some();
    let mut failures = Vec::new();
    for block in &blocks {
        let expected = compute(block);
        let mismatched: Vec<_> =
            expected.iter().filter(|(k, v)| block.get(**k) != Some(*v)).map(|(k, _)| *k).collect();
        if mismatched.is_empty() {
            continue;
        }
        if bless {
            println!("{tag} {}:", block["name"]);
            for (k, v) in &expected {
                println!("{k}: {v}");
            }
        }
        failures.push(format!("{}: {mismatched:?}", block["name"]));
    }
    assert!(failures.is_empty(), "{tag} blocks out of date: {failures:?}");
}

fn keypair(seed_hex: &str) -> Keypair {
    Keypair::from_seed(&hex::decode(seed_hex).unwrap().try_into().unwrap())
}

fn value(text: &str) -> Option<Hash> {
    (text != "nil").then(|| Hash::from_hex(text).unwrap())
}

fn number<T: std::str::FromStr>(block: &BTreeMap<String, String>, key: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    block[key].parse().unwrap()
}

#[test]
fn vote_vectors_match_the_code() {
    check_blocks("vote-vector", |block| {
        let key = keypair(&block["seed"]);
        let chain = &block["chain_id"];
        let kind = match block["kind"].as_str() {
            "prevote" => VoteKind::Prevote,
            "precommit" => VoteKind::Precommit,
            other => panic!("vote kind {other}"),
        };
        let payload = VotePayload {
            kind,
            height: Height::new(number(block, "height")),
            round: Round::new(number(block, "round")),
            value: value(&block["value"]),
            validator: key.public_key(),
        };
        let vote = payload.sign(&key, chain);
        assert_eq!(decode::<Vote>(&encode(&vote)).unwrap(), vote);
        let mut out = BTreeMap::new();
        out.insert("payload_hex", hex::encode(encode(&payload)));
        out.insert("preimage_hex", hex::encode(payload.signing_preimage(chain)));
        out.insert("signature", vote.signature.to_hex());
        out
    });
}

#[test]
fn proposal_vectors_match_the_code() {
    check_blocks("proposal-vector", |block| {
        let key = keypair(&block["seed"]);
        let chain = &block["chain_id"];
        let payload = ProposalPayload {
            height: Height::new(number(block, "height")),
            round: Round::new(number(block, "round")),
            pol_round: (block["pol_round"] != "nil")
                .then(|| Round::new(number(block, "pol_round"))),
            value: value(&block["value"]).expect("a proposal names a block"),
            proposer: key.public_key(),
        };
        let proposal = payload.sign(&key, chain);
        let mut out = BTreeMap::new();
        out.insert("payload_hex", hex::encode(encode(&payload)));
        out.insert("preimage_hex", hex::encode(payload.signing_preimage(chain)));
        out.insert("signature", proposal.signature.to_hex());
        out
    });
}

#[test]
fn validator_set_vectors_match_the_code() {
    check_blocks("validator-set-vector", |block| {
        let validators = block["validators"]
            .split(',')
            .map(|entry| {
                let parts: Vec<&str> = entry.split(':').collect();
                Validator {
                    consensus_key: keypair(parts[0]).public_key(),
                    network_key: keypair(parts[1]).public_key(),
                    power: parts[2].parse().unwrap(),
                }
            })
            .collect();
        let set = ValidatorSet::new(validators).unwrap();
        let mut out = BTreeMap::new();
        out.insert("set_hex", hex::encode(encode(&set)));
        out.insert("set_hash", set.hash().to_hex());
        out
    });
}
