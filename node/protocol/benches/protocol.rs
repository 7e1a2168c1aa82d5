//! Codec, hashing and signature benchmarks (docs/benchmarks.md "Protocol").
//!
//! `cargo bench -p tokenbook-protocol --bench protocol`. Batch verification is measured beside
//! ed25519-dalek's own batch API on the same signatures, so the ratio holds on a noisy machine.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tokenbook_protocol::crypto::{BatchItem, verify, verify_batch};
use tokenbook_protocol::*;

const CHAIN: &str = "tokenbook-devnet";

fn place_order(n: u64, key: &Keypair) -> Tx {
    TxPayload {
        account: AccountId::new(11 + n),
        signer: key.public_key(),
        nonce: 1_800_000_000_000 + n,
        body: TxBody::PlaceOrder(NewOrder {
            market: MarketId::new(1),
            side: if n % 2 == 0 { Side::Buy } else { Side::Sell },
            kind: OrderKind::Limit,
            price: Price::new(1_250),
            qty: Qty::new(10),
            time_in_force: TimeInForce::Gtc,
            reduce_only: false,
            client_order_id: Some(ClientOrderId::new(n)),
            self_trade: SelfTradePrevention::ExpireMaker,
            trigger: None,
        }),
    }
    .sign(key, CHAIN)
}

fn codec(c: &mut Criterion) {
    let key = Keypair::from_seed(&[1; 32]);
    let tx = place_order(1, &key);
    let bytes = encode(&tx);
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode_place_order", |b| b.iter(|| encode(black_box(&tx))));
    g.bench_function("decode_place_order", |b| b.iter(|| decode::<Tx>(black_box(&bytes)).unwrap()));
    g.bench_function("tx_hash", |b| b.iter(|| black_box(&tx).hash()));
    g.bench_function("sign_place_order", |b| {
        b.iter(|| black_box(tx.payload.clone()).sign(&key, CHAIN))
    });
    g.finish();
}

struct Signed {
    keys: Vec<VerifiedKey>,
    preimages: Vec<Vec<u8>>,
    txs: Vec<Tx>,
}

/// `n` orders signed by `signers` keys in turn (each its own when `signers == n`).
fn signed(n: usize, signers: usize) -> Signed {
    let pairs: Vec<Keypair> = (0..n as u64)
        .map(|i| i % signers as u64)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&i.to_le_bytes());
            Keypair::from_seed(&seed)
        })
        .collect();
    let txs: Vec<Tx> = pairs.iter().enumerate().map(|(i, k)| place_order(i as u64, k)).collect();
    Signed {
        keys: pairs.iter().map(Keypair::verified_key).collect(),
        preimages: txs.iter().map(|tx| tx.payload.signing_preimage(CHAIN)).collect(),
        txs,
    }
}

fn signatures(c: &mut Criterion) {
    let one = signed(1, 1);
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_cofactored", |b| {
        b.iter(|| verify(&one.keys[0], &one.preimages[0], &one.txs[0].signature).unwrap())
    });
    let dalek_key = ed25519_dalek::VerifyingKey::from_bytes(&one.keys[0].public_key().0).unwrap();
    let dalek_sig = ed25519_dalek::Signature::from_bytes(&one.txs[0].signature.0);
    g.bench_function("single_dalek_verify_strict", |b| {
        b.iter(|| dalek_key.verify_strict(&one.preimages[0], &dalek_sig).unwrap())
    });
    g.bench_function("tx_decode_and_verify", |b| {
        let bytes = encode(&one.txs[0]);
        b.iter(|| {
            let tx: Tx = decode(black_box(&bytes)).unwrap();
            tx.verify_signature(&one.keys[0], CHAIN).unwrap();
        })
    });
    g.finish();

    let mut g = c.benchmark_group("verify_batch");
    // Distinct signers, then 256 orders by 16 signers (market makers: a few keys sign most
    // orders; the batch equation then takes one term per key).
    for (n, signers) in [(64usize, 64usize), (256, 256), (256, 16)] {
        let s = signed(n, signers);
        let id = |name: &str| BenchmarkId::new(name, format!("{n}/{signers}_keys"));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(id("tokenbook"), &s, |b, s| {
            b.iter_batched(
                || -> Vec<BatchItem<'_>> {
                    (0..n)
                        .map(|i| BatchItem {
                            key: &s.keys[i],
                            preimage: &s.preimages[i],
                            signature: &s.txs[i].signature,
                        })
                        .collect()
                },
                |items| assert!(verify_batch(&items).iter().all(Result::is_ok)),
                BatchSize::SmallInput,
            )
        });
        let messages: Vec<&[u8]> = s.preimages.iter().map(Vec::as_slice).collect();
        let sigs: Vec<ed25519_dalek::Signature> =
            s.txs.iter().map(|tx| ed25519_dalek::Signature::from_bytes(&tx.signature.0)).collect();
        let keys: Vec<ed25519_dalek::VerifyingKey> = s
            .keys
            .iter()
            .map(|k| ed25519_dalek::VerifyingKey::from_bytes(&k.public_key().0).unwrap())
            .collect();
        g.bench_with_input(id("dalek_verify_batch"), &n, |b, _| {
            b.iter(|| ed25519_dalek::verify_batch(&messages, &sigs, &keys).unwrap())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = codec, signatures
}
criterion_main!(benches);
