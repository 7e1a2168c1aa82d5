//! Crash safety: a child process commits blocks and is killed (SIGKILL) at random moments;
//! every reopen finds the last complete height with the right root and state, never a
//! half-applied block, and the writer resumes from there.
//!
//! SIGKILL keeps the operating system's page cache, so this proves the batch is atomic and the
//! reopen logic sound; it does not simulate power loss (that needs a fault-injecting file
//! system). The disk-full test in `errors.rs` covers a write that fails.

// The child reports progress on stdout; that is its protocol with the parent.
#![allow(clippy::print_stdout)]

use crate::fixture::{self, config};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use tokenbook_ledger::kv::{self, KvMap, MemStore};
use tokenbook_protocol::Height;
use tokenbook_store::Store;

const CHILD_ENV: &str = "TOKENBOOK_STORE_CRASH_CHILD";
const SEED: u64 = 41;
const BLOCKS: usize = 60;
const BLOCK_TXS: usize = 300;

/// The writer: opens the store in `$TOKENBOOK_STORE_CRASH_CHILD`, resumes from its height and
/// commits the rest of the chain, printing each height once it is synced. Run by the test below
/// as a child process (ignored when run directly).
#[test]
#[ignore = "run as a child process by crash_at_random_points_reopens_at_a_complete_height"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let dir = std::path::Path::new(&dir);
    let chain = fixture::Chain::read(&dir.join("chain.bin"));
    let mut store = Store::open(&dir.join("store"), config()).unwrap();
    if store.height().is_none() {
        store.init_genesis(&chain.genesis).unwrap();
        println!("committed 0");
    }
    let from = store.height().unwrap().get() as usize;
    for h in &chain.heights[from..] {
        store.commit(h.height(), &h.changes, Some(h.data())).unwrap();
        println!("committed {}", h.height());
    }
    println!("done");
}

/// The state after each height, replayed in memory.
fn states(chain: &fixture::Chain) -> Vec<KvMap> {
    let mut store = MemStore(chain.genesis.clone());
    let mut out = vec![store.0.clone()];
    for h in &chain.heights {
        MemStore::apply_to(&mut store.0, &h.changes);
        out.push(store.0.clone());
    }
    out
}

/// SplitMix64, seeded: the kill points replay exactly.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn crash_at_random_points_reopens_at_a_complete_height() {
    // CI sets PROPTEST_RNG_SEED per commit, so each commit kills at new points.
    let kill_seed: u64 = ["TOKENBOOK_CRASH_SEED", "PROPTEST_RNG_SEED"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
        .unwrap_or(0x5EED);
    eprintln!("kill points from seed {kill_seed} (replay: TOKENBOOK_CRASH_SEED={kill_seed})");
    let chain = fixture::chain(SEED, BLOCKS, BLOCK_TXS);
    let roots = fixture::mem_roots(&chain);
    let states = states(&chain);
    let last = chain.heights.len() as u64;
    let dir = tempfile::tempdir().unwrap();
    chain.write(&dir.path().join("chain.bin"));
    let store_dir = dir.path().join("store");
    let mut rng = kill_seed;
    let mut kills = 0;
    for round in 0..100 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash::crash_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        // Kill after a random number of acknowledged heights, plus a random delay that lands
        // anywhere inside the next commit.
        let wait_for = next(&mut rng) % 3;
        let delay_us = next(&mut rng) % 40_000;
        let mut acknowledged = None;
        let mut done = false;
        let mut seen = 0;
        for line in stdout.lines() {
            let line = line.unwrap();
            if line == "done" {
                // Read to the end: a closed pipe would fail the child's last writes.
                done = true;
                continue;
            }
            if let Some(h) = line.strip_prefix("committed ") {
                acknowledged = Some(h.parse::<u64>().unwrap());
                seen += 1;
                if seen > wait_for && !done {
                    std::thread::sleep(std::time::Duration::from_micros(delay_us));
                    break;
                }
            }
        }
        if !done {
            child.kill().unwrap();
            kills += 1;
        }
        let status = child.wait().unwrap();
        let store = Store::open(&store_dir, config()).unwrap();
        let Some(height) = store.height() else {
            assert_eq!(acknowledged, None, "round {round}: genesis acknowledged but lost");
            continue;
        };
        let h = height.get();
        assert!(
            acknowledged.is_none_or(|a| h >= a),
            "round {round} (seed {kill_seed}): reopened at {h}, {acknowledged:?} was acknowledged"
        );
        assert_eq!(
            store.root(),
            Some(roots[h as usize]),
            "round {round} (seed {kill_seed}): root at {h}"
        );
        assert_eq!(store.load_state().unwrap(), states[h as usize], "round {round}: state at {h}");
        kv::import(&store.load_state().unwrap()).unwrap();
        let proof = store.prove(&[kv::table::GLOBALS], height).unwrap();
        proof.verify(&roots[h as usize]).unwrap();
        if h > 0 {
            assert!(store.block(height).unwrap().is_some(), "round {round}: block {h}");
            assert!(store.certificate(height).unwrap().is_some(), "round {round}: certificate {h}");
        }
        if done {
            assert!(status.success());
            assert_eq!(h, last);
            break;
        }
    }
    eprintln!("{kills} kills");
    assert!(kills >= 10, "only {kills} kills landed (seed {kill_seed})");
    let store = Store::open(&store_dir, config()).unwrap();
    assert_eq!(store.height(), Some(Height::new(last)), "the writer finished after resuming");
}
