//! The driver: the consensus core, the executor and the mempool joined, without I/O.
//!
//! It reacts to messages, timeouts and submitted txs and answers with [`Action`]s for the
//! runtime to carry out (send, broadcast, schedule a timer, report a commit). No clock, socket or
//! thread is touched here, so the same code runs under tokio with libp2p and in deterministic
//! in-process tests.
//!
//! Promises:
//! - **Persist before send**: every record the core asks to persist is appended to the store
//!   (synced) before any action that follows it is returned; a restarted node resumes its height
//!   from those records and never signs a conflicting message.
//! - A proposal is judged with [`Executor::validate`] — valid or invalid, never a reason to
//!   stop — as a function of the block, the committed state and this node's clock alone (not of
//!   what the mempool holds). A decided block is committed through the executor (one synced
//!   write), the mempool is re-checked, and the next height starts with the validator sets the
//!   ledger schedules.
//! - **A block is stored before a vote for it leaves**: the first record persisted for a round
//!   whose value is a block (this node's proposal, or its vote for another's) is preceded, in
//!   the same synced write, by that round's proposal with its block and the certificate its
//!   header names. A restarted node holds every block it voted for and can decide it.
//! - A proposal this node sends carries the certificate of the previous height that its block's
//!   header names (a re-proposed block keeps the certificate it came with).
//! - A node behind catches up from [`Message::SyncReply`]: the certificate is verified against
//!   the ledger's validator set for that height before the block is applied. Replies may arrive
//!   in any order; those for later heights wait (bounded) for the ones before them.
//! - A divergence (a block more than two thirds certified whose state root this node cannot
//!   reproduce) or a store failure stops the driver ([`DriverError`]).

use crate::ahead::Ahead;
use crate::executor::{ExecError, Executor, Proposed};
use crate::mempool::{AdmitError, Mempool};
use crate::snapshots::SnapshotServer;
use crate::storage::ChainStore;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tokenbook_consensus::{
    Consensus, Ed25519, HeightStart, Input, Output, ROUNDS_AHEAD, Record, Signer, Timeout,
    TimeoutParams, Validity, Verifier, verify_certificate,
};
use tokenbook_ledger::BlockReceipts;
use tokenbook_protocol::codec::{decode, encode};
use tokenbook_protocol::message::Message;
use tokenbook_protocol::{
    Block, CommitCertificate, Hash, Height, Proposal, PublicKey, Round, Tx, Vote, VoteKind,
};
use tokenbook_store::Store;

/// Who a message came from or goes to (the runtime's peer handle).
pub type Peer = u64;

/// Most decided blocks sent in answer to one sync request.
pub const SYNC_BATCH: u64 = 64;
/// A sync request for a height is repeated after this long without progress (ms).
pub const SYNC_RETRY_MS: u64 = 1_000;
/// Most block bytes (roughly) sent in answer to one sync request.
pub const SYNC_REPLY_BYTES: usize = 16 << 20;
/// A peer's sync requests are served at most once per this long (ms).
pub const SYNC_SERVE_MS: u64 = 250;
/// A proposal or vote for the height this node last committed, arriving this long after the
/// commit (ms), shows its sender still deciding that height (not a message already in flight
/// when the height was decided): the block and its certificate are sent to it unasked.
pub const LAGGING_PEER_MS: u64 = 200;
/// Most proposals kept for the next height while this one is still being decided (also at
/// most one per validator of that height).
const EARLY_PROPOSALS: usize = 64;
/// This node re-sends its own messages of the current and previous round, and relays what it
/// has seen when it has not moved on, this often (ms; docs/adr/0006 §5).
pub const GOSSIP_MS: u64 = 500;
/// Record tags in the store's consensus log.
const TAG_PROPOSAL: u8 = 0;
const TAG_VOTE: u8 = 1;
/// A proposal with its block and certificate, stored before this node votes for the block.
const TAG_BLOCK: u8 = 2;

/// What the runtime must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send to every validator.
    Broadcast(Message),
    /// Send to one peer.
    Send(Peer, Message),
    /// Call [`Driver::on_timeout`] after `after_ms`.
    Schedule {
        /// The timeout.
        timeout: Timeout,
        /// Delay.
        after_ms: u64,
    },
    /// Call [`Driver::on_gossip`] after `after_ms`.
    Gossip {
        /// Delay.
        after_ms: u64,
    },
    /// Call [`Driver::on_next_height`] with `height` after `after_ms` (the pause after a
    /// commit, which also keeps a lone validator from deciding heights in a tight loop).
    NextHeight {
        /// The height to start.
        height: Height,
        /// Delay.
        after_ms: u64,
    },
    /// A height was committed (for the API and metrics).
    Committed {
        /// The height.
        height: Height,
        /// The state root after it.
        root: Hash,
        /// Its receipts.
        receipts: Box<BlockReceipts>,
        /// What it changed (accounts, markets, orders, key grants).
        touched: Box<tokenbook_ledger::Touched>,
        /// Mempool txs the new state refuses, dropped without a block, with the reason.
        dropped: Vec<(Hash, tokenbook_ledger::Reject)>,
    },
    /// A validator signed two conflicting votes (for logs and, later, penalties).
    Evidence(Box<tokenbook_protocol::DuplicateVoteEvidence>),
    /// A peer sent what no honest node sends (a decided block whose certificate does not
    /// verify, or that is invalid): the network disconnects it for a while.
    Penalize(Peer, String),
}

/// Why the driver stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// Executing, validating or storing failed in a way the node must not continue past.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A stored consensus record does not decode.
    #[error("consensus record does not decode: {0}")]
    Record(String),
    /// The network stopped while the node was running.
    #[error("the network stopped")]
    NetworkStopped,
}

impl From<tokenbook_store::StoreError> for DriverError {
    fn from(e: tokenbook_store::StoreError) -> Self {
        DriverError::Exec(ExecError::Store(e))
    }
}

