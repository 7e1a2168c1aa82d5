//! What a long run must not show: validators that grow (memory, open files) or stall more as
//! the chain grows.
//!
//! The harness reads every validator's resident memory and open file descriptors from `/proc`
//! after each scenario, and the monitor's height samples give every gap between commits.
//!
//! Promises: growth is judged per process lifetime (a restart starts a new baseline, taken a
//! third of the way into that lifetime, after warm-up); a gap between commits counts only when
//! no fault window (start to recovery) overlaps it.

use super::load::Sample;

/// One validator process, read once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// ms since the run's start.
    pub at_ms: u64,
    /// Validator index.
    pub validator: usize,
    /// Its process id.
    pub pid: u32,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Of `rss_kib`, what the node's store holds by design in RocksDB's memtables, block
    /// cache and table readers (its `/metrics`; `None` when it did not answer, e.g. cut off
    /// from the harness), KiB. Bounded by configuration (256 MiB of cache, the write buffers),
    /// it fills as the chain grows; the growth verdict judges the rest, on the readings that
    /// have it.
    pub store_kib: Option<u64>,
}

impl Reading {
    /// Resident memory beyond the store's caches, KiB.
    #[must_use]
    pub fn own_kib(&self) -> u64 {
        self.rss_kib.saturating_sub(self.store_kib.unwrap_or(0))
    }
}

/// `tokenbook_store_memory_bytes` from a node's `/metrics` text, in KiB.
#[must_use]
pub fn store_kib(metrics: &str) -> Option<u64> {
    let line = metrics.lines().find(|l| l.starts_with("tokenbook_store_memory_bytes "))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|bytes| bytes / 1024)
}

/// Reads every running validator (`pids[i]`: validator `i`'s process, if it runs).
#[must_use]
pub fn read(pids: &[Option<u32>], at_ms: u64) -> Vec<Reading> {
    pids.iter()
        .enumerate()
        .filter_map(|(validator, pid)| {
            let pid = (*pid)?;
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let rss_kib = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())?;
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
            Some(Reading { at_ms, validator, pid, rss_kib, fds, store_kib: None })
        })
        .collect()
}

/// Most open files a process may gain after warm-up.
const FD_SLACK: u64 = 64;
/// Most resident memory a process may gain after warm-up: half again, plus 64 MiB.
const RSS_SLACK_KIB: u64 = 64 * 1024;

/// The growth verdict.
#[derive(Debug, Default)]
pub struct Growth {
    /// Process lifetimes long enough to judge (≥ 4 readings).
    pub judged: usize,
    /// The largest gains seen (KiB beyond the store's caches, fds) from baseline to last
    /// reading.
    pub largest: (i64, i64),
    /// The most the store's caches held in any reading (KiB).
    pub store_kib: u64,
    /// Each process that grew past the slack.
    pub problems: Vec<String>,
}

impl Growth {
    /// One verdict line.
    #[must_use]
    pub fn line(&self) -> String {
        let verdict = if self.problems.is_empty() {
            "ok".to_string()
        } else {
            format!("GROWTH: {}", self.problems.join("; "))
        };
        format!(
            "resources: {} validator lifetimes judged, largest gain after warm-up {} MiB \
             resident beyond the store's caches (which held up to {} MiB), {} open files: \
             {verdict}",
            self.judged,
            self.largest.0 / 1024,
            self.store_kib / 1024,
            self.largest.1
        )
    }
}

/// Judges every process lifetime in `readings`.
#[must_use]
pub fn growth(readings: &[Reading]) -> Growth {
    let mut lives: std::collections::BTreeMap<(usize, u32), Vec<Reading>> = Default::default();
    for r in readings {
        lives.entry((r.validator, r.pid)).or_default().push(*r);
    }
    let mut out = Growth {
        store_kib: readings.iter().filter_map(|r| r.store_kib).max().unwrap_or(0),
        ..Growth::default()
    };
    for ((validator, pid), life) in lives {
        if life.len() < 4 {
            continue;
        }
        out.judged += 1;
        // Memory only where the store's share is known: a node the harness could not reach
        // (cut off by the fault) would otherwise count its whole cache as growth.
        let known: Vec<Reading> = life.iter().filter(|r| r.store_kib.is_some()).copied().collect();
        if known.len() >= 4 {
            let (base_kib, last_kib) =
                (known[known.len() / 3].own_kib(), known[known.len() - 1].own_kib());
            let rss_gain =
                i64::try_from(last_kib).unwrap_or(i64::MAX) - i64::try_from(base_kib).unwrap_or(0);
            out.largest.0 = out.largest.0.max(rss_gain);
            if last_kib > base_kib + base_kib / 2 + RSS_SLACK_KIB {
                out.problems.push(format!(
                    "v{validator} (pid {pid}) resident beyond the store's caches {} → {} MiB",
                    base_kib / 1024,
                    last_kib / 1024
                ));
            }
        }
        let (base, last) = (life[life.len() / 3], life[life.len() - 1]);
        let fd_gain =
            i64::try_from(last.fds).unwrap_or(i64::MAX) - i64::try_from(base.fds).unwrap_or(0);
        out.largest.1 = out.largest.1.max(fd_gain);
        if last.fds > base.fds + FD_SLACK {
            out.problems
                .push(format!("v{validator} (pid {pid}) open files {} → {}", base.fds, last.fds));
        }
    }
    out
}

