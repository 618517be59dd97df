//! The stamping contract between audited producers and gapwatch.
//!
//! Every audited message carries a producer id, a sequence number that starts
//! at 1 and grows by one per (topic, partition, producer, epoch), and
//! optionally the producer's epoch: a producer that restarts without its old
//! sequence takes a higher epoch and starts again at 1.

/// Header holding the producer id (UTF-8).
pub const PRODUCER_HEADER: &str = "x-producer-id";
/// Header holding the sequence number (decimal ASCII u64, starting at 1).
pub const SEQUENCE_HEADER: &str = "x-seq";
/// Header holding the producer epoch (decimal ASCII u64; absent means 0).
pub const EPOCH_HEADER: &str = "x-producer-epoch";

/// The message key loadgen writes, in the style `ProducerA-Partition0-17`.
pub fn message_key(producer: &str, partition: i32, seq: u64) -> String {
    format!("{producer}-Partition{partition}-{seq}")
}
