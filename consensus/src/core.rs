//! The Tendermint state machine of one validator (Algorithm 1 of arXiv:1807.04938; `// Lnn`
//! comments cite its lines). See the crate docs for the shape and the deviations.

use crate::proposer::Schedule;
use crate::sign::{SignError, Signer};
use crate::tally::{Added, VoteKeeper, is_quorum, power_of};
use crate::types::{
    HeightStart, Input, Output, Record, Step, Timeout, TimeoutKind, TimeoutParams, Validity,
};
use crate::verify::Verifier;
use std::collections::{BTreeMap, BTreeSet};
use tokenbook_protocol::{
    CommitCertificate, CommitSignature, Hash, Height, Proposal, ProposalPayload, PublicKey, Round,
    Signature, ValidatorSet, Vote, VoteKind, VotePayload,
};

/// Rounds above the current one whose votes and proposals are kept (beyond it only the
/// sender's highest round is remembered, for the round-skip rule).
pub const ROUNDS_AHEAD: u32 = 8;

/// In-time proposals an absent proposer owes before its turns get the full `timeoutPropose`
/// again (deviation 9): a member late on every other turn cannot make every other turn cost
/// the full wait.
pub const ABSENT_PARDON: u32 = 4;

/// Rules that fire only "for the first time" in a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Once {
    PrevoteTimeout,   // L34
    Lock,             // L36
    PrecommitTimeout, // L47
}

/// Messages for the next height, kept until it starts (votes only; the driver keeps proposals,
/// which it cannot judge before applying the current block).
#[derive(Clone, Debug, Default)]
struct NextHeight {
    votes: BTreeMap<(PublicKey, Round, VoteKind), Vote>,
}

/// One validator's consensus.
#[derive(Debug)]
pub struct Consensus<V: Verifier> {
    chain_id: String,
    signer: Box<dyn Signer>,
    /// Proposals and votes the signer failed to sign.
    sign_failures: u64,
    me: PublicKey,
    timeouts: TimeoutParams,
    verifier: V,
    height: Height,
    round: Round,
    step: Step,
    locked: Option<(Round, Hash)>,
    valid: Option<(Round, Hash)>,
    schedule: Schedule,
    keeper: VoteKeeper,
    next_validators: ValidatorSet,
    proposals: BTreeMap<Round, (ProposalPayload, Validity)>,
    /// Polkas proven by signed prevotes shown whole ([`Input::Polka`], or restored with a
    /// lock), by (round, value), with the votes (to show them on and to persist with a lock).
    polkas: BTreeMap<(Round, Hash), Vec<Vote>>,
    fired: BTreeSet<(Round, Once)>,
    signed_votes: BTreeMap<(Round, VoteKind), Vote>,
    signed_proposals: BTreeMap<Round, Proposal>,
    next: NextHeight,
    /// Proposers whose turn's propose timeout fired here with no proposal of theirs, with the
    /// in-time proposals each still owes before its full timeout returns (kept across
    /// heights; deviation 9).
    absent: BTreeMap<PublicKey, u32>,
}

impl<V: Verifier> Consensus<V> {
    /// A validator signing with `signer` on chain `chain_id`, starting at `start`.
    pub fn new(
        chain_id: &str,
        signer: impl Signer + 'static,
        timeouts: TimeoutParams,
        verifier: V,
        start: HeightStart,
    ) -> (Self, Vec<Output>) {
        let me = signer.public_key();
        let mut core = Self {
            chain_id: chain_id.to_owned(),
            signer: Box::new(signer),
            sign_failures: 0,
            me,
            timeouts,
            verifier,
            height: start.height,
            round: Round::new(0),
            step: Step::Propose,
            locked: None,
            valid: None,
            schedule: Schedule::new(&start.validators),
            keeper: VoteKeeper::new(start.validators.clone(), Round::new(ROUNDS_AHEAD)),
            next_validators: start.next_validators.clone(),
            proposals: BTreeMap::new(),
            polkas: BTreeMap::new(),
            fired: BTreeSet::new(),
            signed_votes: BTreeMap::new(),
            signed_proposals: BTreeMap::new(),
            next: NextHeight::default(),
            absent: BTreeMap::new(),
        };
        let out = core.start_height(start);
        (core, out)
    }

