//! The baseline for gapwatch's throughput: a bare rdkafka consumer that reads
//! a whole topic from the beginning and touches each message's headers,
//! doing nothing else. Prints one JSON line of figures.
//!
//! usage: bare_consumer BOOTSTRAP TOPIC [KEY=VALUE...]   (librdkafka options)

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(bootstrap), Some(topic)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: bare_consumer BOOTSTRAP TOPIC [KEY=VALUE...]");
        std::process::exit(2);
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "gapwatch-bench-bare")
        .set("enable.auto.commit", "false");
    for option in &args[3..] {
        let Some((key, value)) = option.split_once('=') else {
            eprintln!("bare_consumer: '{option}' is not KEY=VALUE");
            std::process::exit(2);
        };
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create().expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut remaining = 0i64;
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        let (lo, hi) = consumer
            .fetch_watermarks(topic, *p, Duration::from_secs(10))
            .expect("watermarks");
        remaining += hi - lo;
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .unwrap();
    }
    let total = remaining;
    consumer.assign(&tpl).unwrap();
    let cpu0 = cpu_seconds();
    let mut started: Option<Instant> = None;
    let mut header_bytes = 0usize;
    while remaining > 0 {
        match consumer.poll(Duration::from_secs(1)) {
            Some(Ok(m)) => {
                started.get_or_insert_with(Instant::now);
                if let Some(h) = m.headers() {
                    for header in h.iter() {
                        header_bytes += header.key.len() + header.value.map_or(0, <[u8]>::len);
                    }
                }
                remaining -= 1;
            }
            Some(Err(e)) => eprintln!("consume error: {e}"),
            None => {}
        }
    }
    let secs = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    let cpu = cpu_seconds() - cpu0;
    println!(
        "{{\"messages\": {total}, \"seconds\": {secs:.3}, \"messages_per_second\": {:.0}, \"cpu_seconds\": {cpu:.2}, \"peak_rss_bytes\": {}, \"header_bytes\": {header_bytes}}}",
        total as f64 / secs.max(1e-9),
        peak_rss_bytes()
    );
}
