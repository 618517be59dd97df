//! gapwatch's configuration: a TOML file, overridden by `GAPWATCH_…`
//! environment variables, validated once into typed settings. Every problem
//! is reported at once, each with the path of its key.

mod env;
mod raw;
mod secret;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env::PREFIX as ENV_PREFIX;
pub use secret::Secret;

/// Where a partition without a stored offset starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartOffset {
    /// From the first offset still in the log: numbers missing before a
    /// producer's first message there count as lost.
    Earliest,
    /// From the end: only traffic after gapwatch starts is audited.
    Latest,
}

#[derive(Clone)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub group_id: String,
    pub start_offset: StartOffset,
    /// Passed verbatim to librdkafka; values of secret keys never print.
    pub options: Vec<(String, String)>,
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options: Vec<(&str, &str)> = self
            .options
            .iter()
            .map(|(k, v)| {
                let shown = if crate::kafka::is_secret_key(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaSettings")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("group_id", &self.group_id)
            .field("start_offset", &self.start_offset)
            .field("options", &options)
            .finish()
    }
}

/// Which topics a rule audits.
#[derive(Clone, Debug)]
pub enum TopicMatcher {
    Exact(String),
    Pattern(regex::Regex),
}

impl TopicMatcher {
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            TopicMatcher::Exact(t) => t == topic,
            TopicMatcher::Pattern(re) => re.is_match(topic),
        }
    }
}

/// Where a rule finds the producer id, the sequence and the epoch.
#[derive(Clone, Debug)]
pub enum Source {
    Headers {
        producer: String,
        sequence: String,
        epoch: String,
    },
    /// A regex over the message key with named groups `producer`, `seq` and
    /// optionally `epoch`.
    Key(regex::bytes::Regex),
    /// JSON pointers (RFC 6901) into the payload.
    Json {
        producer: String,
        sequence: String,
        epoch: Option<String>,
    },
}

#[derive(Clone, Debug)]
pub struct AuditRule {
    pub topics: Vec<TopicMatcher>,
    pub source: Source,
}

#[derive(Clone, Debug)]
pub struct DetectionSettings {
    pub confirm_after: Duration,
    /// Arrivals remembered per partition so a truncated log can be undone.
    pub truncation_window: u64,
}

#[derive(Clone, Debug)]
pub struct StateSettings {
    pub dir: PathBuf,
    pub flush_interval: Duration,
    pub flush_max_messages: u64,
    pub retention: Duration,
    pub idle_after: Duration,
    pub max_streams_in_memory: u64,
}

#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub auth_token: Option<Secret>,
    /// How people reach this gapwatch; alert links start with it.
    pub public_url: String,
}

/// The events a webhook can be sent.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A gap opened (suspected loss; it may still fill).
    GapOpened,
    /// A gap stayed open for detection.confirm_after: messages lost.
    GapConfirmed,
    /// A confirmed gap healed: the messages counted lost arrived after all.
    GapRecovered,
}

impl AlertKind {
    pub const ALL: [AlertKind; 3] = [
        AlertKind::GapOpened,
        AlertKind::GapConfirmed,
        AlertKind::GapRecovered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::GapOpened => "gap_opened",
            AlertKind::GapConfirmed => "gap_confirmed",
            AlertKind::GapRecovered => "gap_recovered",
        }
    }
}

#[derive(Clone)]
pub struct WebhookSettings {
    pub url: String,
    pub secret: Option<Secret>,
    pub timeout: Duration,
    /// Extra request headers; values may hold credentials and never print.
    pub headers: Vec<(String, Secret)>,
    pub events: Vec<AlertKind>,
}

#[derive(Clone)]
pub struct AlertmanagerSettings {
    pub urls: Vec<String>,
    pub severity: String,
    pub resend_interval: Duration,
    pub timeout: Duration,
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &url_origin(&self.url))
            .field("secret", &self.secret)
            .field("timeout", &self.timeout)
            .field("headers", &self.headers)
            .field("events", &self.events)
            .finish()
    }
}

impl fmt::Debug for AlertmanagerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(|u| redact_url(u)).collect();
        f.debug_struct("AlertmanagerSettings")
            .field("urls", &urls)
            .field("severity", &self.severity)
            .field("resend_interval", &self.resend_interval)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct AlertSettings {
    /// Events of one topic and partition within this window go out as one notification.
    pub group_window: Duration,
    /// At most this many gaps in one notification.
    pub group_max: usize,
    /// Undelivered notifications older than this are dead-lettered.
    pub max_age: Duration,
    pub webhooks: Vec<WebhookSettings>,
    pub alertmanagers: Vec<AlertmanagerSettings>,
}

