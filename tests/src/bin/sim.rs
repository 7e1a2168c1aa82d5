//! `sim`: runs the deterministic simulation of the shipped engine over a range of seeds.
//!
//! `cargo run --release -p tokenbook-tests --bin sim -- --seeds 1..1000 --validators 4
//! --byzantine 1 --heights 200 [--faults all|none|drop,duplicate,reorder,partition,asymmetric,
//! crash,set-changes] [--threads 2] [--twice]`
//!
//! `--ledger` is accepted and does nothing: the simulation always runs the real engine and
//! ledger now (it once selected them over a consensus-only model; older replay commands keep
//! working).
//!
//! Prints one summary line; for every failing seed, its violations and the command that replays
//! it exactly. Exits 1 on any violation (or, with `--twice`, on two runs of a seed that differ).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokenbook_tests::sim::{Config, Faults, Report, run};

struct Args {
    seeds: std::ops::Range<u64>,
    validators: usize,
    byzantine: usize,
    heights: u64,
    faults: Faults,
    threads: usize,
    twice: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        seeds: 1..101,
        validators: 4,
        byzantine: 1,
        heights: 200,
        faults: Faults::all(),
        threads: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        twice: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seeds" => {
                let v = value()?;
                let (a, b) = v.split_once("..").ok_or("--seeds takes A..B")?;
                let start = a.parse::<u64>().map_err(|e| e.to_string())?;
                let end = b.parse::<u64>().map_err(|e| e.to_string())?;
                args.seeds = start..end.max(start);
            }
            "--validators" => args.validators = value()?.parse().map_err(|e| format!("{e}"))?,
            "--byzantine" => args.byzantine = value()?.parse().map_err(|e| format!("{e}"))?,
            "--heights" => args.heights = value()?.parse().map_err(|e| format!("{e}"))?,
            "--faults" => args.faults = Faults::parse(&value()?)?,
            "--threads" => args.threads = value()?.parse().map_err(|e| format!("{e}"))?,
            "--twice" => args.twice = true,
            "--ledger" => {}
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.validators == 0 || 3 * args.byzantine >= args.validators {
        return Err("need validators > 3 × byzantine".into());
    }
    Ok(args)
}

fn config(args: &Args, seed: u64) -> Config {
    Config {
        seed,
        validators: args.validators,
        byzantine: args.byzantine,
        heights: args.heights,
        faults: args.faults,
    }
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sim: {e}");
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let next = AtomicU64::new(args.seeds.start);
    let failures: Mutex<Vec<(Report, Option<Report>)>> = Mutex::new(Vec::new());
    let totals = Mutex::new((0u64, 0u64, 0u64, 0u64)); // runs, decided heights, evidence, set changes
    std::thread::scope(|s| {
        for _ in 0..args.threads.max(1) {
            s.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= args.seeds.end {
                        return;
                    }
                    let report = run(&config(&args, seed));
                    let again = args.twice.then(|| run(&config(&args, seed)));
                    if let Ok(mut t) = totals.lock() {
                        t.0 += 1;
                        t.1 += report.decided;
                        t.2 += report.evidence;
                        t.3 += report.set_changes;
                    }
                    let differs = again.as_ref().is_some_and(|b| *b != report);
                    if !report.violations.is_empty() || differs {
                        if let Ok(mut f) = failures.lock() {
                            f.push((report, again));
                        }
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap_or_default();
    failures.sort_by_key(|(r, _)| r.seed);
    let (runs, decided, evidence, set_changes) = totals.into_inner().unwrap_or_default();
    for (report, again) in &failures {
        for violation in &report.violations {
            println!("seed={} violation: {violation}", report.seed);
        }
        for node in &report.nodes {
            println!("seed={}   {node}", report.seed);
        }
        if again.as_ref().is_some_and(|b| b != report) {
            println!(
                "seed={} violation: two runs of the seed differ (trace {:x})",
                report.seed, report.trace
            );
        }
        println!("replay: {}", config(&args, report.seed).replay_command());
    }
    println!(
        "seeds={}..{} validators={} byzantine={} heights={} faults={} runs={runs} decided={decided} \
         evidence={evidence} set_changes={set_changes} violations={} elapsed={:.1}s",
        args.seeds.start,
        args.seeds.end,
        args.validators,
        args.byzantine,
        args.heights,
        args.faults.to_text(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
