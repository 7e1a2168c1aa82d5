//! The simulation of the node we ship: n validators each running the engine's real [`Driver`]
//! (executor, mempool, ledger) over a [`MemChainStore`], on one seeded event queue.
//!
//! Only the tokio runtime, libp2p and RocksDB are replaced: messages travel as the encoded bytes
//! the network would carry (decoded by the real codec at delivery), with delays, drops,
//! duplicates, reordering and partitions; timers fire on simulated time; a crash drops the
//! driver and keeps what its store had written, at any step — before an event, between a
//! persisted record and the messages that follow it (the event's actions are lost), during a
//! commit (the store refuses the write, the driver stops) — and all nodes may crash at once.
//! Clients submit signed txs (index prices, deposits, orders) to random live validators.
//! With set changes on, the members change the validator set by governance, as a real network
//! would: one honest node starts outside the set, following the chain; every few hundred
//! milliseconds the members either approve the open proposals or propose the next change —
//! add the honest node that is outside, or remove the next honest validator in turn — and each
//! change takes effect two heights after the approving block. The set never drops below the
//! genesis size, so the Byzantine validators stay under a third of the power.
//! Byzantine validators run the same driver with a misbehaviour of the engine's `misbehave`
//! feature, the same code `tokenbook-node --misbehave` runs.
//!
//! `TOKENBOOK_SIM_TRACE=1` prints every proposal and vote sent, `TOKENBOOK_SIM_DEBUG=1` progress
//! and crashes (for diagnosing a failing seed).
//!
//! Checks at every step: agreement (no two honest validators commit different blocks or roots
//! at a height), every committed certificate verifies against the height's validator set, no
//! honest validator stops (divergence) or is penalised or named in evidence by an honest one,
//! and liveness (after the faults heal, no honest validator goes [`LIVENESS_BOUND_MS`] without
//! a commit). The ledger asserts its own invariants after every block.

use super::{CHAIN, Config, LIVENESS_BOUND_MS, Report, Rng};
use std::collections::{BTreeMap, BTreeSet};
use tokenbook_consensus::{Timeout, TimeoutParams, verify_certificate};
use tokenbook_engine::Message;
use tokenbook_engine::driver::{Action, BlockLimits, Driver, DriverError};
use tokenbook_engine::executor::{ExecError, Executor};
use tokenbook_engine::mempool::{Mempool, MempoolConfig};
use tokenbook_engine::misbehave::Misbehaviour;
use tokenbook_engine::storage::{ChainStore, MemChainStore};
use tokenbook_ledger::Genesis;
use tokenbook_ledger::state::GenesisMember;
use tokenbook_protocol::{
    AccountId, Approve, Cash, CashTransfer, GovAction, Hash, Height, IndexId, IndexObservation,
    Keypair, MarketId, NewOrder, OrderKind, Price, ProposalId, Propose, Qty, SelfTradePrevention,
    Side, TimeInForce, Timestamp, Tx, TxBody, TxPayload, Validator, ValidatorSet,
};

/// Block time of genesis (ms); simulated time is added to it.
const GENESIS_MS: u64 = 1_795_478_400_000;
/// When faults start, and how long they last.
const FAULTS_FROM_MS: u64 = 1_000;
const FAULT_WINDOW_MS: u64 = 20_000;
/// Clients submit txs this often.
const SUBMIT_EVERY_MS: u64 = 100;
/// Members act on validator-set governance this often (with set changes on).
const GOVERN_EVERY_MS: u64 = 700;
/// How long a proposal stays open.
const PROPOSAL_LIFE_MS: u64 = 30_000;

const LIMITS: BlockLimits = BlockLimits {
    max_txs: 1_000,
    max_bytes: 1 << 20,
    interval_ms: 50,
    heartbeat_ms: 1_000,
    max_future_time_ms: 1_000,
};

const TIMEOUTS: TimeoutParams = TimeoutParams {
    propose_base_ms: 500,
    propose_per_round_ms: 250,
    vote_base_ms: 250,
    vote_per_round_ms: 125,
    propose_absent_ms: 100,
};

/// How a crash strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CrashPoint {
    /// Before the node's next event.
    Idle,
    /// After its next event's records are persisted, before any message leaves.
    BeforeSend,
    /// Its next store write fails (a commit or a record cut short).
    MidWrite,
}

