//! What was audited at each recent offset of a partition, so that a log
//! truncated under gapwatch (an unclean leader election hands the partition
//! to a replica that never had the newest messages) can be undone exactly:
//! every message audited at or after the cut is gone from Kafka and becomes
//! missing again.

use std::collections::VecDeque;

/// One accepted arrival (duplicates change nothing and are not kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub offset: i64,
    pub producer: super::producers::ProducerId,
    pub epoch: u64,
    pub seq: u64,
}

/// The last arrivals of one partition, oldest first, in offset order.
#[derive(Debug, Default)]
pub struct Journal {
    entries: VecDeque<Entry>,
    /// Every arrival at or after this offset is in `entries`; `None` until
    /// the first message after the partition was assigned.
    complete_from: Option<i64>,
}

/// What a cut took back.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cut {
    /// Arrivals at or after the cut, newest first.
    pub entries: Vec<Entry>,
    /// Offsets `[from, to)` audited before the journal began (before a
    /// restart, or beyond its window): what they held is not known.
    pub unknown: Option<(i64, i64)>,
}

impl Journal {
    /// Marks where this instance started reading the partition.
    #[inline]
    pub fn begin(&mut self, offset: i64) {
        if self.complete_from.is_none() {
            self.complete_from = Some(offset);
        }
    }

    /// Keeps an arrival; the oldest goes once more than `window` are kept.
    #[inline]
    pub fn record(&mut self, window: usize, entry: Entry) {
        if window == 0 {
            self.complete_from = Some(entry.offset + 1);
            return;
        }
        if self.entries.len() >= window
            && let Some(old) = self.entries.pop_front()
        {
            self.complete_from = Some(old.offset + 1);
        }
        self.entries.push_back(entry);
    }

    /// Takes back everything at or after `at`, the first offset the log no
    /// longer holds as gapwatch saw it; `audited_to` is the partition's next
    /// offset before the cut.
    pub fn cut(&mut self, at: i64, audited_to: i64) -> Cut {
        let mut entries = Vec::new();
        while self.entries.back().is_some_and(|e| e.offset >= at) {
            entries.extend(self.entries.pop_back());
        }
        let known_from = self.complete_from.unwrap_or(audited_to);
        let unknown = (at < known_from).then_some((at, known_from.min(audited_to)));
        self.complete_from = Some(at.min(known_from));
        Cut { entries, unknown }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset: i64, seq: u64) -> Entry {
        Entry {
            offset,
            producer: "p".into(),
            epoch: 1,
            seq,
        }
    }

    #[test]
    fn a_cut_returns_the_arrivals_at_or_after_it_newest_first() {
        let mut j = Journal::default();
        j.begin(10);
        for o in 10..20 {
            j.record(100, entry(o, o as u64));
        }
        let cut = j.cut(15, 20);
        let offsets: Vec<i64> = cut.entries.iter().map(|e| e.offset).collect();
        assert_eq!(offsets, vec![19, 18, 17, 16, 15]);
        assert_eq!(cut.unknown, None);
        assert_eq!(j.len(), 5);
    }

    #[test]
    fn a_cut_before_the_window_says_which_offsets_are_unknown() {
        let mut j = Journal::default();
        j.begin(0);
        for o in 0..10 {
            j.record(4, entry(o, o as u64));
        }
        // Offsets 6..=9 are kept; 0..6 fell out of the window.
        let cut = j.cut(3, 10);
        assert_eq!(cut.entries.len(), 4);
        assert_eq!(cut.unknown, Some((3, 6)));
        // After a restart nothing is known of what was audited before.
        let mut fresh = Journal::default();
        let cut = fresh.cut(5, 9);
        assert_eq!(cut.unknown, Some((5, 9)));
        assert!(cut.entries.is_empty());
    }

    #[test]
    fn a_zero_window_keeps_nothing() {
        let mut j = Journal::default();
        j.begin(0);
        j.record(0, entry(0, 1));
        assert_eq!(j.len(), 0);
        assert_eq!(j.cut(0, 1).unknown, Some((0, 1)));
    }
}
