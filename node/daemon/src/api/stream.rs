//! The WebSocket streams.
//!
//! - `/v1/stream[?account=ID][&txs=true][&from_height=H]`: per commit a `block` message, a
//!   `trade` message per fill (only the account's with `account`), and with `account` an
//!   `event` message per other event concerning the account (its orders accepted, cancelled,
//!   triggered, replaced; its cash; its liquidation). Every message carries its
//!   height; heights arrive in order without gaps. A client that falls behind, or reconnects
//!   with `from_height`, is caught up from the store (at most [`REPLAY_HEIGHTS`] back) instead
//!   of being dropped.
//! - `/v1/stream/markets/{symbol}?level=2|3[&since=SEQ]`: one market's book. First a
//!   `snapshot` (level 2: price levels; level 3: every order) with the book's sequence number,
//!   then one `update` per commit that changed the book or filled in it, carrying the next
//!   sequence number, the changed levels (level 2) or orders (level 3), and the fills. A
//!   client that reconnects with `since` gets the updates after it (the node keeps the last
//!   [`crate::view::RECENT_UPDATES`] per market), or a fresh snapshot when they are gone; a
//!   client that falls further behind gets `{"type": "resync"}` and a snapshot.
//!
//! Promises: at most `max_streams` sockets at once (`503 too_many_streams`); a stream never
//! buffers without bound (it follows the read view and the store, not a queue per client).

use super::errors::{ApiError, ApiPath, ApiQuery};
use super::reads::{fill_json, levels_json, tick_of, unknown_market};
use super::{ApiResult, ApiState};
use crate::runtime::Commit;
use crate::view::{BookUpdate, ReadView};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tokenbook_protocol::{Height, MarketId};
use tokio::sync::{OwnedSemaphorePermit, broadcast, watch};

/// Heights a block stream replays from the store at most.
pub const REPLAY_HEIGHTS: u64 = 1_000;

fn stream_slot(state: &ApiState) -> Result<OwnedSemaphorePermit, ApiError> {
    Arc::clone(&state.streams).try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            "the node has as many streams open as it allows; retry later",
        )
    })
}

async fn send(socket: &mut WebSocket, message: &Value) -> bool {
    socket.send(Message::Text(message.to_string().into())).await.is_ok()
}

/// An update as `level`'s stream sends it, rendered by its first subscriber for all.
async fn send_update(
    socket: &mut WebSocket,
    view: &ReadView,
    update: &BookUpdate,
    level: u8,
) -> bool {
    let slot = &update.rendered[usize::from(level == 3)];
    let text = slot.get_or_init(|| update_json(view, update, level).to_string());
    socket.send(Message::Text(text.clone().into())).await.is_ok()
}

#[derive(Deserialize)]
pub(super) struct StreamQuery {
    /// Only this account's fills (and blocks).
    account: Option<u64>,
    /// Block messages list their txs' hashes.
    txs: Option<bool>,
    /// Start with this height (replayed from the store), not the next commit.
    from_height: Option<u64>,
}

/// `/v1/stream`.
pub(super) async fn stream(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<StreamQuery>,
    upgrade: WebSocketUpgrade,
) -> ApiResult {
    let slot = stream_slot(&state)?;
    let head = state.view.borrow().height;
    let oldest = Height::new(head.get().saturating_sub(REPLAY_HEIGHTS).max(1));
    let from = match query.from_height {
        Some(h) if Height::new(h) < oldest => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "from_height_too_old",
                format!("a stream replays at most {REPLAY_HEIGHTS} heights: from {oldest} on"),
            ));
        }
        Some(h) => Height::new(h),
        None => head.next().unwrap_or(head),
    };
    let commits = state.commits.subscribe();
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _slot = slot;
        push_commits(socket, commits, state, query, from).await;
    }))
}

