//! Reading the stamp (producer id, sequence, epoch) out of a message, by the
//! rule configured for its topic. Anything unusable is an [`Unaudited`]
//! reason, never a panic.

mod number;

use std::borrow::Cow;

pub use number::{NumberError, parse_u64};

use crate::config::Source;

/// Longest producer id accepted, in bytes.
pub const MAX_PRODUCER_LEN: usize = 256;

/// Why a message could not be audited. The names are the `reason` label of
/// `gapwatch_messages_unaudited_total`: a fixed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unaudited {
    MissingProducer,
    InvalidProducer,
    MissingSequence,
    InvalidSequence,
    SequenceOutOfRange,
    InvalidEpoch,
    KeyMismatch,
    InvalidJson,
}

impl Unaudited {
    pub const ALL: [Unaudited; 8] = [
        Unaudited::MissingProducer,
        Unaudited::InvalidProducer,
        Unaudited::MissingSequence,
        Unaudited::InvalidSequence,
        Unaudited::SequenceOutOfRange,
        Unaudited::InvalidEpoch,
        Unaudited::KeyMismatch,
        Unaudited::InvalidJson,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Unaudited::MissingProducer => "missing_producer",
            Unaudited::InvalidProducer => "invalid_producer",
            Unaudited::MissingSequence => "missing_sequence",
            Unaudited::InvalidSequence => "invalid_sequence",
            Unaudited::SequenceOutOfRange => "sequence_out_of_range",
            Unaudited::InvalidEpoch => "invalid_epoch",
            Unaudited::KeyMismatch => "key_mismatch",
            Unaudited::InvalidJson => "invalid_json",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Unaudited::MissingProducer => "the producer id is absent",
            Unaudited::InvalidProducer => {
                "the producer id is empty, not UTF-8, has control characters or is over 256 bytes"
            }
            Unaudited::MissingSequence => "the sequence number is absent",
            Unaudited::InvalidSequence => "the sequence is not a plain decimal number",
            Unaudited::SequenceOutOfRange => "the sequence is 0 or above 18446744073709551614",
            Unaudited::InvalidEpoch => "the epoch is not a plain decimal number",
            Unaudited::KeyMismatch => "the message key is absent or does not match key_regex",
            Unaudited::InvalidJson => "the payload is not a JSON document",
        }
    }
}

/// A message's stamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp<'a> {
    pub producer: Cow<'a, str>,
    pub seq: u64,
    pub epoch: u64,
}

/// Looks up a message header's value by name (the first one wins).
pub trait HeaderLookup {
    fn header(&self, name: &str) -> Option<&[u8]>;

    /// The values of several headers, as [`HeaderLookup::header`] finds
    /// each (implementations may look in one pass).
    fn headers<const N: usize>(&self, names: [&str; N]) -> [Option<&[u8]>; N] {
        names.map(|name| self.header(name))
    }
}

impl HeaderLookup for [(&str, &[u8])] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

impl HeaderLookup for rdkafka::message::BorrowedHeaders {
    fn header(&self, name: &str) -> Option<&[u8]> {
        use rdkafka::message::Headers;
        self.iter().find(|h| h.key == name).and_then(|h| h.value)
    }

    /// One pass over the message's headers (each read from librdkafka once).
    fn headers<const N: usize>(&self, names: [&str; N]) -> [Option<&[u8]>; N] {
        use rdkafka::message::Headers;
        let mut values = [None; N];
        let mut found = [false; N];
        let mut left = N;
        for h in self.iter() {
            for (i, name) in names.iter().enumerate() {
                if !found[i] && h.key == *name {
                    found[i] = true;
                    values[i] = h.value;
                    left -= 1;
                }
            }
            if left == 0 {
                break;
            }
        }
        values
    }
}

/// No headers at all.
pub struct NoHeaders;

impl HeaderLookup for NoHeaders {
    fn header(&self, _: &str) -> Option<&[u8]> {
        None
    }
}

/// The parts of a message an extractor may read.
pub struct MessageView<'a, H: HeaderLookup + ?Sized> {
    pub headers: &'a H,
    pub key: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
}

