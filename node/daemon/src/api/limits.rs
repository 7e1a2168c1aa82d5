//! What one client may cost the node: requests per second per client IP (a token bucket, so a
//! client cannot refill by opening new connections), requests in flight across all clients,
//! and how long one request may take.
//!
//! Promises: a refused request costs a map lookup and answers at once (`429 rate_limited`,
//! `503 overloaded`, `408 request_timeout`); the bucket map is bounded; nothing here blocks.

use super::errors::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Per-client request limits: a token bucket of `burst` requests refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second per client IP.
    pub per_second: u64,
    /// Requests a client IP may make at once.
    pub burst: u64,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Thousandths of a request.
    milli_tokens: u64,
    last: Instant,
}

/// Buckets kept before idle ones are swept (and, if every one is busy, before new clients are
/// refused rather than let the map grow).
const MAX_BUCKETS: usize = 100_000;

/// The buckets of all client IPs, the in-flight cap and the per-request deadline.
#[derive(Clone, Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    buckets: Arc<Mutex<HashMap<IpAddr, Bucket>>>,
    in_flight: Arc<Semaphore>,
    request_timeout: Duration,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit, max_in_flight: usize, request_timeout: Duration) -> Self {
        Limiter {
            limit,
            buckets: Arc::default(),
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            request_timeout,
        }
    }

    /// Takes one request's token from `ip`'s bucket.
    fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let full = self.limit.burst.saturating_mul(1_000);
        let Ok(mut buckets) = self.buckets.lock() else { return false };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&ip) {
            buckets.retain(|_, b| now.duration_since(b.last) < Duration::from_secs(60));
            if buckets.len() >= MAX_BUCKETS {
                return false;
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket { milli_tokens: full, last: now });
        let elapsed_ms =
            u64::try_from(now.duration_since(bucket.last).as_millis()).unwrap_or(u64::MAX);
        bucket.milli_tokens = bucket
            .milli_tokens
            .saturating_add(elapsed_ms.saturating_mul(self.limit.per_second))
            .min(full);
        bucket.last = now;
        if bucket.milli_tokens < 1_000 {
            return false;
        }
        bucket.milli_tokens -= 1_000;
        true
    }
}

/// Middleware: the client's bucket, then a slot among the requests in flight, then the deadline.
pub(crate) async fn limit(
    axum::extract::State(limiter): axum::extract::State<Limiter>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !limiter.allow(peer.ip()) {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests from this address; slow down",
        )
        .into_response();
    }
    let Ok(_slot) = limiter.in_flight.try_acquire() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the node is answering as many requests as it allows; retry shortly",
        )
        .into_response();
    };
    match tokio::time::timeout(limiter.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request took longer than {} s", limiter.request_timeout.as_secs()),
        )
        .into_response(),
    }
}