/// Block limits for proposing, and the pace of heights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLimits {
    /// Most txs in a proposed block.
    pub max_txs: usize,
    /// Most tx bytes in a proposed block.
    pub max_bytes: usize,
    /// Pause between committing a height and starting the next (Tendermint's commit timeout):
    /// txs gather meanwhile.
    pub interval_ms: u64,
    /// With nothing pending at a commit, the next height waits for a tx (then starts
    /// `interval_ms` after the commit, as usual), a peer already deciding it, or this long
    /// after the commit — the heartbeat that keeps the block clock (oracle freshness, expiries,
    /// settlement) moving on an idle network. 0: every height starts after `interval_ms`.
    pub heartbeat_ms: u64,
    /// A proposed block whose time is further ahead of this node's clock is invalid (ms).
    pub max_future_time_ms: u64,
}

/// The default of [`BlockLimits::max_future_time_ms`].
pub const MAX_FUTURE_TIME_MS: u64 = 1_000;

/// A block held for this height, with the certificate of the previous height its header names
/// (`None` at height 1), sent with the block whenever this node proposes it.
#[derive(Clone, Debug)]
struct Held {
    block: Block,
    prev_certificate: Option<CommitCertificate>,
}

/// A proposal this node stored with its block before voting for it.
type Stored = (Proposal, Held);

/// One validator's consensus, execution and mempool, over a store (RocksDB in the daemon,
/// memory in the simulator).
pub struct Driver<S = Store> {
    core: Consensus<Ed25519>,
    executor: Executor<S>,
    mempool: Mempool,
    me: PublicKey,
    limits: BlockLimits,
    /// Blocks of this height's proposals (and our own), by hash.
    blocks: BTreeMap<Hash, Held>,
    /// This height's proposals whose blocks were validated and kept, by round.
    proposals: BTreeMap<Round, Proposal>,
    /// Rounds whose proposal and block are in the store.
    stored_rounds: BTreeSet<Round>,
    /// This node's own proposals and votes of this height, as persisted (restored from the
    /// store after a restart), for re-sending.
    own: Vec<Record>,
    /// (height, round, step) at the last gossip tick: unchanged means stalled.
    last_gossip: Option<(Height, Round, tokenbook_consensus::Step)>,
    /// Proposals for the next height, with their blocks and previous certificates.
    early: Vec<(Proposal, Block, Option<CommitCertificate>)>,
    now_ms: u64,
    /// The height a sync request was last sent for, when (ms), and how many were sent for it
    /// before (each retry asks the next peer that proves the chain moved on).
    sync_requested: Option<(Height, u64, usize)>,
    /// When each peer's last sync request was served (ms).
    sync_served: BTreeMap<Peer, u64>,
    /// When this node last asked each peer for blocks (ms), within [`SYNC_SERVE_MS`].
    sync_asked: BTreeMap<Peer, u64>,
    /// The height last sent to each lagging peer unasked, and when (ms): again only after
    /// [`SYNC_RETRY_MS`] (kept apart from `sync_served`, so a push never delays the answer to
    /// a request).
    pushed: BTreeMap<Peer, (Height, u64)>,
    /// Sync replies for heights past the next one, held until the blocks before them are in
    /// (replies travel on separate streams and may arrive in any order): at most one per
    /// height, heights within [`SYNC_BATCH`] of the next, [`SYNC_REPLY_BYTES`] in all.
    sync_ahead: BTreeMap<Height, (Peer, Block, CommitCertificate, usize)>,
    sync_ahead_bytes: usize,
    /// Validators' signed claims of later heights (one member's claim proves nothing).
    ahead: Ahead,
    /// The highest height validators with more than a third of the power were seen deciding.
    highest_seen: Height,
    /// When this node committed its latest height (ms).
    committed_at: u64,
    /// The next height waits for a tx (nothing was pending at the commit): see
    /// [`BlockLimits::heartbeat_ms`].
    idle: bool,
    /// Snapshots for new nodes' state sync (`None`: not served).
    snapshots: Option<SnapshotServer>,
    /// A Byzantine behaviour (tests of the real node only).
    #[cfg(feature = "misbehave")]
    misbehave: Option<crate::misbehave::Misbehave>,
}

impl<S> std::fmt::Debug for Driver<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("height", &self.core.height()).finish()
    }
}

impl<S: ChainStore> Driver<S> {
    /// Starts at the height after the executor's, resuming from its stored records, signing
    /// through `signer` (the validator's [`tokenbook_protocol::Keypair`], or an HSM or remote signer behind the
    /// [`Signer`] seam).
    ///
    /// # Errors
    /// A stored record that does not decode; store errors.
    pub fn start(
        executor: Executor<S>,
        mempool: Mempool,
        signer: impl Signer + 'static,
        timeouts: TimeoutParams,
        limits: BlockLimits,
        now_ms: u64,
    ) -> Result<(Driver<S>, Vec<Action>), DriverError> {
        let (start, stored) = height_start(&executor)?;
        let start_records = start.records.clone();
        let me = signer.public_key();
        let chain = executor.ledger().chain_id.clone();
        let (core, out) = Consensus::new(&chain, signer, timeouts, Ed25519, start);
        let mut driver = Driver {
            core,
            executor,
            mempool,
            me,
            limits,
            blocks: BTreeMap::new(),
            proposals: BTreeMap::new(),
            stored_rounds: BTreeSet::new(),
            own: Vec::new(),
            last_gossip: None,
            early: Vec::new(),
            now_ms,
            sync_requested: None,
            sync_served: BTreeMap::new(),
            sync_asked: BTreeMap::new(),
            pushed: BTreeMap::new(),
            sync_ahead: BTreeMap::new(),
            sync_ahead_bytes: 0,
            ahead: Ahead::default(),
            highest_seen: Height::new(0),
            committed_at: now_ms,
            idle: false,
            snapshots: None,
            #[cfg(feature = "misbehave")]
            misbehave: None,
        };
        driver.own = own_records(&start_records, me);
        let mut actions = driver.carry_out(out)?;
        actions.extend(driver.restore(stored)?);
        actions.push(Action::Gossip { after_ms: GOSSIP_MS });
        Ok((driver, actions))
    }

