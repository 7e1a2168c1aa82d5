//! The real ledger as the simulation's app (optional, `Config::ledger`): proposers build blocks
//! of signed txs (every member publishes both indexes, members deposit, quote and trade the AIT
//! contract), every node applies each decided block with `apply_block` to its own
//! `LedgerState`, and the world checks that every node holds the same state root at each height.
//! The ledger asserts its own invariants (conservation, zero-sum positions, uncrossed books)
//! after every block.

use super::Rng;
use tokenbook_ledger::genesis::devnet;
use tokenbook_ledger::state::GenesisMember;
use tokenbook_ledger::{LedgerState, apply_block, genesis_state, kv};
use tokenbook_protocol::{
    AccountId, Block, BlockHeader, Cash, CashTransfer, Hash, Height, IndexId, IndexObservation,
    Keypair, MarketId, NewOrder, OrderKind, Price, PublicKey, Qty, SelfTradePrevention, Side,
    TimeInForce, Timestamp, Tx, TxBody, TxPayload, Validator, tx_root,
};

/// The ledger's chain id in the simulation.
pub const LEDGER_CHAIN: &str = "tokenbook-sim-ledger";
/// Block time of genesis (ms); block `h` is at least this plus the simulated time.
pub const GENESIS_MS: u64 = 1_795_478_400_000;

/// Members (one per validator) and the genesis they share.
pub struct App {
    members: Vec<Keypair>,
    genesis: tokenbook_ledger::Genesis,
}

impl App {
    /// One member per validator.
    pub fn new(validators: &[PublicKey], seed: u64) -> Self {
        let members: Vec<Keypair> = (0..validators.len())
            .map(|i| {
                let mut bytes = [0x6du8; 32];
                bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
                bytes[8..16].copy_from_slice(&seed.to_le_bytes());
                Keypair::from_seed(&bytes)
            })
            .collect();
        let genesis_members = members
            .iter()
            .zip(validators)
            .enumerate()
            .map(|(i, (m, v))| GenesisMember {
                name: format!("Member {i}"),
                key: m.public_key(),
                validator: Some(Validator { consensus_key: *v, network_key: *v, power: 1 }),
            })
            .collect();
        let genesis = devnet(LEDGER_CHAIN, Timestamp::new(GENESIS_MS), genesis_members, Vec::new());
        Self { members, genesis }
    }

    /// A node's ledger at genesis.
    pub fn ledger(&self) -> LedgerState {
        genesis_state(&self.genesis).unwrap_or_else(|e| panic!("simulation genesis: {e}"))
    }

    /// A block on top of `ledger` proposed at simulated time `now_ms`: every member publishes
    /// both indexes; each member deposits once; a few random limit orders around the mid.
    pub fn build(
        &self,
        ledger: &LedgerState,
        proposer: PublicKey,
        now_ms: u64,
        rng: &mut Rng,
    ) -> Block {
        let time = (GENESIS_MS + now_ms).max(ledger.time.get() + 1);
        let mut txs = Vec::new();
        for (i, key) in self.members.iter().enumerate() {
            let account = AccountId::new(i as u64 + 1);
            for (index, price) in [(1, 10_000_000), (2, 2_500_000)] {
                let body = TxBody::PublishIndex(IndexObservation {
                    index: IndexId::new(index),
                    price: Cash::new(price),
                    observed_at: Timestamp::new(time),
                });
                txs.push(sign(key, account, time + u64::from(index), body));
            }
            if ledger.height.get() < 3 {
                let body = TxBody::Deposit(CashTransfer {
                    account,
                    amount: Cash::new(1_000_000_000_000),
                    reference: Hash::digest(&account.get().to_le_bytes()),
                });
                txs.push(sign(key, account, time + 3, body));
            }
        }
        for k in 0..1 + rng.below(4) {
            let i = rng.below(self.members.len() as u64) as usize;
            let side = if rng.chance(500) { Side::Buy } else { Side::Sell };
            let offset = rng.below(11) as i64 - 5;
            let order = NewOrder {
                market: MarketId::new(1),
                side,
                kind: OrderKind::Limit,
                price: Price::new(1_000 + offset),
                qty: Qty::new(1 + rng.below(5) as i64),
                time_in_force: TimeInForce::Gtc,
                reduce_only: false,
                client_order_id: None,
                self_trade: SelfTradePrevention::ExpireMaker,
                trigger: None,
            };
            let account = AccountId::new(i as u64 + 1);
            txs.push(sign(&self.members[i], account, time + 4 + k, TxBody::PlaceOrder(order)));
        }
        let header = BlockHeader {
            chain_id: LEDGER_CHAIN.into(),
            height: Height::new(ledger.height.get() + 1),
            time: Timestamp::new(time),
            proposer,
            prev_block_hash: ledger.last_block_hash,
            prev_certificate_hash: Hash::ZERO,
            tx_root: tx_root(&txs),
            state_root: Hash::ZERO,
            validator_set_hash: Hash::ZERO,
            next_validator_set_hash: Hash::ZERO,
        };
        Block { header, txs }
    }

    /// The app's `valid(v)`: the block extends this ledger (height, parent, later time, tx root).
    pub fn valid(ledger: &LedgerState, block: &Block) -> bool {
        block.header.height.get() == ledger.height.get() + 1
            && block.header.prev_block_hash == ledger.last_block_hash
            && block.header.time > ledger.time
            && block.compute_tx_root() == block.header.tx_root
    }

    /// Applies a decided block; returns the state root after it and the fills it made.
    ///
    /// # Errors
    /// The ledger refused the block's header.
    pub fn apply(ledger: &mut LedgerState, block: &Block) -> Result<(Hash, u64), String> {
        let outcome = apply_block(ledger, &block.header, &block.txs).map_err(|e| e.to_string())?;
        let fills = outcome
            .receipts
            .iter()
            .filter_map(|r| r.result.as_ref().ok())
            .flatten()
            .filter(|e| matches!(e, tokenbook_ledger::Event::Fill { .. }))
            .count() as u64;
        Ok((state_root(ledger), fills))
    }
}

fn sign(key: &Keypair, account: AccountId, nonce: u64, body: TxBody) -> Tx {
    TxPayload { account, signer: key.public_key(), nonce, body }.sign(key, LEDGER_CHAIN)
}

/// The ledger's state digest (`kv::digest`: SHA-256 over every key and value, length-prefixed).
pub fn state_root(ledger: &LedgerState) -> Hash {
    kv::digest(ledger)
}
