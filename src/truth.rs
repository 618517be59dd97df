//! The ground truth loadgen writes with `--truth`: per stream, what was sent
//! and exactly which sequence numbers are missing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An inclusive range of sequence numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeqRange {
    pub first_seq: u64,
    pub last_seq: u64,
}

impl SeqRange {
    pub fn new(first_seq: u64, last_seq: u64) -> SeqRange {
        SeqRange {
            first_seq,
            last_seq,
        }
    }

    pub fn count(&self) -> u64 {
        self.last_seq - self.first_seq + 1
    }

    /// Merges sorted or unsorted numbers into maximal ranges.
    pub fn merge(numbers: &[u64]) -> Vec<SeqRange> {
        let mut sorted = numbers.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut out: Vec<SeqRange> = Vec::new();
        for n in sorted {
            match out.last_mut() {
                Some(r) if r.last_seq + 1 == n => r.last_seq = n,
                _ => out.push(SeqRange::new(n, n)),
            }
        }
        out
    }
}

/// The ways loadgen breaks a stamp on purpose; gapwatch counts each as
/// unaudited with the same reason name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MalformedKind {
    /// The sequence header is absent.
    MissingSequence,
    /// The sequence header is not a decimal number.
    InvalidSequence,
    /// The producer header is absent.
    MissingProducer,
}

impl MalformedKind {
    pub const COUNT: usize = 3;
    pub const ALL: [MalformedKind; MalformedKind::COUNT] = [
        MalformedKind::MissingSequence,
        MalformedKind::InvalidSequence,
        MalformedKind::MissingProducer,
    ];
}

/// What happened to one stream (topic, partition, producer, epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamTruth {
    pub topic: String,
    pub partition: i32,
    pub producer: String,
    pub epoch: u64,
    /// Highest sequence number sent (0 when none was).
    pub max_seq: u64,
    /// Messages handed to Kafka for this stream, duplicates included.
    pub sent: u64,
    /// Numbers never sent that a later message of the stream reveals.
    pub missing: Vec<SeqRange>,
    /// Numbers never sent after the last one sent: nothing can reveal them.
    pub tail: Option<SeqRange>,
    /// Numbers sent twice (the copy right after the original).
    pub duplicates: Vec<u64>,
    /// Neighbours sent swapped: `[a, a+1]` went out as a+1, a.
    pub reorders: Vec<[u64; 2]>,
    /// With `--record-acks`: the numbers Kafka acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked: Option<Vec<SeqRange>>,
}

impl StreamTruth {
    pub fn new(topic: &str, partition: i32, producer: &str, epoch: u64) -> StreamTruth {
        StreamTruth {
            topic: topic.to_owned(),
            partition,
            producer: producer.to_owned(),
            epoch,
            max_seq: 0,
            sent: 0,
            missing: Vec::new(),
            tail: None,
            duplicates: Vec::new(),
            reorders: Vec::new(),
            acked: None,
        }
    }

    /// The exact order in which this stream's sequence numbers were sent,
    /// rebuilt from the truth alone.
    pub fn expected_sequence(&self) -> Vec<u64> {
        let is_missing = |n: u64| {
            self.missing
                .iter()
                .any(|r| r.first_seq <= n && n <= r.last_seq)
        };
        let mut out: Vec<u64> = (1..=self.max_seq).filter(|n| !is_missing(*n)).collect();
        for [a, b] in &self.reorders {
            if let Some(i) = out.iter().position(|n| n == a)
                && out.get(i + 1) == Some(b)
            {
                out.swap(i, i + 1);
            }
        }
        for d in &self.duplicates {
            if let Some(i) = out.iter().position(|n| n == d) {
                out.insert(i + 1, *d);
            }
        }
        out
    }
}

/// The whole truth file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    pub topic: String,
    pub seed: u64,
    pub producers: u32,
    pub partitions: i32,
    pub steps_per_stream: u64,
    /// Messages handed to Kafka, malformed ones included.
    pub sent: u64,
    /// Messages Kafka acknowledged.
    pub acked: u64,
    /// Malformed messages by kind, over all partitions.
    pub malformed: BTreeMap<MalformedKind, u64>,
    /// Malformed messages by partition.
    pub malformed_by_partition: BTreeMap<i32, u64>,
    pub streams: Vec<StreamTruth>,
}

impl Truth {
    pub fn malformed_total(&self) -> u64 {
        self.malformed.values().sum()
    }

    /// Non-tail missing ranges of every stream, keyed by stream.
    pub fn missing_ranges(&self) -> Vec<(&StreamTruth, SeqRange)> {
        self.streams
            .iter()
            .flat_map(|s| s.missing.iter().map(move |r| (s, *r)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_builds_maximal_ranges() {
        assert_eq!(
            SeqRange::merge(&[9, 1, 2, 3, 7, 9]),
            vec![
                SeqRange::new(1, 3),
                SeqRange::new(7, 7),
                SeqRange::new(9, 9)
            ]
        );
        assert!(SeqRange::merge(&[]).is_empty());
    }

    #[test]
    fn expected_sequence_replays_faults() {
        let mut s = StreamTruth::new("t", 0, "p", 1);
        s.max_seq = 8;
        s.missing = vec![SeqRange::new(1, 1), SeqRange::new(7, 7)];
        s.duplicates = vec![3];
        s.reorders = vec![[4, 5]];
        assert_eq!(s.expected_sequence(), vec![2, 3, 3, 5, 4, 6, 8]);
    }
}
