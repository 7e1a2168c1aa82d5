//! The HTTP/JSON API (axum), documented in docs/api.md: submit a tx (optionally waiting for
//! commit), tx status, node status, blocks with certificates (JSON or canonical bytes), state
//! roots, accounts with proofs, markets, books, trades, the WebSocket stream, `/metrics`.
//!
//! Promises: every error is JSON `{"code", "message"}` with a stable code and a 4xx/5xx status;
//! request bodies are bounded before decoding; a tx that does not decode, verify or pass the
//! ledger's precheck never reaches the mempool; each connection is rate-limited. Reads run on
//! the node's task (they see one consistent height).

use crate::driver::Driver;
use crate::runtime::{Command, Status};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokenbook_protocol::codec::{decode, encode};
use tokenbook_protocol::{AccountId, Hash, Height, MAX_TX_BYTES, Tx};
use tokio::sync::{mpsc, oneshot, watch};

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The node's command channel.
    pub commands: mpsc::Sender<Command>,
    /// The node's latest status.
    pub status: watch::Receiver<Status>,
    /// The chain id.
    pub chain_id: String,
    /// Every commit (for `?wait=commit` and the stream).
    pub commits: tokio::sync::broadcast::Sender<crate::runtime::Commit>,
    /// Prometheus metrics.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

mod errors;
mod limits;
mod server;

pub use errors::{ApiError, ApiPath, ApiQuery, status_code_name};
pub use limits::RateLimit;
pub use server::{ServerLimits, serve};

type ApiResult = Result<Response, ApiError>;

/// Everything that bounds what clients may cost the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiLimits {
    /// Requests per client IP.
    pub rate: RateLimit,
    /// Requests being answered at once, across all clients.
    pub max_in_flight: usize,
    /// Longest a request may take (`?wait=commit` waits up to 10 s inside it).
    pub request_timeout: std::time::Duration,
    /// Open `/v1/stream` WebSockets at once.
    pub max_streams: usize,
    /// Connections and their timeouts.
    pub server: ServerLimits,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            rate: RateLimit { per_second: 200, burst: 400 },
            max_in_flight: 512,
            request_timeout: std::time::Duration::from_secs(30),
            max_streams: 2_048,
            server: ServerLimits::default(),
        }
    }
}

/// The routes, behind the per-client limits; every error answer is JSON. Serve with [`serve`]
/// (the limiter keys on the client address it records).
pub fn router(state: ApiState, limits: &ApiLimits) -> Router {
    let limiter =
        limits::Limiter::new(limits.rate, limits.max_in_flight, limits.request_timeout);
    routes(state)
        .fallback(errors::route_unknown)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(limiter, limits::limit))
        .layer(axum::middleware::from_fn(errors::json_errors))
}

fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/v1/tx", post(submit_tx).layer(DefaultBodyLimit::max(MAX_TX_BYTES + 1)))
        .route("/v1/tx/{hash}", get(tx_status))
        .route("/v1/status", get(status))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/blocks/{height}/certificate", get(certificate))
        .route("/v1/state/{key}", get(state_proof))
        .route("/v1/keys/{key}", get(key_grant))
        .route("/v1/proposals", get(proposals))
        .route("/v1/state-root/{height}", get(state_root))
        .route("/v1/accounts/{id}", get(account))
        .route("/v1/markets", get(markets))
        .route("/v1/clearing", get(clearing))
        .route("/v1/markets/{symbol}/book", get(book))
        .route("/v1/markets/{symbol}/trades", get(trades))
        .route("/v1/stream", get(stream))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Runs `read` on the node's task.
async fn read<T: Send + 'static>(
    state: &ApiState,
    read: impl FnOnce(&Driver) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let (reply, answer) = oneshot::channel();
    let job: Box<dyn FnOnce(&Driver) + Send> = Box::new(move |driver| {
        let _ = reply.send(read(driver));
    });
    state.commands.send(Command::Read(job)).await.map_err(|_| ApiError::unavailable())?;
    answer.await.map_err(|_| ApiError::unavailable())
}

