//! The tokio runtime with real timers: four validators over an in-memory network commit the
//! same blocks; undecodable bytes from a peer are dropped and counted.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::time::Duration;
use tokenbook_consensus::TimeoutParams;
use tokenbook_node::driver::{BlockLimits, Driver};
use tokenbook_node::executor::Executor;
use tokenbook_node::mempool::{Mempool, MempoolConfig};
use tokenbook_node::runtime::{self, Command, MemNet, Network};
use tokenbook_protocol::Height;
use tokenbook_store::StoreConfig;

const FAST: TimeoutParams = TimeoutParams {
    propose_base_ms: 300,
    propose_per_round_ms: 100,
    vote_base_ms: 150,
    vote_per_round_ms: 50,
    propose_absent_ms: 100,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_on_tokio_commit_the_same_blocks() {
    let dirs: Vec<_> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nets = MemNet::mesh(NODES + 1);
    let mut outsider = nets.pop().unwrap();
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    for (i, net) in nets.into_iter().enumerate() {
        let executor = Executor::open(dirs[i].path(), StoreConfig::new(CHAIN), &genesis()).unwrap();
        let mempool = Mempool::new(MempoolConfig::new(CHAIN));
        let limits = BlockLimits {
            max_txs: 1_000,
            max_bytes: 1 << 20,
            interval_ms: 20,
            heartbeat_ms: 0,
            max_future_time_ms: 1_000,
        };
        let now = runtime::now_ms();
        let (driver, initial) =
            Driver::start(executor, mempool, key(100 + i as u64), FAST, limits, now).unwrap();
        let (h, task) =
            runtime::spawn(driver, initial, net, stop_rx.clone(), runtime::Admission::default());
        handles.push(h);
        tasks.push(task);
    }
    // A peer sending garbage is counted, not obeyed.
    outsider.send(0, vec![0xFF; 10]);
    // Txs through node 2's command channel.
    let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
    let txs = registrations_at(runtime::now_ms(), 0, 25);
    let mut checker = tokenbook_node::sigs::SigChecker::new();
    let txs: Vec<_> = tokenbook_node::mempool::verify_txs(&mut checker, CHAIN, txs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    handles[2].commands.send(Command::Submit { txs, reply: reply_tx }).await.unwrap();
    assert!(reply_rx.await.unwrap().iter().all(Result::is_ok));
    // Every node reaches height 5.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for h in &mut handles {
        let mut status = h.status.clone();
        tokio::time::timeout_at(deadline, status.wait_for(|s| s.height >= Height::new(5)))
            .await
            .expect("no progress within 60 s")
            .unwrap();
    }
    assert_eq!(handles[0].status.borrow().bad_messages, 1);
    drop(_stop_tx);
    for task in tasks {
        let _ = task.await.unwrap();
    }
    // The handles' store readers hold the databases open.
    drop(handles);
    // Reopened stores agree on every height all of them reached.
    let stores: Vec<_> = dirs
        .iter()
        .map(|d| tokenbook_store::Store::open(d.path(), StoreConfig::new(CHAIN)).unwrap())
        .collect();
    let common_height = stores.iter().map(|s| s.height().unwrap()).min().unwrap();
    assert!(common_height >= Height::new(5));
    for h in 1..=common_height.get() {
        let roots: Vec<_> = stores.iter().map(|s| s.root_at(Height::new(h)).unwrap()).collect();
        assert!(roots.windows(2).all(|w| w[0] == w[1]), "roots differ at {h}: {roots:?}");
    }
    let accounts =
        tokenbook_ledger::kv::import(&stores[0].load_state().unwrap()).unwrap().accounts.len();
    assert_eq!(accounts, NODES + 1 + 25, "every submitted registration committed");
}
