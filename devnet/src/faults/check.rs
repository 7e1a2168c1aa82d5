//! The checker: reads the final chain of every validator and holds it to the history.
//!
//! - Every tx the API acknowledged as committed (`?wait=commit` answered 200 with a height) is
//!   in the chain exactly once, at the height the acknowledgement named.
//! - No two validators hold different blocks, or different state roots, at any height up to
//!   the lowest final height.
//! - Every acknowledged tx's receipt (accepted or not, its events: fills included) is the same
//!   on every validator as in the acknowledgement.
//! - A validator restarted from a snapshot holds no blocks before it: below its first block it
//!   is left out of the comparisons (its blocks from there on are held to the same rules).
//!
//! Promises: it reads through the public API only, and each violation it reports names the
//! height or tx and the validators that disagree.

use futures_util::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokenbook_protocol::Block;
use tokenbook_protocol::codec::decode;

use super::load::{Entry, Outcome};

/// Each validator's raw block and state root at one height (`None`: it has none).
type AtHeight = Vec<(Option<Vec<u8>>, Root)>;

/// A validator's answer for the state root after a height.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Root {
    /// The root it holds.
    Held(String),
    /// Older than the versions its store retains (`store_not_retained`, by design: the block,
    /// compared raw, still carries the root in the next header).
    Pruned,
    /// No answer.
    Missing,
}

/// Whether the roots agree: every validator answered, and the ones that still retain the
/// height hold the same root.
fn roots_agree(roots: &[&Root]) -> bool {
    let held: Vec<&String> = roots
        .iter()
        .filter_map(|r| if let Root::Held(root) = r { Some(root) } else { None })
        .collect();
    !roots.iter().any(|r| **r == Root::Missing) && held.windows(2).all(|w| w[0] == w[1])
}

/// What the checker found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Heights compared on every validator.
    pub heights: u64,
    /// Acknowledged commits checked.
    pub acknowledged: usize,
    /// Every violation, as a readable line with the time (ms) it belongs to when known.
    pub violations: Vec<(Option<u64>, String)>,
}

/// The final chains against the history.
///
/// # Errors
/// A validator does not answer (the run is not checkable).
pub async fn check(
    apis: &[String],
    history: &[Entry],
    synced: &BTreeSet<usize>,
) -> Result<Findings, String> {
    let http = super::load::client(Duration::from_secs(10))?;
    let mut finals = Vec::new();
    for api in apis {
        let height = super::load::height_of(&http, api).await;
        finals.push(height.ok_or(format!("{api} does not answer /v1/status"))?);
    }
    let common = finals.iter().copied().min().unwrap_or(0);
    let mut findings = Findings { heights: common, ..Findings::default() };
    let chains = compare_chains(&http, apis, common, synced, &mut findings).await?;
    let acks: Vec<&Entry> =
        history.iter().filter(|e| matches!(e.outcome, Outcome::Committed { .. })).collect();
    findings.acknowledged = acks.len();
    for entry in &acks {
        check_placement(entry, &chains.placed, common, &mut findings);
    }
    compare_receipts(&http, apis, &acks, &chains.first, &mut findings).await;
    Ok(findings)
}

/// What the chains hold.
struct Chains {
    /// Where each tx sits (tx hash → heights).
    placed: BTreeMap<String, Vec<u64>>,
    /// Each validator's first block height (1 unless it was restarted from a snapshot).
    first: Vec<u64>,
}

/// Compares every block (raw bytes) and state root up to `common`, leaving out a `synced`
/// validator below its first block.
async fn compare_chains(
    http: &reqwest::Client,
    apis: &[String],
    common: u64,
    synced: &BTreeSet<usize>,
    findings: &mut Findings,
) -> Result<Chains, String> {
    let reads = futures_util::stream::iter(1..=common)
        .map(|h| async move { (h, read_height(http, apis, h).await) })
        .buffered(16);
    let all: Vec<(u64, AtHeight)> = reads.collect().await;
    let mut placed: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut first: Vec<Option<u64>> = vec![None; apis.len()];
    for (height, per_node) in all {
        for (i, (block, _)) in per_node.iter().enumerate() {
            if block.is_some() && first[i].is_none() {
                first[i] = Some(height);
            }
        }
        // A synced validator before its first block is not asked.
        let per_node: AtHeight = per_node
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !synced.contains(i) || first[*i].is_some())
            .map(|(_, at)| at)
            .collect();
        let blocks: Vec<Option<&Vec<u8>>> = per_node.iter().map(|(b, _)| b.as_ref()).collect();
        if blocks.iter().any(Option::is_none) || blocks.windows(2).any(|w| w[0] != w[1]) {
            let which: Vec<String> = blocks.iter().map(|b| short(b.map(Vec::as_slice))).collect();
            findings
                .violations
                .push((None, format!("blocks differ at height {height}: {which:?}")));
        }
        let roots: Vec<&Root> = per_node.iter().map(|(_, r)| r).collect();
        if !roots_agree(&roots) {
            findings.violations.push((None, format!("state roots differ at {height}: {roots:?}")));
        }
        let Some(Some(bytes)) = blocks.first() else { continue };
        let block: Block = decode(bytes).map_err(|e| format!("block {height}: {e}"))?;
        for tx in &block.txs {
            placed.entry(tx.hash().to_string()).or_default().push(height);
        }
    }
    Ok(Chains { placed, first: first.into_iter().map(|f| f.unwrap_or(u64::MAX)).collect() })
}

