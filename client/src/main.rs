//! `tokenbook`: the tokenbook trader, member and auditor CLI.
//!
//! Every command talks to a node's public API (`--node`, default the local devnet's first
//! validator) or to nothing at all (keys); it depends on the protocol, ledger and store crates,
//! never on the node. Queries print tables (or `--json`); failures print the stable code and a
//! readable message and exit non-zero.

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

mod audit;
mod cache;
mod keys;
mod member;
mod node;
mod output;
mod query;
mod sign;
mod trade;
mod units;
mod watch;

use clap::{Parser, Subcommand};
use node::{CliError, CliResult, Node};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// The node asked when none is named: the local devnet's first validator.
const DEFAULT_NODE: &str = "http://127.0.0.1:8080";

#[derive(Parser)]
#[command(name = "tokenbook", version, about = "tokenbook trader, member and auditor CLI")]
struct Cli {
    /// Node API URL(s), comma-separated or repeated; audit commands use all of them, the others
    /// the first [default: http://127.0.0.1:8080, the devnet's first validator].
    #[arg(long, global = true, env = "TOKENBOOK_NODE", value_delimiter = ',')]
    node: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Where keys are stored (default `$TOKENBOOK_HOME/keys` or `~/.tokenbook/keys`).
    #[arg(long, global = true)]
    keys_dir: Option<PathBuf>,
    /// The key that signs, by name in the key store.
    #[arg(long, global = true, env = "TOKENBOOK_KEY", default_value = "default")]
    key: String,
    /// The key that signs, as a key file (e.g. a devnet trader's `trader-0.key`).
    #[arg(long, global = true, env = "TOKENBOOK_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// The account acted for (default: the account the node knows the key by).
    #[arg(long = "account", id = "acting_account", global = true)]
    acting_account: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Place, cancel and replace orders.
    Order {
        #[command(subcommand)]
        command: trade::OrderCommand,
    },
    /// The dead-man's switch: cancel all your orders unless refreshed in time.
    Deadman {
        #[command(subcommand)]
        command: DeadmanCommand,
    },
    /// The node's status.
    Status,
    /// Listed markets.
    Markets,
    /// A market's order book.
    Book {
        /// Market symbol or id.
        market: String,
        /// Price levels per side.
        #[arg(long, default_value_t = 10)]
        depth: usize,
    },
    /// A market's recent trades.
    Trades {
        /// Market symbol or id.
        market: String,
        /// How many (most recent).
        #[arg(long, default_value_t = 20)]
        last: usize,
    },
    /// An account: cash, positions, open orders (default: your key's account).
    Account {
        /// Account id.
        id: Option<u64>,
    },
    /// A tx's status and receipt.
    Tx {
        /// Its hash (hex).
        hash: String,
    },
    /// Follow fills, trades, a book or blocks as they commit.
    Watch {
        /// What to follow.
        topic: watch::Topic,
        /// Market (trades: filter; book: which).
        market: Option<String>,
        /// Stop after this many lines.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Member actions (signed with a member's key).
    Member {
        #[command(subcommand)]
        command: member::MemberCommand,
    },
    /// Index prices (members).
    Oracle {
        #[command(subcommand)]
        command: OracleCommand,
    },
    /// Governance proposals (members).
    Gov {
        #[command(subcommand)]
        command: member::GovCommand,
    },
    /// Verify the chain from genesis, prove an account, export trades and positions.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key from the OS's randomness.
    New {
        /// Its name.
        name: String,
    },
    /// List the stored keys.
    List,
    /// Show a key's public key.
    Show {
        /// Its name.
        name: String,
    },
    /// Store an existing seed.
    Import {
        /// Its name.
        name: String,
        /// The 32-byte ed25519 seed in hex.
        #[arg(long)]
        seed_hex: String,
    },
}

#[derive(Subcommand)]
enum DeadmanCommand {
    /// Arm or refresh it for SECONDS of block time (0 disarms).
    Set {
        /// Seconds.
        seconds: u64,
    },
}

#[derive(Subcommand)]
enum OracleCommand {
    /// Publish an index observation (USD, observed now).
    Publish {
        /// Index id.
        index: u32,
        /// Price in USD.
        price: String,
    },
}

#[derive(clap::Args, Clone)]
struct ReplayArgs {
    /// The genesis file to start from (the one in every validator's home).
    #[arg(long = "from-genesis", value_name = "GENESIS")]
    genesis: PathBuf,
    /// Last height (default: the node's latest).
    #[arg(long)]
    to: Option<u64>,
    /// Read blocks and certificates from this directory (as `--save` wrote them) instead of
    /// the nodes.
    #[arg(long)]
    blocks: Option<PathBuf>,
    /// Keep the replayed state in this RocksDB directory (default: a temporary one).
    #[arg(long, conflicts_with = "in_memory")]
    db: Option<PathBuf>,
    /// Keep the replayed state in memory.
    #[arg(long)]
    in_memory: bool,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Re-execute every block from genesis, checking certificates, signatures and state roots.
    Verify {
        #[command(flatten)]
        replay: ReplayArgs,
        /// Save every verified block and certificate here.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Verify an account's state at a height against the certified state root.
    Prove {
        /// Account id.
        account: u64,
        /// The height.
        #[arg(long)]
        height: u64,
        /// The genesis (its validators check the certificate).
        #[arg(long = "from-genesis", value_name = "GENESIS")]
        genesis: PathBuf,
    },
    /// Write trades (of --from..=--to) and positions (after --to) as CSV, from a verified replay.
    Export {
        #[command(flatten)]
        replay: ReplayArgs,
        /// First height whose trades are written.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let as_json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if as_json {
                eprintln!("{}", json!({ "code": e.code, "message": e.message }));
            } else {
                eprintln!("tokenbook: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> CliResult<()> {
    let dir = cli.keys_dir.clone().unwrap_or_else(keys::default_dir);
    let key = sign::KeyChoice {
        dir: dir.clone(),
        name: cli.key.clone(),
        file: cli.key_file.clone(),
        account: cli.acting_account,
    };
    let given: Vec<Node> = cli.node.iter().map(|url| Node::new(url)).collect::<CliResult<_>>()?;
    let nodes = if given.is_empty() { vec![Node::new(DEFAULT_NODE)?] } else { given.clone() };
    let node = nodes.first().ok_or_else(|| CliError::new("bad_argument", "no --node"))?;
    let j = cli.json;
    match cli.command {
        Command::Keys { command } => run_keys(&dir, command, j).map_err(CliError::from),
        Command::Order { command } => trade::run(node, &key, command, j),
        Command::Deadman { command: DeadmanCommand::Set { seconds } } => {
            trade::deadman(node, &key, seconds, j)
        }
        Command::Status => query::status(node, j),
        Command::Markets => query::markets(node, j),
        Command::Book { market, depth } => query::book(node, &market, depth, j),
        Command::Trades { market, last } => query::trades(node, &market, last, j),
        Command::Account { id } => {
            let id = match id {
                Some(id) => id,
                None => sign::Signer::open(node, &key)?.account.get(),
            };
            query::account(node, id, j)
        }
        Command::Tx { hash } => query::tx(node, &hash, j),
        Command::Watch { topic, market, count } => {
            let account = match (topic, cli.acting_account) {
                (watch::Topic::Fills, None) => Some(sign::Signer::open(node, &key)?.account.get()),
                (_, given) => given,
            };
            watch::run(node, &watch::Watch { topic, market, account, count }, j)
        }
        Command::Member { command } => member::run(node, &key, command, j),
        Command::Oracle { command: OracleCommand::Publish { index, price } } => {
            member::publish(node, &key, index, &price, j)
        }
        Command::Gov { command } => member::gov(node, &key, command, j),
        // Audit reads saved blocks without any node unless one is named.
        Command::Audit { command } => run_audit(nodes.clone(), given, command, j),
    }
}

fn verify_args(
    nodes: Vec<Node>,
    replay: ReplayArgs,
    save: Option<PathBuf>,
    json: bool,
) -> audit::VerifyArgs {
    let source = match replay.blocks {
        Some(dir) => audit::Source::Dir(dir),
        None => audit::Source::Nodes(nodes.clone()),
    };
    let keep = if replay.in_memory { audit::Keep::Memory } else { audit::Keep::Disk(replay.db) };
    audit::VerifyArgs { genesis: replay.genesis, source, nodes, to: replay.to, save, keep, json }
}

fn run_audit(
    nodes: Vec<Node>,
    given: Vec<Node>,
    command: AuditCommand,
    json: bool,
) -> CliResult<()> {
    match command {
        AuditCommand::Verify { replay, save } => {
            // Saved blocks need no node; a node named is still asked for the final comparison
            // and for proofs of a differing key.
            let nodes = if replay.blocks.is_some() { given } else { nodes };
            audit::verify(&verify_args(nodes, replay, save, json))
        }
        AuditCommand::Prove { account, height, genesis } => {
            let node = nodes.first().ok_or_else(|| CliError::new("bad_argument", "no --node"))?;
            audit::prove(node, &genesis, account, height, json)
        }
        AuditCommand::Export { replay, from, out } => {
            audit::export(&verify_args(nodes, replay, None, json), from, &out)
        }
    }
}

fn show(name: &str, key: &tokenbook_protocol::Keypair, as_json: bool) {
    let public = key.public_key().to_hex();
    if as_json {
        println!("{}", json!({ "name": name, "public_key": public }));
    } else {
        println!("{name}\t{public}");
    }
}

fn run_keys(dir: &std::path::Path, command: KeysCommand, as_json: bool) -> Result<(), String> {
    match command {
        KeysCommand::New { name } => show(&name, &keys::create(dir, &name)?, as_json),
        KeysCommand::Import { name, seed_hex } => {
            let seed = keys::parse_seed(&seed_hex)?;
            keys::save(dir, &name, &seed)?;
            show(&name, &tokenbook_protocol::Keypair::from_seed(&seed), as_json);
        }
        KeysCommand::Show { name } => show(&name, &keys::load(dir, &name)?, as_json),
        KeysCommand::List => {
            let names = keys::names(dir)?;
            if as_json {
                let all: Vec<_> = names
                    .iter()
                    .map(|n| {
                        keys::load(dir, n)
                            .map(|k| json!({"name": n, "public_key": k.public_key().to_hex()}))
                    })
                    .collect::<Result<_, _>>()?;
                println!("{}", serde_json::Value::Array(all));
            } else {
                for name in names {
                    show(&name, &keys::load(dir, &name)?, false);
                }
            }
        }
    }
    Ok(())
}
