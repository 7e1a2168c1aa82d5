//! Member and governance commands: register and fund accounts, withdraw, freeze, post and
//! release guaranty-fund cash, publish index prices, propose and approve governance actions.
//! Each is one signed tx from the member's key, waited on until committed so the answer says
//! what the ledger did.

use crate::node::{CliError, CliResult, Node};
use crate::output;
use crate::sign::{KeyChoice, Signer, now_ms};
use crate::units;
use clap::Subcommand;
use serde_json::Value;
use tokenbook_protocol::{
    AccountId, AccountLimits, Approve, Cash, CashTransfer, GovAction, GuarantyTransfer, Hash,
    IndexId, IndexObservation, ProposalId, Propose, PublicKey, Qty, RegisterAccount, SetFrozen,
    Timestamp, TxBody,
};

/// `tokenbook member …`.
#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Register a trader account owned by PUBKEY (hex), cleared by you.
    RegisterAccount {
        /// The trader's public key (`tokenbook keys show NAME`).
        pubkey: String,
        /// Largest order (lots).
        #[arg(long, default_value_t = 1_000)]
        max_order_qty: i64,
        /// Most open orders.
        #[arg(long, default_value_t = 500)]
        max_open_orders: u32,
        /// Largest position per market (lots).
        #[arg(long, default_value_t = 10_000)]
        max_position: i64,
        /// Self-trade group (accounts of one non-zero group never match each other).
        #[arg(long, default_value_t = 0)]
        self_trade_group: u64,
    },
    /// Attest a deposit of AMOUNT USD to ACCOUNT.
    Deposit {
        /// The account.
        account: u64,
        /// USD, e.g. 25000 or 12.50.
        amount: String,
        /// Your reference for the transfer (used once; default: a fresh one).
        #[arg(long)]
        reference: Option<String>,
    },
    /// Attest a withdrawal of AMOUNT USD from ACCOUNT.
    Withdraw {
        /// The account.
        account: u64,
        /// USD.
        amount: String,
        /// Your reference for the transfer (used once; default: a fresh one).
        #[arg(long)]
        reference: Option<String>,
    },
    /// Post AMOUNT USD of your own cash to your guaranty-fund contribution (a top-up pays what
    /// defaults used first; your traders may add risk only while nothing is due and the
    /// contribution meets its requirement).
    PostGuaranty {
        /// USD.
        amount: String,
    },
    /// Take AMOUNT USD of your guaranty-fund contribution back (only above the requirement,
    /// with nothing due).
    ReleaseGuaranty {
        /// USD.
        amount: String,
    },
    /// Freeze an account (its orders are cancelled), or unfreeze it.
    Freeze {
        /// The account.
        account: u64,
        /// Unfreeze instead.
        #[arg(long)]
        unfreeze: bool,
    },
}

/// `tokenbook gov …`.
#[derive(Subcommand, Debug)]
pub enum GovCommand {
    /// Propose an action, given as the JSON of a governance action (docs/wire-format.md), e.g.
    /// `'{"set_market_status":{"market":1,"change":"halt"}}'`.
    Propose {
        /// The action's JSON.
        action: String,
        /// Seconds (block time) until the proposal lapses.
        #[arg(long, default_value_t = 86_400)]
        expires_in: u64,
    },
    /// Approve an open proposal.
    Approve {
        /// Its id.
        id: u64,
    },
    /// List open proposals.
    List,
}

fn limits(max_order_qty: i64, max_open_orders: u32, max_position: i64) -> AccountLimits {
    AccountLimits {
        max_order_qty: Qty::new(max_order_qty),
        max_open_orders,
        max_position: Qty::new(max_position),
    }
}

fn reference(given: Option<String>, account: u64, amount: i128) -> Hash {
    match given {
        Some(text) => Hash::digest(text.as_bytes()),
        None => Hash::digest_parts(&[
            &account.to_be_bytes(),
            &amount.to_be_bytes(),
            &now_ms().to_be_bytes(),
        ]),
    }
}

fn transfer(account: u64, amount: &str, given: Option<String>) -> CliResult<CashTransfer> {
    let amount = units::usd_to_cash(amount)?;
    Ok(CashTransfer {
        account: AccountId::new(account),
        amount: Cash::new(amount),
        reference: reference(given, account, amount),
    })
}

