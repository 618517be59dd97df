//! Values stored beside the engine's own stream encoding.

use crate::engine::{Gap, StreamState, codec};

/// A stream as persisted: the engine's state plus what the API needs to
/// know about how the stream began.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredStream {
    /// The first sequence gapwatch accounts for: 1 when the stream was read
    /// from its beginning, else the first number seen (the baseline).
    pub baseline: u64,
    /// When gapwatch first saw the stream (unix ms).
    pub created_ms: u64,
    pub state: StreamState,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("stored record is truncated")]
    Truncated,
    #[error("stored stream state is unreadable: {0}")]
    Stream(#[from] codec::DecodeError),
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64, RecordError> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(RecordError::Truncated)
}

impl StoredStream {
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.baseline.to_be_bytes());
        buf.extend_from_slice(&self.created_ms.to_be_bytes());
        codec::encode(&self.state, buf);
    }

    pub fn decode(bytes: &[u8]) -> Result<StoredStream, RecordError> {
        Ok(StoredStream {
            baseline: u64_at(bytes, 0)?,
            created_ms: u64_at(bytes, 8)?,
            state: codec::decode(bytes.get(16..).ok_or(RecordError::Truncated)?)?,
        })
    }
}

/// A gap that healed: every missing number arrived late.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealedGap {
    pub gap: Gap,
    pub healed_at_ms: u64,
}

impl HealedGap {
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.healed_at_ms.to_be_bytes());
        codec::encode_gap(&self.gap, buf);
    }

    pub fn decode(bytes: &[u8]) -> Result<HealedGap, RecordError> {
        Ok(HealedGap {
            healed_at_ms: u64_at(bytes, 0)?,
            gap: codec::decode_gap(bytes.get(8..).ok_or(RecordError::Truncated)?)?,
        })
    }
}

/// What gapwatch knows of a partition it has read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionRecord {
    /// The next offset to process; everything below is reflected in the
    /// stored stream state.
    pub next_offset: i64,
    /// gapwatch read this partition from its very first offset, so a
    /// producer's numbers before its first message there are lost, not
    /// merely unseen.
    pub from_start: bool,
    /// Kafka leader epoch of the last message processed (-1: unknown). A
    /// message below `next_offset` from a later leader epoch means the log
    /// was truncated under gapwatch (an unclean leader election).
    pub leader_epoch: i32,
    /// Offsets below this one were skipped unaudited (deleted by retention
    /// before gapwatch read them): a stream whose last message lies below it
    /// takes its next message as a new baseline, since the numbers between
    /// were in the skipped stretch, not lost in transit. -1: none.
    pub resumed_at: i64,
}

impl PartitionRecord {
    pub fn new(next_offset: i64, from_start: bool) -> PartitionRecord {
        PartitionRecord {
            next_offset,
            from_start,
            leader_epoch: -1,
            resumed_at: -1,
        }
    }

    pub fn encode(&self) -> [u8; 21] {
        let mut out = [0u8; 21];
        out[..8].copy_from_slice(&self.next_offset.to_be_bytes());
        out[8] = u8::from(self.from_start);
        out[9..13].copy_from_slice(&self.leader_epoch.to_be_bytes());
        out[13..].copy_from_slice(&self.resumed_at.to_be_bytes());
        out
    }

    /// Reads a record; the shorter forms of earlier versions (9 bytes: no
    /// leader epoch, 13: no resume point) decode with those unknown.
    pub fn decode(bytes: &[u8]) -> Result<PartitionRecord, RecordError> {
        if !matches!(bytes.len(), 9 | 13 | 21) {
            return Err(RecordError::Truncated);
        }
        let mut r = PartitionRecord::new(u64_at(bytes, 0)? as i64, bytes[8] != 0);
        if bytes.len() >= 13 {
            r.leader_epoch = i32::from_be_bytes([bytes[9], bytes[10], bytes[11], bytes[12]]);
        }
        if bytes.len() == 21 {
            r.resumed_at = u64_at(bytes, 13)? as i64;
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::GapStatus;

    #[test]
    fn records_round_trip_and_truncation_is_an_error() {
        let (mut state, _) = StreamState::start(5, 100, 1_000, false);
        state.observe(9, 101, 2_000);
        let s = StoredStream {
            baseline: 5,
            created_ms: 1_000,
            state,
        };
        let mut buf = Vec::new();
        s.encode(&mut buf);
        assert_eq!(StoredStream::decode(&buf).unwrap(), s);
        for n in 0..buf.len() {
            assert!(
                StoredStream::decode(&buf[..n]).is_err(),
                "prefix of {n} bytes"
            );
        }
        let h = HealedGap {
            gap: Gap {
                first: 6,
                last: 8,
                status: GapStatus::Confirmed,
                detected_at_ms: 2_000,
                confirmed_at_ms: Some(3_000),
                offset_before: Some(100),
                offset_after: 101,
                origin_first: 5,
                origin_last: 8,
            },
            healed_at_ms: 4_000,
        };
        let mut buf = Vec::new();
        h.encode(&mut buf);
        assert_eq!(HealedGap::decode(&buf).unwrap(), h);
        let p = PartitionRecord {
            next_offset: 77,
            from_start: true,
            leader_epoch: 7,
            resumed_at: 50,
        };
        assert_eq!(PartitionRecord::decode(&p.encode()).unwrap(), p);
        let v1 = PartitionRecord::decode(&p.encode()[..9]).unwrap();
        assert_eq!((v1.leader_epoch, v1.resumed_at), (-1, -1));
        let v2 = PartitionRecord::decode(&p.encode()[..13]).unwrap();
        assert_eq!((v2.leader_epoch, v2.resumed_at), (7, -1));
        assert!(PartitionRecord::decode(&[1, 2]).is_err());
    }
}
