//! `tokenbook-devnet faults`: the shipped processes on a real kernel network, under faults.
//!
//! Every validator is a `tokenbook-node` process in a network namespace of its own, with its
//! own address and data directory; the harness and its load generator run in another. The wire
//! between them ([`net`]) is shaped by a profile ([`plan::Profile`]: LAN, three regions, lossy)
//! and cut by the faults on the timeline ([`plan`]): partitions (minority, 2/2, bridge,
//! one-way), `kill -9` and restart (once and in a loop), SIGSTOP/SIGCONT. While they happen,
//! traders submit orders and keep the history of what was acknowledged ([`load`]); afterwards
//! the checker ([`check`]) holds every validator's chain to it, `tokenbook audit verify`
//! replays the chain from genesis, and `timeline.png` shows what each fault did.
//!
//! The harness starts as root in the machine's namespace, makes the namespaces, runs itself
//! again inside the harness namespace (`--inside`), and deletes every namespace when that ends,
//! whatever way it ends. Without root, `ip` or `/dev/net/tun` it says what is missing and fails:
//! it never passes without having run.
//!
//! Promises: one verdict line per scenario and one for the whole chain; the exit status is
//! non-zero when any check fails, and the history, heights, node logs and picture stay in
//! `--out`.

mod check;
mod disk;
mod load;
mod net;
mod picture;
mod plan;
mod resources;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenbook_protocol::Keypair;
use tokio::time::Instant;

use crate::bench::load::{Trader, bench_limits};
use crate::flow::{self, MARKETS, Signer};
use crate::nodes::{Nodes, node_binary, wait_ready};
use crate::setup::{self, Hosts};
use load::{Clock, Heights, History};
use net::{Host, Namespaces, Wire};
use plan::{Expect, Fault, Profile, Scenario};

/// What `faults` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Validators (at least 4).
    pub validators: usize,
    /// Trading accounts.
    pub traders: usize,
    /// `lan`, `regions`, `lossy`, or `all` (a soak cycles through them).
    pub profile: String,
    /// A soak of this many minutes (random faults); without it, the short suite.
    pub minutes: Option<u64>,
    /// The soak's seed (printed; the short suite's randomness uses it too).
    pub seed: Option<u64>,
    /// Where the history, heights, logs and picture go.
    pub out: PathBuf,
    /// Instead of faults: the end-to-end bench at (orders/s offered, seconds) on the profile.
    pub bench: Option<(u64, u64)>,
    /// Only these scenarios of the plan (1-based); empty: all.
    pub only: Vec<usize>,
    /// Set when running inside the harness namespace: the namespaces' prefix.
    pub inside: Option<String>,
}

/// Runs the harness.
///
/// # Errors
/// The machine cannot host it, the devnet cannot start, or a check failed.
pub fn run(opts: &Options) -> Result<(), String> {
    if opts.validators < 4 || opts.validators > 40 {
        return Err("faults needs 4..=40 validators".into());
    }
    profiles(&opts.profile)?;
    match &opts.inside {
        Some(prefix) => inside(opts, prefix),
        None => outside(opts),
    }
}

fn profiles(name: &str) -> Result<Vec<Profile>, String> {
    if name == "all" { Ok(Profile::ALL.to_vec()) } else { Ok(vec![Profile::parse(name)?]) }
}

/// What a fresh machine may lack, said plainly.
fn preflight() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).map(str::split_whitespace);
    if uid.and_then(|mut u| u.next()) != Some("0") {
        return Err("faults needs root: it makes network namespaces and TUN interfaces \
                    (run it as root or with sudo)"
            .into());
    }
    let ip = std::process::Command::new("ip").arg("-V").output();
    if !ip.is_ok_and(|o| o.status.success()) {
        return Err("faults needs `ip` (apt-get install iproute2)".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Err("faults needs /dev/net/tun (a kernel with TUN support)".into());
    }
    Ok(())
}

