//! What goes into the core and what comes out of it.

use tokenbook_protocol::{
    CommitCertificate, DuplicateVoteEvidence, Hash, Height, Proposal, Round, ValidatorSet, Vote,
};

/// A step of a round (the paper's `step_p`), plus `Commit` once the height is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Waiting for the round's proposal.
    Propose,
    /// Prevoted; waiting for prevotes.
    Prevote,
    /// Precommitted; waiting for precommits.
    Precommit,
    /// The height is decided; waiting for the next height to start.
    Commit,
}

/// Which timeout fired (the step it guards).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeoutKind {
    /// `timeoutPropose` (L21, L57).
    Propose,
    /// `timeoutPrevote` (L35, L61).
    Prevote,
    /// `timeoutPrecommit` (L48, L65).
    Precommit,
}

/// A timeout the driver must schedule and feed back when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeout {
    /// Height it belongs to.
    pub height: Height,
    /// Round it belongs to.
    pub round: Round,
    /// Which one.
    pub kind: TimeoutKind,
}

/// Timeout lengths: `base + per_round × round` milliseconds of the driver's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutParams {
    /// `timeoutPropose(0)`.
    pub propose_base_ms: u64,
    /// Growth of `timeoutPropose` per round.
    pub propose_per_round_ms: u64,
    /// `timeoutPrevote(0)` and `timeoutPrecommit(0)`.
    pub vote_base_ms: u64,
    /// Growth of the vote timeouts per round.
    pub vote_per_round_ms: u64,
    /// `timeoutPropose(0)` for a proposer that sent nothing in time on its last turn (until a
    /// proposal of its arrives in time): a silent, withholding or late member costs this, not
    /// the full wait ([`TimeoutParams::absent_propose_ms`]).
    pub propose_absent_ms: u64,
}

impl Default for TimeoutParams {
    fn default() -> Self {
        Self {
            propose_base_ms: 1_000,
            propose_per_round_ms: 500,
            vote_base_ms: 500,
            vote_per_round_ms: 250,
            propose_absent_ms: 200,
        }
    }
}

impl TimeoutParams {
    /// How long the driver waits before feeding `timeout` back.
    #[must_use]
    pub fn duration_ms(&self, timeout: Timeout) -> u64 {
        let round = u64::from(timeout.round.get());
        let (base, per_round) = match timeout.kind {
            TimeoutKind::Propose => (self.propose_base_ms, self.propose_per_round_ms),
            TimeoutKind::Prevote | TimeoutKind::Precommit => {
                (self.vote_base_ms, self.vote_per_round_ms)
            }
        };
        base.saturating_add(per_round.saturating_mul(round))
    }

    /// `timeoutPropose(round)` for a proposer that was absent on its last turn: it grows per
    /// round like the full one (so liveness after GST holds however slow the network) but
    /// starts from `propose_absent_ms`; never longer than the full one.
    #[must_use]
    pub fn absent_propose_ms(&self, round: Round) -> u64 {
        let growth = self.propose_per_round_ms.saturating_mul(u64::from(round.get()));
        let full = self.propose_base_ms.saturating_add(growth);
        self.propose_absent_ms.saturating_add(growth).min(full)
    }
}

/// A signed message to keep. The driver must make it durable (its write-ahead log) before
/// carrying out the outputs that follow it; on restart the core is rebuilt from the records of
/// the height it is at ([`crate::Consensus::start_height`]). Records are this validator's own
/// proposals and votes, and, when it locks, the other validators' prevotes that justify the lock
/// (its polka).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// A proposal this validator signed.
    Proposal(Proposal),
    /// A vote this validator signed.
    Vote(Vote),
}

/// The app's verdict on a proposed value (the paper's `valid(v)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// The block is well-formed and applies on the current state.
    Valid,
    /// It is not; the core prevotes nil for it and never decides it.
    Invalid,
}

/// An input to [`crate::Consensus::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A proposal from the network (the driver has the block it names and judged it).
    Proposal(Proposal, Validity),
    /// A vote from the network.
    Vote(Vote),
    /// A polka shown by a peer: prevotes for one value in one round, from more than two thirds
    /// of the power. Counted as a polka when every signature verifies, whatever this core saw
    /// of those validators before (a validator that equivocated three ways can otherwise make
    /// a polka visible to some correct validators and never to others: issue #16).
    Polka(Vec<Vote>),
    /// A timeout the core asked for has fired.
    Timeout(Timeout),
    /// The value (block hash) to propose, answering [`Output::RequestValue`]; the driver holds
    /// the block and has judged it valid.
    Value {
        /// Height asked for.
        height: Height,
        /// Round asked for.
        round: Round,
        /// Hash of the block.
        value: Hash,
    },
}

/// An effect the driver carries out, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Make this record durable before going on to the next output.
    Persist(Record),
    /// Send this proposal (with the block it names) to every validator.
    BroadcastProposal(Proposal),
    /// Send this vote to every validator.
    BroadcastVote(Vote),
    /// Feed `Input::Timeout(timeout)` back after `after_ms`.
    ScheduleTimeout {
        /// The timeout.
        timeout: Timeout,
        /// Delay in the driver's milliseconds.
        after_ms: u64,
    },
    /// This validator proposes: build a block and answer with [`Input::Value`].
    RequestValue {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
    },
    /// The height is decided: `value` with its commit certificate. The driver applies the block
    /// and starts the next height.
    Decide {
        /// Height.
        height: Height,
        /// Decided block hash.
        value: Hash,
        /// More than two thirds of the voting power's precommits for it.
        certificate: CommitCertificate,
    },
    /// A validator signed two different votes for one height, round and kind.
    Evidence(DuplicateVoteEvidence),
}

/// What a height needs to start.
#[derive(Clone, Debug)]
pub struct HeightStart {
    /// The height.
    pub height: Height,
    /// Its validator set.
    pub validators: ValidatorSet,
    /// The next height's set (known one height ahead: changes decided at `h` apply at `h + 2`),
    /// so messages for the next height can be kept until it starts.
    pub next_validators: ValidatorSet,
    /// This validator's records for this height from its write-ahead log (empty on a fresh
    /// start).
    pub records: Vec<Record>,
}
