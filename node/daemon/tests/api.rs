//! The HTTP API against a running single-validator node: submit, status, tx status, blocks
//! (JSON and raw), state roots, accounts with proofs, and clear errors for bad input.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;
use tokenbook_consensus::TimeoutParams;
use tokenbook_node::api::{self, ApiState};
use tokenbook_node::driver::{BlockLimits, Driver};
use tokenbook_node::executor::Executor;
use tokenbook_node::mempool::{Mempool, MempoolConfig};
use tokenbook_node::runtime::{self, NoPeers};
use tokenbook_protocol::codec::{decode, encode};
use tokenbook_protocol::*;
use tokenbook_store::{StateProof, StoreConfig};

async fn node(
    dir: &std::path::Path,
) -> (String, tokio::sync::watch::Sender<bool>, runtime::Handles) {
    node_with(dir, limited(api::RateLimit { per_second: 1_000, burst: 1_000 })).await
}

fn limited(rate: api::RateLimit) -> api::ApiLimits {
    api::ApiLimits { rate, ..api::ApiLimits::default() }
}

async fn node_with(
    dir: &std::path::Path,
    api_limits: api::ApiLimits,
) -> (String, tokio::sync::watch::Sender<bool>, runtime::Handles) {
    node_full(dir, api_limits, 1_000, 1).await
}

/// A node whose blocks carry at most `block_txs` txs.
async fn node_full(
    dir: &std::path::Path,
    api_limits: api::ApiLimits,
    block_txs: usize,
    validators: usize,
) -> (String, tokio::sync::watch::Sender<bool>, runtime::Handles) {
    node_admitting(dir, api_limits, block_txs, validators, runtime::Admission::default()).await
}

