//! The canonical codec: round trips, canonicality, and every kind of bad input.

use crate::samples::{self, CHAIN};
use proptest::prelude::*;
use tokenbook_protocol::codec::{CodecError, decode, encode};
use tokenbook_protocol::*;

fn place_order_tx() -> Tx {
    samples::txs().into_iter().next().unwrap().1
}

#[test]
fn every_sample_round_trips_byte_for_byte() {
    fn check<T: Wire + bincode::Decode<()> + PartialEq + core::fmt::Debug>(value: &T) {
        let bytes = encode(value);
        let back: T = decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", T::KIND));
        assert_eq!(&back, value);
        assert_eq!(encode(&back), bytes);
    }
    for (_, tx) in samples::txs() {
        check(&tx);
    }
    check(&samples::block());
    check(&samples::block().header);
    check(&samples::proposal());
    check(&samples::vote(VoteKind::Precommit, None, 1));
    check(&samples::certificate());
    check(&samples::evidence());
    check(&samples::validator_set());
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = encode(&place_order_tx());
    bytes.push(0);
    assert_eq!(decode::<Tx>(&bytes), Err(CodecError::TrailingBytes { kind: "tx", extra: 1 }));
}

#[test]
fn truncation_is_refused_at_every_length() {
    let bytes = encode(&place_order_tx());
    for len in 0..bytes.len() {
        let err = decode::<Tx>(&bytes[..len]).unwrap_err();
        assert_eq!(err.code(), "decode_truncated", "length {len}: {err}");
    }
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    let bytes = vec![0u8; MAX_TX_BYTES + 1];
    assert!(matches!(decode::<Tx>(&bytes), Err(CodecError::TooLarge { .. })));
}

/// Offset of the first byte where two encodings differ.
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).position(|(x, y)| x != y).unwrap()
}

