//! What a run does: the network profile and the faults on its timeline.
//!
//! Promises: the short suite holds every fault kind once, in a fixed order; a soak's schedule
//! is a function of its seed alone (printed, so a run can be repeated).

use std::time::Duration;

use super::net::{Host, Shape, Wire};

/// A network profile: the shape of every link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// One data centre: no added delay or loss.
    Lan,
    /// Validators spread over three regions (validator `i` in region `i % 3`, the harness in
    /// region 0): ~40 / 80 / 150 ms RTT between regions, ~2 ms inside one, 10% jitter, 0.5%
    /// loss.
    Regions,
    /// Every link 5% loss and 0–10 ms of jitter on 2 ms (which reorders).
    Lossy,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 3] = [Profile::Lan, Profile::Regions, Profile::Lossy];

    /// Its name on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Profile::Lan => "lan",
            Profile::Regions => "regions",
            Profile::Lossy => "lossy",
        }
    }

    /// The profile named `text`.
    ///
    /// # Errors
    /// No such profile.
    pub fn parse(text: &str) -> Result<Profile, String> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == text)
            .ok_or(format!("no profile {text:?}: lan, regions or lossy"))
    }

    /// How long every honest validator may take to commit a new height after the last heal.
    #[must_use]
    pub fn recovery_bound(self) -> Duration {
        match self {
            Profile::Lan => Duration::from_secs(10),
            Profile::Regions | Profile::Lossy => Duration::from_secs(30),
        }
    }

    /// The shape of the direction `from → to`.
    #[must_use]
    pub fn shape(self, from: Host, to: Host) -> Shape {
        match self {
            Profile::Lan => Shape::default(),
            Profile::Lossy => Shape {
                delay: Duration::from_millis(2),
                jitter: Duration::from_millis(10),
                loss_ppm: 50_000,
            },
            Profile::Regions => {
                let rtt_ms: u64 = match (region(from), region(to)) {
                    (a, b) if a == b => 2,
                    (0, 1) | (1, 0) => 40,
                    (0, 2) | (2, 0) => 80,
                    _ => 150,
                };
                let one_way = Duration::from_micros(rtt_ms * 500);
                Shape { delay: one_way, jitter: one_way / 10, loss_ppm: 5_000 }
            }
        }
    }

    /// Shapes every link of `wire` for this profile.
    pub fn apply(self, wire: &Wire, hosts: &[Host]) {
        for &from in hosts {
            for &to in hosts {
                if from != to {
                    wire.shape(from, to, self.shape(from, to));
                }
            }
        }
    }
}

fn region(host: Host) -> usize {
    match host {
        Host::Load => 0,
        Host::Validator(i) => i % 3,
    }
}

/// One fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// One validator cut off from every other host, both ways (a minority partition).
    Isolate(usize),
    /// No link between the two groups (2/2 with four validators: no quorum on either side).
    Split(Vec<usize>, Vec<usize>),
    /// `left` and `right` cannot reach each other; `shared` reaches both.
    Bridge { left: Vec<usize>, shared: usize, right: Vec<usize> },
    /// Packets from `from` to every other validator are dropped; the other way still works.
    OneWay { from: usize },
    /// `kill -9`, restarted when the fault heals.
    Kill(usize),
    /// `kill -9` of a random validator at `kills` random moments, one at a time, each restarted
    /// 1–3 s later.
    KillLoop { kills: u32 },
    /// SIGSTOP, SIGCONT when the fault heals.
    Pause(usize),
    /// Restarted with its clock `ms` off (negative: behind); restarted with a true clock when
    /// the fault heals.
    ClockOffset { node: usize, ms: i64 },
    /// Its data directory (a tmpfs of its own) is made full; the space returns when the fault
    /// heals (and a node that stopped is started again, as its supervisor would).
    DiskFull(usize),
    /// Stopped, its data deleted, started empty with state sync on: it joins from a peer's
    /// snapshot while the others commit.
    StateSync(usize),
    /// Restarted misbehaving as `kind` while `isolated`, another validator, is cut off from
    /// every host; both undone when the fault heals.
    MisbehaveInPartition { node: usize, kind: String, isolated: usize },
}

/// What the chain must do while a fault holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// More than two thirds of the power works: it keeps committing.
    Progress,
    /// No quorum: it must stop.
    Halt,
    /// More faults than the chain tolerates (f + 1): it may stop, but must never fork.
    Either,
}

