//! What the CLI remembers between runs, per node URL: the chain id, the markets' terms and the
//! account each key signs for — so placing an order is one HTTP request (the submit).
//!
//! Promises: kept in `<keys dir>/cache.json` (mode 0600), replaced atomically (write, then
//! rename); a missing, unreadable or foreign file is an empty cache, never an error; anything
//! it holds is only a guess — when the node contradicts it (a refusal meaning the wrong chain,
//! signer or market), the CLI forgets that node's entry and asks the node again, once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A market's terms as remembered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedMarket {
    /// Id.
    pub id: u32,
    /// Symbol.
    pub symbol: String,
    /// Micro-USD per tick.
    pub tick_size: String,
}

/// One node's entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// The chain id.
    pub chain_id: Option<String>,
    /// The markets listed.
    pub markets: Option<Vec<CachedMarket>>,
    /// Account ids by signing key (hex).
    pub accounts: BTreeMap<String, u64>,
}

/// The cache file.
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    nodes: BTreeMap<String, NodeEntry>,
}

/// Refusals that mean a remembered value may be stale.
pub const STALE: [&str; 4] =
    ["sig_mismatch", "unauthorised_signer", "account_unknown", "market_unknown"];

impl Cache {
    /// The cache in the key store `dir` (empty if there is none).
    #[must_use]
    pub fn open(dir: &Path) -> Cache {
        let path = dir.join("cache.json");
        let nodes = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Cache { path, nodes }
    }

    /// The entry for `url`.
    #[must_use]
    pub fn node(&self, url: &str) -> NodeEntry {
        self.nodes.get(url).cloned().unwrap_or_default()
    }

    /// Replaces the entry for `url` and saves (best effort: a cache that cannot be written only
    /// costs round trips).
    pub fn store(&mut self, url: &str, entry: NodeEntry) {
        if self.nodes.get(url) == Some(&entry) {
            return;
        }
        self.nodes.insert(url.to_string(), entry);
        self.save();
    }

    /// Forgets everything about `url`.
    pub fn forget(&mut self, url: &str) {
        if self.nodes.remove(url).is_some() {
            self.save();
        }
    }

    fn save(&self) {
        let Ok(bytes) = serde_json::to_vec_pretty(&self.nodes) else { return };
        let Some(dir) = self.path.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let Ok(mut file) = tempfile::NamedTempFile::new_in(dir) else { return };
        if std::io::Write::write_all(&mut file, &bytes).is_err() {
            return;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = file.as_file().set_permissions(std::fs::Permissions::from_mode(0o600));
        }
        let _ = file.persist(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_forgets_and_survives_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = "http://127.0.0.1:8080";
        let mut cache = Cache::open(dir.path());
        assert_eq!(cache.node(url), NodeEntry::default());
        let mut entry = NodeEntry { chain_id: Some("dev".into()), ..NodeEntry::default() };
        entry.accounts.insert("ab".into(), 7);
        cache.store(url, entry.clone());
        assert_eq!(Cache::open(dir.path()).node(url), entry);
        Cache::open(dir.path()).forget(url);
        assert_eq!(Cache::open(dir.path()).node(url), NodeEntry::default());
        std::fs::write(dir.path().join("cache.json"), b"{not json").unwrap();
        assert_eq!(Cache::open(dir.path()).node(url), NodeEntry::default());
    }
}
