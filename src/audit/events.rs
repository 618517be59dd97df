//! The log lines of notable audit events. Gap events are rare and logged
//! each; per-message events (duplicates, unaudited messages) are logged at
//! most a few times a second so a flood cannot drown the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::engine::{Gap, GapStatus};
use crate::extract::Unaudited;

/// Allows `PER_SECOND` lines per wall-clock second for one kind of event.
struct RateLimit {
    second: AtomicU64,
    count: AtomicU64,
}

const PER_SECOND: u64 = 5;

impl RateLimit {
    const fn new() -> RateLimit {
        RateLimit {
            second: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn allow(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.count.store(0, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed) < PER_SECOND
    }
}

static DUPLICATES: RateLimit = RateLimit::new();
static UNAUDITED: RateLimit = RateLimit::new();

pub fn gap_opened(topic: &str, partition: i32, producer: &str, epoch: u64, gap: &Gap) {
    tracing::info!(
        topic,
        partition,
        producer,
        epoch,
        first_seq = gap.first,
        last_seq = gap.last,
        missing = gap.count(),
        offset_before = gap.offset_before,
        offset_after = gap.offset_after,
        "gap opened: sequence numbers skipped"
    );
}

pub fn gap_confirmed(topic: &str, partition: i32, producer: &str, epoch: u64, gap: &Gap) {
    tracing::warn!(
        topic,
        partition,
        producer,
        epoch,
        first_seq = gap.first,
        last_seq = gap.last,
        lost = gap.count(),
        offset_before = gap.offset_before,
        offset_after = gap.offset_after,
        "messages lost: gap still open after the confirmation delay"
    );
}

pub fn gap_healed(
    topic: &str,
    partition: i32,
    producer: &str,
    epoch: u64,
    gap: &Gap,
    was: GapStatus,
) {
    let recovered = was == GapStatus::Confirmed;
    tracing::info!(
        topic,
        partition,
        producer,
        epoch,
        first_seq = gap.first,
        last_seq = gap.last,
        recovered,
        "gap healed: every missing message arrived late"
    );
}

pub fn duplicate(topic: &str, partition: i32, producer: &str, epoch: u64, seq: u64, offset: i64) {
    if DUPLICATES.allow() {
        tracing::debug!(
            topic,
            partition,
            producer,
            epoch,
            seq,
            offset,
            "duplicate message"
        );
    }
}

pub fn unaudited(topic: &str, partition: i32, offset: i64, reason: Unaudited) {
    if UNAUDITED.allow() {
        tracing::warn!(
            topic,
            partition,
            offset,
            reason = reason.as_str(),
            "message not audited: {}",
            reason.describe()
        );
    }
}