/// Runs a member command.
///
/// # Errors
/// Bad arguments, key or node errors, the ledger's refusal.
pub fn run(node: &Node, key: &KeyChoice, command: MemberCommand, as_json: bool) -> CliResult<()> {
    let body = match command {
        MemberCommand::RegisterAccount {
            pubkey,
            max_order_qty,
            max_open_orders,
            max_position,
            self_trade_group,
        } => {
            let owner = PublicKey::from_hex(&pubkey).map_err(|e| {
                CliError::new("bad_argument", format!("{pubkey:?} is not a public key: {e}"))
            })?;
            TxBody::RegisterAccount(RegisterAccount {
                owner,
                limits: limits(max_order_qty, max_open_orders, max_position),
                self_trade_group,
            })
        }
        MemberCommand::Deposit { account, amount, reference } => {
            TxBody::Deposit(transfer(account, &amount, reference)?)
        }
        MemberCommand::Withdraw { account, amount, reference } => {
            TxBody::Withdraw(transfer(account, &amount, reference)?)
        }
        MemberCommand::PostGuaranty { amount } => TxBody::PostGuaranty(GuarantyTransfer {
            amount: Cash::new(units::usd_to_cash(&amount)?),
        }),
        MemberCommand::ReleaseGuaranty { amount } => TxBody::ReleaseGuaranty(GuarantyTransfer {
            amount: Cash::new(units::usd_to_cash(&amount)?),
        }),
        MemberCommand::Freeze { account, unfreeze } => {
            TxBody::SetFrozen(SetFrozen { account: AccountId::new(account), frozen: !unfreeze })
        }
    };
    send(node, key, body, as_json)
}

fn send(node: &Node, key: &KeyChoice, body: TxBody, as_json: bool) -> CliResult<()> {
    let answer = Signer::open(node, key)?.send(body, true)?;
    output::receipt(&units::markets(node)?, &answer, as_json);
    Ok(())
}

/// `tokenbook oracle publish INDEX PRICE` (USD, observed now).
///
/// # Errors
/// Bad arguments, key or node errors, the ledger's refusal.
pub fn publish(
    node: &Node,
    key: &KeyChoice,
    index: u32,
    price: &str,
    as_json: bool,
) -> CliResult<()> {
    let body = TxBody::PublishIndex(IndexObservation {
        index: IndexId::new(index),
        price: Cash::new(units::usd_to_cash(price)?),
        observed_at: Timestamp::new(now_ms()),
    });
    send(node, key, body, as_json)
}

/// Runs a governance command.
///
/// # Errors
/// Bad arguments, key or node errors, the ledger's refusal.
#[allow(clippy::print_stdout)]
pub fn gov(node: &Node, key: &KeyChoice, command: GovCommand, as_json: bool) -> CliResult<()> {
    match command {
        GovCommand::Propose { action, expires_in } => {
            let action: GovAction = serde_json::from_str(&action).map_err(|e| {
                CliError::new("bad_argument", format!("not a governance action: {e}"))
            })?;
            let expires_at = now_ms().saturating_add(expires_in.saturating_mul(1_000));
            let body = TxBody::Propose(Propose { action, expires_at: Timestamp::new(expires_at) });
            send(node, key, body, as_json)
        }
        GovCommand::Approve { id } => {
            send(node, key, TxBody::Approve(Approve { proposal: ProposalId::new(id) }), as_json)
        }
        GovCommand::List => {
            let list = node.get("/v1/proposals")?;
            if as_json {
                output::json(&list);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    vec![
                        p["id"].to_string(),
                        p["proposer"].to_string(),
                        approvals(&p["approvals"]),
                        p["expires_at"].to_string(),
                        p["action"].to_string(),
                    ]
                })
                .collect();
            output::table(&["id", "proposer", "approvals", "expires at (ms)", "action"], &rows);
            Ok(())
        }
    }
}

fn approvals(list: &Value) -> String {
    let ids: Vec<String> = list.as_array().into_iter().flatten().map(Value::to_string).collect();
    ids.join(",")
}
