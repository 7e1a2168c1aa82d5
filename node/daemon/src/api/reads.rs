//! The read routes. None runs on the consensus task: ledger reads come from the published
//! [`ReadView`] of the last committed height, store reads (blocks, receipts, proofs, trades) from
//! the [`tokenbook_store::StoreReader`] on a blocking thread; the one exception is whether a tx
//! not found committed waits in the mempool, a hash lookup queued to the node's task.
//!
//! Promises: an answer that names a height shows the state after it (ledger fields and proofs
//! from the same height); every answer is bounded in rows (book depth, trades, keys).

use super::errors::{ApiError, ApiPath, ApiQuery};
use super::{ApiResult, ApiState};
use crate::view::{MAX_DEPTH, ReadView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tokenbook_ledger::state::{AccountKind, KeyGrant};
use tokenbook_protocol::codec::encode;
use tokenbook_protocol::{AccountId, Hash, Height};
use tokenbook_store::{StoreError, StoreReader};

/// Cash as decimal USD text (`"12.500000"`), beside the micro-USD integer string.
pub(super) fn usd(cash: tokenbook_protocol::Cash) -> String {
    tokenbook_ledger::units::cash_to_text(cash)
}

/// A price in ticks as decimal USD per quoted unit, given the market's tick size (`null` when
/// the market is not known).
pub(super) fn price_usd(
    tick: Option<tokenbook_protocol::Cash>,
    price: tokenbook_protocol::Price,
) -> Value {
    tick.map_or(Value::Null, |t| json!(tokenbook_ledger::units::price_to_text_on(t, price)))
}

/// A market's tick size in the view.
pub(super) fn tick_of(
    view: &ReadView,
    market: tokenbook_protocol::MarketId,
) -> Option<tokenbook_protocol::Cash> {
    view.markets.get(&market).map(|m| m.spec.tick_size)
}

/// Price levels as JSON, best first: `{"price" (ticks), "price_usd", "qty" (lots), "orders"}`.
pub(super) fn levels_json(
    levels: &[(tokenbook_protocol::Price, tokenbook_protocol::Qty, u32)],
    tick: Option<tokenbook_protocol::Cash>,
) -> Vec<Value> {
    levels
        .iter()
        .map(|(price, qty, orders)| {
            json!({ "price": price, "price_usd": price_usd(tick, *price), "qty": qty,
                    "orders": orders })
        })
        .collect()
}

/// The last published view.
pub(super) fn view(state: &ApiState) -> Arc<ReadView> {
    Arc::clone(&state.view.borrow())
}

/// Runs a store read on a blocking thread.
pub(super) async fn blocking<T: Send + 'static>(
    state: &ApiState,
    read: impl FnOnce(&StoreReader) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || read(&store)).await.map_err(|_| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "a read failed to run")
    })
}

