//! A node's home directory: `config.toml`, `genesis.json`, `keys/` and `data/`.
//!
//! Promises: the config refuses unknown fields and fills every missing one with its default;
//! key files hold a hex seed, are created with mode 0600, and a key file readable by group or
//! others is refused; every failure names the file and what is wrong with it.

use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};
use tokenbook_consensus::TimeoutParams;
use tokenbook_ledger::Genesis;
use tokenbook_protocol::Keypair;

/// The node's settings (`config.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The chain this node validates (must match the genesis).
    pub chain_id: String,
    /// Peer-to-peer settings.
    pub p2p: P2p,
    /// HTTP API settings.
    pub api: Api,
    /// Consensus timeouts.
    pub consensus: Consensus,
    /// Mempool limits.
    pub mempool: MempoolLimits,
    /// Limits of the blocks this node proposes.
    pub block: BlockSize,
    /// Store retention.
    pub store: StoreSection,
    /// State sync: serving snapshots, and starting a new node from one.
    pub sync: SyncSection,
    /// The web console served at `/`.
    pub console: ConsoleSection,
}

/// Web console settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSection {
    /// API base URLs of the member nodes the console's network view polls (e.g.
    /// `http://10.0.0.2:8080`); empty: this node alone.
    pub nodes: Vec<String>,
}

/// State sync settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSection {
    /// Start an empty node from a peer's snapshot instead of replaying every block.
    pub state_sync: bool,
    /// Give up looking for a snapshot after this long and replay blocks instead (seconds).
    pub state_sync_timeout_secs: u64,
    /// A snapshot served to peers is reused until it is this many heights old.
    pub snapshot_every: u64,
    /// Most (key, value) pairs per snapshot chunk.
    pub snapshot_chunk_entries: usize,
}

impl Default for SyncSection {
    fn default() -> Self {
        SyncSection {
            state_sync: false,
            state_sync_timeout_secs: 60,
            snapshot_every: 1_000,
            snapshot_chunk_entries: 1_000,
        }
    }
}

/// Peer-to-peer settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2p {
    /// Listen addresses (multiaddrs).
    pub listen: Vec<String>,
    /// Peers to dial (multiaddrs ending in `/p2p/<peer id>`).
    pub peers: Vec<String>,
    /// Network keys (hex) allowed to connect besides the genesis validators' (e.g. validators
    /// added by governance since genesis).
    pub allow_extra: Vec<String>,
    /// How often to redial peers that are not connected (ms).
    pub redial_ms: u64,
    /// How long a peer that sent invalid data is refused (seconds).
    pub ban_secs: u64,
}

/// HTTP API settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    /// Listen address.
    pub listen: String,
    /// Sustained requests per second per client IP address.
    pub rate_per_second: u64,
    /// Requests a client IP address may make at once.
    pub burst: u64,
    /// Requests answered at once across all clients (more get `503 overloaded`).
    pub max_in_flight: usize,
    /// Longest a request may take (seconds).
    pub request_timeout_secs: u64,
    /// Connections open at once (more get `503 too_many_connections`).
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Longest wait for a request's head, idle kept-alive time included (milliseconds).
    pub header_timeout_ms: u64,
    /// `/v1/stream` WebSockets open at once.
    pub max_streams: usize,
    /// Worker threads of the API's own runtime.
    pub threads: usize,
    /// Threads for the API's store reads (blocks, receipts, proofs, trades).
    pub read_threads: usize,
    /// The OS niceness of the API's threads (0–19; Linux): when the machine is busy, the
    /// validator's consensus, block execution and commits run before client reads. 0 = as the
    /// node's other threads.
    pub nice: i32,
}

impl Api {
    /// The limits the API server enforces.
    #[must_use]
    pub fn limits(&self) -> crate::api::ApiLimits {
        crate::api::ApiLimits {
            rate: crate::api::RateLimit { per_second: self.rate_per_second, burst: self.burst },
            max_in_flight: self.max_in_flight,
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs),
            max_streams: self.max_streams,
            server: crate::api::ServerLimits {
                max_connections: self.max_connections,
                max_connections_per_ip: self.max_connections_per_ip,
                header_timeout: std::time::Duration::from_millis(self.header_timeout_ms),
            },
        }
    }
}