    /// Makes this validator misbehave from now on (tests of the real node only).
    #[cfg(feature = "misbehave")]
    pub fn misbehave(
        &mut self,
        kind: crate::misbehave::Misbehaviour,
        key: &tokenbook_protocol::Keypair,
    ) {
        let chain = self.executor.ledger().chain_id.clone();
        self.misbehave = Some(crate::misbehave::Misbehave::new(kind, key, &chain));
    }

    /// What this node sends: `actions`, rewritten by its misbehaviour if it has one.
    #[allow(clippy::unused_self)]
    fn emit(&mut self, actions: Vec<Action>) -> Vec<Action> {
        #[cfg(feature = "misbehave")]
        if let Some(misbehave) = &mut self.misbehave {
            return misbehave.actions(actions, self.core.height(), &self.proposals);
        }
        actions
    }

    /// Serves snapshots to peers that ask (state sync).
    pub fn serve_snapshots(&mut self, server: SnapshotServer) {
        self.snapshots = Some(server);
    }

    /// The height being decided.
    #[must_use]
    pub fn height(&self) -> Height {
        self.core.height()
    }

    /// The round being decided.
    #[must_use]
    pub fn round(&self) -> tokenbook_protocol::Round {
        self.core.round()
    }

    /// The consensus core (its round, step, lock and counted votes, for status and diagnosis).
    #[must_use]
    pub fn core(&self) -> &Consensus<Ed25519> {
        &self.core
    }

    /// The proposer of `round` at the height being decided.
    #[must_use]
    pub fn proposer(&self, round: Round) -> PublicKey {
        self.core.proposer(round)
    }

    /// Whether peers are deciding a later height than the one after this node's last commit
    /// (the node is syncing decided blocks rather than voting).
    #[must_use]
    pub fn catching_up(&self) -> bool {
        self.highest_seen.get() > self.executor.height().get().saturating_add(1)
    }

    /// The executor (committed state and store).
    #[must_use]
    pub fn executor(&self) -> &Executor<S> {
        &self.executor
    }

    /// The mempool.
    #[must_use]
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// Txs from a client: one verdict per tx; the admitted ones are gossiped.
    pub fn submit(&mut self, txs: Vec<Tx>) -> (Vec<Result<Hash, AdmitError>>, Vec<Action>) {
        let verdicts = self.mempool.admit_batch(txs.clone(), self.executor.ledger());
        let admitted: Vec<Tx> =
            txs.into_iter().zip(&verdicts).filter(|(_, v)| v.is_ok()).map(|(tx, _)| tx).collect();
        (verdicts, self.gossip_admitted(admitted))
    }

    /// Txs from a client whose signatures were verified off this task: one verdict per tx; the
    /// admitted ones are gossiped.
    pub fn submit_verified(
        &mut self,
        txs: Vec<crate::mempool::VerifiedTx>,
    ) -> (Vec<Result<Hash, AdmitError>>, Vec<Action>) {
        let kept: Vec<Tx> = txs.iter().map(|v| v.tx().clone()).collect();
        let verdicts = self.mempool.admit_verified(txs, self.executor.ledger());
        let admitted: Vec<Tx> =
            kept.into_iter().zip(&verdicts).filter(|(_, v)| v.is_ok()).map(|(tx, _)| tx).collect();
        (verdicts, self.gossip_admitted(admitted))
    }

    /// Gossips txs a client sent and this node admitted; they end an idle wait.
    fn gossip_admitted(&mut self, admitted: Vec<Tx>) -> Vec<Action> {
        if admitted.is_empty() {
            return Vec::new();
        }
        let mut actions = self.wake();
        actions.push(Action::Broadcast(Message::Txs(admitted)));
        actions
    }

    /// Ends an idle wait because a tx is pending: the next height starts `interval_ms` after
    /// the commit (now, if that has passed), as it would have had the tx come earlier.
    fn wake(&mut self) -> Vec<Action> {
        if !self.idle {
            return Vec::new();
        }
        self.idle = false;
        let since = self.now_ms.saturating_sub(self.committed_at);
        let after_ms = self.limits.interval_ms.saturating_sub(since);
        vec![Action::NextHeight { height: self.next_height(), after_ms }]
    }

    /// Whether `message` shows a validator already deciding the height this node waits idle to
    /// start: a proposal or vote for it, signed by one of its validators. (A forged one cannot
    /// start it; a real one means this node's turn may have come.)
    fn shows_next_height_started(&self, message: &Message) -> bool {
        let next = self.executor.height().next();
        if !self.idle || self.core.height().next() != next {
            return false;
        }
        let ledger = self.executor.ledger();
        let member = |h: Height, k: &PublicKey| {
            Some(h) == next && ledger.validator_set_for(h).get(k).is_some()
        };
        match message {
            Message::Proposal { proposal, .. } => {
                member(proposal.payload.height, &proposal.payload.proposer)
                    && Ed25519.proposal(&ledger.chain_id, proposal)
            }
            Message::Vote(vote) => {
                member(vote.payload.height, &vote.payload.validator)
                    && Ed25519.vote(&ledger.chain_id, vote)
            }
            _ => false,
        }
    }

    /// A timer set by [`Action::Schedule`] fired.
    ///
    /// # Errors
    /// [`DriverError`]: the node must stop.
    pub fn on_timeout(
        &mut self,
        timeout: Timeout,
        now_ms: u64,
    ) -> Result<Vec<Action>, DriverError> {
        self.now_ms = now_ms;
        let out = self.core.handle(Input::Timeout(timeout));
        let actions = self.carry_out(out)?;
        Ok(self.emit(actions))
    }

    /// A message from a peer (already decoded and size-checked by [`Message::decode`]).
    ///
    /// # Errors
    /// [`DriverError`]: the node must stop (divergence, store failure).
    pub fn on_message(
        &mut self,
        from: Peer,
        message: Message,
        now_ms: u64,
    ) -> Result<Vec<Action>, DriverError> {
        self.now_ms = now_ms;
        let mut actions = match self.later_height(&message) {
            Some((theirs, signer)) => self.maybe_sync(from, signer, theirs),
            None => Vec::new(),
        };
        actions.extend(self.answer_lagging_peer(from, &message)?);
        if self.shows_next_height_started(&message) {
            actions.extend(self.begin_next_height(now_ms)?);
        }
        actions.extend(self.dispatch(from, message)?);
        Ok(self.emit(actions))
    }

