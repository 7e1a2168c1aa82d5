//! What the node's tests share: the engine tests' genesis and txs ([`base`]), node homes and
//! HTTP helpers.

#![allow(dead_code)]

mod base;

pub use base::*;
use tokenbook_ledger::Genesis;
use tokenbook_protocol::*;

/// `traders` traders (owner keys `1_000 + i`, accounts `members + 2 + i`: the first ids after
/// the genesis members and admin) registered and funded, and an index price published by every
/// member (the oracle needs a quorum) so the market takes risk; nonces near `now_ms`. The
/// deposits need the registrations committed.
pub fn trading_setup(now_ms: u64, members: u64, traders: u64) -> Vec<Tx> {
    let member = key(0);
    let mut txs = registrations_at(now_ms, 0, traders);
    for i in 0..traders {
        let account = AccountId::new(members + 2 + i);
        let body = TxBody::Deposit(CashTransfer {
            account,
            amount: Cash::new(1_000_000_000_000),
            reference: Hash::digest(&account.get().to_le_bytes()),
        });
        txs.push(signed(&member, AccountId::new(1), now_ms + 100 + i, body));
    }
    for m in 0..members {
        let publish = TxBody::PublishIndex(IndexObservation {
            index: IndexId::new(1),
            price: Cash::new(10_000_000),
            observed_at: Timestamp::new(now_ms),
        });
        txs.push(signed(&key(m), AccountId::new(m + 1), now_ms + 200, publish));
    }
    txs
}

pub async fn get(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null))
}

pub async fn post(url: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new().post(url).body(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Writes validator `i`'s home in `dir`: keys `100 + i` (consensus) and `200 + i` (network), a
/// config listening on `listen`, dialing `peers`, serving the API on `api`, with fast
/// timeouts, and `genesis`.
pub fn node_home(
    dir: &std::path::Path,
    i: u64,
    genesis: &Genesis,
    listen: &str,
    peers: Vec<String>,
    api: &str,
) -> tokenbook_node::home::Home {
    use tokenbook_node::home::{Config, Home};
    let home = Home(dir.join(format!("node{i}")));
    let mut config = Config { chain_id: CHAIN.into(), ..Config::default() };
    config.p2p.listen = vec![listen.into()];
    config.p2p.peers = peers;
    config.p2p.redial_ms = 200;
    config.api.listen = api.into();
    config.consensus.propose_base_ms = 500;
    config.consensus.propose_per_round_ms = 200;
    config.consensus.vote_base_ms = 200;
    config.consensus.vote_per_round_ms = 100;
    config.block.interval_ms = 20;
    home.write(&key(100 + i), &key(200 + i), &config, genesis).unwrap();
    home
}

/// Rewrites a home's `config.toml` through `edit`.
pub fn edit_config(
    home: &tokenbook_node::home::Home,
    edit: impl FnOnce(&mut tokenbook_node::home::Config),
) {
    let mut config = home.load_config().unwrap();
    edit(&mut config);
    std::fs::write(home.config(), toml::to_string(&config).unwrap()).unwrap();
}

/// Submits through the API at `api` (host:port); the node admits it.
pub async fn submit(api: impl std::fmt::Display, tx: &Tx) {
    let bytes = tokenbook_protocol::codec::encode(tx);
    let (code, body) = post(&format!("http://{api}/v1/tx"), bytes).await;
    assert_eq!(code, 202, "{body}");
}

/// Submits through the API at `api` and waits until the tx is committed and accepted.
pub async fn submit_committed(api: impl std::fmt::Display, tx: &Tx) {
    let bytes = tokenbook_protocol::codec::encode(tx);
    let (code, body) = post(&format!("http://{api}/v1/tx?wait=commit"), bytes).await;
    assert_eq!((code, body["accepted"].as_bool()), (200, Some(true)), "{body}");
}

/// A genesis of [`genesis`]'s chain that started a minute ago (nonces and block times are the
/// wall clock's in tests of whole nodes).
pub fn genesis_now() -> Genesis {
    let mut genesis = genesis();
    genesis.time = Timestamp::new(tokenbook_node::runtime::now_ms() - 60_000);
    genesis
}

/// Starts the [`NODES`] validators of `genesis` in this process, each from its own home in
/// `dir` ([`node_home`], then `edit`), node `i` dialing every node started before it (a full
/// mesh), on loopback ports the OS picks.
pub async fn start_validators(
    dir: &std::path::Path,
    genesis: &Genesis,
    edit: impl Fn(&mut tokenbook_node::home::Config),
) -> Vec<tokenbook_node::node::Running> {
    let mut nodes = Vec::new();
    let mut addresses = Vec::new();
    for i in 0..NODES as u64 {
        let listen = "/ip4/127.0.0.1/tcp/0";
        let home = node_home(dir, i, genesis, listen, addresses.clone(), "127.0.0.1:0");
        edit_config(&home, &edit);
        let mut running = tokenbook_node::node::start(&home).await.unwrap();
        addresses.push(running.dial_address().await.unwrap().to_string());
        nodes.push(running);
    }
    nodes
}

/// Registers and funds two traders through `api` (each tx committed), then sends `rounds`
/// crossing pairs ([`crossing_pair`]); returns the nonce base used.
pub async fn trade(api: impl std::fmt::Display + Copy, rounds: u64) -> u64 {
    let now = tokenbook_node::runtime::now_ms();
    for tx in trading_setup(now, NODES as u64, 2) {
        submit_committed(api, &tx).await;
    }
    for round in 0..rounds {
        for tx in crossing_pair(round, now + 1_000 + round) {
            submit(api, &tx).await;
        }
    }
    now
}
