//! `tokenbook-node`: the tokenbook validator node.
//!
//! `init --home DIR` creates keys and a config; `show-id --home DIR` prints the node's keys;
//! `start --home DIR` runs it until SIGINT or SIGTERM. Until the libp2p transport lands
//! (issue #7), `start` runs a chain whose genesis has this node as its only validator.

#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tokenbook_node::api;
use tokenbook_node::driver::{BlockLimits, Driver};
use tokenbook_node::executor::Executor;
use tokenbook_node::home::Home;
use tokenbook_node::mempool::{Mempool, MempoolConfig};
use tokenbook_node::runtime::{self, NoPeers};
use tokenbook_store::StoreConfig;

#[derive(Parser)]
#[command(name = "tokenbook-node", version, about = "tokenbook validator node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a home directory: consensus and network keys, config.toml.
    Init {
        /// The home directory.
        #[arg(long)]
        home: PathBuf,
        /// The chain id.
        #[arg(long, default_value = "tokenbook-local")]
        chain_id: String,
    },
    /// Print the node's public keys.
    ShowId {
        /// The home directory.
        #[arg(long)]
        home: PathBuf,
    },
    /// Run the node until SIGINT or SIGTERM.
    Start {
        /// The home directory (with genesis.json).
        #[arg(long)]
        home: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Init { home, chain_id } => init(&Home(home), &chain_id),
        Command::ShowId { home } => show_id(&Home(home)),
        Command::Start { home } => start(&Home(home)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokenbook-node: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init(home: &Home, chain_id: &str) -> Result<(), String> {
    home.init(chain_id)?;
    show_id(home)?;
    eprintln!(
        "initialised {}; put the chain's genesis.json there, then `tokenbook-node start --home {}`",
        home.0.display(),
        home.0.display()
    );
    Ok(())
}

#[allow(clippy::print_stdout)]
fn show_id(home: &Home) -> Result<(), String> {
    let consensus = Home::load_key(&home.consensus_key())?.public_key();
    let network = Home::load_key(&home.network_key())?.public_key();
    println!("consensus_key: {}", consensus.to_hex());
    println!("network_key: {}", network.to_hex());
    Ok(())
}

fn start(home: &Home) -> Result<(), String> {
    let config = home.load_config()?;
    let genesis = home.load_genesis()?;
    if genesis.chain_id != config.chain_id {
        return Err(format!(
            "genesis is for chain {}, config.toml says {}",
            genesis.chain_id, config.chain_id
        ));
    }
    let key = Home::load_key(&home.consensus_key())?;
    let validators: Vec<_> = genesis.members.iter().filter_map(|m| m.validator).collect();
    if validators.len() != 1 || validators[0].consensus_key != key.public_key() {
        return Err("this build runs single-validator chains only (this node the one validator): \
                    the libp2p transport for multi-validator networks is not built yet (issue #7)"
            .into());
    }
    let retain = (config.store.retain_versions > 0).then_some(config.store.retain_versions);
    let store = StoreConfig { chain_id: config.chain_id.clone(), retain_versions: retain };
    let executor = Executor::open(&home.store(), store, &genesis).map_err(|e| e.to_string())?;
    let mempool = Mempool::new(MempoolConfig {
        chain_id: config.chain_id.clone(),
        max_txs: config.mempool.max_txs,
        max_bytes: config.mempool.max_bytes,
        max_per_account: config.mempool.per_account,
    });
    let limits = BlockLimits {
        max_txs: config.block.max_txs,
        max_bytes: config.block.max_bytes,
        interval_ms: config.block.interval_ms,
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let now = runtime::now_ms();
        let (driver, initial) =
            Driver::start(executor, mempool, key, config.consensus.timeouts(), limits, now)
                .map_err(|e| e.to_string())?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (handles, task) = runtime::spawn(driver, initial, NoPeers, stop_rx.clone());
        let api = api::router(
            api::ApiState {
                commands: handles.commands.clone(),
                status: handles.status.clone(),
                chain_id: config.chain_id.clone(),
                commits: handles.commits.clone(),
                metrics: handles.metrics.clone(),
            },
            api::RateLimit { per_second: config.api.rate_per_second, burst: config.api.burst },
        );
        let listener = tokio::net::TcpListener::bind(&config.api.listen)
            .await
            .map_err(|e| format!("api listen {}: {e}", config.api.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let mut api_stop = stop_rx;
        let server = tokio::spawn(async move {
            axum::serve(listener, api.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = api_stop.changed().await;
                })
                .await
        });
        tracing::info!(chain = %config.chain_id, api = %address, "node started");
        wait_for_signal().await?;
        tracing::info!("stopping");
        let _ = stop_tx.send(true);
        let _ = server.await;
        task.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
    })
}

async fn wait_for_signal() -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