/// Makes the namespaces, runs the harness inside, and deletes them.
fn outside(opts: &Options) -> Result<(), String> {
    preflight()?;
    let spaces =
        Namespaces { prefix: format!("tbf{}", std::process::id()), validators: opts.validators };
    let made = spaces.create();
    let result = made.and_then(|()| {
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let mut child = tokio::process::Command::new("ip")
                .args(["netns", "exec", &spaces.name(Host::Load)])
                .arg(me)
                .args(std::env::args_os().skip(1))
                .args(["--inside", &spaces.prefix])
                .spawn()
                .map_err(|e| format!("ip netns exec: {e}"))?;
            // Ctrl-C reaches the child too (same process group); it stops its nodes first.
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status.map_err(|e| e.to_string())?,
                    _ = tokio::signal::ctrl_c() => {}
                }
            };
            if status.success() {
                Ok(())
            } else {
                Err(format!(
                    "the fault run failed; see {}",
                    opts.out.join("verdicts.txt").display()
                ))
            }
        })
    });
    spaces.destroy();
    result
}

/// Inside the harness namespace: the wire, the devnet, the load, the faults, the checks.
fn inside(opts: &Options, prefix: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let spaces = Namespaces { prefix: prefix.to_string(), validators: opts.validators };
        let seed = opts.seed.unwrap_or_else(tokenbook_node::runtime::now_ms);
        let wire = Wire::start(&spaces, seed)?;
        let profiles = profiles(&opts.profile)?;
        profiles[0].apply(&wire, &spaces.hosts());
        std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
        let dir = opts.out.join("devnet");
        let _ = std::fs::remove_dir_all(&dir);
        let addresses = (0..opts.validators).map(|i| Host::Validator(i).address()).collect();
        // The bench spreads its load over more accounts (as `bench` does by default).
        let traders = if opts.bench.is_some() { opts.traders.max(128) } else { opts.traders };
        let devnet = setup::create_on(&dir, opts.validators, traders, &Hosts::Own(addresses))?;
        let homes: Vec<PathBuf> = devnet.validators.iter().map(|v| v.home.0.clone()).collect();
        // Every data directory is a tmpfs of its own, so one can be filled (`DiskFull`).
        for home in &homes {
            disk::mount(&disk::data_dir(home))?;
        }
        let binary = node_binary()?;
        let wrap = |i: usize| {
            vec!["ip".into(), "netns".into(), "exec".into(), spaces.name(Host::Validator(i))]
        };
        let mut nodes = Nodes::start_wrapped(&binary, &devnet, &wrap)?;
        if let Some((rate, secs)) = opts.bench {
            let result = bench_on_profile(opts, &devnet, &mut nodes, rate, secs).await;
            nodes.stop().await;
            return result;
        }
        let plan = match opts.minutes {
            Some(minutes) => plan::soak(opts.validators, minutes, seed),
            None => plan::short_suite(opts.validators),
        };
        let plan = plan::only(plan, &opts.only)?;
        println!(
            "faults: {} validators in namespaces {prefix}-v*, profile {}, {} scenarios, seed {seed}",
            opts.validators,
            opts.profile,
            plan.len()
        );
        let mut run = Run {
            nodes: &mut nodes,
            validators: opts.validators,
            homes,
            wire,
            profiles,
            seed,
            synced: std::collections::BTreeSet::new(),
            report: Report::default(),
        };
        let outcome = run.drive(&devnet, &plan).await;
        let report = std::mem::take(&mut run.report);
        nodes.stop().await;
        outcome.and_then(|()| report.write(opts, &devnet))
    })
}

/// Fills in each reading's store memory from its validator's `/metrics` (left unknown when the
/// node does not answer within a second).
async fn store_memory(readings: &mut [resources::Reading], apis: &[String]) {
    let Ok(http) = load::client(Duration::from_secs(1)) else { return };
    for reading in readings {
        let Some(api) = apis.get(reading.validator) else { continue };
        let text = match http.get(format!("{api}/metrics")).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => continue,
        };
        reading.store_kib = resources::store_kib(&text);
    }
}