/// [`node_full`] with its client admission bound.
async fn node_admitting(
    dir: &std::path::Path,
    api_limits: api::ApiLimits,
    block_txs: usize,
    validators: usize,
    admission: runtime::Admission,
) -> (String, tokio::sync::watch::Sender<bool>, runtime::Handles) {
    let mut genesis = genesis_of(validators);
    genesis.time = Timestamp::new(runtime::now_ms() - 60_000);
    let executor = Executor::open(dir, StoreConfig::new(CHAIN), &genesis).unwrap();
    let mempool = Mempool::new(MempoolConfig::new(CHAIN));
    let limits = BlockLimits {
        max_txs: block_txs,
        max_bytes: 1 << 20,
        interval_ms: 50,
        heartbeat_ms: 0,
        max_future_time_ms: 1_000,
    };
    let (driver, initial) = Driver::start(
        executor,
        mempool,
        key(100),
        TimeoutParams::default(),
        limits,
        runtime::now_ms(),
    )
    .unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (handles, _task) = runtime::spawn(driver, initial, NoPeers, stop_rx, admission);
    let state = ApiState::new(&handles, CHAIN);
    let app = api::router(state, &api_limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(api::serve(listener, app, api_limits.server, stop.subscribe()));
    (url, stop, handles)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, _handles) = node(dir.path()).await;
    // Bad input: garbage, trailing bytes, oversized body.
    let (code, body) = post(&format!("{url}/v1/tx"), vec![1, 2, 3]).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["code"].as_str().unwrap().starts_with("decode"), "{body}");
    let tx = registrations_at(runtime::now_ms(), 0, 1).remove(0);
    let mut trailing = encode(&tx);
    trailing.push(0);
    assert_eq!(post(&format!("{url}/v1/tx"), trailing).await.0, 400);
    assert_eq!(post(&format!("{url}/v1/tx"), vec![0; MAX_TX_BYTES + 100]).await.0, 413);
    // A good tx is accepted, then committed.
    let (code, body) = post(&format!("{url}/v1/tx"), encode(&tx)).await;
    assert_eq!(code, 202, "{body}");
    let hash = body["hash"].as_str().unwrap().to_string();
    assert_eq!(hash, tx.hash().to_hex());
    let mut committed = Value::Null;
    for _ in 0..100 {
        let (code, body) = get(&format!("{url}/v1/tx/{hash}")).await;
        assert_eq!(code, 200, "{body}");
        if body["status"] == "committed" {
            committed = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(committed["accepted"], true, "{committed}");
    let height = committed["height"].as_u64().unwrap();
    // Replayed: refused with the ledger's code, nothing enters the mempool.
    let (code, body) = post(&format!("{url}/v1/tx"), encode(&tx)).await;
    assert_eq!((code, body["code"].as_str()), (400, Some("nonce_replayed")), "{body}");
    assert_eq!(get(&format!("{url}/v1/tx/{}", "00".repeat(32))).await.0, 404);
    assert_eq!(get(&format!("{url}/v1/tx/zz")).await.1["code"], "bad_hash");
    // Status, block (JSON and canonical bytes), state root.
    let (_, status) = get(&format!("{url}/v1/status")).await;
    assert_eq!(status["chain_id"], CHAIN);
    assert!(status["height"].as_u64().unwrap() >= height);
    let (code, block) = get(&format!("{url}/v1/blocks/{height}")).await;
    assert_eq!(code, 200);
    assert_eq!(block["certificate"]["height"].as_u64(), Some(height));
    let raw = reqwest::get(format!("{url}/v1/blocks/{height}?format=raw"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let decoded: Block = decode(&raw).unwrap();
    assert_eq!(decoded.txs, vec![tx]);
    assert_eq!(get(&format!("{url}/v1/blocks/999999")).await.1["code"], "block_unknown");
    // The account the tx registered, proved against the state root of the latest height.
    let (code, account) = get(&format!("{url}/v1/accounts/1?prove=true")).await;
    assert_eq!(code, 200, "{account}");
    let proof_bytes = hex::decode(account["proof"]["bytes"].as_str().unwrap()).unwrap();
    let proof: StateProof = tokenbook_protocol::codec::decode_record(&proof_bytes).unwrap();
    let root_hex = account["proof"]["state_root"].as_str().unwrap();
    let proof_height = account["proof"]["height"].as_u64().unwrap();
    let (_, root) = get(&format!("{url}/v1/state-root/{proof_height}")).await;
    assert_eq!(root["state_root"].as_str(), Some(root_hex));
    let root = Hash(hex::decode(root_hex).unwrap().try_into().unwrap());
    proof.verify(&root).unwrap();
    assert_eq!(get(&format!("{url}/v1/accounts/424242")).await.1["code"], "account_unknown");
    // Markets (with their risk parameters and open interest) and an (empty) book; trades of an
    // unknown market are a clear 404.
    let (_, markets) = get(&format!("{url}/v1/markets")).await;
    assert_eq!(markets[0]["params"]["initial_margin_bps"], 1_000, "{markets}");
    assert_eq!(markets[0]["open_interest"], "0", "{markets}");
    // The clearing state: the fund, the fee pool, the members' guaranty contributions.
    let (code, clearing) = get(&format!("{url}/v1/clearing")).await;
    assert_eq!(code, 200, "{clearing}");
    assert_eq!(clearing["insurance_fund"], "0", "{clearing}");
    let floor = tokenbook_ledger::genesis::GUARANTY_FLOOR.to_string();
    assert_eq!(clearing["members"][0]["guaranty_posted"], floor.as_str(), "{clearing}");
    assert_eq!(clearing["members"][0]["short"], false, "{clearing}");
    assert_eq!(clearing["total_guaranty"], floor.as_str(), "{clearing}");
    assert_eq!(clearing["risk"]["guaranty_margin_bps"], 1_000, "{clearing}");
    let symbol = markets[0]["symbol"].as_str().unwrap().to_string();
    let (code, book) = get(&format!("{url}/v1/markets/{symbol}/book?depth=5")).await;
    assert_eq!(code, 200, "{book}");
    assert!(book["bids"].as_array().unwrap().is_empty());
    let (code, trades) = get(&format!("{url}/v1/markets/{symbol}/trades")).await;
    assert_eq!(code, 200, "{trades}");
    assert_eq!(get(&format!("{url}/v1/markets/NOPE/book")).await.1["code"], "market_unknown");
    // Prometheus metrics.
    let text = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    for name in [
        "tokenbook_height",
        "tokenbook_txs_committed_total",
        "tokenbook_block_interval_seconds_bucket",
        "tokenbook_mempool_txs",
        "tokenbook_store_memory_bytes",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    // ?wait=commit answers with the receipt once the tx is final.
    let second = registrations_at(runtime::now_ms(), 1, 1).remove(0);
    let (code, body) = post(&format!("{url}/v1/tx?wait=commit"), encode(&second)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["accepted"].as_bool()),
        (Some("committed"), Some(true))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trades_reach_the_trades_route_and_the_account_stream() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, _handles) = node(dir.path()).await;
    let submit = |tx: Tx| {
        let url = url.clone();
        async move {
            let (code, body) = post(&format!("{url}/v1/tx?wait=commit"), encode(&tx)).await;
            assert_eq!((code, body["accepted"].as_bool()), (200, Some(true)), "{body}");
        }
    };
    // Two traders, funded; the member publishes the index so the market takes risk.
    let now = runtime::now_ms();
    for tx in trading_setup(now, 1, 2) {
        submit(tx).await;
    }
    let (_, first) = get(&format!("{url}/v1/accounts/3")).await;
    let (seller, buyer) = (AccountId::new(3), AccountId::new(4));
    assert_eq!(first["owner"], json_key(&key(1_000)));
    // The seller's account stream, opened before the trade.
    let ws_url = format!("{}/v1/stream?account=3", url.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    submit(signed(&key(1_000), seller, now + 300, order(Side::Sell, TimeInForce::Gtc))).await;
    submit(signed(&key(1_001), buyer, now + 301, order(Side::Buy, TimeInForce::Ioc))).await;
    let (_, trades) = get(&format!("{url}/v1/markets/{}/trades", market_symbol(&url).await)).await;
    let list = trades["trades"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{trades}");
    assert_eq!(list[0]["qty"], serde_json::to_value(Qty::new(2)).unwrap(), "{trades}");
    assert_eq!(list[0]["maker"].as_u64(), Some(3), "{trades}");
    let (mut saw_trade, mut saw_order) = (false, false);
    for _ in 0..40 {
        let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await
        else {
            break;
        };
        let text = message.into_text().unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert!(value["height"].as_u64().is_some(), "every message names its height: {value}");
        if value["type"] == "trade" {
            assert_eq!(value["maker"].as_u64(), Some(3));
            saw_trade = true;
        }
        if value["type"] == "event" && value["event"]["event"] == "order_accepted" {
            saw_order = true;
        }
        if saw_trade && saw_order {
            break;
        }
    }
    assert!(saw_trade, "the account stream never carried the fill");
    assert!(saw_order, "the account stream never carried the seller's order");
    // The fees fund the insurance fund by governance (the only member approves by proposing):
    // a clearing event no account's stream names, found by the clearing index.
    let (_, before) = get(&format!("{url}/v1/clearing/events")).await;
    assert_eq!(before["events"], serde_json::json!([]), "{before}");
    let fund = TxBody::Propose(Propose {
        action: GovAction::FundInsurance { amount: Cash::new(1) },
        expires_at: Timestamp::new(now + 600_000),
    });
    submit(signed(&key(0), AccountId::new(1), now + 400, fund)).await;
    let (code, page) = get(&format!("{url}/v1/clearing/events")).await;
    assert_eq!(code, 200, "{page}");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["event"]["event"], "insurance_funded", "{page}");
    assert_eq!(page["next_from_height"], Value::Null, "{page}");
    let height = events[0]["height"].as_u64().unwrap();
    let (_, block) = get(&format!("{url}/v1/blocks/{height}")).await;
    assert_eq!(events[0]["time"], block["block"]["header"]["time"], "the block's time");
    // From a later height or time: nothing; both at once: refused.
    let (_, later) = get(&format!("{url}/v1/clearing/events?from_height={}", height + 1)).await;
    assert_eq!(later["events"], serde_json::json!([]), "{later}");
    let time = events[0]["time"].as_u64().unwrap();
    let (_, since) = get(&format!("{url}/v1/clearing/events?since_ms={time}&limit=1")).await;
    assert_eq!(
        (since["from_height"].as_u64(), since["events"].as_array().map(Vec::len)),
        (Some(height), Some(1)),
        "{since}"
    );
    // Both: the later start of the two.
    let both = format!("{url}/v1/clearing/events?since_ms=1&from_height={}", height + 1);
    assert_eq!(get(&both).await.1["from_height"].as_u64(), Some(height + 1));
    let both = format!("{url}/v1/clearing/events?since_ms={time}&from_height=1");
    assert_eq!(get(&both).await.1["events"].as_array().map(Vec::len), Some(1));
    // The market answer carries its index (published at $10) and the status the block time.
    let (_, markets) = get(&format!("{url}/v1/markets")).await;
    assert_eq!(markets[0]["index_price_usd"], "10.000000", "{markets}");
    assert_eq!(markets[0]["index_twap_usd"], "10.000000", "a constant price averages to itself");
    assert_eq!(markets[0]["index_fresh"], true, "{markets}");
    assert_eq!(markets[0]["settlement_window_open"], false, "{markets}");
    let (_, status) = get(&format!("{url}/v1/status")).await;
    assert!(status["time"].as_u64().unwrap() >= time, "{status}");
}

fn json_key(key: &Keypair) -> Value {
    serde_json::to_value(key.public_key()).unwrap()
}

async fn market_symbol(url: &str) -> String {
    get(&format!("{url}/v1/markets")).await.1[0]["symbol"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_is_rate_limited_by_address() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, _handles) =
        node_with(dir.path(), limited(api::RateLimit { per_second: 1, burst: 10 })).await;
    // One client keeps one connection (reqwest pools it).
    let client = reqwest::Client::new();
    let mut limited = 0;
    for _ in 0..40 {
        let r = client.get(format!("{url}/v1/status")).send().await.unwrap();
        if r.status().as_u16() == 429 {
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["code"], "rate_limited");
            limited += 1;
        }
    }
    // 40 requests against a burst of 10 refilled at one per second: about 30 refused (fewer if
    // the machine is slow enough for refills).
    assert!((15..=30).contains(&limited), "{limited} of 40 limited with a burst of 10");
    // A new connection from the same address does not get a fresh bucket (it did when the
    // limiter was keyed by connection: a flooder just reconnected).
    let other = reqwest::Client::new();
    let again = other.get(format!("{url}/v1/status")).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 429, "a new connection from the same address");
}

/// The routes a CLI and an auditor need besides the basics: the receipt's events, the account
/// a key signs for, open orders with what is left, a certificate's bytes, any key's proof,
/// proposals, market terms, and tx hashes on the block stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routes_the_cli_and_the_auditor_use() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, _handles) = node(dir.path()).await;
    let ws_url = format!("{}/v1/stream?txs=true", url.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let now = runtime::now_ms();
    let mut hashes = Vec::new();
    for tx in trading_setup(now, 1, 2) {
        hashes.push(tx.hash().to_hex());
        let (code, body) = post(&format!("{url}/v1/tx?wait=commit"), encode(&tx)).await;
        assert_eq!((code, body["accepted"].as_bool()), (200, Some(true)), "{body}");
    }
    // The seller's resting order: its receipt names it, the account lists it with what is left.
    let sell =
        signed(&key(1_000), AccountId::new(3), now + 300, order(Side::Sell, TimeInForce::Gtc));
    let (_, receipt) = post(&format!("{url}/v1/tx?wait=commit"), encode(&sell)).await;
    let accepted = &receipt["events"][0];
    assert_eq!(accepted["event"], "order_accepted", "{receipt}");
    let (_, account) = get(&format!("{url}/v1/accounts/3")).await;
    assert_eq!(account["open_orders"][0]["id"], accepted["order"], "{account}");
    assert_eq!(account["open_orders"][0]["qty"], accepted["resting"], "{account}");
    // The key lookup.
    let public = key(1_000).public_key().to_hex();
    let (code, grant) = get(&format!("{url}/v1/keys/{public}")).await;
    assert_eq!(
        (code, grant["account"].as_u64(), grant["kind"].as_str()),
        (200, Some(3), Some("owner"))
    );
    assert_eq!(
        get(&format!("{url}/v1/keys/{}", key(9_999).public_key().to_hex())).await.1["code"],
        "key_unknown"
    );
    assert_eq!(get(&format!("{url}/v1/keys/zz")).await.1["code"], "bad_key");
    // The certificate's canonical bytes sign the block.
    let height = receipt["height"].as_u64().unwrap();
    let bytes =
        |path: String| async move { reqwest::get(path).await.unwrap().bytes().await.unwrap() };
    let block: Block =
        decode(&bytes(format!("{url}/v1/blocks/{height}?format=raw")).await).unwrap();
    let certificate: CommitCertificate =
        decode(&bytes(format!("{url}/v1/blocks/{height}/certificate")).await).unwrap();
    assert_eq!(certificate.block_hash, block.hash());
    assert_eq!(get(&format!("{url}/v1/blocks/999999/certificate")).await.0, 404);
    // Any state key: the market's record, proved against the root of that height.
    let key_hex = "0300000001";
    let (code, state) = get(&format!("{url}/v1/state/{key_hex}?height={height}")).await;
    assert_eq!(code, 200, "{state}");
    let proof: StateProof = tokenbook_protocol::codec::decode_record(
        &hex::decode(state["proof"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let root =
        Hash(hex::decode(state["state_root"].as_str().unwrap()).unwrap().try_into().unwrap());
    proof.verify(&root).unwrap();
    assert_eq!(proof.value.map(hex::encode).as_deref(), state["value"].as_str());
    assert_eq!(get(&format!("{url}/v1/state/")).await.0, 404);
    assert_eq!(get(&format!("{url}/v1/state/xyz")).await.1["code"], "bad_key");
    // Proposals (none open) and market terms.
    assert_eq!(get(&format!("{url}/v1/proposals")).await.1, serde_json::json!([]));
    let (_, markets) = get(&format!("{url}/v1/markets")).await;
    assert!(markets[0]["tick_size"].is_string() && markets[0]["expiry"].is_u64(), "{markets}");
    assert_eq!(
        markets[0]["best_ask"],
        serde_json::to_value(Price::new(1_000)).unwrap(),
        "{markets}"
    );
    // The stream listed every committed tx's hash.
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < hashes.len() {
        let next = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
        let Ok(Some(Ok(message))) = next else { break };
        let value: Value = serde_json::from_str(&message.into_text().unwrap()).unwrap();
        for hash in value["tx_hashes"].as_array().into_iter().flatten() {
            seen.insert(hash.as_str().unwrap().to_string());
        }
    }
    assert!(hashes.iter().all(|h| seen.contains(h)), "stream hashes {seen:?}");
}

/// Every refusal is the documented JSON, whichever layer gives it: routing, method, path and
/// query parsing, the body limit, the WebSocket upgrade, and the handlers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_is_json_with_a_code() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, _handles) = node(dir.path()).await;
    let client = reqwest::Client::new();
    let big = vec![0u8; MAX_TX_BYTES + 10];
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (client.get(format!("{url}/nope")), 404, "route_unknown"),
        (client.get(format!("{url}/v1/blocks/abc")), 400, "bad_path"),
        (client.get(format!("{url}/v1/accounts/-1")), 400, "bad_path"),
        (client.get(format!("{url}/v1/accounts/1?prove=maybe")), 400, "bad_query"),
        (client.get(format!("{url}/v1/markets/X/book?depth=deep")), 400, "bad_query"),
        (client.delete(format!("{url}/v1/status")), 405, "method_not_allowed"),
        (client.get(format!("{url}/v1/tx")), 405, "method_not_allowed"),
        (client.post(format!("{url}/v1/tx")).body(big), 413, "body_too_large"),
        (client.get(format!("{url}/v1/stream")), 400, "bad_request"),
        (client.get(format!("{url}/v1/tx/zz")), 400, "bad_hash"),
        (client.get(format!("{url}/v1/state/zz")), 400, "bad_key"),
        (client.post(format!("{url}/v1/tx")).body(vec![1, 2, 3]), 400, "decode_failed"),
    ];
    for (request, status, code) in cases {
        let request = request.build().unwrap();
        let what = format!("{} {}", request.method(), request.url());
        let answer = client.execute(request).await.unwrap();
        let content_type = answer.headers().get("content-type").cloned();
        assert_eq!(answer.status().as_u16(), status, "{what}");
        assert!(
            content_type.is_some_and(|v| v.to_str().unwrap().starts_with("application/json")),
            "{what}: not JSON"
        );
        let body: Value = answer.json().await.unwrap();
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
        if code != "decode_failed" {
            assert_eq!(body["code"], code, "{what}: {body}");
        } else {
            assert!(body["code"].as_str().is_some(), "{what}: {body}");
        }
    }
}

/// Reads until the peer closes; `true` if it closed within `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// A client that trickles a request head, or idles on a kept-alive connection, is cut off after
/// the header timeout instead of holding its socket for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let mut limits = limited(api::RateLimit { per_second: 1_000, burst: 1_000 });
    limits.server.header_timeout = Duration::from_millis(300);
    let (url, _stop, _handles) = node_with(dir.path(), limits).await;
    let address = url.trim_start_matches("http://").to_string();
    // Slowloris: half a head, then nothing.
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(5)).await, "a half-sent head");
    // Idle: one whole request answered, then silence on the kept-alive connection.
    let mut idle = tokio::net::TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await, "an idle kept-alive socket");
    // A connection that never sends a byte.
    let mut silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await, "a silent socket");
}

