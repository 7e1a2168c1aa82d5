//! The state encoding and the roots it yields are frozen, as the wire formats are
//! (node/protocol/tests/fixtures/formats.txt): a seeded chain of the benchmark workload (orders,
//! trades, cancels, deposits) is applied through the real ledger, and for each table of the
//! state the number of keys and the digest of their bytes, and the Jellyfish root after every
//! height, are checked in at `tests/fixtures/state.txt`.
//!
//! A certified root that changes is a hard fork for every member and breaks every auditor's
//! replay of old blocks: it must be a deliberate, blessed change, never an accident. If it is
//! one: `TOKENBOOK_BLESS=1 cargo test -p tokenbook-store --test it frozen` rewrites the file;
//! say so in the commit and in docs/adr.

use crate::fixture::{self, Chain};
use std::collections::BTreeMap;
use tokenbook_ledger::kv::{self, KvMap};
use tokenbook_protocol::Hash;

/// Seed, blocks and txs per block of the frozen chain (small: the test must stay fast).
const SEED: u64 = 11;
const BLOCKS: usize = 12;
const BLOCK_TXS: usize = 40;

fn table_lines(label: &str, state: &KvMap) -> Vec<String> {
    let mut tables: BTreeMap<u8, KvMap> = BTreeMap::new();
    for (k, v) in state {
        let table = k.first().copied().unwrap_or(0xff);
        tables.entry(table).or_default().insert(k.clone(), v.clone());
    }
    tables
        .iter()
        .map(|(table, map)| {
            format!("{label} table {table:02x} keys {} digest {}", map.len(), kv::digest_of(map))
        })
        .collect()
}

fn current(chain: &Chain) -> String {
    let roots = fixture::mem_roots(chain);
    let mut lines = table_lines("genesis", &chain.genesis);
    lines.push(format!("genesis root {}", roots[0]));
    for (h, root) in chain.heights.iter().zip(&roots[1..]) {
        lines.push(format!(
            "height {} txs {} changes {} root {root}",
            h.height(),
            h.block.txs.len(),
            h.changes.len()
        ));
    }
    lines.extend(table_lines("final", &kv::export(&chain.final_state)));
    let final_root: Hash = fixture::scratch_root(&kv::export(&chain.final_state));
    lines.push(format!("final root {final_root}"));
    lines.join("\n") + "\n"
}

#[test]
fn state_encoding_and_roots_are_frozen() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/state.txt");
    let now = current(&fixture::chain(SEED, BLOCKS, BLOCK_TXS));
    if std::env::var_os("TOKENBOOK_BLESS").is_some() {
        std::fs::write(path, &now).unwrap();
        return;
    }
    let frozen = std::fs::read_to_string(path).unwrap_or_default();
    if frozen != now {
        let changed: Vec<&str> = now.lines().filter(|l| !frozen.lines().any(|f| f == *l)).collect();
        panic!(
            "the state encoding or its roots changed: every certified root after this commit \
             differs from the chain's. If deliberate, rerun with TOKENBOOK_BLESS=1 and say so in \
             the commit. Lines that differ from {path}:\n{}",
            changed.join("\n")
        );
    }
}
