//! Mempool admission, bounds, ordering and re-checks against a real ledger state.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../ledger/benches/chain/mod.rs"]
#[allow(dead_code, clippy::all)]
mod chain;

use chain::{CHAIN, Chain, seed};
use tokenbook_engine::mempool::{AdmitError, Mempool, MempoolConfig};
use tokenbook_ledger::Reject;
use tokenbook_protocol::*;

/// A chain with `traders` registered accounts and their keys.
fn setup(traders: u64) -> (Chain, Vec<(AccountId, Keypair)>) {
    chain::with_traders(&chain::genesis(tokenbook_ledger::genesis::inference_contract()), traders)
}

fn cancel_all(chain: &mut Chain, account: AccountId, key: &Keypair) -> Tx {
    chain.tx(account, key, TxBody::CancelAll(CancelAll { market: None }))
}

fn config(max_txs: usize, max_per_account: usize) -> MempoolConfig {
    MempoolConfig { max_txs, max_per_account, ..MempoolConfig::new(CHAIN) }
}

#[test]
fn admits_in_order_and_refuses_duplicates() {
    let (mut chain, keys) = setup(3);
    let mut pool = Mempool::new(config(100, 10));
    let txs: Vec<Tx> = keys.iter().map(|(a, k)| cancel_all(&mut chain, *a, k)).collect();
    for tx in &txs {
        pool.admit(tx.clone(), &chain.state).unwrap();
    }
    assert_eq!(pool.batch(10, usize::MAX), txs, "arrival order");
    assert_eq!(pool.admit(txs[1].clone(), &chain.state), Err(AdmitError::Duplicate));
    // Same account and nonce, another body.
    let mut twin = txs[0].payload.clone();
    twin.body = TxBody::SetDeadman(SetDeadman { timeout_ms: 0 });
    let twin = twin.sign(&keys[0].1, CHAIN);
    let err = pool.admit(twin, &chain.state).unwrap_err();
    assert_eq!(err.code(), "mempool_nonce_pending");
    assert_eq!(pool.len(), 3);
    // Bounded batches.
    assert_eq!(pool.batch(2, usize::MAX).len(), 2);
    let one = encode(&txs[0]).len();
    assert_eq!(pool.batch(10, one * 2 + 1).len(), 2);
}

#[test]
fn bad_signatures_are_named_in_a_batch() {
    let (mut chain, keys) = setup(50);
    let mut pool = Mempool::new(config(1_000, 10));
    let mut txs: Vec<Tx> = keys.iter().map(|(a, k)| cancel_all(&mut chain, *a, k)).collect();
    for i in [3, 17, 40] {
        txs[i].signature.0[5] ^= 1;
    }
    let verdicts = pool.admit_batch(txs, &chain.state);
    for (i, v) in verdicts.iter().enumerate() {
        if [3, 17, 40].contains(&i) {
            assert!(matches!(v, Err(AdmitError::Signature(_))), "tx {i}: {v:?}");
        } else {
            assert!(v.is_ok(), "tx {i}: {v:?}");
        }
    }
    assert_eq!(pool.len(), 47);
    // Signed for another chain: refused.
    let other = TxPayload {
        account: keys[0].0,
        signer: keys[0].1.public_key(),
        nonce: chain::GENESIS_MS + 999_999,
        body: TxBody::CancelAll(CancelAll { market: None }),
    }
    .sign(&keys[0].1, "another-chain");
    assert!(matches!(pool.admit(other, &chain.state), Err(AdmitError::Signature(_))));
}

#[test]
fn ledger_refusals_keep_their_codes_and_leave_no_trace() {
    let (mut chain, keys) = setup(1);
    let mut pool = Mempool::new(config(100, 10));
    let stranger = seed(9_999);
    let unknown =
        chain.tx(AccountId::new(77), &stranger, TxBody::CancelAll(CancelAll { market: None }));
    let err = pool.admit(unknown, &chain.state).unwrap_err();
    assert_eq!(err.code(), "account_unknown");
    let wrong_key = chain.tx(keys[0].0, &stranger, TxBody::CancelAll(CancelAll { market: None }));
    assert!(matches!(
        pool.admit(wrong_key, &chain.state),
        Err(AdmitError::Rejected(Reject { .. }))
    ));
    let bad_market = chain.tx(
        keys[0].0,
        &keys[0].1,
        TxBody::CancelOrder(CancelOrder {
            market: MarketId::new(42),
            order: OrderRef::Client(ClientOrderId::new(1)),
        }),
    );
    assert_eq!(pool.admit(bad_market, &chain.state).unwrap_err().code(), "market_unknown");
    assert!(pool.is_empty());
    assert_eq!(pool.bytes(), 0);
}

#[test]
fn bounds_hold_and_one_account_cannot_fill_the_pool() {
    let (mut chain, keys) = setup(4);
    let mut pool = Mempool::new(config(7, 3));
    let (a, ka) = &keys[0];
    let mut refused = 0;
    for _ in 0..6 {
        let tx = cancel_all(&mut chain, *a, ka);
        match pool.admit(tx, &chain.state) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e, AdmitError::AccountFull(*a));
                refused += 1;
            }
        }
    }
    assert_eq!((pool.len(), refused), (3, 3));
    // Others still get in, until the pool itself is full.
    for (b, kb) in &keys[1..3] {
        for _ in 0..2 {
            pool.admit(cancel_all(&mut chain, *b, kb), &chain.state).unwrap();
        }
    }
    assert_eq!(pool.len(), 7);
    let (b, kb) = &keys[3];
    assert_eq!(pool.admit(cancel_all(&mut chain, *b, kb), &chain.state), Err(AdmitError::Full));
    // A byte limit refuses too.
    let mut small = Mempool::new(MempoolConfig { max_bytes: 300, ..config(100, 100) });
    let mut admitted = 0;
    while small.admit(cancel_all(&mut chain, *b, kb), &chain.state).is_ok() {
        admitted += 1;
    }
    assert!(admitted >= 1 && small.bytes() <= 300, "{admitted} admitted, {} bytes", small.bytes());
}

#[test]
fn a_block_removes_what_it_included_and_what_it_made_invalid() {
    let (mut chain, keys) = setup(3);
    let mut pool = Mempool::new(config(100, 10));
    let included = cancel_all(&mut chain, keys[0].0, &keys[0].1);
    let waiting = cancel_all(&mut chain, keys[1].0, &keys[1].1);
    // A tx of account 2 whose nonce another tx (not in the pool) spends in the block.
    let doomed = cancel_all(&mut chain, keys[2].0, &keys[2].1);
    let mut rival = doomed.payload.clone();
    rival.body = TxBody::SetDeadman(SetDeadman { timeout_ms: 0 });
    let rival = rival.sign(&keys[2].1, CHAIN);
    for tx in [&included, &waiting, &doomed] {
        pool.admit(tx.clone(), &chain.state).unwrap();
    }
    chain.apply(&[included.clone(), rival]);
    let dropped = pool.on_block(&[included.hash()], &chain.state);
    let dropped: Vec<_> = dropped.into_iter().map(|(hash, why)| (hash, why.code.code())).collect();
    assert_eq!(dropped, vec![(doomed.hash(), "nonce_replayed")]);
    assert_eq!(pool.batch(10, usize::MAX), vec![waiting]);
    assert!(!pool.contains(&included.hash()));
    // Room and nonces freed: the account can send again.
    let again = cancel_all(&mut chain, keys[0].0, &keys[0].1);
    pool.admit(again, &chain.state).unwrap();
}
