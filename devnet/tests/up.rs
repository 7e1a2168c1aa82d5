//! `tokenbook-devnet up` end to end: four validator processes and the order flow; the status
//! line shows heights advancing with agreeing roots and no refused txs; `status` and `down` act on
//! the running devnet; it stops cleanly.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tokenbook-devnet");

#[test]
fn up_trades_with_agreeing_roots_and_down_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("devnet");
    let mut child = Command::new(BIN)
        .env("TOKENBOOK_DEVNET_API_PORT", "0")
        .args(["up", "--validators", "4", "--traders", "6", "--dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    // Trading for a while: the status command sees every validator at a height.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        std::thread::sleep(Duration::from_secs(2));
        let out = Command::new(BIN).args(["status", "--dir"]).arg(&data).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let heights: Vec<u64> = text
            .lines()
            .filter_map(|l| l.split("height ").nth(1)?.split_whitespace().next()?.parse().ok())
            .collect();
        if heights.len() == 4 && heights.iter().all(|h| *h >= 30) {
            break;
        }
        assert!(Instant::now() < deadline, "the devnet did not reach height 30: {text}");
        assert!(child.try_wait().unwrap().is_none(), "the devnet exited early");
    }
    let down = Command::new(BIN).args(["down", "--dir"]).arg(&data).output().unwrap();
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let stdout = reader.join().unwrap();
    assert!(status.success(), "exit {status}: {stderr}\n{stdout}");
    assert!(stdout.contains("traders funded; trading"), "{stdout}");
    assert!(stdout.contains("agree"), "{stdout}");
    assert!(!stdout.contains("DIFFER"), "{stdout}");
    assert!(!stdout.contains("refused"), "{stdout}");
    assert!(stdout.contains("stopped"), "{stdout}");
    // Every validator started and stopped cleanly, and its log stayed quiet at steady state:
    // no line per block (each of at least 30 heights), a progress line a minute instead.
    for i in 0..4 {
        let log = std::fs::read_to_string(data.join(format!("validator-{i}/node.log"))).unwrap();
        assert!(log.contains("node started") && log.contains("stopping"), "validator {i}: {log}");
        assert!(log.lines().count() < 30, "validator {i} logs per block: {log}");
    }
}
