//! Prometheus metrics (`GET /metrics`): height, round, block interval, txs per block, mempool
//! size, peers, apply and commit time, undecodable messages, the store's memory, signatures
//! verified by the mempool (gossip) and by block checks.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The node's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Last committed height.
    pub height: Gauge,
    /// Round being decided.
    pub round: Gauge,
    /// Txs waiting.
    pub mempool_txs: Gauge,
    /// Connected peers.
    pub peers: Gauge,
    /// Txs committed.
    pub txs_committed: Counter,
    /// Undecodable peer messages.
    pub bad_messages: Counter,
    /// Seconds between consecutive commits.
    pub block_interval: Histogram,
    /// Txs per committed block.
    pub block_txs: Histogram,
    /// Seconds the store spent on a block's tree, batch and synced write.
    pub commit_seconds: Histogram,
    /// Bytes RocksDB holds by design: memtables, block cache and table readers (bounded by
    /// configuration; a growth verdict subtracts them from the resident size).
    pub store_memory_bytes: Gauge,
    /// Tx signatures verified admitting peers' gossip into the mempool.
    pub gossip_signatures: Counter,
    /// Tx signatures verified judging blocks (those the mempool had verified are not).
    pub block_signatures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric under the `tokenbook` prefix.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tokenbook");
        let m = Metrics {
            registry: Registry::default(),
            height: Gauge::default(),
            round: Gauge::default(),
            mempool_txs: Gauge::default(),
            peers: Gauge::default(),
            txs_committed: Counter::default(),
            bad_messages: Counter::default(),
            block_interval: Histogram::new(exponential_buckets(0.01, 2.0, 12)),
            block_txs: Histogram::new(exponential_buckets(1.0, 4.0, 9)),
            commit_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            store_memory_bytes: Gauge::default(),
            gossip_signatures: Counter::default(),
            block_signatures: Counter::default(),
        };
        registry.register("height", "Last committed height", m.height.clone());
        registry.register("round", "Round being decided", m.round.clone());
        registry.register("mempool_txs", "Txs waiting in the mempool", m.mempool_txs.clone());
        registry.register("peers", "Connected peers", m.peers.clone());
        registry.register("txs_committed", "Txs committed", m.txs_committed.clone());
        registry.register(
            "bad_messages",
            "Peer messages that did not decode",
            m.bad_messages.clone(),
        );
        registry.register(
            "block_interval_seconds",
            "Time between commits",
            m.block_interval.clone(),
        );
        registry.register("block_txs", "Txs per committed block", m.block_txs.clone());
        registry.register("commit_seconds", "Store time per block", m.commit_seconds.clone());
        registry.register(
            "store_memory_bytes",
            "Bytes RocksDB holds in memtables, block cache and table readers",
            m.store_memory_bytes.clone(),
        );
        registry.register(
            "gossip_signatures_verified",
            "Tx signatures verified admitting gossip into the mempool",
            m.gossip_signatures.clone(),
        );
        registry.register(
            "block_signatures_verified",
            "Tx signatures verified judging blocks (not those the mempool verified)",
            m.block_signatures.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Brings a counter kept elsewhere up to `total`.
    pub fn catch_up(counter: &Counter, total: u64) {
        counter.inc_by(total.saturating_sub(counter.get()));
    }

    /// The text exposition format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
