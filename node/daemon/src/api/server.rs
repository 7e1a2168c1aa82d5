//! The API's HTTP/1.1 server: accepts connections and serves the router on each, within limits
//! that keep slow, idle or numerous clients from exhausting the node.
//!
//! Promises:
//! - at most `max_connections` connections at once, and `max_connections_per_ip` from one
//!   address; a connection over either cap is answered `503 too_many_connections` (JSON) and
//!   closed, without reaching the router;
//! - a client that does not send a whole request head within `header_timeout` — on a new
//!   connection, or while a kept-alive connection idles between requests — is disconnected
//!   (slowloris and idle sockets cost a bounded time each);
//! - an accept error (say, out of file descriptors) pauses accepting briefly instead of
//!   spinning or stopping the server;
//! - on shutdown, connections finish the request in hand and close.

use axum::Router;
use axum::extract::ConnectInfo;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Connection limits of the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections open at once (HTTP and WebSocket).
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Longest wait for a request's head, including the idle time between kept-alive requests.
    pub header_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 4_096,
            max_connections_per_ip: 1_024,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// Open connections, in all and per address.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// A connection's place in [`Counts`], given back when dropped.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Slot {
    fn take(counts: &Arc<Mutex<Counts>>, ip: IpAddr, limits: &ServerLimits) -> Option<Slot> {
        let mut c = counts.lock().ok()?;
        let mine = c.per_ip.get(&ip).copied().unwrap_or(0);
        if c.total >= limits.max_connections || mine >= limits.max_connections_per_ip {
            return None;
        }
        c.total += 1;
        c.per_ip.insert(ip, mine + 1);
        Some(Slot { counts: Arc::clone(counts), ip })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Ok(mut c) = self.counts.lock() else { return };
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Pause after a failed accept (the usual cause, no free descriptors, passes as others close).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `stop` turns true.
///
/// # Errors
/// Never, today: accept errors are logged and retried; the `Result` leaves room for a listener
/// that can fail for good.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let counts = Arc::new(Mutex::new(Counts::default()));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return Ok(()),
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "api accept failed; pausing");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        match Slot::take(&counts, peer.ip(), &limits) {
            Some(slot) => {
                let (app, stop) = (app.clone(), stop.clone());
                tokio::spawn(connection(stream, peer, app, limits, stop, slot));
            }
            None => {
                tokio::spawn(refuse(stream));
            }
        }
    }
}

/// One connection, HTTP/1.1 with upgrades (the stream's WebSocket).
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ServerLimits,
    mut stop: watch::Receiver<bool>,
    _slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        tower::ServiceExt::oneshot(app.clone(), request.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn.with_upgrades());
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Longest time spent telling a connection over the cap so.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Answers a connection over the caps with `503 too_many_connections` and closes it.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"code":"too_many_connections","message":"the node has as many API connections as it allows (in all or from this address); retry later"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSE_TIMEOUT, async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
