//! Four validators running the real driver, executor, store and mempool in one process, with
//! messages passed through the wire codec and a simulated clock: they commit blocks of txs with
//! the same state roots, and a restarted validator catches up.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

use common::*;
use std::collections::{BTreeMap, VecDeque};
use tokenbook_consensus::{Timeout, TimeoutParams};
use tokenbook_net::Message;
use tokenbook_node::driver::{Action, BlockLimits, Driver};
use tokenbook_node::executor::Executor;
use tokenbook_node::mempool::{Mempool, MempoolConfig};
use tokenbook_protocol::*;
use tokenbook_store::StoreConfig;

fn start(dir: &std::path::Path, i: usize, now: u64) -> (Driver, Vec<Action>) {
    let executor = Executor::open(dir, StoreConfig::new(CHAIN), &genesis()).unwrap();
    let mempool = Mempool::new(MempoolConfig::new(CHAIN));
    let limits = BlockLimits { max_txs: 1_000, max_bytes: 1 << 20, interval_ms: 20 };
    Driver::start(executor, mempool, key(100 + i as u64), TimeoutParams::default(), limits, now)
        .unwrap()
}

struct Cluster {
    dirs: Vec<tempfile::TempDir>,
    drivers: Vec<Option<Driver>>,
    queue: VecDeque<(usize, usize, Vec<u8>)>,
    timers: BTreeMap<(u64, u64), (usize, Option<Timeout>)>,
    now: u64,
    seq: u64,
    roots: Vec<BTreeMap<Height, Hash>>,
    committed_txs: usize,
}

impl Cluster {
    fn new() -> Cluster {
        let mut c = Cluster {
            dirs: (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect(),
            drivers: Vec::new(),
            queue: VecDeque::new(),
            timers: BTreeMap::new(),
            now: GENESIS_MS + 1_000,
            seq: 0,
            roots: vec![BTreeMap::new(); NODES],
            committed_txs: 0,
        };
        for i in 0..NODES {
            let (driver, actions) = start(c.dirs[i].path(), i, c.now);
            c.drivers.push(Some(driver));
            c.carry_out(i, actions);
        }
        c
    }

    fn carry_out(&mut self, from: usize, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Broadcast(m) => {
                    let bytes = m.encode();
                    for to in (0..NODES).filter(|&to| to != from) {
                        self.queue.push_back((to, from, bytes.clone()));
                    }
                }
                Action::Send(to, m) => self.queue.push_back((to as usize, from, m.encode())),
                Action::Schedule { timeout, after_ms } => {
                    self.seq += 1;
                    self.timers.insert((self.now + after_ms, self.seq), (from, Some(timeout)));
                }
                Action::NextHeight { after_ms } => {
                    self.seq += 1;
                    self.timers.insert((self.now + after_ms, self.seq), (from, None));
                }
                Action::Committed { height, root, receipts } => {
                    assert!(
                        self.roots[from].insert(height, root).is_none(),
                        "node {from} committed {height} twice"
                    );
                    if from == 0 {
                        self.committed_txs += receipts.receipts.len();
                    }
                }
                Action::Evidence(e) => panic!("honest validators equivocated: {e:?}"),
                Action::Penalize(peer, why) => panic!("node {from} penalized honest {peer}: {why}"),
            }
        }
    }

    /// Delivers one message or fires the next timer; false when nothing is left.
    fn step(&mut self) -> bool {
        if let Some((to, from, bytes)) = self.queue.pop_front() {
            let message = Message::decode(&bytes).unwrap();
            let now = self.now;
            if let Some(driver) = self.drivers[to].as_mut() {
                let actions = driver.on_message(from as u64, message, now).unwrap();
                self.carry_out(to, actions);
            }
            return true;
        }
        let Some((&(at, seq), &(node, timeout))) = self.timers.iter().next() else { return false };
        self.timers.remove(&(at, seq));
        self.now = self.now.max(at);
        let now = self.now;
        if let Some(driver) = self.drivers[node].as_mut() {
            let actions = match timeout {
                Some(timeout) => driver.on_timeout(timeout, now).unwrap(),
                None => driver.start_next_height(now).unwrap(),
            };
            self.carry_out(node, actions);
        }
        true
    }

    fn run_until(&mut self, height: u64, nodes: &[usize]) {
        for _ in 0..200_000 {
            let done = nodes
                .iter()
                .all(|&i| self.drivers[i].as_ref().is_some_and(|d| d.height().get() > height));
            if done || !self.step() {
                break;
            }
        }
        for &i in nodes {
            let h = self.drivers[i].as_ref().unwrap().height().get();
            assert!(h > height, "node {i} stuck at height {h}");
        }
    }

    fn submit(&mut self, node: usize, txs: Vec<Tx>) {
        let (verdicts, actions) = self.drivers[node].as_mut().unwrap().submit(txs);
        assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
        self.carry_out(node, actions);
    }

    fn assert_same_roots(&self) {
        let reference = &self.roots[0];
        for (i, roots) in self.roots.iter().enumerate() {
            for (height, root) in roots {
                if let Some(r) = reference.get(height) {
                    assert_eq!(root, r, "node {i} root at {height}");
                }
            }
        }
    }
}

#[test]
fn four_validators_commit_the_same_blocks_and_roots() {
    let mut c = Cluster::new();
    c.submit(1, registrations(0, 40));
    c.run_until(5, &[0, 1, 2, 3]);
    c.assert_same_roots();
    assert_eq!(c.committed_txs, 40, "every submitted tx committed once");
    let d0 = c.drivers[0].as_ref().unwrap();
    // The members, the admin and the 40 registered accounts.
    assert_eq!(d0.executor().ledger().accounts.len(), NODES + 1 + 40);
    assert!(d0.mempool().is_empty());
    for d in c.drivers.iter().flatten() {
        assert_eq!(d.executor().root(), c.drivers[0].as_ref().unwrap().executor().root());
    }
}

#[test]
fn a_restarted_validator_resumes_and_catches_up() {
    let mut c = Cluster::new();
    c.run_until(2, &[0, 1, 2, 3]);
    // Node 3 stops; the other three (a quorum) go on.
    c.drivers[3] = None;
    c.submit(0, registrations(100, 10));
    c.run_until(8, &[0, 1, 2]);
    // It restarts from its store and catches up from its peers.
    let (driver, actions) = start(c.dirs[3].path(), 3, c.now);
    assert!(driver.height().get() <= 4, "restarted at {}", driver.height());
    c.drivers[3] = Some(driver);
    c.carry_out(3, actions);
    c.run_until(12, &[0, 1, 2, 3]);
    c.assert_same_roots();
    // The restarted node committed every height it missed (through sync or consensus).
    let first_missed = 4;
    for h in first_missed..=12 {
        assert!(c.roots[3].contains_key(&Height::new(h)), "node 3 never committed height {h}");
    }
    let registered = c.drivers[3].as_ref().unwrap().executor().ledger().accounts.len();
    assert_eq!(registered, NODES + 1 + 10);
}
