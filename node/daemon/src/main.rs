//! `tokenbook-node`: the tokenbook validator node.
//!
//! `init --home DIR` creates keys and a config; `show-id --home DIR` prints the node's keys;
//! `start --home DIR` runs it (libp2p to the genesis validators, the API, consensus) until SIGINT
//! or SIGTERM; a node whose consensus stops on its own (divergence, store failure) exits non-zero
//! with the reason.

#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tokenbook_node::home::Home;
use tokenbook_node::node;

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
    let peer = tokenbook_net::peer_id(&network).map_err(|e| e.to_string())?;
    println!("peer_id: {peer}");
    Ok(())
}

fn start(home: &Home) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let running = node::start(home).await?;
        let mut status = running.handles.status.clone();
        // Until a signal, or until the consensus task ends on its own (divergence, store
        // failure), which `stop` then reports.
        tokio::select! {
            signal = wait_for_signal() => signal?,
            () = async { while status.changed().await.is_ok() {} } => {}
        }
        tracing::info!("stopping");
        running.stop().await
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
