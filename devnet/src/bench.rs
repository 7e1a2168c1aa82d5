//! `tokenbook-devnet bench`: an end-to-end load benchmark of a local devnet.
//!
//! It starts its own devnet (the `up` code path: keys, genesis, one `tokenbook-node` process
//! per validator on loopback), registers and funds `--accounts` accounts, keeps both indexes
//! fresh at constant prices (every member publishes every second), signs every order of the run
//! before it starts ([`load::presign`], so the generator takes no core from the validators while
//! they run), measures this machine's signature bound on those orders
//! ([`load::signature_bound`]: each order verified once per validator, batched, on every core),
//! then for `--secs` seconds submits them at `--rate` txs/s, spread over every
//! validator's API with many requests in flight: each tick's txs for a validator in one
//! `POST /v1/txs` (up to `--batch`, as a firm's gateway sends), or each alone to `POST /v1/tx`
//! with `--batch 1`. One validator's
//! `/v1/stream?txs=true` tells when each tx is finalized (its hash listed in a committed block).
//!
//! Promises:
//! - The pacer never sends ahead of the rate (a token bucket refilled every 5 ms, holding at
//!   most 50 ms of tokens); when the signers or the in-flight limit hold it back, it sends less,
//!   says so in the summary, and never catches up later in a burst.
//! - Every number printed is measured: submitted, admitted or refused (by code), finalized with
//!   submit → final latency, per second (`bench.csv`, `bench.png`); a sample of finalized txs is
//!   read back with `GET /v1/tx/{hash}` to report the share the ledger accepted.
//! - The devnet is stopped cleanly at the end (as `up` does on Ctrl-C); a validator that exits,
//!   or a stream that fails, makes the run fail.

pub(crate) mod load;
mod logs;
pub(crate) mod plot;
mod record;

use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenbook_protocol::{Keypair, MAX_BATCH_TXS};
use tokio::time::Instant;

use crate::flow::{self, MARKETS, Signer};
use crate::nodes::{self, Nodes};
use crate::setup;
use record::Recorder;

/// What `bench` was asked to do (also its command-line options).
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Number of trading accounts.
    #[arg(long, default_value_t = 128)]
    pub accounts: usize,
    /// Target submissions per second.
    #[arg(long, default_value_t = 2_000)]
    pub rate: u64,
    /// Seconds of submitting.
    #[arg(long, default_value_t = 30)]
    pub secs: u64,
    /// Where the CSV, PNG and summary go.
    #[arg(long, default_value = "target/bench-e2e")]
    pub out: PathBuf,
    /// Keep the devnet's data here (default: a temporary directory removed on exit).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Signing threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Most HTTP requests in flight at once.
    #[arg(long, default_value_t = 1_024)]
    pub max_inflight: usize,
    /// Most txs in one request (1: each alone to `POST /v1/tx`; more: each 5-ms tick's txs
    /// for a validator together to `POST /v1/txs`, at most 256).
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
}

type Shared = Arc<Mutex<Recorder>>;

fn with<T>(recorder: &Shared, f: impl FnOnce(&mut Recorder) -> T) -> Option<T> {
    recorder.lock().ok().map(|mut r| f(&mut r))
}

/// Runs the benchmark.
///
/// # Errors
/// Bad options, a devnet that cannot start or fails during the run, or an output that cannot
/// be written.
pub fn run(opts: &Options) -> Result<(), String> {
    if opts.validators == 0 || opts.accounts < 2 || opts.accounts > 1_000 {
        return Err("bench needs at least 1 validator and 2..=1000 accounts".into());
    }
    if opts.rate == 0 || opts.secs == 0 {
        return Err("--rate and --secs must be positive".into());
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let dir = opts.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tokenbook-bench-{}", std::process::id()))
    });
    let binary = nodes::node_binary()?;
    let devnet = setup::create(&dir, opts.validators, opts.accounts)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let result = runtime.block_on(nodes::run_with(
        &binary,
        &devnet,
        async |apis: &[String], nodes: &mut Nodes| bench(opts, &devnet, apis, nodes).await,
    ));
    if opts.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// An HTTP client whose every request has a deadline: a validator that stops answering (a
/// SIGSTOPped one) costs its requests a timeout, never a hung run.
fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())
}