impl AlertSettings {
    /// The event kinds some webhook wants.
    pub fn wanted(&self) -> Vec<AlertKind> {
        let mut kinds: Vec<AlertKind> = self
            .webhooks
            .iter()
            .flat_map(|w| w.events.iter().copied())
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub kafka: KafkaSettings,
    pub audit: Vec<AuditRule>,
    pub detection: DetectionSettings,
    pub state: StateSettings,
    pub http: HttpSettings,
    pub alert: AlertSettings,
}

/// Every problem found in a configuration.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    pub source: String,
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{}: {n} problem{}: {}",
            self.source,
            if n == 1 { "" } else { "s" },
            self.problems.join("; ")
        )
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Reads `path` and applies overrides from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        Config::load_with_env(path, &env)
    }

    /// Reads `path` and applies overrides from `env`.
    pub fn load_with_env(
        path: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigErrors> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            source: source.clone(),
            problems: vec![format!("cannot read the file: {e}")],
        })?;
        Config::parse(&text, env).map_err(|problems| ConfigErrors { source, problems })
    }

    /// Parses TOML text and applies `env`; on failure returns every problem.
    pub fn parse(text: &str, env: &BTreeMap<String, String>) -> Result<Config, Vec<String>> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            vec![
                format!("not valid TOML: {}", e.message().trim())
                    + &e.span()
                        .map(|s| format!(" (at byte {})", s.start))
                        .unwrap_or_default(),
            ]
        })?;
        let mut problems = env::apply(&mut table, env);
        let config = validate::validate(table, &mut problems);
        match config {
            Some(c) if problems.is_empty() => Ok(c),
            _ => Err(problems),
        }
    }

    /// A description of the settings for `check-config`, secrets redacted.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let k = &self.kafka;
        out.push_str(&format!(
            "kafka: {} (group '{}', start at {:?})\n",
            k.bootstrap_servers, k.group_id, k.start_offset
        ));
        for (key, value) in &k.options {
            let shown = if crate::kafka::is_secret_key(key) {
                "<redacted>"
            } else {
                value.as_str()
            };
            out.push_str(&format!("  option {key} = {shown}\n"));
        }
        for (i, rule) in self.audit.iter().enumerate() {
            let topics: Vec<String> = rule
                .topics
                .iter()
                .map(|t| match t {
                    TopicMatcher::Exact(s) => s.clone(),
                    TopicMatcher::Pattern(re) => format!("re:{re}"),
                })
                .collect();
            let source = match &rule.source {
                Source::Headers {
                    producer,
                    sequence,
                    epoch,
                } => format!("headers {producer}, {sequence}, {epoch}"),
                Source::Key(re) => format!("key regex {re}"),
                Source::Json {
                    producer, sequence, ..
                } => format!("json {producer}, {sequence}"),
            };
            out.push_str(&format!(
                "audit[{i}]: {} from {source}\n",
                topics.join(", ")
            ));
        }
        out.push_str(&format!(
            "detection: gaps confirmed after {}\n",
            humantime::format_duration(self.detection.confirm_after)
        ));
        out.push_str(&format!("state: {}\n", self.state.dir.display()));
        for w in &self.alert.webhooks {
            let events: Vec<&str> = w.events.iter().map(|e| e.as_str()).collect();
            out.push_str(&format!(
                "webhook: {} ({}{})\n",
                url_origin(&w.url),
                events.join(", "),
                if w.secret.is_some() { ", signed" } else { "" }
            ));
        }
        for a in &self.alert.alertmanagers {
            let urls: Vec<String> = a.urls.iter().map(|u| redact_url(u)).collect();
            out.push_str(&format!("alertmanager: {}\n", urls.join(", ")));
        }
        out.push_str(&format!(
            "http: {}{}\n",
            self.http.listen,
            if self.http.auth_token.is_some() {
                " (API token required)"
            } else {
                ""
            }
        ));
        out
    }
}

/// Scheme, host and port of a URL: webhook paths and queries often carry
/// tokens, so logs and `check-config` show only this.
pub fn url_origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let path = if u.path().len() > 1 || u.query().is_some() {
                "/…"
            } else {
                ""
            };
            format!(
                "{}://{}{port}{path}",
                u.scheme(),
                u.host_str().unwrap_or("")
            )
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

/// A URL with any user:password part hidden.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<redacted>@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;
