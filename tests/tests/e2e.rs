//! End to end on real processes, through the `tokenbook` CLI only: a 4-validator devnet
//! (`tokenbook-devnet up`, market makers and takers running) where a member registers and funds
//! a new trader, the trader rests, cancels and crosses orders and every node shows the same book
//! and account; one validator is killed with SIGKILL under load and the others keep committing;
//! restarted, it catches up; every tx the CLI saw committed is committed at the same height on
//! every node, every node reports the same state root, `tokenbook audit verify` passes from
//! genesis, and a copy of the chain with one block's byte flipped fails naming that block.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin(name: &str) -> PathBuf {
    tokenbook_tests::procs::binary(name, &[], false)
}

struct Net {
    dir: PathBuf,
    apis: Vec<String>,
    keys: PathBuf,
}

impl Net {
    /// `tokenbook ARGS --json` against `node`; the parsed answer, or the failure's stderr.
    fn cli(&self, node: &str, args: &[&str]) -> Result<Value, String> {
        let out = self.run(node, args);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(serde_json::from_str(text.lines().last().unwrap_or("null")).unwrap_or(Value::Null))
    }

    fn run(&self, node: &str, args: &[&str]) -> Output {
        Command::new(bin("tokenbook"))
            .args(["--json", "--node", node, "--keys-dir"])
            .arg(&self.keys)
            .args(args)
            .env_remove("TOKENBOOK_NODE")
            .output()
            .unwrap()
    }

    fn ok(&self, node: &str, args: &[&str]) -> Value {
        self.cli(node, args).unwrap_or_else(|e| panic!("tokenbook {args:?} failed: {e}"))
    }

    fn member(&self) -> String {
        self.dir.join("members/member-0.key").display().to_string()
    }

    fn height(&self, api: &str) -> u64 {
        self.cli(api, &["status"]).map_or(0, |s| s["height"].as_u64().unwrap_or(0))
    }

    fn heights(&self) -> Vec<u64> {
        self.apis.iter().map(|a| self.height(a)).collect()
    }