/// Connections beyond the per-address cap are answered `503 too_many_connections` without
/// reaching the router; when one closes, there is room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut limits = limited(api::RateLimit { per_second: 1_000, burst: 1_000 });
    limits.server.max_connections_per_ip = 4;
    let (url, _stop, _handles) = node_with(dir.path(), limits).await;
    let address = url.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    // The server counts a connection once it has accepted it; give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = tokio::net::TcpStream::connect(&address).await.unwrap();
    over.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), over.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains(r#""code":"too_many_connections""#), "{answer}");
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = get(&format!("{url}/v1/status")).await;
    assert_eq!(status, 200);
}

/// Compares, on the node's task, the published read view with one built from scratch from the
/// ledger it reflects; returns the height compared.
async fn view_matches_ledger(handles: &runtime::Handles) -> Height {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let published = handles.view.clone();
    let job: runtime::ReadJob = Box::new(move |driver| {
        let executor = driver.executor();
        let view = published.borrow().clone();
        let mut built = tokenbook_node::view::ReadView::build(executor.ledger(), executor.root());
        built.dropped = view.dropped.clone();
        // Sequence numbers count the updates a node published since it started.
        for (id, market) in &view.markets {
            if let Some(fresh) = built.markets.get_mut(id) {
                std::sync::Arc::make_mut(fresh).seq = market.seq;
            }
        }
        let _ = reply.send((view.height, *view == built));
    });
    handles.commands.send(runtime::Command::Read(job)).await.unwrap();
    let (height, same) = answer.await.unwrap();
    assert!(same, "the read view at height {height} differs from a fresh build of the ledger");
    height
}