/// Consensus timeouts (milliseconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Consensus {
    /// Propose timeout in round 0.
    pub propose_base_ms: u64,
    /// Added per round.
    pub propose_per_round_ms: u64,
    /// Prevote/precommit timeout in round 0.
    pub vote_base_ms: u64,
    /// Added per round.
    pub vote_per_round_ms: u64,
    /// Propose timeout for a proposer that sent nothing on its last turn, until it proposes
    /// again (consensus crate docs, deviation 9).
    pub propose_absent_ms: u64,
    /// A proposal whose block time is more than this far ahead of this node's clock is
    /// prevoted nil (ms). Members' clocks must agree to well within it.
    pub max_future_time_ms: u64,
}

/// Mempool limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolLimits {
    /// Most txs.
    pub max_txs: usize,
    /// Most bytes.
    pub max_bytes: usize,
    /// Most txs per account.
    pub per_account: usize,
    /// Clients' txs are refused (`mempool_full`) while the mempool holds more than the chain
    /// committed in this many ms at its recent rate (`runtime::Admission`); 0: count limits only.
    pub max_wait_ms: u64,
}

/// Limits of proposed blocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockSize {
    /// Most txs.
    pub max_txs: usize,
    /// Most tx bytes.
    pub max_bytes: usize,
    /// Pause after a commit before the next height starts (ms).
    pub interval_ms: u64,
    /// With nothing pending, the next height waits for a tx, a peer starting it, or this many
    /// ms after the commit (the heartbeat that keeps block time moving); 0 makes a block every
    /// `interval_ms` whatever is pending.
    pub heartbeat_ms: u64,
}

/// Store settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// Heights whose state tree is kept for proofs (0 keeps all).
    pub retain_versions: u64,
    /// Heights whose blocks, certificates, receipts and receipt indexes are kept (0 keeps all:
    /// an archive node, what auditors replay from genesis; docs/adr/0007 "Retention").
    pub retain_blocks: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            chain_id: "tokenbook-local".into(),
            p2p: P2p::default(),
            api: Api::default(),
            consensus: Consensus::default(),
            mempool: MempoolLimits::default(),
            block: BlockSize::default(),
            store: StoreSection::default(),
            sync: SyncSection::default(),
            console: ConsoleSection::default(),
        }
    }
}

impl Default for P2p {
    fn default() -> Self {
        P2p {
            listen: vec!["/ip4/0.0.0.0/tcp/26656".into()],
            peers: Vec::new(),
            allow_extra: Vec::new(),
            redial_ms: 2_000,
            ban_secs: 300,
        }
    }
}

impl Default for Api {
    fn default() -> Self {
        let limits = crate::api::ApiLimits::default();
        Api {
            listen: "127.0.0.1:8080".into(),
            rate_per_second: limits.rate.per_second,
            burst: limits.rate.burst,
            max_in_flight: limits.max_in_flight,
            request_timeout_secs: limits.request_timeout.as_secs(),
            max_connections: limits.server.max_connections,
            max_connections_per_ip: limits.server.max_connections_per_ip,
            header_timeout_ms: u64::try_from(limits.server.header_timeout.as_millis())
                .unwrap_or(u64::MAX),
            max_streams: limits.max_streams,
            threads: 1,
            read_threads: 2,
            nice: 10,
        }
    }
}

impl Default for Consensus {
    fn default() -> Self {
        let t = TimeoutParams::default();
        Consensus {
            propose_base_ms: t.propose_base_ms,
            propose_per_round_ms: t.propose_per_round_ms,
            vote_base_ms: t.vote_base_ms,
            vote_per_round_ms: t.vote_per_round_ms,
            propose_absent_ms: t.propose_absent_ms,
            max_future_time_ms: crate::driver::MAX_FUTURE_TIME_MS,
        }
    }
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            max_txs: 100_000,
            max_bytes: 64 << 20,
            per_account: 1_000,
            max_wait_ms: u64::try_from(crate::runtime::Admission::default().max_wait.as_millis())
                .unwrap_or(u64::MAX),
        }
    }
}

impl Default for BlockSize {
    fn default() -> Self {
        BlockSize { max_txs: 10_000, max_bytes: 4 << 20, interval_ms: 50, heartbeat_ms: 1_000 }
    }
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            retain_versions: tokenbook_store::StoreConfig::DEFAULT_RETAIN,
            retain_blocks: tokenbook_store::StoreConfig::DEFAULT_RETAIN_BLOCKS,
        }
    }
}

impl Consensus {
    /// As the core's parameters.
    #[must_use]
    pub fn timeouts(&self) -> TimeoutParams {
        TimeoutParams {
            propose_base_ms: self.propose_base_ms,
            propose_per_round_ms: self.propose_per_round_ms,
            vote_base_ms: self.vote_base_ms,
            vote_per_round_ms: self.vote_per_round_ms,
            propose_absent_ms: self.propose_absent_ms,
        }
    }
}