/// Each validator's raw block and state root at `height`.
async fn read_height(http: &reqwest::Client, apis: &[String], height: u64) -> AtHeight {
    let mut out = Vec::new();
    for api in apis {
        let block = match http.get(format!("{api}/v1/blocks/{height}?format=raw")).send().await {
            Ok(r) if r.status().is_success() => r.bytes().await.ok().map(|b| b.to_vec()),
            _ => None,
        };
        out.push((block, read_root(http, &format!("{api}/v1/state-root/{height}")).await));
    }
    out
}

fn short(bytes: Option<&[u8]>) -> String {
    bytes.map_or("missing".into(), |b| {
        tokenbook_protocol::Hash::digest(b).to_string().chars().take(12).collect()
    })
}

fn check_placement(
    entry: &Entry,
    placed: &BTreeMap<String, Vec<u64>>,
    common: u64,
    findings: &mut Findings,
) {
    let Outcome::Committed { height, .. } = entry.outcome else { return };
    let at = placed.get(&entry.hash).cloned().unwrap_or_default();
    let fine = if height > common { at.is_empty() } else { at == [height] };
    if !fine {
        findings.violations.push((
            Some(entry.sent_ms),
            format!(
                "tx {} acknowledged at height {height} by v{} is at heights {at:?} of the chain",
                entry.hash, entry.validator
            ),
        ));
    }
}

/// Every acknowledged receipt read back from every validator that holds its block (`first`:
/// each validator's first block height).
async fn compare_receipts(
    http: &reqwest::Client,
    apis: &[String],
    acks: &[&Entry],
    first: &[u64],
    findings: &mut Findings,
) {
    let reads = futures_util::stream::iter(acks.iter().copied())
        .map(|entry| async move {
            let mut differ = Vec::new();
            let Outcome::Committed { receipt, height } = &entry.outcome else {
                return (entry, differ);
            };
            for (i, api) in apis.iter().enumerate().filter(|(i, _)| first[*i] <= *height) {
                let read = get_json(http, &format!("{api}/v1/tx/{}", entry.hash)).await;
                if read.as_ref() != Some(receipt) {
                    differ.push(i);
                }
            }
            (entry, differ)
        })
        .buffer_unordered(32);
    let results: Vec<(&Entry, Vec<usize>)> = reads.collect().await;
    for (entry, differ) in results {
        if !differ.is_empty() {
            findings.violations.push((
                Some(entry.sent_ms),
                format!(
                    "tx {}: the receipt on validators {differ:?} is not the acknowledged one",
                    entry.hash
                ),
            ));
        }
    }
}

async fn read_root(http: &reqwest::Client, url: &str) -> Root {
    let Ok(response) = http.get(url).send().await else { return Root::Missing };
    let ok = response.status().is_success();
    let Ok(body) = response.json::<serde_json::Value>().await else { return Root::Missing };
    match body["state_root"].as_str() {
        Some(root) if ok => Root::Held(root.to_string()),
        _ if body["code"] == "store_not_retained" => Root::Pruned,
        _ => Root::Missing,
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    let response = http.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

#[cfg(test)]
mod tests {
    use super::{Root, roots_agree};

    #[test]
    fn pruned_roots_are_not_a_disagreement_but_missing_or_different_ones_are() {
        let (a, b) = (Root::Held("aa".into()), Root::Held("bb".into()));
        assert!(roots_agree(&[&a, &a.clone()]));
        // Past the store's retained versions on one validator, or on all (a soak past 10,100
        // heights asks for the roots of heights 1..99).
        assert!(roots_agree(&[&a, &Root::Pruned]));
        assert!(roots_agree(&[&Root::Pruned]));
        assert!(!roots_agree(&[&a, &b]));
        assert!(!roots_agree(&[&a, &Root::Pruned, &b]));
        assert!(!roots_agree(&[&a, &Root::Missing]));
    }
}