    /// Waits until `check` holds, polling; panics after `secs` naming `what`.
    fn until(&self, secs: u64, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Stops the devnet (and a restarted validator) however the test ends.
struct Cleanup {
    dir: PathBuf,
    children: Vec<Child>,
    stopped: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = Command::new(bin("tokenbook-devnet"))
                .args(["down", "--dir"])
                .arg(&self.dir)
                .output();
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_devnet(dir: &Path) -> Child {
    let mut child = Command::new(bin("tokenbook-devnet"))
        .env("TOKENBOOK_DEVNET_API_PORT", "0")
        .args(["up", "--validators", "4", "--traders", "4", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Drain its live status line so it never blocks on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    child
}

fn apis(dir: &Path) -> Vec<String> {
    tokenbook_tests::procs::devnet_apis(dir)
}

fn event<'a>(receipt: &'a Value, kind: &str) -> Option<&'a Value> {
    receipt["events"].as_array()?.iter().find(|e| e["event"] == kind)
}

/// USD text of a price in ticks ($0.01) moved by `delta` ticks.
fn usd(ticks: i64) -> String {
    format!("{}.{:02}", ticks / 100, ticks % 100)
}

fn best(net: &Net, api: &str, market: &str, side: &str) -> i64 {
    let markets = net.ok(api, &["markets"]);
    let m = markets.as_array().unwrap().iter().find(|m| m["symbol"] == market).unwrap();
    m[side]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| m["mark"].as_str().unwrap().parse().unwrap())
}

/// Registers and funds a new trader key through the CLI; its account id.
fn new_trader(net: &Net, committed: &mut Vec<String>) -> u64 {
    let api = &net.apis[0];
    let key = net.ok(api, &["keys", "new", "alice"]);
    let public = key["public_key"].as_str().unwrap();
    let member = net.member();
    let receipt = net.ok(api, &["--key-file", &member, "member", "register-account", public]);
    committed.push(receipt["hash"].as_str().unwrap().into());
    let account = event(&receipt, "account_registered").unwrap()["account"].as_u64().unwrap();
    let id = account.to_string();
    let receipt = net.ok(api, &["--key-file", &member, "member", "deposit", &id, "1000000"]);
    committed.push(receipt["hash"].as_str().unwrap().into());
    account
}

/// Issue #18's attack through the public API: mallory, funded at initial margin for 10 lots,
/// tries to buy them from alice's post-only ask 4.5 % above the mark. Before the fix the fill
/// left mallory bankrupt and the insurance fund paid alice; now the order is refused.
fn a_colluding_pair_cannot_bankrupt_one_of_them(net: &Net, committed: &mut Vec<String>) {
    let api = &net.apis[0];
    let member = net.member();
    let key = net.ok(api, &["keys", "new", "mallory"]);
    let public = key["public_key"].as_str().unwrap();
    let receipt = net.ok(api, &["--key-file", &member, "member", "register-account", public]);
    let mallory = event(&receipt, "account_registered").unwrap()["account"].as_u64().unwrap();
    // $1,000 of initial margin for 10 lots at ~1,000 ticks ($1 a tick-lot), $10 for fees.
    let funded =
        net.ok(api, &["--key-file", &member, "member", "deposit", &mallory.to_string(), "1010"]);
    committed.extend([&receipt, &funded].map(|r| r["hash"].as_str().unwrap().to_string()));
    let markets = net.ok(api, &["markets"]);
    let ait = markets[0]["symbol"].as_str().unwrap().to_string();
    let mark: i64 = markets[0]["mark"].as_str().unwrap().parse().unwrap();
    let price = usd(mark + mark * 45 / 1_000);
    let ask = [
        "--key",
        "alice",
        "order",
        "place",
        &ait,
        "sell",
        "10",
        "--price",
        &price,
        "--tif",
        "post-only",
        "--client-id",
        "78",
        "--wait",
    ];
    let rested = net.ok(api, &ask);
    assert_eq!(event(&rested, "order_accepted").unwrap()["resting"], "10", "{rested}");
    committed.push(rested["hash"].as_str().unwrap().into());
    let take = [
        "--key", "mallory", "order", "place", &ait, "buy", "10", "--price", &price, "--tif", "ioc",
        "--wait",
    ];
    let refused = net.cli(api, &take).unwrap_err();
    assert!(refused.contains("insufficient_margin"), "mallory's buy at {price}: {refused}");
    let cancelled = net.ok(api, &["--key", "alice", "order", "cancel", &ait, "c:78", "--wait"]);
    committed.push(cancelled["hash"].as_str().unwrap().into());
}

/// Every node, once at or past `height`, satisfies `check` on its answer to `args`.
fn on_every_node(net: &Net, height: u64, args: &[&str], check: impl Fn(&Value) -> bool) {
    for api in &net.apis {
        net.until(60, &format!("{api} to reach height {height}"), || net.height(api) >= height);
        let answer = net.ok(api, args);
        assert!(check(&answer), "{api}: {args:?} answered {answer}");
    }
}

fn trade_through_the_cli(net: &Net, account: u64, committed: &mut Vec<String>) {
    let api = &net.apis[0];
    let id = account.to_string();
    // The devnet dates its contracts by its start (AIT-FRONTIER-DEC26, H100-HR-DEC26, …).
    let symbols = net.ok(api, &["markets"]);
    let symbol = |i: usize| symbols[i]["symbol"].as_str().unwrap().to_string();
    let (ait, gpu) = (symbol(0), symbol(1));
    let (ait, gpu) = (ait.as_str(), gpu.as_str());
    // A bid far below the market rests; every node's book and account show it.
    let price = usd(best(net, api, gpu, "best_bid") - 6);
    let args = [
        "--key",
        "alice",
        "order",
        "place",
        gpu,
        "buy",
        "2",
        "--price",
        &price,
        "--client-id",
        "77",
        "--wait",
    ];
    let placed = net.ok(api, &args);
    committed.push(placed["hash"].as_str().unwrap().into());
    let accepted = event(&placed, "order_accepted").unwrap_or_else(|| panic!("{placed}"));
    assert_eq!(accepted["resting"], "2", "{placed}");
    let order = accepted["order"].as_u64().unwrap();
    let at = placed["height"].as_u64().unwrap();
    on_every_node(net, at, &["account", &id], |a| {
        a["open_orders"].as_array().unwrap().iter().any(|o| o["id"] == order)
    });
    on_every_node(net, at, &["book", gpu, "--depth", "100"], |b| {
        b["bids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["price"].as_str().unwrap().parse::<i64>().unwrap() == best_ticks(&price))
    });
    // Replaced (one tick up, one lot), then cancelled by its client id: gone everywhere.
    let price = usd(best_ticks(&price) + 1);
    let args = [
        "--key", "alice", "order", "replace", gpu, "c:77", "--price", &price, "--qty", "1",
        "--wait",
    ];
    let replaced = net.ok(api, &args);
    committed.push(replaced["hash"].as_str().unwrap().into());
    assert!(event(&replaced, "order_replaced").is_some(), "{replaced}");
    let cancelled = net.ok(api, &["--key", "alice", "order", "cancel", gpu, "c:77", "--wait"]);
    committed.push(cancelled["hash"].as_str().unwrap().into());
    assert!(event(&cancelled, "order_cancelled").is_some(), "{cancelled}");
    let at = cancelled["height"].as_u64().unwrap();
    on_every_node(net, at, &["account", &id], |a| a["open_orders"].as_array().unwrap().is_empty());
    // Crossing the makers' asks fills; every node shows the position.
    let price = usd(best(net, api, ait, "best_ask") + 5);
    let taken = net.ok(
        api,
        &[
            "--key", "alice", "order", "place", ait, "buy", "1", "--price", &price, "--tif", "ioc",
            "--wait",
        ],
    );
    committed.push(taken["hash"].as_str().unwrap().into());
    assert!(event(&taken, "fill").is_some(), "no fill: {taken}");
    let at = taken["height"].as_u64().unwrap();
    on_every_node(net, at, &["account", &id], |a| {
        a["positions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["market"] == 1 && p["position"]["qty"] == "1")
    });
}

/// The dead-man's switch, member withdraw/freeze/guaranty, an oracle publication, a governance
/// vote to quorum, `watch`, and the auditor's `prove` and `export`, all through the CLI.
fn the_other_commands(net: &Net, account: u64, committed: &mut Vec<String>) {
    let api = &net.apis[0];
    let id = account.to_string();
    let symbols = net.ok(api, &["markets"]);
    let gpu = symbols[1]["symbol"].as_str().unwrap().to_string();
    // A resting bid and a 1-second dead-man's switch: the switch cancels the bid.
    let price = usd(best(net, api, &gpu, "best_bid") - 6);
    let placed = net.ok(
        api,
        &["--key", "alice", "order", "place", &gpu, "buy", "1", "--price", &price, "--wait"],
    );
    assert_eq!(event(&placed, "order_accepted").unwrap()["resting"], "1", "{placed}");
    // With the chain id, the markets and alice's account cached, an order is one request.
    let traced = Command::new(bin("tokenbook"))
        .args(["--json", "--node", api, "--keys-dir"])
        .arg(&net.keys)
        .args(["--key", "alice", "order", "place", &gpu, "buy", "1", "--price", &price])
        .env("TOKENBOOK_HTTP_TRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&traced.stderr);
    let requests: Vec<&str> = stderr.lines().filter(|l| l.starts_with("http ")).collect();
    assert!(traced.status.success(), "{stderr}");
    assert_eq!(requests, ["http POST /v1/tx"], "one round trip per order");
    let armed = net.ok(api, &["--key", "alice", "deadman", "set", "1"]);
    assert!(event(&armed, "deadman_set").is_some(), "{armed}");
    net.until(30, "the dead-man's switch to cancel the bid", || {
        net.ok(api, &["account", &id])["open_orders"].as_array().unwrap().is_empty()
    });
    // Member: withdraw, freeze, unfreeze.
    let member = net.member();
    let m = ["--key-file", member.as_str()];
    let withdrawn = net.ok(api, &[&m[..], &["member", "withdraw", &id, "10"]].concat());
    assert!(event(&withdrawn, "withdrawn").is_some(), "{withdrawn}");
    let frozen = net.ok(api, &[&m[..], &["member", "freeze", &id]].concat());
    committed.extend([
        withdrawn["hash"].as_str().unwrap().into(),
        frozen["hash"].as_str().unwrap().into(),
    ]);
    assert_eq!(net.ok(api, &["account", &id])["frozen"], true);
    let refused = net.cli(
        api,
        &["--key", "alice", "order", "place", &gpu, "buy", "1", "--price", &price, "--wait"],
    );
    assert!(refused.unwrap_err().contains("account_frozen"));
    net.ok(api, &[&m[..], &["member", "freeze", &id, "--unfreeze"]].concat());
    assert_eq!(net.ok(api, &["account", &id])["frozen"], false);
    // Member: its guaranty-fund contribution — cash into its own account, posted, released.
    let posted_now = || -> i128 {
        let guaranty = &net.ok(api, &["account", "1"])["guaranty"];
        guaranty["posted"].as_str().unwrap().parse().unwrap()
    };
    let before = posted_now();
    net.ok(api, &[&m[..], &["member", "deposit", "1", "100"]].concat());
    let posted = net.ok(api, &[&m[..], &["member", "post-guaranty", "100"]].concat());
    assert!(event(&posted, "guaranty_posted").is_some(), "{posted}");
    assert_eq!(posted_now(), before + 100_000_000);
    let released = net.ok(api, &[&m[..], &["member", "release-guaranty", "100"]].concat());
    assert!(event(&released, "guaranty_released").is_some(), "{released}");
    assert_eq!(posted_now(), before);
    // Oracle: a member publishes an index observation.
    let published = net.ok(api, &[&m[..], &["oracle", "publish", "2", "2.50"]].concat());
    assert!(event(&published, "index_published").is_some(), "{published}");
    // Governance: proposed by member 0, listed, approved by members 1 and 2 (3 of 4 > 2/3).
    let action = r#"{"fund_insurance":{"amount":"1"}}"#;
    let proposed = net.ok(api, &[&m[..], &["gov", "propose", action]].concat());
    let proposal = event(&proposed, "proposal_opened").unwrap()["proposal"].as_u64().unwrap();
    let listed = net.ok(api, &["gov", "list"]);
    assert!(listed.as_array().unwrap().iter().any(|p| p["id"] == proposal), "{listed}");
    let mut last = Value::Null;
    for i in [1, 2] {
        let key = net.dir.join(format!("members/member-{i}.key")).display().to_string();
        last = net.ok(api, &["--key-file", &key, "gov", "approve", &proposal.to_string()]);
    }
    assert!(event(&last, "proposal_executed").is_some(), "{last}");
    // watch: the devnet's takers trade all the time.
    let watch = net.run(api, &["watch", "trades", "--count", "2"]);
    assert!(watch.status.success() && String::from_utf8_lossy(&watch.stdout).lines().count() == 2);
    // The auditor: the account proved at a certified height; trades and positions exported.
    let genesis = net.dir.join("validator-0/genesis.json").display().to_string();
    let height = net.height(api) - 1;
    let h = height.to_string();
    let proved = net.ok(api, &["audit", "prove", &id, "--height", &h, "--from-genesis", &genesis]);
    assert_eq!(
        (proved["verified"].as_bool(), proved["positions"]["1"].as_str()),
        (Some(true), Some("1")),
        "{proved}"
    );
    let out = net.dir.join("export");
    let args =
        ["audit", "export", "--from-genesis", &genesis, "--to", &h, "--out", out.to_str().unwrap()];
    assert!(net.run(api, &args).status.success());
    let trades = std::fs::read_to_string(out.join("trades.csv")).unwrap();
    assert!(
        trades.lines().any(|l| l.split(',').nth(6) == Some(id.as_str())),
        "alice's trade is not exported"
    );
    let positions = std::fs::read_to_string(out.join("positions.csv")).unwrap();
    assert!(positions.lines().any(|l| l.split(',').nth(1) == Some(id.as_str())));
}

fn best_ticks(price: &str) -> i64 {
    let (whole, cents) = price.split_once('.').unwrap();
    whole.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

fn pid_of_validator(dir: &Path, i: usize) -> u32 {
    let pids = std::fs::read_to_string(dir.join("pids")).unwrap();
    pids.lines().nth(i).unwrap().trim().parse().unwrap()
}

fn kill_and_restart(net: &Net, committed: &mut Vec<String>, children: &mut Vec<Child>) {
    let victim = pid_of_validator(&net.dir, 3);
    assert!(Command::new("kill").args(["-9", &victim.to_string()]).status().unwrap().success());
    let before = net.heights();
    // Under load (the devnet's makers and takers keep sending), the other three go on.
    let member = net.member();
    for amount in ["10", "20", "30"] {
        let receipt =
            net.ok(&net.apis[0], &["--key-file", &member, "member", "deposit", "5", amount]);
        committed.push(receipt["hash"].as_str().unwrap().into());
    }
    net.until(60, "the three live validators to commit 20 more heights", || {
        (0..3).all(|i| net.height(&net.apis[i]) >= before[i] + 20)
    });
    let home = net.dir.join("validator-3");
    let log = std::fs::File::create(home.join("restart.log")).unwrap();
    let child = Command::new(bin("tokenbook-node"))
        .args(["start", "--home"])
        .arg(&home)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    children.push(child);
    let target = net.height(&net.apis[0]);
    net.until(90, "the restarted validator to catch up", || net.height(&net.apis[3]) >= target);
}

fn audit(net: &Net, height: u64) {
    let genesis = net.dir.join("validator-0/genesis.json").display().to_string();
    let blocks = net.dir.join("blocks");
    let all = net.apis.join(",");
    let to = height.to_string();
    let report = net.ok(
        &all,
        &[
            "audit",
            "verify",
            "--from-genesis",
            &genesis,
            "--to",
            &to,
            "--save",
            blocks.to_str().unwrap(),
        ],
    );
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["verified_to"], height, "{report}");
    // One flipped byte in a copy of one block: the audit fails and names it.
    let tampered = net.dir.join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    for entry in std::fs::read_dir(&blocks).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tampered.join(entry.file_name())).unwrap();
    }
    let victim = height / 2;
    let path = tampered.join(format!("{victim:012}.block"));
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new(bin("tokenbook"))
        .args(["--json", "audit", "verify", "--from-genesis", &genesis, "--blocks"])
        .arg(&tampered)
        .env_remove("TOKENBOOK_NODE")
        .output()
        .unwrap();
    assert!(!out.status.success(), "a tampered block passed the audit");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failure"]["height"], victim, "{report}");
    assert_eq!(report["verified_to"], victim - 1, "{report}");
}

#[test]
fn a_trader_and_an_auditor_on_a_devnet_with_a_validator_killed_and_restarted() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("devnet");
    let mut cleanup =
        Cleanup { dir: dir.clone(), children: vec![start_devnet(&dir)], stopped: false };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join("devnet.json").exists() {
        assert!(Instant::now() < deadline, "the devnet did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    let net = Net { apis: apis(&dir), keys: dir.join("cli-keys"), dir: dir.clone() };
    // Trading has started once the traders' quotes make a market.
    net.until(120, "the devnet's market makers to quote", || {
        net.cli(&net.apis[0], &["markets"])
            .is_ok_and(|m| m[1]["best_ask"].is_string() && m[0]["best_ask"].is_string())
    });
    let mut committed = Vec::new();
    let account = new_trader(&net, &mut committed);
    trade_through_the_cli(&net, account, &mut committed);
    a_colluding_pair_cannot_bankrupt_one_of_them(&net, &mut committed);
    the_other_commands(&net, account, &mut committed);
    kill_and_restart(&net, &mut committed, &mut cleanup.children);
    // Every tx the CLI saw committed is committed, at the same height, on every node.
    for hash in &committed {
        let heights: Vec<Value> =
            net.apis.iter().map(|api| net.ok(api, &["tx", hash])["height"].clone()).collect();
        assert!(heights.iter().all(|h| h == &heights[0] && h.is_u64()), "{hash}: {heights:?}");
    }
    // Every node reports the same root at a height all have; the audit agrees from genesis.
    let height = net.heights().into_iter().min().unwrap() - 1;
    let roots: Vec<Value> = net.apis.iter().map(|api| get_root(api, height)).collect();
    assert!(roots.iter().all(|r| r == &roots[0] && r.is_string()), "roots at {height}: {roots:?}");
    audit(&net, height);
    // The restarted validator's progress is its height among `net.heights()` above (each
    // commit is logged at DEBUG only); its log shows the restart.
    let log = std::fs::read_to_string(dir.join("validator-3/restart.log")).unwrap_or_default();
    assert!(log.contains("node started"), "the restarted validator did not start: {log}");
    let down =
        Command::new(bin("tokenbook-devnet")).args(["down", "--dir"]).arg(&dir).output().unwrap();
    assert!(down.status.success());
    cleanup.stopped = true;
    assert!(cleanup.children[0].wait().unwrap().success(), "the devnet did not stop cleanly");
}

fn get_root(api: &str, height: u64) -> Value {
    let answer = reqwest::blocking::get(format!("{api}/v1/state-root/{height}")).unwrap();
    serde_json::from_str::<Value>(&answer.text().unwrap()).unwrap()["state_root"].clone()
}
