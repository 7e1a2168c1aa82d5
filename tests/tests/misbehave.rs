//! One misbehaving member against three honest ones, on real processes: for every Byzantine
//! kind of issue #16, a 4-validator devnet (`tokenbook-devnet up --misbehave 3=KIND`, traders
//! trading) where the three honest validators keep committing, report the same state root at a
//! common height, never exit, and `tokenbook audit verify` passes from genesis.
//!
//! Prints one verdict line per kind. Replay one kind with
//! `TOKENBOOK_MISBEHAVE=KIND cargo test -p tokenbook-tests --test misbehave`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokenbook_tests::procs::{binary, devnet_apis};

const KINDS: [&str; 15] = [
    "bad-state-root",
    "future-time",
    "stale-time",
    "bad-tx-root",
    "bad-validator-set",
    "wrong-proposer",
    "invalid-txs",
    "torsion-sig",
    "duplicate-txs",
    "oversize-block",
    "equivocate",
    "withhold",
    "double-vote",
    "far-round",
    "replay-old",
];

/// How long the honest validators are watched, and the fewest heights each must commit in it
/// (debug builds on 2 shared cores; release does ≥ 10 heights/s, docs/benchmarks.md).
const WATCH: Duration = Duration::from_secs(10);
const MIN_HEIGHTS: u64 = 10;

/// Stops the devnet however the check ends.
struct Devnet {
    bin: PathBuf,
    dir: tempfile::TempDir,
    up: Child,
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = Command::new(&self.bin).args(["down", "--dir"]).arg(self.dir.path()).output();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && matches!(self.up.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.up.kill();
        let _ = self.up.wait();
    }
}

fn get(url: &str) -> Option<serde_json::Value> {
    let client =
        reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build().ok()?;
    serde_json::from_str(&client.get(url).send().ok()?.text().ok()?).ok()
}

fn height(api: &str) -> Option<u64> {
    get(&format!("{api}/v1/status"))?["height"].as_u64()
}

fn heights(apis: &[String]) -> Result<Vec<u64>, String> {
    apis.iter().map(|a| height(a).ok_or(format!("{a} does not answer"))).collect()
}

fn until(secs: u64, what: &str, mut check: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

fn start(bin: &Path, kind: &str) -> Devnet {
    let dir = tempfile::tempdir().unwrap();
    let up = Command::new(bin)
        .env("TOKENBOOK_DEVNET_API_PORT", "0")
        .args(["up", "--validators", "4", "--traders", "4", "--dir"])
        .arg(dir.path())
        .args(["--misbehave", &format!("3={kind}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Devnet { bin: bin.to_path_buf(), dir, up }
}

/// One kind: the verdict line, or what went wrong.
fn check(devnet_bin: &Path, cli: &Path, kind: &str) -> Result<String, String> {
    let devnet = start(devnet_bin, kind);
    let dir = devnet.dir.path();
    until(60, "devnet.json", || devnet_apis(dir).len() == 4)?;
    let honest: Vec<String> = devnet_apis(dir)[..3].to_vec();
    until(90, "the honest validators at height 5", || {
        heights(&honest).is_ok_and(|h| h.iter().all(|&h| h >= 5))
    })?;
    let before = heights(&honest)?;
    std::thread::sleep(WATCH);
    let after = heights(&honest)?;
    let gained = before.iter().zip(&after).map(|(b, a)| a.saturating_sub(*b)).min().unwrap_or(0);
    if gained < MIN_HEIGHTS {
        return Err(format!("honest heights {before:?} → {after:?} in {WATCH:?}"));
    }
    let common = after.iter().min().copied().unwrap_or(1) - 1;
    let roots: Vec<Option<String>> = honest
        .iter()
        .map(|a| get(&format!("{a}/v1/state-root/{common}")))
        .map(|v| v.and_then(|v| v["state_root"].as_str().map(String::from)))
        .collect();
    if roots.iter().any(Option::is_none) || roots.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("state roots at {common}: {roots:?}"));
    }
    let genesis = dir.join("validator-0/genesis.json");
    let audit = Command::new(cli)
        .args(["audit", "verify", "--in-memory", "--node", &honest[0], "--to", &common.to_string()])
        .arg("--from-genesis")
        .arg(&genesis)
        .output()
        .unwrap();
    if !audit.status.success() {
        return Err(format!("audit verify: {}", String::from_utf8_lossy(&audit.stderr)));
    }
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
    for kind in KINDS.iter().filter(|k| only.as_deref().is_none_or(|o| o == **k)) {
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