/// The benchmark on a started devnet whose validators answer at `apis` (also run by the fault
/// harness on a shaped network).
pub(crate) async fn bench(
    opts: &Options,
    devnet: &setup::Devnet,
    apis: &[String],
    nodes: &mut Nodes,
) -> Result<(), String> {
    let http = client()?;
    nodes::wait_ready(&http, apis).await?;
    println!(
        "bench: {} validators, {} accounts, {} txs/s for {} s; data in {}",
        apis.len(),
        opts.accounts,
        opts.rate,
        opts.secs,
        devnet.dir.display()
    );
    let members: Vec<Keypair> =
        devnet.validators.iter().map(|v| Keypair::from_seed(&v.member.seed())).collect();
    let mut signer = Signer::default();
    let mids = [MARKETS[0].2, MARKETS[1].2];
    flow::publish_indexes(&http, apis, &members, &mids, &mut signer).await?;
    let limits = load::bench_limits();
    let accounts =
        flow::fund_traders(&http, &apis[0], &members[0], &devnet.traders, limits, &mut signer)
            .await?;
    println!("{} accounts registered and funded", accounts.len());
    let publisher =
        tokio::spawn(publish_every_second(http.clone(), apis.to_vec(), members, signer));
    let traders = devnet
        .traders
        .iter()
        .zip(&accounts)
        .enumerate()
        .map(|(i, (key, &account))| load::Trader::new(key, account, i % apis.len(), i as u64))
        .collect();
    let count = usize::try_from(opts.rate.saturating_mul(opts.secs + 2)).unwrap_or(usize::MAX);
    let threads = opts.threads;
    let presigned = tokio::task::spawn_blocking(move || load::presign(traders, threads, count))
        .await
        .map_err(|e| e.to_string())?;
    let sample: Vec<tokenbook_protocol::Tx> = presigned
        .iter()
        .take(BOUND_SAMPLE)
        .filter_map(|s| tokenbook_protocol::codec::decode(&s.bytes).ok())
        .collect();
    let validators = apis.len();
    let bound = tokio::task::spawn_blocking(move || {
        load::signature_bound(&sample, validators, setup::CHAIN)
    })
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "{} orders signed; signature bound on this machine: {bound:.0} orders/s",
        presigned.len()
    );
    let measured = measure(opts, apis, nodes, presigned).await;
    publisher.abort();
    let (recorder, outcome) = measured?;
    let samples = sample_receipts(&http, &apis[0], &recorder.finalized).await;
    let logs: Vec<_> = devnet.validators.iter().map(|v| logs::read(&v.home.0)).collect();
    let verifications = verifications(&http, apis).await;
    report(opts, &recorder, &Evidence { outcome, samples, logs, bound, verifications })
}

/// What the run saw besides the recorder.
#[derive(Debug)]
struct Evidence {
    outcome: Outcome,
    /// Ledger verdicts on a sample of finalized txs.
    samples: BTreeMap<String, u64>,
    /// Each validator's log counts.
    logs: Vec<logs::LogCounts>,
    /// The signature bound measured before the run (orders/s).
    bound: f64,
    /// Signatures the validators verified, from their metrics.
    verifications: Verifications,
}

/// Tx signatures verified by all validators over the whole run (setup included), from
/// `/metrics`, and the txs the chain committed.
#[derive(Debug, Default, Clone, Copy)]
struct Verifications {
    /// Admitting gossip into mempools.
    gossip: u64,
    /// Judging blocks (txs a mempool held are not verified again).
    block: u64,
    /// Txs committed (the most any validator reports).
    committed: u64,
}

impl Verifications {
    /// Verifications per committed tx, the API's one at the receiving validator included.
    fn per_tx(&self) -> f64 {
        1.0 + (self.gossip + self.block) as f64 / self.committed.max(1) as f64
    }
}

/// Sums each validator's signature counters (a validator that does not answer counts 0).
async fn verifications(http: &reqwest::Client, apis: &[String]) -> Verifications {
    let mut out = Verifications::default();
    for api in apis {
        let Ok(response) = http.get(format!("{api}/metrics")).send().await else { continue };
        let text = response.text().await.unwrap_or_default();
        out.gossip += metric(&text, "tokenbook_gossip_signatures_verified_total");
        out.block += metric(&text, "tokenbook_block_signatures_verified_total");
        out.committed = out.committed.max(metric(&text, "tokenbook_txs_committed_total"));
    }
    out
}

