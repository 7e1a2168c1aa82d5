//! Seeds of the simulation in the normal test run. A failure prints the seed and the command
//! that replays it.

use tokenbook_tests::sim::{Config, Faults, Report, run};

fn config(seed: u64, validators: usize, byzantine: usize, heights: u64) -> Config {
    Config { seed, validators, byzantine, heights, faults: Faults::all(), ledger: false }
}

fn assert_clean(report: &Report, cfg: &Config) {
    assert!(
        report.violations.is_empty(),
        "seed {} failed: {:?}\nnodes: {:#?}\nreplay: {}",
        cfg.seed,
        report.violations,
        report.nodes,
        cfg.replay_command()
    );
    // The run stops once every honest node has the target height; a node may have decided one
    // more in the same step.
    assert!(
        report.decided >= cfg.heights,
        "seed {}: {} of {} heights",
        cfg.seed,
        report.decided,
        cfg.heights
    );
}

/// The seeds of a test run: a fixed range shifted by `TOKENBOOK_SIM_OFFSET` (CI sets it from
/// the commit, so each run tries new seeds; the printed seed replays a failure).
fn seeds(count: u64) -> std::ops::Range<u64> {
    let offset =
        std::env::var("TOKENBOOK_SIM_OFFSET").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    offset..offset + count
}

#[test]
fn four_validators_one_byzantine_every_fault() {
    for seed in seeds(150) {
        let cfg = config(seed, 4, 1, 40);
        assert_clean(&run(&cfg), &cfg);
    }
}

#[test]
fn seven_validators_two_byzantine_every_fault() {
    for seed in seeds(60) {
        let cfg = config(seed, 7, 2, 40);
        assert_clean(&run(&cfg), &cfg);
    }
}

#[test]
fn with_the_real_ledger_every_node_reaches_the_same_state_roots() {
    let mut fills = 0;
    for seed in seeds(12) {
        let cfg = Config { ledger: true, ..config(seed, 4, 1, 25) };
        let report = run(&cfg);
        assert_clean(&report, &cfg);
        fills += report.fills;
    }
    assert!(fills > 0, "the blocks traded nothing");
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [3, 17, 42] {
        let cfg = config(seed, 4, 1, 30);
        let (a, b) = (run(&cfg), run(&cfg));
        assert_eq!(a, b, "two runs of seed {seed} differ");
    }
    // Different seeds take different paths.
    assert_ne!(run(&config(1, 4, 1, 30)).trace, run(&config(2, 4, 1, 30)).trace);
}

#[test]
fn without_faults_every_height_decides_in_its_first_rounds() {
    let cfg = Config { faults: Faults::none(), byzantine: 0, ..config(9, 4, 0, 100) };
    let report = run(&cfg);
    assert_clean(&report, &cfg);
    // Roughly three network hops per height: well under 100 ms of simulated time each.
    assert!(report.time_ms < 100 * 100, "{} ms for 100 heights", report.time_ms);
}

#[test]
fn byzantine_double_voters_are_reported() {
    // Seed 3 with 4 validators makes validator 3 a double voter (Behaviour::pick).
    let cfg = config(3, 4, 1, 40);
    let report = run(&cfg);
    assert_clean(&report, &cfg);
    assert!(report.evidence > 0, "no evidence reported");
    assert!(report.nodes[3].contains("DoubleVote"), "{:?}", report.nodes[3]);
}

#[test]
fn faults_parse_and_print_back() {
    let all = Faults::all();
    assert_eq!(Faults::parse(&all.to_text()).unwrap(), all);
    assert_eq!(Faults::parse("none").unwrap(), Faults::none());
    assert!(Faults::parse("meteor").is_err());
}

/// The shipped engine (`Config::ledger`): every Byzantine kind of the engine's `misbehave`
/// feature (the seed picks one per Byzantine validator, so 30 seeds cover all 15 twice), with
/// every fault, crashes at any step and whole-network restarts.
#[test]
fn the_shipped_engine_outlasts_every_byzantine_kind_and_fault() {
    for seed in seeds(30) {
        let cfg = Config { ledger: true, ..config(seed, 4, 1, 40) };
        assert_clean(&run(&cfg), &cfg);
    }
    for seed in seeds(8) {
        let cfg = Config { ledger: true, ..config(seed, 7, 2, 30) };
        assert_clean(&run(&cfg), &cfg);
    }
}

#[test]
fn the_shipped_engine_replays_a_seed_exactly() {
    for seed in [5, 11] {
        let cfg = Config { ledger: true, ..config(seed, 4, 1, 30) };
        let (a, b) = (run(&cfg), run(&cfg));
        assert_eq!(a, b, "two runs of seed {seed} differ");
    }
}