    /// Proposals and votes this validator's signer failed to sign (each cost it that step).
    #[must_use]
    pub fn sign_failures(&self) -> u64 {
        self.sign_failures
    }

    fn sign(&mut self, preimage: &[u8]) -> Result<Signature, SignError> {
        self.signer.sign(preimage).inspect_err(|_| self.sign_failures += 1)
    }

    /// The height being decided.
    #[must_use]
    pub fn height(&self) -> Height {
        self.height
    }

    /// The current round.
    #[must_use]
    pub fn round(&self) -> Round {
        self.round
    }

    /// The current step.
    #[must_use]
    pub fn step(&self) -> Step {
        self.step
    }

    /// The lock (`lockedRound`, `lockedValue`), if any.
    #[must_use]
    pub fn locked(&self) -> Option<(Round, Hash)> {
        self.locked
    }

    /// The valid value's round (`validRound`): the latest round in which this validator saw
    /// more than two thirds prevote for the round's proposal.
    #[must_use]
    pub fn valid_round(&self) -> Option<Round> {
        self.valid.map(|(round, _)| round)
    }

    /// The votes counted for (round, kind) at the current height, for a driver that relays them
    /// (Tendermint's gossip: what one correct validator received, every correct validator
    /// eventually receives).
    #[must_use]
    pub fn votes(&self, round: Round, kind: VoteKind) -> Vec<Vote> {
        self.keeper.tally(round, kind).map(|t| t.votes().copied().collect()).unwrap_or_default()
    }

    /// The proposer of `round` at the current height.
    #[must_use]
    pub fn proposer(&self, round: Round) -> PublicKey {
        self.schedule.proposer(self.height, round)
    }

