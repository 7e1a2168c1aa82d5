//! What the bench measures, per second of the run, and the summary drawn from it.
//!
//! Promises: a tx counts as *submitted* in the second its POST starts, *admitted* or *refused*
//! in the second its answer arrives, and *finalized* in the second a block listing its hash
//! reaches the stream listener; its latency is the time between the first and the last. Seconds
//! are counted from [`Recorder::new`]. Percentiles are nearest-rank; the steady part of a run
//! skips its first fifth (at most 5 s) of warm-up.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Counters of one second of the run.
#[derive(Clone, Debug, Default)]
pub struct Second {
    /// POSTs started.
    pub submitted: u64,
    /// 202 answers.
    pub admitted: u64,
    /// Other answers and transport errors.
    pub refused: u64,
    /// Bench txs seen in a committed block.
    pub finalized: u64,
    /// Submit → final latency of each of them, in ms.
    pub latencies_ms: Vec<f64>,
    /// Blocks committed.
    pub blocks: u64,
    /// Txs in those blocks (all of them, index publications included).
    pub block_txs: u64,
}

/// The bench's shared record.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    pending: HashMap<[u8; 32], Instant>,
    /// Per second of the run.
    pub seconds: Vec<Second>,
    /// Refusals by code.
    pub refusals: BTreeMap<String, u64>,
    /// Hashes of finalized bench txs, in order.
    pub finalized: Vec<[u8; 32]>,
}

impl Recorder {
    /// Starts the clock.
    #[must_use]
    pub fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            pending: HashMap::new(),
            seconds: Vec::new(),
            refusals: BTreeMap::new(),
            finalized: Vec::new(),
        }
    }

    fn second(&mut self, at: Instant) -> &mut Second {
        let index =
            usize::try_from(at.saturating_duration_since(self.start).as_secs()).unwrap_or(0);
        if self.seconds.len() <= index {
            self.seconds.resize(index + 1, Second::default());
        }
        &mut self.seconds[index]
    }

    /// A POST of `hash` starts now.
    pub fn submitted(&mut self, hash: [u8; 32]) {
        let now = Instant::now();
        self.pending.insert(hash, now);
        self.second(now).submitted += 1;
    }

    /// The API admitted a tx.
    pub fn admitted(&mut self) {
        self.second(Instant::now()).admitted += 1;
    }

    /// The API refused `hash` with `code` (or the request failed).
    pub fn refused(&mut self, hash: &[u8; 32], code: String) {
        self.pending.remove(hash);
        *self.refusals.entry(code).or_default() += 1;
        self.second(Instant::now()).refused += 1;
    }

    /// A block with `txs` txs, among them `hashes`, reached the listener now.
    pub fn block(&mut self, txs: u64, hashes: impl Iterator<Item = [u8; 32]>) {
        let now = Instant::now();
        let mut found = Vec::new();
        for hash in hashes {
            if let Some(sent) = self.pending.remove(&hash) {
                found.push(now.duration_since(sent).as_secs_f64() * 1_000.0);
                self.finalized.push(hash);
            }
        }
        let second = self.second(now);
        second.blocks += 1;
        second.block_txs += txs;
        second.finalized += found.len() as u64;
        second.latencies_ms.extend(found);
    }

    /// Txs submitted and not yet finalized or refused.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Nearest-rank percentile `p` (0–100) of sorted values.
#[must_use]
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // the rank is in 1..=len
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil().max(1.0);
    let index = usize::try_from(rank as u64).unwrap_or(usize::MAX).min(sorted.len()) - 1;
    Some(sorted[index])
}

/// Sorted copy.
#[must_use]
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut out = values.to_vec();
    out.sort_by(f64::total_cmp);
    out
}

/// The steady seconds of a run of `secs` seconds: after a warm-up of a fifth (≤ 5 s).
#[must_use]
pub fn steady(secs: usize) -> std::ops::Range<usize> {
    (secs / 5).min(5)..secs
}

/// One CSV row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Second of the run.
    pub t: usize,
    /// Counters of that second.
    pub submitted: u64,
    /// 202 answers.
    pub admitted: u64,
    /// Refusals.
    pub refused: u64,
    /// Finalized.
    pub finalized: u64,
    /// Latency percentiles of the txs finalized in that second (ms).
    pub p50_ms: Option<f64>,
    /// p90.
    pub p90_ms: Option<f64>,
    /// p99.
    pub p99_ms: Option<f64>,
}

/// One row per second.
#[must_use]
pub fn rows(seconds: &[Second]) -> Vec<Row> {
    seconds
        .iter()
        .enumerate()
        .map(|(t, s)| {
            let lat = sorted(&s.latencies_ms);
            Row {
                t,
                submitted: s.submitted,
                admitted: s.admitted,
                refused: s.refused,
                finalized: s.finalized,
                p50_ms: percentile(&lat, 50.0),
                p90_ms: percentile(&lat, 90.0),
                p99_ms: percentile(&lat, 99.0),
            }
        })
        .collect()
}

