//! The executor over a real store: proposing, validating and committing heights, reopening.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../ledger/benches/chain/mod.rs"]
#[allow(dead_code, clippy::all)]
mod chain;

use chain::{CHAIN, GENESIS_MS, seed};
use tokenbook_engine::chain::NoneVerified;
use tokenbook_engine::executor::{ExecError, Executor, Proposed};
use tokenbook_ledger::kv;
use tokenbook_protocol::*;
use tokenbook_store::StoreConfig;

fn genesis() -> tokenbook_ledger::Genesis {
    chain::genesis(tokenbook_ledger::genesis::inference_contract())
}

fn open(dir: &std::path::Path) -> Executor {
    Executor::open(dir, StoreConfig::new(CHAIN), &genesis()).unwrap()
}

/// The proposal of `block` by its header's proposer, judged at the block's own time.
fn proposed(block: &Block) -> Proposed<'static> {
    Proposed {
        proposer: block.header.proposer,
        reproposed: false,
        prev_certificate: None,
        now_ms: block.header.time.get(),
        max_future_time_ms: 1_000,
    }
}

fn certificate(block: &Block) -> CommitCertificate {
    CommitCertificate {
        height: block.header.height,
        round: Round::new(0),
        block_hash: block.hash(),
        signatures: Vec::new(),
    }
}

/// Registrations signed by the member, nonces from `first`.
fn registrations(first: u64, n: u64) -> Vec<Tx> {
    let member = seed(0);
    (0..n)
        .map(|i| {
            TxPayload {
                account: AccountId::new(1),
                signer: member.public_key(),
                nonce: GENESIS_MS + first + i,
                body: TxBody::RegisterAccount(RegisterAccount {
                    owner: seed(1_000 + first + i).public_key(),
                    limits: chain::limits(),
                    self_trade_group: 0,
                }),
            }
            .sign(&member, CHAIN)
        })
        .collect()
}

#[test]
fn proposes_validates_commits_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut exec = open(dir.path());
    assert_eq!(exec.height(), Height::new(0));
    let proposer = seed(1).public_key();
    let mut roots = vec![exec.root()];
    for h in 1..=3u64 {
        let block = exec.propose(proposer, GENESIS_MS + h * 1_000, registrations(h * 10, 5));
        assert_eq!(
            block.header.state_root,
            *roots.last().unwrap(),
            "header carries the previous root"
        );
        exec.validate(&block, &proposed(&block), &NoneVerified).unwrap();
        let cert = certificate(&block);
        let (root, receipts) = exec.commit(&block, &cert).unwrap();
        assert_eq!(receipts.receipts.len(), 5);
        assert!(receipts.receipts.iter().all(|r| r.result.is_ok()));
        roots.push(root);
        let next = exec.next_header(proposer, 0, &[]);
        assert_eq!(next.prev_certificate_hash, cert.hash());
        assert_eq!(next.prev_block_hash, block.hash());
        assert!(next.time > block.header.time, "time moves on even from a late clock");
    }
    let state = kv::export(exec.ledger());
    drop(exec);
    let mut exec = open(dir.path());
    assert_eq!((exec.height(), exec.root()), (Height::new(3), roots[3]));
    assert!(kv::export(exec.ledger()) == state);
    // The reopened node builds the same next block as before.
    let block = exec.propose(proposer, GENESIS_MS + 9_000, registrations(90, 1));
    exec.validate(&block, &proposed(&block), &NoneVerified).unwrap();
    assert_eq!(
        block.header.prev_certificate_hash,
        exec.store().certificate(Height::new(3)).unwrap().unwrap().hash()
    );
}