    /// Starts a height (the first, after a decision, or after catching up): every piece of
    /// round state is reset (L52–L53), this validator's records for the height are restored (so
    /// it never signs a different message for a (round, step) it signed before a restart, and
    /// its lock survives), and the round starts — the highest round it had signed in, else 0.
    pub fn start_height(&mut self, start: HeightStart) -> Vec<Output> {
        if *self.keeper.validators() != start.validators {
            self.schedule = Schedule::new(&start.validators);
        }
        self.height = start.height;
        self.keeper = VoteKeeper::new(start.validators, Round::new(ROUNDS_AHEAD));
        self.next_validators = start.next_validators;
        self.locked = None;
        self.valid = None;
        self.proposals.clear();
        self.polkas.clear();
        self.fired.clear();
        self.signed_votes.clear();
        self.signed_proposals.clear();
        // Resume in the highest round signed in; admit its window before restoring the votes.
        let resume = start.records.iter().filter_map(|r| self.own_round(r)).max();
        let resume = resume.unwrap_or(Round::new(0));
        self.keeper.admit_up_to(Round::new(resume.get().saturating_add(ROUNDS_AHEAD)));
        let restored: Vec<Vote> = start
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Vote(v) if v.payload.kind == VoteKind::Prevote => Some(*v),
                Record::Vote(_) | Record::Proposal(_) => None,
            })
            .collect();
        for record in start.records {
            self.restore(record);
        }
        // The polka kept with the lock, whole (the keeper may have dropped a vote of it).
        if let Some((round, value)) = self.locked {
            let polka: Vec<Vote> = restored
                .into_iter()
                .filter(|v| v.payload.round == round && v.payload.value == Some(value))
                .collect();
            self.prove_polka(&polka);
        }
        let buffered = std::mem::take(&mut self.next.votes);
        let mut out = Vec::new();
        self.start_round(resume, &mut out);
        let height = self.height;
        for vote in buffered.into_values().filter(|v| v.payload.height == height) {
            self.on_verified_vote(vote, &mut out);
        }
        self.progress(&mut out);
        out
    }

    /// The round of a record of this validator's own message at the current height.
    fn own_round(&self, record: &Record) -> Option<Round> {
        let (height, round, signer) = match record {
            Record::Vote(v) => (v.payload.height, v.payload.round, v.payload.validator),
            Record::Proposal(p) => (p.payload.height, p.payload.round, p.payload.proposer),
        };
        (height == self.height && signer == self.me).then_some(round)
    }

    /// Puts one write-ahead record back.
    fn restore(&mut self, record: Record) {
        match record {
            // Another validator's prevote kept with a lock (its polka).
            Record::Vote(vote)
                if vote.payload.height == self.height && vote.payload.validator != self.me =>
            {
                let _ = self.keeper.add(vote);
            }
            Record::Vote(vote) if vote.payload.height == self.height => {
                let p = vote.payload;
                self.signed_votes.insert((p.round, p.kind), vote);
                if let (VoteKind::Precommit, Some(value)) = (p.kind, p.value) {
                    // The latest non-nil precommit is the lock (L38–L39) and a valid value (L42).
                    if self.locked.is_none_or(|(r, _)| r < p.round) {
                        self.locked = Some((p.round, value));
                        self.valid = Some((p.round, value));
                    }
                }
                let _ = self.keeper.add(vote);
            }
            Record::Proposal(proposal) if proposal.payload.height == self.height => {
                let p = proposal.payload;
                self.signed_proposals.insert(p.round, proposal);
                self.proposals.insert(p.round, (p, Validity::Valid));
            }
            Record::Vote(_) | Record::Proposal(_) => {}
        }
    }

    /// Handles one input; returns the effects, in the order the driver must carry them out.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Proposal(proposal, validity) => self.on_proposal(proposal, validity, &mut out),
            Input::Vote(vote) => self.on_vote(vote, &mut out),
            Input::Polka(votes) => self.on_polka(&votes, &mut out),
            Input::Timeout(timeout) => self.on_timeout(timeout, &mut out),
            Input::Value { height, round, value } => {
                self.on_value(height, round, value, &mut out);
            }
        }
        out
    }

    // ---- rounds -------------------------------------------------------------------------------

    /// L11–L21.
    fn start_round(&mut self, round: Round, out: &mut Vec<Output>) {
        self.round = round; // L12
        self.step = Step::Propose; // L13
        self.keeper.admit_up_to(Round::new(round.get().saturating_add(ROUNDS_AHEAD)));
        // L21, for the proposer too (deviation 6 in the crate docs).
        self.schedule_timeout(TimeoutKind::Propose, out);
        if self.proposer(round) != self.me {
            return;
        }
        if let Some(signed) = self.signed_proposals.get(&round) {
            // Signed before a restart: send that one again, never another (double-sign guard).
            out.push(Output::BroadcastProposal(*signed));
        } else if let Some((valid_round, value)) = self.valid {
            self.propose(value, Some(valid_round), out); // L15–L16, L19
        } else {
            out.push(Output::RequestValue { height: self.height, round }); // L18
        }
    }

    /// L19: signs, records and broadcasts a proposal, and takes it as received.
    fn propose(&mut self, value: Hash, pol_round: Option<Round>, out: &mut Vec<Output>) {
        let payload = ProposalPayload {
            height: self.height,
            round: self.round,
            pol_round,
            value,
            proposer: self.me,
        };
        let Ok(signature) = self.sign(&payload.signing_preimage(&self.chain_id)) else {
            return;
        };
        let proposal = Proposal { payload, signature };
        self.signed_proposals.insert(self.round, proposal);
        out.push(Output::Persist(Record::Proposal(proposal)));
        out.push(Output::BroadcastProposal(proposal));
        self.proposals.insert(self.round, (payload, Validity::Valid));
    }

    fn on_value(&mut self, height: Height, round: Round, value: Hash, out: &mut Vec<Output>) {
        let asked = height == self.height
            && round == self.round
            && self.step == Step::Propose
            && self.proposer(round) == self.me
            && !self.signed_proposals.contains_key(&round);
        if asked {
            self.propose(value, None, out);
            self.progress(out);
        }
    }

    /// Signs (or, after a restart, repeats) this validator's vote for the current round and
    /// counts it.
    fn vote(&mut self, kind: VoteKind, value: Option<Hash>, out: &mut Vec<Output>) {
        let vote = match self.signed_votes.get(&(self.round, kind)) {
            // Never a different vote for a (height, round, kind) already signed.
            Some(signed) => *signed,
            None => {
                let payload = VotePayload {
                    kind,
                    height: self.height,
                    round: self.round,
                    value,
                    validator: self.me,
                };
                let Ok(signature) = self.sign(&payload.signing_preimage(&self.chain_id)) else {
                    return;
                };
                let vote = Vote { payload, signature };
                self.signed_votes.insert((self.round, kind), vote);
                out.push(Output::Persist(Record::Vote(vote)));
                vote
            }
        };
        out.push(Output::BroadcastVote(vote));
        let _ = self.keeper.add(vote);
    }

    fn schedule_timeout(&self, kind: TimeoutKind, out: &mut Vec<Output>) {
        let timeout = Timeout { height: self.height, round: self.round, kind };
        let mut after_ms = self.timeouts.duration_ms(timeout);
        if kind == TimeoutKind::Propose && self.absent.contains_key(&self.proposer(self.round)) {
            after_ms = after_ms.min(self.timeouts.absent_propose_ms(self.round)); // deviation 9
        }
        out.push(Output::ScheduleTimeout { timeout, after_ms });
    }

    // ---- inputs -------------------------------------------------------------------------------

    fn on_proposal(&mut self, proposal: Proposal, validity: Validity, out: &mut Vec<Output>) {
        let p = proposal.payload;
        if p.height != self.height || self.step == Step::Commit {
            return;
        }
        if p.proposer != self.proposer(p.round)
            || !self.verifier.proposal(&self.chain_id, &proposal)
        {
            return;
        }
        self.keeper.saw(p.proposer, p.round);
        let in_time = p.round > self.round || (p.round == self.round && self.step == Step::Propose);
        if in_time {
            self.heard_in_time(p.proposer);
        }
        let admitted = p.round.get() <= self.round.get().saturating_add(ROUNDS_AHEAD);
        // The first proposal of a round counts; an equivocating proposer's second is ignored.
        if admitted && !self.proposals.contains_key(&p.round) {
            self.proposals.insert(p.round, (p, validity));
            self.try_decide(p.round, out);
        }
        self.progress(out);
    }

    /// One in-time proposal paid off of a proposer's absence (deviation 9).
    fn heard_in_time(&mut self, proposer: PublicKey) {
        if let Some(owed) = self.absent.get_mut(&proposer) {
            *owed = owed.saturating_sub(1);
            if *owed == 0 {
                self.absent.remove(&proposer);
            }
        }
    }

    fn on_vote(&mut self, vote: Vote, out: &mut Vec<Output>) {
        let p = vote.payload;
        let next = self.height.next();
        if p.height != self.height && Some(p.height) != next {
            return;
        }
        if !self.verifier.vote(&self.chain_id, &vote) {
            return;
        }
        if Some(p.height) == next {
            self.buffer_next(vote);
            return;
        }
        self.on_verified_vote(vote, out);
        self.progress(out);
    }

    /// A polka proven by signed prevotes: one height (this one), round and value, distinct
    /// validators of the set with more than two thirds of the power, every signature valid.
    fn on_polka(&mut self, votes: &[Vote], out: &mut Vec<Output>) {
        if self.prove_polka(votes) {
            self.progress(out);
        }
    }

    /// Keeps `votes` as a polka if they are one; whether it is new.
    fn prove_polka(&mut self, votes: &[Vote]) -> bool {
        let Some(first) = votes.first().map(|v| v.payload) else { return false };
        let (round, Some(value)) = (first.round, first.value) else { return false };
        let same = |v: &Vote| {
            v.payload.kind == VoteKind::Prevote
                && v.payload.height == self.height
                && v.payload.round == round
                && v.payload.value == Some(value)
        };
        let validators = self.keeper.validators();
        let signers: BTreeSet<PublicKey> = votes.iter().map(|v| v.payload.validator).collect();
        let proven = first.height == self.height
            && signers.len() == votes.len()
            && votes.iter().all(same)
            && is_quorum(power_of(validators, signers.iter()), self.keeper.total_power())
            && votes.iter().all(|v| self.verifier.vote(&self.chain_id, v));
        if !proven || self.polkas.contains_key(&(round, value)) {
            return false;
        }
        let mut votes = votes.to_vec();
        votes.sort_by_key(|v| v.payload.validator);
        self.polkas.insert((round, value), votes);
        true
    }

    /// Whether a polka for `value` in `round` is known: counted here or proven by a peer.
    fn polka(&self, round: Round, value: Hash) -> bool {
        self.polkas.contains_key(&(round, value))
            || self.keeper.quorum_for(round, VoteKind::Prevote, Some(value))
    }

    /// The prevotes that make the polka for `value` in `round`: those counted here if they are
    /// one, else the set shown whole.
    fn polka_votes(&self, round: Round, value: Hash) -> Vec<Vote> {
        if self.keeper.quorum_for(round, VoteKind::Prevote, Some(value)) {
            if let Some(tally) = self.keeper.tally(round, VoteKind::Prevote) {
                return tally.votes_for(Some(value));
            }
        }
        self.polkas.get(&(round, value)).cloned().unwrap_or_default()
    }

    /// The prevotes of this core's valid round for its valid value (the polka a re-proposal
    /// of that value needs), for a driver to show peers.
    #[must_use]
    pub fn valid_polka(&self) -> Vec<Vote> {
        let Some((round, value)) = self.valid else { return Vec::new() };
        self.polka_votes(round, value)
    }

    /// Keeps a next-height vote by a next-height validator for an early round (first per
    /// validator, round and kind; bounded by validators × [`ROUNDS_AHEAD`] × 2).
    fn buffer_next(&mut self, vote: Vote) {
        let p = vote.payload;
        if p.round.get() < ROUNDS_AHEAD && self.next_validators.get(&p.validator).is_some() {
            self.next.votes.entry((p.validator, p.round, p.kind)).or_insert(vote);
        }
    }

    /// Counts a vote (after the decision too, so late equivocation is still reported).
    fn on_verified_vote(&mut self, vote: Vote, out: &mut Vec<Output>) {
        let counted = match self.keeper.add(vote) {
            Added::Counted => true,
            Added::Equivocation(evidence) => {
                out.push(Output::Evidence(*evidence));
                true
            }
            Added::Repeat | Added::Ignored => false,
        };
        if counted && vote.payload.kind == VoteKind::Precommit {
            self.try_decide(vote.payload.round, out);
        }
    }

    fn on_timeout(&mut self, timeout: Timeout, out: &mut Vec<Output>) {
        if timeout.height != self.height || timeout.round != self.round {
            return; // L58, L62, L66
        }
        match (timeout.kind, self.step) {
            (TimeoutKind::Propose, Step::Propose) => {
                let proposer = self.proposer(self.round);
                if proposer != self.me && !self.proposals.contains_key(&self.round) {
                    self.absent.insert(proposer, ABSENT_PARDON); // deviation 9
                }
                self.vote(VoteKind::Prevote, None, out); // L59
                self.step = Step::Prevote; // L60
            }
            (TimeoutKind::Prevote, Step::Prevote) => {
                self.vote(VoteKind::Precommit, None, out); // L63
                self.step = Step::Precommit; // L64
            }
            (TimeoutKind::Precommit, step) if step != Step::Commit => {
                let next = Round::new(self.round.get().saturating_add(1));
                self.start_round(next, out); // L67
            }
            _ => return,
        }
        self.progress(out);
    }

    // ---- rules --------------------------------------------------------------------------------

    /// Applies the round-skip rule and the current round's rules until none fires.
    fn progress(&mut self, out: &mut Vec<Output>) {
        loop {
            let before = (self.round, self.step);
            if let Some(round) = self.keeper.skip_round(self.round) {
                if self.step != Step::Commit {
                    self.start_round(round, out); // L55–L56
                }
            }
            self.current_round_rules(out);
            self.try_decide(self.round, out);
            if (self.round, self.step) == before {
                return;
            }
        }
    }

    /// L22–L48 for the current round.
    fn current_round_rules(&mut self, out: &mut Vec<Output>) {
        let round = self.round;
        let proposal = self.proposals.get(&round).copied();
        if self.step == Step::Propose {
            if let Some((p, validity)) = proposal {
                self.on_round_proposal(p, validity, out);
            }
        }
        if self.step == Step::Prevote
            && self.keeper.quorum_any(round, VoteKind::Prevote)
            && self.fired.insert((round, Once::PrevoteTimeout))
        {
            self.schedule_timeout(TimeoutKind::Prevote, out); // L34–L35
        }
        if let Some((p, Validity::Valid)) = proposal {
            let polka = self.polka(round, p.value);
            let stepped = matches!(self.step, Step::Prevote | Step::Precommit);
            if stepped && polka && self.fired.insert((round, Once::Lock)) {
                // L36
                if self.step == Step::Prevote {
                    self.persist_polka(round, p.value, out);
                    self.locked = Some((round, p.value)); // L38–L39
                    self.vote(VoteKind::Precommit, Some(p.value), out); // L40
                    self.step = Step::Precommit; // L41
                }
                self.valid = Some((round, p.value)); // L42–L43
            }
        }
        let nil_polka = self.keeper.quorum_for(round, VoteKind::Prevote, None); // L44
        let no_polka = self.no_value_can_win(round, VoteKind::Prevote); // deviation 8
        if self.step == Step::Prevote && (nil_polka || no_polka) {
            self.vote(VoteKind::Precommit, None, out); // L44–L45
            self.step = Step::Precommit; // L46
        }
        if self.step != Step::Commit
            && self.keeper.quorum_any(round, VoteKind::Precommit)
            && self.fired.insert((round, Once::PrecommitTimeout))
        {
            self.schedule_timeout(TimeoutKind::Precommit, out); // L47–L48
        }
        if self.step != Step::Commit && self.no_value_can_win(round, VoteKind::Precommit) {
            // Deviation 8: no value can be decided in this round any more; waiting out
            // timeoutPrecommit would only idle.
            self.start_round(Round::new(round.get().saturating_add(1)), out);
        }
    }

    /// Deviation 8's test: more than two thirds have voted in (round, kind) — the condition on
    /// which L34/L47 start the timeout this shortens, so at least f + 1 correct validators have
    /// reached the step too — and no value can gather a quorum there any more. (Without the
    /// first half, a validator could leave a round on its own and a Byzantine vote while the
    /// others still waited for its vote there: seed 854.)
    fn no_value_can_win(&self, round: Round, kind: VoteKind) -> bool {
        self.keeper.quorum_any(round, kind) && self.keeper.no_value_can_win(round, kind)
    }

    /// Records the prevotes that justify a lock, so a restarted validator can still show its
    /// polka (a proposal re-proposing the value needs it, L28).
    fn persist_polka(&self, round: Round, value: Hash, out: &mut Vec<Output>) {
        let polka = self.polka_votes(round, value);
        let others = polka.into_iter().filter(|v| v.payload.validator != self.me);
        out.extend(others.map(|v| Output::Persist(Record::Vote(v))));
    }

    /// L22–L33: the round's proposal while in the propose step.
    fn on_round_proposal(&mut self, p: ProposalPayload, validity: Validity, out: &mut Vec<Output>) {
        let valid = validity == Validity::Valid;
        let vote = match p.pol_round {
            // L22–L26
            None => {
                let free = self.locked.is_none_or(|(_, value)| value == p.value);
                if valid && free { Some(p.value) } else { None }
            }
            // L28–L32: needs a polka for v in the valid round vr < round.
            Some(vr) if vr < self.round => {
                if !self.polka(vr, p.value) {
                    return;
                }
                let free = self.locked.is_none_or(|(r, value)| r <= vr || value == p.value);
                if valid && free { Some(p.value) } else { None }
            }
            Some(_) => return,
        };
        self.vote(VoteKind::Prevote, vote, out);
        self.step = Step::Prevote; // L27, L33
    }

    /// L49–L54: a proposal of `round` with precommits for it from more than two thirds decides
    /// the height (in any round).
    fn try_decide(&mut self, round: Round, out: &mut Vec<Output>) {
        if self.step == Step::Commit {
            return;
        }
        let Some((p, Validity::Valid)) = self.proposals.get(&round).copied() else { return };
        if !self.keeper.quorum_for(round, VoteKind::Precommit, Some(p.value)) {
            return;
        }
        let signatures: Vec<CommitSignature> = self
            .keeper
            .tally(round, VoteKind::Precommit)
            .map(|t| {
                t.votes_for(Some(p.value))
                    .iter()
                    .map(|v| CommitSignature {
                        validator: v.payload.validator,
                        signature: v.signature,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let certificate =
            CommitCertificate { height: self.height, round, block_hash: p.value, signatures };
        self.step = Step::Commit; // L51: decision_p[h_p] = v; the driver starts h + 1 (L52–L54)
        out.push(Output::Decide { height: self.height, value: p.value, certificate });
    }
}
