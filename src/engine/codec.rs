//! Compact, versioned binary encoding of [`StreamState`] and [`Gap`] for RocksDB values.
//!
//! Every record starts with a version byte ([`VERSION`]). Integers are LEB128 varints; signed
//! values are zigzag varints. To keep values small, gap fields are stored relative to nearby
//! values with wrapping arithmetic, so any value round-trips:
//!
//! ```text
//! state: version next zz(last_offset) last_seen_ms seen duplicates late gap_count gap*
//! gap:   flags first-base last-first first-origin_first origin_last-last
//!        zz(ref_ms-detected_at_ms) [zz(confirmed_at_ms-detected_at_ms)]
//!        zz(ref_offset-offset_after) [zz(offset_after-offset_before)]
//! flags: bit 0 confirmed, bit 1 confirmed_at_ms present, bit 2 offset_before present
//! ```
//!
//! Inside a state, `base` is the previous gap's `last + 1` (0 for the first gap), `ref_ms` is
//! `last_seen_ms` and `ref_offset` is `last_offset`; a standalone gap record uses 0 for all three.
//! Decoding never panics, allocates at most in proportion to the input, rejects trailing bytes
//! and checks that gaps are well formed (sorted, disjoint, `first <= last < next`).

use std::fmt;

use super::gap::{Gap, GapStatus};
use super::stream::StreamState;

/// The current (and only) encoding version.
pub const VERSION: u8 = 1;

const FLAG_CONFIRMED: u8 = 1;
const FLAG_CONFIRMED_AT: u8 = 2;
const FLAG_OFFSET_BEFORE: u8 = 4;
const KNOWN_FLAGS: u8 = FLAG_CONFIRMED | FLAG_CONFIRMED_AT | FLAG_OFFSET_BEFORE;
/// Fewest bytes one encoded gap can take (flags + six one-byte varints).
const MIN_GAP_BYTES: usize = 7;

/// Which kind of record failed to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    StreamState,
    Gap,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Record::StreamState => "stream state",
            Record::Gap => "gap record",
        })
    }
}

/// Why bytes could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{0} is truncated")]
    Truncated(Record),
    #[error("unknown {record} version {version}")]
    UnknownVersion { record: Record, version: u8 },
    #[error("{0} has a varint longer than 64 bits")]
    VarintOverflow(Record),
    #[error("{record} has unknown gap flags {flags:#04x}")]
    UnknownFlags { record: Record, flags: u8 },
    #[error("stream state claims {claimed} gaps but only {remaining} bytes remain")]
    TooManyGaps { claimed: u64, remaining: usize },
    #[error("{record} is invalid: gap {index} {reason}")]
    InvalidGap {
        record: Record,
        index: usize,
        reason: &'static str,
    },
    #[error("{record} has {count} trailing bytes")]
    TrailingBytes { record: Record, count: usize },
}

/// Values gap fields are stored relative to.
#[derive(Clone, Copy, Default)]
struct Base {
    seq: u64,
    ms: u64,
    offset: i64,
}

/// Appends the encoding of `state` to `buf`.
pub fn encode(state: &StreamState, buf: &mut Vec<u8>) {
    buf.push(VERSION);
    put_u64(buf, state.next);
    put_i64(buf, state.last_offset);
    put_u64(buf, state.last_seen_ms);
    put_u64(buf, state.seen);
    put_u64(buf, state.duplicates);
    put_u64(buf, state.late);
    put_u64(buf, state.gaps.len() as u64);
    let mut base = Base {
        seq: 0,
        ms: state.last_seen_ms,
        offset: state.last_offset,
    };
    for gap in &state.gaps {
        put_gap(buf, gap, base);
        base.seq = gap.last.wrapping_add(1);
    }
}

