//! The librdkafka consumer context: rebalance callbacks that hand partitions
//! to the auditor (seeking to gapwatch's own stored offsets) and take them
//! back after a final flush, plus logging, errors and statistics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::audit::{Auditor, StartAt};
use crate::config::AuditRule;
use crate::metrics::Metrics;

pub struct AuditContext {
    auditor: Arc<Mutex<Auditor>>,
    rules: Arc<Vec<AuditRule>>,
    metrics: Arc<Metrics>,
    /// High watermarks from librdkafka's statistics, for the lag gauge.
    high_watermarks: Mutex<HashMap<(String, i32), i64>>,
    /// Set when a callback met an error the loop must stop on.
    fatal: Mutex<Option<String>>,
    /// The group has handed out partitions at least once.
    pub assigned: Arc<AtomicBool>,
    /// While set (at start, until a broker answered), librdkafka's own
    /// complaints go to debug: the start-up check reports them in one line.
    pub quiet: AtomicBool,
    /// The first few distinct errors librdkafka reported while quiet (they
    /// name the cause, such as failed authentication, better than the
    /// request that failed).
    quiet_errors: Mutex<Vec<String>>,
}

impl AuditContext {
    pub fn new(
        auditor: Arc<Mutex<Auditor>>,
        rules: Arc<Vec<AuditRule>>,
        metrics: Arc<Metrics>,
    ) -> AuditContext {
        AuditContext {
            auditor,
            rules,
            metrics,
            high_watermarks: Mutex::new(HashMap::new()),
            fatal: Mutex::new(None),
            assigned: Arc::new(AtomicBool::new(false)),
            quiet: AtomicBool::new(true),
            quiet_errors: Mutex::new(Vec::new()),
        }
    }

    pub fn auditor(&self) -> MutexGuard<'_, Auditor> {
        // A panic while holding the lock would already have stopped the
        // loop; the state inside stays consistent with what was flushed.
        self.auditor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an error the consumer returned from poll.
    pub fn metrics_error(&self) {
        self.metrics.kafka_errors.inc();
    }

    /// What librdkafka complained about during the quiet start.
    pub fn quiet_errors(&self) -> Option<String> {
        let errors = self.quiet_errors.lock().ok()?;
        (!errors.is_empty()).then(|| errors.join("; "))
    }

    fn note_quiet_error(&self, text: &str) {
        // The same complaint comes as a log line ("[thrd:...]: " first) and
        // as an error, and again with "(after ..., N identical suppressed)".
        let text = match text.strip_prefix("[thrd:") {
            Some(rest) => rest.split_once("]: ").map_or(text, |(_, t)| t),
            None => text,
        };
        let key = |s: &str| s.split(" (after ").next().unwrap_or(s).to_owned();
        if let Ok(mut errors) = self.quiet_errors.lock()
            && errors.len() < 3
            && !errors.iter().any(|e| key(e) == key(text))
        {
            errors.push(text.to_owned());
        }
    }

