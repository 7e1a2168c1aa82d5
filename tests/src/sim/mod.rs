//! Deterministic simulation of the node we ship (ARCHITECTURE.md "Tests"; STYLE.md 10).
//!
//! n validators each run the engine's real driver, executor, mempool and ledger over a store in
//! memory ([`engine`]), on one seeded event queue: simulated time, a simulated network (delay,
//! drop, duplicate, reorder, partitions that heal, asymmetric partitions), crashes at any step
//! and restarts from each node's store, whole-network restarts, Byzantine validators running
//! the engine's `misbehave` kinds, and validator-set changes by governance txs (decided at `h`,
//! in force at `h + 2`). Nothing reads a clock or an unseeded generator, so a seed replays
//! exactly: [`run`] returns a trace hash over every event it processed.
//!
//! There is no second implementation of any rule here: an earlier simulator drove the
//! consensus core with its own block building and validity rule, and so could not see defects
//! of the engine around it (docs/adr/0006). It was retired in issue #16.
//!
//! Checks, at every step: agreement (no two honest nodes commit different blocks, state roots
//! or validator sets at a height), every certificate verifies against the height's validator
//! set, no honest node stops or is penalised or named in evidence by an honest one, the
//! ledger's invariants after every block, and liveness — once every fault has healed, each
//! honest node keeps committing (no gap longer than [`LIVENESS_BOUND_MS`] of simulated time)
//! until it reaches the target height.

// Simulation sizes (validators, heights, rounds) are small: casts between them cannot truncate.
#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]

pub mod engine;

/// Runs one seed on the shipped engine.
#[must_use]
pub fn run(cfg: &Config) -> Report {
    engine::run(cfg)
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
    /// Validator-set changes by governance (a spare honest node joins and honest validators
    /// take turns leaving).
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
}

impl Config {
    /// The command that replays this run exactly.
    #[must_use]
    pub fn replay_command(&self) -> String {
        format!(
            "cargo run --release -p tokenbook-tests --bin sim -- --seeds {}..{} --validators {} \
             --byzantine {} --heights {} --faults {}",
            self.seed,
            self.seed + 1,
            self.validators,
            self.byzantine,
            self.heights,
            self.faults.to_text(),
        )
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The run's seed.
    pub seed: u64,
    /// Lowest height any honest node committed.
    pub decided: u64,
    /// Every check that failed, in order.
    pub violations: Vec<String>,
    /// Hash over every processed event: equal for two runs of one seed.
    pub trace: u64,
    /// Events processed.
    pub events: u64,
    /// Simulated time at the end (ms).
    pub time_ms: u64,
    /// Evidence of equivocation the nodes reported.
    pub evidence: u64,
    /// Fills in the committed blocks.
    pub fills: u64,
    /// How many times the committed validator set changed.
    pub set_changes: u64,
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
