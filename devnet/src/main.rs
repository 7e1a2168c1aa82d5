//! `tokenbook-devnet`: a local tokenbook network — validators as separate `tokenbook-node`
//! processes on loopback, plus market makers and takers trading both contracts around moving
//! index prices that the members publish.
//!
//! `up` builds keys, a genesis and one home per validator, starts the nodes, funds the traders,
//! runs the order flow and prints a live status line until Ctrl-C, then stops every node cleanly.
//! `status --dir DIR` and `down --dir DIR` act on a devnet started with `--dir`. `bench` starts
//! a devnet of its own and measures finalized orders per second and submit → final latency
//! under a paced load (docs/benchmarks.md). `faults` runs each validator as a host of its own
//! (a network namespace) under partitions, kills and pauses, and checks the chain against what
//! the load generator was told (README, "Faults on a real network").

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

mod bench;
mod faults;
mod flow;
mod nodes;
mod setup;

use clap::{Parser, Subcommand};
use flow::{FlowStats, Signer, Walk};
use nodes::{Nodes, node_binary, terminate, wait_ready};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "tokenbook-devnet", version, about = "a local tokenbook network")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start validators and traders; Ctrl-C stops everything.
    Up {
        /// Number of validators.
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Number of traders (the first half make markets, the rest take); 0: none, and the
        /// members publish no prices either (an idle network).
        #[arg(long, default_value_t = 8)]
        traders: usize,
        /// Keep all data here (default: a temporary directory removed on exit).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// `N=KIND`: start validator N with `tokenbook-node start --misbehave KIND` (tests of
        /// the real node: the node binary must be built with `--features misbehave`, which
        /// default builds never have). Repeatable.
        #[arg(long = "misbehave")]
        misbehave: Vec<String>,
    },
    /// Start a devnet, load it with signed orders at a target rate and measure throughput and
    /// submit → final latency; writes bench.csv, bench.png and summary.txt.
    Bench(bench::Options),
    /// Run every validator as a host of its own (a network namespace, root needed) under
    /// partitions, kills, pauses and a shaped network while traders submit orders, then check
    /// every chain against what was acknowledged; writes verdicts.txt, history.jsonl,
    /// heights.csv and timeline.png. Without `--minutes`: the short suite (every fault once).
    Faults {
        /// Number of validators.
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Number of trading accounts (each submits one order at a time).
        #[arg(long, default_value_t = 16)]
        traders: usize,
        /// Network profile: lan, regions (three regions, 40/80/150 ms RTT), lossy (5% loss,
        /// reordering), or all (each scenario the next profile).
        #[arg(long, default_value = "lan")]
        profile: String,
        /// Soak: random faults for this many minutes (the seed is printed).
        #[arg(long)]
        minutes: Option<u64>,
        /// Seed of the soak's schedule and the wire's randomness.
        #[arg(long)]
        seed: Option<u64>,
        /// Where the results, the node logs and the picture go.
        #[arg(long, default_value = "target/faults")]
        out: PathBuf,
        /// Instead of faults: the end-to-end bench (as `bench`) at this many orders/s offered,
        /// on the network `--profile` shapes (the validators in their namespaces, no faults).
        #[arg(long)]
        bench_rate: Option<u64>,
        /// Seconds the bench submits for.
        #[arg(long, default_value_t = 30)]
        bench_secs: u64,
        /// Run only these scenarios of the plan (1-based, comma-separated, in plan order):
        /// replays the one that failed, with the same seed, in minutes.
        #[arg(long, value_delimiter = ',')]
        only: Vec<usize>,
        /// Internal: set when the harness runs itself inside its namespace.
        #[arg(long, hide = true)]
        inside: Option<String>,
    },
    /// Show each validator's height and state root.
    Status {
        /// The devnet's directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Stop the validators of a devnet started with `--dir`.
    Down {
        /// The devnet's directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Up { validators, traders, dir, misbehave } => {
            up(validators, traders, dir, &misbehave)
        }
        Command::Bench(opts) => bench::run(&opts),
        Command::Faults {
            validators,
            traders,
            profile,
            minutes,
            seed,
            out,
            bench_rate,
            bench_secs,
            only,
            inside,
        } => {
            let bench = bench_rate.map(|rate| (rate, bench_secs));
            let opts = faults::Options {
                validators,
                traders,
                profile,
                minutes,
                seed,
                out,
                bench,
                only,
                inside,
            };
            faults::run(&opts)
        }
        Command::Status { dir } => runtime().and_then(|rt| rt.block_on(status(&dir))),
        Command::Down { dir } => down(&dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokenbook-devnet: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Runtime::new().map_err(|e| e.to_string())
}

fn up(
    validators: usize,
    traders: usize,
    dir: Option<PathBuf>,
    misbehave: &[String],
) -> Result<(), String> {
    if validators == 0 || traders == 1 {
        return Err("a devnet needs at least 1 validator, and 0 or at least 2 traders".into());
    }
    let misbehave = misbehaving(misbehave, validators)?;
    let keep = dir.is_some();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tokenbook-devnet-{}", std::process::id()))
    });
    let binary = node_binary()?;
    let mut devnet = setup::create(&dir, validators, traders)?;
    devnet.misbehave = misbehave;
    let result = runtime()?.block_on(run(&binary, &devnet));
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// `N=KIND` specs as validator index → kind (checked by the node at start).
fn misbehaving(
    specs: &[String],
    validators: usize,
) -> Result<std::collections::BTreeMap<usize, String>, String> {
    specs
        .iter()
        .map(|spec| {
            let (n, kind) =
                spec.split_once('=').ok_or(format!("--misbehave {spec}: want N=KIND"))?;
            let n: usize =
                n.parse().map_err(|_| format!("--misbehave {spec}: N is not a number"))?;
            if n >= validators {
                return Err(format!("--misbehave {spec}: there are {validators} validators"));
            }
            Ok((n, kind.to_string()))
        })
        .collect()
}

