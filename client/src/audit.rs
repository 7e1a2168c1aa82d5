//! `tokenbook audit`: checking the chain without trusting any node.
//!
//! `verify` starts from a genesis file the auditor holds, takes every block and certificate
//! (from nodes' APIs or a directory of saved copies), and for each height checks that the
//! block decodes canonically, that its certificate signs this block and carries more than two
//! thirds of the voting power of the validator set the auditor's own ledger says decides that
//! height, that the header is the one the replayed chain implies (height, parent, tx root,
//! validator-set hashes, the state root after the previous height), and that every tx's
//! signature verifies; then it applies the block with the same ledger the validators run and
//! computes the Jellyfish state root itself. The first failure stops it with the height and a
//! stable code (each block's signatures are verified on the fetching thread while the replay
//! applies the heights before it: the same block-order batch the validators run, a function of
//! the block alone); a state-root mismatch is narrowed to the first differing key by asking a node
//! for proofs of the keys the block changed, checked against the certified root.
//!
//! `prove` checks one account's value against a certified root; `export` writes the trades and
//! the positions of a height range as CSV, from the auditor's own replay.

use crate::node::{CliError, CliResult, Node};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use tokenbook_consensus::{Ed25519, verify_certificate};
use tokenbook_engine::chain::{ChainError, Tip, check_signatures};
use tokenbook_engine::sigs::SigChecker;
use tokenbook_ledger::kv::{self, Changes};
use tokenbook_ledger::{BlockOutcome, Event, Genesis, LedgerState};
use tokenbook_protocol::codec::{decode, decode_record};
use tokenbook_protocol::{Block, CommitCertificate, Hash, Height};
use tokenbook_store::{MemTree, StateProof, Store, StoreConfig};

/// A block and its certificate as canonical bytes.
pub type Raw = (Vec<u8>, Vec<u8>);

/// Where blocks come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Nodes' APIs, tried in order.
    Nodes(Vec<Node>),
    /// A directory of `HEIGHT.block` and `HEIGHT.cert` files (as `--save` writes them).
    Dir(PathBuf),
}

impl Source {
    /// Height `h`'s block and certificate, `None` when no source has it.
    ///
    /// # Errors
    /// Every node failed for another reason than not having it; unreadable files.
    pub fn fetch(&self, h: u64) -> CliResult<Option<Raw>> {
        match self {
            Source::Dir(dir) => {
                let read = |ext: &str| std::fs::read(dir.join(format!("{h:012}.{ext}")));
                match (read("block"), read("cert")) {
                    (Ok(block), Ok(cert)) => Ok(Some((block, cert))),
                    _ => Ok(None),
                }
            }
            Source::Nodes(nodes) => {
                let mut last = None;
                for node in nodes {
                    let block = node.get_bytes(&format!("/v1/blocks/{h}?format=raw"));
                    let cert = node.get_bytes(&format!("/v1/blocks/{h}/certificate"));
                    match (block, cert) {
                        (Ok(Some(b)), Ok(Some(c))) => return Ok(Some((b, c))),
                        (Err(e), _) | (_, Err(e)) => last = Some(e),
                        _ => {}
                    }
                }
                last.map_or(Ok(None), Err)
            }
        }
    }
}

/// Writes a height's raw block and certificate where [`Source::Dir`] reads them.
fn save(dir: &Path, h: u64, raw: &Raw) -> CliResult<()> {
    let write = |ext: &str, bytes: &[u8]| {
        std::fs::write(dir.join(format!("{h:012}.{ext}")), bytes)
            .map_err(|e| CliError::new("audit_io", format!("{}: {e}", dir.display())))
    };
    write("block", &raw.0)?;
    write("cert", &raw.1)
}

/// The authenticated tree the auditor computes roots with.
enum StateTree {
    Mem(Box<MemTree>),
    /// The store, then the temporary directory it lives in (dropped after it).
    Disk {
        store: Box<Store>,
        _dir: Option<tempfile::TempDir>,
    },
}

