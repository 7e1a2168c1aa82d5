//! One simulated validator: the real core, its write-ahead records, its decided chain, and
//! (for Byzantine validators) how it misbehaves.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use tokenbook_consensus::{Consensus, Record, Verifier};
use tokenbook_protocol::{
    CommitCertificate, Hash, Height, Keypair, Proposal, PublicKey, Round, Signature, Vote, VoteKind,
};

/// How a Byzantine validator misbehaves (its core runs normally; its driver lies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// As proposer, sends one value to half the network and another to the other half.
    Equivocate,
    /// Sends every vote, and a conflicting one to half the network.
    DoubleVote,
    /// Sends nothing.
    Withhold,
    /// Behaves, and also sends validly signed votes for far rounds and far heights.
    FarRounds,
    /// Ignores its locks: prevotes and precommits every proposal it receives, to a random part
    /// of the network (the "amnesia" attack the paper's locks defend against).
    Amnesia,
}

impl Behaviour {
    /// The behaviour for a seed and a Byzantine validator's index.
    pub fn pick(seed: u64, index: usize) -> Self {
        match (seed.wrapping_add(index as u64)) % 5 {
            0 => Self::Equivocate,
            1 => Self::DoubleVote,
            2 => Self::Withhold,
            3 => Self::FarRounds,
            _ => Self::Amnesia,
        }
    }
}

/// A message on the simulated network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// A proposal (the block travels with it; the world knows every block).
    Proposal(Proposal),
    /// A vote.
    Vote(Vote),
    /// "Send me the decided block and certificate of this height."
    SyncRequest(Height),
    /// A decided block hash and its certificate.
    SyncReply(Height, Hash, Box<CommitCertificate>),
}

impl Msg {
    /// A short digest for the trace.
    pub fn digest(&self) -> u64 {
        let first8 = |s: &Signature| u64::from_le_bytes(s.0[..8].try_into().unwrap_or([0; 8]));
        match self {
            Self::Proposal(p) => first8(&p.signature),
            Self::Vote(v) => first8(&v.signature) ^ 1,
            Self::SyncRequest(h) => h.get() ^ 2,
            Self::SyncReply(h, v, _) => h.get() ^ u64::from(v.0[0]) ^ 3,
        }
    }
}

/// Signature checks with one cache of verdicts shared by all nodes of a run (a vote is checked
/// once, not once per receiver). Keyed by signer, SHA-256 of the signed bytes and signature.
#[derive(Clone, Debug, Default)]
pub struct SimVerifier(Rc<RefCell<Verdicts>>);

/// Verdicts by (signer, SHA-256 of the signed bytes, signature).
type Verdicts = BTreeMap<(PublicKey, Hash, [u8; 64]), bool>;

impl Verifier for SimVerifier {
    fn verify(&self, key: &PublicKey, preimage: &[u8], signature: &Signature) -> bool {
        let id = (*key, Hash::digest(preimage), signature.0);
        if let Some(verdict) = self.0.borrow().get(&id) {
            return *verdict;
        }
        let verdict = tokenbook_consensus::Ed25519.verify(key, preimage, signature);
        self.0.borrow_mut().insert(id, verdict);
        verdict
    }
}

