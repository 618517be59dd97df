//! loadgen against a real broker: what arrives is exactly what the truth
//! file says was sent, for every compression codec, and failed sends fail.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::{Received, bootstrap, create_topic, fresh_topic, gapwatch, loadgen, read_all};
use gapwatch::truth::{MalformedKind, SeqRange, Truth};

type StreamId = (i32, String, u64);

/// Checks, message by message, that the topic's content equals the truth.
fn assert_topic_matches_truth(topic: &str, truth: &Truth) {
    let received = read_all(topic, truth.partitions);
    assert_eq!(
        received.len() as u64,
        truth.sent,
        "every message sent arrived, and nothing else"
    );
    let mut streams: HashMap<StreamId, Vec<u64>> = HashMap::new();
    let mut unstamped: BTreeMap<i32, u64> = BTreeMap::new();
    let mut unstamped_kinds: BTreeMap<MalformedKind, u64> = BTreeMap::new();
    for r in received {
        match r {
            Received::Stamped {
                partition,
                producer,
                epoch,
                seq,
                ..
            } => streams
                .entry((partition, producer, epoch))
                .or_default()
                .push(seq),
            Received::Unstamped {
                partition,
                producer,
                seq,
            } => {
                *unstamped.entry(partition).or_default() += 1;
                let kind = match (producer, seq) {
                    (None, _) => MalformedKind::MissingProducer,
                    (Some(_), None) => MalformedKind::MissingSequence,
                    (Some(_), Some(_)) => MalformedKind::InvalidSequence,
                };
                *unstamped_kinds.entry(kind).or_default() += 1;
            }
        }
    }
    assert_eq!(
        unstamped, truth.malformed_by_partition,
        "malformed per partition"
    );
    assert_eq!(unstamped_kinds, truth.malformed, "malformed per kind");

    let mut seen_streams = 0;
    for s in &truth.streams {
        let id = (s.partition, s.producer.clone(), s.epoch);
        let got = streams.remove(&id).unwrap_or_default();
        assert_eq!(
            got,
            s.expected_sequence(),
            "stream {id:?}: arrival order equals the truth's"
        );
        // The truth's missing ranges are exactly what did not arrive.
        let max = got.iter().copied().max().unwrap_or(0);
        assert_eq!(max, s.max_seq, "stream {id:?}: highest sequence");
        let arrived: std::collections::HashSet<u64> = got.iter().copied().collect();
        let absent: Vec<u64> = (1..=max).filter(|n| !arrived.contains(n)).collect();
        assert_eq!(
            SeqRange::merge(&absent),
            s.missing,
            "stream {id:?}: missing ranges"
        );
        if let Some(tail) = s.tail {
            assert!(
                tail.first_seq > max,
                "stream {id:?}: the tail lies beyond the last sequence"
            );
        }
        if !got.is_empty() {
            seen_streams += 1;
        }
    }
    assert!(
        streams.is_empty(),
        "streams not in the truth arrived: {:?}",
        streams.keys()
    );
    assert!(seen_streams >= (truth.producers as usize) * (truth.partitions as usize));
}

#[test]
fn loadgen_with_every_fault_writes_an_exact_truth() {
    let topic = fresh_topic("roundtrip");
    create_topic(&topic, 3);
    let dir = tempfile::tempdir().unwrap();
    let truth = loadgen(
        &topic,
        &[
            "--producers",
            "5",
            "--partitions",
            "3",
            "--messages",
            "6667",
            "--drop-rate",
            "0.01",
            "--duplicate-rate",
            "0.01",
            "--reorder-rate",
            "0.01",
            "--restart-rate",
            "0.0005",
            "--malformed-rate",
            "0.005",
            "--seed",
            "42",
            "--inject",
            "drop:0:0:1",
            "--inject",
            "drop:1:2:6667",
        ],
        &dir.path().join("truth.json"),
    );
    assert!(
        truth.sent >= 100_000,
        "at least 100,000 messages: {}",
        truth.sent
    );
    assert_eq!(truth.acked, truth.sent);
    let streams = |f: &dyn Fn(&gapwatch::truth::StreamTruth) -> bool| {
        truth.streams.iter().filter(|s| f(s)).count()
    };
    assert!(streams(&|s| !s.missing.is_empty()) > 0, "drops injected");
    assert!(
        streams(&|s| !s.duplicates.is_empty()) > 0,
        "duplicates injected"
    );
    assert!(
        streams(&|s| !s.reorders.is_empty()) > 0,
        "reorders injected"
    );
    assert!(truth.streams.len() > 15, "restarts opened new epochs");
    assert!(truth.malformed_total() > 0, "malformed messages injected");
    let first = truth
        .streams
        .iter()
        .find(|s| s.producer == "producer-0" && s.partition == 0)
        .unwrap();
    assert_eq!(
        first.missing.first(),
        Some(&SeqRange::new(1, 1)),
        "explicit leading drop"
    );
    assert!(
        truth.streams.iter().any(|s| s.producer == "producer-1"
            && s.partition == 2
            && s.tail.is_some_and(|t| t.last_seq == s.max_seq + t.count())),
        "explicit drop of the last step is a tail"
    );
    assert_topic_matches_truth(&topic, &truth);
}