impl StateTree {
    fn apply(&mut self, height: Height, changes: &Changes) -> CliResult<Hash> {
        let failed = |e: tokenbook_store::StoreError| CliError::new("audit_store", e.to_string());
        match self {
            StateTree::Mem(tree) => tree.apply(changes).map_err(failed),
            StateTree::Disk { store, .. } => store.commit(height, changes, None).map_err(failed),
        }
    }
}

/// A failure of the chain under audit (not of the auditor's tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The height that fails.
    pub height: u64,
    /// Stable code (`audit_…`).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

/// The auditor's own replay of the chain.
pub struct Replay {
    ledger: LedgerState,
    tree: StateTree,
    /// Root after the current height.
    root: Hash,
    /// Keys the last applied block changed, with the auditor's values.
    last_changes: Changes,
    /// The batch signature check with its key cache (the validators' own).
    signatures: SigChecker,
}

/// How the auditor keeps state.
#[derive(Debug, Clone)]
pub enum Keep {
    /// Everything in memory (every tree version; for short chains).
    Memory,
    /// A RocksDB store in this directory (or a temporary one), pruned as a node prunes.
    Disk(Option<PathBuf>),
}

impl Replay {
    /// The genesis state.
    ///
    /// # Errors
    /// A genesis that does not build; the store cannot be created.
    pub fn new(genesis: &Genesis, keep: &Keep) -> CliResult<Replay> {
        let ledger = tokenbook_ledger::genesis_state(genesis).map_err(|e| {
            CliError::new("audit_genesis", format!("the genesis does not build: {e}"))
        })?;
        let state = kv::export(&ledger);
        let changes: Changes = state.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        let store_failed =
            |e: tokenbook_store::StoreError| CliError::new("audit_store", e.to_string());
        let (tree, root) = match keep {
            Keep::Memory => {
                let mut tree = MemTree::new();
                let root = tree.apply(&changes).map_err(store_failed)?;
                (StateTree::Mem(Box::new(tree)), root)
            }
            Keep::Disk(dir) => {
                let temp = match dir {
                    Some(_) => None,
                    None => Some(
                        tempfile::tempdir()
                            .map_err(|e| CliError::new("audit_io", e.to_string()))?,
                    ),
                };
                let path = dir.clone().unwrap_or_else(|| {
                    temp.as_ref().map(|t| t.path().to_path_buf()).unwrap_or_default()
                });
                // The replay store is rebuilt from the chain at will: no sync per height (the
                // synced commit was the larger cost of a replay on disk).
                let config = StoreConfig {
                    sync_commits: false,
                    ..StoreConfig::new(ledger.chain_id.clone())
                };
                let mut store = Store::open(&path, config).map_err(store_failed)?;
                let root = store.init_genesis(&state).map_err(store_failed)?;
                (StateTree::Disk { store: Box::new(store), _dir: temp }, root)
            }
        };
        // Height 0's "changes" are the whole genesis state: a root that differs already there
        // is narrowed to a key like any other.
        Ok(Replay { ledger, tree, root, last_changes: changes, signatures: SigChecker::new() })
    }

    /// The replayed state.
    #[must_use]
    pub fn ledger(&self) -> &LedgerState {
        &self.ledger
    }

