//! `tokenbook`: the tokenbook trader, member and auditor CLI.
//!
//! Built so far (issue #8): `keys new | list | show | import`. Trading, member, query and audit
//! commands come next.

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

mod keys;

use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "tokenbook", version, about = "tokenbook trader, member and auditor CLI")]
struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Where keys are stored (default `$TOKENBOOK_HOME/keys` or `~/.tokenbook/keys`).
    #[arg(long, global = true)]
    keys_dir: Option<PathBuf>,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.keys_dir.clone().unwrap_or_else(keys::default_dir);
    let result = match cli.command {
        Command::Keys { command } => run_keys(&dir, command, cli.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokenbook: {e}");
            ExitCode::FAILURE
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
