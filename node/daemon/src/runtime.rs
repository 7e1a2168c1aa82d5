//! The runtime: the [`Driver`] on tokio, with real timers, a [`Network`] and a command channel
//! for the API.
//!
//! Promises: one task owns the driver, so its actions are carried out in order (a persisted
//! record before the message that follows it); timers fire at or after their deadline; a message
//! that does not decode is dropped and counted, never handed to the driver; a driver error stops
//! the loop and is returned (the node exits rather than run on a diverged or unwritable state),
//! and so does a network that stops before the node does.

use crate::driver::{Action, Driver, DriverError, Peer};
use crate::mempool::AdmitError;
use crate::view::ReadView;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use tokenbook_consensus::Timeout;
use tokenbook_ledger::BlockReceipts;
use tokenbook_net::Message;
use tokenbook_protocol::{Hash, Height, PublicKey};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

/// How the runtime reaches the other validators (libp2p in production, channels in tests).
pub trait Network: Send {
    /// Sends to one peer (best effort).
    fn send(&mut self, to: Peer, bytes: Vec<u8>);
    /// Sends to every peer (best effort).
    fn broadcast(&mut self, bytes: Vec<u8>);
    /// Sends to every peer (best effort) on the bulk lane (tx batches): the receiver takes
    /// waiting consensus messages first. By default the same as [`broadcast`](Self::broadcast).
    fn broadcast_bulk(&mut self, bytes: Vec<u8>) {
        self.broadcast(bytes);
    }
    /// The next message from a peer; `None` once the network has shut down.
    fn recv(&mut self) -> impl Future<Output = Option<(Peer, Vec<u8>)>> + Send;
    /// A peer sent what no honest node sends: disconnect it for a while.
    fn penalize(&mut self, peer: Peer, reason: String);
    /// Peers connected now.
    fn peers(&self) -> usize;
    /// The network keys of the validators that may connect now (the current and scheduled
    /// sets, after a governance change), besides the operator's fixed extras. By default
    /// ignored (test networks connect everyone).
    fn set_members(&mut self, _keys: Vec<PublicKey>) {}
}

/// What the API asks of the node.
pub enum Command {
    /// Admit txs whose signatures were verified off the node's task
    /// ([`crate::mempool::verify_txs`]); the verdicts come back on `reply`.
    Submit {
        /// The txs.
        txs: Vec<crate::mempool::VerifiedTx>,
        /// One verdict per tx.
        reply: oneshot::Sender<Vec<Result<Hash, AdmitError>>>,
    },
    /// Run a read on the node's task (it sees one consistent height).
    Read(ReadJob),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Submit { txs, .. } => write!(f, "Submit({} txs)", txs.len()),
            Command::Read(_) => write!(f, "Read"),
        }
    }
}

/// A committed height, as published to subscribers.
#[derive(Clone, Debug)]
pub struct Commit {
    /// The height.
    pub height: Height,
    /// The state root after it.
    pub root: Hash,
    /// Its receipts.
    pub receipts: std::sync::Arc<BlockReceipts>,
}

/// The node's latest state, for status queries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Last committed height.
    pub height: Height,
    /// State root after it.
    pub root: Hash,
    /// Txs waiting in the mempool.
    pub mempool: usize,
    /// Messages from peers that did not decode.
    pub bad_messages: u64,
    /// Hash of the last committed block (zero before the first).
    pub block_hash: Hash,
    /// Peers connected now.
    pub peers: usize,
    /// Whether the node is syncing decided blocks from peers rather than voting.
    pub catching_up: bool,
    /// The admission window (ms) while the backlog has no room ([`Admission`]): the API then
    /// refuses client txs before verifying their signatures. `None` while there is room.
    pub backlog_full: Option<u64>,
}

/// Handles to a running node.
#[derive(Debug)]
pub struct Handles {
    /// Send commands here.
    pub commands: mpsc::Sender<Command>,
    /// Every commit.
    pub commits: broadcast::Sender<Commit>,
    /// The latest status.
    pub status: watch::Receiver<Status>,
    /// Prometheus metrics.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The read view of the last committed height.
    pub view: watch::Receiver<Arc<ReadView>>,
    /// The store's read side.
    pub store: tokenbook_store::StoreReader,
}