/// A counter's value in Prometheus text (0 when absent).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter_map(|line| line.strip_prefix(name)?.trim().parse::<u64>().ok())
        .next()
        .unwrap_or(0)
}

/// Orders the signature bound is measured on.
const BOUND_SAMPLE: usize = 16_384;

/// What the pacer and the listener saw besides the recorder.
#[derive(Debug, Default)]
struct Outcome {
    /// Ticks on which the signers had nothing ready.
    starved_ticks: u64,
    /// Ticks on which every in-flight slot was taken.
    inflight_full_ticks: u64,
    /// CPU seconds per process over the submitting period: this one, then each validator.
    cpu_secs: Vec<f64>,
    /// Wall seconds of the submitting period.
    wall_secs: f64,
}

/// Subscribes, starts the signers, paces the submissions, drains, and stops the signers.
async fn measure(
    opts: &Options,
    apis: &[String],
    nodes: &mut Nodes,
    presigned: Vec<load::Signed>,
) -> Result<(Recorder, Outcome), String> {
    let recorder: Shared = Arc::new(Mutex::new(Recorder::new()));
    let host = apis[0].trim_start_matches("http://");
    // `account=0` matches no fill: blocks only, no per-fill trade messages to carry.
    let url = format!("ws://{host}/v1/stream?txs=true&account=0");
    let (socket, _) =
        tokio_tungstenite::connect_async(url.as_str()).await.map_err(|e| format!("{url}: {e}"))?;
    let listener = tokio::spawn(listen(socket, Arc::clone(&recorder)));
    let capacity = usize::try_from(opts.rate / 4).unwrap_or(usize::MAX).clamp(256, 65_536);
    let (out, ready) = tokio::sync::mpsc::channel(capacity);
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = load::spawn_feeder(presigned, &out, &stop);
    drop(out);
    let mut pids = vec![std::process::id()];
    pids.extend(nodes.pids());
    let cpu_before = cpu_secs(&pids);
    let started = Instant::now();
    let paced = pace(opts, apis, nodes, ready, &recorder).await;
    let wall_secs = started.elapsed().as_secs_f64();
    let cpu_after = cpu_secs(&pids);
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || drop(feeder.join())).await;
    let (starved_ticks, inflight_full_ticks) = paced?;
    drain(&recorder, listener).await?;
    let cpu_secs = cpu_after.iter().zip(&cpu_before).map(|(a, b)| a - b).collect();
    let outcome = Outcome { starved_ticks, inflight_full_ticks, cpu_secs, wall_secs };
    let recorder = recorder
        .lock()
        .map(|mut r| std::mem::replace(&mut *r, Recorder::new()))
        .map_err(|e| e.to_string())?;
    Ok((recorder, outcome))
}

