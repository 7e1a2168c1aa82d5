//! A one-member chain for the ledger benchmarks: genesis, signing and block application.

use tokenbook_ledger::state::{GenesisAdmin, GenesisMember};
use tokenbook_ledger::*;
use tokenbook_protocol::*;

pub const CHAIN: &str = "tokenbook-bench";
pub const GENESIS_MS: u64 = 1_795_478_400_000;

/// Deterministic keys: 0 member, 1–2 its validator, 3 an admin, 100+ traders.
pub fn seed(n: u64) -> Keypair {
    let mut bytes = [0x33u8; 32];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    Keypair::from_seed(&bytes)
}

/// One member (a quorum of one, so its index publication alone sets the price), one admin, the
/// inference index and `market` on it.
pub fn genesis(market: MarketSpec) -> Genesis {
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
        admins: vec![GenesisAdmin { name: "Ops".into(), key: seed(3).public_key() }],
        indexes: vec![IndexSpec { name: "frontier".into() }],
        markets: vec![market],
        risk: tokenbook_ledger::genesis::devnet_risk(),
        member_limits: limits(),
    }
}

/// Generous limits for every account.
pub fn limits() -> AccountLimits {
    AccountLimits {
        max_order_qty: Qty::new(1_000),
        max_open_orders: 1_000,
        max_position: Qty::new(1_000_000),
    }
}

/// The ledger, its clock and the next nonce.
pub struct Chain {
    pub state: LedgerState,
    pub time: u64,
    pub nonce: u64,
}

impl Chain {
    pub fn new(genesis: &Genesis) -> Self {
        Self { state: genesis_state(genesis).unwrap(), time: GENESIS_MS, nonce: 0 }
    }

    /// Applies a block 100 ms after the last.
    pub fn apply(&mut self, txs: &[Tx]) -> BlockOutcome {
        self.apply_at(self.time + 100, txs)
    }

    /// Applies a block at `time`.
    pub fn apply_at(&mut self, time: u64, txs: &[Tx]) -> BlockOutcome {
        self.time = time;
        let header = header(&self.state, time, txs);
        apply_block(&mut self.state, &header, txs).unwrap()
    }

    /// A tx signed by `key`, with the next nonce.
    pub fn tx(&mut self, account: AccountId, key: &Keypair, body: TxBody) -> Tx {
        self.nonce += 1;
        TxPayload { account, signer: key.public_key(), nonce: GENESIS_MS + self.nonce, body }
            .sign(key, CHAIN)
    }
}

/// The header of the block after `state`'s at `time`.
pub fn header(state: &LedgerState, time: u64, txs: &[Tx]) -> BlockHeader {
    BlockHeader {
        chain_id: CHAIN.into(),
        height: state.height.next().unwrap(),
        time: Timestamp::new(time),
        proposer: seed(1).public_key(),
        prev_block_hash: state.last_block_hash,
        prev_certificate_hash: Hash::ZERO,
        tx_root: tx_root(txs),
        state_root: Hash::ZERO,
        validator_set_hash: Hash::ZERO,
        next_validator_set_hash: Hash::ZERO,
    }
}

/// A chain on `genesis` with `traders` accounts registered by the member in one block (owners
/// `seed(100 + i)`), and each trader's account id and key. (Used by the node's tests and benches.)
#[allow(dead_code)]
pub fn with_traders(genesis: &Genesis, traders: u64) -> (Chain, Vec<(AccountId, Keypair)>) {
    let mut chain = Chain::new(genesis);
    let member = seed(0);
    let txs: Vec<Tx> = (0..traders)
        .map(|i| {
            let body = TxBody::RegisterAccount(RegisterAccount {
                owner: seed(100 + i).public_key(),
                limits: limits(),
                self_trade_group: 0,
            });
            chain.tx(AccountId::new(1), &member, body)
        })
        .collect();
    chain.apply(&txs);
    let keys = (0..traders)
        .map(|i| (chain.state.account_of_key(&seed(100 + i).public_key()).unwrap(), seed(100 + i)))
        .collect();
    (chain, keys)
}
