//! Fuzzing the stamp extractors (headers, key regex, JSON pointers) with
//! arbitrary bytes, on stable Rust: every input in `fuzz/corpus/extract/`,
//! then random inputs and random mutations of the corpus, through all three
//! extractors. An input is one byte string split at 0x1f into producer,
//! sequence, epoch, key and payload (missing fields are absent), so any
//! bytes are a valid input. Each extractor must classify it without a panic:
//! a stamp with a sequence in 1..=MAX_SEQ and a well-formed producer id, or
//! one of the fixed unaudited reasons; for the headers extractor the result
//! must also equal a model written independently here.
//!
//! `GAPWATCH_FUZZ_CASES` sets how many random inputs run (default 5,000;
//! scripts/test.sh runs 50,000).

use std::path::Path;

use gapwatch::config::Source;
use gapwatch::engine::MAX_SEQ;
use gapwatch::extract::{MAX_PRODUCER_LEN, MessageView, Unaudited, extract};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const SEP: u8 = 0x1f;

fn sources() -> [Source; 3] {
    [
        Source::Headers {
            producer: "x-producer-id".into(),
            sequence: "x-seq".into(),
            epoch: "x-producer-epoch".into(),
        },
        Source::Key(
            regex::bytes::Regex::new(
                r"^(?P<producer>.+)-Partition\d+-(?P<seq>[^-]*)(?:-(?P<epoch>.*))?$",
            )
            .unwrap(),
        ),
        Source::Json {
            producer: "/producer".into(),
            sequence: "/seq".into(),
            epoch: Some("/epoch".into()),
        },
    ]
}

/// The headers extractor's contract, written from the documentation.
fn model(
    producer: Option<&[u8]>,
    seq: Option<&[u8]>,
    epoch: Option<&[u8]>,
) -> Result<(String, u64, u64), Unaudited> {
    let producer = producer.ok_or(Unaudited::MissingProducer)?;
    let seq = seq.ok_or(Unaudited::MissingSequence)?;
    let p = std::str::from_utf8(producer)
        .ok()
        .filter(|p| {
            !p.is_empty() && p.len() <= MAX_PRODUCER_LEN && !p.chars().any(char::is_control)
        })
        .ok_or(Unaudited::InvalidProducer)?;
    let digits = |b: &[u8]| !b.is_empty() && b.iter().all(u8::is_ascii_digit);
    if !digits(seq) {
        return Err(Unaudited::InvalidSequence);
    }
    // The value of a digit string, leading zeros and all; None past u64.
    let value = |b: &[u8]| {
        let s = std::str::from_utf8(b).unwrap().trim_start_matches('0');
        if s.is_empty() {
            Some(0)
        } else {
            s.parse::<u64>().ok()
        }
    };
    let n = match value(seq) {
        Some(n) if (1..=MAX_SEQ).contains(&n) => n,
        _ => return Err(Unaudited::SequenceOutOfRange),
    };
    let e = match epoch {
        None => 0,
        Some(e) if digits(e) => value(e).ok_or(Unaudited::InvalidEpoch)?,
        Some(_) => return Err(Unaudited::InvalidEpoch),
    };
    Ok((p.to_owned(), n, e))
}

fn check(data: &[u8]) {
    let mut parts = data.split(|b| *b == SEP);
    let (producer, seq, epoch, key, payload) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    );
    let mut headers: Vec<(&str, &[u8])> = Vec::new();
    for (name, v) in [
        ("x-producer-id", producer),
        ("x-seq", seq),
        ("x-producer-epoch", epoch),
    ] {
        if let Some(v) = v {
            headers.push((name, v));
        }
    }
    let view = MessageView {
        headers: headers.as_slice(),
        key,
        payload,
    };
    for (i, source) in sources().iter().enumerate() {
        let got = extract(source, &view);
        match &got {
            Ok(s) => {
                assert!(
                    (1..=MAX_SEQ).contains(&s.seq),
                    "sequence {} accepted",
                    s.seq
                );
                assert!(!s.producer.is_empty() && s.producer.len() <= MAX_PRODUCER_LEN);
                assert!(!s.producer.chars().any(char::is_control));
            }
            Err(r) => assert!(Unaudited::ALL.contains(r)),
        }
        if i == 0 {
            let got = got.map(|s| (s.producer.into_owned(), s.seq, s.epoch));
            assert_eq!(
                got,
                model(producer, seq, epoch),
                "input {:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/extract");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the seed corpus is in {}", dir.display());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn cases() -> u32 {
    std::env::var("GAPWATCH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

#[test]
fn every_corpus_input_is_classified_without_a_panic() {
    for input in corpus() {
        check(&input);
    }
}

#[test]
fn megabyte_values_are_refused_by_reason_and_not_copied() {
    let big = vec![b'7'; 1 << 20];
    let mut input = b"p".to_vec();
    input.push(SEP);
    input.extend_from_slice(&big);
    check(&input);
    let headers: [(&str, &[u8]); 2] = [("x-producer-id", &big), ("x-seq", b"1")];
    let view = MessageView {
        headers: &headers[..],
        key: None,
        payload: None,
    };
    assert_eq!(
        extract(&sources()[0], &view).unwrap_err(),
        Unaudited::InvalidProducer
    );
}

#[test]
fn random_inputs_are_classified_without_a_panic() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let field = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        "[0-9]{0,25}".prop_map(String::into_bytes),
        "[+ -]?[0-9]{1,21}[ ]?".prop_map(String::into_bytes),
        "[a-zA-Zа-я0-9._-]{0,30}".prop_map(String::into_bytes),
    ];
    let input = prop::collection::vec(field, 0..6).prop_map(|fields| fields.join(&SEP));
    runner
        .run(&input, |data| {
            check(&data);
            Ok(())
        })
        .unwrap();
}

#[test]
fn mutated_corpus_inputs_are_classified_without_a_panic() {
    let seeds = corpus();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let n = seeds.len();
    let mutation = (
        0..n,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    );
    runner
        .run(&mutation, |(i, edits)| {
            let mut data = seeds[i].clone();
            for (at, byte, kind) in edits {
                match kind {
                    0 if !data.is_empty() => {
                        let j = at.index(data.len());
                        data[j] = byte;
                    }
                    1 => {
                        let j = at.index(data.len() + 1);
                        data.insert(j, byte);
                    }
                    _ if !data.is_empty() => {
                        let j = at.index(data.len());
                        data.remove(j);
                    }
                    _ => data.push(byte),
                }
            }
            check(&data);
            Ok(())
        })
        .unwrap();
}