/// Milliseconds since the Unix epoch (the proposer's block time; state never reads it), plus
/// the test-only clock offset (zero unless [`set_clock_offset_ms`] moved it).
#[must_use]
pub fn now_ms() -> u64 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    wall.saturating_add_signed(CLOCK_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed))
}

/// What [`now_ms`] adds to the wall clock.
static CLOCK_OFFSET_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Moves this process's clock by `ms` (fault tests: a validator whose clock is wrong; only
/// builds with the `misbehave` feature can call it).
#[cfg(feature = "misbehave")]
pub fn set_clock_offset_ms(ms: i64) {
    CLOCK_OFFSET_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// What a timer does when it fires.
#[derive(Clone, Copy, Debug)]
enum Timer {
    Consensus(Timeout),
    NextHeight(Height),
    /// The driver's gossip tick (re-send and relay).
    Gossip,
    /// Gossip the txs clients submitted since the last flush.
    GossipTxs,
}

/// A read run on the node's task.
pub type ReadJob = Box<dyn FnOnce(&Driver) + Send>;

/// How long client txs wait to be gossiped together: one message (and one batch of signature
/// checks at every receiver) per interval instead of one per tx.
const GOSSIP_TXS_MS: u64 = 10;
/// Txs that trigger a flush before the interval ends; also the most txs in one message.
const GOSSIP_TXS_MAX: usize = 1_024;
/// Most client txs admitted as one batch (signatures verified together) when submissions queue
/// up behind each other.
const SUBMIT_BATCH_MAX: usize = 512;

/// How the node bounds what its clients may queue (issue #21): count and byte limits alone let
/// an overloaded chain queue a mempool's worth of txs (100,000: seconds of work at the ceiling)
/// and answer each "pending" long before it can commit. Clients' txs are refused
/// (`mempool_full`, 503) while the mempool already holds more than the chain committed in
/// `max_wait` at its rate over the last [`RATE_WINDOW`], so a tx admitted under overload waits
/// about that long, and the excess is told at once to retry. Gossiped txs (other validators
/// admitted them already) are bounded by the mempool's limits only. Local policy: nothing here
/// reaches state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    /// Most work waiting, in time at the chain's recent commit rate; zero turns the bound off.
    pub max_wait: std::time::Duration,
    /// Txs always admissible however slowly the chain has committed (an idle chain's rate is
    /// zero).
    pub floor: usize,
}

impl Default for Admission {
    fn default() -> Self {
        Admission { max_wait: std::time::Duration::from_millis(500), floor: 2_048 }
    }
}

/// The span [`Admission`] measures the commit rate over.
pub const RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// The commits of the last [`RATE_WINDOW`] and the bound they set.
#[derive(Debug)]
struct Backlog {
    admission: Admission,
    recent: std::collections::VecDeque<(Instant, usize)>,
}

impl Backlog {
    fn new(admission: Admission) -> Self {
        Backlog { admission, recent: std::collections::VecDeque::new() }
    }

    /// `txs` committed at `now`.
    fn commit(&mut self, now: Instant, txs: usize) {
        self.recent.push_back((now, txs));
        while self.recent.front().is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW) {
            self.recent.pop_front();
        }
    }

    /// Most txs that may wait at `now`: what the chain committed over the window, scaled to
    /// `max_wait`, never below the floor.
    fn cap(&self, now: Instant) -> usize {
        if self.admission.max_wait.is_zero() {
            return usize::MAX;
        }
        let in_window: usize = self
            .recent
            .iter()
            .filter(|(at, _)| now.duration_since(*at) <= RATE_WINDOW)
            .map(|(_, txs)| txs)
            .sum();
        let scaled = u128::try_from(in_window).unwrap_or(u128::MAX)
            * self.admission.max_wait.as_micros()
            / RATE_WINDOW.as_micros();
        usize::try_from(scaled).unwrap_or(usize::MAX).max(self.admission.floor)
    }

    /// The window (ms) when `waiting` txs leave no room at `now`, else `None`.
    fn full(&self, now: Instant, waiting: usize) -> Option<u64> {
        (self.cap(now) <= waiting).then(|| self.window_ms())
    }

    fn window_ms(&self) -> u64 {
        u64::try_from(self.admission.max_wait.as_millis()).unwrap_or(u64::MAX)
    }

    /// Splits `txs` into those admissible with `waiting` txs in the mempool and the refused rest,
    /// each refusal's verdict.
    fn admit<T>(&self, now: Instant, waiting: usize, mut txs: Vec<T>) -> (Vec<T>, Vec<AdmitError>) {
        let room = self.cap(now).saturating_sub(waiting);
        if txs.len() <= room {
            return (txs, Vec::new());
        }
        let refused = txs.split_off(room);
        let window_ms = self.window_ms();
        let refusals = refused.iter().map(|_| AdmitError::Backlog { waiting, window_ms }).collect();
        (txs, refusals)
    }
}