/// Misbehaviours a soak runs during a partition: ones an honest peer does not ban for (a
/// banned validator stays out for `p2p.ban_secs` after it is honest again, which is the
/// penalty, not a failure to recover).
const PARTITION_MISBEHAVIOURS: [&str; 4] =
    ["bad-state-root", "future-time", "equivocate", "withhold"];

/// Clock offsets a soak picks from: ±2 s and ±1 h.
const CLOCK_OFFSETS: [i64; 4] = [2_000, -2_000, 3_600_000, -3_600_000];

impl Fault {
    /// A short name for verdict lines and the picture.
    #[must_use]
    pub fn label(&self) -> String {
        let list = |v: &[usize]| v.iter().map(|i| format!("v{i}")).collect::<Vec<_>>().join("+");
        match self {
            Fault::Isolate(i) => format!("isolate v{i}"),
            Fault::Split(a, b) => format!("split {} | {}", list(a), list(b)),
            Fault::Bridge { left, shared, right } => {
                format!("bridge {} | v{shared} | {}", list(left), list(right))
            }
            Fault::OneWay { from } => format!("one-way v{from} -> others"),
            Fault::Kill(i) => format!("kill -9 v{i}"),
            Fault::KillLoop { kills } => format!("kill -9 loop x{kills}"),
            Fault::Pause(i) => format!("SIGSTOP v{i}"),
            Fault::ClockOffset { node, ms } => format!("clock v{node} {}", offset_label(*ms)),
            Fault::DiskFull(i) => format!("disk full v{i}"),
            Fault::StateSync(i) => format!("state-sync restart v{i}"),
            Fault::MisbehaveInPartition { node, kind, isolated } => {
                format!("misbehave v{node}={kind} + isolate v{isolated}")
            }
        }
    }

    /// What the chain must do during the fault, with `n` equal validators: commit when the
    /// validators left working hold more than two thirds of the power, stop when no side does.
    #[must_use]
    pub fn expect(&self, n: usize) -> Expect {
        let quorum = 2 * n / 3 + 1;
        let progress = |up: usize| if up >= quorum { Expect::Progress } else { Expect::Halt };
        match self {
            Fault::Split(a, b) => progress(a.len().max(b.len())),
            Fault::Bridge { left, right, .. } => progress(left.len().max(right.len()) + 1),
            Fault::MisbehaveInPartition { .. } if n - 2 < quorum => Expect::Either,
            Fault::MisbehaveInPartition { .. } => Expect::Progress,
            // One validator down at a time.
            _ => progress(n - 1),
        }
    }
}

fn offset_label(ms: i64) -> String {
    let sign = if ms < 0 { '-' } else { '+' };
    let abs = ms.unsigned_abs();
    if abs >= 3_600_000 && abs % 3_600_000 == 0 {
        format!("{sign}{} h", abs / 3_600_000)
    } else {
        format!("{sign}{} s", abs as f64 / 1e3)
    }
}

/// A fault held for a while on the timeline.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// What is done.
    pub fault: Fault,
    /// How long it lasts before it heals.
    pub hold: Duration,
}

/// The short suite for `n` validators (n ≥ 4): every fault kind once.
#[must_use]
pub fn short_suite(n: usize) -> Vec<Scenario> {
    let last = n - 1;
    let half = n / 2;
    let hold = Duration::from_secs(12);
    let faults = vec![
        Fault::Isolate(last),
        Fault::Split((0..half).collect(), (half..n).collect()),
        Fault::Bridge { left: (0..half).collect(), shared: half, right: (half + 1..n).collect() },
        Fault::OneWay { from: 1 },
        Fault::Kill(2),
        Fault::Pause(1),
        Fault::KillLoop { kills: 3 },
        Fault::ClockOffset { node: 1, ms: 3_600_000 },
        Fault::ClockOffset { node: 2, ms: -2_000 },
        Fault::DiskFull(2),
        Fault::StateSync(last),
        Fault::MisbehaveInPartition { node: last, kind: "equivocate".into(), isolated: 0 },
    ];
    faults.into_iter().map(|fault| Scenario { fault, hold }).collect()
}