    /// The height a proposal or vote shows its signer deciding, and the signer, if it is past
    /// the one this node needs next and the signer is a validator of that height or the one
    /// after. A claim above what is known of the signer must be signed (forged far-future
    /// messages are dropped here); one not above it costs no signature check, since it is
    /// noted nowhere and only gives a pending sync request its chance to be retried.
    fn later_height(&self, message: &Message) -> Option<(Height, PublicKey)> {
        let ours = self.executor.height().get() + 1;
        let (height, signer) = match message {
            Message::Proposal { proposal, .. } => {
                (proposal.payload.height, proposal.payload.proposer)
            }
            Message::Vote(vote) => (vote.payload.height, vote.payload.validator),
            _ => return None,
        };
        if height.get() <= ours {
            return None;
        }
        let ledger = self.executor.ledger();
        let known = [Height::new(ours), Height::new(ours + 1)]
            .iter()
            .any(|h| ledger.validator_set_for(*h).get(&signer).is_some());
        let signed = || match message {
            Message::Proposal { proposal, .. } => Ed25519.proposal(&ledger.chain_id, proposal),
            Message::Vote(vote) => Ed25519.vote(&ledger.chain_id, vote),
            _ => false,
        };
        let credible = known && (!self.ahead.is_news(&signer, height) || signed());
        credible.then_some((height, signer))
    }

    /// A peer still proposing or voting for the height this node committed last, a while after
    /// the commit, missed the decision (its precommits were lost or late): it is sent that
    /// block and its certificate, again after [`SYNC_RETRY_MS`] if it still lags (the push
    /// may have been lost with a dying connection). Without this it learns only from
    /// the next height's messages — and when it proposes that height, those come only after
    /// everyone's propose timeout. A peer further behind sees this node's later heights and
    /// asks by itself.
    ///
    /// Nothing needs verifying here: what is sent is what any peer may ask for.
    fn answer_lagging_peer(
        &mut self,
        from: Peer,
        message: &Message,
    ) -> Result<Vec<Action>, DriverError> {
        let theirs = match message {
            Message::Proposal { proposal, .. } => proposal.payload.height,
            Message::Vote(vote) => vote.payload.height,
            _ => return Ok(Vec::new()),
        };
        let committed = self.executor.height();
        let in_flight = self.now_ms.saturating_sub(self.committed_at) < LAGGING_PEER_MS;
        if theirs != committed || theirs.get() == 0 || in_flight {
            return Ok(Vec::new());
        }
        let lately = |&(height, at): &(Height, u64)| {
            height == theirs && self.now_ms.saturating_sub(at) < SYNC_RETRY_MS
        };
        if self.pushed.get(&from).is_some_and(lately) {
            return Ok(Vec::new());
        }
        self.pushed.insert(from, (theirs, self.now_ms));
        self.blocks_for(from, theirs, theirs)
    }

    fn dispatch(&mut self, from: Peer, message: Message) -> Result<Vec<Action>, DriverError> {
        match message {
            Message::Proposal { proposal, block, prev_certificate } => {
                self.on_proposal(proposal, block, prev_certificate)
            }
            Message::Vote(vote) => self.on_vote(vote),
            Message::Polka(votes) => {
                let out = self.core.handle(Input::Polka(votes));
                self.carry_out(out)
            }
            Message::Txs(txs) => Ok(self.admit_gossip(from, txs)),
            Message::SyncRequest { from: first } => self.on_sync_request(from, first),
            Message::SyncReply { block, certificate } => {
                self.on_sync_reply(from, block, certificate)
            }
            Message::SnapshotRequest => {
                let offer = match &mut self.snapshots {
                    Some(server) => server.offer(self.executor.store()),
                    None => None,
                };
                Ok(offer.map(|m| Action::Send(from, m)).into_iter().collect())
            }
            Message::ChunkRequest { height, index } => {
                let chunk = self.snapshots.as_ref().and_then(|s| s.chunk(height, index));
                Ok(chunk.map(|m| Action::Send(from, m)).into_iter().collect())
            }
            // Only a node in state sync (before its driver starts) wants these.
            Message::SnapshotOffer { .. } | Message::ChunkReply { .. } => Ok(Vec::new()),
        }
    }

    /// Txs a peer gossiped. A peer gossips only txs its mempool verified, and the rule gives a
    /// signature one verdict in any batch (docs/adr/0002), so a bad signature shows the peer is
    /// faulty; a refusal by state never does (peers may be at other heights).
    fn admit_gossip(&mut self, from: Peer, txs: Vec<Tx>) -> Vec<Action> {
        let verdicts = self.mempool.admit_batch(txs, self.executor.ledger());
        let forged =
            verdicts.iter().position(|verdict| matches!(verdict, Err(AdmitError::Signature(_))));
        let mut actions = if verdicts.iter().any(Result::is_ok) { self.wake() } else { Vec::new() };
        actions.extend(
            forged.map(|i| Action::Penalize(from, format!("gossiped tx {i} has a bad signature"))),
        );
        actions
    }

    /// The gossip tick (docs/adr/0006 §5): re-sends this node's own proposals and votes of the
    /// current and previous round (from what it persisted, so also after a restart); when the
    /// node has not moved since the last tick, relays the current round's proposal and votes
    /// and its valid round's prevotes, and shows its valid value's polka whole
    /// ([`Message::Polka`]: a re-proposal needs it, and a peer that saw a validator equivocate
    /// three ways may have dropped the vote that completes it). A node known to lag asks for
    /// blocks again if its last request went unanswered (peers that moved on may send nothing
    /// more while they wait for it). Then schedules the next.
    ///
    /// # Errors
    /// None today; the signature matches the other inputs.
    pub fn on_gossip(&mut self, now_ms: u64) -> Result<Vec<Action>, DriverError> {
        self.now_ms = now_ms;
        let mut actions = self.own_messages();
        actions.extend(self.ask_for_blocks());
        let state = (self.core.height(), self.core.round(), self.core.step());
        if self.last_gossip.replace(state) == Some(state) {
            actions.extend(self.relayed());
        }
        actions.push(Action::Gossip { after_ms: GOSSIP_MS });
        Ok(self.emit(actions))
    }

