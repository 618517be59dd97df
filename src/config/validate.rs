//! Turns the raw TOML table into typed settings, collecting every problem.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::raw::{
    RawAlert, RawAlertmanager, RawAudit, RawDetection, RawHttp, RawKafka, RawState, RawWebhook,
};
use super::*;

const SECTIONS: &[&str] = &["kafka", "audit", "detection", "state", "http", "alert"];
const ALERT_KEYS: &[&str] = &[
    "group_window",
    "group_max",
    "max_age",
    "webhook",
    "alertmanager",
];
const WEBHOOK_KEYS: &[&str] = &["url", "secret", "timeout", "headers", "events"];
const ALERTMANAGER_KEYS: &[&str] = &["urls", "severity", "resend_interval", "timeout"];
const KAFKA_KEYS: &[&str] = &["bootstrap_servers", "group_id", "start_offset", "options"];
const AUDIT_KEYS: &[&str] = &[
    "topics",
    "source",
    "producer_header",
    "sequence_header",
    "epoch_header",
    "key_regex",
    "json_producer",
    "json_sequence",
    "json_epoch",
];
const DETECTION_KEYS: &[&str] = &["confirm_after", "truncation_window"];
const STATE_KEYS: &[&str] = &[
    "dir",
    "flush_interval",
    "flush_max_messages",
    "retention",
    "idle_after",
    "max_streams_in_memory",
];
const HTTP_KEYS: &[&str] = &["listen", "auth_token", "public_url"];

/// Reports keys of `table` not in `known`, under `path`.
fn unknown_keys(table: &Table, known: &[&str], path: &str, problems: &mut Vec<String>) {
    for key in table.keys() {
        if !known.contains(&key.as_str()) {
            let full = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let hint = closest(key, known)
                .map(|k| format!(" (did you mean '{k}'?)"))
                .unwrap_or_default();
            problems.push(format!("{full}: unknown key{hint}"));
        }
    }
}

/// The known key nearest to a misspelt one, if any is near.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Deserializes one section, reporting unknown keys and type errors.
fn section<T: DeserializeOwned + Default>(
    value: Option<Value>,
    known: &[&str],
    path: &str,
    problems: &mut Vec<String>,
) -> T {
    match value {
        None => T::default(),
        Some(Value::Table(t)) => {
            unknown_keys(&t, known, path, problems);
            let known_only: Table = t
                .into_iter()
                .filter(|(k, _)| known.contains(&k.as_str()))
                .collect();
            match Value::Table(known_only).try_into::<T>() {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("{path}: {}", e.message().trim()));
                    T::default()
                }
            }
        }
        Some(other) => {
            problems.push(format!(
                "{path}: expected a section, found a {}",
                other.type_str()
            ));
            T::default()
        }
    }
}

fn duration(
    value: Option<&str>,
    default: Duration,
    path: &str,
    problems: &mut Vec<String>,
) -> Duration {
    match value {
        None => default,
        Some(s) => match humantime::parse_duration(s.trim()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                problems.push(format!("{path}: must be longer than zero"));
                default
            }
            Err(e) => {
                problems.push(format!(
                    "{path}: '{s}' is not a duration like \"30s\" or \"5m\" ({e})"
                ));
                default
            }
        },
    }
}

pub fn validate(mut table: Table, problems: &mut Vec<String>) -> Option<Config> {
    unknown_keys(&table, SECTIONS, "", problems);
    let kafka: RawKafka = section(table.remove("kafka"), KAFKA_KEYS, "kafka", problems);
    let detection: RawDetection = section(
        table.remove("detection"),
        DETECTION_KEYS,
        "detection",
        problems,
    );
    let state: RawState = section(table.remove("state"), STATE_KEYS, "state", problems);
    let http: RawHttp = section(table.remove("http"), HTTP_KEYS, "http", problems);
    let alert: RawAlert = section(table.remove("alert"), ALERT_KEYS, "alert", problems);
    let audits: Vec<RawAudit> = match table.remove("audit") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| section(Some(v), AUDIT_KEYS, &format!("audit[{i}]"), problems))
            .collect(),
        Some(_) => {
            problems.push("audit: expected a list of [[audit]] rules".to_owned());
            Vec::new()
        }
    };

    let kafka = kafka_settings(kafka, problems);
    if audits.is_empty() {
        problems.push("audit: at least one [[audit]] rule is required".to_owned());
    }
    let audit: Vec<AuditRule> = audits
        .into_iter()
        .enumerate()
        .filter_map(|(i, a)| audit_rule(a, &format!("audit[{i}]"), problems))
        .collect();
    let detection = DetectionSettings {
        confirm_after: duration(
            detection.confirm_after.as_deref(),
            Duration::from_secs(30),
            "detection.confirm_after",
            problems,
        ),
        truncation_window: detection.truncation_window.unwrap_or(100_000),
    };
    let state = state_settings(state, problems);
    let http = http_settings(http, problems);
    let alert = alert_settings(alert, problems);
    Some(Config {
        kafka: kafka?,
        audit,
        detection,
        state,
        http,
        alert,
    })
}

