//! The authenticated state tree: a Jellyfish Merkle tree (the `jmt` crate) over the ledger's
//! key → value bytes, one tree version per height (genesis = version 0).
//!
//! Promises:
//! - The tree key of a ledger key is `SHA-256(key)`; the value is the ledger value unchanged, so
//!   the root depends only on the set of (key, value) pairs: [`MemTree`] (in memory) and the
//!   RocksDB store produce the same root for the same state, whatever path led there.
//! - [`StateProof`] proves a named key's value — or its absence — at a height, and verifies
//!   with nothing but the root ([`StateProof::verify`]). Its bytes are bounded and checked
//!   before decoding.

use crate::error::StoreError;
use bincode::{Decode, Encode};
use borsh::BorshDeserialize;
use jmt::proof::SparseMerkleProof;
use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, RootHash, Version};
use std::collections::BTreeMap;
use tokenbook_ledger::kv::Changes;
use tokenbook_protocol::{Hash, Height};

/// The tree's hash function (SHA-256; jmt implements its hasher trait for `sha2` 0.10).
pub type Hasher = sha2_10::Sha256;
/// A tree over a reader.
pub type Tree<'a, R> = JellyfishMerkleTree<'a, R, Hasher>;

/// The largest proof accepted for decoding: 256 siblings of 32 bytes, a leaf and framing.
pub const MAX_PROOF_BYTES: usize = 16 * 1024;

/// The tree key of a ledger key.
#[must_use]
pub fn key_hash(key: &[u8]) -> KeyHash {
    KeyHash::with::<Hasher>(key)
}

/// A tree root as a protocol hash.
#[must_use]
pub fn to_hash(root: RootHash) -> Hash {
    Hash(root.0)
}

/// A block's changes as the tree's value set (key hash → new value or deletion).
pub fn value_set(changes: &Changes) -> impl Iterator<Item = (KeyHash, Option<OwnedValue>)> + '_ {
    changes.iter().map(|(k, v)| (key_hash(k), v.clone()))
}

/// Encodes a versioned value: `0x00` for a deletion, `0x01 ‖ value` otherwise.
#[must_use]
pub fn encode_value(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        None => vec![0],
        Some(v) => {
            let mut out = Vec::with_capacity(1 + v.len());
            out.push(1);
            out.extend_from_slice(v);
            out
        }
    }
}

/// Decodes [`encode_value`].
///
/// # Errors
/// The bytes are not a versioned value.
pub fn decode_value(bytes: &[u8]) -> Result<Option<OwnedValue>, StoreError> {
    match bytes.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, rest)) => Ok(Some(rest.to_vec())),
        _ => Err(StoreError::Corrupt("a versioned tree value has a bad tag".into())),
    }
}

/// The whole tree in memory: the reference the RocksDB store is tested against, and what a
/// node or auditor without a disk uses to compute state roots.
#[derive(Clone, Debug, Default)]
pub struct MemTree {
    nodes: BTreeMap<NodeKey, Node>,
    values: BTreeMap<(KeyHash, Version), Option<OwnedValue>>,
    latest: Option<Version>,
}

impl MemTree {
    /// An empty tree with no versions.
    #[must_use]
    pub fn new() -> Self {
        MemTree::default()
    }

    /// The newest version written.
    #[must_use]
    pub fn latest(&self) -> Option<Version> {
        self.latest
    }

    /// Writes the next version (0 for the first) and returns its root.
    ///
    /// # Errors
    /// The tree is inconsistent (a bug).
    pub fn apply(&mut self, changes: &Changes) -> Result<Hash, StoreError> {
        let version = self.latest.map_or(0, |v| v + 1);
        let (root, update) = Tree::new(&*self)
            .put_value_set(value_set(changes), version)
            .map_err(|e| StoreError::from_tree(&e))?;
        self.write(&update.node_batch);
        self.latest = Some(version);
        Ok(to_hash(root))
    }

    /// The root at a version.
    ///
    /// # Errors
    /// [`StoreError::NotRetained`] if the version was never written.
    pub fn root(&self, version: Version) -> Result<Hash, StoreError> {
        match Tree::new(self).get_root_hash_option(version) {
            Ok(Some(root)) => Ok(to_hash(root)),
            Ok(None) => Err(StoreError::NotRetained(Height::new(version))),
            Err(e) => Err(StoreError::from_tree(&e)),
        }
    }

    /// A proof of a key's value or absence at a version.
    ///
    /// # Errors
    /// [`StoreError::NotRetained`] if the version was never written.
    pub fn prove(&self, key: &[u8], version: Version) -> Result<StateProof, StoreError> {
        self.root(version)?;
        prove(self, key, version)
    }

    fn write(&mut self, batch: &NodeBatch) {
        self.nodes.extend(batch.nodes().iter().map(|(k, n)| (k.clone(), n.clone())));
        self.values.extend(batch.values().iter().map(|((v, kh), val)| ((*kh, *v), val.clone())));
    }
}

impl TreeReader for MemTree {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self
            .values
            .range((key_hash, 0)..=(key_hash, max_version))
            .next_back()
            .and_then(|(_, v)| v.clone()))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

/// Builds a proof for a key at a version from any tree reader.
pub(crate) fn prove<R: TreeReader>(
    reader: &R,
    key: &[u8],
    version: Version,
) -> Result<StateProof, StoreError> {
    let (value, proof) = Tree::new(reader)
        .get_with_proof(key_hash(key), version)
        .map_err(|e| StoreError::from_tree(&e))?;
    let proof = borsh::to_vec(&proof).map_err(|e| StoreError::Corrupt(format!("proof: {e}")))?;
    Ok(StateProof { height: Height::new(version), key: key.to_vec(), value, proof })
}

/// A key's value (or absence) at a height, with the Merkle path to the state root.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StateProof {
    /// The height whose state is proved (the root is the one after this height).
    pub height: Height,
    /// The ledger key.
    pub key: Vec<u8>,
    /// Its value, or `None` for a proof of absence.
    pub value: Option<Vec<u8>>,
    /// The `jmt` sparse Merkle proof, borsh-encoded.
    pub proof: Vec<u8>,
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The proof bytes are malformed or too long.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// The proof does not lead to the given root.
    #[error("the proof does not match the root: {0}")]
    Mismatch(String),
}

impl ProofError {
    /// Stable machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ProofError::Malformed(_) => "proof_malformed",
            ProofError::Mismatch(_) => "proof_mismatch",
        }
    }
}

impl StateProof {
    /// Checks the proof against a state root: the key has exactly `value` (or is absent).
    ///
    /// # Errors
    /// [`ProofError`] when the bytes do not decode or do not lead to `root`.
    pub fn verify(&self, root: &Hash) -> Result<(), ProofError> {
        if self.proof.len() > MAX_PROOF_BYTES {
            return Err(ProofError::Malformed(format!(
                "{} bytes, the limit is {MAX_PROOF_BYTES}",
                self.proof.len()
            )));
        }
        let proof = SparseMerkleProof::<Hasher>::try_from_slice(&self.proof)
            .map_err(|e| ProofError::Malformed(e.to_string()))?;
        proof
            .verify(RootHash(root.0), key_hash(&self.key), self.value.as_deref())
            .map_err(|e| ProofError::Mismatch(format!("{e:#}")))
    }
}
