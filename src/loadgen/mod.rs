//! `gapwatch loadgen`: stamped traffic with known loss, and its ground truth.

mod args;
pub mod plan;
mod send;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

pub use args::{Acks, Compression, Injection, LoadgenArgs};
use plan::{Outgoing, StreamPlan};
use send::{DeliveryTracker, opaque};

use crate::contract::{EPOCH_HEADER, PRODUCER_HEADER, SEQUENCE_HEADER, message_key};
use crate::truth::{MalformedKind, Truth};

/// What a loadgen run did.
#[derive(Debug)]
pub struct Summary {
    pub truth: Truth,
    pub elapsed: Duration,
}

impl Summary {
    pub fn rate(&self) -> f64 {
        self.truth.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How many messages one plan contributes before the next plan's turn, so
/// streams interleave on the wire the way independent producers do.
const BURST: usize = 16;
const METADATA_TIMEOUT: Duration = Duration::from_secs(15);

pub fn run(args: &LoadgenArgs) -> anyhow::Result<Summary> {
    args.validate().map_err(anyhow::Error::msg)?;
    let config = crate::kafka::client_config(
        &args.bootstrap_servers,
        &[
            ("acks", args.acks.as_librdkafka()),
            ("compression.type", args.compression.as_librdkafka()),
            ("enable.idempotence", "false"),
            ("allow.auto.create.topics", "false"),
            ("linger.ms", "5"),
            ("batch.num.messages", "10000"),
            ("queue.buffering.max.messages", "1000000"),
            ("queue.buffering.max.kbytes", "1048576"),
            ("message.timeout.ms", "30000"),
        ],
        &args.options,
    );
    let tracker = if args.record_acks {
        DeliveryTracker::recording_acks()
    } else {
        DeliveryTracker::default()
    };
    let producer: BaseProducer<DeliveryTracker> = config
        .create_with_context(tracker)
        .context("cannot create the Kafka producer")?;
    ensure_topic(&producer, args)?;

    let explicit = args.explicit_faults();
    let mut plans: Vec<StreamPlan> = args
        .streams()
        .map(|(p, q)| {
            StreamPlan::new(
                &args.topic,
                p,
                format!("{}-{p}", args.producer_prefix),
                q,
                args.messages,
                args.epoch,
                args.seed,
                args.rates(),
            )
        })
        .collect();
    let payload = payload(args.payload_size, args.seed);

    let started = Instant::now();
    let mut sent = 0u64;
    let mut active: Vec<usize> = (0..plans.len()).collect();
    while !active.is_empty() {
        active.retain(|&i| {
            let plan = &mut plans[i];
            for _ in 0..BURST {
                let Some(out) = plan.next_message(&explicit) else {
                    return false;
                };
                send_one(&producer, &args.topic, i, plan, &out, &payload);
                sent += 1;
            }
            true
        });
        producer.poll(Duration::ZERO);
        if args.rate > 0 {
            let due = Duration::from_secs_f64(sent as f64 / args.rate as f64);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(ahead);
            }
        }
    }
    let deadline = Instant::now() + args.flush_timeout;
    while producer.in_flight_count() > 0 && Instant::now() < deadline {
        producer.poll(Duration::from_millis(100));
    }
    let elapsed = started.elapsed();

    let tracker = producer.context();
    let acked = tracker.acked.load(Ordering::Relaxed);
    let failed = tracker.failed.load(Ordering::Relaxed);
    let unreported = producer.in_flight_count();
    let acks = tracker.take_acks(plans.len());
    let producer_of: Vec<u32> = plans.iter().map(|p| p.producer_index).collect();
    let mut truth = build_truth(args, plans, sent, acked);
    if let Some(acks) = acks {
        // Without restarts every plan has exactly one stream, in plan order.
        for (stream, seqs) in truth.streams.iter_mut().zip(acks) {
            stream.acked = Some(crate::truth::SeqRange::merge(&seqs));
        }
    }
    if let Some(path) = &args.truth {
        let json = serde_json::to_vec_pretty(&truth)?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write the truth file {}", path.display()))?;
    }
    if (failed > 0 || unreported > 0) && !args.allow_failures {
        let mut msg = format!(
            "{failed} of {sent} messages were not acknowledged by Kafka and {unreported} got no delivery report within {}",
            humantime::format_duration(args.flush_timeout)
        );
        for (plan, seq, partition, err) in tracker.failures() {
            let producer = format!("{}-{}", args.producer_prefix, producer_of[plan]);
            let what = if seq == 0 {
                "malformed message".to_owned()
            } else {
                format!("seq {seq}")
            };
            msg.push_str(&format!(
                "\n  {} partition {partition} producer {producer} {what}: {err}",
                args.topic
            ));
        }
        bail!(msg);
    }
    Ok(Summary { truth, elapsed })
}

/// Sends one message, waiting for room in librdkafka's queue when it is full.
fn send_one(
    producer: &BaseProducer<DeliveryTracker>,
    topic: &str,
    plan_index: usize,
    plan: &StreamPlan,
    out: &Outgoing,
    payload: &[u8],
) {
    let (headers, key, seq) = stamp(plan, out);
    let mut record = BaseRecord::with_opaque_to(topic, opaque(plan_index, seq))
        .partition(plan.partition)
        .key(key.as_bytes())
        .payload(payload)
        .headers(headers);
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), rec)) => {
                record = rec;
                producer.poll(Duration::from_millis(10));
            }
            Err((err, _)) => {
                // Rejected before it reached the queue: account for it as a
                // failed delivery so the run cannot report success.
                let op = opaque(plan_index, seq);
                producer
                    .context()
                    .record_failure(op, plan.partition, err.to_string());
                return;
            }
        }
    }
}