/// The read view the API answers from is republished after every commit from what the block
/// touched; after blocks of orders, fills, cancels and replaces it equals a view built from the
/// whole ledger, and the API's answers come from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_view_follows_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, handles) = node(dir.path()).await;
    let now = runtime::now_ms();
    fund_traders(&url, now, 3).await;
    view_matches_ledger(&handles).await;
    let mut last = Height::new(0);
    for round in 0..12i64 {
        order_round(&url, now, round).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        last = view_matches_ledger(&handles).await;
    }
    assert!(last.get() > 3, "blocks were committed");
    // The API answers from the view: the book and an account's open orders agree with it.
    let view = handles.view.borrow().clone();
    let market = view.markets.values().next().unwrap().clone();
    let (_, book) = get(&format!("{url}/v1/markets/{}/book?depth=1000", market.spec.symbol)).await;
    if book["height"] == serde_json::to_value(view.height).unwrap() {
        assert_eq!(book["bids"].as_array().unwrap().len(), market.bids.len(), "{book}");
        assert_eq!(book["asks"].as_array().unwrap().len(), market.asks.len(), "{book}");
    }
}

/// A tx the mempool admitted (202) and then dropped because a block made it invalid answers
/// `status: dropped` with the refusal, not `404 tx_unknown`: a 202 always ends in an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_tx_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let rate = api::RateLimit { per_second: 1_000, burst: 1_000 };
    // One tx per block, so the second waits in the mempool while the first commits.
    let (url, _stop, _handles) = node_full(dir.path(), limited(rate), 1, 1).await;
    let now = runtime::now_ms();
    fund_traders(&url, now, 1).await;
    let (owner, trader) = (key(1_000), AccountId::new(3));
    let scoped = key(7_777);
    let authorise =
        TxBody::AuthoriseKey(AuthoriseKey { key: scoped.public_key(), expires_at: None });
    let (code, body) = post(
        &format!("{url}/v1/tx?wait=commit"),
        encode(&signed(&owner, trader, now + 500, authorise)),
    )
    .await;
    assert_eq!((code, body["accepted"].as_bool()), (200, Some(true)), "{body}");
    // The revoke and a tx of the revoked key, submitted back to back.
    let revoke = signed(
        &owner,
        trader,
        now + 501,
        TxBody::RevokeKey(RevokeKey { key: scoped.public_key() }),
    );
    let doomed = signed(&scoped, trader, now + 502, TxBody::CancelAll(CancelAll { market: None }));
    let (code, _) = post(&format!("{url}/v1/tx"), encode(&revoke)).await;
    assert_eq!(code, 202);
    let (code, body) = post(&format!("{url}/v1/tx"), encode(&doomed)).await;
    assert_eq!(code, 202, "{body}");
    let hash = doomed.hash().to_hex();
    let mut last = Value::Null;
    for _ in 0..100 {
        let (_, body) = get(&format!("{url}/v1/tx/{hash}")).await;
        if body["status"] == "dropped" || body["status"] == "committed" {
            last = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last["status"], "dropped", "{last}");
    assert_eq!(last["code"], "unauthorised_signer", "{last}");
    assert!(last["message"].as_str().is_some_and(|m| !m.is_empty()), "{last}");
}