/// Waits until every admitted tx is finalized, or 10 s after the last submission, then stops
/// the listener.
///
/// # Errors
/// The listener failed or its stream closed.
async fn drain(
    recorder: &Shared,
    listener: tokio::task::JoinHandle<Result<(), String>>,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !listener.is_finished() {
        if with(recorder, |r| r.pending()).unwrap_or(0) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if listener.is_finished() {
        return match listener.await {
            Ok(Err(e)) => Err(format!("stream: {e}")),
            _ => Err("stream: closed by the validator".into()),
        };
    }
    // Whatever is still pending is not counted as finalized.
    listener.abort();
    let _ = listener.await;
    Ok(())
}

/// Reads block messages until the socket closes; a `lagged` note is an error.
async fn listen(
    mut socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    recorder: Shared,
) -> Result<(), String> {
    while let Some(message) = socket.next().await {
        let message = message.map_err(|e| e.to_string())?;
        let tokio_tungstenite::tungstenite::Message::Text(text) = message else { continue };
        let value: serde_json::Value =
            serde_json::from_str(text.as_str()).map_err(|e| e.to_string())?;
        match value["type"].as_str() {
            Some("block") => {
                let txs = value["txs"].as_u64().unwrap_or(0);
                let hashes = value["tx_hashes"].as_array().cloned().unwrap_or_default();
                let parsed = hashes.iter().filter_map(|h| parse_hash(h.as_str()?));
                with(&recorder, |r| r.block(txs, parsed));
            }
            Some("lagged") => return Err(format!("the listener fell behind: {value}")),
            _ => {}
        }
    }
    Ok(())
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Sends what the signers made at `opts.rate` for `opts.secs`; returns the starved and
/// in-flight-full tick counts.
async fn pace(
    opts: &Options,
    apis: &[String],
    nodes: &mut Nodes,
    mut ready: tokio::sync::mpsc::Receiver<load::Signed>,
    recorder: &Shared,
) -> Result<(u64, u64), String> {
    let route = if opts.batch > 1 { "txs" } else { "tx" };
    let clients: Vec<(reqwest::Client, Arc<str>)> = apis
        .iter()
        .map(|api| Ok((client()?, Arc::from(format!("{api}/v1/{route}").as_str()))))
        .collect::<Result<_, String>>()?;
    let batch = opts.batch.clamp(1, MAX_BATCH_TXS);
    let slots = Arc::new(tokio::sync::Semaphore::new(opts.max_inflight));
    let rate = opts.rate as f64;
    let (mut starved, mut full, mut budget) = (0u64, 0u64, 0.0f64);
    let start = Instant::now();
    let (end, mut last) = (start + Duration::from_secs(opts.secs), start);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_check = start;
    let mut queued: Vec<Vec<load::Signed>> = (0..clients.len()).map(|_| Vec::new()).collect();
    while Instant::now() < end {
        tick.tick().await;
        let now = Instant::now();
        budget = (budget + rate * now.duration_since(last).as_secs_f64()).min(rate * 0.05 + 1.0);
        last = now;
        if now >= next_check {
            check_alive(nodes)?;
            print_progress(recorder, now.duration_since(start));
            next_check = now + Duration::from_secs(1);
        }
        'tick: while budget >= 1.0 {
            let Ok(signed) = ready.try_recv() else {
                starved += 1;
                break;
            };
            budget -= 1.0;
            let to = signed.validator % clients.len();
            queued[to].push(signed);
            if queued[to].len() >= batch && !send(&slots, &clients[to], &mut queued[to], recorder) {
                full += 1;
                break 'tick;
            }
        }
        for (to, txs) in queued.iter_mut().enumerate() {
            if !txs.is_empty() && !send(&slots, &clients[to], txs, recorder) {
                full += 1;
            }
        }
    }
    println!();
    // Every request answered (or failed) before the drain starts.
    let all = u32::try_from(opts.max_inflight).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok((starved, full))
}

/// Sends `txs` (emptied) as one request if an in-flight slot is free; false (and `txs` kept
/// for the next tick) if none is.
fn send(
    slots: &Arc<tokio::sync::Semaphore>,
    (client, url): &(reqwest::Client, Arc<str>),
    txs: &mut Vec<load::Signed>,
    recorder: &Shared,
) -> bool {
    let Ok(slot) = Arc::clone(slots).try_acquire_owned() else { return false };
    let txs = std::mem::take(txs);
    let (client, url, recorder) = (client.clone(), Arc::clone(url), Arc::clone(recorder));
    tokio::spawn(async move {
        if url.ends_with("/v1/txs") {
            send_batch(client, url, txs, recorder).await;
        } else {
            for signed in txs {
                send_one(client.clone(), Arc::clone(&url), signed, Arc::clone(&recorder)).await;
            }
        }
        drop(slot);
    });
    true
}

fn check_alive(nodes: &mut Nodes) -> Result<(), String> {
    let exited = nodes.exited();
    if exited.is_empty() {
        Ok(())
    } else {
        Err(format!("validators {exited:?} exited during the run (see their node.log)"))
    }
}

fn print_progress(recorder: &Shared, elapsed: Duration) {
    let line = with(recorder, |r| {
        let last = r.seconds.iter().rev().nth(1).cloned().unwrap_or_default();
        format!(
            "\r{:>4} s  last second: submitted {:>6} finalized {:>6} refused {:>5}  pending {:>6} ",
            elapsed.as_secs(),
            last.submitted,
            last.finalized,
            last.refused,
            r.pending()
        )
    });
    print!("{}", line.unwrap_or_default());
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

async fn send_one(client: reqwest::Client, url: Arc<str>, signed: load::Signed, recorder: Shared) {
    let hash = signed.hash;
    with(&recorder, |r| r.submitted(hash));
    let sent = client.post(&*url).body(signed.bytes).send().await;
    match answered(sent, reqwest::StatusCode::ACCEPTED).await {
        Ok(_) => with(&recorder, Recorder::admitted),
        Err(code) => with(&recorder, |r| r.refused(&hash, code)),
    };
}

/// The response if it has status `ok`, else the refusal's code (the API's `code`, or the
/// status or transport failure when there is none).
async fn answered(
    sent: reqwest::Result<reqwest::Response>,
    ok: reqwest::StatusCode,
) -> Result<reqwest::Response, String> {
    match sent {
        Ok(response) if response.status() == ok => Ok(response),
        Ok(response) => {
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            Err(body["code"].as_str().map_or_else(|| format!("http_{status}"), String::from))
        }
        Err(e) if e.is_connect() => Err("connect_error".into()),
        Err(_) => Err("http_error".into()),
    }
}

/// The `POST /v1/txs` body holding `txs` (docs/wire-format.md: the count as a little-endian
/// u64, then each tx's canonical bytes).
fn batch_body(txs: &[load::Signed]) -> Vec<u8> {
    let mut body = (txs.len() as u64).to_le_bytes().to_vec();
    for signed in txs {
        body.extend_from_slice(&signed.bytes);
    }
    body
}

async fn send_batch(
    client: reqwest::Client,
    url: Arc<str>,
    txs: Vec<load::Signed>,
    recorder: Shared,
) {
    with(&recorder, |r| txs.iter().for_each(|signed| r.submitted(signed.hash)));
    let sent = client.post(&*url).body(batch_body(&txs)).send().await;
    let answer = match answered(sent, reqwest::StatusCode::OK).await {
        Ok(response) => {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            body["results"].as_array().cloned().ok_or_else(|| "bad_batch_answer".to_string())
        }
        Err(code) => Err(code),
    };
    with(&recorder, |r| {
        for (i, signed) in txs.iter().enumerate() {
            let result = answer.as_ref().map(|results| results.get(i));
            match result {
                Ok(Some(one)) if one["status"] == "pending" => r.admitted(),
                Ok(Some(one)) => {
                    let code = one["code"].as_str().unwrap_or("bad_batch_answer");
                    r.refused(&signed.hash, code.to_string());
                }
                Ok(None) => r.refused(&signed.hash, "bad_batch_answer".into()),
                Err(code) => r.refused(&signed.hash, code.clone()),
            }
        }
    });
}

/// Every member publishes both indexes (unchanged) every second, so they stay fresh.
pub(crate) async fn publish_every_second(
    http: reqwest::Client,
    apis: Vec<String>,
    members: Vec<Keypair>,
    mut signer: Signer,
) {
    let mids = [MARKETS[0].2, MARKETS[1].2];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Err(e) = flow::publish_indexes(&http, &apis, &members, &mids, &mut signer).await {
            eprintln!("\nindex publication refused: {e}");
        }
    }
}

/// The ledger's verdicts on up to 300 finalized txs spread over the run: `accepted` or the
/// refusal code, with counts.
async fn sample_receipts(
    http: &reqwest::Client,
    api: &str,
    finalized: &[[u8; 32]],
) -> BTreeMap<String, u64> {
    let step = finalized.len().div_ceil(300).max(1);
    let mut verdicts = BTreeMap::new();
    for hash in finalized.iter().step_by(step) {
        let url = format!("{api}/v1/tx/{}", hex::encode(hash));
        let receipt: Option<serde_json::Value> = match http.get(&url).send().await {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        let verdict = match receipt {
            Some(r) if r["accepted"].as_bool() == Some(true) => "accepted".to_string(),
            Some(r) if r["accepted"].as_bool() == Some(false) => {
                r["code"].as_str().unwrap_or("refused").to_string()
            }
            _ => "unreadable".to_string(),
        };
        *verdicts.entry(verdict).or_insert(0u64) += 1;
    }
    verdicts
}

/// User + system CPU seconds of each process so far (0 for one that cannot be read).
fn cpu_secs(pids: &[u32]) -> Vec<f64> {
    pids.iter()
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // After the command name in parentheses: field 3 onward; utime and stime are 14, 15.
            let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
            (ticks(11) + ticks(12)) as f64 / 100.0 // USER_HZ is 100 on Linux
        })
        .collect()
}

