//! Each validator's data directory as a tmpfs of its own, which a fault can fill.
//!
//! The harness mounts them in its own mount namespace before it starts the validators (whose
//! `ip netns exec` copies that namespace), so they vanish with the harness. A tmpfs's size is a
//! property of the filesystem, not of one mount: remounting it smaller in the harness's
//! namespace fills the validator's disk too.
//!
//! Promises: [`fill`] writes nothing and leaves at most a few hundred KiB free (it shrinks the
//! filesystem to what is used); [`free`] gives the space back; nothing here touches a path the harness did not
//! mount.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A validator's data directory (store, snapshots) inside its home.
#[must_use]
pub fn data_dir(home: &Path) -> PathBuf {
    home.join("data")
}

/// The size each data tmpfs may grow to (memory is used only for what is written).
const ROOMY: &str = "size=4g";

/// Mounts a fresh tmpfs at `dir`.
///
/// # Errors
/// The directory cannot be made or `mount` fails.
pub fn mount(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    run(Command::new("mount").args(["-t", "tmpfs", "-o", ROOMY, "tokenbook-data"]).arg(dir))
}

/// Shrinks the tmpfs at `dir` to the bytes it already holds: the next write fails with
/// `ENOSPC`.
///
/// The running node writes between the measure and the remount, and a tmpfs refuses to shrink
/// below what it holds (`EINVAL`, which `mount` reports as "not mounted or bad option": seen in
/// CI); each retry measures again and leaves 64 KiB more, which the node's next writes
/// use up at once.
///
/// # Errors
/// `stat -f` fails, or `mount` fails every time.
pub fn fill(dir: &Path) -> Result<(), String> {
    let mut last = String::new();
    for margin in (0..FILL_ATTEMPTS).map(|k| k * 64 * 1024) {
        let used = used_bytes(dir)?;
        // Rounded up to whole pages by the kernel.
        let size = format!("remount,size={}", (used + margin).max(4096));
        match run(Command::new("mount").args(["-o", &size]).arg(dir)) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Remounts [`fill`] tries before it gives up.
const FILL_ATTEMPTS: u64 = 8;

/// Gives the tmpfs at `dir` its room back.
///
/// # Errors
/// `mount` fails.
pub fn free(dir: &Path) -> Result<(), String> {
    run(Command::new("mount").args(["-o", &format!("remount,{ROOMY}")]).arg(dir))
}

/// Deletes everything in `dir` (a stopped validator's data), keeping the mount.
///
/// # Errors
/// An entry cannot be removed.
pub fn wipe(dir: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Whether a node's log says its disk was full.
#[must_use]
pub fn names_full_disk(log: &str) -> bool {
    let log = log.to_ascii_lowercase();
    log.contains("no space left on device") || log.contains("disk full")
}

fn used_bytes(dir: &Path) -> Result<u64, String> {
    let out = Command::new("stat")
        .args(["-f", "-c", "%b %f %S"])
        .arg(dir)
        .output()
        .map_err(|e| format!("stat: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let numbers: Vec<u64> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    let [blocks, free, size] = numbers.as_slice() else {
        return Err(format!("stat -f {}: {text:?}", dir.display()));
    };
    Ok(blocks.saturating_sub(*free) * size)
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{command:?}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_names_a_full_disk_in_either_words() {
        assert!(names_full_disk("IO error: No space left on device: While appending to file"));
        assert!(!names_full_disk("tokenbook-node: store: corruption"));
    }
}
