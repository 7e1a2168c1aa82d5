//! Crash points on real processes (issue #16): on a 4-validator devnet with traders trading,
//! validator 3 is killed, then restarted once per crash point of the shipped driver
//! (`tokenbook-node start --crash-at POINT:N`, cargo feature `misbehave`): it aborts there, as
//! `kill -9` would, and is restarted from what it synced. Afterwards it catches up, its state
//! root is the others' at a common height, no honest validator ever saw it sign two values
//! for one step (they log `equivocation` for that), and `tokenbook audit verify` from genesis
//! passes against its own API — it lost no committed block.
//!
//! Replay one point with `TOKENBOOK_CRASH_POINT=POINT cargo test -p tokenbook-tests --test
//! crash_points`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{agreed_root, audit, height, heights, until, up};
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};
use tokenbook_engine::crash::POINTS;
use tokenbook_tests::procs::{binary, devnet_apis};

/// Which pass of the point aborts (a few heights in, so the restart has something to resume).
const PASS: u64 = 3;

struct Victim {
    child: Option<Child>,
}

impl Drop for Victim {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn pid_of_validator(dir: &Path, i: usize) -> u32 {
    let pids = std::fs::read_to_string(dir.join("pids")).unwrap();
    pids.lines().nth(i).unwrap().trim().parse().unwrap()
}

fn start_node(node: &Path, home: &Path, log: &str, crash_at: Option<&str>) -> Child {
    let log = std::fs::File::create(home.join(log)).unwrap();
    Command::new(node)
        .args(["start", "--home"])
        .arg(home)
        .args(crash_at.iter().flat_map(|c| ["--crash-at", c]))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn wait_exit(child: &mut Child, secs: u64) -> Option<ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Validator 3 restarted with `point` armed: it must abort there, and nowhere else.
fn crash_at(node: &Path, home: &Path, victim: &mut Victim, point: &str) -> Result<(), String> {
    let log = format!("crash-{point}.log");
    let mut child = start_node(node, home, &log, Some(&format!("{point}:{PASS}")));
    let status = wait_exit(&mut child, 120);
    victim.child = Some(child);
    let text = std::fs::read_to_string(home.join(&log)).unwrap_or_default();
    let Some(status) = status else {
        return Err(format!("{point}: the node never reached the crash point in 120 s"));
    };
    victim.child = None;
    if status.success() || !text.contains(&format!("crash point {point} reached")) {
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        return Err(format!("{point}: exited {status} without the crash: {tail:?}"));
    }
    Ok(())
}

#[test]
fn a_validator_killed_at_every_persist_point_restarts_without_double_signing_or_loss() {
    let devnet_bin = binary("tokenbook-devnet", &["tokenbook-node/misbehave"], false);
    let node = binary("tokenbook-node", &["tokenbook-node/misbehave"], false);
    let cli = binary("tokenbook", &[], false);
    let devnet = up(&devnet_bin, &[]);
    let dir = devnet.dir.path();
    until(60, "devnet.json", || devnet_apis(dir).len() == 4).unwrap();
    let apis = devnet_apis(dir);
    until(90, "height 5", || heights(&apis).is_ok_and(|h| h.iter().all(|&h| h >= 5))).unwrap();
    let victim_pid = pid_of_validator(dir, 3);
    assert!(Command::new("kill").args(["-9", &victim_pid.to_string()]).status().unwrap().success());
    let home = dir.join("validator-3");
    let mut victim = Victim { child: None };
    let only = std::env::var("TOKENBOOK_CRASH_POINT").ok();
    for point in POINTS.iter().filter(|p| only.as_deref().is_none_or(|o| o == **p)) {
        if let Err(e) = crash_at(&node, &home, &mut victim, point) {
            panic!(
                "{e} (replay: TOKENBOOK_CRASH_POINT={point} cargo test -p tokenbook-tests --test \
                 crash_points)"
            );
        }
        eprintln!("crash point {point}: aborted there, restarting");
    }
    victim.child = Some(start_node(&node, &home, "after-crashes.log", None));
    let honest = &apis[..3];
    let target = height(&apis[0]).unwrap() + 5;
    until(120, "the restarted validator to catch up and go on", || {
        height(&apis[3]).is_some_and(|h| h >= target)
    })
    .unwrap();
    let common = heights(&apis).unwrap().into_iter().min().unwrap() - 1;
    agreed_root(&apis, common).unwrap();
    audit(&cli, dir, &apis[3], common).unwrap();
    for (i, _) in honest.iter().enumerate() {
        let log = std::fs::read_to_string(dir.join(format!("validator-{i}/node.log"))).unwrap();
        assert!(!log.contains("equivocation"), "validator {i} saw validator 3 sign twice");
    }
    eprintln!("crash points: all {} passed; roots agree at {common}; audit passes", POINTS.len());
}
