//! A whole validator from its home directory: store, mempool, driver, libp2p transport and API,
//! wired together and started on the current tokio runtime. `tokenbook-node start` is this plus
//! signal handling; in-process tests start several in one runtime.
//!
//! Promises: [`start`] checks the home (config, genesis, keys, chain id) before binding
//! anything; an empty node with `sync.state_sync` starts from a verified peer snapshot (or, if
//! none can be verified in time, from genesis); [`Running::stop`] stops the API first, then the consensus task (which never
//! interrupts a store write), then the transport, and returns the driver's error if it stopped
//! on its own (divergence, store failure).

use crate::api;
use crate::driver::{BlockLimits, Driver, DriverError};
use crate::executor::Executor;
use crate::home::{Config, Home};
use crate::mempool::{Mempool, MempoolConfig};
use crate::runtime::{self, Handles};
use crate::snapshots::{SnapshotServer, StateSync, state_sync};
use std::net::SocketAddr;
use std::time::Duration;
use tokenbook_ledger::Genesis;
use tokenbook_net::{Libp2pNet, Multiaddr, NetConfig, PeerId};
use tokenbook_protocol::PublicKey;
use tokenbook_store::StoreConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A started node.
#[derive(Debug)]
pub struct Running {
    /// The API's address.
    pub api: SocketAddr,
    /// This node's libp2p identity.
    pub peer_id: PeerId,
    /// The p2p addresses being listened on (filled once bound).
    pub p2p: watch::Receiver<Vec<Multiaddr>>,
    /// The consensus task's handles (status, commits, commands, metrics).
    pub handles: Handles,
    stop: watch::Sender<bool>,
    consensus: JoinHandle<Result<(), DriverError>>,
    server: JoinHandle<std::io::Result<()>>,
    /// The API's own threads (apart from the consensus task's).
    api_runtime: ApiRuntime,
    net_stop: watch::Sender<bool>,
    net: Option<JoinHandle<()>>,
}

impl Running {
    /// The first p2p address with `/p2p/<PeerId>` appended, waiting until one is bound.
    ///
    /// # Errors
    /// The transport stopped before binding.
    pub async fn dial_address(&mut self) -> Result<Multiaddr, String> {
        let addresses = self
            .p2p
            .wait_for(|a| !a.is_empty())
            .await
            .map_err(|_| "the transport stopped".to_string())?;
        let address = addresses[0].clone();
        Ok(address.with(tokenbook_net::multiaddr::Protocol::P2p(self.peer_id)))
    }

    /// Whether the consensus task has ended (on its own: divergence, store failure).
    #[must_use]
    pub fn ended(&self) -> bool {
        self.consensus.is_finished()
    }

    /// Stops the node and waits for it.
    ///
    /// # Errors
    /// Why the consensus task stopped, if it stopped on an error.
    pub async fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        drop(self.api_runtime);
        let consensus = self.consensus.await;
        // The transport last: the consensus task may still have been sending.
        let _ = self.net_stop.send(true);
        if let Some(net) = self.net {
            let _ = net.await;
        }
        consensus.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
    }
}

/// The libp2p `PeerId` (as text) of a network key.
///
/// # Errors
/// The bytes are not an ed25519 public key.
pub fn peer_id_of(key: &PublicKey) -> Result<String, String> {
    tokenbook_net::peer_id(key).map(|p| p.to_string()).map_err(|e| e.to_string())
}

/// How to start a node, beyond what its home says.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Misbehave this way (tests of the real node).
    #[cfg(feature = "misbehave")]
    pub misbehave: Option<crate::misbehave::Misbehaviour>,
}

/// Starts the node in `home` on the current tokio runtime.
///
/// # Errors
/// A config, genesis or key problem, a store that does not open, or an address that cannot be
/// bound; each names what is wrong.
pub async fn start(home: &Home) -> Result<Running, String> {
    start_with(home, Options::default()).await
}