fn kafka_settings(k: RawKafka, problems: &mut Vec<String>) -> Option<KafkaSettings> {
    let bootstrap_servers = match k.bootstrap_servers {
        Some(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(_) => {
            problems.push("kafka.bootstrap_servers: must not be empty".to_owned());
            None
        }
        None => {
            problems.push("kafka.bootstrap_servers: required (e.g. \"127.0.0.1:9092\")".to_owned());
            None
        }
    };
    let start_offset = match k.start_offset.as_deref() {
        None | Some("earliest") => StartOffset::Earliest,
        Some("latest") => StartOffset::Latest,
        Some(other) => {
            problems.push(format!(
                "kafka.start_offset: '{other}' is neither \"earliest\" nor \"latest\""
            ));
            StartOffset::Earliest
        }
    };
    let mut options = Vec::new();
    for (key, value) in k.options {
        let text = match value {
            Value::String(s) => s,
            Value::Integer(i) => i.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Float(f) => f.to_string(),
            other => {
                problems.push(format!(
                    "kafka.options.{key}: expected a string, number or boolean, found a {}",
                    other.type_str()
                ));
                continue;
            }
        };
        if matches!(key.as_str(), "bootstrap.servers" | "group.id") {
            problems.push(format!(
                "kafka.options.{key}: set it as kafka.{} instead",
                key.replace('.', "_")
            ));
            continue;
        }
        if matches!(
            key.as_str(),
            "auto.offset.reset" | "enable.auto.commit" | "enable.auto.offset.store"
        ) {
            problems.push(format!(
                "kafka.options.{key}: gapwatch manages this itself (offsets are stored with its \
                 state; where a new partition starts is kafka.start_offset)"
            ));
            continue;
        }
        options.push((key, text));
    }
    // Let librdkafka itself judge the options, so a typo fails here and not
    // at the first connection. Its messages never contain values.
    for (key, value) in &options {
        let mut probe = rdkafka::ClientConfig::new();
        probe.set(key, value);
        if let Err(e) = probe.create::<rdkafka::consumer::BaseConsumer>() {
            let text = e.to_string();
            if text.contains("No such configuration property") || text.contains("Invalid value") {
                let shown = if crate::kafka::is_secret_key(key) {
                    "a value that librdkafka rejects".to_owned()
                } else {
                    text
                };
                problems.push(format!("kafka.options.{key}: {shown}"));
            }
        }
    }
    Some(KafkaSettings {
        bootstrap_servers: bootstrap_servers?,
        group_id: k
            .group_id
            .filter(|g| !g.trim().is_empty())
            .unwrap_or_else(|| "gapwatch".to_owned()),
        start_offset,
        options,
    })
}

fn audit_rule(a: RawAudit, path: &str, problems: &mut Vec<String>) -> Option<AuditRule> {
    let before = problems.len();
    let mut topics = Vec::new();
    match a.topics {
        None => problems.push(format!(
            "{path}.topics: required (a list of names or \"re:<regex>\")"
        )),
        Some(list) if list.is_empty() => problems.push(format!("{path}.topics: must not be empty")),
        Some(list) => {
            for (i, t) in list.into_iter().enumerate() {
                if let Some(pattern) = t.strip_prefix("re:") {
                    match regex::Regex::new(pattern) {
                        Ok(re) => topics.push(TopicMatcher::Pattern(re)),
                        Err(e) => problems.push(format!(
                            "{path}.topics[{i}]: bad regex '{pattern}': {}",
                            one_line(&e.to_string())
                        )),
                    }
                } else if t.trim().is_empty() {
                    problems.push(format!("{path}.topics[{i}]: empty topic name"));
                } else {
                    topics.push(TopicMatcher::Exact(t));
                }
            }
        }
    }
    let header = |v: Option<String>, default: &str| v.unwrap_or_else(|| default.to_owned());
    let source = match a.source.as_deref().unwrap_or("headers") {
        "headers" => Some(Source::Headers {
            producer: header(a.producer_header, crate::contract::PRODUCER_HEADER),
            sequence: header(a.sequence_header, crate::contract::SEQUENCE_HEADER),
            epoch: header(a.epoch_header, crate::contract::EPOCH_HEADER),
        }),
        "key" => match a.key_regex {
            None => {
                problems.push(format!("{path}.key_regex: required when source = \"key\""));
                None
            }
            Some(pattern) => match regex::bytes::Regex::new(&pattern) {
                Ok(re) => {
                    let names: Vec<&str> = re.capture_names().flatten().collect();
                    for needed in ["producer", "seq"] {
                        if !names.contains(&needed) {
                            problems.push(format!(
                                "{path}.key_regex: needs a named group (?P<{needed}>...)"
                            ));
                        }
                    }
                    Some(Source::Key(re))
                }
                Err(e) => {
                    problems.push(format!(
                        "{path}.key_regex: bad regex: {}",
                        one_line(&e.to_string())
                    ));
                    None
                }
            },
        },
        "json" => {
            let pointer = |v: Option<String>, key: &str, problems: &mut Vec<String>| match v {
                Some(p) if p.starts_with('/') => Some(p),
                Some(p) => {
                    problems.push(format!(
                        "{path}.{key}: '{p}' is not a JSON pointer (it starts with '/', e.g. \"/seq\")"
                    ));
                    None
                }
                None => None,
            };
            let producer = pointer(a.json_producer, "json_producer", problems);
            let sequence = pointer(a.json_sequence, "json_sequence", problems);
            let epoch = pointer(a.json_epoch, "json_epoch", problems);
            match (producer, sequence) {
                (Some(producer), Some(sequence)) => Some(Source::Json {
                    producer,
                    sequence,
                    epoch,
                }),
                _ => {
                    problems.push(format!(
                        "{path}: source = \"json\" needs json_producer and json_sequence"
                    ));
                    None
                }
            }
        }
        other => {
            problems.push(format!(
                "{path}.source: '{other}' is not one of \"headers\", \"key\", \"json\""
            ));
            None
        }
    };
    if problems.len() > before {
        return None;
    }
    Some(AuditRule {
        topics,
        source: source?,
    })
}

fn state_settings(s: RawState, problems: &mut Vec<String>) -> StateSettings {
    let positive = |v: Option<u64>, default: u64, path: &str, problems: &mut Vec<String>| match v {
        Some(0) => {
            problems.push(format!("{path}: must be at least 1"));
            default
        }
        Some(n) => n,
        None => default,
    };
    StateSettings {
        dir: PathBuf::from(s.dir.unwrap_or_else(|| "./data".to_owned())),
        flush_interval: duration(
            s.flush_interval.as_deref(),
            Duration::from_millis(200),
            "state.flush_interval",
            problems,
        ),
        flush_max_messages: positive(
            s.flush_max_messages,
            50_000,
            "state.flush_max_messages",
            problems,
        ),
        retention: duration(
            s.retention.as_deref(),
            Duration::from_secs(7 * 24 * 3600),
            "state.retention",
            problems,
        ),
        idle_after: duration(
            s.idle_after.as_deref(),
            Duration::from_secs(600),
            "state.idle_after",
            problems,
        ),
        max_streams_in_memory: positive(
            s.max_streams_in_memory,
            1_000_000,
            "state.max_streams_in_memory",
            problems,
        ),
    }
}

fn http_settings(h: RawHttp, problems: &mut Vec<String>) -> HttpSettings {
    let default: SocketAddr = "127.0.0.1:9477".parse().expect("valid default");
    let listen = match h.listen {
        None => default,
        Some(s) => s.parse().unwrap_or_else(|_| {
            problems.push(format!(
                "http.listen: '{s}' is not an address like \"127.0.0.1:9477\""
            ));
            default
        }),
    };
    let auth_token = match h.auth_token {
        Some(t) if t.trim().is_empty() => {
            problems.push("http.auth_token: must not be empty when set".to_owned());
            None
        }
        Some(t) => Some(Secret::new(t)),
        None => None,
    };
    let public_url = match h.public_url {
        Some(u) => match check_url(&u) {
            Ok(()) => u.trim_end_matches('/').to_owned(),
            Err(e) => {
                problems.push(format!("http.public_url: {e}"));
                String::new()
            }
        },
        None => format!("http://{listen}"),
    };
    HttpSettings {
        listen,
        auth_token,
        public_url,
    }
}

/// An http(s) URL with a host; the message never repeats credentials.
fn check_url(u: &str) -> Result<(), String> {
    match reqwest::Url::parse(u) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        Ok(_) => Err(format!(
            "'{}' is not an http:// or https:// URL",
            redact_url(u)
        )),
        Err(e) => Err(format!("'{}' is not a URL ({e})", redact_url(u))),
    }
}

