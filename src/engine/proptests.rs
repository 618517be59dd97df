//! Property tests: the engine against a `BTreeSet` oracle over realistic faulty stream histories,
//! confirmation timing, extreme sequence values, and the codec.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use super::codec;
use super::{Gap, GapStatus, MAX_SEQ, Observation, Seq, StreamState, runs};

// ---- history generator ----------------------------------------------------------------------

/// One transport fault applied to the list of sent sequence numbers.
#[derive(Clone, Debug)]
enum Fault {
    Drop(Index),
    DropRun(Index, usize),
    DupNext(Index),
    DupLater(Index, usize),
    Swap(Index),
    Delay(Index, usize),
}

fn fault() -> impl Strategy<Value = Fault> {
    let i = any::<Index>;
    prop_oneof![
        3 => i().prop_map(Fault::Drop),
        1 => (i(), 2..20usize).prop_map(|(i, k)| Fault::DropRun(i, k)),
        2 => i().prop_map(Fault::DupNext),
        2 => (i(), 2..100usize).prop_map(|(i, k)| Fault::DupLater(i, k)),
        3 => i().prop_map(Fault::Swap),
        2 => (i(), 2..50usize).prop_map(|(i, k)| Fault::Delay(i, k)),
    ]
}

fn apply(mut msgs: Vec<Seq>, faults: &[Fault]) -> Vec<Seq> {
    for fault in faults {
        let len = msgs.len();
        if len < 2 {
            break;
        }
        match *fault {
            Fault::Drop(i) => {
                msgs.remove(i.index(len));
            }
            Fault::DropRun(i, k) => {
                let at = i.index(len);
                msgs.drain(at..(at + k).min(len));
            }
            Fault::DupNext(i) => {
                let at = i.index(len);
                msgs.insert(at + 1, msgs[at]);
            }
            Fault::DupLater(i, k) => {
                let at = i.index(len);
                msgs.insert((at + k).min(len), msgs[at]);
            }
            Fault::Swap(i) => {
                let at = i.index(len - 1);
                msgs.swap(at, at + 1);
            }
            Fault::Delay(i, k) => {
                let at = i.index(len);
                let seq = msgs.remove(at);
                msgs.insert((at + k).min(len - 1), seq);
            }
        }
    }
    msgs
}

/// Arrival order of a stream whose producer sent `1..=n`: mostly in order with faults, sometimes
/// arbitrarily shuffled.
fn history() -> impl Strategy<Value = Vec<Seq>> {
    let faulty =
        (1..=300u64, vec(fault(), 0..60)).prop_map(|(n, faults)| apply((1..=n).collect(), &faults));
    let shuffled = (1..=300u64, vec(fault(), 0..20))
        .prop_flat_map(|(n, faults)| Just(apply((1..=n).collect(), &faults)).prop_shuffle());
    prop_oneof![4 => faulty, 1 => shuffled].prop_filter("empty history", |h| !h.is_empty())
}

// ---- oracle ---------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Expected {
    InOrder,
    Opened {
        first: Seq,
        last: Seq,
    },
    Late {
        was: GapStatus,
        healed: bool,
        split: bool,
    },
    Duplicate,
}

/// Classifies arrivals from the set of seen numbers alone.
struct Oracle {
    /// Numbers below this are never missing (1 with a leading gap, else the first arrival).
    floor: Seq,
    seen: BTreeSet<Seq>,
    max: Seq,
    duplicates: u64,
    late: u64,
    last_offset: i64,
    /// Offset of the first (accepted) arrival of each number.
    first_offset: BTreeMap<Seq, i64>,
    /// Expected `offset_before` of a gap piece starting right after the key.
    before: BTreeMap<Seq, i64>,
    /// Per missing number: (detected_at_ms, confirmed_at_ms). Only kept when `track`.
    status: BTreeMap<Seq, (u64, Option<u64>)>,
    /// Per missing number: the range of the gap it was first detected in.
    origin: BTreeMap<Seq, (Seq, Seq)>,
    track: bool,
    ever_gap: bool,
}