/// [`start`] with [`Options`].
///
/// # Errors
/// As [`start`].
pub async fn start_with(home: &Home, options: Options) -> Result<Running, String> {
    let config = home.load_config()?;
    let genesis = home.load_genesis()?;
    if genesis.chain_id != config.chain_id {
        return Err(format!(
            "genesis is for chain {}, config.toml says {}",
            genesis.chain_id, config.chain_id
        ));
    }
    let key = Home::load_key(&home.consensus_key())?;
    let network_key = Home::load_key(&home.network_key())?;
    let net_config = net_config(&config, &genesis, network_key.seed())?;
    let me = net_config.members.iter().position(|k| *k == network_key.public_key());
    let members = net_config.members.len() as u64;
    let (stop, stop_rx) = watch::channel(false);
    let (net_stop, net_stop_rx) = watch::channel(false);
    let mut net = Libp2pNet::start(net_config, net_stop_rx).map_err(|e| e.to_string())?;
    let net_task = net.take_task();
    if config.sync.state_sync && is_empty(&home.store()) {
        let how = StateSync {
            members,
            me: me.map(|i| i as u64),
            timeout: Duration::from_secs(config.sync.state_sync_timeout_secs),
        };
        state_sync(&mut net, &genesis, &home.store(), &store_config(&config), &how).await?;
    }
    #[cfg(feature = "misbehave")]
    let own_key = tokenbook_protocol::Keypair::from_seed(&key.seed());
    #[allow(unused_mut)]
    let (mut driver, initial) = open_driver(home, &config, &genesis, key)?;
    #[cfg(feature = "misbehave")]
    if let Some(kind) = options.misbehave {
        tracing::warn!(%kind, "this validator misbehaves (test build)");
        driver.misbehave(kind, &own_key);
    }
    #[cfg(not(feature = "misbehave"))]
    let Options {} = options;
    let peer_id = net.local_peer_id();
    let p2p = net.listening();
    let admission = runtime::Admission {
        max_wait: std::time::Duration::from_millis(config.mempool.max_wait_ms),
        ..runtime::Admission::default()
    };
    let (handles, consensus) = runtime::spawn(driver, initial, net, stop_rx.clone(), admission);
    let (api, server, api_runtime) = serve_api(&config, &handles, stop_rx)?;
    tracing::info!(chain = %config.chain_id, %api, %peer_id, "node started");
    Ok(Running {
        api,
        peer_id,
        p2p,
        handles,
        stop,
        consensus,
        server,
        api_runtime: ApiRuntime(Some(api_runtime)),
        net_stop,
        net: net_task,
    })
}

/// The store (as the executor opens it), the mempool and the driver, serving snapshots.
fn open_driver(
    home: &Home,
    config: &Config,
    genesis: &Genesis,
    key: tokenbook_protocol::Keypair,
) -> Result<(Driver, Vec<crate::driver::Action>), String> {
    let executor =
        Executor::open(&home.store(), store_config(config), genesis).map_err(|e| e.to_string())?;
    let (mut driver, initial) = Driver::start(
        executor,
        Mempool::new(mempool_config(config)),
        key,
        config.consensus.timeouts(),
        block_limits(config),
        runtime::now_ms(),
    )
    .map_err(|e| e.to_string())?;
    driver.serve_snapshots(SnapshotServer::new(
        home.snapshots(),
        config.sync.snapshot_every,
        config.sync.snapshot_chunk_entries,
    ));
    Ok((driver, initial))
}

fn net_config(config: &Config, genesis: &Genesis, seed: [u8; 32]) -> Result<NetConfig, String> {
    let mut members: Vec<PublicKey> =
        genesis.members.iter().filter_map(|m| m.validator.map(|v| v.network_key)).collect();
    let mut always = Vec::new();
    for hex in &config.p2p.allow_extra {
        let key = PublicKey::from_hex(hex)
            .map_err(|e| format!("config.toml: p2p.allow_extra {hex}: {e}"))?;
        members.push(key);
        always.push(key);
    }
    let parse = |text: &String| {
        text.parse::<Multiaddr>().map_err(|e| format!("config.toml: p2p address {text}: {e}"))
    };
    Ok(NetConfig {
        chain_id: config.chain_id.clone(),
        key_seed: seed,
        listen: config.p2p.listen.iter().map(parse).collect::<Result<_, _>>()?,
        dial: config.p2p.peers.iter().map(parse).collect::<Result<_, _>>()?,
        members,
        always,
        redial: Duration::from_millis(config.p2p.redial_ms.max(100)),
        ban: Duration::from_secs(config.p2p.ban_secs),
    })
}

