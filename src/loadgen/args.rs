//! Command-line options of `gapwatch loadgen`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::plan::{ExplicitFaults, FaultKind, FaultRates};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Acks {
    #[value(name = "0")]
    Zero,
    #[value(name = "1")]
    One,
    #[value(name = "all", alias = "-1")]
    All,
}

impl Acks {
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            Acks::Zero => "0",
            Acks::One => "1",
            Acks::All => "all",
        }
    }
}

/// Produce stamped messages with known, injected faults and write the truth.
#[derive(Args, Debug, Clone)]
pub struct LoadgenArgs {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        env = "GAPWATCH_KAFKA__BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_servers: String,
    /// Topic to write to.
    #[arg(long)]
    pub topic: String,
    /// Create the topic (with --partitions and --replication-factor) if it does not exist.
    #[arg(long)]
    pub create_topic: bool,
    /// Replication factor used by --create-topic.
    #[arg(long, default_value_t = 1)]
    pub replication_factor: i32,
    /// Number of producers; each writes its own stream to every partition
    /// (or to one, with --one-partition-each).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub producers: u32,
    /// Each producer writes to one partition only (producer i to partition
    /// i mod --partitions): as many streams as producers.
    #[arg(long)]
    pub one_partition_each: bool,
    /// Number of partitions written to (0..N-1); the topic must have at least this many.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=100_000))]
    pub partitions: i32,
    /// Sequence steps per (producer, partition): each step sends, drops, duplicates... one number.
    #[arg(long, default_value_t = 1000)]
    pub messages: u64,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 100)]
    pub payload_size: usize,
    /// Compression codec.
    #[arg(long, value_enum, default_value_t = Compression::None)]
    pub compression: Compression,
    /// Producer acknowledgements: 0, 1 or all.
    #[arg(long, value_enum, default_value_t = Acks::One)]
    pub acks: Acks,
    /// Seed for every random choice; the same seed gives the same messages and truth.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First epoch of every producer (x-producer-epoch).
    #[arg(long, default_value_t = 1)]
    pub epoch: u64,
    /// Prefix of producer ids: PREFIX-0, PREFIX-1, ...
    #[arg(long, default_value = "producer")]
    pub producer_prefix: String,
    /// Probability per step that the number is dropped (never sent).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub drop_rate: f64,
    /// Probability per step that the message is sent twice.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub duplicate_rate: f64,
    /// Probability per step that the message and the next are sent swapped.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub reorder_rate: f64,
    /// Probability per step that the producer restarts in a new epoch at 1.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub restart_rate: f64,
    /// Probability per step that a malformed message is sent as well.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub malformed_rate: f64,
    /// An explicit fault, KIND:PRODUCER:PARTITION:STEP[-STEP] with KIND one of
    /// drop, duplicate, reorder, restart, malformed and PRODUCER the producer's
    /// index (repeatable). Explicit faults win over rates.
    #[arg(long = "inject", value_parser = parse_inject)]
    pub inject: Vec<Injection>,
    /// Messages per second to send at most (0: as fast as Kafka takes them).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Record which sequence numbers Kafka acknowledged (in the truth, per
    /// stream); not with producer restarts.
    #[arg(long)]
    pub record_acks: bool,
    /// Exit zero even when Kafka did not acknowledge every message (the
    /// truth says which were not); for experiments that kill brokers.
    #[arg(long)]
    pub allow_failures: bool,
    /// Write the ground truth as JSON to this file.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// A librdkafka producer option, key=value (repeatable; TLS, SASL, ...).
    #[arg(short = 'X', long = "option", value_parser = crate::kafka::parse_option)]
    pub options: Vec<(String, String)>,
    /// How long to wait for outstanding delivery reports at the end.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub flush_timeout: std::time::Duration,
}

/// One `--inject` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injection {
    pub kind: FaultKind,
    pub producer: u32,
    pub partition: i32,
    pub first_step: u64,
    pub last_step: u64,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number between 0 and 1"))?;
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(format!("{r} is not between 0 and 1"))
    }
}

