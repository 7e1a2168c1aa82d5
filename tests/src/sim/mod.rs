//! Deterministic simulation of n validators running the real consensus core
//! (ARCHITECTURE.md "Tests"; STYLE.md 10).
//!
//! One seeded event queue drives everything: simulated time, a simulated network (delay, drop,
//! duplicate, reorder, partitions that heal, asymmetric partitions), crashes and restarts from
//! each node's persisted records, Byzantine validators (equivocating proposer, double voter,
//! withholder, sender of votes for far rounds and heights), and an app that changes the validator
//! set (decided at `h`, in force at `h + 2`). Nothing reads a clock or an unseeded generator, so
//! a seed replays exactly: [`run`] returns a trace hash over every event it processed.
//!
//! With [`Config::ledger`] the app is the real ledger ([`app`]): blocks carry signed txs and
//! every node applies every decided block to its own state.
//!
//! Checks, at every step: agreement (no two honest nodes decide different values at a height),
//! validity (only blocks the app accepts are decided), every certificate verifies against the
//! height's validator set, identical state roots at every height (with the ledger), every
//! equivocation an honest core was shown produced evidence, and
//! liveness — once every fault has healed, each honest node keeps deciding (no gap longer than
//! [`LIVENESS_BOUND_MS`] of simulated time) until it reaches the target height.

// Simulation sizes (validators, heights, rounds) are small: casts between them cannot truncate.
#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]

pub mod app;
pub mod engine;
mod node;
mod world;

/// Runs one seed: with [`Config::ledger`] on the real engine ([`engine`]: the driver, executor,
/// mempool and ledger the node ships, over a store in memory), otherwise the consensus core
/// alone with validator-set changes (`world`).
#[must_use]
pub fn run(cfg: &Config) -> Report {
    if cfg.ledger { engine::run(cfg) } else { world::run(cfg) }
}

/// Longest an honest node may go without a decision once all faults have healed.
pub const LIVENESS_BOUND_MS: u64 = 60_000;

/// The chain id of simulated networks.
pub const CHAIN: &str = "tokenbook-sim";

/// Which faults a run injects (all of them by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Faults {
    /// Lost messages.
    pub drop: bool,
    /// Duplicated messages.
    pub duplicate: bool,
    /// Long, varying delays (messages overtake each other).
    pub reorder: bool,
    /// Partitions into two groups that heal.
    pub partition: bool,
    /// One-way partitions that heal.
    pub asymmetric: bool,
    /// Honest nodes crash and restart from their records.
    pub crash: bool,
    /// Validator-set changes by the app.
    pub set_changes: bool,
}

impl Faults {
    /// Every fault kind.
    #[must_use]
    pub fn all() -> Self {
        Self {
            drop: true,
            duplicate: true,
            reorder: true,
            partition: true,
            asymmetric: true,
            crash: true,
            set_changes: true,
        }
    }

    /// No fault (Byzantine validators still misbehave if configured).
    #[must_use]
    pub fn none() -> Self {
        Self {
            drop: false,
            duplicate: false,
            reorder: false,
            partition: false,
            asymmetric: false,
            crash: false,
            set_changes: false,
        }
    }

    /// Parses a comma-separated list (`all`, `none`, or names of the fields).
    ///
    /// # Errors
    /// An unknown name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut faults = Self::none();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "all" => faults = Self::all(),
                "none" => faults = Self::none(),
                "drop" => faults.drop = true,
                "duplicate" => faults.duplicate = true,
                "reorder" => faults.reorder = true,
                "partition" => faults.partition = true,
                "asymmetric" => faults.asymmetric = true,
                "crash" => faults.crash = true,
                "set-changes" => faults.set_changes = true,
                other => return Err(format!("unknown fault {other:?}")),
            }
        }
        Ok(faults)
    }

    /// The canonical text form (what [`Faults::parse`] reads back).
    #[must_use]
    pub fn to_text(&self) -> String {
        let names = [
            (self.drop, "drop"),
            (self.duplicate, "duplicate"),
            (self.reorder, "reorder"),
            (self.partition, "partition"),
            (self.asymmetric, "asymmetric"),
            (self.crash, "crash"),
            (self.set_changes, "set-changes"),
        ];
        let on: Vec<&str> = names.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
        if on.is_empty() { "none".into() } else { on.join(",") }
    }
}

/// One run's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The seed of every random choice.
    pub seed: u64,
    /// Validators in the network.
    pub validators: usize,
    /// How many of them are Byzantine (must stay below a third of the power).
    pub byzantine: usize,
    /// Run until every honest node has decided this many heights.
    pub heights: u64,
    /// Faults to inject.
    pub faults: Faults,
    /// Run the real ledger as the app (blocks of signed txs, state roots compared).
    pub ledger: bool,
}

impl Config {
    /// The command that replays this run exactly.
    #[must_use]
    pub fn replay_command(&self) -> String {
        format!(
            "cargo run --release -p tokenbook-tests --bin sim -- --seeds {}..{} --validators {} \
             --byzantine {} --heights {} --faults {}{}",
            self.seed,
            self.seed + 1,
            self.validators,
            self.byzantine,
            self.heights,
            self.faults.to_text(),
            if self.ledger { " --ledger" } else { "" }
        )
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The run's seed.
    pub seed: u64,
    /// Lowest height any honest node reached.
    pub decided: u64,
    /// Every check that failed, in order.
    pub violations: Vec<String>,
    /// Hash over every processed event: equal for two runs of one seed.
    pub trace: u64,
    /// Events processed.
    pub events: u64,
    /// Simulated time at the end (ms).
    pub time_ms: u64,
    /// Evidence reports by honest nodes.
    pub evidence: u64,
    /// Fills in the decided blocks (with the ledger).
    pub fills: u64,
    /// Where each node stood at the end (height, round, step, lock), for diagnosing a failure.
    pub nodes: Vec<String>,
}

/// SplitMix64: the simulation's only source of chance.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1_000) < per_mille
    }
}
