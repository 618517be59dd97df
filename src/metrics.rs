//! Every Prometheus series gapwatch exports, registered in one place.
//! Labels come from a fixed set only: topic, partition, status, reason.
//! Producer ids and sequences never become labels; the HTTP API serves them.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    pub audited: IntCounterVec,
    pub unaudited: IntCounterVec,
    pub gaps_detected: IntCounterVec,
    pub gaps_confirmed: IntCounterVec,
    pub gaps_healed: IntCounterVec,
    pub lost_messages: IntCounterVec,
    pub recovered_messages: IntCounterVec,
    pub missing: IntGaugeVec,
    pub duplicates: IntCounterVec,
    pub late_arrivals: IntCounterVec,
    pub replayed: IntCounterVec,
    pub truncations: IntCounterVec,
    pub truncated: IntCounterVec,
    pub unaudited_offsets: IntCounterVec,
    pub streams: IntGaugeVec,
    pub consumer_lag: IntGaugeVec,
    pub last_consumed: prometheus::GaugeVec,
    pub assigned_partitions: IntGauge,
    pub flushes: IntCounter,
    pub flush_errors: IntCounter,
    pub flush_seconds: Histogram,
    pub state_healthy: IntGauge,
    pub kafka_errors: IntCounter,
    pub alerts: IntGaugeVec,
    pub alert_deliveries: IntCounterVec,
    pub alertmanager_pushes: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let r = &registry;
        let last_consumed = prometheus::GaugeVec::new(
            Opts::new(
                "gapwatch_last_consumed_timestamp_seconds",
                "Kafka timestamp of the last message audited, per partition.",
            ),
            &["topic", "partition"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(last_consumed.clone()))
            .expect("unique metric");
        let flush_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "gapwatch_state_flush_duration_seconds",
                "Time to write one atomic batch of state and offsets to RocksDB.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(flush_seconds.clone()))
            .expect("unique metric");
        let single = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let single_gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric");
        let m = Metrics {
            audited: counter(
                r,
                "gapwatch_messages_audited_total",
                "Messages whose stamp was read and checked.",
                &["topic"],
            ),
            unaudited: counter(
                r,
                "gapwatch_messages_unaudited_total",
                "Messages skipped because their stamp is absent or unusable, by reason.",
                &["topic", "reason"],
            ),
            gaps_detected: counter(
                r,
                "gapwatch_gaps_detected_total",
                "Gaps opened: a sequence number was skipped.",
                &["topic"],
            ),
            gaps_confirmed: counter(
                r,
                "gapwatch_gaps_confirmed_total",
                "Gaps that stayed open for detection.confirm_after and now count as lost.",
                &["topic"],
            ),
            gaps_healed: counter(
                r,
                "gapwatch_gaps_healed_total",
                "Gaps whose every missing message arrived late.",
                &["topic"],
            ),
            lost_messages: counter(
                r,
                "gapwatch_lost_messages_total",
                "Messages in gaps at the moment they were confirmed lost.",
                &["topic"],
            ),
            recovered_messages: counter(
                r,
                "gapwatch_recovered_messages_total",
                "Messages counted lost that arrived after all.",
                &["topic"],
            ),
            missing: gauge(
                r,
                "gapwatch_missing_messages",
                "Messages missing now, by gap status (open = suspected, confirmed = lost).",
                &["topic", "status"],
            ),
            duplicates: counter(
                r,
                "gapwatch_duplicates_total",
                "Messages whose sequence number had been seen already.",
                &["topic"],
            ),
            late_arrivals: counter(
                r,
                "gapwatch_late_arrivals_total",
                "Messages that arrived after a later one and filled a gap.",
                &["topic"],
            ),
            replayed: counter(
                r,
                "gapwatch_replayed_messages_total",
                "Redelivered messages at offsets already audited, skipped.",
                &["topic"],
            ),
            truncations: counter(
                r,
                "gapwatch_log_truncations_total",
                "Times Kafka's log of a partition was cut below what gapwatch had audited (an unclean leader election).",
                &["topic"],
            ),
            truncated: counter(
                r,
                "gapwatch_truncated_messages_total",
                "Audited messages that a log truncation removed from Kafka; they are reported missing.",
                &["topic"],
            ),
            unaudited_offsets: counter(
                r,
                "gapwatch_unaudited_offsets_total",
                "Offsets gapwatch could not audit: deleted by retention before it read them (expired), or truncated with contents it no longer knew (truncated).",
                &["topic", "cause"],
            ),
            streams: gauge(
                r,
                "gapwatch_streams",
                "Streams (topic, partition, producer, epoch) held in memory.",
                &["topic"],
            ),
            consumer_lag: gauge(
                r,
                "gapwatch_consumer_lag_messages",
                "Messages in the partition not yet audited (high watermark minus next offset).",
                &["topic", "partition"],
            ),
            last_consumed,
            assigned_partitions: single_gauge(
                "gapwatch_assigned_partitions",
                "Partitions assigned to this instance.",
            ),
            flushes: single(
                "gapwatch_state_flushes_total",
                "Atomic batches of state and offsets written to RocksDB.",
            ),
            flush_errors: single(
                "gapwatch_state_flush_errors_total",
                "Batches RocksDB refused (disk full, I/O error); retried until they succeed.",
            ),
            flush_seconds,
            state_healthy: single_gauge(
                "gapwatch_state_healthy",
                "1 while state writes succeed, 0 while RocksDB refuses them.",
            ),
            kafka_errors: single(
                "gapwatch_kafka_errors_total",
                "Errors reported by the Kafka client.",
            ),
            alerts: gauge(
                r,
                "gapwatch_alerts",
                "Webhook notifications by delivery status: pending (being retried) or dead (gave up after alert.max_age).",
                &["status"],
            ),
            alert_deliveries: counter(
                r,
                "gapwatch_alert_deliveries_total",
                "Webhook delivery attempts by outcome (delivered, failed).",
                &["status"],
            ),
            alertmanager_pushes: counter(
                r,
                "gapwatch_alertmanager_pushes_total",
                "Pushes of alerts to Alertmanager by outcome (ok, failed).",
                &["status"],
            ),
            registry,
        };
        // Series that exist from the start, so dashboards and rules see 0
        // rather than nothing.
        for status in ["pending", "dead"] {
            m.alerts.with_label_values(&[status]).set(0);
        }
        for status in ["delivered", "failed"] {
            m.alert_deliveries.with_label_values(&[status]);
        }
        for status in ["ok", "failed"] {
            m.alertmanager_pushes.with_label_values(&[status]);
        }
        m
    }

    /// The text exposition of every series.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let enc = TextEncoder::new();
        if enc.encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// One topic's counters, resolved once so the hot path does no label lookups.
