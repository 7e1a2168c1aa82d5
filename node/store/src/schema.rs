//! The database layout: column families, key encodings and metadata keys.
//!
//! Every multi-part key is big-endian so RocksDB's byte order is numeric order. Changing any of
//! this is a schema change: bump [`SCHEMA_VERSION`] (a store refuses a version it does not know).

use tokenbook_protocol::Height;

/// The layout version written into `meta`.
pub const SCHEMA_VERSION: u32 = 2;
/// What `meta/program` holds, to recognise a database written by someone else.
pub const PROGRAM: &[u8] = b"tokenbook-store";

/// Metadata: program, schema, chain id, height, root, pruning low-water mark.
pub const META: &str = "meta";
/// Key hash (32 bytes) → ledger key. With `tree_values` this is the whole state: the current
/// value of a key is its newest versioned value (no second copy of every value is written).
pub const PREIMAGES: &str = "preimages";
/// Tree nodes: `borsh(NodeKey)` → `borsh(Node)`.
pub const TREE_NODES: &str = "tree_nodes";
/// Versioned values: key hash ‖ version → `0x00` (deleted) or `0x01 ‖ value`.
pub const TREE_VALUES: &str = "tree_values";
/// What pruning a version removes: version → [`PruneLog`] (one entry per height).
pub const PRUNE_LOG: &str = "prune_log";
/// Blocks by height (canonical encoding).
pub const BLOCKS: &str = "blocks";
/// Commit certificates by height (canonical encoding).
pub const CERTS: &str = "certs";
/// Block receipts by height (canonical encoding of `BlockReceipts`).
pub const RECEIPTS: &str = "receipts";
/// Tx hash → height ‖ receipt position.
pub const TX_INDEX: &str = "tx_index";
/// Account ‖ height → the positions (u32 BE each) of the height's receipts naming it.
pub const ACCOUNT_INDEX: &str = "account_index";
/// Market ‖ height → the positions of the height's receipts naming it.
pub const MARKET_INDEX: &str = "market_index";
/// Height → the positions of the height's receipts holding a clearing event (liquidation,
/// auto-deleveraging, the default waterfall: `Event::is_clearing`), across all accounts.
pub const CLEARING_INDEX: &str = "clearing_index";
/// Consensus persist-before-send records: height ‖ sequence → record bytes.
pub const CONSENSUS_WAL: &str = "consensus_wal";

/// Every column family, in creation order.
pub const COLUMN_FAMILIES: [&str; 14] = [
    META,
    PREIMAGES,
    TREE_NODES,
    TREE_VALUES,
    PRUNE_LOG,
    BLOCKS,
    CERTS,
    RECEIPTS,
    TX_INDEX,
    ACCOUNT_INDEX,
    MARKET_INDEX,
    CLEARING_INDEX,
    CONSENSUS_WAL,
    "default",
];

/// Metadata keys.
pub mod meta {
    /// [`super::PROGRAM`].
    pub const PROGRAM: &[u8] = b"program";
    /// Schema version, u32 BE.
    pub const SCHEMA: &[u8] = b"schema";
    /// Chain id, UTF-8.
    pub const CHAIN_ID: &[u8] = b"chain_id";
    /// Last complete height, u64 BE.
    pub const HEIGHT: &[u8] = b"height";
    /// State root after that height, 32 bytes.
    pub const ROOT: &[u8] = b"root";
    /// State root of the genesis (height 0), 32 bytes.
    pub const GENESIS_ROOT: &[u8] = b"genesis_root";
    /// Lowest retained tree version, u64 BE.
    pub const PRUNED_TO: &[u8] = b"pruned_to";
    /// Lowest height whose block data is kept (`StoreConfig::retain_blocks`), u64 BE; absent: 1.
    pub const BLOCKS_FROM: &[u8] = b"blocks_from";
}

/// What one version made prunable, written in the version's own batch: the tree nodes it made
/// stale (borsh `NodeKey`s) and the keys it changed (their older versioned values become stale).
/// One entry per height instead of one per stale item keeps the block's batch small.
#[derive(Clone, Debug, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct PruneLog {
    /// Tree nodes unreachable from this version on.
    pub stale_nodes: Vec<Vec<u8>>,
    /// Key hashes written (or deleted) at this version.
    pub changed: Vec<[u8; 32]>,
}

/// Block receipts that are not a tx's: the block's housekeeping before and after the txs.
pub const BEGIN_EVENTS: u32 = u32::MAX - 1;
/// See [`BEGIN_EVENTS`].
pub const END_EVENTS: u32 = u32::MAX;

/// A height as a key.
#[must_use]
pub fn height_key(height: Height) -> [u8; 8] {
    height.get().to_be_bytes()
}

/// A versioned-value key: key hash ‖ version.
#[must_use]
pub fn value_key(key_hash: &[u8; 32], version: u64) -> [u8; 40] {
    let mut k = [0; 40];
    k[..32].copy_from_slice(key_hash);
    k[32..].copy_from_slice(&version.to_be_bytes());
    k
}

/// An index key: id ‖ height.
#[must_use]
pub fn index_key(id: &[u8], height: Height) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.len() + 8);
    k.extend_from_slice(id);
    k.extend_from_slice(&height.get().to_be_bytes());
    k
}

/// Reads a big-endian u64 from exactly 8 bytes.
#[must_use]
pub fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}