/// A store read's failure: a height the store does not hold is `404 store_not_retained`; any
/// other failure is the node's, a `500` with the store's code.
pub(super) fn store_failure(e: &StoreError) -> ApiError {
    let status = match e {
        StoreError::NotRetained(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// A committed tx's receipt as JSON.
pub(super) fn receipt_json(
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

/// `/v1/tx/{hash}`: pending, committed (with the receipt), dropped (with the reason), or
/// unknown.
pub(super) async fn tx_status(
    State(state): State<ApiState>,
    ApiPath(hash): ApiPath<String>,
) -> ApiResult {
    let hash = parse_hash(&hash)?;
    // A committed tx is final and found off the node's task; only a tx not (yet) committed
    // costs a mempool lookup on it — and is looked for once more in the store if the mempool no
    // longer holds it, in case it committed in between.
    let mut committed = blocking(&state, move |store| store.tx_receipt(&hash)).await??;
    if committed.is_none() {
        if super::in_mempool(&state, hash).await? {
            return Ok(axum::Json(json!({ "hash": hash, "status": "pending" })).into_response());
        }
        // Gone from the mempool: its block may be committed but still being written.
        committed = blocking(&state, move |store| {
            store.settle();
            store.tx_receipt(&hash)
        })
        .await??;
    }
    if let Some((height, r)) = committed {
        return Ok(axum::Json(receipt_json(hash, height, &r.result)).into_response());
    }
    if let Some(dropped) = view(&state).dropped.get(&hash) {
        let body = json!({ "hash": hash, "status": "dropped", "height": dropped.height,
                           "code": dropped.code, "message": dropped.message });
        return Ok(axum::Json(body).into_response());
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "tx_unknown",
        "no such tx: not pending, committed or recently dropped on this node",
    ))
}

/// `/v1/status`.
pub(super) async fn status(State(state): State<ApiState>) -> ApiResult {
    let s = *state.status.borrow();
    let view = view(&state);
    Ok(axum::Json(json!({
        "chain_id": state.chain_id,
        "height": s.height,
        "time": view.globals.time,
        "latest_block_hash": s.block_hash,
        "state_root": s.root,
        // The set deciding the next height (governance changes apply two heights after their
        // block, so this is known).
        "validators": view.globals.next_validators,
        "peers": s.peers,
        "catching_up": s.catching_up,
        "mempool": s.mempool,
        "bad_messages": s.bad_messages,
    }))
    .into_response())
}

#[derive(Deserialize)]
pub(super) struct BlockQuery {
    format: Option<String>,
}

/// `/v1/blocks/{height}`: the block and its certificate (JSON), or its canonical bytes.
pub(super) async fn block(
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
        let bytes = blocking(&state, move |store| store.block_bytes(height)).await??;
        let bytes = bytes.ok_or_else(unknown)?;
        return Ok(([("content-type", "application/octet-stream")], bytes).into_response());
    }
    let (block, certificate) = blocking(&state, move |store| {
        Ok::<_, StoreError>((store.block(height)?, store.certificate(height)?))
    })
    .await??;
    let (Some(block), Some(certificate)) = (block, certificate) else { return Err(unknown()) };
    Ok(axum::Json(json!({ "block": block, "certificate": certificate })).into_response())
}

/// `/v1/state-root/{height}`.
pub(super) async fn state_root(
    State(state): State<ApiState>,
    ApiPath(height): ApiPath<u64>,
) -> ApiResult {
    let height = Height::new(height);
    let root = blocking(&state, move |store| store.root_at(height)).await?;
    let root = root.map_err(|e| store_failure(&e))?;
    Ok(axum::Json(json!({ "height": height, "state_root": root })).into_response())
}

/// `/v1/blocks/{height}/certificate`: canonical bytes.
pub(super) async fn certificate(
    State(state): State<ApiState>,
    ApiPath(height): ApiPath<u64>,
) -> ApiResult {
    let height = Height::new(height);
    let certificate = blocking(&state, move |store| store.certificate(height)).await??;
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
pub(super) struct HeightQuery {
    height: Option<u64>,
}

/// Longest state key a proof is asked for (ledger keys are a table byte and a short id).
const MAX_STATE_KEY_BYTES: usize = 256;

/// `/v1/state/{key}`: a key's value at a height with its proof against that height's root.
pub(super) async fn state_proof(
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
    let height = query.height.map_or(view(&state).height, Height::new);
    let answer = blocking(&state, move |store| {
        let proof = store.prove(&key, height)?;
        let root = store.root_at(height)?;
        Ok::<_, StoreError>(json!({
            "height": height, "state_root": root, "key": hex::encode(&key),
            "value": proof.value.as_ref().map(hex::encode), "proof": hex::encode(encode(&proof)),
        }))
    })
    .await?
    .map_err(|e| store_failure(&e))?;
    Ok(axum::Json(answer).into_response())
}

/// `/v1/keys/{key}`: the account a registered key acts for.
pub(super) async fn key_grant(
    State(state): State<ApiState>,
    ApiPath(key): ApiPath<String>,
) -> ApiResult {
    let key = tokenbook_protocol::PublicKey::from_hex(&key).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_key", format!("not a public key: {e}"))
    })?;
    let grant = view(&state).keys.get(&key).copied().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "key_unknown", "no account has this key")
    })?;
    let body = match grant {
        KeyGrant::Owner(account) => json!({ "key": key, "account": account, "kind": "owner" }),
        KeyGrant::Trading { account, expires_at } => {
            json!({ "key": key, "account": account, "kind": "trading", "expires_at": expires_at })
        }
    };
    Ok(axum::Json(body).into_response())
}

