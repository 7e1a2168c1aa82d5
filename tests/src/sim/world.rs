//! The event loop: time, network, faults, the app, and the checks.

use super::app::App;
use super::node::{Behaviour, EARLY_KEPT, Msg, Node, SimVerifier};
use super::{CHAIN, Config, LIVENESS_BOUND_MS, Report, Rng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tokenbook_consensus::{
    Consensus, HeightStart, Input, Output, Timeout, TimeoutParams, Validity, verify_certificate,
};
use tokenbook_protocol::{
    Block, CommitCertificate, Hash, Height, Keypair, Proposal, ProposalPayload, Round, Validator,
    ValidatorSet, Vote, VoteKind, VotePayload,
};

/// Gossip period: each live node re-sends its own messages of the height and asks peers ahead of
/// it for the blocks it missed.
const GOSSIP_MS: u64 = 250;
/// When faults start.
const FAULTS_FROM_MS: u64 = 1_000;
/// How long faults last.
const FAULT_WINDOW_MS: u64 = 20_000;
/// Heights between validator-set changes (when enabled).
const SET_CHANGE_EVERY: u64 = 50;

enum Event {
    Deliver {
        to: usize,
        from: usize,
        msg: Msg,
    },
    Timeout {
        node: usize,
        epoch: u64,
        timeout: Timeout,
    },
    Gossip {
        node: usize,
        epoch: u64,
    },
    Crash(usize),
    Restart(usize),
    /// Blocks the links `(from, to)` in the set until the heal.
    Cut(BTreeSet<(usize, usize)>),
    Mend(BTreeSet<(usize, usize)>),
}

struct World {
    cfg: Config,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Event>,
    nodes: Vec<Node>,
    cut: BTreeMap<(usize, usize), u32>,
    heal_ms: u64,
    decisions: BTreeMap<Height, Hash>,
    /// Every block ever built: hash → (height, valid).
    blocks: BTreeMap<Hash, (Height, bool)>,
    verifier: SimVerifier,
    /// The ledger app and every block body built (with `Config::ledger`).
    app: Option<App>,
    bodies: BTreeMap<Hash, Block>,
    /// The state root the first honest node reached at each height.
    roots: BTreeMap<Height, Hash>,
    /// Fills in the decided blocks (counted once per height).
    fills: u64,
    violations: Vec<String>,
    trace: u64,
    events: u64,
    evidence: u64,
    drop_per_mille: u64,
}

/// Runs one seed to the end (every honest node at the target height, or a violation).
#[must_use]
pub fn run(cfg: &Config) -> Report {
    let mut world = World::new(*cfg);
    world.schedule_faults();
    for i in 0..world.nodes.len() {
        world.start_node(i);
    }
    while world.violations.is_empty() && !world.done() {
        let Some(((time, _), event)) = world.queue.pop_first() else {
            world.violations.push(format!("queue ran dry at {} ms", world.now));
            break;
        };
        world.now = time;
        world.step(event);
        world.check_liveness();
    }
    Report {
        seed: cfg.seed,
        decided: world.honest().map(|n| n.chain.len() as u64).min().unwrap_or(0),
        violations: world.violations,
        trace: world.trace,
        events: world.events,
        time_ms: world.now,
        evidence: world.evidence,
        fills: world.fills,
        nodes: world.nodes.iter().map(describe).collect(),
    }
}

fn describe(n: &Node) -> String {
    let role = n.byzantine.map_or("honest".to_owned(), |b| format!("{b:?}"));
    match &n.core {
        Some(c) => format!(
            "node {} ({role}): height {} round {} step {:?} locked {:?} valid round {:?}",
            n.index,
            c.height(),
            c.round(),
            c.step(),
            c.locked().map(|(r, v)| (r.get(), v.to_string()[..8].to_owned())),
            c.valid_round().map(Round::get),
        ),
        None => format!("node {} ({role}): crashed at height {}", n.index, n.height()),
    }
}

impl World {
    fn new(cfg: Config) -> Self {
        let nodes: Vec<Node> = (0..cfg.validators)
            .map(|i| {
                let mut seed = [0x51u8; 32];
                seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
                seed[8..16].copy_from_slice(&cfg.seed.to_le_bytes());
                // The last `byzantine` validators misbehave.
                let byzantine = (i >= cfg.validators - cfg.byzantine.min(cfg.validators))
                    .then(|| Behaviour::pick(cfg.seed, i));
                Node::new(i, Keypair::from_seed(&seed), byzantine)
            })
            .collect();
        let keys: Vec<_> = nodes.iter().map(|n: &Node| n.key.public_key()).collect();
        let app = cfg.ledger.then(|| App::new(&keys, cfg.seed));
        let mut nodes = nodes;
        for node in &mut nodes {
            node.ledger = app.as_ref().map(App::ledger);
        }
        Self {
            cfg,
            rng: Rng(cfg.seed),
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            nodes,
            cut: BTreeMap::new(),
            heal_ms: 0,
            decisions: BTreeMap::new(),
            blocks: BTreeMap::new(),
            verifier: SimVerifier::default(),
            app,
            bodies: BTreeMap::new(),
            roots: BTreeMap::new(),
            fills: 0,
            violations: Vec::new(),
            trace: 0xcbf2_9ce4_8422_2325,
            events: 0,
            evidence: 0,
            drop_per_mille: 0,
        }
    }

    fn honest(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.byzantine.is_none())
    }

    fn done(&self) -> bool {
        self.honest().all(|n| n.chain.len() as u64 >= self.cfg.heights)
    }

    fn at(&mut self, delay_ms: u64, event: Event) {
        self.seq += 1;
        self.queue.insert((self.now + delay_ms, self.seq), event);
    }

    fn mix(&mut self, value: u64) {
        self.trace = (self.trace ^ value).wrapping_mul(0x0100_0000_01b3);
    }

    // ---- the app ------------------------------------------------------------------------------

    /// The validator set of a height: every validator has power 1; with set changes on, one
    /// honest validator at a time has power 2, changing every [`SET_CHANGE_EVERY`] heights
    /// (decided at `h`, in force at `h + 2`). Byzantine power stays below a third.
    fn validators(&self, height: Height) -> ValidatorSet {
        let honest = self.cfg.validators - self.cfg.byzantine;
        let heavy = (self.cfg.faults.set_changes && honest > 0)
            .then(|| (height.get().saturating_sub(2) / SET_CHANGE_EVERY) as usize % honest);
        let validators = self
            .nodes
            .iter()
            .map(|n| Validator {
                consensus_key: n.key.public_key(),
                network_key: n.key.public_key(),
                power: if Some(n.index) == heavy { 2 } else { 1 },
            })
            .collect();
        ValidatorSet::new(validators).unwrap_or_else(|e| panic!("validator set: {e}"))
    }

    /// A new block for (height, round) by `node`; honest blocks are valid.
    fn build_block(&mut self, node: usize, height: Height, round: Round, valid: bool) -> Hash {
        if let (Some(app), Some(ledger)) = (&self.app, &self.nodes[node].ledger) {
            let proposer = self.nodes[node].key.public_key();
            let mut block = app.build(ledger, proposer, self.now, &mut self.rng);
            while self.bodies.contains_key(&block.hash()) {
                block.header.time = tokenbook_protocol::Timestamp::new(block.header.time.get() + 1);
            }
            let value = block.hash();
            self.blocks.insert(value, (height, valid));
            self.bodies.insert(value, block);
            return value;
        }
        let mut bytes = Vec::new();
        for part in [self.cfg.seed, height.get(), u64::from(round.get()), node as u64, self.seq] {
            bytes.extend_from_slice(&part.to_le_bytes());
        }
        let value = Hash::digest(&bytes);
        self.blocks.insert(value, (height, valid));
        value
    }

    /// Node `i`'s verdict on a proposal: a block the app built valid for that height, and with
    /// the ledger, one that extends the node's own state.
    fn validity(&self, i: usize, proposal: &Proposal) -> Validity {
        let value = proposal.payload.value;
        let known =
            matches!(self.blocks.get(&value), Some((h, true)) if *h == proposal.payload.height);
        let extends = match (&self.nodes[i].ledger, self.bodies.get(&value)) {
            (Some(ledger), Some(block)) => App::valid(ledger, block),
            (Some(_), None) => false,
            (None, _) => true,
        };
        if known && extends { Validity::Valid } else { Validity::Invalid }
    }

    // ---- nodes --------------------------------------------------------------------------------

    fn start_node(&mut self, i: usize) {
        let height = self.nodes[i].height();
        let start = HeightStart {
            height,
            validators: self.validators(height),
            next_validators: self.validators(Height::new(height.get() + 1)),
            records: self.nodes[i].records_of(height),
        };
        let key = Keypair::from_seed(&self.nodes[i].key.seed());
        let (core, out) =
            Consensus::new(CHAIN, key, TimeoutParams::default(), self.verifier.clone(), start);
        self.nodes[i].core = Some(core);
        self.nodes[i].last_decision_ms = self.nodes[i].last_decision_ms.max(self.now);
        let epoch = self.nodes[i].epoch;
        self.at(GOSSIP_MS, Event::Gossip { node: i, epoch });
        self.carry_out(i, out);
        self.feed_early(i);
    }

    /// Hands proposals kept for this height to the core.
    fn feed_early(&mut self, i: usize) {
        let height = self.nodes[i].height();
        let early = std::mem::take(&mut self.nodes[i].early);
        for proposal in early.into_iter().filter(|p| p.payload.height == height) {
            self.deliver_proposal(i, proposal);
        }
    }

    fn handle(&mut self, i: usize, input: Input) {
        let Some(core) = self.nodes[i].core.as_mut() else { return };
        let out = core.handle(input);
        self.carry_out(i, out);
    }

    /// Carries out a core's outputs in order (each may lead to more).
    fn carry_out(&mut self, i: usize, out: Vec<Output>) {
        let mut work: VecDeque<Output> = out.into();
        while let Some(output) = work.pop_front() {
            let more = self.carry_out_one(i, output);
            work.extend(more);
        }
    }

    fn carry_out_one(&mut self, i: usize, output: Output) -> Vec<Output> {
        match output {
            Output::Persist(record) => self.nodes[i].wal.push(record),
            Output::BroadcastProposal(p) => self.send_proposal(i, p),
            Output::BroadcastVote(v) => self.send_vote(i, v),
            Output::ScheduleTimeout { timeout, after_ms } => {
                let epoch = self.nodes[i].epoch;
                self.at(after_ms, Event::Timeout { node: i, epoch, timeout });
            }
            Output::RequestValue { height, round } => {
                let value = self.build_block(i, height, round, true);
                let core = self.nodes[i].core.as_mut();
                return core
                    .map(|c| c.handle(Input::Value { height, round, value }))
                    .unwrap_or_default();
            }
            Output::Decide { height, value, certificate } => {
                return self.decide(i, height, value, certificate);
            }
            Output::Evidence(evidence) => {
                let p = evidence.first.payload;
                self.nodes[i].reported.insert((p.validator, p.round, p.kind));
                self.nodes[i].evidence_reports += 1;
                if self.nodes[i].byzantine.is_none() {
                    self.evidence += 1;
                }
            }
        }
        Vec::new()
    }

    /// A decision (from the core, or from a verified certificate when catching up): checks it,
    /// extends the chain and starts the next height.
    fn decide(
        &mut self,
        i: usize,
        height: Height,
        value: Hash,
        certificate: CommitCertificate,
    ) -> Vec<Output> {
        if self.nodes[i].height() != height {
            return Vec::new();
        }
        if self.nodes[i].byzantine.is_none() {
            self.check_decision(i, height, value, &certificate);
            self.maybe_isolate(i);
        }
        self.apply_decided(i, height, value);
        self.nodes[i].chain.push((value, certificate));
        self.nodes[i].last_decision_ms = self.now;
        self.nodes[i].new_height();
        let next = self.nodes[i].height();
        let start = HeightStart {
            height: next,
            validators: self.validators(next),
            next_validators: self.validators(Height::new(next.get() + 1)),
            records: self.nodes[i].records_of(next),
        };
        let out = self.nodes[i].core.as_mut().map(|c| c.start_height(start)).unwrap_or_default();
        let mut all = out;
        // Proposals kept for the new height go in after the start's own outputs.
        let early = std::mem::take(&mut self.nodes[i].early);
        for proposal in early.into_iter().filter(|p| p.payload.height == next) {
            let validity = self.validity(i, &proposal);
            self.nodes[i].proposals.insert(proposal.payload.round, proposal);
            if let Some(core) = self.nodes[i].core.as_mut() {
                all.extend(core.handle(Input::Proposal(proposal, validity)));
            }
        }
        all
    }

    /// With the ledger: applies the decided block and compares the state root with the other
    /// honest nodes'.
    fn apply_decided(&mut self, i: usize, height: Height, value: Hash) {
        let Some(block) = self.bodies.get(&value) else { return };
        let Some(ledger) = self.nodes[i].ledger.as_mut() else { return };
        match App::apply(ledger, block) {
            Err(e) => self.violations.push(format!("ledger: node {i} cannot apply height {height}: {e}")),
            Ok((root, fills)) if self.nodes[i].byzantine.is_none() => match self.roots.get(&height) {
                Some(first) if *first != root => self.violations.push(format!(
                    "state root: node {i} has {root} after height {height}, another honest node {first}"
                )),
                Some(_) => {}
                None => {
                    self.roots.insert(height, root);
                    self.fills += fills;
                }
            },
            Ok(_) => {}
        }
    }

    fn check_decision(&mut self, i: usize, height: Height, value: Hash, cert: &CommitCertificate) {
        match self.decisions.get(&height) {
            Some(agreed) if *agreed != value => self.violations.push(format!(
                "agreement: node {i} decided {value} at height {height}, another honest node {agreed}"
            )),
            Some(_) => {}
            None => {
                self.decisions.insert(height, value);
            }
        }
        if self.blocks.get(&value) != Some(&(height, true)) {
            self.violations
                .push(format!("validity: node {i} decided an invalid block at {height}"));
        }
        let set = self.validators(height);
        let verdict = verify_certificate(cert, &set, CHAIN, &self.verifier);
        if cert.block_hash != value || cert.height != height || verdict.is_err() {
            self.violations.push(format!(
                "certificate: node {i}'s certificate for height {height} does not verify: {verdict:?}"
            ));
        }
    }

    // ---- sending ------------------------------------------------------------------------------

    fn others(&self, i: usize) -> Vec<usize> {
        (0..self.nodes.len()).filter(|j| *j != i).collect()
    }

    fn send(&mut self, from: usize, to: usize, msg: Msg) {
        if self.cut.contains_key(&(from, to)) {
            return;
        }
        let faulty = self.now < self.heal_ms;
        if faulty && self.rng.chance(self.drop_per_mille) {
            return;
        }
        let copies = if faulty && self.cfg.faults.duplicate && self.rng.chance(50) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = if faulty && self.cfg.faults.reorder {
                // Mostly below the timeouts, sometimes well beyond them (rounds race).
                if self.rng.chance(100) {
                    1 + self.rng.below(6_000)
                } else {
                    1 + self.rng.below(800)
                }
            } else {
                5 + self.rng.below(35)
            };
            self.at(delay, Event::Deliver { to, from, msg: msg.clone() });
        }
    }

    fn broadcast(&mut self, from: usize, msg: &Msg) {
        for to in self.others(from) {
            self.send(from, to, msg.clone());
        }
    }

    fn send_proposal(&mut self, i: usize, proposal: Proposal) {
        let msg = Msg::Proposal(proposal);
        match self.nodes[i].byzantine {
            Some(Behaviour::Withhold) => {}
            Some(Behaviour::Equivocate) => {
                let p = proposal.payload;
                let other = self.build_block(i, p.height, p.round, true);
                let second = ProposalPayload { value: other, ..p }.sign(&self.nodes[i].key, CHAIN);
                let others = self.others(i);
                let half = others.len() / 2;
                for (k, to) in others.into_iter().enumerate() {
                    let m = if k < half { msg.clone() } else { Msg::Proposal(second) };
                    self.send(i, to, m);
                }
            }
            _ => {
                self.broadcast(i, &msg);
            }
        }
    }

    fn send_vote(&mut self, i: usize, vote: Vote) {
        let msg = Msg::Vote(vote);
        match self.nodes[i].byzantine {
            Some(Behaviour::Withhold) => {}
            Some(Behaviour::DoubleVote) => {
                // Each peer gets the real vote, the conflicting one, both, or nothing: peers see
                // different quorums, and some see the equivocation itself.
                let p = vote.payload;
                let value = match p.value {
                    Some(_) => None,
                    None => Some(Hash::digest(&self.seq.to_le_bytes())),
                };
                let conflicting = VotePayload { value, ..p }.sign(&self.nodes[i].key, CHAIN);
                for to in self.others(i) {
                    let choice = self.rng.below(4);
                    if choice & 1 == 0 {
                        self.send(i, to, msg.clone());
                    }
                    if choice >= 2 {
                        self.send(i, to, Msg::Vote(conflicting));
                    }
                }
            }
            Some(Behaviour::FarRounds) => {
                self.broadcast(i, &msg);
                let p = vote.payload;
                let far_round = Round::new(
                    p.round.get().saturating_add(1_000 + self.rng.below(1_000_000) as u32),
                );
                let far = VotePayload { round: far_round, ..p }.sign(&self.nodes[i].key, CHAIN);
                let far_height = Height::new(p.height.get() + 3);
                let ahead = VotePayload { height: far_height, ..p }.sign(&self.nodes[i].key, CHAIN);
                self.broadcast(i, &Msg::Vote(far));
                self.broadcast(i, &Msg::Vote(ahead));
            }
            _ => {
                self.broadcast(i, &msg);
            }
        }
    }

    // ---- receiving ----------------------------------------------------------------------------

    fn step(&mut self, event: Event) {
        self.events += 1;
        self.mix(self.now);
        match event {
            Event::Deliver { to, from, msg } => {
                self.mix(msg.digest() ^ (to as u64) << 56);
                if self.nodes[to].core.is_some() {
                    self.deliver(to, from, msg);
                }
            }
            Event::Timeout { node, epoch, timeout } => {
                self.mix(u64::from(timeout.round.get()) ^ 0x77);
                if self.nodes[node].epoch == epoch {
                    self.handle(node, Input::Timeout(timeout));
                }
            }
            Event::Gossip { node, epoch } => {
                if self.nodes[node].epoch == epoch && self.nodes[node].core.is_some() {
                    self.gossip(node);
                    self.at(GOSSIP_MS, Event::Gossip { node, epoch });
                }
            }
            Event::Crash(node) => {
                self.mix(0xc0 ^ node as u64);
                self.nodes[node].core = None;
                self.nodes[node].epoch += 1;
                self.nodes[node].early.clear();
            }
            Event::Restart(node) => {
                self.mix(0x5e ^ node as u64);
                self.nodes[node].new_height();
                self.start_node(node);
            }
            Event::Cut(links) => {
                for link in links {
                    *self.cut.entry(link).or_default() += 1;
                }
            }
            Event::Mend(links) => {
                for link in links {
                    if let Some(n) = self.cut.get_mut(&link) {
                        *n -= 1;
                        if *n == 0 {
                            self.cut.remove(&link);
                        }
                    }
                }
            }
        }
    }

    fn deliver(&mut self, to: usize, from: usize, msg: Msg) {
        let height = self.nodes[to].height();
        match msg {
            Msg::Proposal(p) if p.payload.height == height => self.deliver_proposal(to, p),
            Msg::Proposal(p) => {
                if p.payload.height.get() == height.get() + 1 {
                    let early = &mut self.nodes[to].early;
                    if early.len() < EARLY_KEPT && !early.contains(&p) {
                        early.push(p);
                    }
                }
                self.note_height(to, from, p.payload.height);
            }
            Msg::Vote(v) => {
                self.note_height(to, from, v.payload.height);
                let expects =
                    self.nodes[to].byzantine.is_none() && self.nodes[to].expects_evidence(&v);
                let before = self.nodes[to].evidence_reports;
                self.handle(to, Input::Vote(v));
                if expects && self.nodes[to].evidence_reports == before {
                    let p = v.payload;
                    let first = self.nodes[to].handed.get(&(p.validator, p.round, p.kind));
                    self.violations.push(format!(
                        "evidence: node {to} was shown two {:?}s of {} for height {} round {} \
                         ({first:?}, then {:?}) and reported nothing",
                        p.kind, p.validator, p.height, p.round, p.value
                    ));
                }
            }
            Msg::SyncRequest(h) => {
                let reply = self.nodes[to].chain.get((h.get() as usize).wrapping_sub(1)).cloned();
                if let Some((value, certificate)) = reply {
                    self.send(to, from, Msg::SyncReply(h, value, Box::new(certificate)));
                }
            }
            Msg::SyncReply(h, value, certificate) => self.catch_up(to, h, value, *certificate),
        }
    }

    fn deliver_proposal(&mut self, to: usize, proposal: Proposal) {
        if self.nodes[to].byzantine == Some(Behaviour::Amnesia) {
            self.amnesia_votes(to, &proposal);
        }
        let validity = self.validity(to, &proposal);
        self.nodes[to].proposals.entry(proposal.payload.round).or_insert(proposal);
        self.handle(to, Input::Proposal(proposal, validity));
    }

    /// An amnesiac validator prevotes and precommits whatever it is proposed, to a random part
    /// of the network.
    fn amnesia_votes(&mut self, i: usize, proposal: &Proposal) {
        let p = proposal.payload;
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            let payload = VotePayload {
                kind,
                height: p.height,
                round: p.round,
                value: Some(p.value),
                validator: self.nodes[i].key.public_key(),
            };
            let vote = payload.sign(&self.nodes[i].key, CHAIN);
            for to in self.others(i) {
                if self.rng.chance(600) {
                    self.send(i, to, Msg::Vote(vote));
                }
            }
        }
    }

    /// A message from a higher height: that peer can fill in what this node missed.
    fn note_height(&mut self, to: usize, from: usize, height: Height) {
        if height > self.nodes[to].height() {
            self.nodes[to].ahead = Some(from);
        }
    }

    /// Applies a decided block received from a peer, after checking its certificate.
    fn catch_up(&mut self, i: usize, height: Height, value: Hash, certificate: CommitCertificate) {
        if self.nodes[i].height() != height || self.nodes[i].core.is_none() {
            return;
        }
        let set = self.validators(height);
        let valid = certificate.height == height
            && certificate.block_hash == value
            && verify_certificate(&certificate, &set, CHAIN, &self.verifier).is_ok();
        if valid {
            let out = self.decide(i, height, value, certificate);
            self.carry_out(i, out);
        }
    }

    fn gossip(&mut self, i: usize) {
        if self.nodes[i].byzantine == Some(Behaviour::Withhold) {
            return;
        }
        let round = self.nodes[i].core.as_ref().map(tokenbook_consensus::Consensus::round);
        // Own messages of this round and the one before, from the log: a peer still in the
        // previous round needs this node's votes of it to move on (L47, L65), also after this
        // node restarted.
        let from = Round::new(round.map_or(0, |r| r.get().saturating_sub(1)));
        for msg in self.nodes[i].own_messages(from) {
            self.broadcast(i, &msg);
        }
        // Stalled since the last tick: relay what this validator has seen, as Tendermint's gossip
        // does (a correct validator's view eventually reaches every correct validator): the
        // current round's votes, and the prevotes of its valid round — the polka a proposal
        // re-proposing that value needs (L28).
        let state = self.nodes[i].core.as_ref().map(|c| (c.height(), c.round(), c.step()));
        let stalled = state.is_some() && state == self.nodes[i].last_gossip;
        self.nodes[i].last_gossip = state;
        if stalled && self.nodes[i].byzantine.is_none() {
            for msg in self.relayed(i) {
                self.broadcast(i, &msg);
            }
        }
        if let Some(p) = round.and_then(|r| self.nodes[i].proposals.get(&r).copied()) {
            self.broadcast(i, &Msg::Proposal(p));
        }
        if let Some(peer) = self.nodes[i].ahead.take() {
            let height = self.nodes[i].height();
            self.send(i, peer, Msg::SyncRequest(height));
        }
    }

    /// The votes a stalled node relays.
    fn relayed(&self, i: usize) -> Vec<Msg> {
        let Some(core) = &self.nodes[i].core else { return Vec::new() };
        let mut votes = core.votes(core.round(), VoteKind::Prevote);
        votes.extend(core.votes(core.round(), VoteKind::Precommit));
        if let Some(valid) = core.valid_round().filter(|r| *r != core.round()) {
            votes.extend(core.votes(valid, VoteKind::Prevote));
        }
        votes.into_iter().map(Msg::Vote).collect()
    }

    // ---- faults -------------------------------------------------------------------------------

    /// Draws the run's faults, all inside the fault window; after it everything is healed.
    fn schedule_faults(&mut self) {
        let f = self.cfg.faults;
        let any = f.drop || f.duplicate || f.reorder || f.partition || f.asymmetric || f.crash;
        if !any {
            return;
        }
        self.heal_ms = FAULTS_FROM_MS + FAULT_WINDOW_MS;
        if f.drop {
            self.drop_per_mille = 20 + self.rng.below(280);
        }
        let n = self.nodes.len();
        for _ in 0..if f.partition { 1 + self.rng.below(3) } else { 0 } {
            let links = self.split(n, false);
            self.window_event(links);
        }
        for _ in 0..if f.asymmetric { 1 + self.rng.below(3) } else { 0 } {
            let links = self.split(n, true);
            self.window_event(links);
        }
        if f.crash {
            let honest = self.cfg.validators - self.cfg.byzantine;
            for _ in 0..1 + self.rng.below(2) {
                let node = self.rng.below(honest as u64) as usize;
                let down = FAULTS_FROM_MS + self.rng.below(FAULT_WINDOW_MS / 2);
                let up = down + 500 + self.rng.below(FAULT_WINDOW_MS / 4);
                self.now = down;
                self.at(0, Event::Crash(node));
                self.now = up;
                self.at(0, Event::Restart(node));
            }
            self.now = 0;
        }
    }

    /// The adversary's favourite partition: cut off a node the moment it decides, so the others
    /// cannot learn the decision and must go on to later rounds without it (what locks are for).
    fn maybe_isolate(&mut self, i: usize) {
        let window = self.now >= FAULTS_FROM_MS && self.now < self.heal_ms.saturating_sub(6_000);
        if !(window && self.cfg.faults.partition && self.rng.chance(100)) {
            return;
        }
        let n = self.nodes.len();
        let links: BTreeSet<(usize, usize)> =
            (0..n).filter(|j| *j != i).flat_map(|j| [(i, j), (j, i)]).collect();
        let until = 1_000 + self.rng.below(5_000);
        self.at(0, Event::Cut(links.clone()));
        self.at(until, Event::Mend(links));
    }

    /// A random cut: the links between a random group and the rest (one way if `one_way`).
    fn split(&mut self, n: usize, one_way: bool) -> BTreeSet<(usize, usize)> {
        let group: Vec<bool> = (0..n).map(|_| self.rng.chance(500)).collect();
        let mut links = BTreeSet::new();
        for a in 0..n {
            for b in 0..n {
                if group[a] && !group[b] {
                    links.insert((a, b));
                    if !one_way {
                        links.insert((b, a));
                    }
                }
            }
        }
        links
    }

    /// Cuts `links` for 1–6 s somewhere in the fault window.
    fn window_event(&mut self, links: BTreeSet<(usize, usize)>) {
        let from = FAULTS_FROM_MS + self.rng.below(FAULT_WINDOW_MS - 6_000);
        let until = from + 1_000 + self.rng.below(5_000);
        self.now = from;
        self.at(0, Event::Cut(links.clone()));
        self.now = until;
        self.at(0, Event::Mend(links));
        self.now = 0;
    }

    fn check_liveness(&mut self) {
        if self.now < self.heal_ms {
            return;
        }
        let target = self.cfg.heights;
        let since = self.heal_ms;
        let stuck: Vec<(usize, u64)> = self
            .honest()
            .filter(|n| (n.chain.len() as u64) < target)
            .filter(|n| self.now - n.last_decision_ms.max(since) > LIVENESS_BOUND_MS)
            .map(|n| (n.index, n.chain.len() as u64))
            .collect();
        for (node, height) in stuck {
            self.violations.push(format!(
                "liveness: node {node} decided nothing for {LIVENESS_BOUND_MS} ms after the faults \
                 healed (at height {height}, time {} ms)",
                self.now
            ));
        }
    }
}