    /// The state root after the current height.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Checks a block and its certificate as the next height, without applying it. A header
    /// whose state root is not the auditor's is reported as `audit_state_root` for the
    /// previous height. `ahead` is the block decoded from `raw.0` with its signature verdict,
    /// if a verifier thread computed them already ([`Fetched`]); without it the block is
    /// decoded and its signatures verified here.
    ///
    /// # Errors
    /// The [`Finding`].
    pub fn check(
        &mut self,
        raw: &Raw,
        ahead: Option<Decoded>,
    ) -> Result<(Block, CommitCertificate), Finding> {
        let h = self.ledger.height.get() + 1;
        let find = |code, message: String| Finding { height: h, code, message };
        let (block, signatures) = match ahead {
            Some(Decoded { block, signatures }) => (block, Some(signatures)),
            None => (
                decode(&raw.0).map_err(|e| {
                    find("audit_block_decode", format!("block {h} does not decode: {e}"))
                })?,
                None,
            ),
        };
        let certificate: CommitCertificate = decode(&raw.1).map_err(|e| {
            find("audit_certificate_decode", format!("certificate {h} does not decode: {e}"))
        })?;
        if certificate.height.get() != h || certificate.block_hash != block.hash() {
            return Err(find(
                "audit_block_hash",
                format!(
                    "block {h} is not the block its certificate signs (hash {} vs certified {})",
                    block.hash(),
                    certificate.block_hash
                ),
            ));
        }
        let set = self.ledger.validator_set_for(Height::new(h));
        verify_certificate(&certificate, set, &self.ledger.chain_id, &Ed25519).map_err(|e| {
            find("audit_certificate", format!("certificate {h} does not verify: {e}"))
        })?;
        self.check_block_with(&block, signatures).map_err(|(code, message)| find(code, message))?;
        Ok((block, certificate))
    }

    /// The chain rule the validators apply ([`Tip::check`]), with the previous certificate
    /// unpinned (the auditor holds the one it fetched; voters checked the header's). A wrong
    /// state root is reported as `audit_state_root` for the previous height, a bad signature
    /// as `audit_signature`, anything else as `audit_header`.
    #[cfg(test)]
    fn check_block(&mut self, block: &Block) -> Result<(), (&'static str, String)> {
        self.check_block_with(block, None)
    }

    /// [`Self::check_block`], taking the signature verdict if it was computed already.
    fn check_block_with(
        &mut self,
        block: &Block,
        signatures: Option<Result<(), ChainError>>,
    ) -> Result<(), (&'static str, String)> {
        let h = block.header.height;
        let tip = Tip::new(&self.ledger, self.root, Hash::ZERO);
        let checked = tip.check_header(block, false).and_then(|()| {
            signatures.unwrap_or_else(|| {
                check_signatures(block, &self.ledger.chain_id, &mut self.signatures, None)
            })
        });
        match checked {
            Ok(()) => Ok(()),
            Err(ChainError::StateRoot { ours, certified }) => Err((
                "audit_state_root",
                format!(
                    "the state root after height {} is {ours} here, but block {h} certifies \
                     {certified}",
                    self.ledger.height
                ),
            )),
            Err(e @ ChainError::Signature { .. }) => {
                Err(("audit_signature", format!("block {h}: {e}")))
            }
            Err(ChainError::Header { field }) => Err((
                "audit_header",
                format!("block {h}: its {field} does not follow the replayed chain"),
            )),
            Err(e) => Err(("audit_header", format!("block {h}: {e}"))),
        }
    }

    /// Applies a checked block; returns what it did.
    ///
    /// # Errors
    /// The ledger refuses the header (a finding), or the auditor's store fails.
    pub fn apply(&mut self, block: &Block) -> CliResult<BlockOutcome> {
        let outcome = tokenbook_ledger::apply_block(&mut self.ledger, &block.header, &block.txs)
            .map_err(|e| {
                CliError::new("audit_apply", format!("block {}: {e}", block.header.height))
            })?;
        if let Err(e) = tokenbook_ledger::invariants::check(&self.ledger) {
            return Err(CliError::new(
                "audit_invariant",
                format!("after block {}: {e}", block.header.height),
            ));
        }
        self.last_changes = kv::changes(&self.ledger, &outcome.touched);
        self.root = self.tree.apply(block.header.height, &self.last_changes)?;
        Ok(outcome)
    }

