//! Submission: `POST /v1/tx` (one tx, optionally waiting for its commit) and `POST /v1/txs` (a
//! batch, one answer per tx).
//!
//! Promises: a tx is checked cheapest first, and nothing of it reaches the consensus task
//! before its signature verifies —
//! 1. decode (bounded body);
//! 2. the ledger's admission checks ([`tokenbook_ledger::admission`]) against the read view of
//!    the last committed height: account, signer, key scope, nonce, member-only, market, an
//!    order's price, size, type, band and per-order limit — refused here with the code the block
//!    would give, never `202` then `accepted: false`;
//! 3. the signature, verified on a blocking thread in batches shared by concurrent requests
//!    (signers are registered keys by then, so junk keys never reach the key cache);
//! 4. the node's mempool: duplicates, room, and the same checks against the live state.
//!
//! A node that has no peers while other validators exist refuses submissions
//! (`503 no_peers`): it could not pass them on, and its mempool would hold them unseen.

use super::errors::{ApiError, ApiQuery};
use super::reads::receipt_json;
use super::{ApiResult, ApiState};
use crate::mempool::{AdmitError, VerifiedTx, verify_txs};
use crate::runtime::Command;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tokenbook_ledger::admission::admission_check;
use tokenbook_protocol::codec::decode;
use tokenbook_protocol::{Hash, Tx, TxBatch};
use tokio::sync::{mpsc, oneshot};

/// Largest `POST /v1/txs` body.
pub const MAX_BATCH_BYTES: usize = <TxBatch as tokenbook_protocol::Wire>::MAX_BYTES;
/// Most txs verified as one batch.
const VERIFY_BATCH_MAX: usize = 1_024;

type Verdicts = Vec<Result<VerifiedTx, AdmitError>>;

struct Job {
    txs: Vec<Tx>,
    reply: oneshot::Sender<Verdicts>,
}

/// Verifies submitted txs' signatures off the node's task, batching concurrent requests.
#[derive(Clone, Debug)]
pub struct Verifier {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Job({} txs)", self.txs.len())
    }
}

impl Verifier {
    /// Starts the verifier task (on the current tokio runtime) for `chain_id`'s signatures.
    #[must_use]
    pub fn spawn(chain_id: String) -> Self {
        let (jobs, queue) = mpsc::channel(1_024);
        tokio::spawn(verify_loop(queue, chain_id));
        Verifier { jobs }
    }

    async fn verify(&self, txs: Vec<Tx>) -> Result<Verdicts, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { txs, reply }).await.map_err(|_| ApiError::unavailable())?;
        answer.await.map_err(|_| ApiError::unavailable())
    }
}