enum Event {
    Deliver { to: usize, from: usize, bytes: Vec<u8> },
    Timer { node: usize, epoch: u64, fire: Fire },
    Crash(usize, CrashPoint),
    CrashAll,
    Restart(usize),
    Cut(BTreeSet<(usize, usize)>),
    Mend(BTreeSet<(usize, usize)>),
    Submit,
    Govern,
}

#[derive(Clone, Copy)]
enum Fire {
    Timeout(Timeout),
    NextHeight(Height),
    Gossip,
}

struct Node {
    key: Keypair,
    byzantine: Option<Misbehaviour>,
    driver: Option<Driver<MemChainStore>>,
    /// The store while the node is down (what it had written).
    disk: Option<MemChainStore>,
    epoch: u64,
    /// A crash waiting for the node's next event.
    pending_crash: Option<CrashPoint>,
    last_commit_ms: u64,
    height: u64,
}

struct Sim {
    cfg: Config,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Event>,
    nodes: Vec<Node>,
    genesis: Genesis,
    members: Vec<Keypair>,
    /// The honest nodes that take turns being outside the validator set (with set changes on):
    /// the honest genesis validators and one spare that starts outside.
    rotation: Vec<usize>,
    /// Removals proposed so far (which honest validator leaves next).
    removals: usize,
    /// The last change proposed.
    proposed: Option<GovAction>,
    nonce: u64,
    cut: BTreeMap<(usize, usize), u32>,
    drop_per_mille: u64,
    heal_ms: u64,
    /// The block hash, root and validator set the first honest node committed at each height.
    committed: BTreeMap<u64, Commit>,
    /// The validator set of each height, as the honest nodes decided it beforehand.
    sets: BTreeMap<u64, ValidatorSet>,
    violations: Vec<String>,
    trace: u64,
    events: u64,
    evidence: u64,
    fills: u64,
}

/// What the first honest node to commit a height committed.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Commit {
    block: Hash,
    root: Hash,
    validators: Hash,
}

/// Runs one seed on the real engine.
#[must_use]
pub fn run(cfg: &Config) -> Report {
    let mut sim = Sim::new(*cfg);
    sim.schedule_faults();
    for i in 0..sim.nodes.len() {
        sim.start_node(i, MemChainStore::new());
    }
    sim.at(SUBMIT_EVERY_MS, Event::Submit);
    if cfg.faults.set_changes {
        sim.at(GOVERN_EVERY_MS, Event::Govern);
    }
    while sim.violations.is_empty() && !sim.done() {
        if sim.events % 100_000 == 0 && std::env::var_os("TOKENBOOK_SIM_DEBUG").is_some() {
            let heights: Vec<u64> = sim.nodes.iter().map(|n| n.height).collect();
            eprintln!(
                "t={} events={} queue={} heights={heights:?}",
                sim.now,
                sim.events,
                sim.queue.len()
            );
        }
        let Some(((time, _), event)) = sim.queue.pop_first() else {
            sim.violations.push(format!("queue ran dry at {} ms", sim.now));
            break;
        };
        sim.now = time;
        sim.step(event);
        sim.check_liveness();
    }
    let set_changes = sim.set_changes();
    let keys: Vec<_> = sim.nodes.iter().map(|n| n.key.public_key()).collect();
    Report {
        seed: cfg.seed,
        decided: sim.honest().map(|n| n.height).min().unwrap_or(0),
        violations: sim.violations,
        trace: sim.trace,
        events: sim.events,
        time_ms: sim.now,
        evidence: sim.evidence,
        fills: sim.fills,
        set_changes,
        nodes: sim.nodes.iter().enumerate().map(|(i, n)| describe(i, n, &keys)).collect(),
    }
}