/// `/v1/proposals`: open governance proposals with their approvals.
pub(super) async fn proposals(State(state): State<ApiState>) -> ApiResult {
    let view = view(&state);
    let list: Vec<Value> = view
        .globals
        .proposals
        .iter()
        .map(|p| {
            json!({ "id": p.id, "proposer": p.proposer, "action": p.action,
                    "expires_at": p.expires_at, "approvals": p.approvals })
        })
        .collect();
    Ok(axum::Json(list).into_response())
}

#[derive(Deserialize)]
pub(super) struct AccountQuery {
    prove: Option<bool>,
    height: Option<u64>,
}

/// `/v1/accounts/{id}`: the account at the last committed height, optionally with a proof of
/// its record (at that height, or at `?height=`).
pub(super) async fn account(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<u64>,
    ApiQuery(query): ApiQuery<AccountQuery>,
) -> ApiResult {
    let id = AccountId::new(id);
    let view = view(&state);
    let Some(account) = view.accounts.get(&id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "account_unknown",
            format!("no account {id}"),
        ));
    };
    let mut body = account_json(&view, account);
    if query.prove == Some(true) {
        let height = query.height.map_or(view.height, Height::new);
        let key = tokenbook_ledger::kv::account_key(id);
        let (proof, root) = blocking(&state, move |store| {
            Ok::<_, StoreError>((store.prove(&key, height)?, store.root_at(height)?))
        })
        .await?
        .map_err(|e| store_failure(&e))?;
        body["proof"] = json!({ "height": height, "state_root": root,
                                "bytes": hex::encode(encode(&proof)) });
    }
    Ok(axum::Json(body).into_response())
}

fn account_json(view: &ReadView, account: &tokenbook_ledger::state::Account) -> Value {
    let positions: Vec<Value> = account
        .positions
        .iter()
        .map(|(m, p)| json!({ "market": m, "position": p, "cost_usd": usd(p.cost) }))
        .collect();
    let orders: Vec<Value> = account
        .open_orders
        .iter()
        .filter_map(|id| {
            let o = view.orders.get(id)?;
            Some(json!({ "id": id, "market": o.market, "side": o.side, "price": o.price,
                         "price_usd": price_usd(tick_of(view, o.market), o.price),
                         "qty": o.qty, "client_order_id": o.client_order_id,
                         "triggered": o.triggered }))
        })
        .collect();
    let mut body = json!({
        "id": account.id,
        "owner": account.owner,
        "member": account.member,
        "cash": account.cash.get().to_string(),
        "cash_usd": usd(account.cash),
        "frozen": account.frozen,
        "positions": positions,
        "open_orders": orders,
        "height": view.height,
    });
    if account.kind == AccountKind::Member {
        let g = account.guaranty;
        body["guaranty"] = json!({
            "posted": g.posted.get().to_string(),
            "required": g.required.get().to_string(),
            "due": g.due.get().to_string(),
            "posted_usd": usd(g.posted),
            "required_usd": usd(g.required),
            "due_usd": usd(g.due),
            "short": g.is_short(),
        });
    }
    body
}