impl Oracle {
    fn start(seq: Seq, offset: i64, now: u64, leading: bool, track: bool) -> Oracle {
        let mut o = Oracle {
            floor: if leading { 1 } else { seq },
            seen: BTreeSet::from([seq]),
            max: seq,
            duplicates: 0,
            late: 0,
            last_offset: offset,
            first_offset: BTreeMap::from([(seq, offset)]),
            before: BTreeMap::new(),
            status: BTreeMap::new(),
            origin: BTreeMap::new(),
            track,
            ever_gap: leading && seq > 1,
        };
        if leading {
            o.mark_detected(1, seq - 1, now);
        }
        o
    }

    fn mark_detected(&mut self, first: Seq, last: Seq, now: u64) {
        // Every number's origin, for the ranges of ordinary histories; the
        // huge ones of extreme sequences only at their ends.
        if last - first < 100_000 {
            for x in first..=last {
                self.origin.insert(x, (first, last));
            }
        } else {
            self.origin.insert(first, (first, last));
            self.origin.insert(last, (first, last));
        }
        if self.track {
            for x in first..=last {
                self.status.insert(x, (now, None));
            }
        }
    }

    fn is_missing(&self, x: Seq) -> bool {
        self.floor <= x && x <= self.max && !self.seen.contains(&x)
    }

    fn arrive(&mut self, seq: Seq, offset: i64, now: u64) -> Expected {
        let expected = if seq < self.floor || self.seen.contains(&seq) {
            self.duplicates += 1;
            Expected::Duplicate
        } else if seq > self.max {
            let expected = if seq == self.max + 1 {
                Expected::InOrder
            } else {
                self.before.insert(self.max, self.last_offset);
                self.mark_detected(self.max + 1, seq - 1, now);
                self.ever_gap = true;
                Expected::Opened {
                    first: self.max + 1,
                    last: seq - 1,
                }
            };
            self.max = seq;
            expected
        } else {
            self.late += 1;
            self.before.insert(seq, offset);
            let was = match self.status.get(&seq) {
                Some((_, Some(_))) => GapStatus::Confirmed,
                _ => GapStatus::Open,
            };
            let (left, right) = (self.is_missing(seq - 1), self.is_missing(seq + 1));
            Expected::Late {
                was,
                healed: !left && !right,
                split: left && right,
            }
        };
        if expected != Expected::Duplicate {
            self.seen.insert(seq);
            self.first_offset.insert(seq, offset);
            self.status.remove(&seq);
            self.origin.remove(&seq);
        }
        self.last_offset = self.last_offset.max(offset);
        expected
    }

    fn confirm(&mut self, now: u64, after: u64) {
        let due = i128::from(now) - i128::from(after);
        for (detected, confirmed) in self.status.values_mut() {
            if confirmed.is_none() && i128::from(*detected) <= due {
                *confirmed = Some(now);
            }
        }
    }

    /// `{floor..=max} \ seen` as maximal inclusive ranges.
    fn gaps(&self) -> Vec<(Seq, Seq)> {
        let mut ranges = Vec::new();
        let mut prev = self.floor - 1;
        for &x in self.seen.range(self.floor..) {
            if x > prev + 1 {
                ranges.push((prev + 1, x - 1));
            }
            prev = x;
        }
        ranges
    }
}

// ---- checks ---------------------------------------------------------------------------------