    /// Names the first key the last block changed whose value differs from the one `node`
    /// proves against `root` (the certified root after the current height).
    #[must_use]
    pub fn first_differing_key(&self, node: &Node, root: &Hash) -> Option<String> {
        let height = self.ledger.height;
        for (key, ours) in &self.last_changes {
            let Ok(answer) = node.get(&format!("/v1/state/{}?height={height}", hex::encode(key)))
            else {
                continue;
            };
            let proof = answer["proof"].as_str().and_then(|p| hex::decode(p).ok());
            let Some(proof) = proof.and_then(|bytes| decode_record::<StateProof>(&bytes).ok())
            else {
                continue;
            };
            if proof.key != *key || proof.verify(root).is_err() {
                continue;
            }
            if proof.value != *ours {
                return Some(format!(
                    "{} (key {}): the certified state holds {}, the replay {}",
                    kv::describe_key(key),
                    hex::encode(key),
                    value_text(proof.value.as_deref()),
                    value_text(ours.as_deref())
                ));
            }
        }
        None
    }
}

fn value_text(value: Option<&[u8]>) -> String {
    value.map_or_else(
        || "nothing".into(),
        |v| format!("{} bytes (sha256 {})", v.len(), Hash::digest(v)),
    )
}

/// A fetched block, decoded, with its signature verdict ([`check_signatures`]: a function of
/// the block and chain id alone, so it is computed on verifier threads while the replay applies
/// earlier heights; the replay takes the decoded block rather than decoding it again).
#[derive(Debug)]
pub struct Decoded {
    /// The block, decoded from the fetched bytes.
    pub block: Block,
    /// Its signatures' verdict.
    pub signatures: Result<(), ChainError>,
}

/// A fetched height and, when its block decodes, the block and its signature verdict.
type Fetched = (u64, CliResult<Option<Raw>>, Option<Decoded>);

/// A fetched height on its way to a verifier thread.
type ToVerify = (u64, CliResult<Option<Raw>>);

/// Fetches heights `from..=to` on a thread, in order, and verifies the blocks' signatures on
/// one thread per core (each block's verdict is its own, docs/adr/0002), handing them back in
/// height order: downloading, verification and execution overlap, and verification, most of an
/// auditor's work, uses every core.
fn prefetch(
    source: Source,
    chain_id: &str,
    from: u64,
    to: u64,
) -> impl Iterator<Item = Fetched> + use<> {
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).min(8);
    let (inputs, outputs): (Vec<_>, Vec<_>) =
        (0..workers).map(|_| verifier(chain_id.to_owned())).unzip();
    std::thread::spawn(move || {
        for (h, worker) in (from..=to).zip((0..inputs.len()).cycle()) {
            let fetched = source.fetch(h);
            let stop = !matches!(fetched, Ok(Some(_)));
            if inputs[worker].send((h, fetched)).is_err() || stop {
                return;
            }
        }
    });
    (0..outputs.len()).cycle().map_while(move |worker| outputs[worker].recv().ok())
}

/// A verifier thread: fetched heights in, the same with their signature verdicts out.
fn verifier(chain_id: String) -> (mpsc::SyncSender<ToVerify>, mpsc::Receiver<Fetched>) {
    let (send_in, receive_in) = mpsc::sync_channel::<ToVerify>(32);
    let (send_out, receive_out) = mpsc::sync_channel(32);
    std::thread::spawn(move || {
        let mut checker = SigChecker::new();
        for (h, fetched) in receive_in {
            let decoded = match &fetched {
                Ok(Some((block, _))) => decode::<Block>(block).ok().map(|block| {
                    let signatures = check_signatures(&block, &chain_id, &mut checker, None);
                    Decoded { block, signatures }
                }),
                _ => None,
            };
            if send_out.send((h, fetched, decoded)).is_err() {
                return;
            }
        }
    });
    (send_in, receive_out)
}

/// What `audit verify` was asked to do.
#[derive(Debug, Clone)]
pub struct VerifyArgs {
    /// The genesis the auditor trusts.
    pub genesis: PathBuf,
    /// Where blocks come from.
    pub source: Source,
    /// Nodes to compare the final root with and to ask for proofs (may be empty).
    pub nodes: Vec<Node>,
    /// Last height to verify (default: the first node's latest).
    pub to: Option<u64>,
    /// Save every verified block and certificate here.
    pub save: Option<PathBuf>,
    /// How state is kept.
    pub keep: Keep,
    /// Print JSON.
    pub json: bool,
}

