//! `tokenbook keys`: new, import, show, list (text and JSON); files are 0600 hex seeds; bad names,
//! duplicates, bad seeds and world-readable files are refused with a clear message.

#![allow(missing_docs, clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_tokenbook");

fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN).arg("--keys-dir").arg(dir).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn keys_round_trip_and_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let new = run(&keys, &["keys", "new", "alice"]);
    assert!(new.status.success(), "{}", stderr(&new));
    let mode = std::fs::metadata(keys.join("alice.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A known seed imports to its known public key (RFC 8032 test 1).
    let seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let import = run(&keys, &["keys", "import", "bob", "--seed-hex", seed]);
    assert!(stdout(&import).contains(public), "{}", stderr(&import));
    assert_eq!(std::fs::read_to_string(keys.join("bob.key")).unwrap(), seed);
    let show = run(&keys, &["--json", "keys", "show", "bob"]);
    let value: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    assert_eq!(value["public_key"], public);
    let list = run(&keys, &["--json", "keys", "list"]);
    let value: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    let names: Vec<&str> =
        value.as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob"]);
    // Refusals, each with its reason and a non-zero exit.
    for (args, reason) in [
        (vec!["keys", "new", "alice"], "already exists"),
        (vec!["keys", "new", "../evil"], "key name"),
        (vec!["keys", "import", "carol", "--seed-hex", "abcd"], "32 bytes"),
        (vec!["keys", "show", "nobody"], "no key named nobody"),
    ] {
        let out = run(&keys, &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr(&out).contains(reason), "{args:?}: {}", stderr(&out));
    }
    std::fs::set_permissions(keys.join("bob.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&keys, &["keys", "show", "bob"]);
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}