/// The readings as CSV.
#[must_use]
pub fn csv(readings: &[Reading]) -> String {
    let mut out = String::from("ms,validator,pid,rss_kib,store_kib,fds\n");
    for r in readings {
        let (at, v, pid, rss, store, fds) =
            (r.at_ms, r.validator, r.pid, r.rss_kib, r.store_kib, r.fds);
        let store = store.map_or(String::new(), |kib| kib.to_string());
        out += &format!("{at},{v},{pid},{rss},{store},{fds}\n");
    }
    out
}

/// The longest a chain may go without a commit when no fault disturbs it.
const STALL_LIMIT_MS: u64 = 5_000;

/// Gaps between commits outside fault windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stalls {
    /// The largest gap in the run's first half (ms).
    pub first_half_ms: u64,
    /// The largest gap in its second half (ms).
    pub second_half_ms: u64,
}

impl Stalls {
    /// What is wrong, if anything.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let worst = self.first_half_ms.max(self.second_half_ms);
        if worst > STALL_LIMIT_MS {
            vec![format!("the chain stalled {worst} ms with no fault")]
        } else {
            Vec::new()
        }
    }

    /// One verdict line.
    #[must_use]
    pub fn line(&self) -> String {
        let problems = self.problems();
        let verdict = if problems.is_empty() { "ok".into() } else { problems.join("; ") };
        format!(
            "stalls: largest gap between commits outside fault windows {} ms in the first half, \
             {} ms in the second (limit {STALL_LIMIT_MS} ms): {verdict}",
            self.first_half_ms, self.second_half_ms
        )
    }
}

/// The largest gaps between increases of the highest height in `samples`, skipping gaps that
/// overlap a `windows` span `(from_ms, to_ms)`.
#[must_use]
pub fn stalls(samples: &[Sample], windows: &[(u64, u64)]) -> Stalls {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return Stalls::default();
    };
    let middle = first.at_ms + (last.at_ms - first.at_ms) / 2;
    let mut out = Stalls::default();
    let (mut top, mut since) = (0u64, first.at_ms);
    for s in samples {
        let Some(height) = s.height else { continue };
        if height <= top {
            continue;
        }
        let gap = s.at_ms - since;
        let disturbed = windows.iter().any(|&(from, to)| from < s.at_ms && since < to);
        if !disturbed && top > 0 {
            let half =
                if s.at_ms <= middle { &mut out.first_half_ms } else { &mut out.second_half_ms };
            *half = (*half).max(gap);
        }
        (top, since) = (height, s.at_ms);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, height: u64) -> Sample {
        Sample { at_ms, validator: 0, height: Some(height) }
    }

    #[test]
    fn a_gap_counts_only_outside_fault_windows() {
        let samples =
            [sample(0, 1), sample(100, 2), sample(9_100, 3), sample(9_200, 4), sample(20_000, 5)];
        let quiet = stalls(&samples, &[]);
        assert_eq!(quiet, Stalls { first_half_ms: 9_000, second_half_ms: 10_800 });
        assert_eq!(quiet.problems().len(), 1);
        let faulted = stalls(&samples, &[(200, 9_000), (15_000, 16_000)]);
        assert_eq!(faulted, Stalls { first_half_ms: 100, second_half_ms: 0 });
        assert!(faulted.problems().is_empty());
    }

    #[test]
    fn growth_is_judged_per_process_lifetime_after_warm_up() {
        let r = |at_ms, pid, rss_kib, fds| Reading {
            at_ms,
            validator: 1,
            pid,
            rss_kib,
            fds,
            store_kib: Some(0),
        };
        // Warm-up growth, then flat: fine. A restart (new pid) starts over.
        let flat = [
            r(0, 7, 10_000, 20),
            r(1, 7, 200_000, 40),
            r(2, 7, 201_000, 41),
            r(3, 7, 202_000, 42),
            r(4, 8, 1, 1),
        ];
        let verdict = growth(&flat);
        assert_eq!(verdict.judged, 1);
        assert!(verdict.problems.is_empty(), "{:?}", verdict.problems);
        let leaking = [
            r(0, 7, 200_000, 40),
            r(1, 7, 200_000, 40),
            r(2, 7, 300_000, 90),
            r(3, 7, 500_000, 200),
        ];
        assert_eq!(growth(&leaking).problems.len(), 2);
        // The same growth, all of it in the store's caches (filling toward their bound): fine.
        let caching: Vec<Reading> = leaking
            .iter()
            .map(|x| Reading { store_kib: Some(x.rss_kib - 150_000), fds: 40, ..*x })
            .collect();
        let verdict = growth(&caching);
        assert!(verdict.problems.is_empty(), "{:?}", verdict.problems);
        assert_eq!(verdict.store_kib, 350_000);
        // The caches unread in the last readings (the node cut off from the harness): those
        // readings are not judged for memory, rather than counting the caches as growth.
        let mut unread = caching.clone();
        unread.extend(caching.iter().map(|x| Reading {
            at_ms: x.at_ms + 10,
            store_kib: None,
            ..*x
        }));
        let verdict = growth(&unread);
        assert!(verdict.problems.is_empty(), "{:?}", verdict.problems);
    }

    #[test]
    fn the_store_memory_is_read_from_the_metrics_text() {
        let text = "# HELP tokenbook_store_memory_bytes Bytes RocksDB holds\n\
                    # TYPE tokenbook_store_memory_bytes gauge\n\
                    tokenbook_store_memory_bytes 10485760\n\
                    tokenbook_height 7\n";
        assert_eq!(store_kib(text), Some(10_240));
        assert_eq!(store_kib("tokenbook_height 7\n"), None);
    }
}