/// Extracts the stamp of one message according to `source`.
pub fn extract<'a, H: HeaderLookup + ?Sized>(
    source: &Source,
    msg: &MessageView<'a, H>,
) -> Result<Stamp<'a>, Unaudited> {
    match source {
        Source::Headers {
            producer,
            sequence,
            epoch,
        } => {
            let [p, s, e] = msg.headers.headers([producer, sequence, epoch]);
            let p = p.ok_or(Unaudited::MissingProducer)?;
            let s = s.ok_or(Unaudited::MissingSequence)?;
            stamp(Cow::Borrowed(producer_str(p)?), s, e)
        }
        Source::Key(re) => {
            let key = msg.key.ok_or(Unaudited::KeyMismatch)?;
            let caps = re.captures(key).ok_or(Unaudited::KeyMismatch)?;
            let p = caps.name("producer").ok_or(Unaudited::MissingProducer)?;
            let s = caps.name("seq").ok_or(Unaudited::MissingSequence)?;
            let e = caps.name("epoch").map(|m| m.as_bytes());
            stamp(Cow::Borrowed(producer_str(p.as_bytes())?), s.as_bytes(), e)
        }
        Source::Json {
            producer,
            sequence,
            epoch,
        } => {
            let payload = msg.payload.ok_or(Unaudited::InvalidJson)?;
            let doc: serde_json::Value =
                serde_json::from_slice(payload).map_err(|_| Unaudited::InvalidJson)?;
            let p = match doc.pointer(producer) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(_) => return Err(Unaudited::InvalidProducer),
                None => return Err(Unaudited::MissingProducer),
            };
            producer_str(p.as_bytes())?;
            let seq =
                json_number(doc.pointer(sequence), Unaudited::MissingSequence).map_err(|e| {
                    if e == Unaudited::InvalidEpoch {
                        Unaudited::InvalidSequence
                    } else {
                        e
                    }
                })?;
            let seq = check_seq(seq)?;
            let epoch = match epoch {
                None => 0,
                Some(ptr) => match doc.pointer(ptr) {
                    None | Some(serde_json::Value::Null) => 0,
                    v => json_number(v, Unaudited::InvalidEpoch)?,
                },
            };
            Ok(Stamp {
                producer: Cow::Owned(p),
                seq,
                epoch,
            })
        }
    }
}

fn json_number(v: Option<&serde_json::Value>, missing: Unaudited) -> Result<u64, Unaudited> {
    match v {
        None | Some(serde_json::Value::Null) => Err(missing),
        Some(serde_json::Value::Number(n)) => n.as_u64().ok_or(Unaudited::InvalidEpoch),
        Some(serde_json::Value::String(s)) => {
            parse_u64(s.as_bytes()).map_err(|_| Unaudited::InvalidEpoch)
        }
        Some(_) => Err(Unaudited::InvalidEpoch),
    }
}

fn stamp<'a>(
    producer: Cow<'a, str>,
    seq: &[u8],
    epoch: Option<&[u8]>,
) -> Result<Stamp<'a>, Unaudited> {
    let seq = match parse_u64(seq) {
        Ok(n) => check_seq(n)?,
        Err(NumberError::TooLarge) => return Err(Unaudited::SequenceOutOfRange),
        Err(NumberError::NotANumber) => return Err(Unaudited::InvalidSequence),
    };
    let epoch = match epoch {
        None => 0,
        Some(e) => parse_u64(e).map_err(|_| Unaudited::InvalidEpoch)?,
    };
    Ok(Stamp {
        producer,
        seq,
        epoch,
    })
}

fn check_seq(n: u64) -> Result<u64, Unaudited> {
    if n == 0 || n > crate::engine::MAX_SEQ {
        Err(Unaudited::SequenceOutOfRange)
    } else {
        Ok(n)
    }
}

fn producer_str(bytes: &[u8]) -> Result<&str, Unaudited> {
    if bytes.is_empty() || bytes.len() > MAX_PRODUCER_LEN {
        return Err(Unaudited::InvalidProducer);
    }
    let s = std::str::from_utf8(bytes).map_err(|_| Unaudited::InvalidProducer)?;
    if s.chars().any(char::is_control) {
        return Err(Unaudited::InvalidProducer);
    }
    Ok(s)
}

#[cfg(test)]
mod tests;
