//! Writing a height's batch off the commit path, one height at a time.
//!
//! [`crate::Store::stage`] computes a height's tree and root and assembles its write batch on
//! the caller's thread, then hands the batch to [`Writer`], whose thread writes it (synced, for
//! a validator) while the caller goes on: the write and fsync of height `h` overlap the
//! execution of `h + 1` and the computation of its tree.
//!
//! Promises:
//! - **Commit order.** At most one batch is in flight: handing over the next waits until the
//!   previous is written, and every other write of the store waits for it too
//!   ([`Writer::wait`]), so the store's writes reach the WAL in the order the caller made them —
//!   a consensus record is never on disk without the heights committed before it.
//! - **Visible when written.** Readers see a height ([`crate::StoreReader::height`]) only once
//!   its batch is written, whole (one RocksDB batch).
//! - **Failure stops the store.** A failed write is recorded; the store refuses every later
//!   write with it ([`crate::StoreError::Stopped`]).
//! - **Clean shutdown.** Dropping the writer finishes the batch in flight and joins the thread,
//!   so the database can be reopened at once.

use crate::error::StoreError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One height's write: runs on the writer thread.
pub(crate) type Job = Box<dyn FnOnce() -> Result<(), StoreError> + Send>;

/// What the writer thread and the store share.
#[derive(Default)]
struct State {
    /// The next batch, with its height plus one.
    queued: Option<(u64, Job)>,
    /// A batch is queued or being written.
    in_flight: bool,
    /// The first failed write.
    failure: Option<StoreError>,
    /// How long the last write took.
    last_write: Duration,
    /// The store is closing: write what is queued, then exit.
    closing: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(state).unwrap_or_else(PoisonError::into_inner)
    }
}

/// The store's writer thread.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer thread; after each batch it publishes the height written (plus one)
    /// to `committed`, which the store's readers go by.
    pub(crate) fn start(committed: Arc<AtomicU64>) -> Result<Writer, StoreError> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("store-write".into())
            .spawn(move || run(&worker, &committed))
            .map_err(|e| StoreError::Io(format!("cannot start the store's writer: {e}")))?;
        Ok(Writer { shared, thread: Some(thread) })
    }

    /// Hands over the batch of `height` (plus one) once the previous one is written.
    ///
    /// # Errors
    /// An earlier write failed: its error.
    pub(crate) fn submit(&self, height: u64, job: Job) -> Result<(), StoreError> {
        let mut state = self.idle()?;
        state.queued = Some((height, job));
        state.in_flight = true;
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Waits until no batch is in flight.
    ///
    /// # Errors
    /// A write failed: its error.
    pub(crate) fn wait(&self) -> Result<(), StoreError> {
        self.idle().map(drop)
    }

    fn idle(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let mut state = self.shared.lock();
        while state.in_flight && state.failure.is_none() {
            state = self.shared.wait(state);
        }
        match &state.failure {
            Some(e) => Err(e.clone()),
            None => Ok(state),
        }
    }

    /// Whether a batch is queued or being written.
    pub(crate) fn busy(&self) -> bool {
        self.shared.lock().in_flight
    }

    /// How long the last batch took to write (and sync).
    pub(crate) fn last_write(&self) -> Duration {
        self.shared.lock().last_write
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: writes each batch handed over, in order, until the store closes.
fn run(shared: &Shared, committed: &AtomicU64) {
    loop {
        let (height, job) = {
            let mut state = shared.lock();
            loop {
                if let Some(queued) = state.queued.take() {
                    break queued;
                }
                if state.closing {
                    return;
                }
                state = shared.wait(state);
            }
        };
        let started = Instant::now();
        let result = job();
        let mut state = shared.lock();
        state.last_write = started.elapsed();
        state.in_flight = false;
        match result {
            Ok(()) => committed.store(height, Ordering::Release),
            Err(e) => state.failure = Some(e),
        }
        shared.changed.notify_all();
    }
}