fn parse_inject(s: &str) -> Result<Injection, String> {
    let usage = "expected KIND:PRODUCER:PARTITION:STEP[-STEP], e.g. drop:0:1:100-105";
    let parts: Vec<&str> = s.split(':').collect();
    let [kind, producer, partition, steps] = parts[..] else {
        return Err(usage.to_owned());
    };
    let kind = FaultKind::ALL
        .into_iter()
        .find(|k| k.name() == kind)
        .ok_or_else(|| {
            format!("unknown fault '{kind}' (drop, duplicate, reorder, restart, malformed)")
        })?;
    let producer = producer
        .parse()
        .map_err(|_| format!("producer index '{producer}' is not a number; {usage}"))?;
    let partition = partition
        .parse()
        .map_err(|_| format!("partition '{partition}' is not a number; {usage}"))?;
    let (first, last) = steps.split_once('-').unwrap_or((steps, steps));
    let step = |v: &str| -> Result<u64, String> {
        match v.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!("step '{v}' is not a number from 1; {usage}")),
        }
    };
    let (first_step, last_step) = (step(first)?, step(last)?);
    if last_step < first_step {
        return Err(format!("step range {first_step}-{last_step} is backwards"));
    }
    Ok(Injection {
        kind,
        producer,
        partition,
        first_step,
        last_step,
    })
}

impl LoadgenArgs {
    pub fn rates(&self) -> FaultRates {
        FaultRates {
            drop: self.drop_rate,
            duplicate: self.duplicate_rate,
            reorder: self.reorder_rate,
            restart: self.restart_rate,
            malformed: self.malformed_rate,
        }
    }

    /// The (producer, partition) streams written, in plan order.
    pub fn streams(&self) -> impl Iterator<Item = (u32, i32)> + '_ {
        let partitions = self.partitions;
        let one_each = self.one_partition_each;
        (0..self.producers).flat_map(move |p| {
            let (from, to) = if one_each {
                let q = (p % partitions as u32) as i32;
                (q, q + 1)
            } else {
                (0, partitions)
            };
            (from..to).map(move |q| (p, q))
        })
    }

    /// Checks what clap cannot: sums, sizes and references between options.
    pub fn validate(&self) -> Result<(), String> {
        let r = self.rates();
        let total = r.drop + r.duplicate + r.reorder + r.restart + r.malformed;
        if total > 1.0 {
            return Err(format!("the fault rates add up to {total}, more than 1"));
        }
        let streams = self.streams().count() as u64;
        if streams >= 1 << 24 {
            return Err(format!(
                "{streams} producer×partition streams is more than loadgen supports (16,777,215)"
            ));
        }
        if self.messages >= 1 << 40 {
            return Err("--messages must be below 2^40".to_owned());
        }
        let restarts =
            self.restart_rate > 0.0 || self.inject.iter().any(|i| i.kind == FaultKind::Restart);
        if self.record_acks && restarts {
            return Err("--record-acks cannot be combined with producer restarts".to_owned());
        }
        if self.one_partition_each
            && let Some(i) = self.inject.iter().find(|i| {
                i.producer < self.producers && i.producer as i32 % self.partitions != i.partition
            })
        {
            return Err(format!(
                "--inject {}:{}:{}: with --one-partition-each producer {} writes only to partition {}",
                i.kind.name(),
                i.producer,
                i.partition,
                i.producer,
                i.producer as i32 % self.partitions
            ));
        }
        for i in &self.inject {
            if i.producer >= self.producers || i.partition >= self.partitions {
                return Err(format!(
                    "--inject {}:{}:{}: there are only {} producers and {} partitions",
                    i.kind.name(),
                    i.producer,
                    i.partition,
                    self.producers,
                    self.partitions
                ));
            }
        }
        Ok(())
    }

    pub fn explicit_faults(&self) -> ExplicitFaults {
        let mut map = ExplicitFaults::new();
        for i in &self.inject {
            for step in i.first_step..=i.last_step.min(self.messages) {
                map.insert((i.producer, i.partition, step), i.kind);
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inject_parses_kind_stream_and_range() {
        assert_eq!(
            parse_inject("drop:2:1:100-105"),
            Ok(Injection {
                kind: FaultKind::Drop,
                producer: 2,
                partition: 1,
                first_step: 100,
                last_step: 105
            })
        );
        assert_eq!(parse_inject("restart:0:0:7").unwrap().last_step, 7);
        assert!(
            parse_inject("explode:0:0:1")
                .unwrap_err()
                .contains("unknown fault")
        );
        assert!(parse_inject("drop:0:0:0").is_err());
        assert!(
            parse_inject("drop:0:0:9-3")
                .unwrap_err()
                .contains("backwards")
        );
        assert!(parse_inject("drop:0:0").is_err());
    }

    #[test]
    fn rates_must_be_probabilities() {
        assert_eq!(parse_rate("0.25"), Ok(0.25));
        assert!(parse_rate("1.5").is_err());
        assert!(parse_rate("-0.1").is_err());
        assert!(parse_rate("x").is_err());
    }
}