fn report(opts: &Options, recorder: &Recorder, evidence: &Evidence) -> Result<(), String> {
    let secs = usize::try_from(opts.secs).unwrap_or(usize::MAX);
    let rows = record::rows(&recorder.seconds);
    let summary = record::summarize(&recorder.seconds, secs);
    let text = summary_text(opts, &summary, recorder, evidence);
    print!("{text}");
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, String> {
        let path = opts.out.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };
    write("summary.txt", text.as_bytes())?;
    let csv = write("bench.csv", record::csv(&rows).as_bytes())?;
    let png = opts.out.join("bench.png");
    plot::draw(&png, &rows, plot::font_available())?;
    println!("wrote {}, {} and summary.txt", csv.display(), png.display());
    Ok(())
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0} ms"))
}

fn summary_text(
    opts: &Options,
    s: &record::Summary,
    recorder: &Recorder,
    evidence: &Evidence,
) -> String {
    let (outcome, samples) = (&evidence.outcome, &evidence.samples);
    let mut out = format!(
        "target {} txs/s for {} s, {} validators, {} accounts\n",
        opts.rate, opts.secs, opts.validators, opts.accounts
    );
    out += &format!(
        "submitted {}  admitted {}  refused {}  finalized {}\n",
        s.submitted, s.admitted, s.refused, s.finalized
    );
    out += &format!(
        "finalized/s: median {:.0} over the steady seconds, {:.0} overall\n",
        s.steady_median_per_s, s.overall_per_s
    );
    out += &format!(
        "signature bound (each order verified once per validator, batched, every core): {:.0} \
         orders/s; finalized at {:.1}% of it\n",
        evidence.bound,
        100.0 * s.steady_median_per_s / evidence.bound.max(1e-9)
    );
    let v = &evidence.verifications;
    out += &format!(
        "signatures verified per committed tx, all validators: {:.2} (API 1, gossip {}, \
         blocks {}, over {} txs committed)\n",
        v.per_tx(),
        v.gossip,
        v.block,
        v.committed
    );
    out += &format!(
        "submit -> final latency: p50 {}  p90 {}  p99 {}\n",
        ms(s.p50_ms),
        ms(s.p90_ms),
        ms(s.p99_ms)
    );
    out += &format!("blocks {}  mean txs/block {:.0}\n", s.blocks, s.mean_txs_per_block);
    out += &format!("refusals by code: {:?}\n", recorder.refusals);
    out += &format!("ledger verdicts on a sample of finalized txs: {samples:?}\n");
    out += &format!(
        "pacer: {} ticks with nothing signed, {} with every in-flight slot taken\n",
        outcome.starved_ticks, outcome.inflight_full_ticks
    );
    let share: Vec<String> = outcome
        .cpu_secs
        .iter()
        .map(|c| format!("{:.0}%", 100.0 * c / outcome.wall_secs.max(1e-9)))
        .collect();
    out += &format!(
        "CPU while submitting (100% = one core): bench {}, validators [{}]\n",
        share.first().cloned().unwrap_or_default(),
        share.get(1..).unwrap_or_default().join(" ")
    );
    let each = |f: fn(&logs::LogCounts) -> u64| -> String {
        evidence.logs.iter().map(|c| f(c).to_string()).collect::<Vec<_>>().join(" ")
    };
    out += &format!(
        "validator logs (whole run): heights decided after round 0 [{}], gossip messages dropped \
         on a full send queue [{}]\n",
        each(|c| c.late_rounds),
        each(|c| c.gossip_drops)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenbook_protocol::{AccountId, Tx, TxBatch};

    #[test]
    fn a_counter_is_read_from_prometheus_text() {
        let text = "# HELP tokenbook_block_signatures_verified Tx signatures\n\
                    tokenbook_block_signatures_verified_total 42\n\
                    tokenbook_txs_committed_total 7\n";
        assert_eq!(metric(text, "tokenbook_block_signatures_verified_total"), 42);
        assert_eq!(metric(text, "tokenbook_txs_committed_total"), 7);
        assert_eq!(metric(text, "tokenbook_gossip_signatures_verified_total"), 0);
    }

    #[test]
    fn a_batch_body_is_the_canonical_tx_batch() {
        let trader = load::Trader::new(&Keypair::from_seed(&[3; 32]), AccountId::new(5), 0, 0);
        let signed = load::presign(vec![trader], 1, 7);
        let txs: Vec<Tx> = signed
            .iter()
            .map(|s| tokenbook_protocol::decode(&s.bytes).expect("a presigned tx decodes"))
            .collect();
        assert_eq!(batch_body(&signed), tokenbook_protocol::encode(&TxBatch(txs)));
    }
}