#[test]
fn max_length_prefix_is_refused_without_allocating() {
    // A block whose tx list claims u64::MAX entries: the length sits right after the header.
    let block = samples::block();
    let header_len = encode(&block.header).len();
    let mut bytes = encode(&block);
    bytes[header_len..header_len + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(decode::<Block>(&bytes).unwrap_err().code(), "decode_length_limit");

    // A string (market symbol) whose length claims u64::MAX, and one just past the limit.
    let (_, tx) = samples::txs().into_iter().find(|(n, _)| n == "propose_list_market").unwrap();
    let mut bytes = encode(&tx);
    let symbol_len_at = 48 + 4 + 4; // payload head, TxBody tag, GovAction tag
    assert_eq!(&bytes[symbol_len_at..symbol_len_at + 8], &18u64.to_le_bytes());
    for claimed in [u64::MAX, (MAX_TX_BYTES * 8 + 1) as u64] {
        bytes[symbol_len_at..symbol_len_at + 8].copy_from_slice(&claimed.to_le_bytes());
        assert_eq!(decode::<Tx>(&bytes).unwrap_err().code(), "decode_length_limit");
    }
}

#[test]
fn unknown_enum_tags_are_refused() {
    let mut bytes = encode(&place_order_tx());
    // TxBody's tag follows account (8), signer (32) and nonce (8).
    assert_eq!(&bytes[48..52], &0u32.to_le_bytes());
    bytes[48..52].copy_from_slice(&17u32.to_le_bytes());
    assert_eq!(decode::<Tx>(&bytes).unwrap_err().code(), "decode_bad_tag");
}

#[test]
fn non_canonical_bool_and_option_tags_are_refused() {
    let tx = place_order_tx();
    let TxBody::PlaceOrder(order) = &tx.payload.body else { unreachable!() };
    let flipped = TxPayload {
        body: TxBody::PlaceOrder(NewOrder { reduce_only: true, ..order.clone() }),
        ..tx.payload.clone()
    };
    let base = encode(&tx);
    let at = first_difference(&base, &encode(&flipped.sign(&samples::keypair(1), CHAIN)));
    for bad in [2u8, 0xff] {
        let mut bytes = base.clone();
        bytes[at] = bad;
        assert_eq!(decode::<Tx>(&bytes).unwrap_err().code(), "decode_bad_bool");
    }
    // The client order id's Option tag is the byte after the bool.
    let mut bytes = base;
    assert_eq!(bytes[at + 1], 1);
    bytes[at + 1] = 2;
    assert_eq!(decode::<Tx>(&bytes).unwrap_err().code(), "decode_bad_tag");
}

#[test]
fn invalid_utf8_and_bad_symbols_are_refused() {
    let (_, tx) = samples::txs().into_iter().find(|(n, _)| n == "propose_list_market").unwrap();
    let bytes = encode(&tx);
    let symbol_at = 48 + 4 + 4 + 8;
    let mut bad_utf8 = bytes.clone();
    bad_utf8[symbol_at] = 0xff;
    assert_eq!(decode::<Tx>(&bad_utf8).unwrap_err().code(), "decode_bad_utf8");
    let mut lower_case = bytes;
    lower_case[symbol_at] = b'a';
    assert_eq!(decode::<Tx>(&lower_case).unwrap_err().code(), "decode_malformed");
}

#[test]
fn block_shape_rules() {
    let mut block = samples::block();
    block.header.tx_root = Hash::ZERO;
    assert_eq!(decode::<Block>(&encode(&block)).unwrap_err().code(), "decode_malformed");
    let mut cert = samples::certificate();
    cert.signatures.reverse();
    assert_eq!(decode::<CommitCertificate>(&encode(&cert)).unwrap_err().code(), "decode_malformed");
    let e = samples::evidence();
    let swapped = DuplicateVoteEvidence { first: e.second, second: e.first };
    assert_eq!(
        decode::<DuplicateVoteEvidence>(&encode(&swapped)).unwrap_err().code(),
        "decode_malformed"
    );
}

#[test]
fn a_full_block_decodes_within_its_allocation_limit() {
    let key = samples::keypair(1);
    let tx = place_order_tx();
    let txs: Vec<Tx> = (0..MAX_BLOCK_TXS as u64)
        .map(|i| TxPayload { nonce: i, ..tx.payload.clone() }.sign(&key, CHAIN))
        .collect();
    let mut block = samples::block();
    block.header.tx_root = tx_root(&txs);
    block.txs = txs;
    let bytes = encode(&block);
    assert!(bytes.len() <= MAX_BLOCK_BYTES);
    assert_eq!(decode::<Block>(&bytes).unwrap(), block);
    block.txs.push(tx);
    block.header.tx_root = block.compute_tx_root();
    assert_eq!(decode::<Block>(&encode(&block)).unwrap_err().code(), "decode_malformed");
}

fn arb_new_order() -> impl Strategy<Value = NewOrder> {
    let tif = prop_oneof![
        Just(TimeInForce::Gtc),
        any::<u64>().prop_map(|t| TimeInForce::Gtt(Timestamp::new(t))),
        Just(TimeInForce::Ioc),
        Just(TimeInForce::Fok),
        Just(TimeInForce::PostOnly),
    ];
    let stp = prop_oneof![
        Just(SelfTradePrevention::ExpireMaker),
        Just(SelfTradePrevention::ExpireTaker),
        Just(SelfTradePrevention::ExpireBoth),
    ];
    let trigger =
        proptest::option::of((any::<bool>(), any::<i64>()).prop_map(|(stop, p)| Trigger {
            kind: if stop { TriggerKind::Stop } else { TriggerKind::TakeProfit },
            price: Price::new(p),
        }));
    (
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
        any::<i64>(),
        any::<i64>(),
        tif,
        any::<bool>(),
        proptest::option::of(any::<u64>()),
        stp,
        trigger,
    )
        .prop_map(|(m, buy, limit, price, qty, tif, ro, coid, stp, trigger)| NewOrder {
            market: MarketId::new(m),
            side: if buy { Side::Buy } else { Side::Sell },
            kind: if limit { OrderKind::Limit } else { OrderKind::Market },
            price: Price::new(price),
            qty: Qty::new(qty),
            time_in_force: tif,
            reduce_only: ro,
            client_order_id: coid.map(ClientOrderId::new),
            self_trade: stp,
            trigger,
        })
}

fn arb_body() -> impl Strategy<Value = TxBody> {
    prop_oneof![
        arb_new_order().prop_map(TxBody::PlaceOrder),
        (any::<u32>(), any::<u64>()).prop_map(|(m, id)| TxBody::CancelOrder(CancelOrder {
            market: MarketId::new(m),
            order: OrderRef::Id(OrderId::new(id)),
        })),
        proptest::option::of(any::<u32>())
            .prop_map(|m| TxBody::CancelAll(CancelAll { market: m.map(MarketId::new) })),
        (any::<u64>(), any::<i128>(), any::<[u8; 32]>()).prop_map(
            |(a, amount, r)| TxBody::Deposit(CashTransfer {
                account: AccountId::new(a),
                amount: Cash::new(amount),
                reference: Hash(r),
            })
        ),
        (1usize..samples::bodies().len()).prop_map(|i| samples::bodies().swap_remove(i).1),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn random_txs_round_trip(account in any::<u64>(), nonce in any::<u64>(), body in arb_body(), sig in any::<[u8; 32]>()) {
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&sig);
        let tx = Tx {
            payload: TxPayload { account: AccountId::new(account), signer: samples::keypair(3).public_key(), nonce, body },
            signature: Signature(signature),
        };
        let bytes = encode(&tx);
        prop_assert_eq!(decode::<Tx>(&bytes).unwrap(), tx);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode::<Tx>(&bytes);
        let _ = decode::<Block>(&bytes);
        let _ = decode::<Vote>(&bytes);
        let _ = decode::<Proposal>(&bytes);
        let _ = decode::<CommitCertificate>(&bytes);
        let _ = decode::<DuplicateVoteEvidence>(&bytes);
        let _ = decode::<ValidatorSet>(&bytes);
        let _ = decode::<BlockHeader>(&bytes);
    }

    /// Any mutation of a valid tx either fails to decode or decodes to a value that re-encodes
    /// to exactly the mutated bytes: there is no second encoding of any value.
    #[test]
    fn mutated_txs_are_refused_or_canonical(
        index in 0usize..64, at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>(),
        extend in proptest::collection::vec(any::<u8>(), 0..4),
    ) {
        let txs = samples::txs();
        let mut bytes = encode(&txs[index % txs.len()].1);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if extend.is_empty() {
            bytes.truncate(cut.index(bytes.len() + 1));
        } else {
            bytes.extend_from_slice(&extend);
        }
        if let Ok(tx) = decode::<Tx>(&bytes) {
            prop_assert_eq!(encode(&tx), bytes);
        }
    }
}
