//! The per-stream state machine: classifies each arriving sequence number.

use thin_vec::ThinVec;

use super::gap::{Gap, GapStatus, MAX_SEQ, Seq};

/// Audit state of one stream (topic, partition, producer id, epoch).
///
/// Invariants kept by [`StreamState::start`] and [`StreamState::observe`]: `gaps` is sorted by
/// `first`, its pieces are disjoint (and in fact never adjacent: a seen number separates any two),
/// and every missing number is below `next` (only [`StreamState::forget`] may leave two pieces
/// adjacent). With no gaps, `gaps` is an unallocated empty `ThinVec` (one pointer wide: most
/// streams never have a gap, and a state is held in memory per stream).
///
/// `Default` is a zeroed placeholder (`next == 0`), not a started stream; use
/// [`StreamState::start`] for the first message.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StreamState {
    /// Next expected sequence (= highest seen + 1).
    pub next: Seq,
    /// Highest Kafka offset of this stream processed so far.
    pub last_offset: i64,
    /// Latest `now_ms` passed to `start`/`observe`.
    pub last_seen_ms: u64,
    /// Messages accepted (first, in order, gap-opening and late), not duplicates.
    pub seen: u64,
    /// Messages whose sequence was already seen (or lies below the baseline).
    pub duplicates: u64,
    /// Late arrivals: messages that filled (part of) a gap.
    pub late: u64,
    /// Missing ranges, sorted by `first`, disjoint, all below `next`.
    pub gaps: ThinVec<Gap>,
}

/// How one arrival was classified by [`StreamState::observe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// `seq == next`.
    InOrder,
    /// `seq > next`: the gap `[old next, seq-1]` was opened (returned as stored).
    Opened(Gap),
    /// `seq < next` and inside a gap piece, which was shrunk, split or healed.
    Late {
        /// Status of the piece it fell into (`Confirmed`: a message already counted lost came back).
        was: GapStatus,
        /// The piece as it was just before this arrival, when this arrival filled its last
        /// missing number (the piece is removed).
        healed: Option<Gap>,
        /// The arrival fell strictly inside the piece and split it in two.
        split: bool,
    },
    /// `seq < next` and not missing: seen before (or below the baseline).
    Duplicate,
}

#[inline(always)]
fn debug_assert_seq(seq: Seq) {
    debug_assert!(
        (1..=MAX_SEQ).contains(&seq),
        "sequence {seq} outside 1..=MAX_SEQ"
    );
}

impl StreamState {
    /// State after the first message of a stream. With `leading_gap` and `seq > 1` a gap
    /// `[1, seq-1]` (with `offset_before: None`) is opened and returned; otherwise the stream is
    /// baselined at `seq` and numbers below it count as duplicates.
    pub fn start(
        seq: Seq,
        offset: i64,
        now_ms: u64,
        leading_gap: bool,
    ) -> (StreamState, Option<Gap>) {
        debug_assert_seq(seq);
        let mut state = StreamState {
            next: seq.saturating_add(1),
            last_offset: offset,
            last_seen_ms: now_ms,
            seen: 1,
            ..StreamState::default()
        };
        let gap = (leading_gap && seq > 1).then(|| Gap {
            first: 1,
            last: seq - 1,
            status: GapStatus::Open,
            detected_at_ms: now_ms,
            confirmed_at_ms: None,
            offset_before: None,
            offset_after: offset,
            origin_first: 1,
            origin_last: seq - 1,
        });
        if let Some(gap) = &gap {
            state.gaps.push(gap.clone());
        }
        (state, gap)
    }

    /// Classifies one arrival and updates the state. Never allocates for in-order arrivals.
    ///
    /// Callers guarantee `1 <= seq <= MAX_SEQ` (debug-asserted); any `u64` is safe in release.
    #[inline]
    pub fn observe(&mut self, seq: Seq, offset: i64, now_ms: u64) -> Observation {
        debug_assert_seq(seq);
        let offset_before = self.last_offset;
        self.last_offset = offset_before.max(offset);
        self.last_seen_ms = self.last_seen_ms.max(now_ms);
        if seq == self.next {
            self.next = seq.saturating_add(1);
            self.seen = self.seen.saturating_add(1);
            Observation::InOrder
        } else if seq > self.next {
            self.jump(seq, offset, offset_before, now_ms)
        } else {
            self.behind(seq, offset)
        }
    }