/// `/v1/markets`: every market's terms, parameters, mark, interest and top of book.
pub(super) async fn markets(State(state): State<ApiState>) -> ApiResult {
    let view = view(&state);
    let list: Vec<Value> = view
        .markets
        .values()
        .map(|m| {
            let index = view.globals.indexes.get(&m.spec.index);
            let index_price = index.and_then(|i| i.price);
            let twap = view.globals.settlement_twaps.get(&m.id);
            let mut entry = json!({ "id": m.id, "symbol": m.spec.symbol, "status": m.status,
                    "mark": m.mark, "resting_orders": m.resting_orders, "index": m.spec.index,
                    "tick_size": m.spec.tick_size.get().to_string(),
                    "lot_size": m.spec.lot_size, "multiplier": m.spec.multiplier,
                    "expiry": m.spec.expiry,
                    "settlement_window_ms": m.spec.settlement_window_ms,
                    "lot_tick_value": m.lot_tick_value.get().to_string(),
                    "open_interest": m.open_interest,
                    "params": m.spec.params,
                    "best_bid": m.bids.first().map(|l| l.0),
                    "best_ask": m.asks.first().map(|l| l.0),
                    "mark_usd": price_usd(Some(m.spec.tick_size), m.mark),
                    "best_bid_usd": m.bids.first().map(|l| price_usd(Some(m.spec.tick_size), l.0)),
                    "best_ask_usd": m.asks.first().map(|l| price_usd(Some(m.spec.tick_size), l.0)),
                    "tick_size_usd": usd(m.spec.tick_size),
                    "lot_tick_value_usd": usd(m.lot_tick_value) });
            entry["index_name"] = json!(index.map(|i| &i.name));
            entry["index_price"] = json!(index_price.map(|p| p.get().to_string()));
            entry["index_price_usd"] = json!(index_price.map(usd));
            entry["index_fresh"] = json!(index.is_some_and(|i| i.fresh));
            let rolling = view.globals.rolling_twaps.get(&m.id).copied().flatten();
            entry["index_twap_usd"] = json!(rolling.map(usd));
            entry["settlement_window_open"] = json!(twap.is_some());
            entry["settlement_twap_usd"] = json!(twap.copied().flatten().map(usd));
            entry
        })
        .collect();
    Ok(axum::Json(list).into_response())
}

/// `/v1/clearing`: the clearing house's own state — the insurance fund, the fee pool, the cash
/// totals, every member's guaranty contribution, and the global risk parameters (cash in
/// micro-USD strings).
pub(super) async fn clearing(State(state): State<ApiState>) -> ApiResult {
    let view = view(&state);
    let cash = |c: tokenbook_protocol::Cash| c.get().to_string();
    let members: Vec<Value> = view
        .members
        .iter()
        .filter_map(|id| view.accounts.get(id))
        .map(|m| {
            let g = m.guaranty;
            json!({ "account": m.id, "cash": cash(m.cash), "guaranty_posted": cash(g.posted),
                    "guaranty_required": cash(g.required), "guaranty_due": cash(g.due),
                    "cash_usd": usd(m.cash), "guaranty_posted_usd": usd(g.posted),
                    "guaranty_required_usd": usd(g.required), "guaranty_due_usd": usd(g.due),
                    "short": g.is_short() })
        })
        .collect();
    let g = &view.globals;
    Ok(axum::Json(json!({
        "height": view.height,
        "insurance_fund": cash(g.insurance_fund),
        "fee_pool": cash(g.fee_pool),
        "total_guaranty": cash(g.total_guaranty),
        "total_account_cash": cash(g.total_cash),
        "total_deposits": cash(g.total_deposits),
        "total_withdrawals": cash(g.total_withdrawals),
        "insurance_fund_usd": usd(g.insurance_fund),
        "fee_pool_usd": usd(g.fee_pool),
        "total_guaranty_usd": usd(g.total_guaranty),
        "total_account_cash_usd": usd(g.total_cash),
        "total_deposits_usd": usd(g.total_deposits),
        "total_withdrawals_usd": usd(g.total_withdrawals),
        "liquidation_backlog": g.liquidation_backlog,
        "members": members,
        "risk": g.risk,
    }))
    .into_response())
}

#[derive(Deserialize)]
pub(super) struct DepthQuery {
    depth: Option<usize>,
}

pub(super) fn unknown_market(symbol: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "market_unknown", format!("no market {symbol:?}"))
}

/// `/v1/markets/{symbol}/book?depth=N`: price levels, best first (at most 1,000 a side),
/// rendered once per height and depth.
pub(super) async fn book(
    State(state): State<ApiState>,
    ApiPath(symbol): ApiPath<String>,
    ApiQuery(query): ApiQuery<DepthQuery>,
) -> ApiResult {
    let depth = query.depth.unwrap_or(20).min(MAX_DEPTH);
    let view = view(&state);
    let market = view.market(&symbol).ok_or_else(|| unknown_market(&symbol))?;
    let key = format!("book/{}/{depth}", market.id);
    let render = || async {
        let tick = Some(market.spec.tick_size);
        let side = |levels: &[(tokenbook_protocol::Price, tokenbook_protocol::Qty, u32)]| {
            levels_json(&levels[..depth.min(levels.len())], tick)
        };
        let body = json!({ "symbol": symbol, "height": view.height,
                           "bids": side(&market.bids), "asks": side(&market.asks) });
        Ok::<_, ApiError>(body.to_string().into_bytes())
    };
    state.answers.get_or_render(key, view.height, render).await
}

