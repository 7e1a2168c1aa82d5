//! Byzantine behaviours of a validator, for testing the shipped node against a misbehaving
//! member (cargo feature `misbehave`; never in default builds).
//!
//! The driver runs normally; a [`Misbehave`] tampers with the blocks it proposes and rewrites
//! what it sends. Each kind is named as in issue #16 (`tokenbook-node start --misbehave KIND`,
//! `tokenbook-devnet up --misbehave N=KIND`, the simulator's `--byzantine`). An honest network
//! must answer every kind with nil prevotes, refusals or penalties, and keep committing.

use crate::driver::Action;
use crate::executor::Executor;
use crate::storage::ChainStore;
use std::collections::{BTreeMap, VecDeque};
use tokenbook_protocol::message::Message;
use tokenbook_protocol::{
    AccountId, Block, CancelAll, Hash, Height, Keypair, MAX_BLOCK_TXS, Proposal, ProposalPayload,
    Round, Timestamp, Tx, TxBody, TxPayload, Vote, VotePayload, crypto,
};

/// A Byzantine behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Misbehaviour {
    /// Proposes headers with a state root nobody has.
    BadStateRoot,
    /// Proposes block times far ahead: `u64::MAX`, one year, two seconds, in turn.
    FutureTime,
    /// Proposes block times not after the parent's.
    StaleTime,
    /// Proposes headers whose tx root is not the txs'.
    BadTxRoot,
    /// Proposes headers naming another validator set.
    BadValidatorSet,
    /// Proposes headers naming another validator as proposer.
    WrongProposer,
    /// Adds txs with a bad signature, an unknown account or a replayed nonce, in turn.
    InvalidTxs,
    /// Adds a tx whose signature has a torsion component in `R` (valid under the cofactored
    /// rule, docs/adr/0002: honest validators must all judge it alike, whatever their mempools
    /// hold).
    TorsionSig,
    /// Includes a tx twice.
    DuplicateTxs,
    /// Proposes more txs than a block may hold.
    OversizeBlock,
    /// Proposes two blocks for each round it proposes.
    Equivocate,
    /// Sends no proposal and no vote.
    Withhold,
    /// Sends a conflicting second vote with each vote.
    DoubleVote,
    /// Also sends votes for rounds and heights far ahead.
    FarRound,
    /// Sends messages of earlier heights again.
    ReplayOld,
    /// Forgets its lock and the block's validity: every vote it sends is for the round's
    /// proposal, whatever its core decided (the amnesia attack on Tendermint's locking).
    Amnesia,
}

impl Misbehaviour {
    /// Every kind, in the order of issue #16 (amnesia added with the retired consensus-only
    /// simulator, which had it).
    pub const ALL: [Misbehaviour; 16] = [
        Misbehaviour::BadStateRoot,
        Misbehaviour::FutureTime,
        Misbehaviour::StaleTime,
        Misbehaviour::BadTxRoot,
        Misbehaviour::BadValidatorSet,
        Misbehaviour::WrongProposer,
        Misbehaviour::InvalidTxs,
        Misbehaviour::TorsionSig,
        Misbehaviour::DuplicateTxs,
        Misbehaviour::OversizeBlock,
        Misbehaviour::Equivocate,
        Misbehaviour::Withhold,
        Misbehaviour::DoubleVote,
        Misbehaviour::FarRound,
        Misbehaviour::ReplayOld,
        Misbehaviour::Amnesia,
    ];

    /// The kind's name (`bad-state-root`, …).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Misbehaviour::BadStateRoot => "bad-state-root",
            Misbehaviour::FutureTime => "future-time",
            Misbehaviour::StaleTime => "stale-time",
            Misbehaviour::BadTxRoot => "bad-tx-root",
            Misbehaviour::BadValidatorSet => "bad-validator-set",
            Misbehaviour::WrongProposer => "wrong-proposer",
            Misbehaviour::InvalidTxs => "invalid-txs",
            Misbehaviour::TorsionSig => "torsion-sig",
            Misbehaviour::DuplicateTxs => "duplicate-txs",
            Misbehaviour::OversizeBlock => "oversize-block",
            Misbehaviour::Equivocate => "equivocate",
            Misbehaviour::Withhold => "withhold",
            Misbehaviour::DoubleVote => "double-vote",
            Misbehaviour::FarRound => "far-round",
            Misbehaviour::ReplayOld => "replay-old",
            Misbehaviour::Amnesia => "amnesia",
        }
    }
}