    pub fn take_fatal(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|mut f| f.take())
    }

    /// Where a partition never read starts.
    pub fn start_offset(&self) -> Offset {
        match self.auditor().start_offset() {
            crate::config::StartOffset::Earliest => Offset::Beginning,
            crate::config::StartOffset::Latest => Offset::End,
        }
    }

    pub fn set_fatal(&self, msg: String) {
        if let Ok(mut f) = self.fatal.lock() {
            f.get_or_insert(msg);
        }
    }

    pub fn high_watermarks(&self) -> Vec<((String, i32), i64)> {
        self.high_watermarks
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// The first rule whose topics match.
    pub fn rule_for(&self, topic: &str) -> Option<usize> {
        rule_for(&self.rules, topic)
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let parts: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        // A topic deleted and created again since gapwatch last held it
        // starts over; what was known of the old one is archived.
        let mut names: Vec<&str> = parts.iter().map(|(t, _)| t.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let ids = match super::describe_topics(consumer, &names, std::time::Duration::from_secs(5))
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read topic ids; checking again later");
                HashMap::new()
            }
        };
        let mut auditor = self.auditor();
        for (topic, id) in &ids {
            if let Err(e) = auditor.check_topic_id(topic, id) {
                self.set_fatal(format!("cannot check the id of topic {topic}: {e}"));
                return;
            }
        }
        for (topic, partition) in &parts {
            let Some(rule) = self.rule_for(topic) else {
                continue;
            };
            match auditor.assign(topic, *partition, rule) {
                Ok(start) => {
                    let offset = match start {
                        StartAt::Offset(o) => Offset::Offset(o),
                        StartAt::Beginning => Offset::Beginning,
                        StartAt::End => Offset::End,
                    };
                    let _ = tpl.set_partition_offset(topic, *partition, offset);
                    tracing::info!(topic = %topic, partition, start = ?start, "partition assigned");
                }
                Err(e) => {
                    self.set_fatal(format!("cannot load state for {topic}/{partition}: {e}"));
                    return;
                }
            }
        }
        drop(auditor);
        // With a cooperative assignor (set through kafka.options) only the
        // change is handed over; with the default eager ones, the whole set.
        let taken = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_assign(tpl),
            _ => consumer.assign(tpl),
        };
        if let Err(e) = taken {
            self.set_fatal(format!("cannot take the assigned partitions: {e}"));
            return;
        }
        self.assigned.store(true, Ordering::Release);
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let mut auditor = self.auditor();
        if let Err(e) = auditor.flush_durably() {
            // What was not written is read again from the stored offsets by
            // whoever takes the partition next: nothing is lost.
            tracing::warn!(error = %e, "state not flushed before the partitions were revoked");
        }
        commit(consumer, &auditor, CommitMode::Sync);
        for e in tpl.elements() {
            auditor.revoke(e.topic(), e.partition());
            tracing::info!(
                topic = e.topic(),
                partition = e.partition(),
                "partition revoked"
            );
        }
        drop(auditor);
        let released = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_unassign(tpl),
            _ => consumer.unassign(),
        };
        if let Err(e) = released {
            tracing::warn!(error = %e, "unassign failed");
        }
    }
}

/// Commits the auditor's positions to Kafka: advisory, for lag tools. The
/// offsets that count are the ones stored with the state.
pub fn commit(consumer: &BaseConsumer<AuditContext>, auditor: &Auditor, mode: CommitMode) {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, next) in auditor.durable_positions() {
        let _ = tpl.add_partition_offset(&topic, partition, Offset::Offset(next));
    }
    if tpl.count() > 0
        && let Err(e) = consumer.commit(&tpl, mode)
    {
        tracing::debug!(error = %e, "advisory offset commit failed");
    }
}

pub fn rule_for(rules: &[AuditRule], topic: &str) -> Option<usize> {
    rules
        .iter()
        .position(|r| r.topics.iter().any(|m| m.matches(topic)))
}

impl ClientContext for AuditContext {
    fn stats(&self, stats: Statistics) {
        if let Ok(mut hw) = self.high_watermarks.lock() {
            for (topic, t) in stats.topics {
                for (partition, p) in t.partitions {
                    if partition >= 0 && p.hi_offset >= 0 {
                        hw.insert((topic.clone(), partition), p.hi_offset);
                    }
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.metrics.kafka_errors.inc();
        if self.quiet.load(Ordering::Relaxed) {
            tracing::debug!(error = %error, "kafka: {reason}");
            self.note_quiet_error(reason);
        } else {
            tracing::warn!(error = %error, "kafka: {reason}");
        }
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        if self.quiet.load(Ordering::Relaxed) {
            tracing::debug!(facility = fac, "librdkafka: {msg}");
            if matches!(level, L::Emerg | L::Alert | L::Critical | L::Error) {
                self.note_quiet_error(msg);
            }
            return;
        }
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => {
                tracing::error!(facility = fac, "librdkafka: {msg}")
            }
            L::Warning => tracing::warn!(facility = fac, "librdkafka: {msg}"),
            L::Notice | L::Info => tracing::info!(facility = fac, "librdkafka: {msg}"),
            L::Debug => tracing::debug!(facility = fac, "librdkafka: {msg}"),
        }
    }
}

impl ConsumerContext for AuditContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => {
                tracing::warn!(error = ?other, "rebalance error; letting go of every partition");
                self.revoke(consumer, tpl);
            }
        }
    }
}