/// The result of a verification.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Heights verified.
    pub verified: u64,
    /// Txs re-executed.
    pub txs: u64,
    /// Root after the last verified height.
    pub root: Hash,
    /// How that root was confirmed.
    pub final_check: String,
    /// The first failure.
    pub finding: Option<Finding>,
}

/// Loads a genesis file (the JSON every validator's home holds).
///
/// # Errors
/// Unreadable or not a genesis.
pub fn load_genesis(path: &Path) -> CliResult<Genesis> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::new("audit_genesis", format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::new("audit_genesis", format!("{} is not a genesis: {e}", path.display()))
    })
}

/// The last height to verify.
fn target(args: &VerifyArgs) -> CliResult<u64> {
    if let Some(to) = args.to {
        return Ok(to);
    }
    match (&args.source, args.nodes.first()) {
        (_, Some(node)) => node.get("/v1/status")?["height"]
            .as_u64()
            .ok_or_else(|| CliError::new("node_bad_answer", "status without height")),
        // The last saved block certifies the root after the one before it.
        (Source::Dir(dir), None) => Ok(saved_heights(dir).saturating_sub(1)),
        (Source::Nodes(_), None) => Err(CliError::new("bad_argument", "no node to ask; give --to")),
    }
}

/// The highest height with both files in a saved directory.
fn saved_heights(dir: &Path) -> u64 {
    let mut h = 0;
    while dir.join(format!("{:012}.block", h + 1)).exists() {
        h += 1;
    }
    h
}

/// Replays from genesis to the target height, calling `each` after every applied block.
///
/// # Errors
/// Tool failures (unreachable nodes, the auditor's store); findings are in the report.
pub fn replay(
    args: &VerifyArgs,
    mut each: impl FnMut(&Replay, &Block, &BlockOutcome),
) -> CliResult<(Replay, Report)> {
    let genesis = load_genesis(&args.genesis)?;
    let mut replay = Replay::new(&genesis, &args.keep)?;
    let to = target(args)?;
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::new("audit_io", format!("{}: {e}", dir.display())))?;
    }
    let bar = progress(to, args.json);
    let mut report = Report::default();
    // One height past the target: its header certifies the root after the target.
    let chain_id = genesis.chain_id.clone();
    for (h, fetched, decoded) in prefetch(args.source.clone(), &chain_id, 1, to + 1) {
        let Some(raw) = fetched? else {
            if h <= to {
                report.finding = Some(Finding {
                    height: h,
                    code: "audit_missing_block",
                    message: format!("no source has block {h} and its certificate"),
                });
            }
            break;
        };
        let (block, _) = match replay.check(&raw, decoded) {
            Ok(checked) => checked,
            Err(finding) => {
                report.finding = Some(explain(&replay, args, finding));
                break;
            }
        };
        if h > to {
            report.final_check = format!("certified by block {h}'s header");
            if let Some(dir) = &args.save {
                save(dir, h, &raw)?;
            }
            break;
        }
        if let Some(dir) = &args.save {
            save(dir, h, &raw)?;
        }
        let outcome = replay.apply(&block)?;
        each(&replay, &block, &outcome);
        report.verified = h;
        report.txs += block.txs.len() as u64;
        bar.set_position(h);
    }
    bar.finish_and_clear();
    report.root = replay.root();
    if report.finding.is_none() && report.final_check.is_empty() {
        report.final_check = compare_reported(&replay, args, &mut report);
    }
    Ok((replay, report))
}

/// Adds the first differing key to a state-root finding, if a node can prove one.
fn explain(replay: &Replay, args: &VerifyArgs, mut finding: Finding) -> Finding {
    if finding.code != "audit_state_root" {
        return finding;
    }
    finding.height -= 1;
    let certified = match &args.source.fetch(finding.height + 1) {
        Ok(Some(raw)) => decode::<Block>(&raw.0).map(|b| b.header.state_root).ok(),
        _ => None,
    };
    let key = certified
        .and_then(|root| args.nodes.iter().find_map(|n| replay.first_differing_key(n, &root)));
    match key {
        Some(key) => finding.message.push_str(&format!("; first differing key: {key}")),
        None => finding
            .message
            .push_str("; no node proved a differing key among those the block changed"),
    }
    finding
}

