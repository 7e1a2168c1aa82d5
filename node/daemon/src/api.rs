//! The HTTP/JSON API (axum), first part: submit a tx, tx status, node status, blocks with
//! certificates (JSON or canonical bytes), state roots, accounts with proofs.
//!
//! Promises: every error is JSON `{"code", "message"}` with a stable code and a 4xx/5xx status;
//! request bodies are bounded before decoding; a tx that does not decode, verify or pass the
//! ledger's precheck never reaches the mempool. Reads run on the node's task (they see one
//! consistent height). Not built yet: markets, book, trades, WebSocket streams, metrics,
//! `?wait=commit`, per-connection rate limits (issue #7).

use crate::driver::Driver;
use crate::runtime::{Command, Status};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
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
}

/// A JSON error with a stable code.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    fn unavailable() -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "node_stopped", "the node is not running")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = axum::Json(json!({ "code": self.code, "message": self.message }));
        (self.status, body).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// The routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/tx", post(submit_tx).layer(DefaultBodyLimit::max(MAX_TX_BYTES + 1)))
        .route("/v1/tx/{hash}", get(tx_status))
        .route("/v1/status", get(status))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/state-root/{height}", get(state_root))
        .route("/v1/accounts/{id}", get(account))
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

async fn submit_tx(State(state): State<ApiState>, body: Bytes) -> ApiResult {
    let tx: Tx = decode(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let (reply, answer) = oneshot::channel();
    let submit = Command::Submit { txs: vec![tx], reply };
    state.commands.send(submit).await.map_err(|_| ApiError::unavailable())?;
    let verdict = answer.await.map_err(|_| ApiError::unavailable())?.pop();
    match verdict {
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

fn parse_hash(text: &str) -> Result<Hash, ApiError> {
    let bad = || ApiError::new(StatusCode::BAD_REQUEST, "bad_hash", "a hash is 64 hex digits");
    let bytes: [u8; 32] = hex::decode(text).map_err(|_| bad())?.try_into().map_err(|_| bad())?;
    Ok(Hash(bytes))
}

async fn tx_status(State(state): State<ApiState>, Path(hash): Path<String>) -> ApiResult {
    let hash = parse_hash(&hash)?;
    let found = read(&state, move |driver| -> Result<Value, String> {
        if driver.mempool().contains(&hash) {
            return Ok(json!({ "hash": hash, "status": "pending" }));
        }
        let receipt = driver.executor().store().tx_receipt(&hash).map_err(|e| e.to_string())?;
        Ok(match receipt {
            None => Value::Null,
            Some((height, r)) => match r.result {
                Ok(events) => json!({ "hash": hash, "status": "committed", "height": height,
                                      "accepted": true, "events": events.len() }),
                Err(reject) => json!({ "hash": hash, "status": "committed", "height": height,
                                       "accepted": false, "code": reject.code.code(),
                                       "message": reject.message }),
            },
        })
    })
    .await?
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e))?;
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
    Ok(axum::Json(json!({
        "chain_id": state.chain_id,
        "height": s.height,
        "state_root": s.root,
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
    Path(height): Path<u64>,
    Query(query): Query<BlockQuery>,
) -> ApiResult {
    let height = Height::new(height);
    let raw = query.format.as_deref() == Some("raw");
    let found = read(&state, move |driver| {
        let store = driver.executor().store();
        Ok::<_, String>((
            store.block(height).map_err(|e| e.to_string())?,
            store.certificate(height).map_err(|e| e.to_string())?,
        ))
    })
    .await?
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e))?;
    let (Some(block), Some(certificate)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "block_unknown",
            format!("no block at height {height}"),
        ));
    };
    if raw {
        return Ok(([("content-type", "application/octet-stream")], encode(&block)).into_response());
    }
    Ok(axum::Json(json!({ "block": block, "certificate": certificate })).into_response())
}

async fn state_root(State(state): State<ApiState>, Path(height): Path<u64>) -> ApiResult {
    let height = Height::new(height);
    let root = read(&state, move |driver| driver.executor().store().root_at(height)).await?;
    match root {
        Ok(root) => Ok(axum::Json(json!({ "height": height, "state_root": root })).into_response()),
        Err(e) => Err(ApiError::new(StatusCode::NOT_FOUND, e.code(), e.to_string())),
    }
}

#[derive(Deserialize)]
struct AccountQuery {
    prove: Option<bool>,
    height: Option<u64>,
}

async fn account(
    State(state): State<ApiState>,
    Path(id): Path<u64>,
    Query(query): Query<AccountQuery>,
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
            "open_orders": account.open_orders.iter().collect::<Vec<_>>(),
            "height": ledger.height,
        });
        if query.prove == Some(true) {
            let height = query.height.map_or(ledger.height, Height::new);
            let mut key = vec![tokenbook_ledger::kv::table::ACCOUNT];
            key.extend_from_slice(&id.get().to_be_bytes());
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