/// Takes a job and whatever queued behind it, verifies all on a blocking thread, answers each.
async fn verify_loop(mut queue: mpsc::Receiver<Job>, chain_id: String) {
    let mut checker = crate::sigs::SigChecker::new();
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        let mut count = jobs[0].txs.len();
        while count < VERIFY_BATCH_MAX {
            match queue.try_recv() {
                Ok(job) => {
                    count += job.txs.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut sizes = Vec::with_capacity(jobs.len());
        let mut all = Vec::with_capacity(count);
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            sizes.push(job.txs.len());
            all.extend(job.txs);
            replies.push(job.reply);
        }
        let chain = chain_id.clone();
        let work = tokio::task::spawn_blocking(move || {
            let verdicts = verify_txs(&mut checker, &chain, all);
            (checker, verdicts)
        });
        let Ok((back, verdicts)) = work.await else { return };
        checker = back;
        let mut verdicts = verdicts.into_iter();
        for (size, reply) in sizes.into_iter().zip(replies) {
            let _ = reply.send(verdicts.by_ref().take(size).collect());
        }
    }
}

/// The API error for a mempool refusal.
fn admit_error(e: &AdmitError) -> ApiError {
    let status = match e.code() {
        "mempool_full" | "mempool_account_full" => StatusCode::SERVICE_UNAVAILABLE,
        "mempool_duplicate" => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// Refuses submissions while the node cannot pass them on.
fn check_peers(state: &ApiState) -> Result<(), ApiError> {
    let peers = state.status.borrow().peers;
    let validators = state.view.borrow().globals.next_validators.len();
    if peers == 0 && validators > 1 {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_peers",
            "this node has no peers, so a tx it took could reach no other validator; retry, \
             or submit through another node",
        ));
    }
    Ok(())
}

/// While the backlog has no room (as the node last published), refuses the txs still open
/// before their signatures are verified: verifying txs that will be refused anyway is the
/// cost an overload must not add to. The node's own admission check stays the authority.
fn refuse_if_backlogged(
    state: &ApiState,
    verdicts: &mut [Option<Result<Hash, ApiError>>],
    passed: &mut Vec<Tx>,
) {
    let status = *state.status.borrow();
    let Some(window_ms) = status.backlog_full else { return };
    let refusal = AdmitError::Backlog { waiting: status.mempool, window_ms };
    for verdict in verdicts.iter_mut().filter(|v| v.is_none()) {
        *verdict = Some(Err(admit_error(&refusal)));
    }
    passed.clear();
}

/// Steps 2–4 for each tx; one verdict per tx, in order.
async fn admit(state: &ApiState, txs: Vec<Tx>) -> Result<Vec<Result<Hash, ApiError>>, ApiError> {
    check_peers(state)?;
    let view = Arc::clone(&state.view.borrow());
    let mut verdicts: Vec<Option<Result<Hash, ApiError>>> = Vec::with_capacity(txs.len());
    let mut passed = Vec::new();
    for tx in txs {
        match admission_check(&*view, &tx) {
            Ok(()) => {
                verdicts.push(None);
                passed.push(tx);
            }
            Err(r) => verdicts.push(Some(Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                r.code.code(),
                r.message,
            )))),
        }
    }
    drop(view);
    refuse_if_backlogged(state, &mut verdicts, &mut passed);
    let mut verified = Vec::new();
    let mut slots = Vec::new();
    let checked =
        if passed.is_empty() { Vec::new() } else { state.verifier.verify(passed).await? };
    let open = verdicts.iter().enumerate().filter(|(_, v)| v.is_none()).map(|(i, _)| i);
    let open: Vec<usize> = open.collect();
    for (slot, verdict) in open.into_iter().zip(checked) {
        match verdict {
            Ok(tx) => {
                slots.push(slot);
                verified.push(tx);
            }
            Err(e) => verdicts[slot] = Some(Err(admit_error(&e))),
        }
    }
    if !verified.is_empty() {
        let (reply, answer) = oneshot::channel();
        let submit = Command::Submit { txs: verified, reply };
        state.commands.send(submit).await.map_err(|_| ApiError::unavailable())?;
        let admitted = answer.await.map_err(|_| ApiError::unavailable())?;
        for (slot, verdict) in slots.into_iter().zip(admitted) {
            verdicts[slot] = Some(verdict.map_err(|e| admit_error(&e)));
        }
    }
    Ok(verdicts.into_iter().map(|v| v.unwrap_or_else(|| Err(ApiError::unavailable()))).collect())
}

#[derive(Deserialize)]
pub(super) struct SubmitQuery {
    wait: Option<String>,
}

/// How long `?wait=commit` waits.
const WAIT_COMMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `POST /v1/tx`: one tx's canonical bytes; `202 {"hash"}`, or with `?wait=commit` the receipt.
pub(super) async fn submit_tx(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<SubmitQuery>,
    body: Bytes,
) -> ApiResult {
    let tx: Tx = decode(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let wait = query.wait.as_deref() == Some("commit");
    // Subscribed before submitting, so the commit cannot slip past.
    let mut commits = state.commits.subscribe();
    let verdict =
        admit(&state, vec![tx]).await?.pop().unwrap_or_else(|| Err(ApiError::unavailable()));
    match verdict? {
        hash if wait => wait_for_commit(&mut commits, hash).await,
        hash => Ok((StatusCode::ACCEPTED, axum::Json(json!({ "hash": hash }))).into_response()),
    }
}

/// `POST /v1/txs`: a [`TxBatch`] (at most [`tokenbook_protocol::MAX_BATCH_TXS`] txs); `200`
/// with one answer per tx, in order: `{"hash", "status": "pending"}` or
/// `{"status": "refused", "code", "message", "http_status"}`.
pub(super) async fn submit_txs(State(state): State<ApiState>, body: Bytes) -> ApiResult {
    let TxBatch(txs) = decode(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let hashes: Vec<Hash> = txs.iter().map(Tx::hash).collect();
    let verdicts = admit(&state, txs).await?;
    let answers: Vec<Value> = hashes
        .into_iter()
        .zip(verdicts)
        .map(|(hash, verdict)| match verdict {
            Ok(_) => json!({ "hash": hash, "status": "pending" }),
            Err(e) => json!({ "hash": hash, "status": "refused", "code": e.code,
                              "message": e.message, "http_status": e.status.as_u16() }),
        })
        .collect();
    Ok(axum::Json(json!({ "results": answers })).into_response())
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
