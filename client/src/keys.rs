//! The CLI's key store: one file per key, `<dir>/<NAME>.key`, holding the 32-byte ed25519 seed
//! as 64 hex characters (the same format as a validator's key files), created with mode 0600.
//!
//! Promises: names are restricted to `[A-Za-z0-9_-]{1,64}` (no path tricks); an existing key is
//! never overwritten; a key file readable by group or others is refused with the fix named.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokenbook_protocol::Keypair;

/// The directory keys live in: `$TOKENBOOK_HOME/keys`, else `$HOME/.tokenbook/keys`.
#[must_use]
pub fn default_dir() -> PathBuf {
    let base = std::env::var_os("TOKENBOOK_HOME").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map_or_else(|| PathBuf::from("."), PathBuf::from)
            .join(".tokenbook")
    });
    base.join("keys")
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(format!("key name {name:?}: use 1-64 of A-Z a-z 0-9 - _")) }
}

fn path(dir: &Path, name: &str) -> Result<PathBuf, String> {
    check_name(name)?;
    Ok(dir.join(format!("{name}.key")))
}

/// Stores `seed` under `name`.
///
/// # Errors
/// A bad name, an existing key of that name, or a write failure.
pub fn save(dir: &Path, name: &str, seed: &[u8; 32]) -> Result<PathBuf, String> {
    let path = path(dir, name)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(
            |e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => format!("a key named {name} already exists"),
                _ => format!("{}: {e}", path.display()),
            },
        )?;
    file.write_all(hex::encode(seed).as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// A fresh key from the OS's randomness, stored under `name`.
///
/// # Errors
/// As [`save`], or `/dev/urandom` unreadable.
pub fn create(dir: &Path, name: &str) -> Result<Keypair, String> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    save(dir, name, &seed)?;
    Ok(Keypair::from_seed(&seed))
}

/// Parses a hex seed (64 hex characters).
///
/// # Errors
/// Not 32 bytes of hex.
pub fn parse_seed(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text.trim()).map_err(|e| format!("seed: {e}"))?;
    bytes.try_into().map_err(|_| "a seed is 32 bytes (64 hex characters)".to_string())
}

/// Loads the key `name`.
///
/// # Errors
/// Unknown name, a file others can read, or a file that is not a hex seed.
pub fn load(dir: &Path, name: &str) -> Result<Keypair, String> {
    let path = path(dir, name)?;
    if !path.exists() {
        return Err(format!(
            "no key named {name} in {} (see `tokenbook keys list`)",
            dir.display()
        ));
    }
    load_file(&path)
}

/// Loads a key file by path (e.g. one the devnet wrote).
///
/// # Errors
/// A missing file, a file others can read, or a file that is not a hex seed.
pub fn load_file(path: &Path) -> Result<Keypair, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!("{} is readable by others; run chmod 600 on it", path.display()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let seed = parse_seed(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Keypair::from_seed(&seed))
}

/// The names of the stored keys, sorted.
///
/// # Errors
/// The directory exists but cannot be read.
pub fn names(dir: &Path) -> Result<Vec<String>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".key").map(String::from))
        .filter(|n| check_name(n).is_ok())
        .collect();
    names.sort();
    Ok(names)
}
