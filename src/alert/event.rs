//! What happened to a gap that someone may need to hear about. Events are
//! written to the outbox in the same RocksDB batch as the state change that
//! caused them, so an event exists exactly when its cause is durable.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::config::AlertKind;
use crate::engine::Gap;
use crate::store::StreamRef;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub kind: AlertKind,
    pub topic: String,
    pub partition: i32,
    pub producer: String,
    pub epoch: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub count: u64,
    pub offset_before: Option<i64>,
    pub offset_after: i64,
    pub detected_at_ms: u64,
    pub confirmed_at_ms: Option<u64>,
    pub healed_at_ms: Option<u64>,
    /// When the event happened (unix ms).
    pub at_ms: u64,
}

impl AlertEvent {
    pub fn new(
        kind: AlertKind,
        stream: StreamRef<'_>,
        gap: &Gap,
        healed_at_ms: Option<u64>,
        at_ms: u64,
    ) -> AlertEvent {
        AlertEvent {
            kind,
            topic: stream.topic.to_owned(),
            partition: stream.partition,
            producer: stream.producer.to_owned(),
            epoch: stream.epoch,
            first_seq: gap.first,
            last_seq: gap.last,
            count: gap.count(),
            offset_before: gap.offset_before,
            offset_after: gap.offset_after,
            detected_at_ms: gap.detected_at_ms,
            confirmed_at_ms: gap.confirmed_at_ms,
            healed_at_ms,
            at_ms,
        }
    }
}

/// Outbox keys: event time, then a process-wide counter, both big-endian,
/// so the outbox reads oldest first and keys never collide (one process
/// owns a state directory at a time).
pub fn event_key(at_ms: u64) -> [u8; 16] {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&at_ms.to_be_bytes());
    k[8..].copy_from_slice(&n.to_be_bytes());
    k
}
