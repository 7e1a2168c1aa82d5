//! The CLI's view of one node: its HTTP/JSON API (docs/api.md) over a blocking client.
//!
//! Promises: every failure becomes a [`CliError`] with a stable code — the node's own code when
//! it answered with one (`nonce_replayed`, `market_unknown`, …), `node_unreachable` when it
//! could not be reached, `node_bad_answer` when it answered something that is not the API (or
//! more than 64 MiB: answers are read bounded).

use serde_json::Value;
use std::time::Duration;
use tokenbook_protocol::Tx;
use tokenbook_protocol::codec::encode;

/// A failure with a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// Stable machine-readable code.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl CliError {
    /// A failure with this code.
    pub fn new(code: &str, message: impl Into<String>) -> CliError {
        CliError { code: code.into(), message: message.into() }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::new("cli_error", message)
    }
}

/// Shorthand.
pub type CliResult<T> = Result<T, CliError>;

/// With `TOKENBOOK_HTTP_TRACE` set, each request the CLI makes is named on stderr (how many
/// round trips a command costs).
fn trace(method: &str, path: &str) {
    if std::env::var_os("TOKENBOOK_HTTP_TRACE").is_some() {
        eprintln!("http {method} {path}");
    }
}

/// One node's API.
#[derive(Debug, Clone)]
pub struct Node {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    http: reqwest::blocking::Client,
}

impl Node {
    /// A client for the node at `url`.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(url: &str) -> CliResult<Node> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| CliError::new("cli_error", e.to_string()))?;
        Ok(Node { url: url.trim_end_matches('/').to_string(), http })
    }

    fn unreachable(&self, e: &reqwest::Error) -> CliError {
        CliError::new("node_unreachable", format!("{}: {e}", self.url))
    }

    /// `GET path` as JSON.
    ///
    /// # Errors
    /// Unreachable node, an error answer (its code), or an answer that is not JSON.
    pub fn get(&self, path: &str) -> CliResult<Value> {
        trace("GET", path);
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .map_err(|e| self.unreachable(&e))?;
        self.json(response)
    }

    /// `GET path` as bytes (`None` for a 404).
    ///
    /// # Errors
    /// Unreachable node or an error answer other than 404.
    pub fn get_bytes(&self, path: &str) -> CliResult<Option<Vec<u8>>> {
        trace("GET", path);
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .map_err(|e| self.unreachable(&e))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(self.json(response).err().unwrap_or_else(|| bad_answer("an error")));
        }
        Ok(Some(self.read_bounded(response)?))
    }

    /// Submits a signed tx; with `wait`, until it is committed (the receipt), else until the
    /// mempool admitted it (`{"hash"}`). A committed tx the ledger refused is an error with the
    /// ledger's code.
    ///
    /// # Errors
    /// As [`get`](Self::get), plus the node's or ledger's refusal.
    pub fn submit(&self, tx: &Tx, wait: bool) -> CliResult<Value> {
        let query = if wait { "?wait=commit" } else { "" };
        trace("POST", &format!("/v1/tx{query}"));
        let response = self
            .http
            .post(format!("{}/v1/tx{query}", self.url))
            .header("content-type", "application/octet-stream")
            .body(encode(tx))
            .send()
            .map_err(|e| self.unreachable(&e))?;
        let receipt = self.json(response)?;
        if receipt["accepted"] == Value::Bool(false) {
            return Err(node_error(&receipt));
        }
        Ok(receipt)
    }

    fn json(&self, response: reqwest::blocking::Response) -> CliResult<Value> {
        let ok = response.status().is_success();
        let status = response.status();
        let bytes = self.read_bounded(response)?;
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|_| bad_answer(&format!("HTTP {status} with a body that is not JSON")))?;
        if ok { Ok(body) } else { Err(node_error(&body)) }
    }
}

impl Node {
    /// The answer's body, refused past [`MAX_ANSWER_BYTES`] (a node cannot exhaust the CLI's
    /// memory).
    fn read_bounded(&self, response: reqwest::blocking::Response) -> CliResult<Vec<u8>> {
        use std::io::Read;
        let mut bytes = Vec::new();
        response
            .take(MAX_ANSWER_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::new("node_unreachable", format!("{}: {e}", self.url)))?;
        if bytes.len() as u64 > MAX_ANSWER_BYTES {
            return Err(bad_answer(&format!("more than {MAX_ANSWER_BYTES} bytes")));
        }
        Ok(bytes)
    }
}

/// Largest answer read from a node: above the largest block or proof the API serves.
const MAX_ANSWER_BYTES: u64 = 64 << 20;

fn bad_answer(what: &str) -> CliError {
    CliError::new("node_bad_answer", format!("the node answered {what}"))
}

/// The node's `{"code", "message"}` as an error.
fn node_error(body: &Value) -> CliError {
    match (body["code"].as_str(), body["message"].as_str()) {
        (Some(code), Some(message)) => CliError::new(code, message),
        _ => bad_answer(&body.to_string()),
    }
}