#[derive(Deserialize)]
struct SubmitQuery {
    wait: Option<String>,
}

/// How long `?wait=commit` waits.
const WAIT_COMMIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn submit_tx(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<SubmitQuery>,
    body: Bytes,
) -> ApiResult {
    let tx: Tx = decode(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let wait = query.wait.as_deref() == Some("commit");
    // Subscribed before submitting, so the commit cannot slip past.
    let mut commits = state.commits.subscribe();
    let (reply, answer) = oneshot::channel();
    let submit = Command::Submit { txs: vec![tx], reply };
    state.commands.send(submit).await.map_err(|_| ApiError::unavailable())?;
    let verdict = answer.await.map_err(|_| ApiError::unavailable())?.pop();
    match verdict {
        Some(Ok(hash)) if wait => wait_for_commit(&mut commits, hash).await,
        Some(Ok(hash)) => {
            Ok((StatusCode::ACCEPTED, axum::Json(json!({ "hash": hash }))).into_response())
        }
        Some(Err(e)) => {
            let status = match e.code() {
                "mempool_full" | "mempool_account_full" => StatusCode::SERVICE_UNAVAILABLE,
                "mempool_duplicate" => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            Err(ApiError::new(status, e.code(), e.to_string()))
        }
        None => Err(ApiError::unavailable()),
    }
}

async fn wait_for_commit(
    commits: &mut tokio::sync::broadcast::Receiver<crate::runtime::Commit>,
    hash: Hash,
) -> ApiResult {
    let found = tokio::time::timeout(WAIT_COMMIT, async {
        loop {
            match commits.recv().await {
                Ok(commit) => {
                    if let Some(r) = commit.receipts.receipts.iter().find(|r| r.tx_hash == hash) {
                        return Some(receipt_json(hash, commit.height, &r.result));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .await;
    match found {
        Ok(Some(body)) => Ok(axum::Json(body).into_response()),
        Ok(None) => Err(ApiError::unavailable()),
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "commit_timeout",
            format!("{hash} was admitted but not committed within {} s", WAIT_COMMIT.as_secs()),
        )),
    }
}

fn receipt_json(
    hash: Hash,
    height: Height,
    result: &Result<Vec<tokenbook_ledger::Event>, tokenbook_ledger::Reject>,
) -> Value {
    match result {
        Ok(events) => json!({ "hash": hash, "status": "committed", "height": height,
                              "accepted": true, "events": events }),
        Err(reject) => json!({ "hash": hash, "status": "committed", "height": height,
                               "accepted": false, "code": reject.code.code(),
                               "message": reject.message }),
    }
}

fn parse_hash(text: &str) -> Result<Hash, ApiError> {
    let bad = || ApiError::new(StatusCode::BAD_REQUEST, "bad_hash", "a hash is 64 hex digits");
    let bytes: [u8; 32] = hex::decode(text).map_err(|_| bad())?.try_into().map_err(|_| bad())?;
    Ok(Hash(bytes))
}

async fn tx_status(State(state): State<ApiState>, ApiPath(hash): ApiPath<String>) -> ApiResult {
    let hash = parse_hash(&hash)?;
    let found = read(&state, move |driver| -> Result<Value, tokenbook_store::StoreError> {
        if driver.mempool().contains(&hash) {
            return Ok(json!({ "hash": hash, "status": "pending" }));
        }
        let receipt = driver.executor().store().tx_receipt(&hash)?;
        Ok(match receipt {
            None => Value::Null,
            Some((height, r)) => receipt_json(hash, height, &r.result),
        })
    })
    .await??;
    if found.is_null() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "tx_unknown",
            "no such tx (pending or committed)",
        ));
    }
    Ok(axum::Json(found).into_response())
}

async fn status(State(state): State<ApiState>) -> ApiResult {
    let s = *state.status.borrow();
    // The set deciding the next height (governance changes apply two heights after their
    // block, so this is known).
    let next = Height::new(s.height.get().saturating_add(1));
    let validators = read(&state, move |driver| {
        driver.executor().ledger().validator_set_for(next).validators.clone()
    })
    .await?;
    Ok(axum::Json(json!({
        "chain_id": state.chain_id,
        "height": s.height,
        "latest_block_hash": s.block_hash,
        "state_root": s.root,
        "validators": validators,
        "peers": s.peers,
        "catching_up": s.catching_up,
        "mempool": s.mempool,
        "bad_messages": s.bad_messages,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct BlockQuery {
    format: Option<String>,
}

async fn block(
    State(state): State<ApiState>,
    ApiPath(height): ApiPath<u64>,
    ApiQuery(query): ApiQuery<BlockQuery>,
) -> ApiResult {
    let height = Height::new(height);
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "block_unknown",
            format!("no block at height {height}"),
        )
    };
    if query.format.as_deref() == Some("raw") {
        // The stored canonical bytes, as they are: no decode and re-encode.
        let bytes = read(&state, move |driver| driver.executor().store().block_bytes(height))
            .await??
            .ok_or_else(unknown)?;
        return Ok(([("content-type", "application/octet-stream")], bytes).into_response());
    }
    let (block, certificate) = read(&state, move |driver| {
        let store = driver.executor().store();
        Ok::<_, tokenbook_store::StoreError>((store.block(height)?, store.certificate(height)?))
    })
    .await??;
    let (Some(block), Some(certificate)) = (block, certificate) else { return Err(unknown()) };
    Ok(axum::Json(json!({ "block": block, "certificate": certificate })).into_response())
}

async fn state_root(State(state): State<ApiState>, ApiPath(height): ApiPath<u64>) -> ApiResult {
    let height = Height::new(height);
    let root = read(&state, move |driver| driver.executor().store().root_at(height)).await?;
    match root {
        Ok(root) => Ok(axum::Json(json!({ "height": height, "state_root": root })).into_response()),
        Err(e) => Err(ApiError::new(StatusCode::NOT_FOUND, e.code(), e.to_string())),
    }
}

async fn certificate(State(state): State<ApiState>, ApiPath(height): ApiPath<u64>) -> ApiResult {
    let height = Height::new(height);
    let certificate =
        read(&state, move |driver| driver.executor().store().certificate(height)).await??;
    let certificate = certificate.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "block_unknown",
            format!("no certificate at height {height}"),
        )
    })?;
    Ok(([("content-type", "application/octet-stream")], encode(&certificate)).into_response())
}

#[derive(Deserialize)]
struct HeightQuery {
    height: Option<u64>,
}

/// Longest state key a proof is asked for (ledger keys are a table byte and a short id).
const MAX_STATE_KEY_BYTES: usize = 256;

/// `/v1/state/{key}`: a key's value at a height with its proof against that height's root.
async fn state_proof(
    State(state): State<ApiState>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<HeightQuery>,
) -> ApiResult {
    let key = hex::decode(&key)
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_STATE_KEY_BYTES)
        .ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_key", "a state key is 1..=256 bytes in hex")
        })?;
    let answer = read(&state, move |driver| {
        let store = driver.executor().store();
        let height = query.height.map_or(driver.executor().height(), Height::new);
        let proof = store.prove(&key, height)?;
        let root = store.root_at(height)?;
        Ok::<_, tokenbook_store::StoreError>(json!({
            "height": height, "state_root": root, "key": hex::encode(&key),
            "value": proof.value.as_ref().map(hex::encode), "proof": hex::encode(encode(&proof)),
        }))
    })
    .await?
    .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.code(), e.to_string()))?;
    Ok(axum::Json(answer).into_response())
}