async fn run(binary: &Path, devnet: &setup::Devnet) -> Result<(), String> {
    nodes::run_with(binary, devnet, async |apis: &[String], nodes: &mut Nodes| {
        print_banner(devnet, apis);
        let http = reqwest::Client::new();
        wait_ready(&http, apis).await?;
        if devnet.traders.is_empty() {
            return idle(&http, apis, nodes).await;
        }
        trade(&http, apis, devnet, nodes).await
    })
    .await
}

fn print_banner(devnet: &setup::Devnet, apis: &[String]) {
    println!("tokenbook devnet: {} validators, {} traders", apis.len(), devnet.traders.len());
    println!("  data:      {}", devnet.dir.display());
    for (i, (api, v)) in apis.iter().zip(&devnet.validators).enumerate() {
        println!("  validator {i}: API {api}   log {}", v.home.0.join("node.log").display());
    }
    println!(
        "  keys:      {0}/members/member-N.key, {0}/traders/trader-N.key (hex ed25519 seeds)",
        devnet.dir.display()
    );
    let symbol = first_symbol(devnet).unwrap_or_default();
    println!("  console:   {}/   (every validator serves it at /)", apis[0]);
    println!("  try:       curl {}/v1/status", apis[0]);
    println!("             curl {}/v1/markets/{symbol}/book", apis[0]);
    println!(
        "             tokenbook --node {} book {symbol}   (README: trader walkthrough)",
        apis[0]
    );
    println!("  Ctrl-C stops everything");
}

/// The first contract's symbol (dated by the genesis: `AIT-FRONTIER-DEC26`, …).
fn first_symbol(devnet: &setup::Devnet) -> Option<String> {
    let home = &devnet.validators.first()?.home.0;
    let text = std::fs::read_to_string(home.join("genesis.json")).ok()?;
    let genesis: serde_json::Value = serde_json::from_str(&text).ok()?;
    genesis["markets"][0]["symbol"].as_str().map(String::from)
}

/// No traders: the validators alone, nothing submitted (an idle network: heights come by the
/// heartbeat); the status line until the task is dropped.
async fn idle(http: &reqwest::Client, apis: &[String], nodes: &mut Nodes) -> Result<(), String> {
    println!("no traders; idle");
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        print!("\r{}", status_line(http, apis, 0, nodes).await);
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
}

