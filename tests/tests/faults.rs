//! The fault harness's short suite on the real binaries (issue #17): `tokenbook-devnet faults`
//! runs four `tokenbook-node` processes, each in a network namespace of its own, and a load
//! generator in another; it partitions, kills and pauses validators on a timeline, then checks
//! every chain against what the API acknowledged and replays it with `tokenbook audit verify`.
//! It needs root (namespaces, TUN); without root it fails, saying so — never a silent pass.
//! Every fault kind runs once: partitions (minority, 2/2, bridge, one-way), kill -9 (once and
//! in a loop), SIGSTOP, a clock off by +1 h and −2 s, a full disk, a restart from a state-sync
//! snapshot, and a misbehaving validator while another is cut off.
//!
//! Replay: `cargo build -p tokenbook-node -p tokenbook-client -p tokenbook-devnet --features
//! tokenbook-node/misbehave &&
//! target/debug/tokenbook-devnet faults --seed 1 --out target/faults` (as root).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::process::Command;
use tokenbook_tests::procs::binary;

#[test]
fn the_short_suite_loses_nothing_and_every_validator_recovers() {
    // The clock-offset and misbehaving faults need the node's `misbehave` feature.
    let devnet = binary("tokenbook-devnet", &["tokenbook-node/misbehave"], false);
    // `audit verify` runs the CLI next to it.
    let _ = binary("tokenbook", &[], false);
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(&devnet)
        .args(["faults", "--seed", "1", "--out"])
        .arg(out.path())
        .output()
        .expect("run tokenbook-devnet faults");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("{stdout}");
    if !run.status.success() {
        let kept = out.keep();
        panic!(
            "faults failed ({}); results kept in {}\n{stderr}\nreplay: {} faults --seed 1 (one scenario: add --only N, N its line in the plan)",
            run.status,
            kept.display(),
            devnet.display()
        );
    }
    let verdicts = std::fs::read_to_string(out.path().join("verdicts.txt")).unwrap();
    // Every fault kind ran and got its line.
    let kinds = [
        "isolate",
        "split",
        "bridge",
        "one-way",
        "kill -9 v",
        "SIGSTOP",
        "kill -9 loop",
        "clock v1 +1 h",
        "clock v2 -2 s",
        "disk full",
        "state-sync restart",
        "misbehave v3=equivocate + isolate",
    ];
    for kind in kinds {
        assert!(verdicts.contains(kind), "no verdict for {kind}:\n{verdicts}");
    }
    assert!(verdicts.contains("audit verify from genesis: ok"), "{verdicts}");
    // The full disk stopped the node with an error that says so (or it kept going).
    assert!(
        verdicts.contains("disk is full") || verdicts.contains("kept running on the full disk"),
        "{verdicts}"
    );
    for line in ["stalls:", "resources:"] {
        assert!(verdicts.contains(line), "no {line} line:\n{verdicts}");
    }
    let png = std::fs::read(out.path().join("timeline.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "timeline.png is not a PNG");
}
