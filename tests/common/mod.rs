//! Shared helpers for the integration tests, which run against the real
//! Kafka that `scripts/test.sh` starts and announces in GAPWATCH_TEST_BOOTSTRAP.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gapwatch::contract::{EPOCH_HEADER, PRODUCER_HEADER, SEQUENCE_HEADER};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

pub fn bootstrap() -> String {
    std::env::var("GAPWATCH_TEST_BOOTSTRAP").expect(
        "GAPWATCH_TEST_BOOTSTRAP is not set: run the integration tests through scripts/test.sh, \
         which starts Kafka and sets it",
    )
}

/// A topic name no other test (or earlier run) uses.
pub fn fresh_topic(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

pub fn create_topic(topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("admin client");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let res =
        futures::executor::block_on(admin.create_topics([&new], &opts)).expect("create topic");
    for r in res {
        r.expect("topic created");
    }
}

/// Runs the gapwatch binary built alongside these tests.
pub fn gapwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gapwatch"))
        .args(args)
        .output()
        .expect("run gapwatch")
}

/// Runs loadgen against the test broker, expecting success.
pub fn loadgen(topic: &str, extra: &[&str], truth: &Path) -> gapwatch::truth::Truth {
    let bootstrap = bootstrap();
    let mut args = vec![
        "loadgen",
        "--bootstrap-servers",
        &bootstrap,
        "--topic",
        topic,
        "--truth",
        truth.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = gapwatch(&args);
    assert!(
        out.status.success(),
        "loadgen failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(truth).unwrap()).expect("truth file parses")
}

/// One consumed message, as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Stamped {
        partition: i32,
        producer: String,
        epoch: u64,
        seq: u64,
        offset: i64,
    },
    Unstamped {
        partition: i32,
        producer: Option<String>,
        seq: Option<String>,
    },
}

/// Reads every message of the topic from the beginning to the end.
pub fn read_all(topic: &str, partitions: i32) -> Vec<Received> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", format!("test-reader-{topic}"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut at_eof: HashMap<i32, bool> = HashMap::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while at_eof.values().filter(|e| **e).count() < partitions as usize {
        assert!(Instant::now() < deadline, "timed out reading {topic}");
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_eof.insert(p, true);
            }
            Some(Err(e)) => panic!("consume error: {e}"),
            Some(Ok(m)) => {
                at_eof.insert(m.partition(), false);
                let header = |name: &str| -> Option<String> {
                    m.headers().and_then(|h| {
                        h.iter()
                            .find(|x| x.key == name)
                            .and_then(|x| x.value)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                    })
                };
                let producer = header(PRODUCER_HEADER);
                let seq = header(SEQUENCE_HEADER);
                let epoch = header(EPOCH_HEADER)
                    .and_then(|e| e.parse().ok())
                    .unwrap_or(0);
                match (producer, seq.as_deref().and_then(|s| s.parse::<u64>().ok())) {
                    (Some(producer), Some(n)) => out.push(Received::Stamped {
                        partition: m.partition(),
                        producer,
                        epoch,
                        seq: n,
                        offset: m.offset(),
                    }),
                    (producer, _) => out.push(Received::Unstamped {
                        partition: m.partition(),
                        producer,
                        seq,
                    }),
                }
            }
        }
    }
    out
}
