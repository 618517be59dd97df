//! Writes the auditor's batches on a thread of their own, so the consumer
//! reads on while RocksDB syncs its write-ahead log.
//!
//! Batches are written one at a time, in the order they were built; each is
//! still one atomic, synced RocksDB write holding state, gaps and offsets
//! together. A batch that cannot be written (a full disk) is tried again
//! until it is, and nothing behind it is written before: what is durable is
//! always a prefix of what was flushed. At most one batch waits while
//! another is written, so a slow disk slows the consumer instead of
//! piling batches up in memory.
//!
//! What the auditor reads back from RocksDB (a producer's streams when it
//! returns, a partition's state when assigned) must include every batch
//! built before: it waits for the writer ([`Writer::wait_idle`]) before it
//! lets streams leave memory, deletes or moves stored state, or loads a
//! partition.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::store::{StateBatch, Store, StoreError};

/// Pause between two tries of a batch RocksDB refused.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// A partition's next offset, as the commit to Kafka wants it.
pub type Position = (Arc<str>, i32, i64);

struct Job {
    batch: StateBatch,
    /// Every held partition's next offset once this batch is durable.
    positions: Vec<Position>,
    built: Instant,
}

#[derive(Default)]
struct State {
    /// Batches handed over and not yet durable.
    pending: usize,
    /// Why the batch being written was refused, while it is.
    failing: Option<String>,
    /// Positions of the last durable batch.
    durable: Vec<Position>,
    /// The writer is being dropped: a refused batch is not tried again.
    stopping: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }
}

/// The background writer of one auditor.
pub struct Writer {
    tx: Option<SyncSender<Job>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    dir: std::path::PathBuf,
}

impl Writer {
    pub fn start(store: Arc<Store>, metrics: Arc<Metrics>) -> std::io::Result<Writer> {
        let (tx, rx) = sync_channel(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("state-writer".to_owned())
            .spawn({
                let (shared, store) = (shared.clone(), store.clone());
                move || write_loop(&rx, &store, &metrics, &shared)
            })?;
        Ok(Writer {
            tx: Some(tx),
            shared,
            thread: Some(thread),
            dir: store.dir().to_owned(),
        })
    }

    /// Hands a batch over; waits while another already waits its turn.
    /// Fails while RocksDB refuses the batch being written: the caller
    /// keeps what it has unflushed and tries again later.
    pub fn submit(&self, batch: StateBatch, positions: Vec<Position>) -> Result<(), StoreError> {
        {
            let mut state = self.shared.lock();
            // One batch being written and one waiting: wait for the first.
            while state.pending >= 2 && state.failing.is_none() {
                state = self.shared.wait(state);
            }
            if let Some(reason) = &state.failing {
                return Err(self.error(reason.clone()));
            }
            state.pending += 1;
        }
        let job = Job {
            batch,
            positions,
            built: Instant::now(),
        };
        let sent = self.tx.as_ref().map(|tx| tx.send(job));
        if !matches!(sent, Some(Ok(()))) {
            self.shared.lock().pending -= 1;
            return Err(self.error("the state writer has stopped".to_owned()));
        }
        Ok(())
    }

    fn error(&self, reason: String) -> StoreError {
        StoreError::Write {
            dir: self.dir.clone(),
            reason,
        }
    }

    /// Why the batch being written is refused, if it is.
    pub fn failing(&self) -> Option<StoreError> {
        let reason = self.shared.lock().failing.clone();
        reason.map(|r| self.error(r))
    }

    /// Waits until every batch handed over is durable (true), or until one
    /// is refused (false: RocksDB is failing; the writer keeps trying).
    pub fn wait_idle(&self) -> bool {
        let mut state = self.shared.lock();
        loop {
            if state.pending == 0 {
                return true;
            }
            if state.failing.is_some() {
                return false;
            }
            state = self.shared.wait(state);
        }
    }

    /// True when nothing is being written.
    pub fn is_idle(&self) -> bool {
        self.shared.lock().pending == 0
    }

    /// The partitions' next offsets as of the last durable batch.
    pub fn durable_positions(&self) -> Vec<Position> {
        self.shared.lock().durable.clone()
    }
}

impl Drop for Writer {
    /// Writes what was handed over, then stops (a batch RocksDB keeps
    /// refusing is dropped with the process: its messages are read again
    /// from the stored offsets).
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_loop(rx: &Receiver<Job>, store: &Store, metrics: &Metrics, shared: &Shared) {
    while let Ok(job) = rx.recv() {
        loop {
            let started = Instant::now();
            match store.write(&job.batch) {
                Ok(()) => {
                    metrics.state_healthy.set(1);
                    metrics.flushes.inc();
                    metrics
                        .flush_seconds
                        .observe(started.elapsed().as_secs_f64());
                    let mut state = shared.lock();
                    state.pending -= 1;
                    state.durable = job.positions;
                    if state.failing.take().is_some() {
                        tracing::info!(
                            waited_s = job.built.elapsed().as_secs(),
                            "state writes succeed again"
                        );
                    }
                    shared.changed.notify_all();
                    break;
                }
                Err(e) => {
                    metrics.flush_errors.inc();
                    metrics.state_healthy.set(0);
                    let mut state = shared.lock();
                    if state.failing.is_none() {
                        tracing::error!(error = %e, "cannot write state; trying again every {RETRY_EVERY:?}");
                    }
                    state.failing = Some(match e {
                        StoreError::Write { reason, .. } => reason,
                        other => other.to_string(),
                    });
                    shared.changed.notify_all();
                    if state.stopping {
                        state.pending -= 1;
                        break;
                    }
                    drop(state);
                    std::thread::sleep(RETRY_EVERY);
                }
            }
        }
    }
}