/// Compares the whole engine state with the oracle; `full` also checks every missing number.
fn check_state(s: &StreamState, o: &Oracle, full: bool) -> Result<(), TestCaseError> {
    let ranges: Vec<(Seq, Seq)> = s.gaps.iter().map(|g| (g.first, g.last)).collect();
    let expected = o.gaps();
    prop_assert_eq!(&ranges, &expected);
    let missing: u64 = expected.iter().map(|(f, l)| l - f + 1).sum();
    prop_assert_eq!(s.missing(), missing);
    prop_assert_eq!(s.next, o.max + 1);
    prop_assert_eq!(s.seen, o.seen.len() as u64);
    prop_assert_eq!(s.duplicates, o.duplicates);
    prop_assert_eq!(s.late, o.late);
    prop_assert_eq!(s.last_offset, o.last_offset);
    if !o.ever_gap {
        prop_assert_eq!(s.gaps.capacity(), 0, "a stream without gaps allocated");
    }
    for g in &s.gaps {
        for x in [g.first, g.last] {
            if let Some(origin) = o.origin.get(&x) {
                prop_assert_eq!(*origin, g.origin(), "origin of {:?}", g);
            } else {
                prop_assert!(
                    g.origin_last - g.origin_first >= 100_000,
                    "no origin for {}",
                    x
                );
            }
        }
        prop_assert_eq!(s.has_piece_of(g.origin()), true);
        let before = if g.first == o.floor {
            None
        } else {
            o.before.get(&(g.first - 1)).copied()
        };
        prop_assert_eq!(g.offset_before, before);
        prop_assert_eq!(
            g.status == GapStatus::Confirmed,
            g.confirmed_at_ms.is_some()
        );
    }
    if !o.track {
        return Ok(());
    }
    prop_assert_eq!(o.status.len() as u64, missing);
    let confirmed = o.status.values().filter(|(_, c)| c.is_some()).count() as u64;
    prop_assert_eq!(s.missing_by_status(), (missing - confirmed, confirmed));
    for g in &s.gaps {
        let numbers: Vec<Seq> = if full {
            (g.first..=g.last).collect()
        } else {
            vec![g.first, g.last]
        };
        for x in numbers {
            prop_assert_eq!(
                o.status.get(&x),
                Some(&(g.detected_at_ms, g.confirmed_at_ms)),
                "times of missing {} in {:?}",
                x,
                g
            );
        }
    }
    Ok(())
}

fn check_observation(
    obs: Observation,
    expected: Expected,
    piece: Option<Gap>,
    fresh: Gap,
    s: &StreamState,
) -> Result<(), TestCaseError> {
    match (obs, expected) {
        (Observation::InOrder, Expected::InOrder)
        | (Observation::Duplicate, Expected::Duplicate) => {}
        (Observation::Opened(g), Expected::Opened { first, last }) => {
            prop_assert_eq!(s.gaps.last(), Some(&g));
            prop_assert_eq!(
                g,
                Gap {
                    first,
                    last,
                    origin_first: first,
                    origin_last: last,
                    ..fresh
                }
            );
        }
        (
            Observation::Late { was, healed, split },
            Expected::Late {
                was: was_expected,
                healed: healed_expected,
                split: split_expected,
            },
        ) => {
            prop_assert_eq!(was, was_expected);
            prop_assert_eq!(split, split_expected);
            prop_assert_eq!(healed.is_some(), healed_expected);
            prop_assert_eq!(piece.as_ref().map(|p| p.status), Some(was));
            if let Some(healed) = healed {
                prop_assert_eq!(healed.count(), 1);
                prop_assert_eq!(Some(healed), piece);
            }
        }
        (obs, expected) => prop_assert!(false, "engine said {:?}, oracle {:?}", obs, expected),
    }
    Ok(())
}

fn confirm_step(
    s: &mut StreamState,
    o: &mut Oracle,
    now: u64,
    after: u64,
) -> Result<(), TestCaseError> {
    let before = s.gaps.clone();
    let due = |g: &Gap| {
        g.status == GapStatus::Open
            && i128::from(g.detected_at_ms) <= i128::from(now) - i128::from(after)
    };
    let expected: Vec<Gap> = before
        .iter()
        .filter(|g| due(g))
        .map(|g| Gap {
            status: GapStatus::Confirmed,
            confirmed_at_ms: Some(now),
            ..g.clone()
        })
        .collect();
    let sentinel = Gap {
        first: 0,
        last: 0,
        ..before.first().cloned().unwrap_or(Gap {
            first: 0,
            last: 0,
            status: GapStatus::Open,
            detected_at_ms: 0,
            confirmed_at_ms: None,
            offset_before: None,
            offset_after: 0,
            origin_first: 0,
            origin_last: 0,
        })
    };
    let mut out = vec![sentinel.clone()];
    let n = s.confirm_due(now, after, &mut out);
    prop_assert_eq!(out.remove(0), sentinel, "confirm_due must append");
    prop_assert_eq!(n, expected.len());
    prop_assert_eq!(&out, &expected);
    let after_call: Vec<Gap> = before
        .iter()
        .map(|g| {
            if due(g) {
                expected
                    .iter()
                    .find(|e| e.first == g.first)
                    .unwrap()
                    .clone()
            } else {
                g.clone()
            }
        })
        .collect();
    prop_assert_eq!(&s.gaps, &after_call);
    o.confirm(now, after);
    check_state(s, o, false)
}