#[test]
fn every_compression_codec_round_trips_exactly() {
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = fresh_topic(&format!("codec-{codec}"));
        create_topic(&topic, 2);
        let dir = tempfile::tempdir().unwrap();
        let truth = loadgen(
            &topic,
            &[
                "--producers",
                "3",
                "--partitions",
                "2",
                "--messages",
                "2000",
                "--compression",
                codec,
                "--acks",
                "all",
                "--drop-rate",
                "0.02",
                "--duplicate-rate",
                "0.02",
                "--reorder-rate",
                "0.02",
                "--restart-rate",
                "0.001",
                "--malformed-rate",
                "0.01",
                "--seed",
                "7",
            ],
            &dir.path().join("truth.json"),
        );
        assert_topic_matches_truth(&topic, &truth);
    }
}

#[test]
fn the_same_seed_gives_the_same_truth() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--producers",
        "2",
        "--partitions",
        "2",
        "--messages",
        "500",
        "--drop-rate",
        "0.05",
        "--reorder-rate",
        "0.05",
        "--restart-rate",
        "0.01",
        "--seed",
        "99",
    ];
    let mut truths = Vec::new();
    for i in 0..2 {
        let topic = fresh_topic("seed");
        create_topic(&topic, 2);
        let mut t = loadgen(&topic, &args, &dir.path().join(format!("t{i}.json")));
        t.topic.clear();
        for s in &mut t.streams {
            s.topic.clear();
        }
        truths.push(t);
    }
    assert_eq!(truths[0], truths[1]);
}

#[test]
fn a_missing_topic_fails_with_a_clear_error() {
    let topic = fresh_topic("absent");
    let bootstrap = bootstrap();
    let out = gapwatch(&[
        "loadgen",
        "--bootstrap-servers",
        &bootstrap,
        "--topic",
        &topic,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist"), "stderr: {err}");
}

#[test]
fn a_send_the_broker_rejects_fails_the_run_and_names_it() {
    let topic = fresh_topic("too-large");
    create_topic(&topic, 1);
    let bootstrap = bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.json");
    // 2 MB payloads pass the client's limit but exceed the broker's 1 MB default.
    let out = gapwatch(&[
        "loadgen",
        "--bootstrap-servers",
        &bootstrap,
        "--topic",
        &topic,
        "--producers",
        "1",
        "--partitions",
        "1",
        "--messages",
        "3",
        "--payload-size",
        "2000000",
        "-X",
        "message.max.bytes=5000000",
        "--truth",
        truth.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "loadgen must not report success");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("3 of 3 messages were not acknowledged"),
        "stderr: {err}"
    );
    assert!(err.contains("seq 1"), "the failed message is named: {err}");
    let t: Truth = serde_json::from_slice(&std::fs::read(&truth).unwrap()).unwrap();
    assert_eq!(
        t.acked, 0,
        "the truth never counts a message Kafka did not ack"
    );
}

#[test]
fn an_unreachable_broker_fails_fast() {
    // Nothing listens on port 1 of loopback.
    let out = gapwatch(&[
        "loadgen",
        "--bootstrap-servers",
        "127.0.0.1:1",
        "--topic",
        "x",
        "-X",
        "socket.connection.setup.timeout.ms=1000",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is Kafka reachable"), "stderr: {err}");
}
