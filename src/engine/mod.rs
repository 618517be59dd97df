//! The pure sequence engine: per-stream gap, late-arrival and duplicate detection.
//!
//! Producers stamp each message with a sequence number starting at 1 and growing by one per
//! stream (topic, partition, producer id, epoch). [`StreamState`] holds one stream's audit state;
//! [`StreamState::observe`] classifies each arrival:
//!
//! - `seq == next`: [`Observation::InOrder`];
//! - `seq > next`: [`Observation::Opened`] with the gap `[next, seq-1]`, and `next = seq + 1`;
//! - `seq < next` inside a gap: [`Observation::Late`], shrinking, splitting or healing the piece;
//! - `seq < next` otherwise (seen before, or below the baseline of a stream started without a
//!   leading gap): [`Observation::Duplicate`].
//!
//! Gaps still open after a confirmation delay are marked lost by [`StreamState::confirm_due`].
//! [`codec`] stores states and single gap records compactly for RocksDB.
//!
//! Details worth knowing:
//! - `last_offset` and `last_seen_ms` only grow (`max` of what was seen).
//! - A gap opened by a jump takes `offset_before = last_offset` at that moment: the offset of
//!   sequence `next - 1`, unless a late arrival or duplicate with a higher offset came in between.
//! - `gaps` stays an unallocated empty `Vec` until the first gap: in-order traffic never allocates.
//! - The engine does no I/O, takes time as an argument and never panics or overflows in release
//!   builds, whatever `u64` it is given (callers guarantee `1 <= seq <= MAX_SEQ`, debug-asserted).

pub mod codec;
mod gap;
mod stream;

pub use codec::DecodeError;
pub use gap::{Gap, GapStatus, MAX_SEQ, Seq};
pub use stream::{Observation, StreamState};

/// Sorted, distinct numbers as maximal inclusive runs of consecutive ones.
pub fn runs(numbers: &std::collections::BTreeSet<Seq>) -> Vec<(Seq, Seq)> {
    let mut out: Vec<(Seq, Seq)> = Vec::new();
    for &n in numbers {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == n => *last = n,
            _ => out.push((n, n)),
        }
    }
    out
}

#[cfg(test)]
mod proptests;
