//! Shared fixtures: a ledger order stream applied block by block into stores.

use crate::workload;
use tokenbook_ledger::kv::{self, Changes, KvMap};
use tokenbook_ledger::{BlockReceipts, LedgerState, apply_block};
use tokenbook_protocol::{Block, BlockHeader, CommitCertificate, Hash, Height, Tx};
use tokenbook_store::{BlockData, MemTree, Store, StoreConfig};

/// The benchmark chain's id.
pub const CHAIN: &str = crate::chain::CHAIN;

/// A store config for the test chain, archive (no pruning) unless changed.
pub fn config() -> StoreConfig {
    StoreConfig {
        chain_id: CHAIN.into(),
        retain_versions: None,
        retain_blocks: None,
        sync_commits: true,
    }
}

/// One decided height as the store receives it.
pub struct Height1 {
    pub block: Block,
    pub certificate: CommitCertificate,
    pub receipts: BlockReceipts,
    pub changes: Changes,
}

impl Height1 {
    pub fn data(&self) -> BlockData<'_> {
        BlockData { block: &self.block, certificate: &self.certificate, receipts: &self.receipts }
    }

    pub fn height(&self) -> Height {
        self.block.header.height
    }
}

/// A chain: its genesis state and every height after it, applied through the real ledger.
pub struct Chain {
    pub genesis: KvMap,
    pub heights: Vec<Height1>,
    pub final_state: LedgerState,
}

type Encoded = (KvMap, Vec<(Block, CommitCertificate, BlockReceipts, Changes)>);

impl Chain {
    /// Saves the chain (so a child process need not re-sign and re-apply it).
    pub fn write(&self, path: &std::path::Path) {
        let heights = self
            .heights
            .iter()
            .map(|h| {
                (h.block.clone(), h.certificate.clone(), h.receipts.clone(), h.changes.clone())
            })
            .collect();
        let encoded: Encoded = (self.genesis.clone(), heights);
        std::fs::write(path, tokenbook_protocol::codec::encode(&encoded)).unwrap();
    }

    /// Reads a chain saved by [`Chain::write`]; its `final_state` is then the genesis state.
    pub fn read(path: &std::path::Path) -> Chain {
        let (genesis, heights): Encoded =
            tokenbook_protocol::codec::decode_record(&std::fs::read(path).unwrap()).unwrap();
        let heights = heights
            .into_iter()
            .map(|(block, certificate, receipts, changes)| Height1 {
                block,
                certificate,
                receipts,
                changes,
            })
            .collect();
        let final_state = tokenbook_ledger::kv::import(&genesis).unwrap();
        Chain { genesis, heights, final_state }
    }
}

/// The benchmark stream with `blocks` blocks of `block_txs` txs after the setup blocks.
pub fn chain(seed: u64, blocks: usize, block_txs: usize) -> Chain {
    let stream = workload::prepare(seed, blocks, block_txs);
    let mut state = tokenbook_ledger::genesis_state(&stream.genesis).unwrap();
    let genesis = kv::export(&state);
    let mut heights = Vec::new();
    for (header, txs) in stream.setup.iter().chain(&stream.blocks) {
        heights.push(apply(&mut state, header, txs));
    }
    Chain { genesis, heights, final_state: state }
}

/// Applies one block and packages what the store needs.
pub fn apply(state: &mut LedgerState, header: &BlockHeader, txs: &[Tx]) -> Height1 {
    let outcome = apply_block(state, header, txs).unwrap();
    let block = Block { header: header.clone(), txs: txs.to_vec() };
    let certificate = CommitCertificate {
        height: header.height,
        round: tokenbook_protocol::Round::new(0),
        block_hash: block.hash(),
        signatures: Vec::new(),
    };
    Height1 {
        block,
        certificate,
        receipts: BlockReceipts::from(&outcome),
        changes: kv::changes(state, &outcome.touched),
    }
}

/// A faulty proposer's block after `last`: one tx `last` accepted, included again (the ledger
/// refuses it: its nonce is used). Returns the tx, the receipt of its first inclusion and the
/// replay's height.
pub fn replay_of_accepted(
    state: &mut LedgerState,
    last: &Height1,
) -> (Tx, tokenbook_ledger::ReceiptRecord, Height1) {
    let accepted = last.receipts.receipts.iter().find(|r| r.result.is_ok()).unwrap();
    let tx = last.block.txs[accepted.tx_index as usize].clone();
    let mut header = last.block.header.clone();
    header.height = Height::new(header.height.get() + 1);
    header.time = tokenbook_protocol::Timestamp::new(header.time.get() + 1);
    header.prev_block_hash = last.block.hash();
    let replay = apply(state, &header, std::slice::from_ref(&tx));
    assert!(replay.receipts.receipts[0].result.is_err());
    (tx, accepted.clone(), replay)
}

/// A fresh store holding the chain's genesis.
pub fn fresh_store(dir: &std::path::Path, chain: &Chain) -> Store {
    let mut store = Store::open(dir, config()).unwrap();
    store.init_genesis(&chain.genesis).unwrap();
    store
}

/// Commits the heights with their block data.
pub fn commit_all(store: &mut Store, heights: &[Height1]) {
    for h in heights {
        store.commit(h.height(), &h.changes, Some(h.data())).unwrap();
    }
}

/// The roots of the chain computed in memory: genesis, then one per height.
pub fn mem_roots(chain: &Chain) -> Vec<Hash> {
    let mut tree = MemTree::new();
    let mut roots = vec![tree.apply(&as_changes(&chain.genesis)).unwrap()];
    for h in &chain.heights {
        roots.push(tree.apply(&h.changes).unwrap());
    }
    roots
}

/// A whole state as changes that write it.
pub fn as_changes(map: &KvMap) -> Changes {
    map.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect()
}

/// The root of a state built from scratch (one version), whatever history led to it.
pub fn scratch_root(map: &KvMap) -> Hash {
    MemTree::new().apply(&as_changes(map)).unwrap()
}
