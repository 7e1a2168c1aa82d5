//! Failures the CLI meets without a working node: each exits non-zero with a stable code (JSON
//! on stderr with `--json`) and a message naming what to do, never a panic.

#![allow(missing_docs, clippy::unwrap_used)]

use serde_json::Value;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_tokenbook");

fn run(args: &[&str]) -> Output {
    let keys = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .arg("--keys-dir")
        .arg(keys.path())
        .args(args)
        .env_remove("TOKENBOOK_NODE")
        .output()
        .unwrap()
}

fn code(out: &Output) -> String {
    assert!(!out.status.success());
    let error: Value = serde_json::from_slice(&out.stderr).unwrap();
    error["code"].as_str().unwrap().to_string()
}

#[test]
fn failures_have_stable_codes() {
    // Nothing listens on port 9.
    assert_eq!(
        code(&run(&["--json", "--node", "http://127.0.0.1:9", "status"])),
        "node_unreachable"
    );
    // No key to sign with: named before any node is asked.
    let order = ["--json", "--key", "nobody", "order", "cancel-all"];
    assert_eq!(code(&run(&order)), "key_unavailable");
    // The audit needs a genesis it can read.
    let audit =
        ["--json", "audit", "verify", "--from-genesis", "/nonexistent.json", "--blocks", "/tmp"];
    assert_eq!(code(&run(&audit)), "audit_genesis");
    // A malformed command line is clap's usage error (exit 2), naming the missing argument.
    let out = run(&["order", "place", "H100-HR-DEC26", "buy", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--price"));
}
