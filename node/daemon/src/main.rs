//! `tokenbook-node`: the tokenbook validator node.
//!
//! `init --home DIR` creates keys and a config; `show-id --home DIR` prints the node's keys;
//! `genesis --member … --out FILE` writes a genesis from the members' exchanged keys;
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
    /// Write a genesis for members who exchanged their keys: the standard indexes and contracts
    /// (dated by now), each member a validator of power 1. Prints the file's SHA-256, which
    /// every member compares before starting.
    Genesis {
        /// The chain id (the one every member's `init` used).
        #[arg(long)]
        chain_id: String,
        /// `NAME=MEMBER_KEY:CONSENSUS_KEY:NETWORK_KEY` (hex public keys; the member key is the
        /// member's own signing key, e.g. from `tokenbook keys new`), once per member.
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Where the node's disk goes: each store column family's bytes and keys, and the bytes per
    /// committed tx (run it on a stopped node).
    Disk {
        /// The home directory.
        #[arg(long)]
        home: PathBuf,
        /// Flush and compact first, so the sizes hold no overwritten or pruned data.
        #[arg(long)]
        compact: bool,
    },
    /// Run the node until SIGINT or SIGTERM.
    Start {
        /// The home directory (with genesis.json).
        #[arg(long)]
        home: PathBuf,
        /// Misbehave (tests of the real node; this build has the `misbehave` feature):
        /// bad-state-root, future-time, stale-time, bad-tx-root, bad-validator-set,
        /// wrong-proposer, invalid-txs, torsion-sig, duplicate-txs, oversize-block, equivocate,
        /// withhold, double-vote, far-round, replay-old, amnesia.
        #[cfg(feature = "misbehave")]
        #[arg(long)]
        misbehave: Option<tokenbook_node::misbehave::Misbehaviour>,
        /// Abort the process the Nth time the driver passes POINT (tests of restart safety;
        /// `misbehave` feature): proposal, vote, before-commit, commit, prune.
        #[cfg(feature = "misbehave")]
        #[arg(long, value_name = "POINT:N")]
        crash_at: Option<String>,
        /// Run with the clock this many ms off (negative: behind), as a validator whose clock
        /// is wrong would (fault tests; `misbehave` feature).
        #[cfg(feature = "misbehave")]
        #[arg(long, value_name = "MS", allow_negative_numbers = true)]
        clock_offset_ms: Option<i64>,
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
        #[cfg(not(feature = "misbehave"))]
        Command::Start { home } => start(&Home(home), node::Options::default()),
        #[cfg(feature = "misbehave")]
        Command::Start { home, misbehave, crash_at, clock_offset_ms } => {
            tokenbook_node::runtime::set_clock_offset_ms(clock_offset_ms.unwrap_or(0));
            crash_at
                .as_deref()
                .map_or(Ok(()), tokenbook_engine::crash::arm)
                .and_then(|()| start(&Home(home), node::Options { misbehave }))
        }
        Command::Genesis { chain_id, members, out } => genesis(&chain_id, &members, &out),
        Command::Disk { home, compact } => disk(&Home(home), compact),
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

/// Prints the store's column families by size, and per committed tx (the tx index holds one
/// key per committed tx).
#[allow(clippy::print_stdout)]
fn disk(home: &Home, compact: bool) -> Result<(), String> {
    let config = home.load_config()?;
    let path = home.store();
    let store =
        tokenbook_store::Store::open(&path, tokenbook_store::StoreConfig::new(config.chain_id))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    if compact {
        store.compact().map_err(|e| e.to_string())?;
    }
    let columns = store.column_sizes();
    let txs = columns
        .iter()
        .find(|c| c.name == tokenbook_store::schema::TX_INDEX)
        .map_or(0, |c| c.keys)
        .max(1);
    let bytes = |c: &tokenbook_store::db::ColumnSize| c.sst_bytes + c.blob_bytes;
    let total: u64 = columns.iter().map(bytes).sum();
    let files = dir_bytes(&path);
    let height = store.height().map_or(0, |h| h.get());
    println!("height {height}, ~{txs} committed txs (tx index keys)");
    println!("{:<16} {:>12} {:>14} {:>10}", "column family", "keys", "bytes", "bytes/tx");
    for c in columns.iter().filter(|c| bytes(c) > 0 || c.keys > 0) {
        println!("{:<16} {:>12} {:>14} {:>10}", c.name, c.keys, bytes(c), bytes(c) / txs);
    }
    println!("{:<16} {:>12} {:>14} {:>10}", "all tables", "", total, total / txs);
    println!("{:<16} {:>12} {:>14} {:>10}", "directory", "", files, files / txs);
    Ok(())
}

/// Bytes of the files in `dir` (not recursive: a RocksDB directory is flat).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
        })
        .unwrap_or(0)
}

/// `NAME=MEMBER_KEY:CONSENSUS_KEY:NETWORK_KEY` as a genesis member with a validator.
fn member_spec(text: &str) -> Result<tokenbook_ledger::state::GenesisMember, String> {
    let usage = || format!("--member {text:?}: expected NAME=MEMBER_KEY:CONSENSUS_KEY:NETWORK_KEY");
    let (name, keys) = text.split_once('=').ok_or_else(usage)?;
    let keys: Vec<&str> = keys.split(':').collect();
    let [member, consensus, network] = keys.as_slice() else { return Err(usage()) };
    let key = |hex: &str| {
        tokenbook_protocol::PublicKey::from_hex(hex).map_err(|e| format!("{}: {hex}: {e}", usage()))
    };
    Ok(tokenbook_ledger::state::GenesisMember {
        name: name.to_string(),
        key: key(member)?,
        validator: Some(tokenbook_protocol::Validator {
            consensus_key: key(consensus)?,
            network_key: key(network)?,
            power: 1,
        }),
    })
}

#[allow(clippy::print_stdout)]
fn genesis(chain_id: &str, members: &[String], out: &std::path::Path) -> Result<(), String> {
    let members = members.iter().map(|m| member_spec(m)).collect::<Result<Vec<_>, _>>()?;
    let now = tokenbook_protocol::Timestamp::new(tokenbook_node::runtime::now_ms());
    let genesis = tokenbook_ledger::genesis::dated_devnet(chain_id, now, members, Vec::new());
    tokenbook_ledger::genesis_state(&genesis)?;
    let text = serde_json::to_string_pretty(&genesis).map_err(|e| e.to_string())?;
    if out.exists() {
        return Err(format!("{} exists; not overwritten", out.display()));
    }
    std::fs::write(out, &text).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "wrote {} (sha256 {})",
        out.display(),
        tokenbook_protocol::Hash::digest(text.as_bytes())
    );
    Ok(())
}

fn start(home: &Home, options: node::Options) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let running = node::start_with(home, options).await?;
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
