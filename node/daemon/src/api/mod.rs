//! The HTTP/JSON API (axum), documented in docs/api.md: submit a tx (optionally waiting for
//! commit), tx status, node status, blocks with certificates (JSON or canonical bytes), state
//! roots, accounts with proofs, markets, books, trades, the WebSocket stream, `/metrics`, and
//! the OpenAPI document of all of them (`/v1/openapi.json`).
//!
//! Promises: every error is JSON `{"code", "message"}` with a stable code and a 4xx/5xx status
//! (`errors`); request bodies are bounded before decoding; a tx that does not decode, verify or
//! pass the ledger's precheck never reaches the mempool; each client address is rate-limited,
//! requests in flight and connections are capped, slow and idle sockets are closed (`limits`,
//! `server`). Reads never run on the consensus task: they answer from the read view of the
//! last committed height and from the store's read side (`reads`).

use crate::driver::Driver;
use crate::runtime::{Command, Status};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokenbook_protocol::{Hash, MAX_TX_BYTES};
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
    /// The read view of the last committed height.
    pub view: watch::Receiver<std::sync::Arc<crate::view::ReadView>>,
    /// The store's read side.
    pub store: tokenbook_store::StoreReader,
    /// Verifies submitted txs' signatures off the node's task.
    pub verifier: submit::Verifier,
    /// Room for open streams.
    pub streams: std::sync::Arc<tokio::sync::Semaphore>,
    /// Book and trades answers of the last height, rendered once.
    pub answers: std::sync::Arc<cache::AnswerCache>,
    /// API base URLs of the member nodes the console's network view polls.
    pub console_nodes: std::sync::Arc<Vec<String>>,
}

impl ApiState {
    /// The state for a running node's handles.
    #[must_use]
    pub fn new(handles: &crate::runtime::Handles, chain_id: impl Into<String> + Clone) -> Self {
        ApiState {
            commands: handles.commands.clone(),
            status: handles.status.clone(),
            chain_id: chain_id.clone().into(),
            commits: handles.commits.clone(),
            metrics: handles.metrics.clone(),
            view: handles.view.clone(),
            store: handles.store.clone(),
            verifier: submit::Verifier::spawn(chain_id.into()),
            streams: std::sync::Arc::new(tokio::sync::Semaphore::new(
                ApiLimits::default().max_streams,
            )),
            answers: std::sync::Arc::default(),
            console_nodes: std::sync::Arc::default(),
        }
    }

    /// This state with the console's list of member nodes (`[console] nodes`).
    #[must_use]
    pub fn with_console_nodes(mut self, nodes: Vec<String>) -> Self {
        self.console_nodes = std::sync::Arc::new(nodes);
        self
    }
}

mod cache;
mod clearing;
mod console;
mod errors;
mod limits;
mod reads;
mod server;
mod stream;
mod submit;

use reads::{
    account, block, book, certificate, clearing, key_grant, markets, proposals, state_proof,
    state_root, status, trades, tx_status,
};

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
pub fn router(mut state: ApiState, limits: &ApiLimits) -> Router {
    state.streams = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_streams));
    let limiter = limits::Limiter::new(limits.rate, limits.max_in_flight, limits.request_timeout);
    routes(state)
        .fallback(errors::route_unknown)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(limiter, limits::limit))
        .layer(axum::middleware::from_fn(errors::json_errors))
        .layer(axum::middleware::from_fn(public))
}

fn routes(state: ApiState) -> Router {
    route_table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| router.route(path, handler))
        .with_state(state)
}

/// Every route: its method, its path and its handler. docs/openapi.json documents exactly
/// these (a test holds the two together, and checks each answers its method).
fn route_table() -> Vec<(&'static str, &'static str, axum::routing::MethodRouter<ApiState>)> {
    let tx_limit = DefaultBodyLimit::max(MAX_TX_BYTES + 1);
    let batch_limit = DefaultBodyLimit::max(submit::MAX_BATCH_BYTES);
    vec![
        ("POST", "/v1/tx", post(submit::submit_tx).layer(tx_limit)),
        ("POST", "/v1/txs", post(submit::submit_txs).layer(batch_limit)),
        ("GET", "/v1/tx/{hash}", get(tx_status)),
        ("GET", "/v1/status", get(status)),
        ("GET", "/v1/blocks/{height}", get(block)),
        ("GET", "/v1/blocks/{height}/certificate", get(certificate)),
        ("GET", "/v1/state/{key}", get(state_proof)),
        ("GET", "/v1/keys/{key}", get(key_grant)),
        ("GET", "/v1/proposals", get(proposals)),
        ("GET", "/v1/state-root/{height}", get(state_root)),
        ("GET", "/v1/accounts/{id}", get(account)),
        ("GET", "/v1/markets", get(markets)),
        ("GET", "/v1/clearing", get(clearing)),
        ("GET", "/v1/clearing/events", get(clearing::events)),
        ("GET", "/v1/markets/{symbol}/book", get(book)),
        ("GET", "/v1/markets/{symbol}/trades", get(trades)),
        ("GET", "/v1/stream", get(stream::stream)),
        ("GET", "/v1/stream/markets/{symbol}", get(stream::book_stream)),
        ("GET", "/metrics", get(metrics)),
        ("GET", "/v1/openapi.json", get(openapi)),
        ("GET", "/", get(console::index)),
        ("GET", "/console/{file}", get(console::file)),
        ("GET", "/v1/console", get(console::settings)),
    ]
}

/// The method and path of every route the API serves.
#[must_use]
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    route_table().into_iter().map(|(method, path, _)| (method, path)).collect()
}

/// The OpenAPI 3.1 document of this API (docs/openapi.json, built into the binary).
pub const OPENAPI: &str = include_str!("../../../../docs/openapi.json");

async fn openapi() -> Response {
    ([("content-type", "application/json")], OPENAPI).into_response()
}

/// Every answer may be read by a page of any origin: the API is public and holds no cookies or
/// credentials (a tx carries its own signature), and the console of one member polls the
/// others' nodes.
async fn public(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        axum::http::HeaderValue::from_static("*"),
    );
    response
}

/// Whether a tx waits in the mempool: the one read that runs on the node's task (a hash
/// lookup).
async fn in_mempool(state: &ApiState, hash: Hash) -> Result<bool, ApiError> {
    let (reply, answer) = oneshot::channel();
    let job: Box<dyn FnOnce(&Driver) + Send> = Box::new(move |driver| {
        let _ = reply.send(driver.mempool().contains(&hash));
    });
    state.commands.send(Command::Read(job)).await.map_err(|_| ApiError::unavailable())?;
    answer.await.map_err(|_| ApiError::unavailable())
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let body = state.metrics.render();
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
        .into_response()
}