/// What the block would refuse is refused at admission with the block's code, before the
/// signature is checked: a junk signature from a key no account knows is `unauthorised_signer`
/// (it never costs a verification), a price outside the band is `price_outside_band` (it used to
/// be `202`, then `accepted: false` in the receipt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_refuses_before_the_signature_with_the_blocks_code() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, _handles) = node(dir.path()).await;
    let now = runtime::now_ms();
    fund_traders(&url, now, 1).await;
    let trader = AccountId::new(3);
    let mut junk = signed(&key(31_337), trader, now + 500, order(Side::Buy, TimeInForce::Gtc));
    junk.signature = Signature([7; 64]);
    let (code, body) = post(&format!("{url}/v1/tx"), encode(&junk)).await;
    assert_eq!((code, body["code"].as_str()), (400, Some("unauthorised_signer")), "{body}");
    let mut far = order(Side::Buy, TimeInForce::Gtc);
    if let TxBody::PlaceOrder(o) = &mut far {
        o.price = Price::new(5_000);
    }
    let far = signed(&key(1_000), trader, now + 501, far);
    let (code, body) = post(&format!("{url}/v1/tx"), encode(&far)).await;
    assert_eq!((code, body["code"].as_str()), (400, Some("price_outside_band")), "{body}");
    // The owner's key with a bad signature passes admission and fails verification.
    let mut forged = signed(&key(1_000), trader, now + 502, order(Side::Buy, TimeInForce::Gtc));
    forged.signature = Signature([7; 64]);
    let (code, body) = post(&format!("{url}/v1/tx"), encode(&forged)).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["code"].as_str().is_some_and(|c| c.starts_with("sig_")), "{body}");
}