/// `/v1/keys/{key}`: the account a registered key acts for.
async fn key_grant(State(state): State<ApiState>, ApiPath(key): ApiPath<String>) -> ApiResult {
    let key = tokenbook_protocol::PublicKey::from_hex(&key).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_key", format!("not a public key: {e}"))
    })?;
    let grant = read(&state, move |driver| {
        driver.executor().ledger().keys.get(&key).map(|grant| match grant {
            tokenbook_ledger::state::KeyGrant::Owner(account) => {
                json!({ "key": key, "account": account, "kind": "owner" })
            }
            tokenbook_ledger::state::KeyGrant::Trading { account, expires_at } => json!({
                "key": key, "account": account, "kind": "trading", "expires_at": expires_at }),
        })
    })
    .await?
    .ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "key_unknown", "no account has this key")
    })?;
    Ok(axum::Json(grant).into_response())
}

/// `/v1/proposals`: open governance proposals with their approvals.
async fn proposals(State(state): State<ApiState>) -> ApiResult {
    let list = read(&state, |driver| {
        let ledger = driver.executor().ledger();
        let list = ledger.proposals.values().map(|p| {
            json!({ "id": p.id, "proposer": p.proposer, "action": p.action,
                    "expires_at": p.expires_at, "approvals": p.approvals })
        });
        list.collect::<Vec<_>>()
    })
    .await?;
    Ok(axum::Json(list).into_response())
}

