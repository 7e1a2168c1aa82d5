//! Signing for the CLI: which key, which account, which chain, which nonce.
//!
//! Promises: the key comes from `--key-file` or the key store (`--key NAME`); the account is
//! `--account` or, when omitted, the one the node says the key signs for (`/v1/keys/{key}`);
//! the chain id is the node's; the nonce is the wall clock in milliseconds (the wire format's
//! nonce rule). Another client signing for the same account in the same millisecond takes the
//! nonce first: the node refuses ours (`mempool_nonce_pending`, or `nonce_replayed` in the
//! block), the refused tx has no effect, and the CLI signs it again with a later nonce (at most
//! [`NONCE_ATTEMPTS`] times).

use crate::node::{CliError, CliResult, Node};
use serde_json::Value;
use std::path::PathBuf;
use tokenbook_protocol::{AccountId, Keypair, TxBody, TxPayload};

/// Where the signing key comes from.
#[derive(Debug, Clone)]
pub struct KeyChoice {
    /// The key store directory.
    pub dir: PathBuf,
    /// A key by name in the store.
    pub name: String,
    /// A key file path (overrides `name`).
    pub file: Option<PathBuf>,
    /// The account acted for (default: the key's account on the node).
    pub account: Option<u64>,
}

impl KeyChoice {
    /// Loads the key.
    ///
    /// # Errors
    /// No such key, an unreadable or badly permissioned file.
    pub fn load(&self) -> CliResult<Keypair> {
        let loaded = match &self.file {
            Some(file) => crate::keys::load_file(file),
            None => crate::keys::load(&self.dir, &self.name),
        };
        loaded.map_err(|e| CliError::new("key_unavailable", e))
    }
}

/// A loaded signer bound to a node.
pub struct Signer<'a> {
    /// The node txs go to.
    pub node: &'a Node,
    /// The key.
    pub key: Keypair,
    /// The account acted for.
    pub account: AccountId,
    chain_id: String,
    /// How the key was chosen (to look again when the cache was stale).
    choice: KeyChoice,
    /// Whether the chain id or the account came from the CLI's cache.
    from_cache: bool,
}

impl<'a> Signer<'a> {
    /// Loads the key and finds its account and the chain id on `node`.
    ///
    /// # Errors
    /// Key errors; `key_unknown` when the node knows no account for the key and none was given.
    pub fn open(node: &'a Node, choice: &KeyChoice) -> CliResult<Signer<'a>> {
        let key = choice.load()?;
        let mut cache = crate::cache::Cache::open(&choice.dir);
        let mut entry = cache.node(&node.url);
        let from_cache = entry.chain_id.is_some()
            || (choice.account.is_none()
                && entry.accounts.contains_key(&key.public_key().to_hex()));
        let chain_id = match entry.chain_id.clone() {
            Some(chain_id) => chain_id,
            None => {
                let status = node.get("/v1/status")?;
                status["chain_id"]
                    .as_str()
                    .ok_or_else(|| CliError::new("node_bad_answer", "status without chain_id"))?
                    .to_string()
            }
        };
        entry.chain_id = Some(chain_id.clone());
        let public = key.public_key().to_hex();
        let account = match (choice.account, entry.accounts.get(&public)) {
            (Some(id), _) | (None, Some(&id)) => AccountId::new(id),
            (None, None) => {
                let account = account_of(node, &key)?;
                entry.accounts.insert(public, account.get());
                account
            }
        };
        cache.store(&node.url, entry);
        Ok(Signer { node, key, account, chain_id, choice: choice.clone(), from_cache })
    }

    /// Signs `body` and submits it (waiting for commit with `wait`). A refusal meaning the
    /// cached chain id or account may be stale clears the cache and signs once more with what
    /// the node says now.
    ///
    /// # Errors
    /// The node's or ledger's refusal.
    pub fn send(&self, body: TxBody, wait: bool) -> CliResult<Value> {
        match self.send_once(body.clone(), wait) {
            Err(e) if self.from_cache && crate::cache::STALE.contains(&e.code.as_str()) => {
                crate::cache::Cache::open(&self.choice.dir).forget(&self.node.url);
                Signer::open(self.node, &self.choice)?.send_once(body, wait)
            }
            answer => answer,
        }
    }

    fn send_once(&self, body: TxBody, wait: bool) -> CliResult<Value> {
        let mut nonce = now_ms();
        let mut attempt = 1;
        loop {
            let payload = TxPayload {
                account: self.account,
                signer: self.key.public_key(),
                nonce,
                body: body.clone(),
            };
            let tx = payload.sign(&self.key, &self.chain_id);
            match self.node.submit(&tx, wait) {
                Err(e) if NONCE_TAKEN.contains(&e.code.as_str()) && attempt < NONCE_ATTEMPTS => {
                    attempt += 1;
                    nonce = now_ms().max(nonce + 1);
                }
                answer => {
                    let mut answer = answer?;
                    answer["hash"] = Value::String(tx.hash().to_string());
                    return Ok(answer);
                }
            }
        }
    }
}

fn account_of(node: &Node, key: &Keypair) -> CliResult<AccountId> {
    let public = key.public_key().to_hex();
    let grant = node.get(&format!("/v1/keys/{public}")).map_err(|e| {
        if e.code == "key_unknown" {
            CliError::new(
                "key_unknown",
                format!("no account has key {public} yet: ask your member to register it, or pass --account"),
            )
        } else {
            e
        }
    })?;
    grant["account"]
        .as_u64()
        .map(AccountId::new)
        .ok_or_else(|| CliError::new("node_bad_answer", "key lookup without an account"))
}

/// Refusals meaning another tx of the account took this nonce first (ours had no effect).
const NONCE_TAKEN: [&str; 2] = ["mempool_nonce_pending", "nonce_replayed"];
/// Signing attempts before such a refusal is reported.
pub const NONCE_ATTEMPTS: u32 = 3;

/// Milliseconds since the Unix epoch (the nonce).
#[must_use]
pub fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
