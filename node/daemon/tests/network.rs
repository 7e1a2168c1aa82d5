//! Four whole validators in one process, each started from its own home directory by the same
//! code as `tokenbook-node start`, over loopback libp2p: blocks of orders commit with the same
//! state root everywhere; one node stopped under load and restarted catches up and rejoins.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::time::Duration;
use tokenbook_node::home::Home;
use tokenbook_node::node::{self, Running};
use tokenbook_node::runtime;
use tokenbook_protocol::*;

async fn wait_height(node: &Running, height: u64, secs: u64) {
    let mut status = node.handles.status.clone();
    tokio::time::timeout(
        Duration::from_secs(secs),
        status.wait_for(|s| s.height >= Height::new(height)),
    )
    .await
    .unwrap_or_else(|_| panic!("{} not at height {height} within {secs} s", node.api))
    .unwrap();
}

async fn addresses_of(nodes: &mut [Running]) -> Vec<String> {
    let mut addresses = Vec::new();
    for node in nodes {
        addresses.push(node.dial_address().await.unwrap().to_string());
    }
    addresses
}

async fn root_at(node: &Running, h: u64) -> serde_json::Value {
    let (code, body) = get(&format!("http://{}/v1/state-root/{h}", node.api)).await;
    assert_eq!(code, 200, "{body}");
    body["state_root"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_over_libp2p_agree_and_a_restarted_one_catches_up() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_validators(dir.path(), &genesis_now(), |_| {}).await;
    // Traders set up and orders sent through node 1's API.
    let now = trade(&nodes[1].api, 10).await;
    let target = nodes[0].handles.status.borrow().height.get() + 5;

    for node in &nodes {
        wait_height(node, target, 60).await;
    }
    for h in 1..=target {
        let first = root_at(&nodes[0], h).await;
        for node in &nodes[1..] {
            assert_eq!(root_at(node, h).await, first, "roots differ at height {h}");
        }
    }
    // Status names the validators, the peers and whether the node is catching up.
    let (_, status) = get(&format!("http://{}/v1/status", nodes[3].api)).await;
    assert_eq!(status["validators"].as_array().unwrap().len(), NODES, "{status}");
    assert_eq!(status["peers"].as_u64(), Some(NODES as u64 - 1), "{status}");
    assert_eq!(status["catching_up"].as_bool(), Some(false), "{status}");

    // Node 3 stops; the other three (3 of 4 > 2/3) go on under load; node 3 restarts from its
    // store, syncs the heights it missed from its peers, and rejoins.
    let stopped = nodes.pop().unwrap();
    let stopped_at = stopped.handles.status.borrow().height.get();
    stopped.stop().await.unwrap();
    for (round, node) in (10..40).zip(nodes.iter().cycle()) {
        for tx in crossing_pair(round, now + 1_000 + round) {
            submit(&node.api, &tx).await;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let ahead = stopped_at + 20;
    wait_height(&nodes[0], ahead, 60).await;
    let restarted = node::start(&Home(dir.path().join("node3"))).await.unwrap();
    wait_height(&restarted, ahead, 60).await;
    nodes.push(restarted);
    let target = nodes[0].handles.status.borrow().height.get() + 3;
    for node in &nodes {
        wait_height(node, target, 60).await;
    }
    for h in [stopped_at, ahead, target] {
        let first = root_at(&nodes[0], h).await;
        for node in &nodes[1..] {
            assert_eq!(root_at(node, h).await, first, "roots differ at height {h}");
        }
    }
    // The orders traded, and the restarted node serves the trades it synced.
    let (_, markets) = get(&format!("http://{}/v1/markets", nodes[3].api)).await;
    let symbol = markets[0]["symbol"].as_str().unwrap().to_string();
    let (_, trades) = get(&format!("http://{}/v1/markets/{symbol}/trades", nodes[3].api)).await;
    assert!(trades["trades"].as_array().unwrap().len() >= 10, "{trades}");
    for node in nodes {
        node.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_starts_from_a_verified_snapshot_and_joins_the_validators() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = genesis_now();
    // The validators let in one more network key: a new, non-validator node.
    let newcomer = key(200 + NODES as u64).public_key().to_hex();
    let mut nodes = start_validators(dir.path(), &genesis, |c| {
        c.p2p.allow_extra = vec![newcomer.clone()];
        c.sync.snapshot_chunk_entries = 7; // several chunks even for a small state
    })
    .await;
    trade(&nodes[0].api, 10).await;
    wait_height(&nodes[0], 15, 60).await;
    // The newcomer: an empty store, state sync on, every validator as a peer.
    let listen = "/ip4/127.0.0.1/tcp/0";
    let addresses = addresses_of(&mut nodes).await;
    let home = node_home(dir.path(), NODES as u64, &genesis, listen, addresses, "127.0.0.1:0");
    edit_config(&home, |c| {
        c.p2p.allow_extra = vec![newcomer.clone()];
        c.sync.state_sync = true;
    });
    let started_at = nodes[0].handles.status.borrow().height.get();
    let fresh = node::start(&home).await.unwrap();
    let target = nodes[0].handles.status.borrow().height.get() + 3;
    wait_height(&fresh, target, 60).await;
    assert_eq!(root_at(&fresh, target).await, root_at(&nodes[0], target).await);
    // It never replayed the early heights: it has no block 1, only what came after the
    // snapshot (taken at the serving node's height minus one).
    let (code, _) = get(&format!("http://{}/v1/blocks/1", fresh.api)).await;
    assert_eq!(code, 404);
    let (code, body) = get(&format!("http://{}/v1/blocks/{target}", fresh.api)).await;
    assert_eq!(code, 200, "{body}");
    let (_, account) = get(&format!("http://{}/v1/accounts/{FIRST_TRADER}", fresh.api)).await;
    let (_, expected) = get(&format!("http://{}/v1/accounts/{FIRST_TRADER}", nodes[1].api)).await;
    assert_eq!(account["owner"], expected["owner"]);
    assert!(started_at >= 15);

    // Governance adds the newcomer as a validator (3 of 4 members); the change applies two
    // heights after the approving block. Then one original validator stops: 4 of the 5 remain,
    // exactly the quorum, so the chain goes on only if the newcomer votes.
    let newcomer = Validator {
        consensus_key: key(100 + NODES as u64).public_key(),
        network_key: key(200 + NODES as u64).public_key(),
        power: 1,
    };
    let nonce = runtime::now_ms();
    let propose = TxBody::Propose(Propose {
        action: GovAction::AddValidator(newcomer),
        expires_at: Timestamp::new(nonce + 600_000),
    });
    submit_committed(&nodes[1].api, &signed(&key(0), AccountId::new(1), nonce, propose)).await;
    let (_, status) = get(&format!("http://{}/v1/status", nodes[1].api)).await;
    let mut approved_at = 0;
    for member in 1..3u64 {
        // The first open proposal has id 1.
        let approve = TxBody::Approve(Approve { proposal: ProposalId::new(1) });
        let tx = signed(&key(member), AccountId::new(member + 1), nonce + member, approve);
        submit_committed(&nodes[1].api, &tx).await;
        approved_at = nodes[1].handles.status.borrow().height.get();
    }
    assert!(status["validators"].as_array().unwrap().len() == NODES, "{status}");
    wait_height(&nodes[1], approved_at + 3, 60).await;
    // The newcomer follows the chain (it is not yet a validator, and may be a block or two
    // behind): it must itself have applied the change before its status shows it.
    wait_height(&fresh, approved_at + 3, 60).await;
    let (_, status) = get(&format!("http://{}/v1/status", fresh.api)).await;
    assert_eq!(status["validators"].as_array().unwrap().len(), NODES + 1, "{status}");
    let stopped = nodes.remove(0);
    stopped.stop().await.unwrap();
    let target = nodes[0].handles.status.borrow().height.get() + 5;
    wait_height(&fresh, target, 60).await;
    for node in &nodes {
        wait_height(node, target, 60).await;
    }
    // The newcomer's signature is in the certificate of a block it helped decide.
    let (_, block) = get(&format!("http://{}/v1/blocks/{target}", nodes[0].api)).await;
    let signers = block["certificate"]["signatures"].to_string();
    assert!(signers.contains(&newcomer.consensus_key.to_hex()), "{block}");
    fresh.stop().await.unwrap();
    for node in nodes {
        node.stop().await.unwrap();
    }
}