    fn own_messages(&self) -> Vec<Action> {
        let from = Round::new(self.core.round().get().saturating_sub(1));
        self.own
            .iter()
            .filter_map(|record| match record {
                Record::Vote(v) if v.payload.round >= from => {
                    Some(Action::Broadcast(Message::Vote(*v)))
                }
                Record::Proposal(p) if p.payload.round >= from => self.proposal_message(*p),
                Record::Vote(_) | Record::Proposal(_) => None,
            })
            .collect()
    }

    fn relayed(&self) -> Vec<Action> {
        let round = self.core.round();
        let mut votes = self.core.votes(round, VoteKind::Prevote);
        votes.extend(self.core.votes(round, VoteKind::Precommit));
        if let Some(valid) = self.core.valid_round().filter(|r| *r != round) {
            votes.extend(self.core.votes(valid, VoteKind::Prevote));
        }
        let proposal = self.proposals.get(&round).and_then(|p| self.proposal_message(*p));
        let polka = self.core.valid_polka();
        let polka = (!polka.is_empty()).then_some(Action::Broadcast(Message::Polka(polka)));
        proposal
            .into_iter()
            .chain(polka)
            .chain(votes.into_iter().map(|v| Action::Broadcast(Message::Vote(v))))
            .collect()
    }

    /// `proposal` with its held block and the certificate the block's header names.
    fn proposal_message(&self, proposal: Proposal) -> Option<Action> {
        let held = self.blocks.get(&proposal.payload.value)?;
        Some(Action::Broadcast(Message::Proposal {
            proposal,
            block: held.block.clone(),
            prev_certificate: held.prev_certificate.clone(),
        }))
    }

    /// `signer` was seen deciding `theirs`, through `peer`: noted (one member's claim proves
    /// nothing: [`Ahead`]), then blocks are asked for if the chain is known to have moved on.
    fn maybe_sync(&mut self, peer: Peer, signer: PublicKey, theirs: Height) -> Vec<Action> {
        self.ahead.note(signer, theirs, peer);
        self.ask_for_blocks()
    }

    /// Once validators with more than a third of the power show later heights, asks one of the
    /// peers their messages came through for the decided blocks this node lacks — once per
    /// height, again after [`SYNC_RETRY_MS`] if nothing came (the peer asked may not have had
    /// the block yet, or may be gone), each retry starting from the next such peer. A peer
    /// asked within [`SYNC_SERVE_MS`] is passed over (it would not serve the request); the
    /// next message or gossip tick tries again.
    fn ask_for_blocks(&mut self) -> Vec<Action> {
        let ours = Height::new(self.executor.height().get() + 1);
        let ledger = self.executor.ledger();
        let after = Height::new(ours.get().saturating_add(1));
        let sets = [ledger.validator_set_for(ours), ledger.validator_set_for(after)];
        self.ahead.prune(ours, &sets);
        let Some((proven, peers)) = self.ahead.proven(&sets) else { return Vec::new() };
        self.highest_seen = self.highest_seen.max(proven);
        let now = self.now_ms;
        let attempt = match self.sync_requested {
            Some((height, at, _)) if height == ours && now.saturating_sub(at) < SYNC_RETRY_MS => {
                return Vec::new();
            }
            Some((height, _, sent)) if height == ours => sent,
            _ => 0,
        };
        self.sync_asked.retain(|_, at| now.saturating_sub(*at) < SYNC_SERVE_MS);
        let rotated = peers.iter().cycle().skip(attempt % peers.len().max(1)).take(peers.len());
        let free = rotated.copied().find(|p| !self.sync_asked.contains_key(p));
        let Some(to) = free else { return Vec::new() };
        self.sync_asked.insert(to, now);
        self.sync_requested = Some((ours, now, attempt + 1));
        vec![Action::Send(to, Message::SyncRequest { from: ours })]
    }

    fn on_vote(&mut self, vote: Vote) -> Result<Vec<Action>, DriverError> {
        let out = self.core.handle(Input::Vote(vote));
        self.carry_out(out)
    }

    fn on_proposal(
        &mut self,
        proposal: Proposal,
        block: Block,
        prev_certificate: Option<CommitCertificate>,
    ) -> Result<Vec<Action>, DriverError> {
        let height = self.core.height();
        if proposal.payload.height == height.next().unwrap_or(height)
            && proposal.payload.height != height
        {
            if self.keep_early(&proposal) {
                self.early.push((proposal, block, prev_certificate));
            }
            return Ok(Vec::new());
        }
        if !self.worth_validating(&proposal) {
            return Ok(Vec::new());
        }
        let proposed = Proposed {
            proposer: proposal.payload.proposer,
            reproposed: proposal.payload.pol_round.is_some(),
            prev_certificate: prev_certificate.as_ref(),
            now_ms: self.now_ms,
            max_future_time_ms: self.limits.max_future_time_ms,
        };
        let validity = match self.executor.validate(&block, &proposed, &self.mempool) {
            Ok(()) => Validity::Valid,
            Err(ExecError::Invalid { reason, .. }) => {
                tracing::debug!(round = proposal.payload.round.get(), reason, "invalid proposal");
                Validity::Invalid
            }
            Err(e) => return Err(e.into()),
        };
        let held = self.held(block, prev_certificate)?;
        self.proposals.insert(proposal.payload.round, proposal);
        self.blocks.entry(held.block.hash()).or_insert(held);
        let out = self.core.handle(Input::Proposal(proposal, validity));
        self.carry_out(out)
    }