/// What one commit changed: its height, receipts and touched records, and the txs the mempool
/// dropped after it.
struct CommitChanges {
    height: Height,
    receipts: Arc<BlockReceipts>,
    touched: Box<tokenbook_ledger::Touched>,
    dropped: Vec<(Hash, tokenbook_ledger::Reject)>,
}

/// The loop's state besides the driver.
struct Loop<N> {
    net: N,
    timers: BTreeMap<(Instant, u64), Timer>,
    seq: u64,
    commits: broadcast::Sender<Commit>,
    status: watch::Sender<Status>,
    bad_messages: u64,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    last_commit: Option<Instant>,
    /// Admitted client txs not gossiped yet (a [`Timer::GossipTxs`] is pending while non-empty).
    gossip: Vec<tokenbook_protocol::Tx>,
    /// The validators' network keys last given to the network.
    members: BTreeSet<PublicKey>,
    /// The API's read view, republished after each commit.
    view: watch::Sender<Arc<ReadView>>,
    /// Peers connected when last looked.
    peers_seen: usize,
    /// Commits since the last progress line.
    progress: Progress,
    /// What clients may still queue.
    backlog: Backlog,
}

/// How often the steady-state progress line is logged (each commit is logged at DEBUG).
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// What the node committed since the last progress line.
#[derive(Debug)]
struct Progress {
    since: Instant,
    heights: u64,
    txs: u64,
}

impl Progress {
    fn new() -> Self {
        Progress { since: Instant::now(), heights: 0, txs: 0 }
    }

    /// Counts a commit; once a minute, logs one INFO line with the minute's totals.
    fn commit(&mut self, height: Height, txs: usize, peers: usize) {
        self.heights += 1;
        self.txs += txs as u64;
        let elapsed = self.since.elapsed();
        if elapsed >= PROGRESS_EVERY {
            tracing::info!(
                height = height.get(),
                heights = self.heights,
                txs = self.txs,
                peers,
                secs = elapsed.as_secs(),
                "progress"
            );
            *self = Progress::new();
        }
    }
}

/// Starts the node's loop; returns its handles and the task's result future.
pub fn spawn<N: Network + 'static>(
    driver: Driver,
    initial: Vec<Action>,
    net: N,
    shutdown: watch::Receiver<bool>,
    admission: Admission,
) -> (Handles, tokio::task::JoinHandle<Result<(), DriverError>>) {
    let (commands_tx, commands_rx) = mpsc::channel(1_024);
    let (commits, _) = broadcast::channel(1_024);
    let (status_tx, status_rx) = watch::channel(Status::default());
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
    let executor = driver.executor();
    let first = ReadView::build(executor.ledger(), executor.root());
    let (view, view_rx) = watch::channel(Arc::new(first));
    let store = executor.store().reader();
    let state = Loop {
        net,
        timers: BTreeMap::new(),
        seq: 0,
        commits: commits.clone(),
        status: status_tx,
        bad_messages: 0,
        metrics: std::sync::Arc::clone(&metrics),
        last_commit: None,
        gossip: Vec::new(),
        members: BTreeSet::new(),
        view,
        peers_seen: 0,
        progress: Progress::new(),
        backlog: Backlog::new(admission),
    };
    let task = tokio::spawn(run(driver, initial, state, commands_rx, shutdown));
    (
        Handles {
            commands: commands_tx,
            commits,
            status: status_rx,
            metrics,
            view: view_rx,
            store,
        },
        task,
    )
}

