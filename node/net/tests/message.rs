//! The validators' message codec: round trips, limits, trailing bytes, shape rules, and no panic
//! on arbitrary bytes.

#![allow(missing_docs, clippy::unwrap_used)]

use proptest::prelude::*;
use tokenbook_net::{MAX_MESSAGE_BYTES, MAX_TX_BATCH, Message};
use tokenbook_protocol::*;

const CHAIN: &str = "net-test";

fn key() -> Keypair {
    Keypair::from_seed(&[7; 32])
}

fn block(height: u64) -> Block {
    let txs = vec![
        TxPayload {
            account: AccountId::new(1),
            signer: key().public_key(),
            nonce: 1,
            body: TxBody::CancelAll(CancelAll { market: None }),
        }
        .sign(&key(), CHAIN),
    ];
    let header = BlockHeader {
        chain_id: CHAIN.into(),
        height: Height::new(height),
        time: Timestamp::new(5),
        proposer: key().public_key(),
        prev_block_hash: Hash::ZERO,
        prev_certificate_hash: Hash::ZERO,
        tx_root: tx_root(&txs),
        state_root: Hash::ZERO,
        validator_set_hash: Hash::ZERO,
        next_validator_set_hash: Hash::ZERO,
    };
    Block { header, txs }
}

fn proposal(block: &Block) -> Proposal {
    ProposalPayload {
        height: block.header.height,
        round: Round::new(0),
        pol_round: None,
        value: block.hash(),
        proposer: key().public_key(),
    }
    .sign(&key(), CHAIN)
}

fn samples() -> Vec<Message> {
    let b = block(3);
    let vote = VotePayload {
        kind: VoteKind::Prevote,
        height: Height::new(3),
        round: Round::new(1),
        value: Some(b.hash()),
        validator: key().public_key(),
    }
    .sign(&key(), CHAIN);
    let certificate = CommitCertificate {
        height: Height::new(3),
        round: Round::new(0),
        block_hash: b.hash(),
        signatures: Vec::new(),
    };
    vec![
        Message::Proposal { proposal: proposal(&b), block: b.clone(), prev_certificate: None },
        Message::Vote(vote),
        Message::Txs(b.txs.clone()),
        Message::SyncRequest { from: Height::new(9) },
        Message::SyncReply { block: b.clone(), certificate: certificate.clone() },
        Message::SnapshotRequest,
        Message::SnapshotOffer { manifest: vec![1, 2, 3], block: b, certificate },
        Message::ChunkRequest { height: Height::new(2), index: 7 },
        Message::ChunkReply { height: Height::new(2), index: 7, bytes: vec![9; 100] },
    ]
}

#[test]
fn every_message_round_trips_and_refuses_trailing_bytes() {
    for message in samples() {
        let bytes = message.encode();
        assert_eq!(Message::decode(&bytes).unwrap(), message);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Message::decode(&longer).is_err(), "trailing byte accepted: {message:?}");
        assert!(Message::decode(&bytes[..bytes.len() - 1]).is_err(), "truncated accepted");
    }
}

#[test]
fn inconsistent_or_oversized_messages_are_refused() {
    let b = block(3);
    let other = block(4);
    let mismatched =
        Message::Proposal { proposal: proposal(&other), block: b.clone(), prev_certificate: None };
    let err = Message::decode(&mismatched.encode()).unwrap_err();
    assert!(err.to_string().contains("value is not the block's hash"), "{err}");
    let wrong_cert = Message::SyncReply {
        block: b.clone(),
        certificate: CommitCertificate {
            height: Height::new(3),
            round: Round::new(0),
            block_hash: other.hash(),
            signatures: Vec::new(),
        },
    };
    assert!(Message::decode(&wrong_cert.encode()).is_err());
    let flood = Message::Txs(vec![b.txs[0].clone(); MAX_TX_BATCH + 1]);
    assert!(Message::decode(&flood.encode()).is_err());
    let huge = vec![0u8; MAX_MESSAGE_BYTES + 1];
    assert_eq!(Message::decode(&huge).unwrap_err().code(), "decode_too_large");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2_048)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(index in 0usize..9, position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = samples()[index].encode();
        let at = position.index(bytes.len());
        bytes[at] = byte;
        let _ = Message::decode(&bytes);
    }
}