    /// `block` with the certificate its header names: the one carried, or this node's own.
    fn held(&self, block: Block, carried: Option<CommitCertificate>) -> Result<Held, DriverError> {
        let named = block.header.prev_certificate_hash;
        let prev_certificate = match carried.filter(|c| c.hash() == named) {
            Some(certificate) => Some(certificate),
            // Read from the store only when it is the one this node holds (a proposal naming
            // another certificate and carrying none is simply unvoteable).
            None if named == self.executor.last_certificate_hash() => {
                self.executor.last_certificate()?
            }
            None => None,
        };
        Ok(Held { block, prev_certificate })
    }

    /// Takes back, after a restart, the proposals this node stored before voting for their
    /// blocks: the blocks are held again and the core sees the proposals (as valid: this node
    /// judged them so before it voted).
    fn restore(&mut self, stored: Vec<Stored>) -> Result<Vec<Action>, DriverError> {
        let mut actions = Vec::new();
        for (proposal, held) in stored {
            let round = proposal.payload.round;
            self.stored_rounds.insert(round);
            self.proposals.insert(round, proposal);
            self.blocks.insert(proposal.payload.value, held);
            let out = self.core.handle(Input::Proposal(proposal, Validity::Valid));
            actions.extend(self.carry_out(out)?);
        }
        Ok(actions)
    }

    /// Whether a proposal for this height is one the core would admit, before its block is
    /// validated or kept: it is for a height not yet committed, this round's proposer signed
    /// it, the round is within the core's window, and no block was kept for the round yet. So a
    /// peer cannot make this node hold (or re-execute) more than one block per round, however
    /// many it sends.
    fn worth_validating(&self, proposal: &Proposal) -> bool {
        let p = &proposal.payload;
        // Between committing a height and starting the next the core is still at the
        // committed height; a proposal for it then is stale, and keeping it would take the
        // next height's slot for its round.
        p.height == self.core.height()
            && p.height > self.executor.height()
            && p.round.get() <= self.core.round().get().saturating_add(ROUNDS_AHEAD)
            && !self.proposals.contains_key(&p.round)
            && p.proposer == self.core.proposer(p.round)
            && Ed25519.proposal(&self.executor.ledger().chain_id, proposal)
    }

    /// Whether to keep a proposal for the next height until it starts: signed by a validator of
    /// that height, for a round within the window, the first from that proposer, and room
    /// left. So the blocks held early are at most one per validator of the next height.
    fn keep_early(&self, proposal: &Proposal) -> bool {
        let p = &proposal.payload;
        let ledger = self.executor.ledger();
        self.early.len() < EARLY_PROPOSALS
            && p.round.get() <= ROUNDS_AHEAD
            && ledger.validator_set_for(p.height).get(&p.proposer).is_some()
            && !self.early.iter().any(|(e, _, _)| e.payload.proposer == p.proposer)
            && Ed25519.proposal(&ledger.chain_id, proposal)
    }

    /// Blocks held for undecided proposals (this height's and the next's): bounded by one per
    /// round within the core's window, whatever peers send.
    #[must_use]
    pub fn held_blocks(&self) -> usize {
        self.blocks.len() + self.early.len()
    }

    /// Up to [`SYNC_BATCH`] decided blocks, at most [`SYNC_REPLY_BYTES`] of them, and one
    /// request per peer per [`SYNC_SERVE_MS`]: a peer asking in a loop costs bounded reads and
    /// bounded queued bytes.
    fn on_sync_request(&mut self, peer: Peer, first: Height) -> Result<Vec<Action>, DriverError> {
        let now = self.now_ms;
        if self.sync_served.get(&peer).is_some_and(|at| now.saturating_sub(*at) < SYNC_SERVE_MS) {
            return Ok(Vec::new());
        }
        self.sync_served.insert(peer, now);
        self.blocks_for(peer, first, Height::new(first.get().saturating_add(SYNC_BATCH - 1)))
    }

    /// The decided blocks `first..=last` this node holds, with their certificates, to `peer`:
    /// at most [`SYNC_REPLY_BYTES`] of them.
    fn blocks_for(
        &self,
        peer: Peer,
        first: Height,
        last: Height,
    ) -> Result<Vec<Action>, DriverError> {
        let last = self.executor.height().get().min(last.get());
        let (mut actions, mut bytes) = (Vec::new(), 0usize);
        for h in first.get().max(1)..=last {
            let store = self.executor.store();
            let height = Height::new(h);
            let (Some(block), Some(certificate)) =
                (store.block(height)?, store.certificate(height)?)
            else {
                continue;
            };
            bytes += encode(&block).len();
            actions.push(Action::Send(peer, Message::SyncReply { block, certificate }));
            if bytes >= SYNC_REPLY_BYTES {
                break;
            }
        }
        Ok(actions)
    }

    /// A decided block from a peer: the next height's is applied at once, followed by every
    /// held reply that then becomes next; a later height's is held (bounded) until then.
    fn on_sync_reply(
        &mut self,
        from: Peer,
        block: Block,
        certificate: CommitCertificate,
    ) -> Result<Vec<Action>, DriverError> {
        let next = self.executor.height().get().saturating_add(1);
        let height = block.header.height.get();
        if height > next {
            self.hold_sync_reply(from, block, certificate, next);
            return Ok(Vec::new());
        }
        let mut actions = self.apply_sync_reply(from, block, certificate)?;
        loop {
            let next = Height::new(self.executor.height().get().saturating_add(1));
            let stale: Vec<Height> = self.sync_ahead.range(..next).map(|(h, _)| *h).collect();
            for h in stale {
                self.release_sync_reply(h);
            }
            let Some((peer, block, certificate)) = self.release_sync_reply(next) else { break };
            actions.extend(self.apply_sync_reply(peer, block, certificate)?);
            if self.executor.height() < next {
                break; // refused (and its sender penalized): ask again later
            }
        }
        Ok(actions)
    }

    fn hold_sync_reply(
        &mut self,
        from: Peer,
        block: Block,
        certificate: CommitCertificate,
        next: u64,
    ) {
        let height = block.header.height;
        if height.get() > next.saturating_add(SYNC_BATCH) || self.sync_ahead.contains_key(&height) {
            return;
        }
        let bytes = encode(&block).len();
        if self.sync_ahead_bytes.saturating_add(bytes) > SYNC_REPLY_BYTES {
            return;
        }
        self.sync_ahead_bytes += bytes;
        self.sync_ahead.insert(height, (from, block, certificate, bytes));
    }