#[derive(Deserialize)]
struct AccountQuery {
    prove: Option<bool>,
    height: Option<u64>,
}

async fn account(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<u64>,
    ApiQuery(query): ApiQuery<AccountQuery>,
) -> ApiResult {
    let id = AccountId::new(id);
    let answer = read(&state, move |driver| -> Result<Option<Value>, (StatusCode, &'static str, String)> {
        let ledger = driver.executor().ledger();
        let Some(account) = ledger.accounts.get(&id) else { return Ok(None) };
        let mut body = json!({
            "id": account.id,
            "owner": account.owner,
            "member": account.member,
            "cash": account.cash.get().to_string(),
            "frozen": account.frozen,
            "positions": account.positions.iter().map(|(m, p)| json!({ "market": m, "position": p })).collect::<Vec<_>>(),
            "open_orders": open_orders(ledger, account),
            "height": ledger.height,
        });
        if account.kind == tokenbook_ledger::state::AccountKind::Member {
            let g = account.guaranty;
            body["guaranty"] = json!({
                "posted": g.posted.get().to_string(),
                "required": g.required.get().to_string(),
                "due": g.due.get().to_string(),
                "short": g.is_short(),
            });
        }
        if query.prove == Some(true) {
            let height = query.height.map_or(ledger.height, Height::new);
            let key = tokenbook_ledger::kv::account_key(id);
            let store = driver.executor().store();
            let proof = store
                .prove(&key, height)
                .map_err(|e| (StatusCode::NOT_FOUND, e.code(), e.to_string()))?;
            let root = store.root_at(height).map_err(|e| (StatusCode::NOT_FOUND, e.code(), e.to_string()))?;
            body["proof"] = json!({ "height": height, "state_root": root, "bytes": hex::encode(encode(&proof)) });
        }
        Ok(Some(body))
    })
    .await?
    .map_err(|(status, code, message)| ApiError::new(status, code, message))?;
    match answer {
        Some(body) => Ok(axum::Json(body).into_response()),
        None => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "account_unknown", format!("no account {id}")))
        }
    }
}

/// An account's open orders with what is left of each (untriggered stops show their size).
fn open_orders(
    ledger: &tokenbook_ledger::LedgerState,
    account: &tokenbook_ledger::state::Account,
) -> Vec<Value> {
    let order_json = |id: &tokenbook_protocol::OrderId| {
        let info = ledger.orders.get(id)?;
        let resting = ledger.markets.get(&info.market).and_then(|m| m.book.get(*id));
        let qty = match (resting, &info.pending_trigger) {
            (Some(resting), _) => resting.qty,
            (None, Some(pending)) => pending.qty,
            (None, None) => tokenbook_protocol::Qty::new(0),
        };
        Some(json!({ "id": id, "market": info.market, "side": info.side, "price": info.price,
                     "qty": qty, "client_order_id": info.client_order_id,
                     "triggered": info.pending_trigger.is_none() }))
    };
    account.open_orders.iter().filter_map(order_json).collect()
}