#[test]
fn validation_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let mut exec = open(dir.path());
    let proposer = seed(1).public_key();
    let good = exec.propose(proposer, GENESIS_MS + 1_000, registrations(1, 3));
    let proposal = proposed(&good);
    exec.validate(&good, &proposal, &NoneVerified).unwrap();
    let mutate = |f: &dyn Fn(&mut Block)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let cases: Vec<(Block, &str)> = vec![
        (mutate(&|b| b.header.height = Height::new(2)), "height"),
        (mutate(&|b| b.header.prev_block_hash = Hash([1; 32])), "previous block hash"),
        (mutate(&|b| b.header.prev_certificate_hash = Hash([1; 32])), "previous certificate hash"),
        (mutate(&|b| b.txs.pop().map(drop).unwrap_or_default()), "tx_root"),
        (mutate(&|b| b.header.validator_set_hash = Hash([2; 32])), "validator set hash"),
        (mutate(&|b| b.header.chain_id = "other".into()), "chain id"),
        (mutate(&|b| b.header.time = Timestamp::new(GENESIS_MS)), "time"),
        (mutate(&|b| b.header.time = Timestamp::new(GENESIS_MS + 2_001)), "ahead of this node"),
        (mutate(&|b| b.header.proposer = seed(2).public_key()), "proposer"),
        (mutate(&|b| b.header.state_root = Hash([3; 32])), "state root"),
        (
            mutate(&|b| {
                b.txs[2] = b.txs[0].clone();
                b.header.tx_root = b.compute_tx_root();
            }),
            "tx 2 repeats tx 0",
        ),
    ];
    for (block, what) in cases {
        let err = exec.validate(&block, &proposal, &NoneVerified).unwrap_err();
        assert_eq!(err.code(), "block_invalid", "{what}: {err}");
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
    // A bad signature, with the tx root recomputed so only the signature is wrong.
    let mut forged = good.clone();
    forged.txs[1].signature.0[0] ^= 1;
    forged.header.tx_root = forged.compute_tx_root();
    let err = exec.validate(&forged, &proposal, &NoneVerified).unwrap_err();
    assert!(err.to_string().contains("tx 1 ("), "{err}");
    assert!(err.to_string().contains("has a bad signature"), "{err}");
    let other_root = mutate(&|b| b.header.state_root = Hash([3; 32]));
    // A decided block (catch-up) may name another certificate of the previous height than
    // this node's, and another proposer, but nothing else may differ; only there is a wrong
    // state root a divergence.
    let named_other = mutate(&|b| b.header.prev_certificate_hash = Hash([1; 32]));
    exec.validate_decided(&named_other, &NoneVerified).unwrap();
    exec.validate_decided(&mutate(&|b| b.header.proposer = seed(2).public_key()), &NoneVerified)
        .unwrap();
    let err = exec
        .validate_decided(&mutate(&|b| b.header.height = Height::new(2)), &NoneVerified)
        .unwrap_err();
    assert!(err.to_string().contains("height"), "{err}");
    assert!(matches!(
        exec.validate_decided(&other_root, &NoneVerified),
        Err(ExecError::Divergence { .. })
    ));
    // Nothing was committed by any of this.
    assert_eq!(exec.height(), Height::new(0));
}

/// Issue #16: a peer's snapshot request never exports on the consensus path. The first request
/// starts the export on its own thread and is answered at once with nothing; commits go on
/// meanwhile; once written, the snapshot is offered with the block that certifies its root.
#[test]
fn snapshots_are_exported_off_the_consensus_path() {
    use tokenbook_engine::Message;
    use tokenbook_engine::snapshots::SnapshotServer;
    let dir = tempfile::tempdir().unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let mut exec = open(dir.path());
    let proposer = seed(1).public_key();
    let commit = |exec: &mut Executor, h: u64| {
        let block = exec.propose(proposer, GENESIS_MS + h * 1_000, registrations(h * 10, 5));
        exec.commit(&block, &certificate(&block)).unwrap();
    };
    for h in 1..=3 {
        commit(&mut exec, h);
    }
    let mut server = SnapshotServer::new(snapshots.path().to_path_buf(), 100, 4);
    assert!(server.offer(exec.store()).is_none(), "nothing written yet");
    assert!(server.exporting());
    // The export reads its own tree version; the node commits on.
    commit(&mut exec, 4);
    server.finish_export();
    let Some(Message::SnapshotOffer { manifest, block, .. }) = server.offer(exec.store()) else {
        panic!("no offer once the export is written");
    };
    let manifest = tokenbook_store::decode_manifest(&manifest).unwrap();
    assert_eq!(manifest.height, Height::new(2));
    assert_eq!(block.header.height, Height::new(3));
    assert_eq!(manifest.root, block.header.state_root);
    assert!(manifest.chunk_hashes.len() > 1);
    assert!(!server.exporting(), "a fresh snapshot is reused, not exported again");
    assert!(matches!(server.chunk(Height::new(2), 0), Some(Message::ChunkReply { index: 0, .. })));
}
