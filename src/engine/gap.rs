//! The gap record: a run of sequence numbers that were expected but have not arrived.

use serde::{Deserialize, Serialize};

/// A producer sequence number. Producers number each stream `1, 2, 3, …`.
pub type Seq = u64;

/// Highest accepted sequence; callers reject larger values as unaudited.
///
/// One below `u64::MAX`, so `next = seq + 1` always fits.
pub const MAX_SEQ: Seq = u64::MAX - 1;

/// Whether a gap may still be filled by late arrivals or is already counted as lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapStatus {
    /// Missing, but younger than the confirmation delay: a late arrival is still expected.
    Open,
    /// Missing for longer than the confirmation delay: counted as lost.
    Confirmed,
}

/// A maximal run of missing sequence numbers of one stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// First missing sequence (inclusive).
    pub first: Seq,
    /// Last missing sequence (inclusive); every number in `first..=last` is still missing.
    pub last: Seq,
    pub status: GapStatus,
    /// Unix ms when the gap was first seen (kept by both halves when a late arrival splits it).
    pub detected_at_ms: u64,
    /// Unix ms when the gap was confirmed lost; `None` while open.
    pub confirmed_at_ms: Option<u64>,
    /// Kafka offset of the message just before the gap; `None` for a leading gap with nothing
    /// before it. For a gap opened by a jump this is the stream's `last_offset` at detection.
    pub offset_before: Option<i64>,
    /// Kafka offset of the message just after the gap.
    pub offset_after: i64,
    /// The range as first detected. Pieces left by late arrivals keep it, so
    /// the original gap is known to have healed when no piece of it is left.
    pub origin_first: Seq,
    pub origin_last: Seq,
}

impl Gap {
    /// How many sequence numbers are missing: `last - first + 1` (0 if `last < first`,
    /// saturating at `u64::MAX` for `0..=u64::MAX`).
    pub fn count(&self) -> u64 {
        match self.last.checked_sub(self.first) {
            Some(span) => span.saturating_add(1),
            None => 0,
        }
    }

    /// The range as first detected, `(origin_first, origin_last)`.
    pub fn origin(&self) -> (Seq, Seq) {
        (self.origin_first, self.origin_last)
    }

    /// Whether `seq` lies in `first..=last`.
    pub fn contains(&self, seq: Seq) -> bool {
        self.first <= seq && seq <= self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(first: Seq, last: Seq) -> Gap {
        Gap {
            first,
            last,
            status: GapStatus::Open,
            detected_at_ms: 0,
            confirmed_at_ms: None,
            offset_before: None,
            offset_after: 0,
            origin_first: first,
            origin_last: last,
        }
    }

    #[test]
    fn count_is_inclusive() {
        assert_eq!(gap(5, 5).count(), 1);
        assert_eq!(gap(5, 9).count(), 5);
    }

    #[test]
    fn count_saturates_and_never_underflows() {
        assert_eq!(gap(0, u64::MAX).count(), u64::MAX);
        assert_eq!(gap(1, MAX_SEQ).count(), MAX_SEQ);
        assert_eq!(gap(9, 5).count(), 0);
    }

    #[test]
    fn contains_is_inclusive_at_both_ends() {
        let g = gap(5, 9);
        assert!(!g.contains(4));
        assert!(g.contains(5));
        assert!(g.contains(9));
        assert!(!g.contains(10));
    }

    #[test]
    fn status_serializes_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&GapStatus::Confirmed).unwrap(),
            "\"confirmed\""
        );
        assert_eq!(
            serde_json::from_str::<GapStatus>("\"open\"").unwrap(),
            GapStatus::Open
        );
    }
}
