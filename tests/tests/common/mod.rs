//! What the multi-process tests of the real binaries share: a devnet that is stopped however
//! the test ends, and polling of the validators' APIs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Stops the devnet however the check ends.
pub struct Devnet {
    pub bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub up: Child,
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

pub fn get(url: &str) -> Option<serde_json::Value> {
    let client =
        reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build().ok()?;
    serde_json::from_str(&client.get(url).send().ok()?.text().ok()?).ok()
}

pub fn height(api: &str) -> Option<u64> {
    get(&format!("{api}/v1/status"))?["height"].as_u64()
}

pub fn heights(apis: &[String]) -> Result<Vec<u64>, String> {
    apis.iter().map(|a| height(a).ok_or(format!("{a} does not answer"))).collect()
}

pub fn until(secs: u64, what: &str, mut check: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

/// `tokenbook-devnet up --validators 4 --traders 4` with `extra` arguments, in a temporary
/// directory, its output discarded.
pub fn up(bin: &Path, extra: &[&str]) -> Devnet {
    let dir = tempfile::tempdir().unwrap();
    let up = Command::new(bin)
        .env("TOKENBOOK_DEVNET_API_PORT", "0")
        .args(["up", "--validators", "4", "--traders", "4", "--dir"])
        .arg(dir.path())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Devnet { bin: bin.to_path_buf(), dir, up }
}

/// Every API's certified state root after `height`, when they all agree.
pub fn agreed_root(apis: &[String], height: u64) -> Result<String, String> {
    let roots: Vec<Option<String>> = apis
        .iter()
        .map(|a| get(&format!("{a}/v1/state-root/{height}")))
        .map(|v| v.and_then(|v| v["state_root"].as_str().map(String::from)))
        .collect();
    match roots.first() {
        Some(Some(first)) if roots.iter().all(|r| r.as_ref() == Some(first)) => Ok(first.clone()),
        _ => Err(format!("state roots at {height}: {roots:?}")),
    }
}

/// `tokenbook audit verify` of `api`'s chain from the devnet's genesis up to `to`.
pub fn audit(cli: &Path, devnet: &Path, api: &str, to: u64) -> Result<(), String> {
    let genesis = devnet.join("validator-0/genesis.json");
    let audit = Command::new(cli)
        .args(["audit", "verify", "--in-memory", "--node", api, "--to", &to.to_string()])
        .arg("--from-genesis")
        .arg(&genesis)
        .output()
        .map_err(|e| e.to_string())?;
    if audit.status.success() {
        Ok(())
    } else {
        Err(format!("audit verify: {}", String::from_utf8_lossy(&audit.stderr)))
    }
}

/// What each validator of a devnet in `dir` was doing: its status (height, peers, whether it
/// is catching up, mempool) or that it does not answer, and the last `lines` lines of its log.
/// For failure messages, so a stall seen once in CI can be explained from them alone.
pub fn diagnosis(dir: &Path, apis: &[String], lines: usize) -> String {
    let mut out = String::new();
    for (i, api) in apis.iter().enumerate() {
        let status = get(&format!("{api}/v1/status")).map_or("does not answer".into(), |s| {
            let pick = |k: &str| s[k].to_string();
            format!(
                "height {} peers {} catching_up {} mempool {}",
                pick("height"),
                pick("peers"),
                pick("catching_up"),
                pick("mempool")
            )
        });
        out.push_str(&format!("\n  validator {i}: {status}"));
        let log = std::fs::read_to_string(dir.join(format!("validator-{i}/node.log")));
        let log = log.unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        // A panic or an error names its cause above the backtrace the tail may end in.
        let cause = |l: &&str| {
            ["panicked at", "ERROR", "error:", "tokenbook-node:"].iter().any(|c| l.contains(c))
        };
        let causes = all.iter().enumerate().filter(|(_, l)| cause(l)).take(3);
        for (i, line) in causes {
            out.push_str(&format!("\n    cause: {}", strip_ansi(line)));
            if let Some(next) = all.get(i + 1) {
                out.push_str(&format!("\n           {}", strip_ansi(next)));
            }
        }
        for line in &all[all.len().saturating_sub(lines)..] {
            out.push_str(&format!("\n    {}", strip_ansi(line)));
        }
    }
    out
}

/// `text` without terminal colour codes.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}