/// Sends every height from `next` on, from the store while behind, then live.
async fn push_commits(
    mut socket: WebSocket,
    mut commits: broadcast::Receiver<Commit>,
    state: ApiState,
    query: StreamQuery,
    mut next: Height,
) {
    loop {
        let head = state.view.borrow().height;
        while next <= head {
            let Some(commit) = stored_commit(&state, next).await else { return };
            if !send_commit(&mut socket, &commit, &query, &state).await {
                return;
            }
            next = next.next().unwrap_or(next);
        }
        let commit = match commits.recv().await {
            Ok(commit) => commit,
            // Behind the live feed: the loop above catches up from the store.
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if commit.height < next {
            continue;
        }
        if commit.height > next {
            // Missed heights come from the store first; this one comes again from there.
            continue;
        }
        if !send_commit(&mut socket, &commit, &query, &state).await {
            return;
        }
        next = next.next().unwrap_or(next);
    }
}

/// A committed height from the store, as the live feed carries it.
async fn stored_commit(state: &ApiState, height: Height) -> Option<Commit> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let receipts = store.receipts(height).ok()??;
        let root = store.root_at(height).unwrap_or_default();
        Some(Commit { height, root, receipts: Arc::new(receipts) })
    })
    .await
    .ok()?
}

async fn send_commit(
    socket: &mut WebSocket,
    commit: &Commit,
    query: &StreamQuery,
    state: &ApiState,
) -> bool {
    let mut block = json!({ "type": "block", "height": commit.height,
                            "state_root": commit.root,
                            "txs": commit.receipts.receipts.len() });
    if query.txs == Some(true) {
        let hashes = commit.receipts.receipts.iter().map(|r| r.tx_hash);
        block["tx_hashes"] = json!(hashes.collect::<Vec<_>>());
    }
    if !send(socket, &block).await {
        return false;
    }
    let view = Arc::clone(&state.view.borrow());
    for trade in trades_of(commit, query.account, &view) {
        if !send(socket, &trade).await {
            return false;
        }
    }
    if let Some(account) = query.account {
        for event in events_of(commit, account) {
            if !send(socket, &event).await {
                return false;
            }
        }
    }
    true
}

/// A commit's other events concerning `account` (orders accepted, cancelled, triggered,
/// replaced; cash; liquidation …) as `{"type": "event", "height", "event"}`, in order.
fn events_of(commit: &Commit, account: u64) -> Vec<Value> {
    let account = tokenbook_protocol::AccountId::new(account);
    let receipts = &commit.receipts;
    let txs = receipts.receipts.iter().filter_map(|r| r.result.as_ref().ok()).flatten();
    receipts
        .begin_events
        .iter()
        .chain(txs)
        .chain(&receipts.end_events)
        .filter(|e| !matches!(e, tokenbook_ledger::Event::Fill { .. }))
        .filter(|e| e.accounts().contains(&account))
        .map(|e| json!({ "type": "event", "height": commit.height, "event": e }))
        .collect()
}

/// A commit's `trade` messages (only `account`'s fills, if given).
fn trades_of(commit: &Commit, account: Option<u64>, view: &ReadView) -> Vec<Value> {
    let events = commit
        .receipts
        .receipts
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .flatten()
        .chain(&commit.receipts.end_events);
    events
        .filter_map(|e| fill_json(e, commit.height, &|m| tick_of(view, m)))
        .filter(|f| account.is_none_or(|a| f["maker"] == json!(a) || f["taker"] == json!(a)))
        .map(|mut trade| {
            trade["type"] = json!("trade");
            trade
        })
        .collect()
}

#[derive(Deserialize)]
pub(super) struct BookStreamQuery {
    /// 2: price levels (default); 3: orders.
    level: Option<u8>,
    /// The last sequence number the client applied.
    since: Option<u64>,
}

/// `/v1/stream/markets/{symbol}`.
pub(super) async fn book_stream(
    State(state): State<ApiState>,
    ApiPath(symbol): ApiPath<String>,
    ApiQuery(query): ApiQuery<BookStreamQuery>,
    upgrade: WebSocketUpgrade,
) -> ApiResult {
    let level = query.level.unwrap_or(2);
    if !(2..=3).contains(&level) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_query", "level is 2 or 3"));
    }
    let market = state.view.borrow().market(&symbol).map(|m| m.id);
    let market = market.ok_or_else(|| unknown_market(&symbol))?;
    let slot = stream_slot(&state)?;
    let views = state.view.clone();
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _slot = slot;
        push_book(socket, views, market, level, query.since).await;
    }))
}