/// Feeds `history` to the engine and the oracle, arrival `i` at offset `1000 + 3i` and time
/// `time(i)`, calling `confirm_due` after arrival `i` for each `(now, after)` in `confirms[i]`.
fn run(
    history: &[Seq],
    leading: bool,
    track: bool,
    time: impl Fn(usize) -> u64,
    confirms: &BTreeMap<usize, Vec<(u64, u64)>>,
) -> Result<StreamState, TestCaseError> {
    let offset = |i: usize| 1000 + 3 * i as i64;
    let (mut s, gap) = StreamState::start(history[0], offset(0), time(0), leading);
    let mut o = Oracle::start(history[0], offset(0), time(0), leading, track);
    let leading_gap = (leading && history[0] > 1).then(|| Gap {
        first: 1,
        last: history[0] - 1,
        status: GapStatus::Open,
        detected_at_ms: time(0),
        confirmed_at_ms: None,
        offset_before: None,
        offset_after: offset(0),
        origin_first: 1,
        origin_last: history[0] - 1,
    });
    prop_assert_eq!(&gap, &leading_gap);
    check_state(&s, &o, false)?;
    for (i, &seq) in history.iter().enumerate() {
        if i > 0 {
            let (off, now) = (offset(i), time(i));
            let piece = s.is_missing(seq).cloned();
            prop_assert_eq!(piece.is_some(), o.is_missing(seq));
            let fresh = Gap {
                first: 0,
                last: 0,
                status: GapStatus::Open,
                detected_at_ms: now,
                confirmed_at_ms: None,
                offset_before: Some(o.last_offset),
                offset_after: off,
                origin_first: 0,
                origin_last: 0,
            };
            let expected = o.arrive(seq, off, now);
            let obs = s.observe(seq, off, now);
            check_observation(obs, expected, piece, fresh, &s)?;
            check_state(&s, &o, false)?;
        }
        for &(now, after) in confirms.get(&i).into_iter().flatten() {
            confirm_step(&mut s, &mut o, now, after)?;
        }
    }
    check_state(&s, &o, true)?;
    for x in o.floor.saturating_sub(1)..=o.max.saturating_add(1).min(o.floor.saturating_add(1000)) {
        prop_assert_eq!(
            s.is_missing(x).is_some(),
            o.is_missing(x),
            "is_missing({})",
            x
        );
    }
    let mut buf = Vec::new();
    codec::encode(&s, &mut buf);
    prop_assert_eq!(codec::decode(&buf), Ok(s.clone()));
    for g in &s.gaps {
        buf.clear();
        codec::encode_gap(g, &mut buf);
        prop_assert_eq!(codec::decode_gap(&buf), Ok(g.clone()));
    }
    Ok(s)
}