    fn release_sync_reply(&mut self, height: Height) -> Option<(Peer, Block, CommitCertificate)> {
        let (peer, block, certificate, bytes) = self.sync_ahead.remove(&height)?;
        self.sync_ahead_bytes -= bytes;
        Some((peer, block, certificate))
    }

    /// The next height's decided block: verified by its certificate, then committed as if
    /// decided.
    fn apply_sync_reply(
        &mut self,
        from: Peer,
        block: Block,
        certificate: CommitCertificate,
    ) -> Result<Vec<Action>, DriverError> {
        // Catching up: no pause between heights. Starting a height may decide it at once
        // (votes held for it), which makes this block old: look again after each start.
        let mut actions = Vec::new();
        let height = block.header.height;
        loop {
            if height.get() != self.executor.height().get() + 1 {
                return Ok(actions);
            }
            if self.core.height() == height {
                break;
            }
            actions.extend(self.begin_next_height(self.now_ms)?);
        }
        let ledger = self.executor.ledger();
        let validators = ledger.validator_set_for(height);
        if let Err(e) = verify_certificate(&certificate, validators, &ledger.chain_id, &Ed25519) {
            actions.push(Action::Penalize(from, format!("sync: certificate at {height}: {e}")));
            return Ok(actions);
        }
        match self.executor.validate_decided(&block, &self.mempool) {
            Ok(()) => {}
            Err(ExecError::Invalid { reason, .. }) => {
                actions.push(Action::Penalize(
                    from,
                    format!("sync: certified block invalid: {reason}"),
                ));
                return Ok(actions);
            }
            Err(e) => return Err(e.into()),
        }
        let value = block.hash();
        self.blocks.insert(value, Held { block, prev_certificate: None });
        actions.extend(self.decide(height, value, certificate)?);
        // The core may still be deciding the height just committed: start the next one now, so
        // it never proposes or votes for a height the store is past (no pause: catching up).
        actions.extend(self.begin_next_height(self.now_ms)?);
        Ok(actions)
    }

    /// Carries out the core's outputs in order (each may lead to more).
    fn carry_out(&mut self, out: Vec<Output>) -> Result<Vec<Action>, DriverError> {
        let mut work: VecDeque<Output> = out.into();
        let mut actions = Vec::new();
        while let Some(output) = work.pop_front() {
            match output {
                Output::Persist(record) => self.persist(&record)?,
                Output::BroadcastProposal(proposal) => {
                    actions.extend(self.proposal_message(proposal));
                }
                Output::BroadcastVote(vote) => actions.push(Action::Broadcast(Message::Vote(vote))),
                Output::ScheduleTimeout { timeout, after_ms } => {
                    actions.push(Action::Schedule { timeout, after_ms });
                }
                Output::RequestValue { height, round }
                    if height.get() == self.executor.height().get().saturating_add(1) =>
                {
                    let txs = self.mempool.batch(self.limits.max_txs, self.limits.max_bytes);
                    let block = self.executor.propose(self.me, self.now_ms, txs);
                    #[cfg(feature = "misbehave")]
                    let block = match &self.misbehave {
                        Some(misbehave) => misbehave.block(block, &self.executor),
                        None => block,
                    };
                    let value = block.hash();
                    let prev_certificate = self.executor.last_certificate()?;
                    self.blocks.insert(value, Held { block, prev_certificate });
                    work.extend(self.core.handle(Input::Value { height, round, value }));
                }
                // A stale core asking for a height already committed: nothing to propose.
                Output::RequestValue { .. } => {}
                Output::Decide { height, value, certificate } => {
                    actions.extend(self.decide(height, value, certificate)?);
                }
                Output::Evidence(evidence) => actions.push(Action::Evidence(Box::new(evidence))),
            }
        }
        Ok(actions)
    }

    /// Appends a consensus record, preceded (in the same synced write) by the round's proposal
    /// and block when the record is the first of that round to commit to a block.
    fn persist(&mut self, record: &Record) -> Result<(), DriverError> {
        let height = self.core.height();
        let block = self.block_record(record);
        let bytes = encode_record(record);
        let records: Vec<&[u8]> = block.iter().map(Vec::as_slice).chain([&bytes[..]]).collect();
        self.executor.append_records(height, &records)?;
        crate::crash::point(match record {
            Record::Proposal(_) => "proposal",
            Record::Vote(_) => "vote",
        });
        self.own.extend(own_records(std::slice::from_ref(record), self.me));
        Ok(())
    }

    /// The stored form of the proposal and block `record` commits to, if not stored yet.
    fn block_record(&mut self, record: &Record) -> Option<Vec<u8>> {
        let (round, proposal) = match record {
            Record::Proposal(p) => (p.payload.round, *p),
            Record::Vote(v) => {
                let value = v.payload.value?;
                let proposal = *self.proposals.get(&v.payload.round)?;
                if proposal.payload.value != value {
                    return None;
                }
                (v.payload.round, proposal)
            }
        };
        if self.stored_rounds.contains(&round) {
            return None;
        }
        let held = self.blocks.get(&proposal.payload.value)?;
        self.stored_rounds.insert(round);
        let message = Message::Proposal {
            proposal,
            block: held.block.clone(),
            prev_certificate: held.prev_certificate.clone(),
        };
        Some(tagged(TAG_BLOCK, &message.encode()))
    }