    /// `seq > next`: open `[next, seq-1]`.
    #[inline(never)]
    fn jump(&mut self, seq: Seq, offset: i64, offset_before: i64, now_ms: u64) -> Observation {
        self.seen = self.seen.saturating_add(1);
        let first = self.next;
        self.next = seq.saturating_add(1);
        if first == 0 {
            // Never started (a `Default` state): baseline here rather than report sequence 0 missing.
            return Observation::InOrder;
        }
        let gap = Gap {
            first,
            last: seq - 1, // seq > first >= 1
            status: GapStatus::Open,
            detected_at_ms: now_ms,
            confirmed_at_ms: None,
            offset_before: Some(offset_before),
            offset_after: offset,
            origin_first: first,
            origin_last: seq - 1,
        };
        self.gaps.push(gap.clone());
        Observation::Opened(gap)
    }

    /// `seq < next`: a late arrival if `seq` is missing, else a duplicate.
    #[inline(never)]
    fn behind(&mut self, seq: Seq, offset: i64) -> Observation {
        let i = self.gaps.partition_point(|g| g.last < seq);
        let gap = match self.gaps.get_mut(i) {
            Some(gap) if gap.first <= seq => gap, // so first <= seq <= last
            _ => {
                self.duplicates = self.duplicates.saturating_add(1);
                return Observation::Duplicate;
            }
        };
        self.seen = self.seen.saturating_add(1);
        self.late = self.late.saturating_add(1);
        let was = gap.status;
        let mut split = false;
        let healed = if gap.first == gap.last {
            Some(self.gaps.remove(i))
        } else if seq == gap.first {
            gap.first = seq + 1; // seq < last
            gap.offset_before = Some(offset);
            None
        } else if seq == gap.last {
            gap.last = seq - 1; // seq > first
            gap.offset_after = offset;
            None
        } else {
            let mut right = gap.clone();
            right.first = seq + 1;
            right.offset_before = Some(offset);
            gap.last = seq - 1;
            gap.offset_after = offset;
            self.gaps.insert(i + 1, right);
            split = true;
            None
        };
        Observation::Late { was, healed, split }
    }

    /// Marks every open gap detected at or before `now_ms - confirm_after_ms` as confirmed
    /// (`confirmed_at_ms = now_ms`), pushes copies of them to `out` and returns how many.
    /// O(1) when the stream has no gaps, else one pass over `gaps`.
    #[inline]
    pub fn confirm_due(&mut self, now_ms: u64, confirm_after_ms: u64, out: &mut Vec<Gap>) -> usize {
        if self.gaps.is_empty() {
            return 0;
        }
        match now_ms.checked_sub(confirm_after_ms) {
            Some(due) => self.confirm_detected_by(due, now_ms, out),
            None => 0, // nothing can have been detected before the epoch
        }
    }

    #[inline(never)]
    fn confirm_detected_by(&mut self, due: u64, now_ms: u64, out: &mut Vec<Gap>) -> usize {
        let mut confirmed = 0;
        for gap in &mut self.gaps {
            if gap.status == GapStatus::Open && gap.detected_at_ms <= due {
                gap.status = GapStatus::Confirmed;
                gap.confirmed_at_ms = Some(now_ms);
                out.push(gap.clone());
                confirmed += 1;
            }
        }
        confirmed
    }

    /// The numbers `first..=last`, all seen before, are gone from Kafka's log
    /// (it was truncated under gapwatch): they become missing again, as one
    /// open gap detected at `now_ms`, which is returned. `offset` is where the
    /// log was cut. Numbers that are not seen (missing, or not below `next`)
    /// are left alone; the range is trimmed to what was seen and `None`
    /// returned when nothing was.
    pub fn forget(&mut self, first: Seq, last: Seq, offset: i64, now_ms: u64) -> Option<Gap> {
        let last = last.min(self.next.checked_sub(1)?);
        if first > last || first == 0 {
            return None;
        }
        // Callers pass runs of seen numbers; a run that overlaps a gap piece
        // is cut to the part before it (the rest comes in its own call).
        let i = self.gaps.partition_point(|g| g.last < first);
        let last = match self.gaps.get(i) {
            Some(g) if g.first <= first => return None,
            Some(g) if g.first <= last => g.first - 1,
            _ => last,
        };
        let gap = Gap {
            first,
            last,
            status: GapStatus::Open,
            detected_at_ms: now_ms,
            confirmed_at_ms: None,
            offset_before: Some(offset - 1),
            offset_after: offset,
            origin_first: first,
            origin_last: last,
        };
        self.seen = self.seen.saturating_sub(gap.count());
        self.gaps.insert(i, gap.clone());
        Some(gap)
    }

