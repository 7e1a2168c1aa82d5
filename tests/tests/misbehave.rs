//! One misbehaving member against three honest ones, on real processes: for every Byzantine
//! kind of issue #16, a 4-validator devnet (`tokenbook-devnet up --misbehave 3=KIND`, traders
//! trading) where the three honest validators keep committing, report the same state root at a
//! common height, never exit, and `tokenbook audit verify` passes from genesis.
//!
//! Prints one verdict line per kind. Replay one kind with
//! `TOKENBOOK_MISBEHAVE=KIND cargo test -p tokenbook-tests --test misbehave`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Devnet, agreed_root, audit, diagnosis, heights, until, up};
use std::path::Path;
use std::time::Duration;
use tokenbook_engine::misbehave::Misbehaviour;
use tokenbook_tests::procs::{binary, devnet_apis};

/// How long the honest validators are watched, and the fewest heights each must commit in it:
/// 10 heights/s on release builds (issue #16), 1/s on debug builds sharing 2 cores with the
/// other tests.
const WATCH: Duration = Duration::from_secs(10);
const MIN_HEIGHTS: u64 = if cfg!(debug_assertions) { 10 } else { 100 };

fn start(bin: &Path, kind: &str) -> Devnet {
    up(bin, &["--misbehave", &format!("3={kind}")])
}

/// One kind: the verdict line, or what went wrong.
fn check(devnet_bin: &Path, cli: &Path, kind: &str) -> Result<String, String> {
    let devnet = start(devnet_bin, kind);
    let dir = devnet.dir.path();
    until(60, "devnet.json", || devnet_apis(dir).len() == 4)?;
    let honest: Vec<String> = devnet_apis(dir)[..3].to_vec();
    let all = devnet_apis(dir);
    until(90, "the honest validators at height 5", || {
        heights(&honest).is_ok_and(|h| h.iter().all(|&h| h >= 5))
    })
    .map_err(|e| format!("{e}:{}", diagnosis(dir, &all, 8)))?;
    let before = heights(&honest)?;
    std::thread::sleep(WATCH);
    let after = heights(&honest)?;
    let gained = before.iter().zip(&after).map(|(b, a)| a.saturating_sub(*b)).min().unwrap_or(0);
    if gained < MIN_HEIGHTS {
        let why = diagnosis(dir, &all, 8);
        return Err(format!("honest heights {before:?} → {after:?} in {WATCH:?}:{why}"));
    }
    let common = after.iter().min().copied().unwrap_or(1) - 1;
    agreed_root(&honest, common)?;
    audit(cli, dir, &honest[0], common)?;
    Ok(format!(
        "honest +{gained} heights in {}s, roots agree at {common}, audit passes",
        WATCH.as_secs()
    ))
}

#[test]
fn three_honest_validators_outlast_every_misbehaviour() {
    // The workspace's test build gives the node the feature (this crate's dev-dependency).
    let devnet = binary("tokenbook-devnet", &["tokenbook-node/misbehave"], false);
    let cli = binary("tokenbook", &[], false);
    let only = std::env::var("TOKENBOOK_MISBEHAVE").ok();
    let mut failed = Vec::new();
    let kinds = Misbehaviour::ALL.map(Misbehaviour::name);
    for kind in kinds.iter().filter(|k| only.as_deref().is_none_or(|o| o == **k)) {
        match check(&devnet, &cli, kind) {
            Ok(verdict) => eprintln!("misbehave {kind}: ok: {verdict}"),
            Err(e) => {
                eprintln!(
                    "misbehave {kind}: FAILED: {e} (replay: TOKENBOOK_MISBEHAVE={kind} cargo \
                     test -p tokenbook-tests --test misbehave)"
                );
                failed.push(*kind);
            }
        }
    }
    assert!(failed.is_empty(), "honest validators did not outlast: {failed:?}");
}