/// The CSV text: a header, then one line per row (empty cells for seconds with no latency).
#[must_use]
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from("t,submitted,admitted,finalized,p50_ms,p90_ms,p99_ms,refused\n");
    let cell = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.1}"));
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r.t,
            r.submitted,
            r.admitted,
            r.finalized,
            cell(r.p50_ms),
            cell(r.p90_ms),
            cell(r.p99_ms),
            r.refused
        ));
    }
    out
}

/// The summary of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Totals.
    pub submitted: u64,
    /// 202 answers.
    pub admitted: u64,
    /// Refused.
    pub refused: u64,
    /// Finalized.
    pub finalized: u64,
    /// Median of the per-second finalized counts over the steady seconds.
    pub steady_median_per_s: f64,
    /// Finalized / seconds until the last one was seen.
    pub overall_per_s: f64,
    /// Latency percentiles over every finalized tx (ms).
    pub p50_ms: Option<f64>,
    /// p90.
    pub p90_ms: Option<f64>,
    /// p99.
    pub p99_ms: Option<f64>,
    /// Blocks over the submitting seconds.
    pub blocks: u64,
    /// Mean txs per block over the submitting seconds.
    pub mean_txs_per_block: f64,
}

/// Summarises a run that submitted for `secs` seconds.
#[must_use]
pub fn summarize(seconds: &[Second], secs: usize) -> Summary {
    let total = |f: fn(&Second) -> u64| seconds.iter().map(f).sum::<u64>();
    let finalized = total(|s| s.finalized);
    let window = steady(secs);
    let mut per_s: Vec<f64> =
        window.clone().map(|t| seconds.get(t).map_or(0, |s| s.finalized) as f64).collect();
    per_s.sort_by(f64::total_cmp);
    let all: Vec<f64> = seconds.iter().flat_map(|s| s.latencies_ms.iter().copied()).collect();
    let all = sorted(&all);
    let last = seconds.iter().rposition(|s| s.finalized > 0).map_or(1, |t| t + 1);
    let during = &seconds[..secs.min(seconds.len())];
    let blocks: u64 = during.iter().map(|s| s.blocks).sum();
    let block_txs: u64 = during.iter().map(|s| s.block_txs).sum();
    Summary {
        submitted: total(|s| s.submitted),
        admitted: total(|s| s.admitted),
        refused: total(|s| s.refused),
        finalized,
        steady_median_per_s: percentile(&per_s, 50.0).unwrap_or(0.0),
        overall_per_s: finalized as f64 / last as f64,
        p50_ms: percentile(&all, 50.0),
        p90_ms: percentile(&all, 90.0),
        p99_ms: percentile(&all, 99.0),
        blocks,
        mean_txs_per_block: if blocks == 0 { 0.0 } else { block_txs as f64 / blocks as f64 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 90.0), Some(90.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&sorted(&[3.0, 1.0, 2.0]), 50.0), Some(2.0));
    }

    #[test]
    fn steady_part_skips_a_fifth_at_most_five_seconds() {
        assert_eq!(steady(30), 5..30);
        assert_eq!(steady(10), 2..10);
        assert_eq!(steady(3), 0..3);
    }

    fn second(finalized: u64, latency: f64, blocks: u64) -> Second {
        Second {
            submitted: 10,
            admitted: 9,
            refused: 1,
            finalized,
            latencies_ms: vec![latency; usize::try_from(finalized).unwrap_or(0)],
            blocks,
            block_txs: blocks * 5,
        }
    }

    #[test]
    fn summary_takes_the_median_of_steady_seconds_and_counts_the_drain() {
        // 10 s of submitting (steady from 2 s), then a second of drain.
        let mut seconds: Vec<Second> = (0..10).map(|t| second(t, 10.0 * t as f64, 2)).collect();
        seconds.push(second(50, 500.0, 1));
        let s = summarize(&seconds, 10);
        assert_eq!(s.steady_median_per_s, 5.0); // of 2..=9: nearest-rank median is 5
        assert_eq!(s.finalized, 45 + 50);
        assert!((s.overall_per_s - 95.0 / 11.0).abs() < 1e-9);
        assert_eq!(s.blocks, 20);
        assert!((s.mean_txs_per_block - 5.0).abs() < 1e-9);
        assert_eq!(s.p99_ms, Some(500.0));
        assert_eq!((s.submitted, s.admitted, s.refused), (110, 99, 11));
    }

    #[test]
    fn recorder_matches_hashes_once_and_forgets_refusals() {
        let mut r = Recorder::new();
        r.submitted([1; 32]);
        r.submitted([2; 32]);
        r.admitted();
        r.refused(&[2; 32], "nonce_replayed".into());
        r.block(3, [[1; 32], [2; 32], [9; 32]].into_iter());
        r.block(1, [[1; 32]].into_iter());
        let rows = rows(&r.seconds);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].submitted, rows[0].admitted, rows[0].refused), (2, 1, 1));
        assert_eq!(rows[0].finalized, 1);
        assert_eq!(r.pending(), 0);
        assert_eq!(r.refusals.get("nonce_replayed"), Some(&1));
        assert!(csv(&rows).starts_with("t,submitted,admitted,finalized,p50_ms,p90_ms,p99_ms"));
    }
}