/// Compares the final root with what each node reports for that height (not certified: the
/// next block is not decided yet).
fn compare_reported(replay: &Replay, args: &VerifyArgs, report: &mut Report) -> String {
    let h = replay.ledger().height.get();
    if args.nodes.is_empty() {
        return format!(
            "not certified: no block {} to certify it and no node to compare with",
            h + 1
        );
    }
    let mut agreeing = 0;
    for node in &args.nodes {
        let reported = node.get(&format!("/v1/state-root/{h}"));
        let Ok(reported) = reported else { continue };
        if reported["state_root"].as_str() == Some(&replay.root().to_string()) {
            agreeing += 1;
        } else if report.finding.is_none() {
            report.finding = Some(Finding {
                height: h,
                code: "audit_state_root",
                message: format!(
                    "{} reports root {} after height {h}, the replay {}",
                    node.url,
                    reported["state_root"],
                    replay.root()
                ),
            });
        }
    }
    format!(
        "reported by {agreeing} of {} nodes (the next block is not yet certified)",
        args.nodes.len()
    )
}

fn progress(to: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(to);
    let style =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} heights {per_sec} eta {eta}");
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

/// `audit verify`: prints the report; a finding is an error (non-zero exit).
///
/// # Errors
/// Tool failures, or the finding.
#[allow(clippy::print_stdout)]
pub fn verify(args: &VerifyArgs) -> CliResult<()> {
    let (_, report) = replay(args, |_, _, _| {})?;
    if args.json {
        let finding = report
            .finding
            .as_ref()
            .map(|f| serde_json::json!({"height": f.height, "code": f.code, "message": f.message}));
        println!(
            "{}",
            serde_json::json!({
                "ok": finding.is_none(), "verified_to": report.verified, "txs": report.txs,
                "state_root": report.root, "final_check": report.final_check, "failure": finding,
            })
        );
    } else {
        println!(
            "verified heights 1..={}: {} txs re-executed, every certificate and signature checked",
            report.verified, report.txs
        );
        println!("state root after height {}: {}", report.verified, report.root);
        if !report.final_check.is_empty() {
            println!("final root {}", report.final_check);
        }
    }
    match report.finding {
        None => Ok(()),
        Some(f) => {
            Err(CliError::new(f.code, format!("FAILED at height {}: {}", f.height, f.message)))
        }
    }
}

/// `audit prove ACCOUNT --height H`: the account's value at H, proven against the root that
/// block H+1 carries, whose certificate is checked against the genesis validator set.
///
/// # Errors
/// The proof, certificate or header does not check; the validator set changed since genesis.
#[allow(clippy::print_stdout)]
pub fn prove(
    node: &Node,
    genesis: &Path,
    account: u64,
    height: u64,
    as_json: bool,
) -> CliResult<()> {
    let genesis = load_genesis(genesis)?;
    let ledger =
        tokenbook_ledger::genesis_state(&genesis).map_err(|e| CliError::new("audit_genesis", e))?;
    let root = certified_root(node, &ledger, height)?;
    let answer = node.get(&format!("/v1/accounts/{account}?prove=true&height={height}"))?;
    let bytes = answer["proof"]["bytes"].as_str().and_then(|b| hex::decode(b).ok());
    let proof: StateProof = bytes
        .and_then(|b| decode_record(&b).ok())
        .ok_or_else(|| CliError::new("audit_proof", "the node's answer has no decodable proof"))?;
    let key = kv::account_key(tokenbook_protocol::AccountId::new(account));
    if proof.key != key || proof.height.get() != height {
        return Err(CliError::new("audit_proof", "the proof is for another key or height"));
    }
    proof.verify(&root).map_err(|e| {
        CliError::new(e.code(), format!("account {account} at height {height}: {e}"))
    })?;
    let value = proof.value.as_deref().ok_or_else(|| {
        CliError::new(
            "account_unknown",
            format!("proven: account {account} does not exist at height {height}"),
        )
    })?;
    let stored = kv::decode_account(value).map_err(|e| CliError::new("audit_proof", e))?;
    let positions: BTreeMap<String, String> =
        stored.positions.iter().map(|(m, p)| (m.to_string(), p.qty.to_string())).collect();
    if as_json {
        println!(
            "{}",
            serde_json::json!({"account": account, "height": height, "state_root": root,
            "cash": stored.cash.to_string(), "positions": positions, "frozen": stored.frozen, "verified": true})
        );
    } else {
        println!("account {account} at height {height} is proven against state root {root}");
        println!(
            "  (certified by block {}'s certificate, checked against the genesis validators)",
            height + 1
        );
        println!(
            "  cash ${}  frozen {}",
            crate::units::cash_to_usd(stored.cash.get()),
            stored.frozen
        );
        for (market, position) in positions {
            println!("  market {market}: position {position} lots");
        }
    }
    Ok(())
}