/// Whether a store directory is missing or empty (a node that has never committed anything).
fn is_empty(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
}

fn store_config(config: &Config) -> StoreConfig {
    let retain = (config.store.retain_versions > 0).then_some(config.store.retain_versions);
    let retain_blocks = (config.store.retain_blocks > 0).then_some(config.store.retain_blocks);
    StoreConfig {
        chain_id: config.chain_id.clone(),
        retain_versions: retain,
        retain_blocks,
        sync_commits: true,
    }
}

fn mempool_config(config: &Config) -> MempoolConfig {
    MempoolConfig {
        chain_id: config.chain_id.clone(),
        max_txs: config.mempool.max_txs,
        max_bytes: config.mempool.max_bytes,
        max_per_account: config.mempool.per_account,
    }
}

fn block_limits(config: &Config) -> BlockLimits {
    BlockLimits {
        max_txs: config.block.max_txs,
        max_bytes: config.block.max_bytes,
        interval_ms: config.block.interval_ms,
        heartbeat_ms: config.block.heartbeat_ms,
        max_future_time_ms: config.consensus.max_future_time_ms,
    }
}

/// Connections the kernel queues for the API before it accepts them.
const API_BACKLOG: u32 = 4_096;

/// The API's runtime, shut down without waiting when dropped (dropping a runtime in the
/// middle of another one's task would panic).
/// Gives the calling thread the OS niceness `nice` (on Linux a thread's own; unprivileged
/// processes may only lower their priority, which is all this does). A failure only costs the
/// priority, so it is logged, not fatal.
fn lower_thread_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    let thread = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(thread), nice) {
        tracing::warn!("api thread priority: {e}");
    }
}

#[derive(Debug)]
struct ApiRuntime(Option<tokio::runtime::Runtime>);

impl Drop for ApiRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The API server, on a runtime of its own: `[api] threads` workers and at most
/// `read_threads` threads for store reads, so however hard clients read, the OS schedules the
/// consensus task beside them rather than behind them in one task queue — and, at `[api] nice`,
/// before them when the cores are busy.
fn serve_api(
    config: &Config,
    handles: &Handles,
    stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<std::io::Result<()>>, tokio::runtime::Runtime), String> {
    let nice = config.api.nice.clamp(0, 19);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.api.threads.max(1))
        .max_blocking_threads(config.api.read_threads.max(1))
        .thread_name("api")
        .on_thread_start(move || lower_thread_priority(nice))
        .enable_all()
        .build()
        .map_err(|e| format!("api runtime: {e}"))?;
    let listen = |e: std::io::Error| format!("api listen {}: {e}", config.api.listen);
    let wanted = std::net::ToSocketAddrs::to_socket_addrs(&config.api.listen)
        .map_err(listen)?
        .next()
        .ok_or_else(|| format!("api listen {}: no address", config.api.listen))?;
    // Entered, so the verifier task and the listener belong to the API's runtime.
    let entered = runtime.enter();
    let socket = if wanted.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(listen)?;
    socket.set_reuseaddr(true).map_err(listen)?;
    socket.bind(wanted).map_err(listen)?;
    // A deep accept queue: thousands of stream clients may connect at once.
    let listener = socket.listen(API_BACKLOG).map_err(listen)?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let limits = config.api.limits();
    let state = api::ApiState::new(handles, config.chain_id.clone())
        .with_console_nodes(config.console.nodes.clone());
    let router = api::router(state, &limits);
    let server = runtime.spawn(api::serve(listener, router, limits.server, stop));
    drop(entered);
    Ok((address, server, runtime))
}