/// `POST /v1/txs`: many txs in one request, one answer each, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_gets_one_answer_per_tx() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, _handles) = node(dir.path()).await;
    let now = runtime::now_ms();
    fund_traders(&url, now, 1).await;
    let trader = AccountId::new(3);
    let good =
        |n: u64| signed(&key(1_000), trader, now + 600 + n, order(Side::Buy, TimeInForce::Gtc));
    let stranger = signed(&key(4_242), trader, now + 700, order(Side::Buy, TimeInForce::Gtc));
    let batch = TxBatch(vec![good(0), stranger, good(1), good(0)]);
    let (code, body) = post(&format!("{url}/v1/txs"), encode(&batch)).await;
    assert_eq!(code, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    let statuses: Vec<&str> = results.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pending", "refused", "pending", "refused"], "{body}");
    assert_eq!(results[1]["code"], "unauthorised_signer", "{body}");
    assert_eq!(results[3]["code"], "mempool_duplicate", "{body}");
    assert_eq!(results[0]["hash"], serde_json::to_value(good(0).hash()).unwrap());
    // Both admitted orders commit.
    for r in [&results[0], &results[2]] {
        let hash = r["hash"].as_str().unwrap();
        let mut status = Value::Null;
        for _ in 0..100 {
            status = get(&format!("{url}/v1/tx/{hash}")).await.1;
            if status["status"] == "committed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status["accepted"], true, "{status}");
    }
    // An empty batch is refused whole.
    let (code, body) = post(&format!("{url}/v1/txs"), encode(&TxBatch(Vec::new()))).await;
    assert_eq!(code, 400, "{body}");
}

/// Clients' txs beyond what the chain commits in the admission window are refused at once
/// (`503 mempool_full`), not queued for seconds behind a full mempool (issue #21).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_beyond_the_admission_window_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let rate = api::RateLimit { per_second: 1_000, burst: 1_000 };
    let admission = runtime::Admission { max_wait: Duration::from_millis(500), floor: 3 };
    let (url, _stop, _handles) =
        node_admitting(dir.path(), limited(rate), 1_000, 1, admission).await;
    // Nothing committed yet: the floor, 3 txs, may wait.
    let batch = TxBatch(registrations_at(runtime::now_ms(), 0, 5));
    let (code, body) = post(&format!("{url}/v1/txs"), encode(&batch)).await;
    assert_eq!(code, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    let statuses: Vec<&str> = results.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pending", "pending", "pending", "refused", "refused"], "{body}");
    assert_eq!(
        (results[4]["code"].as_str(), results[4]["http_status"].as_u64()),
        (Some("mempool_full"), Some(503)),
        "{body}"
    );
    assert!(results[3]["message"].as_str().unwrap().contains("500 ms"), "{body}");
}

/// While the backlog has no room, a client's txs are refused (`503 mempool_full`) before their
/// signatures are verified: at 2× the ceiling the excess costs the node no verification. A
/// forged tx then gets the same answer as a good one, since nothing was checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_refuses_txs_before_verifying_them() {
    let dir = tempfile::tempdir().unwrap();
    let rate = api::RateLimit { per_second: 1_000, burst: 1_000 };
    // No floor and nothing committed: the backlog has no room from the start.
    let admission = runtime::Admission { max_wait: Duration::from_millis(500), floor: 0 };
    let (url, _stop, _handles) =
        node_admitting(dir.path(), limited(rate), 1_000, 1, admission).await;
    let mut txs = registrations_at(runtime::now_ms(), 0, 2);
    txs[1].signature.0[33] ^= 1;
    for tx in txs {
        let (code, body) = post(&format!("{url}/v1/tx"), encode(&tx)).await;
        assert_eq!((code, body["code"].as_str()), (503, Some("mempool_full")), "{body}");
    }
}

/// A validator with no peers, where others exist, refuses submissions instead of holding txs
/// no other validator will see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_peers_refuses_submissions() {
    let dir = tempfile::tempdir().unwrap();
    let rate = api::RateLimit { per_second: 1_000, burst: 1_000 };
    let (url, _stop, _handles) = node_full(dir.path(), limited(rate), 1_000, 4).await;
    let tx = registrations_at(runtime::now_ms(), 0, 1).remove(0);
    let (code, body) = post(&format!("{url}/v1/tx"), encode(&tx)).await;
    assert_eq!((code, body["code"].as_str()), (503, Some("no_peers")), "{body}");
}

/// A client's copy of one side of a book, from the level-2 feed: price → (lots, orders).
type Levels = std::collections::BTreeMap<String, (Value, Value)>;

/// Applies a feed message to the client's book; returns the message's (height, seq).
fn apply_feed(message: &Value, bids: &mut Levels, asks: &mut Levels) -> (u64, u64) {
    let zero = serde_json::to_value(Qty::new(0)).unwrap();
    if message["type"] == "snapshot" {
        bids.clear();
        asks.clear();
    }
    for (side, book) in [("bids", &mut *bids), ("asks", &mut *asks)] {
        for level in message[side].as_array().unwrap() {
            let price = level["price"].to_string();
            if level["qty"] == zero {
                book.remove(&price);
            } else {
                book.insert(price, (level["qty"].clone(), level["orders"].clone()));
            }
        }
    }
    (message["height"].as_u64().unwrap(), message["seq"].as_u64().unwrap())
}

fn levels_of(answer: &Value) -> Levels {
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["price"].to_string(), (l["qty"].clone(), l["orders"].clone())))
        .collect()
}

