//! What the engine's and the node's tests share: a genesis with `NODES` validators and
//! signed txs (no node, no network: the engine's tests include this file alone).

#![allow(dead_code)]

use tokenbook_ledger::Genesis;
use tokenbook_ledger::state::{GenesisAdmin, GenesisMember};
use tokenbook_protocol::*;

pub const CHAIN: &str = "driver-test";
pub const GENESIS_MS: u64 = 1_795_478_400_000;
pub const NODES: usize = 4;

pub fn key(n: u64) -> Keypair {
    let mut seed = [0x44u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    Keypair::from_seed(&seed)
}

/// Member `i` owns key `i`; its validator signs with key `100 + i`.
pub fn genesis() -> Genesis {
    genesis_of(NODES)
}

/// [`genesis`] with `nodes` validators.
pub fn genesis_of(nodes: usize) -> Genesis {
    Genesis {
        chain_id: CHAIN.into(),
        time: Timestamp::new(GENESIS_MS),
        members: (0..nodes as u64)
            .map(|i| GenesisMember {
                name: format!("member-{i}"),
                key: key(i).public_key(),
                validator: Some(Validator {
                    consensus_key: key(100 + i).public_key(),
                    network_key: key(200 + i).public_key(),
                    power: 1,
                }),
            })
            .collect(),
        admins: vec![GenesisAdmin { name: "ops".into(), key: key(50).public_key() }],
        indexes: vec![IndexSpec { name: "frontier".into() }],
        markets: vec![tokenbook_ledger::genesis::inference_contract()],
        risk: tokenbook_ledger::genesis::devnet_risk(),
        member_limits: AccountLimits {
            max_order_qty: Qty::new(1_000),
            max_open_orders: 1_000,
            max_position: Qty::new(1_000_000),
        },
    }
}

pub fn registrations(first: u64, n: u64) -> Vec<Tx> {
    registrations_at(GENESIS_MS, first, n)
}

/// [`registrations`] with nonces around `base_ms` (a block time near it).
pub fn registrations_at(base_ms: u64, first: u64, n: u64) -> Vec<Tx> {
    let member = key(0);
    (first..first + n)
        .map(|i| {
            TxPayload {
                account: AccountId::new(1),
                signer: member.public_key(),
                nonce: base_ms + 10 + i,
                body: TxBody::RegisterAccount(RegisterAccount {
                    owner: key(1_000 + i).public_key(),
                    limits: AccountLimits {
                        max_order_qty: Qty::new(10),
                        max_open_orders: 10,
                        max_position: Qty::new(10),
                    },
                    self_trade_group: 0,
                }),
            }
            .sign(&member, CHAIN)
        })
        .collect()
}

pub fn signed(key: &Keypair, account: AccountId, nonce: u64, body: TxBody) -> Tx {
    TxPayload { account, signer: key.public_key(), nonce, body }.sign(key, CHAIN)
}

/// A limit order for 2 lots at 1,000 ticks in market 1.
pub fn order(side: Side, tif: TimeInForce) -> TxBody {
    TxBody::PlaceOrder(NewOrder {
        market: MarketId::new(1),
        side,
        kind: OrderKind::Limit,
        price: Price::new(1_000),
        qty: Qty::new(2),
        time_in_force: tif,
        reduce_only: false,
        client_order_id: None,
        self_trade: SelfTradePrevention::ExpireMaker,
        trigger: None,
    })
}

/// Accounts of a [`genesis`] chain: members 1..=4, the admin 5, then the traders.
pub const FIRST_TRADER: u64 = NODES as u64 + 2;

/// A crossing pair of orders (the two traders take turns selling, so positions stay small).
pub fn crossing_pair(round: u64, nonce: u64) -> [Tx; 2] {
    let (first, second) = if round % 2 == 0 { (0, 1) } else { (1, 0) };
    let account = |t: u64| AccountId::new(FIRST_TRADER + t);
    [
        signed(&key(1_000 + first), account(first), nonce, order(Side::Sell, TimeInForce::Gtc)),
        signed(&key(1_000 + second), account(second), nonce, order(Side::Buy, TimeInForce::Ioc)),
    ]
}
