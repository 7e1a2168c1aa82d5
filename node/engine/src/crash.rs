//! Crash points: where a test can make a validator process die (cargo feature `misbehave`;
//! never in default builds, where [`point`] is an empty function).
//!
//! `tokenbook-node start --crash-at POINT:N` aborts the process (no unwinding, no flush, as
//! `kill -9` would) the `N`th time the driver passes `POINT`:
//! - `proposal`: its own proposal (with its block) is synced, nothing sent yet;
//! - `vote`: its vote is synced (with the block it votes for), nothing sent yet;
//! - `before-commit`: a block is decided, its commit not yet written;
//! - `commit`: the block and its certificate are synced, the round's records not yet pruned
//!   and nobody told;
//! - `prune`: the round's records are pruned, the next height not yet started.
//!
//! The multi-process test (`tests/tests/crash_points.rs`) kills a validator at each and shows
//! it restarts, never signs two values for one step, and loses no committed block.

/// The crash points, by name.
pub const POINTS: [&str; 5] = ["proposal", "vote", "before-commit", "commit", "prune"];

#[cfg(feature = "misbehave")]
mod armed {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static ARMED: OnceLock<(&'static str, u64)> = OnceLock::new();
    static PASSED: AtomicU64 = AtomicU64::new(0);

    /// Arms the crash point `POINT:N` (once per process).
    ///
    /// # Errors
    /// An unknown point, a count that is not a positive number, or already armed.
    pub fn arm(spec: &str) -> Result<(), String> {
        let (name, count) = spec.split_once(':').unwrap_or((spec, "1"));
        let name = super::POINTS
            .into_iter()
            .find(|p| *p == name)
            .ok_or_else(|| format!("unknown crash point {name:?}; one of {:?}", super::POINTS))?;
        let count: u64 = count
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--crash-at {spec}: the count must be a positive number"))?;
        ARMED.set((name, count)).map_err(|_| "a crash point is already armed".to_string())
    }

    /// Aborts the process if `name` is the armed point and this is its `N`th pass.
    pub fn point(name: &'static str) {
        let Some((armed, count)) = ARMED.get() else { return };
        if *armed == name && PASSED.fetch_add(1, Ordering::SeqCst) + 1 == *count {
            eprintln!("crash point {name} reached ({count}): aborting");
            std::process::abort();
        }
    }
}

#[cfg(feature = "misbehave")]
pub use armed::{arm, point};

/// Does nothing: crash points exist only in builds with the `misbehave` feature.
#[cfg(not(feature = "misbehave"))]
#[inline(always)]
pub fn point(_name: &'static str) {}