fn alert_settings(a: RawAlert, problems: &mut Vec<String>) -> AlertSettings {
    let mut webhooks = Vec::new();
    for (i, v) in a.webhook.into_iter().enumerate() {
        let path = format!("alert.webhook[{i}]");
        let w: RawWebhook = section(Some(v), WEBHOOK_KEYS, &path, problems);
        let url = match w.url {
            None => {
                problems.push(format!("{path}.url: required"));
                continue;
            }
            Some(u) => {
                if let Err(e) = check_url(&u) {
                    problems.push(format!("{path}.url: {e}"));
                    continue;
                }
                u
            }
        };
        let events = match w.events {
            None => vec![AlertKind::GapConfirmed, AlertKind::GapRecovered],
            Some(list) => {
                let mut kinds = Vec::new();
                for e in list {
                    match AlertKind::ALL.iter().find(|k| k.as_str() == e) {
                        Some(k) => kinds.push(*k),
                        None => problems.push(format!(
                            "{path}.events: '{e}' is not one of gap_opened, gap_confirmed, gap_recovered"
                        )),
                    }
                }
                kinds
            }
        };
        let secret = match w.secret {
            Some(s) if s.is_empty() => {
                problems.push(format!("{path}.secret: must not be empty when set"));
                None
            }
            s => s.map(Secret::new),
        };
        webhooks.push(WebhookSettings {
            url,
            secret,
            timeout: duration(
                w.timeout.as_deref(),
                Duration::from_secs(5),
                &format!("{path}.timeout"),
                problems,
            ),
            headers: w
                .headers
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v)))
                .collect(),
            events,
        });
    }
    let mut alertmanagers = Vec::new();
    for (i, v) in a.alertmanager.into_iter().enumerate() {
        let path = format!("alert.alertmanager[{i}]");
        let am: RawAlertmanager = section(Some(v), ALERTMANAGER_KEYS, &path, problems);
        let urls = am.urls.unwrap_or_default();
        if urls.is_empty() {
            problems.push(format!(
                "{path}.urls: at least one Alertmanager URL is required"
            ));
        }
        for (j, u) in urls.iter().enumerate() {
            if let Err(e) = check_url(u) {
                problems.push(format!("{path}.urls[{j}]: {e}"));
            }
        }
        alertmanagers.push(AlertmanagerSettings {
            urls: urls
                .into_iter()
                .map(|u| u.trim_end_matches('/').to_owned())
                .collect(),
            severity: am.severity.unwrap_or_else(|| "critical".to_owned()),
            resend_interval: duration(
                am.resend_interval.as_deref(),
                Duration::from_secs(30),
                &format!("{path}.resend_interval"),
                problems,
            ),
            timeout: duration(
                am.timeout.as_deref(),
                Duration::from_secs(5),
                &format!("{path}.timeout"),
                problems,
            ),
        });
    }
    let group_max = match a.group_max {
        Some(0) => {
            problems.push("alert.group_max: must be at least 1".to_owned());
            500
        }
        Some(n) => n as usize,
        None => 500,
    };
    AlertSettings {
        group_window: duration(
            a.group_window.as_deref(),
            Duration::from_secs(1),
            "alert.group_window",
            problems,
        ),
        group_max,
        max_age: duration(
            a.max_age.as_deref(),
            Duration::from_secs(24 * 3600),
            "alert.max_age",
            problems,
        ),
        webhooks,
        alertmanagers,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