#[derive(Clone)]
pub struct TopicMetrics {
    pub audited: IntCounter,
    pub duplicates: IntCounter,
    pub late: IntCounter,
    pub replayed: IntCounter,
    pub gaps_detected: IntCounter,
    pub gaps_confirmed: IntCounter,
    pub gaps_healed: IntCounter,
    pub lost: IntCounter,
    pub recovered: IntCounter,
    pub missing_open: IntGauge,
    pub missing_confirmed: IntGauge,
    pub streams: IntGauge,
}

impl TopicMetrics {
    pub fn new(m: &Metrics, topic: &str) -> TopicMetrics {
        TopicMetrics {
            audited: m.audited.with_label_values(&[topic]),
            duplicates: m.duplicates.with_label_values(&[topic]),
            late: m.late_arrivals.with_label_values(&[topic]),
            replayed: m.replayed.with_label_values(&[topic]),
            gaps_detected: m.gaps_detected.with_label_values(&[topic]),
            gaps_confirmed: m.gaps_confirmed.with_label_values(&[topic]),
            gaps_healed: m.gaps_healed.with_label_values(&[topic]),
            lost: m.lost_messages.with_label_values(&[topic]),
            recovered: m.recovered_messages.with_label_values(&[topic]),
            missing_open: m.missing.with_label_values(&[topic, "open"]),
            missing_confirmed: m.missing.with_label_values(&[topic, "confirmed"]),
            streams: m.streams.with_label_values(&[topic]),
        }
        .with_zeroed_rare_series(m, topic)
    }

    /// Series that usually stay at zero exist from the start, so rules and
    /// dashboards see 0 (and `increase` sees the first event) rather than
    /// nothing.
    fn with_zeroed_rare_series(self, m: &Metrics, topic: &str) -> TopicMetrics {
        m.truncations.with_label_values(&[topic]);
        m.truncated.with_label_values(&[topic]);
        for cause in ["expired", "truncated"] {
            m.unaudited_offsets.with_label_values(&[topic, cause]);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_has_help_and_only_fixed_labels() {
        let m = Metrics::new();
        let t = TopicMetrics::new(&m, "orders");
        t.audited.inc();
        m.unaudited
            .with_label_values(&["orders", "missing_sequence"])
            .inc();
        m.consumer_lag.with_label_values(&["orders", "0"]).set(3);
        m.last_consumed.with_label_values(&["orders", "0"]).set(1.0);
        for family in m.registry.gather() {
            assert!(!family.help().is_empty(), "{} has help", family.name());
            for metric in family.get_metric() {
                for label in metric.get_label() {
                    assert!(
                        ["topic", "partition", "status", "reason", "cause"].contains(&label.name()),
                        "{} has label {}",
                        family.name(),
                        label.name()
                    );
                }
            }
        }
        let text = m.render();
        assert!(text.contains("gapwatch_messages_audited_total{topic=\"orders\"} 1"));
        assert!(text.contains("gapwatch_missing_messages{status=\"open\",topic=\"orders\"} 0"));
    }
}