/// Headers and key for one message, and the sequence it carries (0 if none).
fn stamp(plan: &StreamPlan, out: &Outgoing) -> (OwnedHeaders, String, u64) {
    let header = |h: OwnedHeaders, key: &str, value: &str| {
        h.insert(Header {
            key,
            value: Some(value.as_bytes()),
        })
    };
    match out {
        Outgoing::Stamped { epoch, seq } => {
            let h = OwnedHeaders::new_with_capacity(3);
            let h = header(h, PRODUCER_HEADER, &plan.producer);
            let h = header(h, SEQUENCE_HEADER, &seq.to_string());
            let h = header(h, EPOCH_HEADER, &epoch.to_string());
            (h, message_key(&plan.producer, plan.partition, *seq), *seq)
        }
        Outgoing::Malformed(kind) => {
            let h = OwnedHeaders::new_with_capacity(3);
            let h = match kind {
                MalformedKind::MissingSequence => header(h, PRODUCER_HEADER, &plan.producer),
                MalformedKind::InvalidSequence => {
                    let h = header(h, PRODUCER_HEADER, &plan.producer);
                    header(h, SEQUENCE_HEADER, "not-a-number")
                }
                MalformedKind::MissingProducer => header(h, SEQUENCE_HEADER, "1"),
            };
            (h, format!("{}-malformed", plan.producer), 0)
        }
    }
}

/// A printable, compressible payload of the requested size.
fn payload(size: usize, seed: u64) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789 {}\":,";
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..size)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect()
}

/// Fails unless the topic exists with enough partitions (creating it when asked).
fn ensure_topic(
    producer: &BaseProducer<DeliveryTracker>,
    args: &LoadgenArgs,
) -> anyhow::Result<()> {
    let partitions = topic_partitions(producer, &args.topic)?;
    let partitions = match partitions {
        Some(n) => n,
        None if args.create_topic => {
            create_topic(args)?;
            let deadline = Instant::now() + METADATA_TIMEOUT;
            loop {
                match topic_partitions(producer, &args.topic)? {
                    Some(n) if n >= args.partitions => break n,
                    _ if Instant::now() > deadline => {
                        bail!(
                            "topic '{}' was created but its partitions did not appear",
                            args.topic
                        )
                    }
                    _ => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }
        None => bail!(
            "topic '{}' does not exist on {}; create it first or pass --create-topic",
            args.topic,
            args.bootstrap_servers
        ),
    };
    if partitions < args.partitions {
        bail!(
            "topic '{}' has {partitions} partitions but --partitions is {}",
            args.topic,
            args.partitions
        );
    }
    Ok(())
}

fn topic_partitions(
    producer: &BaseProducer<DeliveryTracker>,
    topic: &str,
) -> anyhow::Result<Option<i32>> {
    let md = producer
        .client()
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(|e| {
            anyhow::anyhow!("cannot read metadata for topic '{topic}' (is Kafka reachable?): {e}")
        })?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len() as i32))
}

fn create_topic(args: &LoadgenArgs) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        crate::kafka::client_config(&args.bootstrap_servers, &[], &args.options)
            .create()
            .context("cannot create the Kafka admin client")?;
    let topic = NewTopic::new(
        &args.topic,
        args.partitions,
        TopicReplication::Fixed(args.replication_factor),
    );
    let opts = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
    let results = futures::executor::block_on(admin.create_topics([&topic], &opts))
        .with_context(|| format!("cannot create topic '{}'", args.topic))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create topic '{name}': {code}"),
        }
    }
    Ok(())
}

fn build_truth(args: &LoadgenArgs, plans: Vec<StreamPlan>, sent: u64, acked: u64) -> Truth {
    let mut truth = Truth {
        topic: args.topic.clone(),
        seed: args.seed,
        producers: args.producers,
        partitions: args.partitions,
        steps_per_stream: args.messages,
        sent,
        acked,
        malformed: BTreeMap::new(),
        malformed_by_partition: BTreeMap::new(),
        streams: Vec::new(),
    };
    for plan in plans {
        let partition = plan.partition;
        let done = plan.finish();
        for (kind, n) in MalformedKind::ALL.iter().zip(done.malformed) {
            if n > 0 {
                *truth.malformed.entry(*kind).or_default() += n;
                *truth.malformed_by_partition.entry(partition).or_default() += n;
            }
        }
        truth.streams.extend(done.streams);
    }
    truth
}