/// The end-to-end bench on the shaped network, no faults.
async fn bench_on_profile(
    opts: &Options,
    devnet: &setup::Devnet,
    nodes: &mut Nodes,
    rate: u64,
    secs: u64,
) -> Result<(), String> {
    println!("faults --bench-rate: profile {}, no faults", opts.profile);
    let bench = crate::bench::Options {
        validators: opts.validators,
        accounts: devnet.traders.len(),
        rate,
        secs,
        out: opts.out.clone(),
        dir: Some(devnet.dir.clone()),
        threads: 1,
        max_inflight: 1_024,
        batch: 256,
    };
    let apis: Vec<String> = devnet.validators.iter().map(|v| format!("http://{}", v.api)).collect();
    crate::bench::bench(&bench, devnet, &apis, nodes).await
}

/// One scenario's result.
#[derive(Debug)]
struct Verdict {
    label: String,
    profile: Profile,
    from_ms: u64,
    heal_ms: u64,
    expect: Expect,
    /// Heights the highest validator gained while the fault held (after a 3 s grace).
    gained: u64,
    /// Time from the heal until every validator passed the height of the heal.
    recovered: Option<Duration>,
    /// What the faulty validator did, when the fault asks (a full disk: how it stopped).
    note: Option<String>,
    /// Problems the fault's own checks found.
    failures: Vec<String>,
}

impl Verdict {
    fn problems(&self) -> Vec<String> {
        let mut out = self.failures.clone();
        if self.expect == Expect::Progress && self.gained < 2 {
            out.push(format!("a quorum was up but only {} heights were committed", self.gained));
        }
        if self.expect == Expect::Halt && self.gained > 0 {
            out.push(format!("no quorum was up but {} heights were committed", self.gained));
        }
        match self.recovered {
            Some(_) => {}
            None => out.push(format!(
                "not every validator committed a new height within {:?} of the heal",
                self.profile.recovery_bound()
            )),
        }
        out
    }
}

/// Everything the run saw.
#[derive(Debug, Default)]
struct Report {
    verdicts: Vec<Verdict>,
    history: Vec<load::Entry>,
    samples: Vec<load::Sample>,
    findings: Option<check::Findings>,
    audit: Option<Result<(), String>>,
    wire: (u64, u64, u64),
    resources: Vec<resources::Reading>,
    /// The largest gap between commits outside fault windows, in the run's first and second
    /// half (ms).
    stalls: Option<resources::Stalls>,
}

/// The live state of a run.
struct Run<'a> {
    nodes: &'a mut Nodes,
    validators: usize,
    /// Each validator's home directory.
    homes: Vec<PathBuf>,
    wire: Wire,
    profiles: Vec<Profile>,
    seed: u64,
    /// Validators restarted from a snapshot (no blocks before it).
    synced: std::collections::BTreeSet<usize>,
    report: Report,
}

/// The traders and the monitor, running.
struct Load {
    stop: Arc<AtomicBool>,
    history: History,
    heights: Arc<Mutex<Heights>>,
    clock: Clock,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    monitor: tokio::task::JoinHandle<()>,
    publisher: tokio::task::JoinHandle<()>,
}

impl Load {
    fn max_height(&self) -> u64 {
        self.heights.lock().map(|h| h.max()).unwrap_or(0)
    }

    fn heights(&self) -> Vec<Option<u64>> {
        self.heights.lock().map(|h| h.latest.clone()).unwrap_or_default()
    }
}

