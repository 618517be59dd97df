//! What the auditor holds in memory: per topic, per partition, per producer,
//! the streams of each epoch.

use std::sync::Arc;

use smallvec::SmallVec;

use super::producers::Producers;
use crate::engine::StreamState;
use crate::metrics::TopicMetrics;
use crate::store::{PartitionRecord, StoredStream};

/// Maps on the per-message path: foldhash is several times faster than the
/// default SipHash and still seeded per process, so producer ids taken from
/// message headers cannot be chosen to collide.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// One epoch's stream of a producer on a partition.
#[derive(Clone, Debug)]
pub struct Epoch {
    pub epoch: u64,
    pub baseline: u64,
    pub created_ms: u64,
    pub state: StreamState,
}

impl Epoch {
    pub fn from_stored(epoch: u64, s: StoredStream) -> Epoch {
        Epoch {
            epoch,
            baseline: s.baseline,
            created_ms: s.created_ms,
            state: s.state,
        }
    }

    pub fn to_stored(&self) -> StoredStream {
        StoredStream {
            baseline: self.baseline,
            created_ms: self.created_ms,
            state: self.state.clone(),
        }
    }

    pub fn has_open_gaps(&self) -> bool {
        self.state
            .gaps
            .iter()
            .any(|g| g.status == crate::engine::GapStatus::Open)
    }
}

/// A producer on one partition: its streams, oldest epoch first.
#[derive(Debug, Default)]
pub struct Producer {
    pub epochs: SmallVec<[Epoch; 1]>,
    /// Changed since the last flush.
    pub dirty: bool,
    /// Its gaps changed since the last flush (the gap index is rewritten).
    pub gaps_dirty: bool,
}

impl Producer {
    /// When a message of this producer was last seen (the latest of its
    /// epochs), for eviction.
    pub fn touched_ms(&self) -> u64 {
        self.epochs
            .iter()
            .map(|e| e.state.last_seen_ms)
            .max()
            .unwrap_or(0)
    }

    pub fn max_epoch(&self) -> Option<u64> {
        self.epochs.last().map(|e| e.epoch)
    }

    pub fn epoch_mut(&mut self, epoch: u64) -> Option<&mut Epoch> {
        self.epochs.iter_mut().find(|e| e.epoch == epoch)
    }

    /// Inserts keeping epochs sorted; returns its index.
    pub fn insert(&mut self, e: Epoch) -> usize {
        let i = self.epochs.partition_point(|x| x.epoch < e.epoch);
        self.epochs.insert(i, e);
        i
    }

    pub fn has_open_gaps(&self) -> bool {
        self.epochs.iter().any(Epoch::has_open_gaps)
    }
}

/// One assigned partition.
#[derive(Debug, Default)]
pub struct Slot {
    /// What is durable after the next flush; `None` until the first message.
    pub record: Option<PartitionRecord>,
    pub record_dirty: bool,
    pub producers: Producers,
    /// Kafka timestamp (ms) of the last message seen.
    pub last_timestamp_ms: Option<i64>,
    /// Recent arrivals, to undo a truncated log.
    pub journal: super::journal::Journal,
    /// For a partition assigned with nothing stored: the producers that
    /// left memory since, the only ones RocksDB may hold. `None`: any
    /// producer may be stored.
    pub absent: Option<super::absent::Absent>,
}

/// A topic with at least one assigned partition.
pub struct Topic {
    pub name: Arc<str>,
    pub rule: usize,
    pub metrics: TopicMetrics,
    pub partitions: FastMap<i32, Slot>,
}
