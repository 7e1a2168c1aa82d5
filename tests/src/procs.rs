//! Helpers for tests of the real binaries: where cargo put them, and a devnet's API URLs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where cargo put the workspace's binaries for the running test (`target/<profile>/`).
///
/// # Panics
/// When the test executable has no parent directories (never under cargo).
#[must_use]
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default()
}

/// The binary `name` next to the running test, built (with `features`) if it is missing or
/// if `rebuild` is set.
///
/// # Panics
/// When the build fails.
#[must_use]
pub fn binary(name: &str, features: &[&str], rebuild: bool) -> PathBuf {
    let dir = bin_dir();
    let path = dir.join(name);
    if rebuild || !path.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "-p", "tokenbook-node", "-p", "tokenbook-client"]);
        build.args(["-p", "tokenbook-devnet"]);
        for feature in features {
            build.args(["--features", feature]);
        }
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let ok = build.status().is_ok_and(|s| s.success());
        assert!(ok, "building the binaries failed");
    }
    path
}

/// The validators' API URLs of a devnet started with `--dir dir` (from its `devnet.json`).
///
/// # Panics
/// When the manifest is missing or malformed.
#[must_use]
pub fn devnet_apis(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("devnet.json")).unwrap_or_default();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    manifest["validators"]
        .as_array()
        .map(|all| all.iter().filter_map(|v| v["api"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}
