//! RocksDB key layout. Every key starts with the stream's topic and
//! partition so that one prefix selects a topic, a partition, a producer or
//! a stream:
//!
//! ```text
//! stream key  = u8 topic_len, topic, u32 partition (BE), u16 producer_len, producer, u64 epoch (BE)
//! gap key     = stream key, u64 first_seq (BE)
//! offset key  = u8 topic_len, topic, u32 partition (BE)
//! ```
//! Lengths make prefixes unambiguous; big-endian numbers sort numerically.

/// A stream's identity, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamRef<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub producer: &'a str,
    pub epoch: u64,
}

/// A stream's identity, owned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct StreamId {
    pub topic: String,
    pub partition: i32,
    pub producer: String,
    pub epoch: u64,
}

impl StreamId {
    pub fn as_ref(&self) -> StreamRef<'_> {
        StreamRef {
            topic: &self.topic,
            partition: self.partition,
            producer: &self.producer,
            epoch: self.epoch,
        }
    }
}

pub fn topic_prefix(buf: &mut Vec<u8>, topic: &str) {
    buf.push(topic.len().min(255) as u8);
    buf.extend_from_slice(&topic.as_bytes()[..topic.len().min(255)]);
}

pub fn partition_prefix(buf: &mut Vec<u8>, topic: &str, partition: i32) {
    topic_prefix(buf, topic);
    buf.extend_from_slice(&(partition as u32).to_be_bytes());
}

pub fn producer_prefix(buf: &mut Vec<u8>, topic: &str, partition: i32, producer: &str) {
    partition_prefix(buf, topic, partition);
    let p = &producer.as_bytes()[..producer.len().min(u16::MAX as usize)];
    buf.extend_from_slice(&(p.len() as u16).to_be_bytes());
    buf.extend_from_slice(p);
}

pub fn stream_key(buf: &mut Vec<u8>, s: StreamRef<'_>) {
    producer_prefix(buf, s.topic, s.partition, s.producer);
    buf.extend_from_slice(&s.epoch.to_be_bytes());
}

pub fn gap_key(buf: &mut Vec<u8>, s: StreamRef<'_>, first_seq: u64) {
    stream_key(buf, s);
    buf.extend_from_slice(&first_seq.to_be_bytes());
}

/// The smallest key greater than every key starting with `prefix`; `None`
/// when no such key exists (an empty or all-0xff prefix).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Some(head)
}

/// Reads (topic, partition) off the front of a key.
pub fn decode_partition(bytes: &mut &[u8]) -> Option<(String, i32)> {
    let len = *take(bytes, 1)?.first()? as usize;
    let topic = std::str::from_utf8(take(bytes, len)?).ok()?.to_owned();
    let partition = u32::from_be_bytes(take(bytes, 4)?.try_into().ok()?) as i32;
    Some((topic, partition))
}

/// Reads a stream id off the front of a key; the rest stays in `bytes`.
pub fn decode_stream(bytes: &mut &[u8]) -> Option<StreamId> {
    let (topic, partition) = decode_partition(bytes)?;
    let len = u16::from_be_bytes(take(bytes, 2)?.try_into().ok()?) as usize;
    let producer = std::str::from_utf8(take(bytes, len)?).ok()?.to_owned();
    let epoch = u64::from_be_bytes(take(bytes, 8)?.try_into().ok()?);
    Some(StreamId {
        topic,
        partition,
        producer,
        epoch,
    })
}

/// Reads a gap key: the stream and the gap's first sequence.
pub fn decode_gap(mut bytes: &[u8]) -> Option<(StreamId, u64)> {
    let id = decode_stream(&mut bytes)?;
    let first = u64::from_be_bytes(take(&mut bytes, 8)?.try_into().ok()?);
    bytes.is_empty().then_some((id, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_prefixes_nest() {
        let s = StreamRef {
            topic: "orders",
            partition: 7,
            producer: "ProducerA",
            epoch: 3,
        };
        let mut k = Vec::new();
        gap_key(&mut k, s, 42);
        let (id, first) = decode_gap(&k).unwrap();
        assert_eq!(id.as_ref(), s);
        assert_eq!(first, 42);
        let mut p = Vec::new();
        producer_prefix(&mut p, "orders", 7, "ProducerA");
        assert!(k.starts_with(&p));
        let mut other = Vec::new();
        producer_prefix(&mut other, "orders", 7, "ProducerAB");
        assert!(
            !other.starts_with(&p),
            "a longer producer id is not under the shorter one's prefix"
        );
        let mut t = Vec::new();
        topic_prefix(&mut t, "orders");
        let mut t2 = Vec::new();
        topic_prefix(&mut t2, "orders2");
        assert!(!t2.starts_with(&t));
    }

    #[test]
    fn epochs_and_sequences_sort_numerically() {
        let key = |epoch, seq| {
            let mut k = Vec::new();
            gap_key(
                &mut k,
                StreamRef {
                    topic: "t",
                    partition: 0,
                    producer: "p",
                    epoch,
                },
                seq,
            );
            k
        };
        assert!(key(2, 1) < key(10, 1));
        assert!(key(1, 9) < key(1, 100));
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn truncated_keys_do_not_decode() {
        let mut k = Vec::new();
        gap_key(
            &mut k,
            StreamRef {
                topic: "t",
                partition: 0,
                producer: "p",
                epoch: 1,
            },
            5,
        );
        for n in 0..k.len() {
            assert!(decode_gap(&k[..n]).is_none());
        }
    }
}
