//! Store errors: one stable code per kind, and a message a person can act on.
//!
//! RocksDB reports disk-full, read-only and permission failures as `IOError` with text only,
//! so [`StoreError::from_rocksdb`] classifies by kind and message. A write that failed leaves
//! RocksDB read-only until it is reopened: the store refuses every later write
//! ([`StoreError::Stopped`], naming the first failure) and the node must stop.

use tokenbook_protocol::Height;

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The disk (or the directory's file system) is full.
    #[error("the store's disk is full ({0}); free space and restart the node")]
    DiskFull(String),
    /// The directory cannot be written (read-only file system or permissions).
    #[error("the store directory is not writable ({0})")]
    ReadOnly(String),
    /// Another process holds the database open.
    #[error("the store is in use by another process ({0})")]
    Locked(String),
    /// The database's bytes are not what this store wrote.
    #[error("the store is corrupted: {0}")]
    Corrupt(String),
    /// The database belongs to another chain or was written by another program.
    #[error("the store belongs to {found}, not {expected}; point the node at its own directory")]
    Foreign {
        /// What the caller opened it for.
        expected: String,
        /// What the database says it is.
        found: String,
    },
    /// An earlier write failed (the cause is kept); the database refuses writes until it is
    /// reopened.
    #[error("the store stopped after a failed write ({0}); restart the node")]
    Stopped(String),
    /// A block arrived out of order.
    #[error("cannot commit height {found}: the store is at {current}")]
    WrongHeight {
        /// The store's height.
        current: Height,
        /// The height offered.
        found: Height,
    },
    /// The height's tree was pruned or not yet written.
    #[error("height {0} is not retained (pruned or not yet committed)")]
    NotRetained(Height),
    /// The store holds no state yet (genesis was never committed).
    #[error("the store is empty: commit the genesis state first")]
    Empty,
    /// A snapshot chunk or manifest failed verification.
    #[error("snapshot rejected: {0}")]
    Snapshot(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Io(String),
}

impl StoreError {
    /// Stable machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::DiskFull(_) => "store_disk_full",
            StoreError::ReadOnly(_) => "store_read_only",
            StoreError::Locked(_) => "store_locked",
            StoreError::Corrupt(_) => "store_corrupt",
            StoreError::Foreign { .. } => "store_foreign",
            StoreError::Stopped(_) => "store_stopped",
            StoreError::WrongHeight { .. } => "store_wrong_height",
            StoreError::NotRetained(_) => "store_not_retained",
            StoreError::Empty => "store_empty",
            StoreError::Snapshot(_) => "snapshot_rejected",
            StoreError::Io(_) => "store_io",
        }
    }

    /// Classifies a RocksDB error by its kind and message.
    #[must_use]
    pub fn from_rocksdb(e: &rocksdb::Error) -> Self {
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        if lower.contains("no space left") {
            StoreError::DiskFull(text)
        } else if lower.contains("read-only file system") || lower.contains("permission denied") {
            StoreError::ReadOnly(text)
        } else if lower.contains("/lock:") || lower.contains("lock hold") {
            StoreError::Locked(text)
        } else if e.kind() == rocksdb::ErrorKind::Corruption {
            StoreError::Corrupt(text)
        } else {
            StoreError::Io(text)
        }
    }

    /// A tree error from `jmt` (its results are `anyhow`): our own reader errors pass through,
    /// anything else means the stored tree is inconsistent.
    pub(crate) fn from_tree(e: &anyhow::Error) -> Self {
        match e.downcast_ref::<StoreError>() {
            Some(inner) => inner.clone(),
            None => StoreError::Corrupt(format!("state tree: {e:#}")),
        }
    }
}

impl From<rocksdb::Error> for StoreError {
    fn from(e: rocksdb::Error) -> Self {
        StoreError::from_rocksdb(&e)
    }
}