/// One validator.
pub struct Node {
    /// Position in the world's list.
    pub index: usize,
    /// Consensus key.
    pub key: Keypair,
    /// `None` when honest.
    pub byzantine: Option<Behaviour>,
    /// The core; `None` while crashed.
    pub core: Option<Consensus<SimVerifier>>,
    /// Bumped at each crash: timers of an earlier life are ignored.
    pub epoch: u64,
    /// Durable records (survive crashes).
    pub wal: Vec<Record>,
    /// Decided (block hash, certificate) per height, from height 1 (survives crashes).
    pub chain: Vec<(Hash, CommitCertificate)>,
    /// Proposals received at the current height, by round (re-sent by gossip).
    pub proposals: BTreeMap<Round, Proposal>,
    /// Proposals for the next height, kept until it starts (bounded).
    pub early: Vec<Proposal>,
    /// A peer seen at a higher height (catch-up target).
    pub ahead: Option<usize>,
    /// Votes handed to the core at this height (for the evidence check).
    pub handed: BTreeMap<(PublicKey, Round, VoteKind), Option<Hash>>,
    /// Evidence reports so far (all heights).
    pub evidence_reports: u64,
    /// Equivocations the core has reported at this height.
    pub reported: BTreeSet<(PublicKey, Round, VoteKind)>,
    /// Simulated time of the last decision.
    pub last_decision_ms: u64,
    /// The node's ledger (with `Config::ledger`; survives crashes like a store).
    pub ledger: Option<tokenbook_ledger::LedgerState>,
    /// (height, round, step) at the last gossip tick: unchanged means stalled.
    pub last_gossip: Option<(Height, Round, tokenbook_consensus::Step)>,
}

/// Most next-height proposals kept.
pub const EARLY_KEPT: usize = 16;

impl Node {
    /// A new validator (not started).
    pub fn new(index: usize, key: Keypair, byzantine: Option<Behaviour>) -> Self {
        Self {
            index,
            key,
            byzantine,
            core: None,
            epoch: 0,
            wal: Vec::new(),
            chain: Vec::new(),
            proposals: BTreeMap::new(),
            early: Vec::new(),
            ahead: None,
            handed: BTreeMap::new(),
            reported: BTreeSet::new(),
            evidence_reports: 0,
            last_decision_ms: 0,
            last_gossip: None,
            ledger: None,
        }
    }

    /// The height the node is deciding (one above its chain).
    pub fn height(&self) -> Height {
        Height::new(self.chain.len() as u64 + 1)
    }

    /// Records of `height` from the write-ahead log.
    pub fn records_of(&self, height: Height) -> Vec<Record> {
        self.wal
            .iter()
            .filter(|r| match r {
                Record::Proposal(p) => p.payload.height == height,
                Record::Vote(v) => v.payload.height == height,
            })
            .copied()
            .collect()
    }

    /// Forgets per-height driver state when a new height starts.
    pub fn new_height(&mut self) {
        self.proposals.clear();
        self.handed.clear();
        self.reported.clear();
        // Records of decided heights are no longer needed.
        let height = self.height();
        self.wal.retain(|r| match r {
            Record::Proposal(p) => p.payload.height >= height,
            Record::Vote(v) => v.payload.height >= height,
        });
    }

    /// This node's own signed messages of the current height from rounds `from` on, from its
    /// write-ahead log (so they survive a restart), for gossip.
    pub fn own_messages(&self, from: Round) -> Vec<Msg> {
        let me = self.key.public_key();
        self.records_of(self.height())
            .into_iter()
            .filter_map(|r| match r {
                Record::Vote(v) if v.payload.validator == me && v.payload.round >= from => {
                    Some(Msg::Vote(v))
                }
                Record::Proposal(p) if p.payload.round >= from => Some(Msg::Proposal(p)),
                Record::Vote(_) | Record::Proposal(_) => None,
            })
            .collect()
    }

    /// Whether handing `vote` to the core must produce evidence; remembers it either way.
    /// Only votes the core is sure to count are tracked (its height, rounds in its window).
    pub fn expects_evidence(&mut self, vote: &Vote) -> bool {
        let Some(core) = &self.core else { return false };
        let p = vote.payload;
        let window = core.round().get().saturating_add(tokenbook_consensus::ROUNDS_AHEAD);
        if p.height != core.height() || p.round.get() > window {
            return false;
        }
        let key = (p.validator, p.round, p.kind);
        match self.handed.get(&key) {
            None => {
                self.handed.insert(key, p.value);
                false
            }
            Some(first) => *first != p.value && !self.reported.contains(&key),
        }
    }
}