/// Heights a trades answer looks back over.
const TRADE_HEIGHTS: u64 = 1_000;
/// Most receipt positions a trades answer reads.
const TRADE_POSITIONS: usize = 10_000;

/// `/v1/markets/{symbol}/trades`: the market's fills over the last 1,000 heights, oldest first,
/// read and rendered once per height.
pub(super) async fn trades(
    State(state): State<ApiState>,
    ApiPath(symbol): ApiPath<String>,
) -> ApiResult {
    let view = view(&state);
    let id = *view.symbols.get(&symbol).ok_or_else(|| unknown_market(&symbol))?;
    let until = view.height;
    let render = || async {
        let from = Height::new(until.get().saturating_sub(TRADE_HEIGHTS));
        let tick = tick_of(&view, id);
        let fills =
            blocking(&state, move |store| market_fills(store, id, tick, from, until)).await??;
        Ok::<_, ApiError>(json!({ "symbol": symbol, "trades": fills }).to_string().into_bytes())
    };
    state.answers.get_or_render(format!("trades/{id}"), until, render).await
}

/// The market's fills from `from` through `until`, oldest first, read through its receipt
/// index.
fn market_fills(
    store: &StoreReader,
    market: tokenbook_protocol::MarketId,
    tick: Option<tokenbook_protocol::Cash>,
    from: Height,
    until: Height,
) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
    let mut cached: Option<(Height, tokenbook_ledger::BlockReceipts)> = None;
    for (height, position) in store.market_history(market.get(), from, TRADE_POSITIONS)? {
        if height > until {
            break;
        }
        if cached.as_ref().is_none_or(|(h, _)| *h != height) {
            cached = Some((height, store.receipts(height)?.unwrap_or_default()));
        }
        let Some((_, receipts)) = &cached else { continue };
        let fills =
            events_at(receipts, position).iter().filter_map(|e| fill_json(e, height, &|_| tick));
        out.extend(fills.filter(|f| f["market"] == json!(market)));
    }
    Ok(out)
}

/// The events at a receipt position a store index names: a tx's (none if it was refused), or
/// the block's housekeeping events ([`tokenbook_store::schema::BEGIN_EVENTS`], `END_EVENTS`).
pub(super) fn events_at(
    receipts: &tokenbook_ledger::BlockReceipts,
    position: u32,
) -> &[tokenbook_ledger::Event] {
    match position {
        tokenbook_store::schema::BEGIN_EVENTS => &receipts.begin_events,
        tokenbook_store::schema::END_EVENTS => &receipts.end_events,
        p => receipts
            .receipts
            .get(p as usize)
            .and_then(|r| r.result.as_deref().ok())
            .unwrap_or_default(),
    }
}

/// A fill as JSON (`None` for other events); `tick_of` gives a market's tick size (for
/// `price_usd`).
pub(super) fn fill_json(
    event: &tokenbook_ledger::Event,
    height: Height,
    tick_of: &dyn Fn(tokenbook_protocol::MarketId) -> Option<tokenbook_protocol::Cash>,
) -> Option<Value> {
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
        } => Some(json!({ "height": height, "market": market, "price": price,
                         "price_usd": price_usd(tick_of(*market), *price), "qty": qty,
                         "taker_side": taker_side, "maker": maker, "taker": taker,
                         "maker_order": maker_order, "taker_order": taker_order })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_height_not_held_is_not_found() {
        let gone = store_failure(&StoreError::NotRetained(Height::new(3)));
        assert_eq!((gone.status, gone.code), (StatusCode::NOT_FOUND, "store_not_retained"));
        let broken = store_failure(&StoreError::Corrupt("bad block".into()));
        assert_eq!(
            (broken.status, broken.code),
            (StatusCode::INTERNAL_SERVER_ERROR, "store_corrupt")
        );
    }
}