/// The scenarios of `plan` numbered in `only` (1-based, kept in plan order); all when `only`
/// is empty.
///
/// # Errors
/// A number outside the plan.
pub fn only(plan: Vec<Scenario>, only: &[usize]) -> Result<Vec<Scenario>, String> {
    if let Some(bad) = only.iter().find(|&&k| k == 0 || k > plan.len()) {
        return Err(format!("--only {bad}: the plan has scenarios 1..={}", plan.len()));
    }
    Ok(plan
        .into_iter()
        .enumerate()
        .filter(|(k, _)| only.is_empty() || only.contains(&(k + 1)))
        .map(|(_, s)| s)
        .collect())
}

/// A soak's schedule: random faults (each 5–30 s) from `seed`, as many as fit in `minutes`.
#[must_use]
pub fn soak(n: usize, minutes: u64, seed: u64) -> Vec<Scenario> {
    let mut random = seed | 1;
    let mut next = |below: u64| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % below.max(1)
    };
    let kinds = short_suite(n);
    let mut out = Vec::new();
    let mut total = Duration::ZERO;
    // Each scenario also waits for recovery and settles (~10 s).
    while total < Duration::from_secs(minutes * 60) {
        let pick = usize::try_from(next(kinds.len() as u64)).unwrap_or(0);
        let node = usize::try_from(next(n as u64)).unwrap_or(0);
        let fault = match kinds[pick].fault.clone() {
            Fault::Isolate(_) => Fault::Isolate(node),
            Fault::OneWay { .. } => Fault::OneWay { from: node },
            Fault::Kill(_) => Fault::Kill(node),
            Fault::Pause(_) => Fault::Pause(node),
            Fault::DiskFull(_) => Fault::DiskFull(node),
            Fault::StateSync(_) => Fault::StateSync(node),
            Fault::ClockOffset { .. } => {
                let ms = CLOCK_OFFSETS[usize::try_from(next(4)).unwrap_or(0)];
                Fault::ClockOffset { node, ms }
            }
            Fault::MisbehaveInPartition { .. } => {
                let kind = PARTITION_MISBEHAVIOURS[usize::try_from(next(4)).unwrap_or(0)];
                let isolated = (node + 1 + usize::try_from(next(n as u64 - 1)).unwrap_or(0)) % n;
                Fault::MisbehaveInPartition { node, kind: kind.into(), isolated }
            }
            other => other,
        };
        let hold = Duration::from_secs(5 + next(26));
        total += hold + Duration::from_secs(10);
        out.push(Scenario { fault, hold });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_suite_holds_every_kind_once_and_knows_which_keep_a_quorum() {
        let suite = short_suite(4);
        let kinds: std::collections::BTreeSet<String> = suite
            .iter()
            .map(|s| s.fault.label().split(' ').take(3).collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(kinds.len(), suite.len());
        let expect: Vec<Expect> = suite.iter().map(|s| s.fault.expect(4)).collect();
        let (p, h, e) = (Expect::Progress, Expect::Halt, Expect::Either);
        assert_eq!(expect, [p, h, p, p, p, p, p, p, p, p, p, e]);
        assert_eq!(
            Fault::MisbehaveInPartition { node: 6, kind: "withhold".into(), isolated: 0 }.expect(7),
            p
        );
        assert_eq!(Fault::ClockOffset { node: 1, ms: -3_600_000 }.label(), "clock v1 -1 h");
        assert_eq!(Fault::ClockOffset { node: 1, ms: 2_000 }.label(), "clock v1 +2 s");
    }

    #[test]
    fn a_soak_schedule_is_a_function_of_its_seed() {
        let labels = |seed| soak(4, 5, seed).iter().map(|s| s.fault.label()).collect::<Vec<_>>();
        assert_eq!(labels(7), labels(7));
        assert_ne!(labels(7), labels(8));
        assert!(labels(7).len() >= 5);
    }

    #[test]
    fn region_delays_are_symmetric_and_ordered() {
        let (a, b, c) = (Host::Validator(0), Host::Validator(1), Host::Validator(2));
        let d = |x, y| Profile::Regions.shape(x, y).delay;
        assert_eq!(d(a, b), d(b, a));
        assert!(d(a, b) < d(a, c) && d(a, c) < d(b, c));
        assert_eq!(d(b, c), Duration::from_millis(75));
        assert_eq!(Profile::parse("lossy"), Ok(Profile::Lossy));
        assert!(Profile::parse("moon").is_err());
    }
}