impl std::fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Misbehaviour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Misbehaviour::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Misbehaviour::ALL.iter().map(|k| k.name()).collect();
            format!("unknown misbehaviour {s:?}; one of {}", names.join(", "))
        })
    }
}

/// Old messages kept for [`Misbehaviour::ReplayOld`].
const REPLAY_KEPT: usize = 64;
/// Old messages replayed per output.
const REPLAY_PER_OUTPUT: usize = 8;

/// One validator's misbehaviour, with the key it signs its lies with.
pub struct Misbehave {
    kind: Misbehaviour,
    key: Keypair,
    chain: String,
    /// Messages sent at earlier heights (for `replay-old`).
    old: VecDeque<(Height, Message)>,
}

impl std::fmt::Debug for Misbehave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Misbehave").field("kind", &self.kind).finish()
    }
}

impl Misbehave {
    /// `kind`, signing with `key` on `chain`.
    #[must_use]
    pub fn new(kind: Misbehaviour, key: &Keypair, chain: &str) -> Misbehave {
        Misbehave {
            kind,
            key: Keypair::from_seed(&key.seed()),
            chain: chain.into(),
            old: VecDeque::new(),
        }
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> Misbehaviour {
        self.kind
    }

    /// The block this validator proposes instead of `block`.
    #[must_use]
    pub fn block<S: ChainStore>(&self, mut block: Block, executor: &Executor<S>) -> Block {
        let height = block.header.height.get();
        let lie = Hash::digest(format!("{}:{height}", self.kind).as_bytes());
        let header = &mut block.header;
        match self.kind {
            Misbehaviour::BadStateRoot => header.state_root = lie,
            Misbehaviour::BadTxRoot => header.tx_root = lie,
            Misbehaviour::BadValidatorSet => header.validator_set_hash = lie,
            Misbehaviour::FutureTime => {
                let year = 365 * 24 * 3_600_000;
                header.time = match height % 3 {
                    0 => Timestamp::new(u64::MAX),
                    1 => Timestamp::new(header.time.get().saturating_add(year)),
                    _ => Timestamp::new(header.time.get().saturating_add(2_000)),
                };
            }
            Misbehaviour::StaleTime => header.time = executor.ledger().time,
            Misbehaviour::WrongProposer => {
                let set = executor.ledger().validator_set_for(header.height);
                if let Some(other) =
                    set.validators.iter().find(|v| v.consensus_key != header.proposer)
                {
                    header.proposer = other.consensus_key;
                }
            }
            Misbehaviour::InvalidTxs => {
                let tx = self.invalid_tx(height, executor);
                block.txs.push(tx);
                block.header.tx_root = block.compute_tx_root();
            }
            Misbehaviour::TorsionSig => {
                let mut tx = self.own_tx(height);
                let preimage = tx.payload.signing_preimage(&self.chain);
                tx.signature = crypto::craft::torsion_signature(&self.key, &preimage, height);
                block.txs.push(tx);
                block.header.tx_root = block.compute_tx_root();
            }
            Misbehaviour::DuplicateTxs => {
                let tx = block.txs.first().cloned().unwrap_or_else(|| self.own_tx(height));
                block.txs.extend([tx.clone(), tx]);
                block.header.tx_root = block.compute_tx_root();
            }
            Misbehaviour::OversizeBlock => {
                let tx = self.own_tx(height);
                block.txs = vec![tx; MAX_BLOCK_TXS + 1];
                block.header.tx_root = block.compute_tx_root();
            }
            Misbehaviour::Equivocate
            | Misbehaviour::Withhold
            | Misbehaviour::DoubleVote
            | Misbehaviour::FarRound
            | Misbehaviour::ReplayOld
            | Misbehaviour::Amnesia => {}
        }
        block
    }

    /// A tx signed by this validator's key for an account that does not exist.
    fn own_tx(&self, nonce: u64) -> Tx {
        TxPayload {
            account: AccountId::new(u64::MAX / 2),
            signer: self.key.public_key(),
            nonce,
            body: TxBody::CancelAll(CancelAll { market: None }),
        }
        .sign(&self.key, &self.chain)
    }

    /// A bad signature, an unknown account, or a tx of the last block again, in turn.
    fn invalid_tx<S: ChainStore>(&self, height: u64, executor: &Executor<S>) -> Tx {
        let mut tx = self.own_tx(height);
        match height % 3 {
            0 => tx.signature.0[7] ^= 0x20,
            1 => {}
            _ => {
                // The last block may still be on its way to disk (staged); the one before it is
                // not.
                let height = executor.height();
                let stored = |h: Height| executor.store().block(h).ok().flatten();
                let before = Height::new(height.get().saturating_sub(1));
                let last = stored(height).or_else(|| stored(before));
                if let Some(old) = last.and_then(|b| b.txs.first().cloned()) {
                    tx = old;
                }
            }
        }
        tx
    }

    /// What this validator sends instead of `actions`, at `height` where `proposals` are the
    /// proposals its driver holds, by round.
    #[must_use]
    pub fn actions(
        &mut self,
        actions: Vec<Action>,
        height: Height,
        proposals: &BTreeMap<Round, Proposal>,
    ) -> Vec<Action> {
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            let action = self.forget(action, height, proposals);
            let Action::Broadcast(message @ (Message::Proposal { .. } | Message::Vote(_))) =
                &action
            else {
                out.push(action);
                continue;
            };
            self.remember(height, message);
            out.extend(self.lies(message));
            if self.kind != Misbehaviour::Withhold {
                out.push(action);
            }
        }
        if self.kind == Misbehaviour::ReplayOld {
            let old = self.old.iter().filter(|(h, _)| *h < height).take(REPLAY_PER_OUTPUT);
            out.extend(old.map(|(_, m)| Action::Broadcast(m.clone())));
        }
        out
    }