/// Decodes a state written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<StreamState, DecodeError> {
    let mut r = Reader::new(bytes, Record::StreamState)?;
    let mut state = StreamState {
        next: r.u64()?,
        last_offset: r.i64()?,
        last_seen_ms: r.u64()?,
        seen: r.u64()?,
        duplicates: r.u64()?,
        late: r.u64()?,
        gaps: thin_vec::ThinVec::new(),
    };
    let claimed = r.u64()?;
    let remaining = r.bytes.len();
    if claimed > (remaining / MIN_GAP_BYTES) as u64 {
        return Err(DecodeError::TooManyGaps { claimed, remaining });
    }
    state.gaps.reserve_exact(claimed as usize);
    let mut base = Base {
        seq: 0,
        ms: state.last_seen_ms,
        offset: state.last_offset,
    };
    for _ in 0..claimed {
        let gap = r.gap(base)?;
        base.seq = gap.last.wrapping_add(1);
        state.gaps.push(gap);
    }
    r.finish()?;
    check_gaps(&state)?;
    Ok(state)
}

/// Appends the encoding of a single gap record (e.g. healed-gap history) to `buf`.
pub fn encode_gap(gap: &Gap, buf: &mut Vec<u8>) {
    buf.push(VERSION);
    put_gap(buf, gap, Base::default());
}

/// Decodes a gap record written by [`encode_gap`].
pub fn decode_gap(bytes: &[u8]) -> Result<Gap, DecodeError> {
    let mut r = Reader::new(bytes, Record::Gap)?;
    let gap = r.gap(Base::default())?;
    r.finish()?;
    if gap.first > gap.last {
        return Err(invalid(Record::Gap, 0, "has first after last"));
    }
    if gap.origin_first > gap.first || gap.origin_last < gap.last {
        return Err(invalid(Record::Gap, 0, "lies outside its origin"));
    }
    Ok(gap)
}

fn invalid(record: Record, index: usize, reason: &'static str) -> DecodeError {
    DecodeError::InvalidGap {
        record,
        index,
        reason,
    }
}

/// The invariants [`StreamState::observe`] relies on for its binary search.
fn check_gaps(state: &StreamState) -> Result<(), DecodeError> {
    let invalid = |index, reason| invalid(Record::StreamState, index, reason);
    for (index, gap) in state.gaps.iter().enumerate() {
        if gap.first > gap.last {
            return Err(invalid(index, "has first after last"));
        }
        if gap.last >= state.next {
            return Err(invalid(index, "is not below the next expected sequence"));
        }
        if gap.origin_first > gap.first || gap.origin_last < gap.last {
            return Err(invalid(index, "lies outside its origin"));
        }
        if index > 0 && state.gaps[index - 1].last >= gap.first {
            return Err(invalid(index, "overlaps or precedes the previous gap"));
        }
    }
    Ok(())
}

fn put_gap(buf: &mut Vec<u8>, gap: &Gap, base: Base) {
    let mut flags = 0;
    if gap.status == GapStatus::Confirmed {
        flags |= FLAG_CONFIRMED;
    }
    if gap.confirmed_at_ms.is_some() {
        flags |= FLAG_CONFIRMED_AT;
    }
    if gap.offset_before.is_some() {
        flags |= FLAG_OFFSET_BEFORE;
    }
    buf.push(flags);
    put_u64(buf, gap.first.wrapping_sub(base.seq));
    put_u64(buf, gap.last.wrapping_sub(gap.first));
    put_u64(buf, gap.first.wrapping_sub(gap.origin_first));
    put_u64(buf, gap.origin_last.wrapping_sub(gap.last));
    put_i64(buf, base.ms.wrapping_sub(gap.detected_at_ms) as i64);
    if let Some(at) = gap.confirmed_at_ms {
        put_i64(buf, at.wrapping_sub(gap.detected_at_ms) as i64);
    }
    put_i64(buf, base.offset.wrapping_sub(gap.offset_after));
    if let Some(before) = gap.offset_before {
        put_i64(buf, gap.offset_after.wrapping_sub(before));
    }
}

fn put_u64(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_i64(buf: &mut Vec<u8>, v: i64) {
    put_u64(buf, ((v << 1) ^ (v >> 63)) as u64);
}

struct Reader<'a> {
    bytes: &'a [u8],
    record: Record,
}

