//! `gapwatch readback`: reads a topic from its first offset to its end, as it
//! is now, and writes which sequence numbers each stream holds. It is the
//! ground truth the loss lab compares gapwatch's findings with: whatever a
//! producer had acknowledged and is not in this listing is lost.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::config::Source;
use crate::contract::{EPOCH_HEADER, PRODUCER_HEADER, SEQUENCE_HEADER};
use crate::extract::{MessageView, NoHeaders, extract};
use crate::truth::SeqRange;

#[derive(Args, Debug, Clone)]
pub struct ReadbackArgs {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        env = "GAPWATCH_KAFKA__BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_servers: String,
    /// The topic to read (every partition).
    #[arg(long)]
    pub topic: String,
    /// Where to write the JSON listing (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Give up when the end is not reached within this time.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// A librdkafka option, key=value (repeatable): TLS, SASL, ...
    #[arg(short = 'X', long = "option", value_parser = crate::kafka::parse_option)]
    pub options: Vec<(String, String)>,
}

/// One stream's numbers present in the topic.
#[derive(Debug, Serialize)]
pub struct StreamListing {
    pub partition: i32,
    pub producer: String,
    pub epoch: u64,
    pub present: Vec<SeqRange>,
}

#[derive(Debug, Serialize)]
pub struct Listing {
    pub topic: String,
    pub messages: u64,
    /// Messages without a readable stamp.
    pub unstamped: u64,
    /// Per partition: the first offset still in the log and the end.
    pub partitions: BTreeMap<i32, (i64, i64)>,
    pub streams: Vec<StreamListing>,
}

pub fn run(args: &ReadbackArgs) -> anyhow::Result<Listing> {
    let consumer: BaseConsumer = crate::kafka::client_config(
        &args.bootstrap_servers,
        &[
            ("group.id", "gapwatch-readback"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
        ],
        &args.options,
    )
    .create()
    .context("cannot create the Kafka consumer")?;
    let md = consumer
        .fetch_metadata(Some(&args.topic), Duration::from_secs(15))
        .with_context(|| format!("cannot read metadata from {}", args.bootstrap_servers))?;
    let Some(topic) = md.topics().iter().find(|t| t.name() == args.topic) else {
        bail!("topic '{}' not found", args.topic);
    };
    if topic.partitions().is_empty() {
        bail!("topic '{}' not found or has no partitions", args.topic);
    }
    let mut ends = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in topic.partitions() {
        let (low, high) = consumer
            .fetch_watermarks(&args.topic, p.id(), Duration::from_secs(15))
            .with_context(|| format!("cannot read the offsets of partition {}", p.id()))?;
        ends.insert(p.id(), (low, high));
        if high > low {
            tpl.add_partition_offset(&args.topic, p.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    let source = Source::Headers {
        producer: PRODUCER_HEADER.to_owned(),
        sequence: SEQUENCE_HEADER.to_owned(),
        epoch: EPOCH_HEADER.to_owned(),
    };
    let mut seqs: BTreeMap<(i32, String, u64), Vec<u64>> = BTreeMap::new();
    let mut remaining: BTreeMap<i32, i64> = ends
        .iter()
        .filter(|(_, (low, high))| high > low)
        .map(|(p, (_, high))| (*p, *high))
        .collect();
    let (mut messages, mut unstamped) = (0u64, 0u64);
    let deadline = Instant::now() + args.timeout;
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            bail!(
                "the end of '{}' was not reached within {:?}; partitions left: {:?}",
                args.topic,
                args.timeout,
                remaining.keys().collect::<Vec<_>>()
            );
        }
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg.context("kafka consumer error")?;
        let partition = msg.partition();
        let Some(&end) = remaining.get(&partition) else {
            continue;
        };
        if msg.offset() >= end {
            remaining.remove(&partition);
            continue;
        }
        messages += 1;
        let view = |h| MessageView {
            headers: h,
            key: msg.key(),
            payload: msg.payload(),
        };
        let stamp = match msg.headers() {
            Some(h) => {
                extract(&source, &view(h)).map(|s| (s.producer.into_owned(), s.seq, s.epoch))
            }
            None => extract(
                &source,
                &MessageView {
                    headers: &NoHeaders,
                    key: msg.key(),
                    payload: msg.payload(),
                },
            )
            .map(|s| (s.producer.into_owned(), s.seq, s.epoch)),
        };
        match stamp {
            Ok((producer, seq, epoch)) => seqs
                .entry((partition, producer, epoch))
                .or_default()
                .push(seq),
            Err(_) => unstamped += 1,
        }
        if msg.offset() + 1 >= end {
            remaining.remove(&partition);
        }
    }
    let streams = seqs
        .into_iter()
        .map(|((partition, producer, epoch), s)| StreamListing {
            partition,
            producer,
            epoch,
            present: SeqRange::merge(&s),
        })
        .collect();
    Ok(Listing {
        topic: args.topic.clone(),
        messages,
        unstamped,
        partitions: ends,
        streams,
    })
}

/// Runs the command and writes the listing.
pub fn main(args: &ReadbackArgs) -> anyhow::Result<()> {
    let listing = run(args)?;
    let json = serde_json::to_string_pretty(&listing)?;
    match &args.out {
        Some(path) => std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => println!("{json}"),
    }
    eprintln!(
        "readback: {} messages in '{}' ({} unstamped)",
        listing.messages, listing.topic, listing.unstamped
    );
    Ok(())
}