/// Sends one round of orders from the three traders (and a cancel-all every fifth round).
async fn order_round(url: &str, now: u64, round: i64) {
    for (i, trader) in (0i64..).zip([3u64, 4, 5]) {
        let signer = key(1_000 + i.unsigned_abs());
        let nonce = now + 1_000 + (round * 10 + i).unsigned_abs();
        let side = if (round + i) % 2 == 0 { Side::Sell } else { Side::Buy };
        let mut body = order(side, TimeInForce::Gtc);
        if let TxBody::PlaceOrder(o) = &mut body {
            o.price = Price::new(990 + (round * 7 + i * 3) % 20);
            o.qty = Qty::new(1 + (round + i) % 3);
        }
        if round % 5 == 4 && i == 0 {
            body = TxBody::CancelAll(CancelAll { market: Some(MarketId::new(1)) });
        }
        let tx = signed(&signer, AccountId::new(trader), nonce, body);
        let (code, answer) = post(&format!("{url}/v1/tx"), encode(&tx)).await;
        assert_eq!(code, 202, "{answer}");
    }
}

/// The level-2 book feed: a snapshot, then updates with consecutive sequence numbers; the
/// socket is killed mid-stream and the client resumes from its last sequence number; its
/// rebuilt book equals `GET …/book` at the same height.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_book_feed_resumes_after_a_dropped_socket() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, _handles) = node(dir.path()).await;
    let now = runtime::now_ms();
    fund_traders(&url, now, 3).await;
    let symbol = market_symbol(&url).await;
    let feed = format!("{}/v1/stream/markets/{symbol}?level=2", url.replace("http://", "ws://"));
    let (mut bids, mut asks) = (Levels::new(), Levels::new());
    let (mut ws, _) = tokio_tungstenite::connect_async(&feed).await.unwrap();
    let first = next(&mut ws).await.unwrap();
    assert_eq!(first["type"], "snapshot", "{first}");
    let (mut height, mut seq) = apply_feed(&first, &mut bids, &mut asks);
    for round in 0..4 {
        order_round(&url, now, round).await;
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    // Read a few updates, each the next sequence number.
    for _ in 0..2 {
        let update = next(&mut ws).await.unwrap();
        assert_eq!(update["type"], "update", "{update}");
        let (h, s) = apply_feed(&update, &mut bids, &mut asks);
        assert_eq!(s, seq + 1, "a gap in the feed: {update}");
        (height, seq) = (h, s);
    }
    // The socket dies; trading goes on.
    drop(ws);
    for round in 4..10 {
        order_round(&url, now, round).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Resume from the last applied sequence number: every update after it, in order.
    let resume = format!("{feed}&since={seq}");
    let (mut ws, _) = tokio_tungstenite::connect_async(&resume).await.unwrap();
    let mut resumed = 0;
    while let Some(message) =
        tokio::time::timeout(Duration::from_millis(500), next(&mut ws)).await.ok().flatten()
    {
        assert_eq!(message["type"], "update", "resumed with {message}");
        let (h, s) = apply_feed(&message, &mut bids, &mut asks);
        assert_eq!(s, seq + 1, "a gap after resuming: {message}");
        (height, seq) = (h, s);
        resumed += 1;
    }
    assert!(resumed > 0, "no updates after the reconnect");
    // Trading has stopped: the client's book is the node's.
    let (_, book) = get(&format!("{url}/v1/markets/{symbol}/book?depth=1000")).await;
    assert!(height <= book["height"].as_u64().unwrap(), "client at {height}, book {book}");
    assert_eq!(bids, levels_of(&book["bids"]), "bids differ from {book}");
    assert_eq!(asks, levels_of(&book["asks"]), "asks differ from {book}");
    // Human units beside the integers: a price in ticks is also decimal USD per quoted unit.
    let (_, markets) = get(&format!("{url}/v1/markets")).await;
    let tick_usd: f64 = markets[0]["tick_size_usd"].as_str().unwrap().parse().unwrap();
    for level in book["bids"].as_array().unwrap().iter().chain(book["asks"].as_array().unwrap()) {
        let ticks: f64 = level["price"].as_str().unwrap().parse().unwrap();
        let usd: f64 = level["price_usd"].as_str().unwrap().parse().unwrap();
        assert!((usd - ticks * tick_usd).abs() < 1e-9, "{level} at tick {tick_usd}");
    }
    assert!(markets[0]["mark_usd"].as_str().is_some(), "{markets}");
}

/// The level-3 feed carries every order; summed per price, the client's orders are the
/// level-2 book. The block stream replays heights from the store (`from_height`), in order and
/// without gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_feed_and_the_block_replay() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, _handles) = node(dir.path()).await;
    let now = runtime::now_ms();
    fund_traders(&url, now, 3).await;
    let symbol = market_symbol(&url).await;
    let ws_base = url.replace("http://", "ws://");
    let feed = format!("{ws_base}/v1/stream/markets/{symbol}?level=3");
    let (mut ws, _) = tokio_tungstenite::connect_async(&feed).await.unwrap();
    for round in 0..6 {
        order_round(&url, now, round).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut orders: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
    let mut last_seq = None;
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(500), ws.next()).await
    {
        let message: Value = serde_json::from_str(&message.into_text().unwrap()).unwrap();
        if message["type"] == "snapshot" {
            orders.clear();
        } else if let Some(prev) = last_seq {
            assert_eq!(message["seq"].as_u64().unwrap(), prev + 1, "{message}");
        }
        last_seq = message["seq"].as_u64();
        for order in message["orders"].as_array().unwrap() {
            let id = order["id"].to_string();
            if order["removed"] == true {
                orders.remove(&id);
            } else {
                orders.insert(id, order.clone());
            }
        }
    }
    let (_, book) = get(&format!("{url}/v1/markets/{symbol}/book?depth=1000")).await;
    let mut from_orders: std::collections::BTreeMap<(String, String), (i64, i64)> =
        std::collections::BTreeMap::new();
    for o in orders.values() {
        let qty: i64 = serde_json::from_value::<Qty>(o["qty"].clone()).unwrap().get();
        let level = from_orders.entry((o["side"].to_string(), o["price"].to_string())).or_default();
        *level = (level.0 + qty, level.1 + 1);
    }
    let mut from_book = std::collections::BTreeMap::new();
    for (side, name) in [("bids", "\"buy\""), ("asks", "\"sell\"")] {
        for l in book[side].as_array().unwrap() {
            let qty: i64 = serde_json::from_value::<Qty>(l["qty"].clone()).unwrap().get();
            from_book.insert(
                (name.to_string(), l["price"].to_string()),
                (qty, l["orders"].as_i64().unwrap()),
            );
        }
    }
    assert!(!from_book.is_empty(), "orders rest: {book}");
    assert_eq!(from_orders, from_book, "the level-3 orders do not sum to the book {book}");
    // The block stream from height 1: every height in order, from the store, then live.
    let (mut blocks, _) =
        tokio_tungstenite::connect_async(format!("{ws_base}/v1/stream?from_height=1"))
            .await
            .unwrap();
    let mut expected = 1;
    while expected < 20 {
        let message = tokio::time::timeout(Duration::from_secs(5), blocks.next()).await.unwrap();
        let message: Value =
            serde_json::from_str(&message.unwrap().unwrap().into_text().unwrap()).unwrap();
        if message["type"] == "block" {
            assert_eq!(message["height"].as_u64(), Some(expected), "{message}");
            expected += 1;
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next JSON message within five seconds.
async fn next(ws: &mut Ws) -> Option<Value> {
    use futures_util::StreamExt;
    let message = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    let text = message.ok()??.ok()?.into_text().ok()?;
    serde_json::from_str::<Value>(&text).ok()
}

/// Registers and funds `traders` traders and publishes the index, each tx committed.
async fn fund_traders(url: &str, now: u64, traders: u64) {
    for tx in trading_setup(now, 1, traders) {
        let (code, body) = post(&format!("{url}/v1/tx?wait=commit"), encode(&tx)).await;
        assert_eq!(code, 200, "{body}");
    }
}

/// A market a block touches without changing its book (an IOC that takes nothing, a mark that
/// moves) keeps its book sequence number: the next change is one more than the last, never a
/// restart from 0 (which repeated numbers and sent resuming clients stale updates).
#[test]
fn a_touched_market_keeps_its_book_sequence() {
    let ledger = tokenbook_ledger::genesis_state(&genesis_now()).unwrap();
    let market = *ledger.markets.keys().next().unwrap();
    let mut view = tokenbook_node::view::ReadView::build(&ledger, Hash::ZERO);
    std::sync::Arc::make_mut(view.markets.get_mut(&market).unwrap()).seq = 5;
    let touched =
        tokenbook_ledger::Touched { markets: vec![market], ..tokenbook_ledger::Touched::default() };
    let receipts = tokenbook_ledger::BlockReceipts::default();
    let next = view.next(&ledger, Hash::ZERO, &touched, Height::new(1), &receipts);
    assert_eq!(next.markets[&market].seq, 5, "an unchanged book keeps its sequence number");
    assert_eq!(next.updates_since(market, 5), Some(Vec::new()));
    // A sequence number this node never sent (another node's, or from before a restart) gets
    // a snapshot, not silence.
    assert_eq!(next.updates_since(market, 6), None);
}

/// docs/openapi.json documents exactly the routes the API serves, method for method; the node
/// serves the document itself; and every route answers its documented method (not `404
/// route_unknown` or `405 method_not_allowed`), so the table the test reads is the router's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes() {
    let spec: Value = serde_json::from_str(api::OPENAPI).expect("docs/openapi.json is JSON");
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "OpenAPI 3.1");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch", "head", "options"].contains(&&**method) {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let mut served: Vec<(String, String)> =
        api::served_routes().iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served, "docs/openapi.json and the router disagree");

    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, _handles) = node(dir.path()).await;
    let (code, body) = get(&format!("{url}/v1/openapi.json")).await;
    assert_eq!((code, &body), (200, &spec));
    let client = reqwest::Client::new();
    for (method, path) in &served {
        let concrete = path
            .replace("{hash}", &"00".repeat(32))
            .replace("{height}", "1")
            .replace("{key}", "01")
            .replace("{id}", "1")
            .replace("{symbol}", "NONE");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer = client.request(method.clone(), format!("{url}{concrete}")).send().await;
        let answer = answer.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        let code = serde_json::from_str::<Value>(&text).ok().map(|v| v["code"].clone());
        let unserved = code.is_some_and(|c| c == "route_unknown" || c == "method_not_allowed");
        assert!(!unserved, "{method} {concrete}: {status} {text}");
    }
}

/// The console is served from the binary, its settings read from the config, and every answer
/// may be read cross-origin (one member's console polls the others' nodes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_and_answers_are_public() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop, _handles) = node(dir.path()).await;
    let page = reqwest::get(format!("{url}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(page.headers()["access-control-allow-origin"], "*");
    let (code, body) = get(&format!("{url}/v1/console")).await;
    assert_eq!((code, &body["nodes"]), (200, &serde_json::json!([])));
    let (code, body) = get(&format!("{url}/console/no-such-file.js")).await;
    assert_eq!((code, body["code"].as_str()), (404, Some("asset_unknown")));
    let refused = reqwest::get(format!("{url}/v1/tx/zz")).await.unwrap();
    assert_eq!(refused.headers()["access-control-allow-origin"], "*", "errors too");
}