proptest! {
    #[test]
    fn engine_matches_oracle_on_faulty_histories(history in history()) {
        for leading in [true, false] {
            run(&history, leading, true, |i| 1_000 + i as u64, &BTreeMap::new())?;
        }
    }

    #[test]
    fn confirm_due_confirms_exactly_the_due_gaps(
        history in history(),
        // Small ranges so detection times often sit exactly on the `now - confirm_after` boundary.
        times in vec(0u64..60, 1..50),
        confirms in vec((any::<Index>(), 0u64..150, 0u64..80), 1..20),
        leading in any::<bool>(),
    ) {
        let mut at: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
        for (i, now, after) in confirms {
            at.entry(i.index(history.len())).or_default().push((now, after));
        }
        run(&history, leading, true, |i| times[i % times.len()], &at)?;
    }

    #[test]
    fn extreme_sequences_match_oracle(
        history in vec(prop_oneof![1..=MAX_SEQ, (MAX_SEQ - 64)..=MAX_SEQ, 1u64..64], 1..100),
        leading in any::<bool>(),
    ) {
        let s = run(&history, leading, false, |i| i as u64, &BTreeMap::new())?;
        for w in s.gaps.windows(2) {
            prop_assert!(w[0].last + 1 < w[1].first, "pieces are separated by a seen number");
        }
    }

    #[test]
    fn codec_round_trips_any_valid_state(state in arb_state()) {
        let mut buf = Vec::new();
        codec::encode(&state, &mut buf);
        prop_assert_eq!(codec::decode(&buf), Ok(state));
    }

    #[test]
    fn codec_round_trips_any_gap(gap in arb_gap()) {
        let mut buf = Vec::new();
        codec::encode_gap(&gap, &mut buf);
        prop_assert_eq!(codec::decode_gap(&buf), Ok(gap));
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..200),
        versioned in any::<bool>(),
    ) {
        let mut input = if versioned { vec![codec::VERSION] } else { Vec::new() };
        input.extend_from_slice(&bytes);
        if let Ok(state) = codec::decode(&input) {
            prop_assert!(state.gaps.capacity() <= input.len());
            check_well_formed(&state)?;
        }
        if let Ok(gap) = codec::decode_gap(&input) {
            prop_assert!(gap.first <= gap.last);
        }
    }

    #[test]
    fn decode_never_panics_on_corrupted_states(
        state in arb_state(),
        edits in vec((any::<Index>(), any::<u8>()), 1..4),
        cut in any::<Index>(),
    ) {
        let mut buf = Vec::new();
        codec::encode(&state, &mut buf);
        for (i, b) in edits {
            let at = i.index(buf.len());
            buf[at] = b;
        }
        let len = buf.len();
        for bytes in [&buf[..], &buf[..cut.index(len)]] {
            if let Ok(state) = codec::decode(bytes) {
                check_well_formed(&state)?;
            }
            let _ = codec::decode_gap(bytes);
        }
    }
}

fn check_well_formed(s: &StreamState) -> Result<(), TestCaseError> {
    for (i, g) in s.gaps.iter().enumerate() {
        prop_assert!(g.first <= g.last && g.last < s.next);
        if i > 0 {
            prop_assert!(s.gaps[i - 1].last < g.first);
        }
    }
    Ok(())
}

fn arb_gap_fields() -> impl Strategy<Value = (bool, u64, Option<u64>, Option<i64>, i64)> {
    (
        any::<bool>(),
        prop_oneof![any::<u64>(), 1_700_000_000_000u64..1_800_000_000_000],
        any::<Option<u64>>(),
        any::<Option<i64>>(),
        any::<i64>(),
    )
}

fn make_gap(first: Seq, last: Seq, fields: (bool, u64, Option<u64>, Option<i64>, i64)) -> Gap {
    let (confirmed, detected_at_ms, confirmed_at_ms, offset_before, offset_after) = fields;
    Gap {
        first,
        last,
        status: if confirmed {
            GapStatus::Confirmed
        } else {
            GapStatus::Open
        },
        detected_at_ms,
        confirmed_at_ms,
        offset_before,
        offset_after,
        origin_first: first.saturating_sub(first % 3),
        origin_last: last.saturating_add(last % 5),
    }
}

fn arb_gap() -> impl Strategy<Value = Gap> {
    (any::<u64>(), any::<u64>(), arb_gap_fields())
        .prop_map(|(a, b, fields)| make_gap(a.min(b), a.max(b), fields))
}