async fn run<N: Network>(
    mut driver: Driver,
    initial: Vec<Action>,
    mut state: Loop<N>,
    mut commands: mpsc::Receiver<Command>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), DriverError> {
    state.carry_out(&driver, initial);
    state.follow_validators(&driver);
    loop {
        let deadline = state.timers.keys().next().map(|(at, _)| *at);
        tokio::select! {
            received = state.net.recv() => {
                let Some((peer, bytes)) = received else {
                    return Err(DriverError::NetworkStopped);
                };
                match Message::decode(&bytes) {
                    Ok(message) => {
                        let actions = driver.on_message(peer, message, now_ms())?;
                        state.carry_out(&driver, actions);
                    }
                    Err(e) => {
                        state.bad_messages += 1;
                        state.metrics.bad_messages.inc();
                        tracing::warn!(peer, code = e.code(), "dropped a message that does not decode");
                        state.net.penalize(peer, format!("undecodable message: {e}"));
                    }
                }
            }
            () = sleep_until(deadline) => {
                let due: Vec<(Instant, u64)> =
                    state.timers.keys().take_while(|(at, _)| *at <= Instant::now()).copied().collect();
                for key in due {
                    let actions = match state.timers.remove(&key) {
                        Some(Timer::Consensus(timeout)) => {
                            tracing::debug!(height = timeout.height.get(), round = timeout.round.get(),
                                            kind = ?timeout.kind, "timeout fired");
                            driver.on_timeout(timeout, now_ms())?
                        }
                        Some(Timer::NextHeight(height)) => driver.on_next_height(height, now_ms())?,
                        Some(Timer::Gossip) => driver.on_gossip(now_ms())?,
                        Some(Timer::GossipTxs) => {
                            state.flush_gossip();
                            Vec::new()
                        }
                        None => Vec::new(),
                    };
                    state.carry_out(&driver, actions);
                }
            }
            command = commands.recv() => match command {
                None => return Ok(()),
                Some(Command::Submit { txs, reply }) => {
                    let read = submit_queued(&mut driver, &mut state, &mut commands, txs, reply);
                    if let Some(read) = read {
                        read(&driver);
                    }
                }
                Some(Command::Read(read)) => read(&driver),
            },
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Admits `txs` together with the submissions queued behind them (up to [`SUBMIT_BATCH_MAX`]
/// txs); each caller gets its own verdicts.
/// Returns a read that was queued among them, to run after.
fn submit_queued<N: Network>(
    driver: &mut Driver,
    state: &mut Loop<N>,
    commands: &mut mpsc::Receiver<Command>,
    txs: Vec<crate::mempool::VerifiedTx>,
    reply: tokio::sync::oneshot::Sender<
        Vec<Result<tokenbook_protocol::Hash, crate::mempool::AdmitError>>,
    >,
) -> Option<ReadJob> {
    let mut callers = vec![(txs.len(), reply)];
    let mut all = txs;
    let mut read = None;
    while all.len() < SUBMIT_BATCH_MAX {
        match commands.try_recv() {
            Ok(Command::Submit { txs, reply }) => {
                callers.push((txs.len(), reply));
                all.extend(txs);
            }
            Ok(Command::Read(job)) => {
                read = Some(job);
                break;
            }
            Err(_) => break,
        }
    }
    let (all, refusals) = state.backlog.admit(Instant::now(), driver.mempool().len(), all);
    let (mut verdicts, actions) = driver.submit_verified(all);
    verdicts.extend(refusals.into_iter().map(Err));
    let mut verdicts = verdicts.into_iter();
    for (count, reply) in callers {
        let _ = reply.send(verdicts.by_ref().take(count).collect());
    }
    state.carry_out(driver, actions);
    read
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl<N: Network> Loop<N> {
    /// Lets the network follow the validator set: the current and scheduled validators' network
    /// keys may connect. While catching up the node's ledger is behind the chain, and its set
    /// may lack validators that serve the blocks it needs: keys are then only added.
    fn follow_validators(&mut self, driver: &Driver) {
        let ledger = driver.executor().ledger();
        let mut keys: BTreeSet<PublicKey> = std::iter::once(&ledger.validators)
            .chain(ledger.pending_validators.values())
            .flat_map(|set| set.validators.iter().map(|v| v.network_key))
            .collect();
        if driver.catching_up() {
            keys.extend(self.members.iter().copied());
        }
        if keys != self.members {
            tracing::info!(members = keys.len(), "validator network keys changed");
            self.net.set_members(keys.iter().copied().collect());
            self.members = keys;
        }
    }

    fn observe_commit(&mut self, driver: &Driver, txs: usize) {
        let now = Instant::now();
        self.backlog.commit(now, txs);
        if let Some(last) = self.last_commit.replace(now) {
            self.metrics.block_interval.observe(now.duration_since(last).as_secs_f64());
        }
        self.metrics.txs_committed.inc_by(txs as u64);
        self.metrics.block_txs.observe(txs as f64);
        let store = driver.executor().store();
        let stats = store.last_commit();
        self.metrics.commit_seconds.observe((stats.tree + stats.batch + stats.write).as_secs_f64());
        let memory = store.memory().total();
        self.metrics.store_memory_bytes.set(i64::try_from(memory).unwrap_or(i64::MAX));
    }

    /// Publishes the read view of the committed state, from the last one and what the commits
    /// since changed (several commits in one batch of actions are published once, whole).
    fn publish_view(&mut self, driver: &Driver, changed: &[CommitChanges]) {
        let executor = driver.executor();
        let mut view = (**self.view.borrow()).clone();
        for c in changed {
            view = view.next(executor.ledger(), executor.root(), &c.touched, c.height, &c.receipts);
        }
        for c in changed {
            view.record_dropped(&c.dropped);
        }
        self.view.send_replace(Arc::new(view));
    }

    /// Queues client txs for the next gossip flush (now, if enough are waiting).
    fn gossip_later(&mut self, txs: Vec<tokenbook_protocol::Tx>) {
        if self.gossip.is_empty() {
            self.schedule(Timer::GossipTxs, GOSSIP_TXS_MS);
        }
        self.gossip.extend(txs);
        if self.gossip.len() >= GOSSIP_TXS_MAX {
            self.flush_gossip();
        }
    }

    /// Gossips every queued tx, at most [`GOSSIP_TXS_MAX`] per message.
    fn flush_gossip(&mut self) {
        let queued = std::mem::take(&mut self.gossip);
        for chunk in queued.chunks(GOSSIP_TXS_MAX) {
            self.net.broadcast_bulk(Message::Txs(chunk.to_vec()).encode());
        }
    }

    fn schedule(&mut self, timer: Timer, after_ms: u64) {
        self.seq += 1;
        let at = Instant::now() + std::time::Duration::from_millis(after_ms);
        self.timers.insert((at, self.seq), timer);
    }

    fn carry_out(&mut self, driver: &Driver, actions: Vec<Action>) {
        // Every consensus line carries the height and round being decided.
        let span = tracing::info_span!(
            "consensus",
            height = driver.height().get(),
            round = driver.round().get()
        );
        let _entered = span.enter();
        let mut changed: Vec<CommitChanges> = Vec::new();
        for action in actions {
            log_action(&action);
            match action {
                Action::Broadcast(Message::Txs(txs)) => self.gossip_later(txs),
                Action::Broadcast(message) => self.net.broadcast(message.encode()),
                Action::Send(peer, message) => self.net.send(peer, message.encode()),
                Action::Schedule { timeout, after_ms } => {
                    self.schedule(Timer::Consensus(timeout), after_ms);
                }
                Action::NextHeight { height, after_ms } => {
                    self.schedule(Timer::NextHeight(height), after_ms);
                }
                Action::Gossip { after_ms } => self.schedule(Timer::Gossip, after_ms),
                Action::Committed { height, root, receipts, touched, dropped } => {
                    let receipts: Arc<BlockReceipts> = Arc::from(receipts);
                    changed.push(CommitChanges {
                        height,
                        receipts: Arc::clone(&receipts),
                        touched,
                        dropped,
                    });
                    self.observe_commit(driver, receipts.receipts.len());
                    self.follow_validators(driver);
                    tracing::debug!(height = height.get(), txs = receipts.receipts.len(), %root, "committed");
                    if driver.round().get() > 0 {
                        // Rare and worth seeing: a proposal or its votes came too late.
                        tracing::info!(
                            height = height.get(),
                            round = driver.round().get(),
                            "decided after round 0"
                        );
                    }
                    self.progress.commit(height, receipts.receipts.len(), self.net.peers());
                    let _ = self.commits.send(Commit { height, root, receipts });
                }
                Action::Evidence(evidence) => {
                    tracing::warn!(validator = %evidence.first.payload.validator, "equivocation");
                }
                Action::Penalize(peer, reason) => {
                    tracing::warn!(peer, reason, "peer sent invalid data");
                    self.net.penalize(peer, reason);
                }
            }
        }
        if !changed.is_empty() {
            self.publish_view(driver, &changed);
        }
        let executor = driver.executor();
        self.metrics.height.set(i64::try_from(executor.height().get()).unwrap_or(i64::MAX));
        self.metrics.round.set(i64::from(driver.round().get()));
        self.metrics.mempool_txs.set(i64::try_from(driver.mempool().len()).unwrap_or(i64::MAX));
        crate::metrics::Metrics::catch_up(
            &self.metrics.gossip_signatures,
            driver.mempool().signatures_verified(),
        );
        crate::metrics::Metrics::catch_up(
            &self.metrics.block_signatures,
            executor.signatures_verified(),
        );
        let peers = self.net.peers();
        if self.peers_seen == 0 && peers > 0 && !driver.mempool().is_empty() {
            // Back from isolation: what was admitted meanwhile may have reached nobody.
            self.gossip_later(driver.mempool().batch(usize::MAX, usize::MAX));
        }
        self.peers_seen = peers;
        self.metrics.peers.set(i64::try_from(peers).unwrap_or(i64::MAX));
        self.status.send_replace(Status {
            height: executor.height(),
            root: executor.root(),
            mempool: driver.mempool().len(),
            bad_messages: self.bad_messages,
            block_hash: executor.last_block_hash(),
            peers,
            catching_up: driver.catching_up(),
            backlog_full: self.backlog.full(Instant::now(), driver.mempool().len()),
        });
    }
}

fn log_action(action: &Action) {
    match action {
        Action::Broadcast(Message::Proposal { proposal, .. }) => {
            tracing::debug!(value = %proposal.payload.value, "proposing");
        }
        Action::Broadcast(Message::Vote(vote)) => {
            tracing::debug!(kind = ?vote.payload.kind, value = ?vote.payload.value, "voting");
        }
        Action::Send(peer, Message::SyncRequest { from }) => {
            tracing::info!(peer, from = from.get(), "behind; asking for blocks");
        }
        Action::Schedule { timeout, after_ms } => {
            tracing::trace!(kind = ?timeout.kind, after_ms, "timeout scheduled");
        }
        _ => {}
    }
}

/// An in-memory network: every node reaches every other through unbounded channels.
#[derive(Debug)]
pub struct MemNet {
    me: Peer,
    peers: Vec<mpsc::UnboundedSender<(Peer, Vec<u8>)>>,
    inbox: mpsc::UnboundedReceiver<(Peer, Vec<u8>)>,
}

impl MemNet {
    /// `n` connected endpoints; endpoint `i` is peer `i`.
    #[must_use]
    pub fn mesh(n: usize) -> Vec<MemNet> {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..n).map(|_| mpsc::unbounded_channel()).unzip();
        receivers
            .into_iter()
            .enumerate()
            .map(|(i, inbox)| MemNet { me: i as Peer, peers: senders.clone(), inbox })
            .collect()
    }
}

impl Network for MemNet {
    fn send(&mut self, to: Peer, bytes: Vec<u8>) {
        if let Some(peer) = usize::try_from(to).ok().and_then(|i| self.peers.get(i)) {
            let _ = peer.send((self.me, bytes));
        }
    }

    fn broadcast(&mut self, bytes: Vec<u8>) {
        for (i, peer) in self.peers.iter().enumerate() {
            if i as Peer != self.me {
                let _ = peer.send((self.me, bytes.clone()));
            }
        }
    }

    fn recv(&mut self) -> impl Future<Output = Option<(Peer, Vec<u8>)>> + Send {
        self.inbox.recv()
    }

    fn penalize(&mut self, peer: Peer, reason: String) {
        tracing::warn!(peer, reason, "penalty (in-memory network: logged only)");
    }

    fn peers(&self) -> usize {
        self.peers.len().saturating_sub(1)
    }
}

/// No peers at all: a single-validator chain.
#[derive(Debug, Default)]
pub struct NoPeers;

impl Network for NoPeers {
    fn send(&mut self, _to: Peer, _bytes: Vec<u8>) {}

    fn broadcast(&mut self, _bytes: Vec<u8>) {}

    fn recv(&mut self) -> impl Future<Output = Option<(Peer, Vec<u8>)>> + Send {
        std::future::pending()
    }

    fn penalize(&mut self, _peer: Peer, _reason: String) {}

    fn peers(&self) -> usize {
        0
    }
}

/// Whether a message fits the peers' limit (one that does not would cost this node the
/// connection: the receiver penalizes oversized frames).
fn fits(bytes: &[u8]) -> bool {
    let fits = bytes.len() <= tokenbook_net::MAX_MESSAGE_BYTES;
    if !fits {
        tracing::error!(len = bytes.len(), "message over the limit not sent");
    }
    fits
}

/// The libp2p transport.
impl Network for tokenbook_net::Libp2pNet {
    fn send(&mut self, to: Peer, bytes: Vec<u8>) {
        if fits(&bytes) {
            tokenbook_net::Libp2pNet::send(self, to, bytes);
        }
    }

    fn broadcast(&mut self, bytes: Vec<u8>) {
        if fits(&bytes) {
            tokenbook_net::Libp2pNet::broadcast(self, bytes);
        }
    }

    fn broadcast_bulk(&mut self, bytes: Vec<u8>) {
        if fits(&bytes) {
            tokenbook_net::Libp2pNet::broadcast_bulk(self, bytes);
        }
    }

    fn recv(&mut self) -> impl Future<Output = Option<(Peer, Vec<u8>)>> + Send {
        tokenbook_net::Libp2pNet::recv(self)
    }

    fn penalize(&mut self, peer: Peer, reason: String) {
        tokenbook_net::Libp2pNet::penalize(self, peer, reason);
    }

    fn peers(&self) -> usize {
        usize::try_from(self.stats().peers.load(std::sync::atomic::Ordering::Relaxed))
            .unwrap_or(usize::MAX)
    }

    fn set_members(&mut self, keys: Vec<PublicKey>) {
        tokenbook_net::Libp2pNet::set_members(self, keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn backlog(max_wait_ms: u64, floor: usize) -> Backlog {
        Backlog::new(Admission { max_wait: Duration::from_millis(max_wait_ms), floor })
    }

    #[test]
    fn clients_may_queue_what_the_chain_commits_in_the_window() {
        let mut backlog = backlog(500, 100);
        let start = Instant::now();
        // Idle: the floor.
        assert_eq!(backlog.cap(start), 100);
        // 10,000 txs committed over the last 2 s: 5,000/s, so 2,500 may wait for 500 ms.
        for i in 0..10 {
            backlog.commit(start + Duration::from_millis(200 * i), 1_000);
        }
        let now = start + Duration::from_millis(1_800);
        assert_eq!(backlog.cap(now), 2_500);
        let (admitted, refused) = backlog.admit(now, 2_400, (0..150).collect::<Vec<u32>>());
        assert_eq!(admitted, (0..100).collect::<Vec<_>>(), "the first ones, in order");
        assert_eq!(refused.len(), 50);
        assert_eq!(refused[0], AdmitError::Backlog { waiting: 2_400, window_ms: 500 });
        assert_eq!(refused[0].code(), "mempool_full");
        // A chain that stopped committing decays to the floor.
        let later = now + Duration::from_secs(3);
        assert_eq!(backlog.cap(later), 100);
        assert_eq!(backlog.admit(later, 100, vec![1]).1.len(), 1, "waiting at the floor");
    }

    #[test]
    fn a_zero_window_bounds_nothing() {
        let backlog = backlog(0, 0);
        let (admitted, refused) = backlog.admit(Instant::now(), 1 << 40, vec![1, 2, 3]);
        assert_eq!((admitted.len(), refused.len()), (3, 0));
    }
}