impl Run<'_> {
    async fn drive(&mut self, devnet: &setup::Devnet, plan: &[Scenario]) -> Result<(), String> {
        let apis: Vec<String> =
            devnet.validators.iter().map(|v| format!("http://{}", v.api)).collect();
        let apis = Arc::new(apis);
        let load = start_load(devnet, &apis).await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        for (k, scenario) in plan.iter().enumerate() {
            let profile = self.profiles[k % self.profiles.len()];
            profile.apply(&self.wire, &hosts(devnet.validators.len()));
            let verdict = self.scenario(&load, scenario, profile).await?;
            println!("  {:<40} {}", verdict.label, summary(&verdict));
            self.report.verdicts.push(verdict);
            let at_ms = load.clock.ms();
            let mut readings = resources::read(&self.pids(), at_ms);
            store_memory(&mut readings, &apis).await;
            self.report.resources.extend(readings);
        }
        self.finish(load, devnet, &apis).await
    }

    async fn scenario(
        &mut self,
        load: &Load,
        scenario: &Scenario,
        profile: Profile,
    ) -> Result<Verdict, String> {
        let from_ms = load.clock.ms();
        self.apply(&scenario.fault).await?;
        let grace = Duration::from_secs(3).min(scenario.hold);
        let gained = if let Fault::KillLoop { kills } = scenario.fault {
            let before = load.max_height();
            self.kill_loop(kills, scenario.hold).await?;
            load.max_height().saturating_sub(before)
        } else {
            tokio::time::sleep(grace).await;
            let before = load.max_height();
            tokio::time::sleep(scenario.hold - grace).await;
            load.max_height().saturating_sub(before)
        };
        let at_heal = load.max_height();
        let heal_ms = load.clock.ms();
        let (note, failures) = self.heal(&scenario.fault).await?;
        let recovered = recover(load, at_heal, profile.recovery_bound()).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(Verdict {
            label: scenario.fault.label(),
            profile,
            from_ms,
            heal_ms,
            expect: scenario.fault.expect(self.validators),
            gained,
            recovered,
            note,
            failures,
        })
    }

    async fn apply(&mut self, fault: &Fault) -> Result<(), String> {
        let v = |list: &[usize]| list.iter().map(|&i| Host::Validator(i)).collect::<Vec<_>>();
        let n = self.validators;
        let others = |i: usize| v(&(0..n).filter(|&j| j != i).collect::<Vec<_>>());
        match fault {
            Fault::Isolate(i) => self.wire.cut_between(&[Host::Validator(*i)], &others(*i)),
            Fault::Split(a, b) => self.wire.cut_between(&v(a), &v(b)),
            Fault::Bridge { left, right, .. } => self.wire.cut_between(&v(left), &v(right)),
            Fault::OneWay { from } => {
                for to in others(*from) {
                    self.wire.cut(Host::Validator(*from), to);
                }
            }
            Fault::Kill(i) => self.kill(*i).await?,
            Fault::Pause(i) => self.nodes.signal(*i, "STOP"),
            Fault::KillLoop { .. } => {}
            Fault::ClockOffset { node, ms } => {
                self.kill(*node).await?;
                self.nodes.restart_with(*node, &["--clock-offset-ms".into(), ms.to_string()])?;
            }
            Fault::DiskFull(i) => disk::fill(&disk::data_dir(&self.homes[*i]))?,
            Fault::StateSync(i) => {
                self.kill(*i).await?;
                disk::wipe(&disk::data_dir(&self.homes[*i]))?;
                set_state_sync(&self.homes[*i], true)?;
                self.synced.insert(*i);
                self.nodes.restart(*i)?;
            }
            Fault::MisbehaveInPartition { node, kind, isolated } => {
                self.kill(*node).await?;
                self.nodes.restart_with(*node, &["--misbehave".into(), kind.clone()])?;
                self.wire.cut_between(&[Host::Validator(*isolated)], &others(*isolated));
            }
        }
        Ok(())
    }

    /// Undoes `fault`; what the faulty validator did (when it matters) and the problems seen.
    async fn heal(&mut self, fault: &Fault) -> Result<(Option<String>, Vec<String>), String> {
        self.wire.heal();
        match fault {
            Fault::Kill(i) => self.nodes.restart(*i)?,
            Fault::Pause(i) => self.nodes.signal(*i, "CONT"),
            Fault::ClockOffset { node: i, .. } | Fault::MisbehaveInPartition { node: i, .. } => {
                self.kill(*i).await?;
                self.nodes.restart(*i)?;
            }
            Fault::StateSync(i) => set_state_sync(&self.homes[*i], false)?,
            Fault::DiskFull(i) => return self.heal_disk(*i),
            Fault::Isolate(_)
            | Fault::Split(..)
            | Fault::Bridge { .. }
            | Fault::OneWay { .. }
            | Fault::KillLoop { .. } => {}
        }
        Ok((None, Vec::new()))
    }

    /// Gives the disk its space back; a node that stopped must have said why, and is started
    /// again (as systemd's `Restart=on-failure` would).
    fn heal_disk(&mut self, i: usize) -> Result<(Option<String>, Vec<String>), String> {
        disk::free(&disk::data_dir(&self.homes[i]))?;
        if !self.nodes.exited().contains(&i) {
            return Ok((Some("kept running on the full disk".into()), Vec::new()));
        }
        let log = std::fs::read_to_string(self.homes[i].join("node.log")).unwrap_or_default();
        let said = log.lines().rev().find(|l| l.contains("tokenbook-node:")).unwrap_or("");
        let mut failures = Vec::new();
        if !disk::names_full_disk(&log) {
            failures.push(format!("v{i} stopped without naming the full disk: {said:?}"));
        }
        self.nodes.restart(i)?;
        Ok((Some(format!("stopped: {}", said.trim())), failures))
    }

    fn pids(&self) -> Vec<Option<u32>> {
        (0..self.validators).map(|i| self.nodes.pid(i)).collect()
    }

    async fn kill(&mut self, i: usize) -> Result<(), String> {
        self.nodes.signal(i, "KILL");
        if self.nodes.wait_exit(i, Duration::from_secs(10)).await {
            Ok(())
        } else {
            Err(format!("validator {i} did not die on SIGKILL"))
        }
    }

    /// `kills` kills of a random validator, spread over `hold`, each restarted 1–3 s later.
    async fn kill_loop(&mut self, kills: u32, hold: Duration) -> Result<(), String> {
        let n = self.validators as u64;
        let mut walk = flow::Walk::new(self.seed ^ 0x4b11);
        let each = hold / kills.max(1);
        for _ in 0..kills {
            let started = Instant::now();
            tokio::time::sleep(Duration::from_millis(200 + walk.below(800))).await;
            let node = usize::try_from(walk.below(n)).unwrap_or(0);
            self.kill(node).await?;
            tokio::time::sleep(Duration::from_millis(1_000 + walk.below(2_000))).await;
            self.nodes.restart(node)?;
            tokio::time::sleep(each.saturating_sub(started.elapsed())).await;
        }
        Ok(())
    }

    async fn finish(
        &mut self,
        mut load: Load,
        devnet: &setup::Devnet,
        apis: &Arc<Vec<String>>,
    ) -> Result<(), String> {
        load.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut load.tasks) {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
        load.publisher.abort();
        // The chains are read over a clean wire: the last scenario's loss and delay would
        // stretch the checker's and the audit's hundreds of thousands of requests for nothing.
        Profile::Lan.apply(&self.wire, &hosts(devnet.validators.len()));
        // Let every validator reach the same height before reading the chains.
        let target = load.max_height();
        let converged = Instant::now() + Duration::from_secs(20);
        while Instant::now() < converged && load.heights().iter().any(|h| *h < Some(target)) {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let _ = load.monitor.await;
        let history = load.history.lock().map(|h| h.clone()).unwrap_or_default();
        self.report.findings = Some(check::check(apis, &history, &self.synced).await?);
        let to = self.report.findings.as_ref().map_or(0, |f| f.heights);
        // The audit replays from genesis: a validator that holds every block.
        let whole = (0..apis.len()).find(|i| !self.synced.contains(i)).unwrap_or(0);
        self.report.audit = Some(audit(devnet, &apis[whole], to).await);
        self.report.history = history;
        self.report.samples = load.heights.lock().map(|h| h.samples.clone()).unwrap_or_default();
        let windows: Vec<(u64, u64)> = self.report.verdicts.iter().map(Verdict::window).collect();
        self.report.stalls = Some(resources::stalls(&self.report.samples, &windows));
        let c = &self.wire.counters;
        self.report.wire = (
            c.forwarded.load(Ordering::Relaxed),
            c.lost.load(Ordering::Relaxed),
            c.cut.load(Ordering::Relaxed),
        );
        Ok(())
    }
}

