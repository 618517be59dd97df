//! Shared helpers for the integration tests, which run against the real
//! Kafka that `scripts/test.sh` starts and announces in GAPWATCH_TEST_BOOTSTRAP.
#![allow(dead_code)]

pub mod receiver;
pub mod services;

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

/// A free port on loopback (the OS picks it; the listener is dropped).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `gapwatch run` process with its own config, state directory and port.
pub struct Gapwatch {
    pub dir: tempfile::TempDir,
    pub config: std::path::PathBuf,
    pub port: u16,
    pub child: Option<std::process::Child>,
    pub log: std::path::PathBuf,
    runs: u32,
}

impl Gapwatch {
    /// Writes a config auditing `topic` (plus `extra` TOML appended) and starts.
    pub fn start(topic: &str, extra: &str) -> Gapwatch {
        Gapwatch::start_with_state(topic, extra, None)
    }

    /// Like `start`, with the state directory somewhere of the test's choosing.
    pub fn start_with_state(topic: &str, extra: &str, state: Option<&Path>) -> Gapwatch {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("gapwatch.toml");
        let text = format!(
            r#"
[kafka]
bootstrap_servers = "{bootstrap}"
group_id = "gw-{topic}"
[kafka.options]
"group.instance.id" = "gw-{topic}-1"
"session.timeout.ms" = "6000"
[[audit]]
topics = ["{topic}"]
[detection]
confirm_after = "1s"
[state]
dir = "{state}"
flush_interval = "100ms"
[http]
listen = "127.0.0.1:{port}"
{extra}
"#,
            bootstrap = bootstrap(),
            state = state
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.path().join("data"))
                .display(),
        );
        std::fs::write(&config, text).unwrap();
        let log = dir.path().join("gapwatch.log");
        let mut g = Gapwatch {
            dir,
            config,
            port,
            child: None,
            log,
            runs: 0,
        };
        g.spawn();
        g
    }

    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.runs += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gapwatch"))
            .args(["run", "--config", self.config.to_str().unwrap()])
            .env("GAPWATCH_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start gapwatch");
        self.child = Some(child);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET a path; (status, body).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let resp = reqwest::blocking::Client::new()
            .get(self.url(path))
            .timeout(Duration::from_secs(5))
            .send()
            .ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.text().ok()?))
    }

    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self
            .get(path)
            .unwrap_or_else(|| panic!("GET {path} failed"));
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((200, _)) = self.get("/readyz") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gapwatch not ready in {timeout:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every gap of the given status list, all pages.
    pub fn gaps(&self, status: &str) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let v = self.get_json(&format!("/api/v1/gaps?status={status}&limit=1000{cursor}"));
            out.extend(v["gaps"].as_array().unwrap().iter().cloned());
            match v["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => return out,
            }
        }
    }

    /// The value of one metric series, by its exposition name and labels.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, text) = self.get("/metrics").expect("metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0.0)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM; returns the exit status and how long it took.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut c = self.child.take().expect("running");
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        let status = c.wait().unwrap();
        (status, started.elapsed())
    }
}

impl Drop for Gapwatch {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A gap as tests compare them: (partition, producer, epoch, first, last).
pub type GapKey = (i32, String, u64, u64, u64);

/// The non-tail missing ranges of one or more truth files.
pub fn truth_gaps(truths: &[&gapwatch::truth::Truth]) -> std::collections::BTreeSet<GapKey> {
    truths
        .iter()
        .flat_map(|t| t.missing_ranges())
        .map(|(s, r)| {
            (
                s.partition,
                s.producer.clone(),
                s.epoch,
                r.first_seq,
                r.last_seq,
            )
        })
        .collect()
}

/// The gaps of an API listing.
pub fn gap_keys(gaps: &[serde_json::Value]) -> std::collections::BTreeSet<GapKey> {
    gaps.iter()
        .map(|g| {
            (
                g["partition"].as_i64().unwrap() as i32,
                g["producer"].as_str().unwrap().to_owned(),
                g["epoch"].as_u64().unwrap(),
                g["first_seq"].as_u64().unwrap(),
                g["last_seq"].as_u64().unwrap(),
            )
        })
        .collect()
}