/// The files of a home directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Home(pub PathBuf);

impl Home {
    /// `config.toml`.
    #[must_use]
    pub fn config(&self) -> PathBuf {
        self.0.join("config.toml")
    }

    /// `genesis.json`.
    #[must_use]
    pub fn genesis(&self) -> PathBuf {
        self.0.join("genesis.json")
    }

    /// The consensus (validator) key.
    #[must_use]
    pub fn consensus_key(&self) -> PathBuf {
        self.0.join("keys").join("consensus.key")
    }

    /// The network (peer identity) key.
    #[must_use]
    pub fn network_key(&self) -> PathBuf {
        self.0.join("keys").join("network.key")
    }

    /// The store directory.
    #[must_use]
    pub fn store(&self) -> PathBuf {
        self.0.join("data").join("store")
    }

    /// Where snapshots served to peers are written.
    #[must_use]
    pub fn snapshots(&self) -> PathBuf {
        self.0.join("data").join("snapshots")
    }

    /// Creates the directory with fresh keys and a default config for `chain_id`; refuses a
    /// home that already has keys.
    ///
    /// # Errors
    /// What could not be written, or that the home is already initialised.
    pub fn init(&self, chain_id: &str) -> Result<(), String> {
        if self.consensus_key().exists() || self.network_key().exists() {
            return Err(format!(
                "{} already has keys; refusing to overwrite them",
                self.0.display()
            ));
        }
        std::fs::create_dir_all(self.0.join("keys")).map_err(|e| io(&self.0, &e))?;
        std::fs::create_dir_all(self.0.join("data")).map_err(|e| io(&self.0, &e))?;
        write_key(&self.consensus_key(), &random_seed()?)?;
        write_key(&self.network_key(), &random_seed()?)?;
        let config = Config { chain_id: chain_id.into(), ..Config::default() };
        let text = toml::to_string_pretty(&config).map_err(|e| e.to_string())?;
        std::fs::write(self.config(), text).map_err(|e| io(&self.config(), &e))
    }

    /// Writes a complete home for a validator whose keys and genesis are already decided (a
    /// devnet, a test): both key files (0600), `config.toml` and `genesis.json`.
    ///
    /// # Errors
    /// What could not be written, or a key file that already exists.
    pub fn write(
        &self,
        consensus: &Keypair,
        network: &Keypair,
        config: &Config,
        genesis: &Genesis,
    ) -> Result<(), String> {
        std::fs::create_dir_all(self.0.join("keys")).map_err(|e| io(&self.0, &e))?;
        write_key(&self.consensus_key(), &consensus.seed())?;
        write_key(&self.network_key(), &network.seed())?;
        let text = toml::to_string_pretty(config).map_err(|e| e.to_string())?;
        std::fs::write(self.config(), text).map_err(|e| io(&self.config(), &e))?;
        let genesis = serde_json::to_string_pretty(genesis).map_err(|e| e.to_string())?;
        std::fs::write(self.genesis(), genesis).map_err(|e| io(&self.genesis(), &e))
    }

    /// Reads `config.toml`.
    ///
    /// # Errors
    /// The file is missing or not a valid config (unknown fields included).
    pub fn load_config(&self) -> Result<Config, String> {
        let path = self.config();
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, &e))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads `genesis.json`.
    ///
    /// # Errors
    /// The file is missing or not a genesis document.
    pub fn load_genesis(&self) -> Result<Genesis, String> {
        let path = self.genesis();
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, &e))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads a key file.
    ///
    /// # Errors
    /// Missing, readable by others, or not a 32-byte hex seed.
    pub fn load_key(path: &Path) -> Result<Keypair, String> {
        check_private(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| io(path, &e))?;
        let bytes = hex::decode(text.trim()).map_err(|e| format!("{}: {e}", path.display()))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("{}: a key file holds a 32-byte hex seed", path.display()))?;
        Ok(Keypair::from_seed(&seed))
    }
}

fn io(path: &Path, e: &std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

fn random_seed() -> Result<[u8; 32], String> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(seed)
}

/// Writes a key file readable by its owner only.
///
/// # Errors
/// The file could not be written.
pub fn write_key(path: &Path, seed: &[u8; 32]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(path, &e))?;
    file.write_all(hex::encode(seed).as_bytes()).map_err(|e| io(path, &e))
}

fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_err(|e| io(path, &e))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}
