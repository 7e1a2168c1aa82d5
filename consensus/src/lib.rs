//! Sans-IO Tendermint consensus core: Algorithm 1 of Buchman, Kwon, Milosevic, "The latest
//! gossip on BFT consensus" (arXiv:1807.04938), for weighted validator sets.
//!
//! **Shape.** [`Consensus::handle`] takes one [`Input`] (a proposal with the app's validity
//! verdict, a vote, a fired timeout, the value to propose) and returns the [`Output`]s the driver
//! carries out in order: persist a record, broadcast a proposal or vote, schedule a timeout,
//! request a value, decide (with its commit certificate), report equivocation evidence. No clock,
//! IO, threads or randomness: the node and the simulator (`tokenbook-tests`, binary `sim`) drive
//! the same core. Signatures are checked through a [`Verifier`] and made through a [`Signer`]
//! (the validator key may live in an HSM or a remote signer).
//!
//! **Promises.**
//! - Safety as in the paper with Byzantine validators holding less than a third of the power:
//!   quorums are "more than two thirds of the voting power", the round-skip threshold "more than
//!   one third" ([`tally`]).
//! - Double-sign protection: every proposal and vote this validator signs comes out as
//!   [`Output::Persist`] *before* its broadcast; [`Consensus::start_height`] takes the height's
//!   records back after a restart, so the core never signs a different value for a (height,
//!   round, step) it signed before, and its lock (the latest non-nil precommit) survives.
//! - Bounded memory: votes are kept for the current height, for rounds up to [`ROUNDS_AHEAD`]
//!   beyond the current one, and by validators of the height only; next-height votes are kept
//!   (bounded the same way) until the height starts; anything else is dropped.
//! - Certificates: a decision carries the precommit signatures of more than two thirds of the
//!   power; [`verify_certificate`] checks one against a validator set (nodes and auditors).
//! - Proposers rotate by voting power, deterministically ([`proposer`]).
//!
//! **Deviations from the paper** (each keeps safety; the ones marked *liveness* only change
//! when a validator moves on):
//! 1. Heights are started by the driver ([`Consensus::start_height`]) after it has applied the
//!    decided block, with the next height's validator set from the app, instead of L52–L54
//!    running inside the core. The validator set of `h` is known at `h − 1` (changes decided at
//!    `h` take effect at `h + 2`).
//! 2. `valid(v)` is the driver's verdict handed in with the proposal ([`Validity`]): the driver
//!    must hold the block to relay it anyway. Proposals for the next height are left to the
//!    driver (it cannot judge them before applying the current block).
//! 3. *Liveness:* L55 ("f + 1 messages of round `r > round_p`") is applied as "validators with
//!    more than a third of the power have sent messages for rounds ≥ `r`; go to the highest such
//!    `r`". Only each validator's highest round is remembered beyond the kept window, which bounds
//!    memory; starting any higher round is safe in Tendermint.
//! 4. Equivocation: a validator's first vote per (round, kind) counts; a different second one is
//!    not counted and yields [`Output::Evidence`]. An equivocating proposer's second proposal for
//!    a round is ignored (the first one received counts).
//! 5. The decision waits for the proposal itself (the block), as L49 requires; a validator that
//!    missed it catches up through its driver (block and certificate from a peer), not the core.
//! 6. *Liveness:* the proposer schedules `timeoutPropose` too (L21 is for non-proposers only).
//!    After a restart a proposer may re-propose its locked value without holding the polka of
//!    its round (the records hold its own votes, not the others'); without the timeout it could
//!    wait in the propose step for ever. With it, it prevotes nil like everyone else.
//! 7. Relaying: the paper assumes gossip delivers every message a correct validator received to
//!    every correct validator. The core exposes what it counted ([`Consensus::votes`],
//!    [`Consensus::valid_round`]) so the driver can relay the current round's votes and the
//!    polka of its valid round when it stalls.
//! 8. *Liveness:* once more than two thirds have voted in a round's prevotes or precommits (the
//!    condition on which L34/L47 start their timeouts) and no value can gather a quorum there
//!    any more (the most any value has plus the power not heard from is not a quorum;
//!    [`tally::VoteKeeper::no_value_can_win`]), the validator does not wait out the timeout: it
//!    precommits nil (as L44 does for a nil polka) or starts the next round (instead of
//!    L47/L65; CometBFT does the same on a nil quorum of precommits). The first condition
//!    matters: without it a validator left rounds on its own vote and a Byzantine one while
//!    the others still waited there for its vote (simulation seed 854 at 4 validators). Moving to nil or to a
//!    later round is always safe; after GST, in a round where every correct validator votes for
//!    the same value, the rule cannot fire, so liveness holds. A refused or equivocated proposal
//!    then costs a few message delays, not a timeout.
//! 9. *Liveness:* a proposer whose turn ended here by `timeoutPropose` with no proposal of its
//!    received is *absent*; its later turns get the shorter
//!    [`TimeoutParams::absent_propose_ms`] until [`ABSENT_PARDON`] proposals signed by it have
//!    arrived in time (in the propose step of their round, or for a later round). A
//!    withholding member, or one that sends just after the timeout (or only on some turns),
//!    then costs the short wait on its turns, not the full one (leader reputation, locally). The short timeout grows per round like the full one, so
//!    after GST some round's proposer is heard in time and liveness holds as in the paper; an
//!    honest proposer slower than the short wait loses its round-0 turns until it is heard in
//!    time in a later round.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

mod core;
pub mod proposer;
pub mod sign;
pub mod tally;
pub mod types;
pub mod verify;

pub use crate::core::{ABSENT_PARDON, Consensus, ROUNDS_AHEAD};
pub use sign::{SignError, Signer};
pub use types::{
    HeightStart, Input, Output, Record, Step, Timeout, TimeoutKind, TimeoutParams, Validity,
};
pub use verify::{CertificateError, Ed25519, Verifier, verify_certificate};

/// The wire-protocol crate this crate builds on.
pub use tokenbook_protocol as protocol;
