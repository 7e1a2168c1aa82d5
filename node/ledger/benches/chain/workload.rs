//! The benchmark order stream: 1,000 funded traders, a fresh index, ~10,000 resting orders, then
//! blocks of 10,000 txs — ~60% passive limit orders 1–20 ticks from mid, ~30% cancels (by client
//! order id) of orders resting before the block, ~10% IOC orders crossing 1–3 levels.
//! Shared by the ledger and store benchmarks (included by path).

#![allow(
    dead_code,
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use crate::chain::{self, Chain, header, seed};
use crate::common::Rng;
use std::collections::BTreeMap;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

/// Funded traders.
pub const TRADERS: u64 = 1_000;
/// Txs per measured block.
pub const BLOCK_TXS: usize = 10_000;
/// Measured blocks.
pub const BLOCKS: usize = 10;
const MID: i64 = 1_000;

pub fn genesis() -> Genesis {
    let params = MarketParams {
        position_limit: Qty::new(1_000_000),
        impact_lots: Qty::new(10),
        ..tokenbook_ledger::genesis::devnet_params()
    };
    chain::genesis(MarketSpec { params, ..tokenbook_ledger::genesis::inference_contract() })
}

struct Trader {
    id: AccountId,
    key: Keypair,
    next_cid: u64,
}

fn order(side: Side, price: i64, qty: i64, tif: TimeInForce, cid: u64) -> TxBody {
    TxBody::PlaceOrder(NewOrder {
        market: MarketId::new(1),
        side,
        kind: OrderKind::Limit,
        price: Price::new(price),
        qty: Qty::new(qty),
        time_in_force: tif,
        reduce_only: false,
        client_order_id: Some(ClientOrderId::new(cid)),
        self_trade: SelfTradePrevention::ExpireMaker,
        trigger: None,
    })
}

/// A setup chain and the measured blocks after it.
pub struct Stream {
    /// The chain's genesis.
    pub genesis: Genesis,
    /// Blocks from genesis to `start`: registrations, deposits, the index, ~10,000 resting orders.
    pub setup: Vec<(BlockHeader, Vec<Tx>)>,
    /// The state after `setup`.
    pub start: LedgerState,
    /// The measured blocks.
    pub blocks: Vec<(BlockHeader, Vec<Tx>)>,
}