/// Funds the traders, then runs the order flow and the status line until the task is dropped.
async fn trade(
    http: &reqwest::Client,
    apis: &[String],
    devnet: &setup::Devnet,
    nodes: &mut Nodes,
) -> Result<(), String> {
    let members: Vec<_> = devnet
        .validators
        .iter()
        .map(|v| tokenbook_protocol::Keypair::from_seed(&v.member.seed()))
        .collect();
    let mut signer = Signer::default();
    let mut mids = [flow::MARKETS[0].2, flow::MARKETS[1].2];
    flow::publish_indexes(http, apis, &members, &mids, &mut signer).await?;
    let accounts = flow::fund_traders(
        http,
        &apis[0],
        &members[0],
        &devnet.traders,
        flow::trader_limits(),
        &mut signer,
    )
    .await?;
    println!("traders funded; trading");
    let stats = Arc::new(FlowStats::default());
    let makers = devnet.traders.len() / 2;
    let mut walk = Walk::new(tokenbook_node::runtime::now_ms());
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last_admitted = 0;
    for step in 0u64.. {
        tick.tick().await;
        if step % 20 == 0 {
            for (k, (_, _, reference)) in flow::MARKETS.iter().enumerate() {
                // A walk of ±1 tick, kept within 5% of the reference price.
                let next = if walk.below(2) == 0 { mids[k] + 1 } else { mids[k] - 1 };
                mids[k] = next.clamp(reference * 95 / 100, reference * 105 / 100);
            }
            flow::publish_indexes(http, apis, &members, &mids, &mut signer).await?;
        }
        let mut txs = Vec::new();
        if step % 10 == 0 {
            for (key, &account) in devnet.traders.iter().zip(&accounts).take(makers) {
                txs.extend(flow::quotes(&mut signer, key, account, &mids));
            }
        }
        for (key, &account) in devnet.traders.iter().zip(&accounts).skip(makers) {
            txs.push(flow::take(&mut signer, key, account, &mids, &mut walk));
        }
        let api = &apis[usize::try_from(step).unwrap_or(0) % apis.len()];
        flow::send_all(http, api, txs, &stats).await;
        if step % 10 == 0 {
            let admitted = stats.admitted.load(Ordering::Relaxed);
            let mut line = status_line(http, apis, admitted - last_admitted, nodes).await;
            let refused = stats.refused.load(Ordering::Relaxed);
            if refused > 0 {
                let last = stats.last_refusal.lock().map(|l| l.clone()).unwrap_or_default();
                line.push_str(&format!(" refused {refused} (last: {last})"));
            }
            last_admitted = admitted;
            print!("\r{line}");
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
    }
    Ok(())
}

/// One line: each node's height, txs/s admitted, whether the state roots agree.
async fn status_line(
    http: &reqwest::Client,
    apis: &[String],
    per_second: u64,
    nodes: &mut Nodes,
) -> String {
    let mut heights = Vec::new();
    for api in apis {
        let height =
            get_json(http, &format!("{api}/v1/status")).await.and_then(|s| s["height"].as_u64());
        heights.push(height);
    }
    let common = heights.iter().flatten().min().copied().unwrap_or(0);
    let mut roots = Vec::new();
    for (api, h) in apis.iter().zip(&heights) {
        if h.is_some() {
            let root = get_json(http, &format!("{api}/v1/state-root/{common}")).await;
            roots.push(root.map(|r| r["state_root"].clone()));
        }
    }
    let agree = roots.windows(2).all(|w| w[0] == w[1]);
    let shown: Vec<String> =
        heights.iter().map(|h| h.map_or("down".into(), |h| h.to_string())).collect();
    let exited = nodes.exited();
    let mut line = format!(
        "heights [{}]  {per_second} txs/s  roots at {common}: {}",
        shown.join(" "),
        if agree { "agree" } else { "DIFFER" }
    );
    if !exited.is_empty() {
        line.push_str(&format!("  exited: {exited:?} (see node.log)"));
    }
    line + "    "
}

async fn get_json(http: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

async fn status(dir: &Path) -> Result<(), String> {
    let http = reqwest::Client::new();
    for api in setup::read_apis(dir)? {
        match get_json(&http, &format!("{api}/v1/status")).await {
            Some(s) => println!(
                "{api}  height {}  root {}  peers {}  catching_up {}",
                s["height"], s["state_root"], s["peers"], s["catching_up"]
            ),
            None => println!("{api}  down"),
        }
    }
    Ok(())
}

fn down(dir: &Path) -> Result<(), String> {
    // The devnet process first (it stops its validators cleanly), then any validator left.
    if let Ok(pid) = std::fs::read_to_string(dir.join("devnet.pid")) {
        if let Ok(pid) = pid.trim().parse::<u32>() {
            terminate(pid);
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    let path = dir.join("pids");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for pid in text.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        terminate(pid);
    }
    println!("sent SIGTERM to the validators listed in {}", path.display());
    Ok(())
}