fn describe(i: usize, n: &Node, keys: &[tokenbook_protocol::PublicKey]) -> String {
    let role = n.byzantine.map_or("honest".to_owned(), |b| b.to_string());
    match &n.driver {
        Some(d) => {
            // Which nodes this one counts as validators of the height it is deciding.
            let set = d.executor().ledger().validator_set_for(d.height());
            let members: Vec<usize> =
                (0..keys.len()).filter(|&k| set.get(&keys[k]).is_some()).collect();
            format!(
                "node {i} ({role}): committed {} deciding {} round {} step {:?} locked {:?} valid \
                 round {:?} validators {members:?}",
                n.height,
                d.height(),
                d.round(),
                d.core().step(),
                d.core().locked().map(|(r, v)| (r.get(), v.to_string()[..8].to_owned())),
                d.core().valid_round().map(tokenbook_protocol::Round::get),
            )
        }
        None => format!("node {i} ({role}): down at {}", n.height),
    }
}

fn seed_key(tag: u8, i: usize, seed: u64) -> Keypair {
    let mut bytes = [tag; 32];
    bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
    bytes[8..16].copy_from_slice(&seed.to_le_bytes());
    Keypair::from_seed(&bytes)
}

impl Sim {
    fn new(cfg: Config) -> Sim {
        let n = cfg.validators;
        let byzantine = cfg.byzantine.min(n);
        let spare = usize::from(cfg.faults.set_changes);
        let nodes: Vec<Node> = (0..n + spare)
            .map(|i| Node {
                key: seed_key(0x51, i, cfg.seed),
                byzantine: (i >= n - byzantine && i < n).then(|| {
                    let kinds = Misbehaviour::ALL;
                    kinds[(cfg.seed.wrapping_add(i as u64) % kinds.len() as u64) as usize]
                }),
                driver: None,
                disk: None,
                epoch: 0,
                pending_crash: None,
                last_commit_ms: 0,
                height: 0,
            })
            .collect();
        let members: Vec<Keypair> = (0..n).map(|i| seed_key(0x6d, i, cfg.seed)).collect();
        let rotation = if cfg.faults.set_changes {
            (0..n - byzantine).chain([n]).collect()
        } else {
            Vec::new()
        };
        let genesis_members = members
            .iter()
            .zip(&nodes)
            .enumerate()
            .map(|(i, (m, node))| {
                let key = node.key.public_key();
                GenesisMember {
                    name: format!("Member {i}"),
                    key: m.public_key(),
                    validator: Some(Validator { consensus_key: key, network_key: key, power: 1 }),
                }
            })
            .collect();
        let genesis = tokenbook_ledger::genesis::devnet(
            CHAIN,
            Timestamp::new(GENESIS_MS),
            genesis_members,
            Vec::new(),
        );
        Sim {
            cfg,
            rng: Rng(cfg.seed ^ 0x5eed_e461_e000),
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            nodes,
            genesis,
            members,
            rotation,
            removals: 0,
            proposed: None,
            nonce: 0,
            cut: BTreeMap::new(),
            drop_per_mille: 0,
            heal_ms: 0,
            committed: BTreeMap::new(),
            sets: BTreeMap::new(),
            violations: Vec::new(),
            trace: 0xcbf2_9ce4_8422_2325,
            events: 0,
            evidence: 0,
            fills: 0,
        }
    }

    fn clock(&self) -> u64 {
        GENESIS_MS + self.now
    }

    fn at(&mut self, after_ms: u64, event: Event) {
        self.seq += 1;
        self.queue.insert((self.now + after_ms, self.seq), event);
    }

    fn mix(&mut self, value: u64) {
        self.trace = (self.trace ^ value).wrapping_mul(0x0100_0000_01b3);
    }