/// Any state whose gaps are sorted, disjoint and below `next`; other fields arbitrary.
fn arb_state() -> impl Strategy<Value = StreamState> {
    let bounds = prop_oneof![any::<u64>(), 0u64..1_000];
    (
        vec((bounds, any::<bool>(), arb_gap_fields()), 0..12),
        any::<u64>(),
        any::<i64>(),
        any::<[u64; 4]>(),
    )
        .prop_map(
            |(raw, next, last_offset, [last_seen_ms, seen, duplicates, late])| {
                let mut raw: Vec<_> = raw.into_iter().filter(|(b, _, _)| *b < u64::MAX).collect();
                raw.sort_by_key(|(b, _, _)| *b);
                raw.dedup_by_key(|(b, _, _)| *b);
                let gaps: Vec<Gap> = raw
                    .chunks_exact(2)
                    .map(|pair| {
                        let (first, single, fields) = pair[0];
                        let last = if single { first } else { pair[1].0 };
                        make_gap(first, last, fields)
                    })
                    .collect();
                let next = gaps.last().map_or(next, |g| next.max(g.last + 1));
                StreamState {
                    next,
                    last_offset,
                    last_seen_ms,
                    seen,
                    duplicates,
                    late,
                    gaps: gaps.into(),
                }
            },
        )
}

proptest! {
    /// Outside the caller contract (`seq` 0 or `u64::MAX`, offsets and times anywhere) the engine
    /// must still not panic or overflow in release, and keep its gaps well formed.
    #[cfg(not(debug_assertions))]
    #[test]
    fn any_u64_input_never_panics_in_release(
        arrivals in vec(
            (prop_oneof![any::<u64>(), Just(0), Just(u64::MAX), Just(MAX_SEQ), 0u64..300], any::<i64>(), any::<u64>()),
            1..100,
        ),
        leading in any::<bool>(),
        confirm in any::<(u64, u64)>(),
    ) {
        let (seq, offset, now) = arrivals[0];
        let (mut s, _) = StreamState::start(seq, offset, now, leading);
        for &(seq, offset, now) in &arrivals[1..] {
            s.observe(seq, offset, now);
            let _ = s.is_missing(seq);
        }
        s.confirm_due(confirm.0, confirm.1, &mut Vec::new());
        let _ = (s.missing(), s.missing_by_status());
        check_well_formed(&s)?;
        let mut buf = Vec::new();
        codec::encode(&s, &mut buf);
        prop_assert_eq!(codec::decode(&buf), Ok(s));
    }
}

proptest! {
    /// A log truncated at any offset: the numbers accepted at or after the cut become missing,
    /// exactly, and nothing else changes; each of them that arrives again is a late arrival.
    #[test]
    fn forgetting_a_truncated_tail_makes_exactly_those_numbers_missing(
        arrivals in vec(1u64..60, 1..80),
        leading in any::<bool>(),
        cut in 0i64..80,
        again in vec(1u64..70, 0..20),
    ) {
        let (mut s, _) = StreamState::start(arrivals[0], 0, 0, leading);
        let mut accepted = vec![(0i64, arrivals[0])];
        for (i, &q) in arrivals.iter().enumerate().skip(1) {
            if s.observe(q, i as i64, 0) != Observation::Duplicate {
                accepted.push((i as i64, q));
            }
        }
        let missing_before: BTreeSet<Seq> = s.gaps.iter().flat_map(|g| g.first..=g.last).collect();
        let forgotten: BTreeSet<Seq> =
            accepted.iter().filter(|(o, _)| *o >= cut).map(|(_, q)| *q).collect();
        let next = s.next;
        for (first, last) in runs(&forgotten) {
            let gap = s.forget(first, last, cut, 5);
            prop_assert_eq!(gap.map(|g| (g.first, g.last, g.status)), Some((first, last, GapStatus::Open)));
        }
        let expected: BTreeSet<Seq> = missing_before.union(&forgotten).copied().collect();
        let got: BTreeSet<Seq> = s.gaps.iter().flat_map(|g| g.first..=g.last).collect();
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(s.next, next);
        prop_assert!(s.gaps.windows(2).all(|w| w[0].last < w[1].first));
        prop_assert!(s.gaps.iter().all(|g| g.first <= g.last && g.last < s.next));
        // Forgetting what is already missing changes nothing.
        for &q in &missing_before {
            prop_assert_eq!(s.forget(q, q, cut, 6), None);
        }
        let mut still = expected;
        for q in again {
            let o = s.observe(q, 1_000, 7);
            if still.remove(&q) {
                let late = matches!(o, Observation::Late { .. });
                prop_assert!(late, "{} came back but was classified {:?}", q, o);
            }
        }
    }
}
