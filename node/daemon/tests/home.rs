//! Home directories and the `tokenbook-node` binary: init, show-id, config checks, and a
//! single-validator chain started and stopped by signal.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokenbook_node::home::{Config, Home};

const BIN: &str = env!("CARGO_BIN_EXE_tokenbook-node");

#[test]
fn init_writes_private_keys_and_a_default_config() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home(dir.path().join("node"));
    home.init("chain-x").unwrap();
    for key in [home.consensus_key(), home.network_key()] {
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
        Home::load_key(&key).unwrap();
    }
    let config = home.load_config().unwrap();
    assert_eq!(config, Config { chain_id: "chain-x".into(), ..Config::default() });
    assert!(home.init("chain-x").unwrap_err().contains("refusing to overwrite"));
    // A key others can read is refused.
    std::fs::set_permissions(home.network_key(), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(Home::load_key(&home.network_key()).unwrap_err().contains("chmod 600"));
    // Unknown config fields are refused with the file named.
    std::fs::write(home.config(), "chain_id = \"c\"\ncolour = \"blue\"\n").unwrap();
    let err = home.load_config().unwrap_err();
    assert!(err.contains("config.toml") && err.contains("colour"), "{err}");
}

#[test]
fn the_binary_runs_a_single_validator_chain_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("node");
    let out = Command::new(BIN)
        .args(["init", "--home"])
        .arg(&home)
        .args(["--chain-id", common::CHAIN])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = Command::new(BIN).args(["show-id", "--home"]).arg(&home).output().unwrap();
    let text = String::from_utf8(id.stdout).unwrap();
    let consensus_hex = text.lines().find_map(|l| l.strip_prefix("consensus_key: ")).unwrap();
    // A genesis with this node as the only validator.
    let mut genesis = common::genesis_of(1);
    let key = Home::load_key(&Home(home.clone()).consensus_key()).unwrap();
    assert_eq!(key.public_key().to_hex(), consensus_hex);
    genesis.members[0].validator.as_mut().unwrap().consensus_key = key.public_key();
    genesis.time = tokenbook_protocol::Timestamp::new(tokenbook_node::runtime::now_ms() - 60_000);
    std::fs::write(home.join("genesis.json"), serde_json::to_string_pretty(&genesis).unwrap())
        .unwrap();
    // Loopback, ports chosen by the OS (tests run in parallel).
    let config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    let config = config
        .replace("/ip4/0.0.0.0/tcp/26656", "/ip4/127.0.0.1/tcp/0")
        .replace("127.0.0.1:8080", "127.0.0.1:0");
    std::fs::write(home.join("config.toml"), config).unwrap();
    let child = Command::new(BIN)
        .args(["start", "--home"])
        .arg(&home)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let pid = child.id().to_string();
    // The shell's builtin `kill`, so the test needs no procps.
    let term = Command::new("sh").args(["-c", &format!("kill -TERM {pid}")]).status().unwrap();
    assert!(term.success());
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}: {log}", output.status);
    assert!(log.contains("stopping"), "{log}");
    // The store reopens at the height reached.
    let store = tokenbook_store::Store::open(
        &home.join("data").join("store"),
        tokenbook_store::StoreConfig::new(common::CHAIN),
    )
    .unwrap();
    // Nothing was submitted: heights came by the heartbeat (1 s), not every 50 ms interval
    // (which made ~80 in 4 s before idle waits).
    let height = store.height().unwrap().get();
    assert!((2..=8).contains(&height), "an idle validator reached height {height} in 4 s: {log}");
    // A genesis for another chain is refused with a clear reason.
    let mut other = common::genesis_of(1);
    other.chain_id = "another-chain".into();
    std::fs::write(home.join("genesis.json"), serde_json::to_string_pretty(&other).unwrap())
        .unwrap();
    let out = Command::new(BIN).args(["start", "--home"]).arg(&home).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("genesis is for chain another-chain"), "{err}");
}

#[test]
fn genesis_is_written_from_exchanged_keys_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let hex = |n: u64| common::key(n).public_key().to_hex();
    let members: Vec<String> =
        (0..4).map(|i| format!("m{i}={}:{}:{}", hex(i), hex(100 + i), hex(200 + i))).collect();
    let out = dir.path().join("genesis.json");
    let mut args = vec!["genesis".to_string(), "--chain-id".into(), "multi".into()];
    for m in &members {
        args.extend(["--member".into(), m.clone()]);
    }
    args.extend(["--out".into(), out.display().to_string()]);
    let run = Command::new(BIN).args(&args).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains("sha256"));
    let genesis: tokenbook_ledger::Genesis =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let state = tokenbook_ledger::genesis_state(&genesis).unwrap();
    assert_eq!(state.validators.validators.len(), 4);
    assert_eq!(state.markets.len(), 2);
    // Never overwritten; a malformed member is refused with the expected shape.
    assert!(!Command::new(BIN).args(&args).status().unwrap().success());
    let bad = Command::new(BIN)
        .args(["genesis", "--chain-id", "x", "--member", "m0=zz", "--out"])
        .arg(dir.path().join("other.json"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("NAME=MEMBER_KEY"));
}