async fn push_book(
    mut socket: WebSocket,
    mut views: watch::Receiver<Arc<ReadView>>,
    market: MarketId,
    level: u8,
    since: Option<u64>,
) {
    let view = Arc::clone(&views.borrow_and_update());
    let last = match since {
        Some(since) => catch_up(&mut socket, &view, market, level, since, None).await,
        None => {
            send(&mut socket, &snapshot(&view, market, level)).await.then(|| seq_of(&view, market))
        }
    };
    if let Some(last) = last {
        follow_book(socket, views, market, level, last).await;
    }
}

/// Sends `market`'s updates after `last` from `view`, or — when the view no longer holds them
/// all — `note` (if any) and a snapshot. The sequence number now sent, or `None` once the
/// socket is gone.
async fn catch_up(
    socket: &mut WebSocket,
    view: &ReadView,
    market: MarketId,
    level: u8,
    mut last: u64,
    note: Option<&Value>,
) -> Option<u64> {
    match view.updates_since(market, last) {
        Some(updates) => {
            for update in updates {
                if !send_update(socket, view, &update, level).await {
                    return None;
                }
                last = update.seq;
            }
            Some(last)
        }
        None => {
            if let Some(note) = note {
                if !send(socket, note).await {
                    return None;
                }
            }
            send(socket, &snapshot(view, market, level)).await.then(|| seq_of(view, market))
        }
    }
}

fn seq_of(view: &ReadView, market: MarketId) -> u64 {
    view.markets.get(&market).map_or(0, |m| m.seq)
}

/// Sends each new view's updates after `last`; a client too far behind is resynced.
async fn follow_book(
    mut socket: WebSocket,
    mut views: watch::Receiver<Arc<ReadView>>,
    market: MarketId,
    level: u8,
    mut last: u64,
) {
    loop {
        tokio::select! {
            changed = views.changed() => if changed.is_err() { return },
            received = socket.recv() => match received {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
        }
        let view = Arc::clone(&views.borrow_and_update());
        let resync = json!({ "type": "resync", "reason": "fell behind the kept updates" });
        match catch_up(&mut socket, &view, market, level, last, Some(&resync)).await {
            Some(now) => last = now,
            None => return,
        }
    }
}

fn symbol_of(view: &ReadView, market: MarketId) -> Value {
    view.markets.get(&market).map_or(Value::Null, |m| json!(m.spec.symbol))
}

/// The whole book at the view's height.
fn snapshot(view: &ReadView, market: MarketId, level: u8) -> Value {
    let Some(m) = view.markets.get(&market) else {
        return json!({ "type": "closed", "reason": "the market is gone" });
    };
    let mut message = json!({ "type": "snapshot", "market": m.spec.symbol, "level": level,
                              "height": view.height, "seq": m.seq });
    if level == 2 {
        message["bids"] = json!(levels_json(&m.bids, Some(m.spec.tick_size)));
        message["asks"] = json!(levels_json(&m.asks, Some(m.spec.tick_size)));
    } else {
        let orders: Vec<Value> = view
            .orders
            .iter()
            .filter(|(_, o)| o.market == market && o.triggered)
            .map(|(id, o)| book_order_json(*id, o, Some(m.spec.tick_size)))
            .collect();
        message["orders"] = json!(orders);
    }
    message
}

fn update_json(view: &ReadView, update: &BookUpdate, level: u8) -> Value {
    let tick = tick_of(view, update.market);
    let trades: Vec<Value> =
        update.fills.iter().filter_map(|e| fill_json(e, update.height, &|_| tick)).collect();
    let mut message = json!({ "type": "update", "market": symbol_of(view, update.market),
                              "level": level, "height": update.height, "seq": update.seq,
                              "trades": trades });
    if level == 2 {
        message["bids"] = json!(levels_json(&update.bids, tick));
        message["asks"] = json!(levels_json(&update.asks, tick));
    } else {
        let orders: Vec<Value> = update
            .orders
            .iter()
            .map(|(id, order)| match order {
                Some(o) if o.triggered => book_order_json(*id, o, tick),
                _ => json!({ "id": id, "removed": true }),
            })
            .collect();
        message["orders"] = json!(orders);
    }
    message
}

/// An order in a level-3 snapshot or update.
fn book_order_json(
    id: tokenbook_protocol::OrderId,
    o: &crate::view::OrderView,
    tick: Option<tokenbook_protocol::Cash>,
) -> Value {
    json!({ "id": id, "side": o.side, "price": o.price,
            "price_usd": super::reads::price_usd(tick, o.price), "qty": o.qty,
            "account": o.account })
}