impl<'a> Reader<'a> {
    /// Starts reading after checking the version byte.
    fn new(bytes: &'a [u8], record: Record) -> Result<Self, DecodeError> {
        let mut r = Reader { bytes, record };
        match r.u8()? {
            VERSION => Ok(r),
            version => Err(DecodeError::UnknownVersion { record, version }),
        }
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self
            .bytes
            .split_first()
            .ok_or(DecodeError::Truncated(self.record))?;
        self.bytes = rest;
        Ok(b)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::VarintOverflow(self.record));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        let v = self.u64()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn gap(&mut self, base: Base) -> Result<Gap, DecodeError> {
        let flags = self.u8()?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(DecodeError::UnknownFlags {
                record: self.record,
                flags,
            });
        }
        let first = base.seq.wrapping_add(self.u64()?);
        let last = first.wrapping_add(self.u64()?);
        let origin_first = first.wrapping_sub(self.u64()?);
        let origin_last = last.wrapping_add(self.u64()?);
        let detected_at_ms = base.ms.wrapping_sub(self.i64()? as u64);
        let confirmed_at_ms = if flags & FLAG_CONFIRMED_AT != 0 {
            Some(detected_at_ms.wrapping_add(self.i64()? as u64))
        } else {
            None
        };
        let offset_after = base.offset.wrapping_sub(self.i64()?);
        let offset_before = if flags & FLAG_OFFSET_BEFORE != 0 {
            Some(offset_after.wrapping_sub(self.i64()?))
        } else {
            None
        };
        let status = if flags & FLAG_CONFIRMED != 0 {
            GapStatus::Confirmed
        } else {
            GapStatus::Open
        };
        Ok(Gap {
            first,
            last,
            status,
            detected_at_ms,
            confirmed_at_ms,
            offset_before,
            offset_after,
            origin_first,
            origin_last,
        })
    }

    fn finish(self) -> Result<(), DecodeError> {
        match self.bytes.len() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes {
                record: self.record,
                count,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StreamState {
        let (mut s, _) = StreamState::start(3, 1_000_000, 1_700_000_000_000, true);
        s.observe(4, 1_000_001, 1_700_000_000_100);
        s.observe(9, 1_000_002, 1_700_000_000_200);
        s.observe(6, 1_000_003, 1_700_000_000_300);
        s.observe(4, 1_000_004, 1_700_000_000_400);
        s.confirm_due(1_700_000_060_000, 60_000, &mut Vec::new());
        s
    }

    fn encoded(s: &StreamState) -> Vec<u8> {
        let mut buf = Vec::new();
        encode(s, &mut buf);
        buf
    }

    #[test]
    fn state_round_trips() {
        let s = sample();
        assert_eq!(s.gaps.len(), 3);
        assert_eq!(decode(&encoded(&s)), Ok(s));
    }

    #[test]
    fn gap_record_round_trips() {
        for gap in sample().gaps {
            let mut buf = Vec::new();
            encode_gap(&gap, &mut buf);
            assert_eq!(decode_gap(&buf), Ok(gap));
        }
    }

    #[test]
    fn encode_appends() {
        let mut buf = vec![0xaa];
        encode(&sample(), &mut buf);
        assert_eq!(buf[0], 0xaa);
        assert_eq!(decode(&buf[1..]), Ok(sample()));
    }

    #[test]
    fn in_order_state_is_compact() {
        let (mut s, _) = StreamState::start(1, 123_456_789, 1_700_000_000_000, true);
        for seq in 2..=100_000 {
            s.observe(seq, 123_456_789 + seq as i64, 1_700_000_000_000 + seq);
        }
        let len = encoded(&s).len();
        assert!(len <= 24, "{len} bytes");
        let with_gaps = sample();
        let without_gaps = StreamState {
            gaps: thin_vec::ThinVec::new(),
            ..with_gaps.clone()
        };
        let per_gap =
            (encoded(&with_gaps).len() - encoded(&without_gaps).len()) / with_gaps.gaps.len();
        assert!(per_gap <= 10, "{per_gap} bytes per gap");
    }

    #[test]
    fn empty_input_is_truncated() {
        assert_eq!(
            decode(&[]),
            Err(DecodeError::Truncated(Record::StreamState))
        );
        assert_eq!(decode_gap(&[]), Err(DecodeError::Truncated(Record::Gap)));
        assert_eq!(
            decode(&[]).unwrap_err().to_string(),
            "stream state is truncated"
        );
    }

    #[test]
    fn every_strict_prefix_is_rejected_as_truncated() {
        let buf = encoded(&sample());
        for len in 0..buf.len() {
            // Cut right after the gap count, the count itself is what no longer fits.
            assert!(
                matches!(
                    decode(&buf[..len]),
                    Err(DecodeError::Truncated(Record::StreamState)
                        | DecodeError::TooManyGaps { .. })
                ),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn unknown_version_is_reported() {
        let mut buf = encoded(&sample());
        buf[0] = 7;
        let err = decode(&buf).unwrap_err();
        assert_eq!(err.to_string(), "unknown stream state version 7");
        assert_eq!(
            decode_gap(&[0]).unwrap_err().to_string(),
            "unknown gap record version 0"
        );
    }

    #[test]
    fn huge_gap_count_is_rejected_without_allocating() {
        let mut buf = vec![VERSION, 10, 0, 0, 1, 0, 0];
        put_u64(&mut buf, u64::MAX);
        buf.extend_from_slice(&[0; 12]);
        let err = decode(&buf).unwrap_err();
        assert_eq!(
            err,
            DecodeError::TooManyGaps {
                claimed: u64::MAX,
                remaining: 12
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "stream state claims {} gaps but only 12 bytes remain",
                u64::MAX
            )
        );
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut buf = encoded(&sample());
        buf.push(0);
        assert_eq!(
            decode(&buf).unwrap_err().to_string(),
            "stream state has 1 trailing bytes"
        );
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let mut buf = vec![VERSION];
        buf.extend_from_slice(&[0xff; 9]);
        buf.push(0x02);
        assert_eq!(
            decode(&buf).unwrap_err().to_string(),
            "stream state has a varint longer than 64 bits"
        );
        // The largest 10-byte varint is u64::MAX.
        let mut buf = Vec::new();
        put_u64(&mut buf, u64::MAX);
        assert_eq!(buf.len(), 10);
        assert_eq!(
            Reader {
                bytes: &buf,
                record: Record::Gap
            }
            .u64(),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn unknown_gap_flags_are_rejected() {
        let buf = [VERSION, 0x08, 1, 0, 0, 0];
        assert_eq!(
            decode_gap(&buf).unwrap_err().to_string(),
            "gap record has unknown gap flags 0x08"
        );
    }

    #[test]
    fn malformed_gaps_are_rejected() {
        let mut s = sample();
        s.gaps.swap(0, 1);
        assert_eq!(
            decode(&encoded(&s)).unwrap_err().to_string(),
            "stream state is invalid: gap 1 overlaps or precedes the previous gap"
        );
        let mut s = sample();
        s.next = s.gaps[2].last;
        assert_eq!(
            decode(&encoded(&s)).unwrap_err().to_string(),
            "stream state is invalid: gap 2 is not below the next expected sequence"
        );
        let mut gap = sample().gaps[0].clone();
        gap.first = gap.last + 1;
        let mut buf = Vec::new();
        encode_gap(&gap, &mut buf);
        assert_eq!(
            decode_gap(&buf).unwrap_err().to_string(),
            "gap record is invalid: gap 0 has first after last"
        );
    }

    #[test]
    fn zigzag_covers_extremes() {
        for v in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            let mut buf = Vec::new();
            put_i64(&mut buf, v);
            assert_eq!(
                Reader {
                    bytes: &buf,
                    record: Record::Gap
                }
                .i64(),
                Ok(v)
            );
        }
    }
}