    /// Total missing sequence numbers (sum of gap counts).
    pub fn missing(&self) -> u64 {
        self.gaps
            .iter()
            .fold(0u64, |sum, g| sum.saturating_add(g.count()))
    }

    /// Missing sequence numbers as `(open, confirmed)`.
    pub fn missing_by_status(&self) -> (u64, u64) {
        self.gaps
            .iter()
            .fold((0u64, 0u64), |(open, confirmed), g| match g.status {
                GapStatus::Open => (open.saturating_add(g.count()), confirmed),
                GapStatus::Confirmed => (open, confirmed.saturating_add(g.count())),
            })
    }

    /// Whether a piece of the gap first detected as `origin` is still missing.
    pub fn has_piece_of(&self, origin: (Seq, Seq)) -> bool {
        let i = self.gaps.partition_point(|g| g.last < origin.0);
        self.gaps[i..]
            .iter()
            .take_while(|g| g.first <= origin.1)
            .any(|g| g.origin() == origin)
    }

    /// The gap piece containing `seq`, if `seq` is missing (binary search).
    pub fn is_missing(&self, seq: Seq) -> Option<&Gap> {
        let i = self.gaps.partition_point(|g| g.last < seq);
        self.gaps.get(i).filter(|g| g.first <= seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use GapStatus::{Confirmed, Open};

    fn ranges(s: &StreamState) -> Vec<(Seq, Seq)> {
        s.gaps.iter().map(|g| (g.first, g.last)).collect()
    }

    /// Stream baselined at 1 (offset 100, t=1000) that then jumps to `to` at offset 200, t=2000.
    fn with_gap_up_to(to: Seq) -> StreamState {
        let (mut s, _) = StreamState::start(1, 100, 1000, true);
        assert!(matches!(s.observe(to, 200, 2000), Observation::Opened(_)));
        s
    }

    #[test]
    fn in_order_stream_has_no_gaps_and_never_allocates() {
        let (mut s, gap) = StreamState::start(1, 0, 10, true);
        assert_eq!(gap, None);
        for seq in 2..=1000 {
            assert_eq!(s.observe(seq, seq as i64, 10 + seq), Observation::InOrder);
        }
        assert_eq!(s.next, 1001);
        assert_eq!(s.seen, 1000);
        assert_eq!((s.duplicates, s.late, s.missing()), (0, 0, 0));
        assert_eq!(s.gaps.capacity(), 0);
        assert_eq!(s.last_offset, 1000);
        assert_eq!(s.last_seen_ms, 1010);
    }

    #[test]
    fn start_without_leading_gap_baselines_at_first_seq() {
        let (s, gap) = StreamState::start(42, 7, 1000, false);
        assert_eq!(gap, None);
        assert_eq!(
            (s.next, s.last_offset, s.last_seen_ms, s.seen),
            (43, 7, 1000, 1)
        );
        assert!(s.gaps.is_empty());
    }

    #[test]
    fn start_with_leading_gap_opens_gap_without_offset_before() {
        let (s, gap) = StreamState::start(42, 7, 1000, true);
        let expected = Gap {
            first: 1,
            last: 41,
            status: Open,
            detected_at_ms: 1000,
            confirmed_at_ms: None,
            offset_before: None,
            offset_after: 7,
            origin_first: 1,
            origin_last: 41,
        };
        assert_eq!(gap, Some(expected.clone()));
        assert_eq!(s.gaps, vec![expected]);
        assert_eq!(s.missing(), 41);
    }

    #[test]
    fn pieces_keep_the_origin_until_the_last_one_heals() {
        let (mut s, _) = StreamState::start(1, 0, 0, false);
        s.observe(10, 1, 0); // gap [2, 9]
        s.observe(5, 2, 0); // split into [2, 4] and [6, 9]
        assert!(s.gaps.iter().all(|g| g.origin() == (2, 9)));
        for seq in [2, 3, 4, 6, 7, 8] {
            s.observe(seq, 3, 0);
        }
        assert!(s.has_piece_of((2, 9)));
        s.observe(9, 4, 0);
        assert!(!s.has_piece_of((2, 9)));
        assert!(s.gaps.is_empty());
    }

    #[test]
    fn start_at_one_with_leading_gap_opens_nothing() {
        let (s, gap) = StreamState::start(1, 7, 1000, true);
        assert_eq!(gap, None);
        assert_eq!(s.gaps.capacity(), 0);
    }

    #[test]
    fn jump_opens_gap_with_offsets_and_moves_next() {
        let (mut s, _) = StreamState::start(1, 100, 1000, true);
        s.observe(2, 101, 1001);
        let obs = s.observe(6, 105, 1005);
        let expected = Gap {
            first: 3,
            last: 5,
            status: Open,
            detected_at_ms: 1005,
            confirmed_at_ms: None,
            offset_before: Some(101),
            offset_after: 105,
            origin_first: 3,
            origin_last: 5,
        };
        assert_eq!(obs, Observation::Opened(expected.clone()));
        assert_eq!(s.gaps, vec![expected]);
        assert_eq!((s.next, s.seen, s.missing()), (7, 3, 3));
    }

    #[test]
    fn late_arrival_in_middle_splits_gap_keeping_offsets() {
        let mut s = with_gap_up_to(10); // gap [2,9], before 100, after 200
        let obs = s.observe(5, 300, 3000);
        assert_eq!(
            obs,
            Observation::Late {
                was: Open,
                healed: None,
                split: true
            }
        );
        assert_eq!(ranges(&s), vec![(2, 4), (6, 9)]);
        let (left, right) = (&s.gaps[0], &s.gaps[1]);
        assert_eq!((left.offset_before, left.offset_after), (Some(100), 300));
        assert_eq!((right.offset_before, right.offset_after), (Some(300), 200));
        for g in &s.gaps {
            assert_eq!(
                (g.status, g.detected_at_ms, g.confirmed_at_ms),
                (Open, 2000, None)
            );
        }
        assert_eq!((s.late, s.seen, s.next, s.missing()), (1, 3, 11, 7));
        assert_eq!(s.last_offset, 300);
    }

    #[test]
    fn late_arrival_at_gap_start_shrinks_left_end() {
        let mut s = with_gap_up_to(10);
        let obs = s.observe(2, 150, 3000);
        assert_eq!(
            obs,
            Observation::Late {
                was: Open,
                healed: None,
                split: false
            }
        );
        assert_eq!(ranges(&s), vec![(3, 9)]);
        assert_eq!(
            (s.gaps[0].offset_before, s.gaps[0].offset_after),
            (Some(150), 200)
        );
    }

    #[test]
    fn late_arrival_at_gap_end_shrinks_right_end() {
        let mut s = with_gap_up_to(10);
        s.observe(9, 250, 3000);
        assert_eq!(ranges(&s), vec![(2, 8)]);
        assert_eq!(
            (s.gaps[0].offset_before, s.gaps[0].offset_after),
            (Some(100), 250)
        );
    }

    #[test]
    fn last_missing_arrival_heals_gap_and_reports_it() {
        let mut s = with_gap_up_to(4); // gap [2,3]
        s.observe(2, 201, 3000);
        let before = s.gaps[0].clone();
        let obs = s.observe(3, 202, 4000);
        assert_eq!(
            obs,
            Observation::Late {
                was: Open,
                healed: Some(before),
                split: false
            }
        );
        assert!(s.gaps.is_empty());
        assert_eq!((s.late, s.seen, s.missing()), (2, 4, 0));
    }

    #[test]
    fn healing_one_piece_leaves_the_others() {
        let mut s = with_gap_up_to(10); // [2,9]
        s.observe(5, 300, 3000); // [2,4] [6,9]
        s.observe(3, 301, 3000); // [2,2] [4,4] [6,9]
        assert_eq!(ranges(&s), vec![(2, 2), (4, 4), (6, 9)]);
        let healed = s.gaps[1].clone();
        assert_eq!(
            s.observe(4, 302, 3000),
            Observation::Late {
                was: Open,
                healed: Some(healed),
                split: false
            }
        );
        assert_eq!(ranges(&s), vec![(2, 2), (6, 9)]);
    }

    #[test]
    fn duplicate_below_baseline_is_duplicate() {
        let (mut s, _) = StreamState::start(50, 0, 0, false);
        assert_eq!(s.observe(10, 1, 1), Observation::Duplicate);
        assert_eq!((s.duplicates, s.seen, s.late, s.next), (1, 1, 0, 51));
        assert!(s.gaps.is_empty());
    }

    #[test]
    fn duplicate_of_in_order_message_is_duplicate() {
        let (mut s, _) = StreamState::start(1, 0, 0, true);
        s.observe(2, 1, 1);
        assert_eq!(s.observe(2, 2, 2), Observation::Duplicate);
        assert_eq!(s.observe(1, 3, 3), Observation::Duplicate);
        assert_eq!((s.duplicates, s.seen, s.next), (2, 2, 3));
        assert_eq!(s.last_offset, 3);
    }

    #[test]
    fn duplicate_next_to_a_gap_leaves_the_gap_alone() {
        let mut s = with_gap_up_to(10);
        let gaps = s.gaps.clone();
        assert_eq!(s.observe(1, 300, 3000), Observation::Duplicate);
        assert_eq!(s.observe(10, 301, 3000), Observation::Duplicate);
        assert_eq!(s.gaps, gaps);
        assert_eq!(s.next, 11);
    }

    #[test]
    fn duplicate_of_a_late_arrival_is_duplicate() {
        let mut s = with_gap_up_to(10);
        s.observe(5, 300, 3000);
        assert_eq!(s.observe(5, 301, 3000), Observation::Duplicate);
        assert_eq!((s.late, s.duplicates), (1, 1));
    }

    #[test]
    fn last_offset_and_last_seen_never_go_backwards() {
        let (mut s, _) = StreamState::start(1, 100, 5000, true);
        s.observe(2, 50, 4000);
        assert_eq!((s.last_offset, s.last_seen_ms), (100, 5000));
        // A gap opened by a message with a smaller offset still records both offsets.
        let Observation::Opened(g) = s.observe(5, 60, 4000) else {
            panic!("expected a gap")
        };
        assert_eq!((g.offset_before, g.offset_after), (Some(100), 60));
    }

    #[test]
    fn seq_max_does_not_overflow() {
        let (mut s, gap) = StreamState::start(MAX_SEQ, 0, 0, true);
        assert_eq!(gap.map(|g| (g.first, g.last)), Some((1, MAX_SEQ - 1)));
        assert_eq!(s.next, u64::MAX);
        assert_eq!(s.missing(), MAX_SEQ - 1);
        assert_eq!(s.observe(MAX_SEQ, 1, 1), Observation::Duplicate);
        assert!(matches!(
            s.observe(MAX_SEQ - 1, 2, 2),
            Observation::Late { .. }
        ));
        assert!(matches!(s.observe(1, 3, 3), Observation::Late { .. }));
        assert!(matches!(
            s.observe(MAX_SEQ / 2, 4, 4),
            Observation::Late { split: true, .. }
        ));
        assert_eq!(s.missing(), MAX_SEQ - 4);

        let (mut s, _) = StreamState::start(1, 0, 0, true);
        let obs = s.observe(MAX_SEQ, 1, 1);
        assert!(
            matches!(obs, Observation::Opened(Gap { first: 2, last, .. }) if last == MAX_SEQ - 1)
        );
        assert_eq!(s.next, u64::MAX);
        assert_eq!(s.missing_by_status(), (MAX_SEQ - 2, 0));
    }

    #[cfg(not(debug_assertions))]
    #[test]
    fn out_of_contract_sequences_do_not_panic_in_release() {
        let (mut s, _) = StreamState::start(0, 0, 0, true);
        assert_eq!(s.next, 1);
        assert_eq!(s.observe(0, 1, 1), Observation::Duplicate);
        assert!(matches!(s.observe(u64::MAX, 2, 2), Observation::Opened(_)));
        assert_eq!(s.observe(u64::MAX, 3, 3), Observation::InOrder);
        assert_eq!(s.next, u64::MAX);
        let (mut s, _) = StreamState::start(u64::MAX, 0, 0, true);
        assert_eq!(s.observe(u64::MAX, 1, 1), Observation::InOrder);
        assert_eq!(s.missing(), u64::MAX - 1);
    }

    #[test]
    fn default_state_baselines_on_first_observe() {
        let mut s = StreamState::default();
        assert_eq!(s.observe(7, 3, 9), Observation::InOrder);
        assert_eq!(
            (s.next, s.seen, s.last_offset, s.last_seen_ms),
            (8, 1, 3, 9)
        );
        assert!(s.gaps.is_empty());
    }

    #[test]
    fn confirm_due_is_noop_without_gaps() {
        let (mut s, _) = StreamState::start(1, 0, 0, true);
        let mut out = Vec::new();
        assert_eq!(s.confirm_due(u64::MAX, 0, &mut out), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn confirm_due_confirms_only_due_open_gaps() {
        let (mut s, _) = StreamState::start(1, 0, 1000, true);
        s.observe(3, 1, 1000); // [2,2] detected 1000
        s.observe(5, 2, 2000); // [4,4] detected 2000
        s.observe(7, 3, 3000); // [6,6] detected 3000
        let mut out = Vec::new();
        // due: detected <= 7000 - 5000 = 2000
        assert_eq!(s.confirm_due(7000, 5000, &mut out), 2);
        assert_eq!(out.iter().map(|g| g.first).collect::<Vec<_>>(), vec![2, 4]);
        assert!(
            out.iter()
                .all(|g| g.status == Confirmed && g.confirmed_at_ms == Some(7000))
        );
        assert_eq!(&s.gaps[..2], &out[..]);
        assert_eq!((s.gaps[2].status, s.gaps[2].confirmed_at_ms), (Open, None));
        assert_eq!(s.missing_by_status(), (1, 2));
        // Already confirmed gaps are not confirmed again.
        out.clear();
        assert_eq!(s.confirm_due(8000, 5000, &mut out), 1);
        assert_eq!(out[0].first, 6);
        assert_eq!(s.gaps[0].confirmed_at_ms, Some(7000));
        assert_eq!(s.missing_by_status(), (0, 3));
    }

    #[test]
    fn confirm_due_before_delay_elapsed_since_epoch_confirms_nothing() {
        let (mut s, _) = StreamState::start(5, 0, 0, true);
        let mut out = Vec::new();
        assert_eq!(s.confirm_due(999, 1000, &mut out), 0);
        assert_eq!(s.confirm_due(1000, 1000, &mut out), 1);
    }

    #[test]
    fn late_arrival_into_confirmed_gap_reports_confirmed() {
        let mut s = with_gap_up_to(10); // [2,9] detected 2000
        s.confirm_due(10_000, 1000, &mut Vec::new());
        let obs = s.observe(5, 300, 11_000);
        assert_eq!(
            obs,
            Observation::Late {
                was: Confirmed,
                healed: None,
                split: true
            }
        );
        for g in &s.gaps {
            assert_eq!(
                (g.status, g.detected_at_ms, g.confirmed_at_ms),
                (Confirmed, 2000, Some(10_000))
            );
        }
    }

    #[test]
    fn is_missing_finds_gap_by_binary_search() {
        let mut s = with_gap_up_to(100);
        for seq in (10..100).step_by(10) {
            s.observe(seq, 300, 3000);
        }
        assert_eq!(s.gaps.len(), 10);
        for seq in 1..=101 {
            let hit = s.is_missing(seq).map(|g| (g.first, g.last));
            let expected = s
                .gaps
                .iter()
                .find(|g| g.contains(seq))
                .map(|g| (g.first, g.last));
            assert_eq!(hit, expected, "seq {seq}");
            assert_eq!(hit.is_some(), seq % 10 != 0 && (2..100).contains(&seq));
        }
    }

    #[test]
    fn size_of_state_and_gap() {
        assert!(std::mem::size_of::<StreamState>() <= 80);
        // Gaps are rare and live in a Vec that stays unallocated without them.
        assert!(std::mem::size_of::<Gap>() <= 88);
    }
}