/// The state root after `height`, as block `height + 1` certifies it.
fn certified_root(node: &Node, ledger: &LedgerState, height: u64) -> CliResult<Hash> {
    let h = height + 1;
    let raw = Source::Nodes(vec![node.clone()]).fetch(h)?.ok_or_else(|| {
        CliError::new(
            "block_unknown",
            format!("block {h} (which certifies the root after {height}) is not decided yet"),
        )
    })?;
    let block: Block =
        decode(&raw.0).map_err(|e| CliError::new("audit_block_decode", e.to_string()))?;
    let certificate: CommitCertificate =
        decode(&raw.1).map_err(|e| CliError::new("audit_certificate_decode", e.to_string()))?;
    if certificate.block_hash != block.hash() || certificate.height.get() != h {
        return Err(CliError::new(
            "audit_block_hash",
            format!("block {h} is not the block its certificate signs"),
        ));
    }
    let set = ledger.validator_set_for(Height::new(h));
    if block.header.validator_set_hash != set.hash() {
        return Err(CliError::new(
            "audit_validator_set",
            "the validator set changed since genesis; run `audit verify` to the height instead",
        ));
    }
    verify_certificate(&certificate, set, &ledger.chain_id, &Ed25519)
        .map_err(|e| CliError::new("audit_certificate", format!("certificate {h}: {e}")))?;
    Ok(block.header.state_root)
}