async fn markets(State(state): State<ApiState>) -> ApiResult {
    let list = read(&state, |driver| {
        let ledger = driver.executor().ledger();
        ledger
            .markets
            .values()
            .map(|m| {
                json!({ "id": m.id, "symbol": m.spec.symbol, "status": m.status,
                        "mark": m.mark, "resting_orders": m.book.len(), "index": m.spec.index,
                        "tick_size": m.spec.tick_size.get().to_string(),
                        "lot_size": m.spec.lot_size, "multiplier": m.spec.multiplier,
                        "expiry": m.spec.expiry,
                        "settlement_window_ms": m.spec.settlement_window_ms,
                        "lot_tick_value": m.lot_tick_value.get().to_string(),
                        "open_interest": m.long_interest,
                        "params": m.spec.params,
                        "best_bid": m.book.best_bid(), "best_ask": m.book.best_ask() })
            })
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(axum::Json(list).into_response())
}

/// The clearing house's own state: the insurance fund, the fee pool, the cash totals, every
/// member's guaranty contribution, and the global risk parameters (cash in micro-USD strings).
async fn clearing(State(state): State<ApiState>) -> ApiResult {
    let body = read(&state, |driver| {
        let ledger = driver.executor().ledger();
        let cash = |c: tokenbook_protocol::Cash| c.get().to_string();
        let members: Vec<Value> = ledger
            .members()
            .map(|m| {
                let g = m.guaranty;
                json!({ "account": m.id, "cash": cash(m.cash), "guaranty_posted": cash(g.posted),
                        "guaranty_required": cash(g.required), "guaranty_due": cash(g.due),
                        "short": g.is_short() })
            })
            .collect();
        json!({
            "height": ledger.height,
            "insurance_fund": cash(ledger.insurance_fund),
            "fee_pool": cash(ledger.fee_pool),
            "total_guaranty": cash(ledger.total_guaranty),
            "total_account_cash": cash(ledger.total_cash),
            "total_deposits": cash(ledger.total_deposits),
            "total_withdrawals": cash(ledger.total_withdrawals),
            "liquidation_backlog": ledger.liquidation_backlog,
            "members": members,
            "risk": ledger.risk,
        })
    })
    .await?;
    Ok(axum::Json(body).into_response())
}

#[derive(Deserialize)]
struct DepthQuery {
    depth: Option<usize>,
}

/// Most price levels per side in a book answer.
const MAX_DEPTH: usize = 1_000;

fn unknown_market(symbol: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "market_unknown", format!("no market {symbol:?}"))
}

async fn book(
    State(state): State<ApiState>,
    ApiPath(symbol): ApiPath<String>,
    ApiQuery(query): ApiQuery<DepthQuery>,
) -> ApiResult {
    let depth = query.depth.unwrap_or(20).min(MAX_DEPTH);
    let wanted = symbol.clone();
    let body = read(&state, move |driver| {
        let ledger = driver.executor().ledger();
        let market = ledger.markets.get(ledger.symbols.get(&wanted)?)?;
        let side = |s| {
            market
                .book
                .depth(s, depth)
                .into_iter()
                .map(|(price, qty, orders)| {
                    json!({
                "price": price, "qty": qty, "orders": orders })
                })
                .collect::<Vec<_>>()
        };
        Some(json!({ "symbol": wanted, "height": ledger.height,
                     "bids": side(tokenbook_protocol::Side::Buy),
                     "asks": side(tokenbook_protocol::Side::Sell) }))
    })
    .await?
    .ok_or_else(|| unknown_market(&symbol))?;
    Ok(axum::Json(body).into_response())
}

/// Heights a trades answer looks back over.
const TRADE_HEIGHTS: u64 = 1_000;

async fn trades(State(state): State<ApiState>, ApiPath(symbol): ApiPath<String>) -> ApiResult {
    let wanted = symbol.clone();
    let fills = read(&state, move |driver| {
        let ledger = driver.executor().ledger();
        let Some(id) = ledger.symbols.get(&wanted) else { return Ok(None) };
        let from = Height::new(ledger.height.get().saturating_sub(TRADE_HEIGHTS));
        market_fills(driver.executor().store(), *id, from).map(Some)
    })
    .await??
    .ok_or_else(|| unknown_market(&symbol))?;
    Ok(axum::Json(json!({ "symbol": symbol, "trades": fills })).into_response())
}

/// The market's fills from `from` on, oldest first, read through its receipt index.
fn market_fills(
    store: &tokenbook_store::Store,
    market: tokenbook_protocol::MarketId,
    from: Height,
) -> Result<Vec<Value>, tokenbook_store::StoreError> {
    let mut out = Vec::new();
    let mut cached: Option<(Height, tokenbook_ledger::BlockReceipts)> = None;
    for (height, position) in store.market_history(market.get(), from, 10_000)? {
        if cached.as_ref().is_none_or(|(h, _)| *h != height) {
            cached = Some((height, store.receipts(height)?.unwrap_or_default()));
        }
        let Some((_, receipts)) = &cached else { continue };
        let events = match position {
            tokenbook_store::schema::BEGIN_EVENTS => receipts.begin_events.as_slice(),
            tokenbook_store::schema::END_EVENTS => receipts.end_events.as_slice(),
            p => receipts
                .receipts
                .get(p as usize)
                .and_then(|r| r.result.as_deref().ok())
                .unwrap_or_default(),
        };
        let fills = events.iter().filter_map(|e| fill_json(e, height));
        out.extend(fills.filter(|f| f["market"] == json!(market)));
    }
    Ok(out)
}

/// A fill as JSON (`None` for other events).
fn fill_json(event: &tokenbook_ledger::Event, height: Height) -> Option<Value> {
    match event {
        tokenbook_ledger::Event::Fill {
            market,
            maker_order,
            taker_order,
            maker,
            taker,
            taker_side,
            price,
            qty,
            ..
        } => Some(json!({ "height": height, "market": market, "price": price, "qty": qty,
                         "taker_side": taker_side, "maker": maker, "taker": taker,
                         "maker_order": maker_order, "taker_order": taker_order })),
        _ => None,
    }
}

#[derive(Deserialize)]
struct StreamQuery {
    /// Only this account's fills (and blocks).
    account: Option<u64>,
    /// Block messages list their txs' hashes.
    txs: Option<bool>,
}

/// `/v1/stream`: a WebSocket of JSON messages — `{"type": "block", ...}` for every commit and
/// `{"type": "trade", ...}` for every fill (only the account's with `?account=ID`).
async fn stream(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<StreamQuery>,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    let commits = state.commits.subscribe();
    upgrade.on_upgrade(move |socket| push_commits(socket, commits, query))
}

async fn push_commits(
    mut socket: axum::extract::ws::WebSocket,
    mut commits: tokio::sync::broadcast::Receiver<crate::runtime::Commit>,
    query: StreamQuery,
) {
    use axum::extract::ws::Message;
    let account = query.account;
    loop {
        let commit = match commits.recv().await {
            Ok(commit) => commit,
            // A client too slow to keep up is told so and dropped rather than buffered without end.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                let note = json!({ "type": "lagged", "missed": n }).to_string();
                let _ = socket.send(Message::Text(note.into())).await;
                return;
            }
            Err(_) => return,
        };
        let mut block = json!({ "type": "block", "height": commit.height,
                                "state_root": commit.root,
                                "txs": commit.receipts.receipts.len() });
        if query.txs == Some(true) {
            let hashes = commit.receipts.receipts.iter().map(|r| r.tx_hash);
            block["tx_hashes"] = json!(hashes.collect::<Vec<_>>());
        }
        let mut messages = vec![block];
        let events = commit
            .receipts
            .receipts
            .iter()
            .filter_map(|r| r.result.as_ref().ok())
            .flatten()
            .chain(&commit.receipts.end_events);
        for fill in events.filter_map(|e| fill_json(e, commit.height)) {
            let mine =
                account.is_none_or(|a| fill["maker"] == json!(a) || fill["taker"] == json!(a));
            if mine {
                let mut trade = fill;
                trade["type"] = json!("trade");
                messages.push(trade);
            }
        }
        for m in messages {
            if socket.send(Message::Text(m.to_string().into())).await.is_err() {
                return;
            }
        }
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let body = state.metrics.render();
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
        .into_response()
}