/// Registers and funds the traders, rests ~10,000 orders, then generates `blocks` blocks of
/// `block_txs` txs by running them (so cancels name orders resting before each block).
/// `stream_seed` picks the stream.
pub fn prepare(stream_seed: u64, blocks: usize, block_txs: usize) -> Stream {
    let genesis = genesis();
    let mut chain = Chain::new(&genesis);
    let mut setup = Vec::new();
    let member = seed(0);
    let mut traders: Vec<Trader> = Vec::new();
    let registrations: Vec<Tx> = (0..TRADERS)
        .map(|i| {
            chain.tx(
                AccountId::new(1),
                &member,
                TxBody::RegisterAccount(RegisterAccount {
                    owner: seed(100 + i).public_key(),
                    limits: chain::limits(),
                    self_trade_group: 0,
                }),
            )
        })
        .collect();
    apply_setup(&mut chain, &mut setup, registrations);
    for i in 0..TRADERS {
        let id = chain.state.account_of_key(&seed(100 + i).public_key()).unwrap();
        traders.push(Trader { id, key: seed(100 + i), next_cid: 0 });
    }
    let deposits: Vec<Tx> = traders
        .iter()
        .map(|t| {
            TxBody::Deposit(CashTransfer {
                account: t.id,
                amount: Cash::new(1_000_000_000_000_000),
                reference: Hash::digest(&t.id.get().to_le_bytes()),
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|b| chain.tx(AccountId::new(1), &member, b))
        .collect();
    apply_setup(&mut chain, &mut setup, deposits);
    // The member (a quorum of one) publishes the index, so the market takes new risk.
    let observed_at = Timestamp::new(chain.time);
    let publish = TxBody::PublishIndex(IndexObservation {
        index: IndexId::new(1),
        price: Cash::new(i128::from(MID) * 10_000),
        observed_at,
    });
    let publish = chain.tx(AccountId::new(1), &member, publish);
    apply_setup(&mut chain, &mut setup, vec![publish]);
    let mut rng = Rng(stream_seed);
    let warmup: Vec<Tx> =
        (0..10_000).map(|_| passive(&mut chain, &mut traders, &mut rng, 50)).collect();
    apply_setup(&mut chain, &mut setup, warmup);
    let start = chain.state.clone();
    let mut measured = Vec::new();
    for _ in 0..blocks {
        let txs = block(&mut chain, &mut traders, &mut rng, block_txs);
        let header = header(&chain.state, chain.time + 100, &txs);
        chain.apply(&txs);
        measured.push((header, txs));
    }
    Stream { genesis, setup, start, blocks: measured }
}

fn apply_setup(chain: &mut Chain, setup: &mut Vec<(BlockHeader, Vec<Tx>)>, txs: Vec<Tx>) {
    let header = header(&chain.state, chain.time + 100, &txs);
    chain.apply(&txs);
    setup.push((header, txs));
}

fn passive(chain: &mut Chain, traders: &mut [Trader], rng: &mut Rng, spread: u64) -> Tx {
    let t = &mut traders[rng.below(TRADERS) as usize];
    t.next_cid += 1;
    let side = if rng.below(2) == 0 { Side::Buy } else { Side::Sell };
    let distance = 1 + rng.below(spread) as i64;
    let price = if side == Side::Buy { MID - distance } else { MID + distance };
    let body = order(side, price, 1 + rng.below(20) as i64, TimeInForce::Gtc, t.next_cid);
    let (id, key) = (t.id, Keypair::from_seed(&t.key.seed()));
    chain.tx(id, &key, body)
}

fn block(chain: &mut Chain, traders: &mut [Trader], rng: &mut Rng, block_txs: usize) -> Vec<Tx> {
    let resting: Vec<(AccountId, ClientOrderId)> = chain
        .state
        .orders
        .sorted()
        .into_iter()
        .filter_map(|(_, o)| o.client_order_id.map(|c| (o.account, c)))
        .collect();
    let keys: BTreeMap<AccountId, usize> =
        traders.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let mut cancelled = std::collections::BTreeSet::new();
    let mut txs = Vec::with_capacity(block_txs);
    while txs.len() < block_txs {
        let roll = rng.below(100);
        if roll < 60 {
            txs.push(passive(chain, traders, rng, 20));
        } else if roll < 90 {
            let (account, cid) = resting[rng.below(resting.len() as u64) as usize];
            if !cancelled.insert((account, cid)) {
                continue;
            }
            let key = Keypair::from_seed(&traders[keys[&account]].key.seed());
            let body = TxBody::CancelOrder(CancelOrder {
                market: MarketId::new(1),
                order: OrderRef::Client(cid),
            });
            txs.push(chain.tx(account, &key, body));
        } else {
            let side = if rng.below(2) == 0 { Side::Buy } else { Side::Sell };
            let book = &chain.state.markets[&MarketId::new(1)].book;
            let levels = book.depth(side.opposite(), 1 + rng.below(3) as usize);
            let Some(&(price, _, _)) = levels.last() else { continue };
            let qty: i64 = levels.iter().map(|(_, q, _)| q.get()).sum::<i64>().min(1_000);
            let t = &mut traders[rng.below(TRADERS) as usize];
            t.next_cid += 1;
            let body = order(side, price.get(), qty, TimeInForce::Ioc, t.next_cid);
            let (id, key) = (t.id, Keypair::from_seed(&t.key.seed()));
            txs.push(chain.tx(id, &key, body));
        }
    }
    txs
}