    /// Commits a decided block and starts the next height.
    fn decide(
        &mut self,
        height: Height,
        value: Hash,
        certificate: CommitCertificate,
    ) -> Result<Vec<Action>, DriverError> {
        if height <= self.executor.height() {
            // Committed already (from a peer's certified block, while this core still decided
            // the height itself): a height is committed once.
            return Ok(Vec::new());
        }
        let Some(Held { block, .. }) = self.blocks.remove(&value) else {
            return Err(DriverError::Exec(ExecError::Invalid {
                height,
                reason: "decided a block this node never received".into(),
            }));
        };
        crate::crash::point("before-commit");
        let (root, receipts) = self.executor.commit(&block, &certificate)?;
        crate::crash::point("commit");
        let included: Vec<Hash> = block.txs.iter().map(Tx::hash).collect();
        let dropped = self.mempool.on_block(&included, self.executor.ledger());
        self.executor.prune_records(height)?;
        crate::crash::point("prune");
        self.blocks.clear();
        self.proposals.clear();
        self.stored_rounds.clear();
        self.own.clear();
        self.committed_at = self.now_ms;
        Ok(vec![
            Action::Committed {
                height,
                root,
                receipts: Box::new(receipts),
                touched: Box::new(self.executor.last_touched().clone()),
                dropped,
            },
            self.next_height_after_commit(),
        ])
    }

    /// When the next height starts: after `interval_ms`, or — with nothing pending and a
    /// heartbeat set — when a tx comes, a peer starts it, or the heartbeat is due.
    fn next_height_after_commit(&mut self) -> Action {
        self.idle = self.limits.heartbeat_ms > 0 && self.mempool.is_empty();
        let after_ms = if self.idle {
            self.limits.heartbeat_ms.max(self.limits.interval_ms)
        } else {
            self.limits.interval_ms
        };
        Action::NextHeight { height: self.next_height(), after_ms }
    }

    /// The height after the last committed one.
    fn next_height(&self) -> Height {
        Height::new(self.executor.height().get().saturating_add(1))
    }

    /// A timer set by [`Action::NextHeight`] fired: starts `height` unless it is no longer
    /// the next one (a heartbeat outlived by a wake-up or a peer's start) or has started.
    ///
    /// # Errors
    /// [`DriverError`]: the node must stop.
    pub fn on_next_height(
        &mut self,
        height: Height,
        now_ms: u64,
    ) -> Result<Vec<Action>, DriverError> {
        if height != self.next_height() {
            self.now_ms = now_ms;
            return Ok(Vec::new());
        }
        self.start_next_height(now_ms)
    }

    /// Starts the height after the last committed one (after [`Action::NextHeight`]); does
    /// nothing if it has already started.
    ///
    /// # Errors
    /// [`DriverError`]: the node must stop.
    pub fn start_next_height(&mut self, now_ms: u64) -> Result<Vec<Action>, DriverError> {
        let actions = self.begin_next_height(now_ms)?;
        Ok(self.emit(actions))
    }

    fn begin_next_height(&mut self, now_ms: u64) -> Result<Vec<Action>, DriverError> {
        self.now_ms = now_ms;
        self.idle = false;
        let next = Height::new(self.executor.height().get() + 1);
        if self.core.height() >= next {
            return Ok(Vec::new());
        }
        let (start, stored) = height_start(&self.executor)?;
        // Nothing of the height before carries over (its proposals and blocks were cleared
        // when it was committed; these are for the new height only).
        self.proposals.clear();
        self.blocks.clear();
        self.stored_rounds.clear();
        self.own = own_records(&start.records, self.me);
        let out = self.core.start_height(start);
        let mut actions = self.carry_out(out)?;
        actions.extend(self.restore(stored)?);
        for (proposal, block, prev_certificate) in std::mem::take(&mut self.early) {
            actions.extend(self.on_proposal(proposal, block, prev_certificate)?);
        }
        Ok(actions)
    }
}

/// The start of the height after the executor's, with the records stored for it, and the
/// proposals stored with their blocks.
fn height_start<S: ChainStore>(
    executor: &Executor<S>,
) -> Result<(HeightStart, Vec<Stored>), DriverError> {
    let height = Height::new(executor.height().get() + 1);
    let ledger = executor.ledger();
    let (mut records, mut stored) = (Vec::new(), Vec::new());
    for bytes in executor.store().consensus_records(height)? {
        match decode_record(&bytes)? {
            Decoded::Core(record) => records.push(record),
            Decoded::Block(stored_proposal) => stored.push(*stored_proposal),
        }
    }
    let start = HeightStart {
        height,
        validators: ledger.validator_set_for(height).clone(),
        next_validators: ledger.validator_set_for(Height::new(height.get() + 1)).clone(),
        records,
    };
    Ok((start, stored))
}

/// The records among `records` of this node's own proposals and votes.
fn own_records(records: &[Record], me: PublicKey) -> Vec<Record> {
    let signer = |r: &Record| match r {
        Record::Proposal(p) => p.payload.proposer,
        Record::Vote(v) => v.payload.validator,
    };
    records.iter().filter(|r| signer(r) == me).copied().collect()
}

fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(tag);
    out.extend_from_slice(body);
    out
}

fn encode_record(record: &Record) -> Vec<u8> {
    match record {
        Record::Proposal(p) => tagged(TAG_PROPOSAL, &encode(p)),
        Record::Vote(v) => tagged(TAG_VOTE, &encode(v)),
    }
}

/// A stored consensus record: one for the core, or a proposal with its block.
enum Decoded {
    Core(Record),
    Block(Box<(Proposal, Held)>),
}

fn decode_record(bytes: &[u8]) -> Result<Decoded, DriverError> {
    let bad = |e: String| DriverError::Record(e);
    match bytes.split_first() {
        Some((&TAG_PROPOSAL, body)) => decode::<Proposal>(body)
            .map(|p| Decoded::Core(Record::Proposal(p)))
            .map_err(|e| bad(e.to_string())),
        Some((&TAG_VOTE, body)) => decode::<Vote>(body)
            .map(|v| Decoded::Core(Record::Vote(v)))
            .map_err(|e| bad(e.to_string())),
        Some((&TAG_BLOCK, body)) => match Message::decode(body) {
            Ok(Message::Proposal { proposal, block, prev_certificate }) => {
                Ok(Decoded::Block(Box::new((proposal, Held { block, prev_certificate }))))
            }
            Ok(_) => Err(bad("a stored block record is not a proposal".into())),
            Err(e) => Err(bad(e.to_string())),
        },
        _ => Err(bad("unknown record tag".into())),
    }
}