    /// With amnesia, a vote of this height becomes a vote for its round's proposal.
    fn forget(
        &self,
        action: Action,
        height: Height,
        proposals: &BTreeMap<Round, Proposal>,
    ) -> Action {
        let Action::Broadcast(Message::Vote(vote)) = &action else { return action };
        let p = vote.payload;
        let proposed = proposals.get(&p.round).map(|proposal| proposal.payload.value);
        match proposed {
            Some(value)
                if self.kind == Misbehaviour::Amnesia
                    && p.height == height
                    && p.value != Some(value) =>
            {
                self.vote(vote, p.height, p.round, Some(value))
            }
            _ => action,
        }
    }

    fn remember(&mut self, height: Height, message: &Message) {
        if self.kind != Misbehaviour::ReplayOld {
            return;
        }
        if self.old.len() == REPLAY_KEPT {
            self.old.pop_front();
        }
        self.old.push_back((height, message.clone()));
    }

    /// Extra messages sent along with `message`.
    fn lies(&self, message: &Message) -> Vec<Action> {
        match (self.kind, message) {
            (Misbehaviour::Equivocate, Message::Proposal { proposal, block, prev_certificate }) => {
                let mut other = block.clone();
                other.header.time = Timestamp::new(other.header.time.get().saturating_add(1));
                let proposal = self.sign_proposal(proposal, other.hash());
                let prev_certificate = prev_certificate.clone();
                vec![Action::Broadcast(Message::Proposal {
                    proposal,
                    block: other,
                    prev_certificate,
                })]
            }
            (Misbehaviour::DoubleVote, Message::Vote(vote)) => {
                let value = match vote.payload.value {
                    Some(_) => None,
                    None => Some(Hash::digest(b"double-vote")),
                };
                vec![self.vote(vote, vote.payload.height, vote.payload.round, value)]
            }
            (Misbehaviour::FarRound, Message::Vote(vote)) => {
                let p = vote.payload;
                let far_round = Round::new(p.round.get().saturating_add(1_000_000));
                let far_height = Height::new(p.height.get().saturating_add(1_000));
                vec![
                    self.vote(vote, p.height, far_round, p.value),
                    self.vote(vote, far_height, Round::new(0), p.value),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn sign_proposal(&self, proposal: &Proposal, value: Hash) -> Proposal {
        ProposalPayload { value, ..proposal.payload }.sign(&self.key, &self.chain)
    }

    fn vote(&self, vote: &Vote, height: Height, round: Round, value: Option<Hash>) -> Action {
        let payload = VotePayload { height, round, value, ..vote.payload };
        Action::Broadcast(Message::Vote(payload.sign(&self.key, &self.chain)))
    }
}
