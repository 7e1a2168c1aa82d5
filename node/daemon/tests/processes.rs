//! Four `tokenbook-node` processes over TCP libp2p: they commit blocks of orders with one state
//! root; one is killed with SIGKILL under load, restarted from its store, syncs what it missed
//! and rejoins; SIGTERM stops every process cleanly.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokenbook_node::home::Home;
use tokenbook_node::runtime;
use tokenbook_protocol::*;

const BIN: &str = env!("CARGO_BIN_EXE_tokenbook-node");

/// A port the OS says is free now (the node binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Node {
    home: Home,
    api: String,
    child: Child,
}

impl Node {
    fn spawn(home: Home, api: String) -> Node {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.0.join("node.log"))
            .unwrap();
        let child = Command::new(BIN)
            .args(["start", "--home"])
            .arg(&home.0)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Node { home, api, child }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.0.join("node.log")).unwrap_or_default()
    }

    async fn height(&self) -> u64 {
        match reqwest::get(format!("http://{}/v1/status", self.api)).await {
            Ok(r) => r.json::<serde_json::Value>().await.unwrap()["height"].as_u64().unwrap(),
            Err(_) => 0,
        }
    }

    async fn wait_height(&mut self, height: u64, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while self.height().await < height {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}):\n{}", self.api, self.log());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} not at height {height} within {secs} s:\n{}",
                self.api,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn root_at(&self, h: u64) -> serde_json::Value {
        let (code, body) = get(&format!("http://{}/v1/state-root/{h}", self.api)).await;
        assert_eq!(code, 200, "{body}");
        body["state_root"].clone()
    }

    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let term = Command::new("sh").args(["-c", &format!("kill -TERM {pid}")]).status().unwrap();
        assert!(term.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{} exited {status}:\n{}", self.api, self.log());
    }
}

async fn same_roots(nodes: &[Node], heights: &[u64]) {
    for &h in heights {
        let first = nodes[0].root_at(h).await;
        for node in &nodes[1..] {
            assert_eq!(node.root_at(h).await, first, "roots differ at height {h}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_agree_and_a_killed_one_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut genesis = genesis();
    genesis.time = Timestamp::new(runtime::now_ms() - 60_000);
    let p2p: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let apis: Vec<String> = (0..NODES).map(|_| format!("127.0.0.1:{}", free_port())).collect();
    let address = |i: usize| {
        let peer = tokenbook_net::peer_id(&key(200 + i as u64).public_key()).unwrap();
        format!("/ip4/127.0.0.1/tcp/{}/p2p/{peer}", p2p[i])
    };
    let mut nodes: Vec<Node> = (0..NODES)
        .map(|i| {
            let peers = (0..NODES).filter(|&j| j != i).map(address).collect();
            let listen = format!("/ip4/127.0.0.1/tcp/{}", p2p[i]);
            let home = node_home(dir.path(), i as u64, &genesis, &listen, peers, &apis[i]);
            Node::spawn(home, apis[i].clone())
        })
        .collect();
    for node in &mut nodes {
        node.wait_height(2, 60).await;
    }
    let now = runtime::now_ms();
    for tx in trading_setup(now, NODES as u64, 2) {
        submit_committed(&nodes[0].api, &tx).await;
    }
    // Orders flow through nodes 0..=2 while node 3 is killed, stays down, and comes back.
    let mut round = 0;
    let mut load = |nodes: &Vec<Node>, rounds: u64| {
        let targets: Vec<String> = nodes.iter().take(3).map(|n| n.api.clone()).collect();
        let first = round;
        round += rounds;
        async move {
            for r in first..first + rounds {
                for tx in crossing_pair(r, now + 1_000 + r) {
                    submit(&targets[usize::try_from(r).unwrap() % 3], &tx).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    load(&nodes, 20).await;
    let mut killed = nodes.pop().unwrap();
    killed.child.kill().unwrap(); // SIGKILL: no clean shutdown
    killed.child.wait().unwrap();
    let killed_at = nodes[0].height().await;
    load(&nodes, 40).await;
    nodes[0].wait_height(killed_at + 15, 60).await;
    let restarted = Node::spawn(killed.home, killed.api);
    nodes.push(restarted);
    load(&nodes, 20).await;
    let target = nodes[0].height().await + 3;
    for node in &mut nodes {
        node.wait_height(target, 90).await;
    }
    same_roots(&nodes, &[1, killed_at, killed_at + 15, target]).await;
    let log = nodes[3].log();
    assert!(log.contains("behind; asking for blocks"), "the restarted node never synced:\n{log}");
    let (_, markets) = get(&format!("http://{}/v1/markets", nodes[3].api)).await;
    let symbol = markets[0]["symbol"].as_str().unwrap().to_string();
    let (_, trades) = get(&format!("http://{}/v1/markets/{symbol}/trades", nodes[3].api)).await;
    assert!(trades["trades"].as_array().unwrap().len() >= 10, "{trades}");
    for node in nodes {
        node.terminate();
    }
}