/// Turns `[sync] state_sync` on or off in validator `home`'s config.toml.
fn set_state_sync(home: &std::path::Path, on: bool) -> Result<(), String> {
    let path = home.join("config.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (from, to) = if on { ("false", "true") } else { ("true", "false") };
    let text = text.replace(&format!("state_sync = {from}"), &format!("state_sync = {to}"));
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

impl Verdict {
    /// The span of the run this fault disturbed: from its start until the chain recovered
    /// (or the bound passed) and settled.
    fn window(&self) -> (u64, u64) {
        let recovery = self.recovered.unwrap_or(self.profile.recovery_bound());
        let end = self.heal_ms + u64::try_from(recovery.as_millis()).unwrap_or(0) + 2_000;
        (self.from_ms, end)
    }
}

fn hosts(validators: usize) -> Vec<Host> {
    std::iter::once(Host::Load).chain((0..validators).map(Host::Validator)).collect()
}

/// Waits until every validator reports a height above `at_heal`; how long that took.
async fn recover(load: &Load, at_heal: u64, bound: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() <= bound {
        if load.heights().iter().all(|h| h.is_some_and(|h| h > at_heal)) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn summary(v: &Verdict) -> String {
    let problems = v.problems();
    let recovered = v.recovered.map_or("-".into(), |d| format!("{:.1} s", d.as_secs_f64()));
    let verdict = if problems.is_empty() { "ok".to_string() } else { problems.join("; ") };
    let note = v.note.as_ref().map_or(String::new(), |n| format!(" ({n})"));
    format!(
        "[{}] +{} heights during, recovered in {recovered}{note}: {verdict}",
        v.profile.name(),
        v.gained
    )
}

/// Funds the traders and starts them, the index publisher and the monitor.
async fn start_load(devnet: &setup::Devnet, apis: &Arc<Vec<String>>) -> Result<Load, String> {
    let http = load::client(Duration::from_secs(5))?;
    wait_ready(&http, apis).await?;
    let members: Vec<Keypair> =
        devnet.validators.iter().map(|v| Keypair::from_seed(&v.member.seed())).collect();
    let mut signer = Signer::default();
    let mids = [MARKETS[0].2, MARKETS[1].2];
    flow::publish_indexes(&http, apis, &members, &mids, &mut signer).await?;
    let accounts = flow::fund_traders(
        &http,
        &apis[0],
        &members[0],
        &devnet.traders,
        bench_limits(),
        &mut signer,
    )
    .await?;
    let publisher = tokio::spawn(crate::bench::publish_every_second(
        load::client(Duration::from_secs(2))?,
        apis.to_vec(),
        members,
        signer,
    ));
    let clock = Clock(Instant::now());
    let stop = Arc::new(AtomicBool::new(false));
    let history: History = Arc::default();
    let heights = Arc::new(Mutex::new(Heights::default()));
    let monitor = tokio::spawn(load::monitor(
        Arc::clone(apis),
        Arc::clone(&heights),
        Arc::clone(&stop),
        clock,
    ));
    let tasks = devnet
        .traders
        .iter()
        .zip(accounts)
        .enumerate()
        .map(|(i, (key, account))| {
            let trader = Trader::new(key, account, i % apis.len(), i as u64);
            let (apis, history, stop) = (Arc::clone(apis), Arc::clone(&history), Arc::clone(&stop));
            tokio::spawn(load::trade(trader, i, apis, history, stop, clock))
        })
        .collect();
    Ok(Load { stop, history, heights, clock, tasks, monitor, publisher })
}

/// `tokenbook audit verify` of `api`'s chain from the devnet's genesis up to `to`.
async fn audit(devnet: &setup::Devnet, api: &str, to: u64) -> Result<(), String> {
    let cli = node_binary()?.with_file_name("tokenbook");
    if !cli.exists() {
        return Err(format!("{} is missing: cargo build -p tokenbook-client", cli.display()));
    }
    let genesis = devnet.validators[0].home.0.join("genesis.json");
    let out = tokio::process::Command::new(&cli)
        .args(["audit", "verify", "--in-memory", "--node", api, "--to", &to.to_string()])
        .arg("--from-genesis")
        .arg(&genesis)
        .output()
        .await
        .map_err(|e| format!("{}: {e}", cli.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

impl Report {
    /// Prints and writes the verdicts, the history, the heights and the picture; fails when a
    /// check failed.
    fn write(&self, opts: &Options, devnet: &setup::Devnet) -> Result<(), String> {
        let mut lines = Vec::new();
        let violations = self.findings.as_ref().map(|f| f.violations.as_slice()).unwrap_or(&[]);
        let mut failed = false;
        for v in &self.verdicts {
            let mine: Vec<&String> = violations
                .iter()
                .filter(|(at, _)| at.is_some_and(|t| t >= v.from_ms && t < v.heal_ms + 15_000))
                .map(|(_, text)| text)
                .collect();
            failed |= !v.problems().is_empty() || !mine.is_empty();
            let lost = if mine.is_empty() { String::new() } else { format!("; {mine:?}") };
            lines.push(format!("{:<40} {}{lost}", v.label, summary(v)));
        }
        let committed =
            self.history.iter().filter(|e| matches!(e.outcome, load::Outcome::Committed { .. }));
        let committed = committed.count();
        if let Some(f) = &self.findings {
            failed |= !f.violations.is_empty();
            lines.push(format!(
                "chain: {} heights equal on all {} validators (blocks and roots), {} acknowledged \
                 txs each once at its height with the same receipt everywhere: {}",
                f.heights,
                opts.validators,
                f.acknowledged,
                if f.violations.is_empty() {
                    "ok".to_string()
                } else {
                    format!("{} VIOLATIONS: {:?}", f.violations.len(), f.violations)
                }
            ));
        }
        match &self.audit {
            Some(Ok(())) => lines.push("audit verify from genesis: ok".into()),
            Some(Err(e)) => {
                failed = true;
                lines.push(format!("audit verify from genesis: FAILED: {e}"));
            }
            None => {}
        }
        if let Some(stalls) = &self.stalls {
            failed |= !stalls.problems().is_empty();
            lines.push(stalls.line());
        }
        let growth = resources::growth(&self.resources);
        failed |= !growth.problems.is_empty();
        lines.push(growth.line());
        let (forwarded, lost, cut) = self.wire;
        lines.push(format!(
            "load: {} submissions, {committed} acknowledged commits; wire: {forwarded} packets \
             forwarded, {lost} lost to the profile, {cut} dropped on cut links",
            self.history.len()
        ));
        let text = lines.join("\n") + "\n";
        println!("{text}");
        self.files(opts, devnet, &text)?;
        if failed { Err("a check failed (verdicts above)".into()) } else { Ok(()) }
    }

    fn files(&self, opts: &Options, devnet: &setup::Devnet, text: &str) -> Result<(), String> {
        let write = |name: &str, bytes: &[u8]| {
            let path = opts.out.join(name);
            std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
        };
        write("verdicts.txt", text.as_bytes())?;
        let history: String = self
            .history
            .iter()
            .filter_map(|e| serde_json::to_string(e).ok())
            .map(|l| l + "\n")
            .collect();
        write("history.jsonl", history.as_bytes())?;
        let mut heights = String::from("ms,validator,height\n");
        for s in &self.samples {
            let h = s.height.map_or(String::new(), |h| h.to_string());
            heights += &format!("{},{},{h}\n", s.at_ms, s.validator);
        }
        write("heights.csv", heights.as_bytes())?;
        write("resources.csv", resources::csv(&self.resources).as_bytes())?;
        let windows: Vec<picture::Window> = self
            .verdicts
            .iter()
            .map(|v| picture::Window {
                label: v.label.clone(),
                from: v.from_ms as f64 / 1e3,
                to: v.heal_ms as f64 / 1e3,
            })
            .collect();
        let png = opts.out.join("timeline.png");
        picture::draw(&png, &self.samples, &windows, &self.history, devnet.validators.len())?;
        println!(
            "wrote {} (verdicts.txt, history.jsonl, heights.csv, resources.csv, timeline.png; \
             node logs under devnet/validator-*/node.log)",
            opts.out.display()
        );
        Ok(())
    }
}
