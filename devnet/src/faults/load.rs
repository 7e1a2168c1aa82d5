//! The load generator and the monitor of a fault run, both in the harness's namespace.
//!
//! Each trader submits one signed order at a time with `POST /v1/tx?wait=commit` to the
//! validator it uses, and writes what came back into the history: the height and receipt of a
//! commit (the acknowledgement the checker holds the chain to), a refusal code, or a failure
//! (timeout, connection refused). On anything but an answer it moves to the next validator, as a
//! firm's client fails over, so faulty validators never stall the load. The monitor reads every
//! validator's height four times a second.
//!
//! Promises: every HTTP request has a deadline (a paused validator never hangs the load); a tx
//! is submitted once, to one validator, and its history entry names that validator and the
//! times it was sent and answered, in ms since the run's start.

use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenbook_protocol::codec::encode;
use tokio::time::Instant;

use crate::bench::load::Trader;
use crate::flow::{Signer, Walk};

/// What one submission came to.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// `200`: committed at `height`; the receipt as the API gave it.
    Committed { height: u64, receipt: serde_json::Value },
    /// The API refused it (its code).
    Refused { code: String },
    /// No answer in time, or no connection.
    Failed { reason: String },
}

/// One history entry.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// Sent, ms since the run's start.
    pub sent_ms: u64,
    /// Answered (or given up), ms since the run's start.
    pub done_ms: u64,
    /// Trader index.
    pub trader: usize,
    /// Validator index it went to.
    pub validator: usize,
    /// The tx hash (hex).
    pub hash: String,
    /// What came back.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The history, shared by the traders.
pub type History = Arc<Mutex<Vec<Entry>>>;

/// One height reading.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// ms since the run's start.
    pub at_ms: u64,
    /// Validator index.
    pub validator: usize,
    /// Its height, `None` when it did not answer.
    pub height: Option<u64>,
}

/// Heights as the monitor last read them, and every reading.
#[derive(Debug, Default)]
pub struct Heights {
    /// Latest reading per validator (`None` until one answers).
    pub latest: Vec<Option<u64>>,
    /// Every reading, in time order.
    pub samples: Vec<Sample>,
}

impl Heights {
    /// The highest height any validator reported last.
    #[must_use]
    pub fn max(&self) -> u64 {
        self.latest.iter().flatten().copied().max().unwrap_or(0)
    }
}

/// The run's clock: ms since it started.
#[derive(Clone, Copy, Debug)]
pub struct Clock(pub Instant);

impl Clock {
    /// ms since the start.
    #[must_use]
    pub fn ms(self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// How long a `?wait=commit` may take before the trader gives up on that validator (the node
/// answers `commit_timeout` after 10 s).
const SUBMIT_DEADLINE: Duration = Duration::from_secs(12);

/// An HTTP client whose every request has a deadline.
///
/// # Errors
/// The client cannot be built.
pub fn client(deadline: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(deadline)
        .connect_timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| e.to_string())
}

/// Runs trader `index` until `stop` is set.
pub async fn trade(
    mut trader: Trader,
    index: usize,
    apis: Arc<Vec<String>>,
    history: History,
    stop: Arc<AtomicBool>,
    clock: Clock,
) {
    let Ok(http) = client(SUBMIT_DEADLINE) else { return };
    let mut signer = Signer::default();
    let mut walk = Walk::new(0x5851_f42d_4c95_7f2d ^ (index as u64 + 1));
    let mut at = index % apis.len();
    while !stop.load(Ordering::Relaxed) {
        let tx = trader.sign_next(&mut signer, &mut walk);
        let hash = tx.hash().to_string();
        let sent_ms = clock.ms();
        let url = format!("{}/v1/tx?wait=commit", apis[at]);
        let outcome = submit(&http, &url, encode(&tx)).await;
        let entry =
            Entry { sent_ms, done_ms: clock.ms(), trader: index, validator: at, hash, outcome };
        let failed = !matches!(entry.outcome, Outcome::Committed { .. });
        if let Ok(mut h) = history.lock() {
            h.push(entry);
        }
        if failed {
            at = (at + 1) % apis.len();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn submit(http: &reqwest::Client, url: &str, body: Vec<u8>) -> Outcome {
    let response = match http.post(url).body(body).send().await {
        Ok(response) => response,
        Err(e) if e.is_timeout() => return Outcome::Failed { reason: "timeout".into() },
        Err(e) if e.is_connect() => return Outcome::Failed { reason: "connect".into() },
        Err(e) => return Outcome::Failed { reason: e.to_string() },
    };
    let status = response.status();
    let body: serde_json::Value = match response.json().await {
        Ok(body) => body,
        Err(_) => return Outcome::Failed { reason: format!("http {status}, no JSON body") },
    };
    match (status.as_u16(), body["height"].as_u64()) {
        (200, Some(height)) => Outcome::Committed { height, receipt: body },
        _ => Outcome::Refused {
            code: body["code"].as_str().map_or_else(|| format!("http_{status}"), String::from),
        },
    }
}

/// Reads every validator's height every 250 ms until `stop` is set.
pub async fn monitor(
    apis: Arc<Vec<String>>,
    heights: Arc<Mutex<Heights>>,
    stop: Arc<AtomicBool>,
    clock: Clock,
) {
    let Ok(http) = client(Duration::from_millis(700)) else { return };
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let reads = apis.iter().map(|api| height_of(&http, api));
        let read = futures_util::future::join_all(reads).await;
        let at_ms = clock.ms();
        if let Ok(mut h) = heights.lock() {
            h.latest.resize(apis.len(), None);
            for (validator, height) in read.into_iter().enumerate() {
                if height.is_some() {
                    h.latest[validator] = height;
                }
                h.samples.push(Sample { at_ms, validator, height });
            }
        }
    }
}

/// A validator's height from `/v1/status`, `None` without an answer.
pub async fn height_of(http: &reqwest::Client, api: &str) -> Option<u64> {
    let status: serde_json::Value =
        http.get(format!("{api}/v1/status")).send().await.ok()?.json().await.ok()?;
    status["height"].as_u64()
}
