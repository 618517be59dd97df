//! A stored position Kafka no longer has: the log now starts after it
//! (retention deleted messages before gapwatch read them) or ends before it
//! (the log was cut while gapwatch could not see it happen).

use crate::store::{Incident, IncidentCause};

use super::Auditor;

impl Auditor {
    /// Where `topic`/`partition` must be read from, given the log's first
    /// offset `low` and end `high`; `None` when its position is within them.
    /// A position below `low` records the stretch skipped as expired before
    /// audit; one above `high` undoes what the log no longer holds.
    pub fn out_of_range(
        &mut self,
        topic: &str,
        partition: i32,
        low: i64,
        high: i64,
        now_ms: u64,
    ) -> Option<i64> {
        let next = self
            .topics
            .get(topic)?
            .partitions
            .get(&partition)?
            .record?
            .next_offset;
        if next > high {
            self.rewind(topic, partition, high, now_ms);
            return Some(high);
        }
        if next >= low {
            return None;
        }
        let slot = self.topics.get_mut(topic)?.partitions.get_mut(&partition)?;
        let mut record = slot.record?;
        record.next_offset = low;
        record.resumed_at = low;
        // Producers first seen from now on may have begun in the skipped
        // stretch: their first number is a baseline, not a leading gap.
        record.from_start = false;
        slot.record = Some(record);
        slot.record_dirty = true;
        self.unflushed += 1;
        self.metrics
            .unaudited_offsets
            .with_label_values(&[topic, "expired"])
            .inc_by((low - next) as u64);
        tracing::error!(
            topic,
            partition,
            from_offset = next,
            to_offset = low - 1,
            "messages were deleted by retention before gapwatch read them: these offsets are \
             not audited (expired before audit); auditing resumes at {low}"
        );
        self.incidents.push(Incident {
            topic: topic.to_owned(),
            partition,
            cause: IncidentCause::ExpiredBeforeAudit,
            first_offset: next,
            last_offset: low - 1,
            messages: None,
            detected_ms: now_ms,
        });
        Some(low)
    }
}
