//! The consumer loop: polls Kafka on one blocking thread, hands each
//! message to the auditor, and flushes state and offsets by count or
//! deadline, whichever comes first. The Kafka offset commit follows each
//! flush and is advisory.

mod context;
mod topic_ids;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use std::collections::HashMap;

use rdkafka::consumer::RebalanceProtocol;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
pub(crate) use topic_ids::describe as describe_topics;

pub use context::{AuditContext, commit, rule_for};

use crate::audit::{At, Auditor};
use crate::config::{AuditRule, KafkaSettings};
use crate::extract::{MessageView, NoHeaders, extract};

/// How often timers run: gap confirmation, gauges, eviction.
const TICK: Duration = Duration::from_millis(250);
/// How often the audited topics are matched against the cluster's topics.
const TOPIC_REFRESH: Duration = Duration::from_secs(30);
/// Messages between two looks at the timers and the flush condition.
const CHECK_EVERY: u32 = 256;
/// How long a look at a partition's first and end offsets may take.
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait between write attempts while RocksDB refuses writes.
const STORE_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("cannot create the Kafka consumer: {0}")]
    Create(String),
    #[error("cannot reach Kafka at {bootstrap}: {reason}")]
    Unreachable { bootstrap: String, reason: String },
    #[error("{0}")]
    Fatal(String),
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// [`unix_ms`] from the kernel's coarse clock: a read of memory the kernel
/// updates every tick (a few ms), several times cheaper than the precise
/// clock, for the per-message path.
pub fn unix_ms_coarse() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` only writes the `timespec` it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if rc != 0 || ts.tv_sec < 0 {
        return unix_ms();
    }
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Creates the consumer with gapwatch's defaults and the user's options.
pub fn create(
    settings: &KafkaSettings,
    context: AuditContext,
) -> Result<BaseConsumer<AuditContext>, ConsumerError> {
    let mut defaults: Vec<(&str, &str)> = vec![
        ("group.id", &settings.group_id),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        // A stored position Kafka no longer has is an error gapwatch handles
        // itself (see `reposition`): skipping silently to either end would
        // hide messages deleted before they were audited. Where a partition
        // never read starts (kafka.start_offset) is given on assignment.
        ("auto.offset.reset", "error"),
        ("statistics.interval.ms", "5000"),
        // Partitions added to an audited topic are picked up within this.
        ("topic.metadata.refresh.interval.ms", "10000"),
        ("partition.assignment.strategy", "range,roundrobin"),
        // librdkafka waits this long before fetching a partition again once
        // its prefetch queue is full. Its default of 1 s caps a fast reader
        // at a fraction of what the broker serves (a fivefold difference in
        // scripts/bench.sh); the queue size limits memory either way.
        ("fetch.queue.backoff.ms", "10"),
    ];
    defaults.push(("client.id", "gapwatch"));
    crate::kafka::client_config(&settings.bootstrap_servers, &defaults, &settings.options)
        .create_with_context(context)
        .map_err(|e| ConsumerError::Create(e.to_string()))
}

/// Fails unless a broker answers a metadata request within `timeout`.
pub fn check_reachable(
    consumer: &BaseConsumer<AuditContext>,
    bootstrap: &str,
    timeout: Duration,
) -> Result<(), ConsumerError> {
    consumer
        .fetch_metadata(None, timeout)
        .map(|_| ())
        .inspect_err(|_| {
            // librdkafka's logs and errors wait in its queue until a poll
            // serves them; they say why (refused, TLS, authentication).
            for _ in 0..10 {
                let _ = consumer.poll(Duration::from_millis(10));
            }
        })
        .map_err(|e| ConsumerError::Unreachable {
            bootstrap: bootstrap.to_owned(),
            reason: match consumer.context().quiet_errors() {
                Some(cause) => format!("{e}; {cause}"),
                None => e.to_string(),
            },
        })
}

/// The cluster's topics that some rule audits, sorted.
fn audited_topics(
    consumer: &BaseConsumer<AuditContext>,
    rules: &[AuditRule],
) -> Option<Vec<String>> {
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .ok()?;
    let mut topics: Vec<String> = md
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|t| !t.starts_with("__") && rule_for(rules, t).is_some())
        .collect();
    topics.sort();
    Some(topics)
}

/// Subscribes to the cluster's topics that the rules audit, when they changed.
fn refresh_subscription(
    consumer: &BaseConsumer<AuditContext>,
    rules: &[AuditRule],
    subscribed: &mut Vec<String>,
) -> Result<(), ConsumerError> {
    let Some(topics) = audited_topics(consumer, rules) else {
        return Ok(());
    };
    if topics == *subscribed {
        return Ok(());
    }
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    if names.is_empty() {
        consumer.unsubscribe();
        tracing::warn!("no topic in the cluster matches the audit rules yet");
    } else if let Err(e) = consumer.subscribe(&names) {
        return Err(ConsumerError::Fatal(format!(
            "cannot subscribe to {names:?}: {e}"
        )));
    } else {
        tracing::info!(topics = ?names, "auditing");
    }
    *subscribed = topics;
    Ok(())
}

/// Runs until `shutdown` is set or a fatal error occurs; flushes on the way out.
pub fn run(
    consumer: &BaseConsumer<AuditContext>,
    rules: &[AuditRule],
    shutdown: &AtomicBool,
) -> Result<(), ConsumerError> {
    let ctx = consumer.context().clone();
    let mut subscribed: Vec<String> = Vec::new();
    let mut last_refresh: Option<Instant> = None;
    let mut last_tick = Instant::now();
    let mut store_failing = false;
    // Timers, topic refresh and the flush check run every CHECK_EVERY
    // messages or when the consumer is idle, not on every message.
    let mut since_check = CHECK_EVERY;
    while !shutdown.load(Ordering::Acquire) {
        if since_check >= CHECK_EVERY {
            since_check = 0;
            if let Some(fatal) = ctx.take_fatal() {
                return Err(ConsumerError::Fatal(fatal));
            }
            if last_refresh.is_none_or(|t| t.elapsed() >= TOPIC_REFRESH) {
                last_refresh = Some(Instant::now());
                refresh_subscription(consumer, rules, &mut subscribed)?;
                if check_topic_ids(consumer, &ctx) {
                    reassign(consumer, &ctx, &current_positions(&ctx));
                }
            }
            if store_failing {
                // RocksDB refuses writes (a full disk): consume nothing more
                // until what is in memory is safe, but keep polling so the
                // group does not consider this instance dead.
                consumer.poll(STORE_RETRY);
                since_check = CHECK_EVERY;
                let mut auditor = ctx.auditor();
                if auditor.flush().is_ok() {
                    tracing::info!("state writes succeed again; resuming");
                    store_failing = false;
                    commit(consumer, &auditor, CommitMode::Async);
                    if let Ok(a) = consumer.assignment() {
                        let _ = consumer.resume(&a);
                    }
                }
                continue;
            }
            let mut auditor = ctx.auditor();
            if last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                auditor.tick(unix_ms());
                for ((topic, partition), high) in ctx.high_watermarks() {
                    auditor.observe_high_watermark(&topic, partition, high);
                }
            }
            if auditor.flush_due() {
                match auditor.flush() {
                    Ok(()) => commit(consumer, &auditor, CommitMode::Async),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot write state; pausing consumption until writes succeed");
                        store_failing = true;
                        if let Ok(a) = consumer.assignment() {
                            let _ = consumer.pause(&a);
                        }
                    }
                }
            }
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => since_check = CHECK_EVERY,
            Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset))) => {
                reposition(consumer, &ctx);
                since_check = CHECK_EVERY;
            }
            Some(Err(e)) => {
                ctx.metrics_error();
                tracing::warn!(error = %e, "kafka consumer error");
            }
            Some(Ok(msg)) => {
                let mut auditor = ctx.auditor();
                handle(&mut auditor, rules, &msg)
                    .map_err(|e| ConsumerError::Fatal(e.to_string()))?;
                since_check += 1;
            }
        }
    }
    let mut auditor = ctx.auditor();
    auditor
        .flush_durably()
        .map_err(|e| ConsumerError::Fatal(format!("final flush failed: {e}")))?;
    commit(consumer, &auditor, CommitMode::Sync);
    Ok(())
}

/// A fetch found a stored position outside the log. librdkafka does not
/// say which partition, and stops fetching it: every held partition is
/// checked against the log's first and end offsets and assigned again where
/// auditing goes on (the ones in range, where they were).
fn reposition(consumer: &BaseConsumer<AuditContext>, ctx: &AuditContext) {
    // A topic deleted and created again has a shorter log too; it is a new
    // topic, not a truncated one.
    check_topic_ids(consumer, ctx);
    let positions = ctx.auditor().positions();
    let mut targets: HashMap<(String, i32), i64> = HashMap::new();
    for (topic, partition, next) in positions {
        let to = match consumer.fetch_watermarks(&topic, partition, WATERMARK_TIMEOUT) {
            Ok((low, high)) => ctx
                .auditor()
                .out_of_range(&topic, partition, low, high, unix_ms())
                .unwrap_or(next),
            Err(e) => {
                tracing::warn!(topic = %topic, partition, error = %e,
                    "cannot read the partition's offsets; resuming where it was");
                next
            }
        };
        targets.insert((topic.to_string(), partition), to);
    }
    reassign(consumer, ctx, &targets);
}

/// Compares the Kafka ids of the topics held with the stored ones; the
/// state of a topic deleted and created again is archived. True when one
/// was.
fn check_topic_ids(consumer: &BaseConsumer<AuditContext>, ctx: &AuditContext) -> bool {
    let topics = ctx.auditor().held_topics();
    let names: Vec<&str> = topics.iter().map(|t| t.as_ref()).collect();
    let ids = match topic_ids::describe(consumer, &names, WATERMARK_TIMEOUT) {
        Ok(ids) => ids,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read topic ids; checking again later");
            return false;
        }
    };
    let mut recreated = false;
    for (topic, id) in ids {
        match ctx.auditor().check_topic_id(&topic, &id) {
            Ok(changed) => recreated |= changed,
            Err(e) => tracing::warn!(topic = %topic, error = %e, "cannot check the topic id"),
        }
    }
    recreated
}

/// Assigns every held partition again: at `targets` where given, else where
/// a partition never read starts. A stopped partition only fetches again
/// when assigned again, and a recreated topic must start over.
fn reassign(
    consumer: &BaseConsumer<AuditContext>,
    ctx: &AuditContext,
    targets: &HashMap<(String, i32), i64>,
) {
    let result = consumer.assignment().and_then(|current| {
        let mut tpl = TopicPartitionList::new();
        for e in current.elements() {
            let offset = match targets.get(&(e.topic().to_owned(), e.partition())) {
                Some(to) => Offset::Offset(*to),
                None => ctx.start_offset(),
            };
            tpl.add_partition_offset(e.topic(), e.partition(), offset)?;
        }
        match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => {
                consumer.incremental_unassign(&tpl)?;
                consumer.incremental_assign(&tpl)
            }
            _ => consumer.assign(&tpl),
        }
    });
    if let Err(e) = result {
        ctx.set_fatal(format!("cannot assign the partitions again: {e}"));
    }
}

/// Every held partition at its current position.
fn current_positions(ctx: &AuditContext) -> HashMap<(String, i32), i64> {
    ctx.auditor()
        .positions()
        .into_iter()
        .map(|(t, p, next)| ((t.to_string(), p), next))
        .collect()
}

/// Audits one message.
fn handle(
    auditor: &mut Auditor,
    rules: &[AuditRule],
    msg: &BorrowedMessage<'_>,
) -> Result<(), crate::store::StoreError> {
    let topic = msg.topic();
    let Some(rule) = auditor.rule_of(topic) else {
        return Ok(());
    };
    let source = &rules[rule].source;
    let key = msg.key();
    let payload = msg.payload();
    let stamp = match msg.headers() {
        Some(h) => extract(
            source,
            &MessageView {
                headers: h,
                key,
                payload,
            },
        ),
        None => extract(
            source,
            &MessageView {
                headers: &NoHeaders,
                key,
                payload,
            },
        ),
    };
    let at = At {
        partition: msg.partition(),
        offset: msg.offset(),
        leader_epoch: crate::kafka::leader_epoch(msg),
        timestamp_ms: msg.timestamp().to_millis(),
    };
    match stamp {
        Ok(stamp) => auditor.audit(topic, at, &stamp, unix_ms_coarse()),
        Err(reason) => auditor.unaudited(topic, at, reason),
    }
}

/// Shared flag the HTTP server reads for /readyz.
pub type Ready = Arc<AtomicBool>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_agrees_with_the_precise_one() {
        let before = unix_ms();
        let coarse = unix_ms_coarse();
        let after = unix_ms();
        // The coarse clock lags by at most a tick (1-10 ms).
        assert!(
            coarse + 50 >= before && coarse <= after,
            "{before} <= {coarse} <= {after}"
        );
    }
}
