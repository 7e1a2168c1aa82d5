//! End-of-block risk work on a large ledger (docs/benchmarks.md "Marks, margin and
//! liquidation"): 100,000 accounts, each holding a position, and blocks whose only tx is the
//! oracle publication. Each block aggregates the index, moves the mark, and checks every account
//! against maintenance margin (the liquidation scan); one variant also crosses a
//! variation-margin epoch, moving every position's PnL into cash.
//!
//! `cargo bench -p tokenbook-ledger --bench risk`

// A benchmark measures wall time; the pure crate's bans on clocks apply to the library only.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
#![allow(missing_docs, clippy::unwrap_used, clippy::cast_possible_truncation)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use tokenbook_ledger::state::GenesisMember;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

const CHAIN: &str = "tokenbook-bench";
const GENESIS_MS: u64 = 1_795_478_400_000;
const ACCOUNTS: u64 = 100_000;
const MID: i64 = 1_000;

fn seed(n: u64) -> Keypair {
    let mut bytes = [0x44u8; 32];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    Keypair::from_seed(&bytes)
}

fn genesis() -> Genesis {
    let spec = MarketSpec {
        // Far enough out that no run of the benchmark reaches expiry.
        expiry: Timestamp::new(GENESIS_MS + 10 * 365 * 86_400_000),
        ..tokenbook_ledger::genesis::inference_contract()
    };
    Genesis {
        chain_id: CHAIN.into(),
        time: Timestamp::new(GENESIS_MS),
        members: vec![GenesisMember {
            name: "Member".into(),
            key: seed(0).public_key(),
            validator: Some(Validator {
                consensus_key: seed(1).public_key(),
                network_key: seed(2).public_key(),
                power: 1,
            }),
        }],
        admins: Vec::new(),
        indexes: vec![IndexSpec { name: "frontier".into() }],
        markets: vec![spec],
        risk: tokenbook_ledger::genesis::devnet_risk(),
        member_limits: AccountLimits {
            max_order_qty: Qty::new(1_000),
            max_open_orders: 1_000,
            max_position: Qty::new(1_000_000),
        },
    }
}

struct Chain {
    state: LedgerState,
    time: u64,
    nonce: u64,
}

impl Chain {
    fn apply_at(&mut self, time: u64, txs: &[Tx]) -> Duration {
        self.time = time;
        let header = BlockHeader {
            chain_id: CHAIN.into(),
            height: self.state.height.next().unwrap(),
            time: Timestamp::new(time),
            proposer: seed(1).public_key(),
            prev_block_hash: self.state.last_block_hash,
            prev_certificate_hash: Hash::ZERO,
            tx_root: tx_root(txs),
            state_root: Hash::ZERO,
            validator_set_hash: Hash::ZERO,
            next_validator_set_hash: Hash::ZERO,
        };
        let start = Instant::now();
        let out = apply_block(&mut self.state, &header, txs).unwrap();
        let took = start.elapsed();
        if let Some(refused) = out.receipts.iter().find(|r| r.result.is_err()) {
            panic!("a tx was refused: {refused:?}");
        }
        took
    }

    fn tx(&mut self, account: AccountId, key: &Keypair, body: TxBody) -> Tx {
        self.nonce += 1;
        TxPayload { account, signer: key.public_key(), nonce: GENESIS_MS + self.nonce, body }
            .sign(key, CHAIN)
    }

    /// A block whose only tx is the member's publication of the index at `ticks`.
    fn publish(&mut self, time: u64, ticks: i64) -> Duration {
        let body = TxBody::PublishIndex(IndexObservation {
            index: IndexId::new(1),
            price: Cash::new(i128::from(ticks) * 10_000),
            observed_at: Timestamp::new(time),
        });
        // Block time plus the setup's nonce count: unique per block, above the window's floor,
        // and within a day of block time however far the clock jumps.
        let key = seed(0);
        let tx = TxPayload {
            account: AccountId::new(1),
            signer: key.public_key(),
            nonce: time + self.nonce,
            body,
        }
        .sign(&key, CHAIN);
        self.apply_at(time, &[tx])
    }
}

/// 100,000 funded accounts; the first half buys one lot at the mid, the second half sells to
/// them: every account holds one position.
fn prepare() -> Chain {
    let mut chain = Chain { state: genesis_state(&genesis()).unwrap(), time: GENESIS_MS, nonce: 0 };
    let member = seed(0);
    let keys: Vec<Keypair> = (0..ACCOUNTS).map(|i| seed(100 + i)).collect();
    let limits = genesis().member_limits;
    let registrations: Vec<Tx> = keys
        .iter()
        .map(|k| {
            let body = TxBody::RegisterAccount(RegisterAccount {
                owner: k.public_key(),
                limits,
                self_trade_group: 0,
            });
            chain.tx(AccountId::new(1), &member, body)
        })
        .collect();
    chain.apply_at(chain.time + 100, &registrations);
    let ids: Vec<AccountId> =
        keys.iter().map(|k| chain.state.account_of_key(&k.public_key()).unwrap()).collect();
    let deposits: Vec<Tx> = ids
        .iter()
        .map(|id| {
            let body = TxBody::Deposit(CashTransfer {
                account: *id,
                amount: Cash::new(1_000_000_000_000),
                reference: Hash::digest(&id.get().to_le_bytes()),
            });
            chain.tx(AccountId::new(1), &member, body)
        })
        .collect();
    chain.apply_at(chain.time + 100, &deposits);
    chain.publish(chain.time + 100, MID);
    let half = ids.len() / 2;
    let order = |side, tif| {
        TxBody::PlaceOrder(NewOrder {
            market: MarketId::new(1),
            side,
            kind: OrderKind::Limit,
            price: Price::new(MID),
            qty: Qty::new(1),
            time_in_force: tif,
            reduce_only: false,
            client_order_id: None,
            self_trade: SelfTradePrevention::ExpireMaker,
            trigger: None,
        })
    };
    for (range, side, tif) in
        [(0..half, Side::Buy, TimeInForce::Gtc), (half..ids.len(), Side::Sell, TimeInForce::Ioc)]
    {
        let txs: Vec<Tx> = range.map(|i| chain.tx(ids[i], &keys[i], order(side, tif))).collect();
        chain.apply_at(chain.time + 100, &txs);
    }
    let with_positions = chain.state.accounts.values().filter(|a| !a.positions.is_empty()).count();
    assert_eq!(with_positions as u64, ACCOUNTS, "every account holds a position");
    chain
}

fn bench(c: &mut Criterion) {
    let mut chain = prepare();
    eprintln!(
        "risk ledger: {} accounts, {} with positions, {} resting orders",
        chain.state.accounts.len(),
        chain.state.accounts.values().filter(|a| !a.positions.is_empty()).count(),
        chain.state.orders.len()
    );
    let mut g = c.benchmark_group("risk");
    g.sample_size(20);
    // Every iteration moves the index by one tick (so the mark moves) and scans all accounts.
    g.bench_function("mark_and_check_100k_accounts", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let time = chain.time + 1_000;
                total += chain.publish(time, MID + i64::from(i % 2 == 1));
            }
            total
        })
    });
    // The same, with each block in a new variation-margin epoch.
    g.bench_function("mark_check_and_variation_margin_100k_accounts", |b| {
        b.iter_custom(|iters| {
            let epoch = chain.state.risk.settlement_epoch_ms;
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let time = (chain.time / epoch + 1) * epoch;
                total += chain.publish(time, MID + i64::from(i % 2 == 1));
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