/// `audit export`: trades of heights `from..=to` and every position after `to`, as CSV files,
/// from the auditor's own verified replay.
///
/// # Errors
/// Tool failures or a finding (nothing is written then).
#[allow(clippy::print_stdout)]
pub fn export(args: &VerifyArgs, from: u64, out: &Path) -> CliResult<()> {
    let mut trades = String::from(
        "height,market,price_ticks,qty_lots,taker_side,maker_account,taker_account,maker_order,taker_order\n",
    );
    let (replay, report) = replay(args, |_, block, outcome| {
        let h = block.header.height.get();
        if h < from {
            return;
        }
        let events = outcome
            .begin_events
            .iter()
            .chain(outcome.receipts.iter().filter_map(|r| r.result.as_ref().ok()).flatten())
            .chain(outcome.end_events.iter());
        for event in events {
            if let Event::Fill {
                market,
                maker_order,
                taker_order,
                maker,
                taker,
                taker_side,
                price,
                qty,
                ..
            } = event
            {
                let side =
                    if *taker_side == tokenbook_protocol::Side::Buy { "buy" } else { "sell" };
                trades.push_str(&format!("{h},{market},{price},{qty},{side},{maker},{taker},{maker_order},{taker_order}\n"));
            }
        }
    })?;
    if let Some(f) = report.finding {
        return Err(CliError::new(
            f.code,
            format!("FAILED at height {}: {}; nothing exported", f.height, f.message),
        ));
    }
    let mut positions = String::from("height,account,market,position_lots,cash_micro_usd\n");
    let h = replay.ledger().height;
    for account in replay.ledger().accounts.values() {
        for (market, position) in account.positions.iter() {
            positions.push_str(&format!(
                "{h},{},{market},{},{}\n",
                account.id, position.qty, account.cash
            ));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| CliError::new("audit_io", e.to_string()))?;
    let write = |name: &str, text: &str| {
        std::fs::write(out.join(name), text)
            .map_err(|e| CliError::new("audit_io", format!("{name}: {e}")))
    };
    write("trades.csv", &trades)?;
    write("positions.csv", &positions)?;
    println!(
        "verified 1..={h}; wrote {} trades and {} positions to {}",
        trades.lines().count() - 1,
        positions.lines().count() - 1,
        out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenbook_ledger::state::GenesisMember;
    use tokenbook_protocol::{
        AccountId, CancelAll, Keypair, Timestamp, Tx, TxBody, TxPayload, Validator,
    };

    fn replay() -> Replay {
        let key = |n: u8| Keypair::from_seed(&[n; 32]).public_key();
        let member = GenesisMember {
            name: "m".into(),
            key: key(1),
            validator: Some(Validator { consensus_key: key(2), network_key: key(3), power: 1 }),
        };
        let genesis = tokenbook_ledger::genesis::devnet(
            "audit-test",
            Timestamp::new(1_000),
            vec![member],
            vec![],
        );
        Replay::new(&genesis, &Keep::Memory).unwrap()
    }

    fn tx(nonce: u64) -> Tx {
        let key = Keypair::from_seed(&[1; 32]);
        let body = TxBody::CancelAll(CancelAll { market: None });
        TxPayload { account: AccountId::new(1), signer: key.public_key(), nonce, body }
            .sign(&key, "audit-test")
    }

    #[test]
    fn every_signature_is_checked_and_a_bad_one_is_named() {
        let mut replay = replay();
        let mut txs = vec![tx(1), tx(2), tx(3)];
        replay.check_block(&block(&replay, txs.clone())).unwrap();
        txs[2].signature.0[0] ^= 1;
        let (code, message) = replay.check_block(&block(&replay, txs)).unwrap_err();
        assert_eq!(code, "audit_signature");
        assert!(message.contains("tx 2"), "{message}");
    }

    /// A block verified ahead on the fetching thread ([`prefetch`]) gets the same finding as
    /// one verified in line, and a repeated tx still outranks a bad signature.
    #[test]
    fn a_verdict_computed_ahead_names_what_verifying_in_line_names() {
        let mut replay = replay();
        let mut txs = vec![tx(1), tx(2), tx(3)];
        txs[1].signature.0[5] ^= 1;
        let bad = block(&replay, txs.clone());
        let ahead = check_signatures(&bad, "audit-test", &mut SigChecker::new(), None);
        assert!(ahead.is_err());
        assert_eq!(replay.check_block_with(&bad, Some(ahead)), replay.check_block(&bad));
        txs.push(txs[0].clone());
        let repeated = block(&replay, txs);
        let ahead = check_signatures(&repeated, "audit-test", &mut SigChecker::new(), None);
        let (code, _) = replay.check_block_with(&repeated, Some(ahead)).unwrap_err();
        assert_eq!(code, "audit_header");
    }

    /// The validators refuse a block with one tx twice; the auditor applies the same rule.
    #[test]
    fn a_repeated_tx_is_refused_as_the_validators_refuse_it() {
        let mut replay = replay();
        let block = block(&replay, vec![tx(1), tx(2), tx(1)]);
        let (code, message) = replay.check_block(&block).unwrap_err();
        assert_eq!(code, "audit_header");
        assert!(message.contains("tx 2 repeats tx 0"), "{message}");
    }

    fn block(replay: &Replay, txs: Vec<Tx>) -> Block {
        let proposer = Keypair::from_seed(&[2; 32]).public_key();
        let tip = Tip::new(replay.ledger(), replay.root(), Hash::ZERO);
        Block { header: tip.next_header(proposer, 2_000, &txs), txs }
    }
}