    fn honest(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.byzantine.is_none())
    }

    fn done(&self) -> bool {
        self.honest().all(|n| n.height >= self.cfg.heights)
    }

    fn start_node(&mut self, i: usize, store: MemChainStore) {
        let executor = match Executor::new(store, &self.genesis) {
            Ok(executor) => executor,
            Err(e) => return self.violations.push(format!("node {i} cannot open its store: {e}")),
        };
        let key = Keypair::from_seed(&self.nodes[i].key.seed());
        let mempool = Mempool::new(MempoolConfig::new(CHAIN));
        match Driver::start(executor, mempool, key, TIMEOUTS, LIMITS, self.clock()) {
            Ok((mut driver, actions)) => {
                if let Some(kind) = self.nodes[i].byzantine {
                    driver.misbehave(kind, &self.nodes[i].key);
                }
                self.nodes[i].height = driver.executor().height().get();
                self.nodes[i].driver = Some(driver);
                if self.nodes[i].byzantine.is_none() {
                    self.learn_sets(i);
                }
                self.nodes[i].last_commit_ms = self.now;
                self.carry_out(i, actions);
            }
            Err(e) if self.nodes[i].byzantine.is_none() => {
                self.violations.push(format!("node {i} cannot start: {e}"));
            }
            // A Byzantine node's own lies may not reload (e.g. a stored block that fails the
            // codec's shape check): it stays down.
            Err(_) => {}
        }
    }

    fn step(&mut self, event: Event) {
        self.events += 1;
        self.mix(self.now);
        match event {
            Event::Deliver { to, from, bytes } => {
                let mut tail = [0u8; 8];
                let last = &bytes[bytes.len().saturating_sub(8)..];
                tail[..last.len()].copy_from_slice(last);
                self.mix(u64::from_le_bytes(tail) ^ (bytes.len() as u64) ^ ((to as u64) << 56));
                self.deliver(to, from, &bytes);
            }
            Event::Timer { node, epoch, fire } => {
                if self.nodes[node].epoch == epoch {
                    self.fire(node, fire);
                }
            }
            Event::Crash(node, point) => {
                self.mix(0xc0 ^ node as u64);
                match point {
                    CrashPoint::Idle => {
                        if self.nodes[node].driver.is_some() {
                            self.crash_and_restart(node);
                        }
                    }
                    CrashPoint::MidWrite => {
                        if let Some(d) = self.nodes[node].driver.as_ref() {
                            d.executor().store().fail_writes();
                            self.nodes[node].pending_crash = Some(point);
                        }
                    }
                    CrashPoint::BeforeSend => {
                        if self.nodes[node].driver.is_some() {
                            self.nodes[node].pending_crash = Some(point);
                        }
                    }
                }
            }
            Event::CrashAll => {
                for node in 0..self.nodes.len() {
                    self.crash(node);
                }
                for node in 0..self.nodes.len() {
                    let delay = 200 + self.rng.below(800);
                    self.at(delay, Event::Restart(node));
                }
            }
            Event::Restart(node) => {
                if let Some(disk) = self.nodes[node].disk.take() {
                    self.start_node(node, disk.reopen());
                }
            }
            Event::Cut(links) => {
                for link in links {
                    *self.cut.entry(link).or_default() += 1;
                }
            }
            Event::Mend(links) => {
                for link in links {
                    if let Some(c) = self.cut.get_mut(&link) {
                        *c = c.saturating_sub(1);
                    }
                }
            }
            Event::Submit => {
                self.submit();
                self.at(SUBMIT_EVERY_MS, Event::Submit);
            }
            Event::Govern => {
                self.govern();
                self.at(GOVERN_EVERY_MS, Event::Govern);
            }
        }
    }

    fn crash(&mut self, node: usize) {
        if std::env::var_os("TOKENBOOK_SIM_DEBUG").is_some() {
            eprintln!(
                "t={} crash node {node} (pending {:?}) at height {}",
                self.now, self.nodes[node].pending_crash, self.nodes[node].height
            );
        }
        if let Some(driver) = self.nodes[node].driver.take() {
            self.nodes[node].disk = Some(driver.executor().store().reopen());
        }
        self.nodes[node].epoch += 1;
        self.nodes[node].pending_crash = None;
    }

    /// Runs `call` on node `i`'s driver and carries out what it returns, unless a crash strikes.
    fn on_node(
        &mut self,
        i: usize,
        call: impl FnOnce(&mut Driver<MemChainStore>, u64) -> Result<Vec<Action>, DriverError>,
    ) {
        let now = self.clock();
        let Some(driver) = self.nodes[i].driver.as_mut() else { return };
        let result = call(driver, now);
        match (result, self.nodes[i].pending_crash) {
            (_, Some(CrashPoint::BeforeSend | CrashPoint::Idle)) => self.crash_and_restart(i),
            (Ok(actions), _) => self.carry_out(i, actions),
            (Err(DriverError::Exec(ExecError::Store(_))), Some(CrashPoint::MidWrite)) => {
                self.crash_and_restart(i);
            }
            (Err(e), _) => {
                if self.nodes[i].byzantine.is_none() {
                    self.violations.push(format!("honest node {i} stopped: {e}"));
                }
                self.crash(i);
            }
        }
    }

    fn crash_and_restart(&mut self, i: usize) {
        self.crash(i);
        let delay = 100 + self.rng.below(1_000);
        self.at(delay, Event::Restart(i));
    }

    fn deliver(&mut self, to: usize, from: usize, bytes: &[u8]) {
        let message = match Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                if self.nodes[from].byzantine.is_none() {
                    self.violations
                        .push(format!("honest node {from} sent an undecodable message: {e}"));
                }
                return;
            }
        };
        self.on_node(to, |d, now| d.on_message(from as u64, message, now));
    }

    fn fire(&mut self, node: usize, fire: Fire) {
        match fire {
            Fire::Timeout(t) => self.on_node(node, |d, now| d.on_timeout(t, now)),
            Fire::NextHeight(h) => self.on_node(node, |d, now| d.on_next_height(h, now)),
            Fire::Gossip => self.on_node(node, Driver::on_gossip),
        }
    }

    fn carry_out(&mut self, from: usize, actions: Vec<Action>) {
        let epoch = self.nodes[from].epoch;
        for action in actions {
            match action {
                Action::Broadcast(message) => {
                    if std::env::var_os("TOKENBOOK_SIM_TRACE").is_some() {
                        match &message {
                            Message::Vote(v) => eprintln!(
                                "t={} node {from} {:?} h={} r={} {:?}",
                                self.now,
                                v.payload.kind,
                                v.payload.height,
                                v.payload.round,
                                v.payload.value.map(|h| h.to_string()[..8].to_owned())
                            ),
                            Message::Proposal { proposal, .. } => eprintln!(
                                "t={} node {from} PROPOSAL h={} r={} pol={:?} {}",
                                self.now,
                                proposal.payload.height,
                                proposal.payload.round,
                                proposal.payload.pol_round,
                                &proposal.payload.value.to_string()[..8]
                            ),
                            _ => {}
                        }
                    }
                    let bytes = message.encode();
                    for to in (0..self.nodes.len()).filter(|&to| to != from) {
                        self.send(from, to, bytes.clone());
                    }
                }
                Action::Send(peer, message) => {
                    let to = usize::try_from(peer).unwrap_or(usize::MAX);
                    if to < self.nodes.len() {
                        self.send(from, to, message.encode());
                    }
                }
                Action::Schedule { timeout, after_ms } => {
                    self.at(
                        after_ms,
                        Event::Timer { node: from, epoch, fire: Fire::Timeout(timeout) },
                    );
                }
                Action::NextHeight { height, after_ms } => {
                    let fire = Fire::NextHeight(height);
                    self.at(after_ms, Event::Timer { node: from, epoch, fire });
                }
                Action::Gossip { after_ms } => {
                    self.at(after_ms, Event::Timer { node: from, epoch, fire: Fire::Gossip });
                }
                Action::Committed { height, root, receipts, .. } => {
                    self.fills += receipts
                        .receipts
                        .iter()
                        .filter_map(|r| r.result.as_ref().ok())
                        .flatten()
                        .filter(|e| matches!(e, tokenbook_ledger::Event::Fill { .. }))
                        .count() as u64;
                    self.on_commit(from, height, root);
                }
                Action::Evidence(evidence) => {
                    self.evidence += 1;
                    let culprit = evidence.first.payload.validator;
                    if self.honest_key(culprit) {
                        self.violations
                            .push(format!("node {from} holds evidence against honest {culprit}"));
                    }
                }
                Action::Penalize(peer, why) => {
                    let peer = usize::try_from(peer).unwrap_or(usize::MAX);
                    let honest_here = self.nodes[from].byzantine.is_none();
                    if honest_here && self.nodes.get(peer).is_some_and(|n| n.byzantine.is_none()) {
                        self.violations
                            .push(format!("node {from} penalised honest node {peer}: {why}"));
                    }
                }
            }
        }
    }

    fn honest_key(&self, key: tokenbook_protocol::PublicKey) -> bool {
        self.nodes.iter().any(|n| n.byzantine.is_none() && n.key.public_key() == key)
    }

    fn send(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        let faulty = self.now >= FAULTS_FROM_MS && self.now < self.heal_ms;
        let dropped = faulty && self.rng.chance(self.drop_per_mille);
        if self.cut.get(&(from, to)).is_some_and(|c| *c > 0) || dropped {
            return;
        }
        let delay = if faulty && self.cfg.faults.reorder && self.rng.chance(100) {
            self.rng.below(2_000)
        } else {
            1 + self.rng.below(20)
        };
        if faulty && self.cfg.faults.duplicate && self.rng.chance(50) {
            let again = delay + self.rng.below(500);
            self.at(again, Event::Deliver { to, from, bytes: bytes.clone() });
        }
        self.at(delay, Event::Deliver { to, from, bytes });
    }

    fn on_commit(&mut self, node: usize, height: Height, root: Hash) {
        let Some(driver) = self.nodes[node].driver.as_ref() else { return };
        // The block of `height` (the driver may have committed more in the same call).
        let stored = driver.executor().store().block(height).ok().flatten();
        let (block, validators) =
            stored.map_or((Hash::ZERO, Hash::ZERO), |b| (b.hash(), b.header.validator_set_hash));
        let certificate = driver.executor().store().certificate(height).ok().flatten();
        self.nodes[node].height = height.get();
        self.nodes[node].last_commit_ms = self.now;
        if self.nodes[node].byzantine.is_some() {
            return;
        }
        self.learn_sets(node);
        self.maybe_isolate(node);
        // Against the set the honest nodes knew for the height before they reached it (a
        // node's ledger only knows the sets of the next two heights).
        let set = self.sets.get(&height.get());
        let certified = match (certificate, set) {
            (Some(c), Some(set)) => {
                verify_certificate(&c, set, CHAIN, &tokenbook_consensus::Ed25519).is_ok()
            }
            (None, _) => false,
            (Some(_), None) => true,
        };
        if !certified {
            self.violations
                .push(format!("node {node}: the certificate of height {height} does not verify"));
        }
        let commit = Commit { block, root, validators };
        match self.committed.get(&height.get()) {
            None => {
                self.committed.insert(height.get(), commit);
            }
            Some(&first) if first != commit => self.violations.push(format!(
                "agreement: node {node} committed block {block} root {root} at {height}, \
                 another honest node {} root {}",
                first.block, first.root
            )),
            Some(_) => {}
        }
    }

    /// Records the validator sets of the two heights after honest node `node`'s last commit
    /// (which its ledger has decided), checking that every honest node decided the same ones.
    fn learn_sets(&mut self, node: usize) {
        let Some(driver) = self.nodes[node].driver.as_ref() else { return };
        let ledger = driver.executor().ledger();
        let next = ledger.height.get() + 1;
        for height in [next, next + 1] {
            let set = ledger.validator_set_for(Height::new(height)).clone();
            match self.sets.get(&height) {
                Some(known) if *known != set => self.violations.push(format!(
                    "agreement: node {node} has validator set {} for height {height}, another \
                     honest node {}",
                    set.hash(),
                    known.hash()
                )),
                Some(_) => {}
                None => {
                    self.sets.insert(height, set);
                }
            }
        }
    }

    /// During the fault window, sometimes cuts a node off the moment it commits (both ways,
    /// for a while): the others must finish the height without its last messages, and it must
    /// catch up.
    fn maybe_isolate(&mut self, node: usize) {
        let faulty = self.now >= FAULTS_FROM_MS && self.now < self.heal_ms;
        if !(faulty && self.cfg.faults.partition && self.rng.chance(20)) {
            return;
        }
        let links: BTreeSet<(usize, usize)> = (0..self.nodes.len())
            .filter(|&other| other != node)
            .flat_map(|other| [(node, other), (other, node)])
            .collect();
        for link in &links {
            *self.cut.entry(*link).or_default() += 1;
        }
        let until = 500 + self.rng.below(2_500);
        self.at(until, Event::Mend(links));
    }

    fn check_liveness(&mut self) {
        if self.now < self.heal_ms || !self.violations.is_empty() {
            return;
        }
        let target = self.cfg.heights;
        let stalled = self.nodes.iter().enumerate().find(|(_, n)| {
            n.byzantine.is_none()
                && n.height < target
                && self.now.saturating_sub(n.last_commit_ms.max(self.heal_ms)) > LIVENESS_BOUND_MS
        });
        if let Some((i, n)) = stalled {
            self.violations.push(format!(
                "liveness: honest node {i} has not committed since {} ms (now {} ms, at height {})",
                n.last_commit_ms, self.now, n.height
            ));
        }
    }

    /// A client submits a few signed txs to a random live validator: members publish both
    /// index prices, deposit early, and quote around the mark.
    fn submit(&mut self) {
        let Some(node) = self.random_live() else { return };
        let member = self.rng.below(self.members.len() as u64) as usize;
        let account = AccountId::new(member as u64 + 1);
        let now = self.clock();
        let mut txs = Vec::new();
        for (index, price) in [(1, 10_000_000), (2, 2_500_000)] {
            let body = TxBody::PublishIndex(IndexObservation {
                index: IndexId::new(index),
                price: Cash::new(price),
                observed_at: Timestamp::new(now),
            });
            txs.push(self.sign(member, account, body));
        }
        if self.now < 2_000 {
            let body = TxBody::Deposit(CashTransfer {
                account,
                amount: Cash::new(1_000_000_000_000),
                reference: Hash::digest(&self.nonce.to_le_bytes()),
            });
            txs.push(self.sign(member, account, body));
        }
        let side = if self.rng.chance(500) { Side::Buy } else { Side::Sell };
        let order = NewOrder {
            market: MarketId::new(1),
            side,
            kind: OrderKind::Limit,
            price: Price::new(1_000 + self.rng.below(11) as i64 - 5),
            qty: Qty::new(1 + self.rng.below(5) as i64),
            time_in_force: TimeInForce::Gtc,
            reduce_only: false,
            client_order_id: None,
            self_trade: SelfTradePrevention::ExpireMaker,
            trigger: None,
        };
        txs.push(self.sign(member, account, TxBody::PlaceOrder(order)));
        self.on_node(node, |d, _| Ok(d.submit(txs).1));
    }

    fn random_live(&mut self) -> Option<usize> {
        let live: Vec<usize> =
            (0..self.nodes.len()).filter(|&i| self.nodes[i].driver.is_some()).collect();
        (!live.is_empty()).then(|| live[self.rng.below(live.len() as u64) as usize])
    }

    /// The members' governance of the validator set: approve what is open, else propose the
    /// next change unless one is already scheduled. They read the state of the most advanced
    /// live honest node (a stale read only makes a duplicate proposal, which closes without
    /// effect when the first has executed).
    fn govern(&mut self) {
        let reference = self
            .nodes
            .iter()
            .filter(|n| n.byzantine.is_none())
            .filter_map(|n| n.driver.as_ref())
            .max_by_key(|d| d.executor().height());
        let Some(ledger) = reference.map(|d| d.executor().ledger()) else { return };
        let open: Vec<(ProposalId, BTreeSet<AccountId>)> =
            ledger.proposals.values().map(|p| (p.id, p.approvals.clone())).collect();
        let scheduled = !ledger.pending_validators.is_empty();
        let current = ledger.validators.clone();
        let mut txs = Vec::new();
        if !open.is_empty() {
            for (proposal, approvals) in open {
                for member in 0..self.members.len() {
                    let account = AccountId::new(member as u64 + 1);
                    if !approvals.contains(&account) {
                        txs.push(self.sign(member, account, TxBody::Approve(Approve { proposal })));
                    }
                }
            }
        } else if !scheduled {
            let action = self.next_change(&current);
            let expires_at = Timestamp::new(self.clock() + PROPOSAL_LIFE_MS);
            txs.push(self.sign(
                0,
                AccountId::new(1),
                TxBody::Propose(Propose { action, expires_at }),
            ));
        }
        if let Some(node) = self.random_live().filter(|_| !txs.is_empty()) {
            self.on_node(node, |d, _| Ok(d.submit(txs).1));
        }
    }

    /// The next change of `set`: the last one proposed again while `set` does not show it yet
    /// (its proposal may not be committed yet: a duplicate closes without effect), else add the
    /// honest node outside the set, or (all inside) remove the next honest validator in turn.
    fn next_change(&mut self, set: &ValidatorSet) -> GovAction {
        let in_set = |key: &tokenbook_protocol::PublicKey| set.get(key).is_some();
        let pending = match &self.proposed {
            Some(GovAction::AddValidator(v)) => !in_set(&v.consensus_key),
            Some(GovAction::RemoveValidator { consensus_key }) => in_set(consensus_key),
            _ => false,
        };
        if let (true, Some(action)) = (pending, &self.proposed) {
            return action.clone();
        }
        let outside =
            self.rotation.iter().find(|&&i| !in_set(&self.nodes[i].key.public_key())).copied();
        let action = match outside {
            Some(i) => {
                let key = self.nodes[i].key.public_key();
                GovAction::AddValidator(Validator {
                    consensus_key: key,
                    network_key: key,
                    power: 1,
                })
            }
            None => {
                let leaving = self.rotation[self.removals % self.rotation.len()];
                self.removals += 1;
                GovAction::RemoveValidator { consensus_key: self.nodes[leaving].key.public_key() }
            }
        };
        self.proposed = Some(action.clone());
        action
    }

    /// How many times the committed validator set changed.
    fn set_changes(&self) -> u64 {
        let sets: Vec<Hash> = self.committed.values().map(|c| c.validators).collect();
        sets.windows(2).filter(|w| w[0] != w[1]).count() as u64
    }

    fn sign(&mut self, member: usize, account: AccountId, body: TxBody) -> Tx {
        self.nonce += 1;
        let key = &self.members[member];
        let nonce = self.clock() + self.nonce % 1_000;
        TxPayload { account, signer: key.public_key(), nonce, body }.sign(key, CHAIN)
    }

    /// Draws the run's faults, all inside the fault window; after it everything is healed.
    fn schedule_faults(&mut self) {
        let f = self.cfg.faults;
        if !(f.drop || f.duplicate || f.reorder || f.partition || f.asymmetric || f.crash) {
            return;
        }
        self.heal_ms = FAULTS_FROM_MS + FAULT_WINDOW_MS;
        if f.drop {
            self.drop_per_mille = 20 + self.rng.below(200);
        }
        let n = self.nodes.len();
        let splits = u64::from(f.partition) * (1 + self.rng.below(2))
            + u64::from(f.asymmetric) * (1 + self.rng.below(2));
        for k in 0..splits {
            let one_way = f.asymmetric && (!f.partition || k % 2 == 1);
            let links = self.split(n, one_way);
            let from = FAULTS_FROM_MS + self.rng.below(FAULT_WINDOW_MS / 2);
            let until = from + 1_000 + self.rng.below(FAULT_WINDOW_MS / 2 - 1_000);
            self.queue.insert((from, self.seq + 1), Event::Cut(links.clone()));
            self.queue.insert((until, self.seq + 2), Event::Mend(links));
            self.seq += 2;
        }
        if f.crash {
            let honest: Vec<usize> =
                (0..n).filter(|&i| self.nodes[i].byzantine.is_none()).collect();
            for _ in 0..1 + self.rng.below(3) {
                let node = honest[self.rng.below(honest.len() as u64) as usize];
                let point = match self.rng.below(3) {
                    0 => CrashPoint::Idle,
                    1 => CrashPoint::BeforeSend,
                    _ => CrashPoint::MidWrite,
                };
                let at = FAULTS_FROM_MS + self.rng.below(FAULT_WINDOW_MS);
                self.seq += 1;
                self.queue.insert((at, self.seq), Event::Crash(node, point));
            }
            if self.rng.chance(300) {
                let at = FAULTS_FROM_MS + self.rng.below(FAULT_WINDOW_MS);
                self.seq += 1;
                self.queue.insert((at, self.seq), Event::CrashAll);
            }
        }
    }

    /// Links cut by a partition: a random group against the rest (one way if `one_way`).
    fn split(&mut self, n: usize, one_way: bool) -> BTreeSet<(usize, usize)> {
        let size = 1 + self.rng.below((n - 1) as u64) as usize;
        let mut group: BTreeSet<usize> = BTreeSet::new();
        while group.len() < size {
            group.insert(self.rng.below(n as u64) as usize);
        }
        let mut links = BTreeSet::new();
        for &a in &group {
            for b in (0..n).filter(|b| !group.contains(b)) {
                links.insert((a, b));
                if !one_way {
                    links.insert((b, a));
                }
            }
        }
        links
    }
}
