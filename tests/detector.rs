//! `gapwatch run` against a real broker: the gaps it reports are exactly
//! the ground truth's, through crashes and restarts, and its metrics agree.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{
    Gapwatch, bootstrap, create_topic, eventually, fresh_topic, gap_keys, gapwatch, loadgen,
    truth_gaps,
};
use gapwatch::truth::Truth;
use rand::{RngExt, SeedableRng};

/// Waits until gapwatch reports exactly the truth's gaps, all confirmed.
fn assert_reports_truth(gw: &Gapwatch, truth: &Truth) -> Vec<serde_json::Value> {
    let want = truth_gaps(&[truth]);
    assert!(!want.is_empty(), "the scenario injects loss");
    let mut last = BTreeSet::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually(
            Duration::from_secs(90),
            "gapwatch to confirm every gap",
            || {
                let gaps = gw.gaps("open,confirmed");
                last = gap_keys(&gaps);
                let all_confirmed = gaps.iter().all(|g| g["status"] == "confirmed");
                (last == want && all_confirmed).then_some(gaps)
            },
        )
    }));
    match result {
        Ok(gaps) => gaps,
        Err(_) => panic!(
            "reported gaps differ from the truth\nmissing: {:?}\ninvented: {:?}\nlog tail:\n{}",
            want.difference(&last).take(10).collect::<Vec<_>>(),
            last.difference(&want).take(10).collect::<Vec<_>>(),
            gw.log_text()
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

const FAULTS: &[&str] = &[
    "--producers",
    "5",
    "--partitions",
    "3",
    "--messages",
    "20000",
    "--drop-rate",
    "0.0005",
    "--duplicate-rate",
    "0.0005",
    "--reorder-rate",
    "0.0005",
    "--restart-rate",
    "0.0001",
    "--malformed-rate",
    "0.0005",
    "--inject",
    "drop:0:0:1",
    "--inject",
    "drop:1:1:500-520",
    "--inject",
    "drop:2:2:20000",
];

#[test]
fn gaps_reported_equal_the_truth_and_metrics_agree() {
    let topic = fresh_topic("detect");
    create_topic(&topic, 3);
    let gw = Gapwatch::start(&topic, "");
    let dir = tempfile::tempdir().unwrap();
    let truth = loadgen(
        &topic,
        &[FAULTS, &["--seed", "11"]].concat(),
        &dir.path().join("t.json"),
    );
    gw.wait_ready(Duration::from_secs(60));
    let gaps = assert_reports_truth(&gw, &truth);

    // Metrics agree with the API and with the truth.
    let t = format!("{{topic=\"{topic}\"}}");
    let missing: u64 = gaps.iter().map(|g| g["count"].as_u64().unwrap()).sum();
    eventually(Duration::from_secs(10), "metrics to settle", || {
        (gw.metric(&format!("gapwatch_messages_audited_total{t}")) as u64
            == truth.sent - truth.malformed_total())
        .then_some(())
    });
    assert_eq!(
        gw.metric(&format!(
            "gapwatch_missing_messages{{status=\"confirmed\",topic=\"{topic}\"}}"
        )) as u64,
        missing
    );
    assert_eq!(
        gw.metric(&format!(
            "gapwatch_missing_messages{{status=\"open\",topic=\"{topic}\"}}"
        )) as u64,
        0
    );
    assert_eq!(
        gw.metric(&format!("gapwatch_lost_messages_total{t}")) as u64,
        missing
    );
    assert_eq!(
        gw.metric(&format!("gapwatch_gaps_confirmed_total{t}")) as usize,
        gaps.len()
    );
    let dups: usize = truth.streams.iter().map(|s| s.duplicates.len()).sum();
    let reorders: usize = truth.streams.iter().map(|s| s.reorders.len()).sum();
    assert_eq!(
        gw.metric(&format!("gapwatch_duplicates_total{t}")) as usize,
        dups
    );
    assert_eq!(
        gw.metric(&format!("gapwatch_late_arrivals_total{t}")) as usize,
        reorders
    );
    for (kind, n) in &truth.malformed {
        let reason = serde_json::to_value(kind).unwrap();
        let series =
            format!("gapwatch_messages_unaudited_total{{reason={reason},topic=\"{topic}\"}}");
        assert_eq!(gw.metric(&series) as u64, *n, "{series}");
    }

    // A gap's offsets point at the messages either side of it, and the
    // stream endpoints agree with the listing.
    let g = gaps
        .iter()
        .find(|g| g["producer"] == "producer-1" && g["first_seq"] == 500)
        .unwrap();
    assert_eq!(g["last_seq"], 520);
    assert!(g["offset_before"].as_i64().unwrap() < g["offset_after"].as_i64().unwrap());
    let path = format!("/api/v1/streams/{topic}/1/producer-1/missing?format=ids&limit=3");
    let m = gw.get_json(&path);
    let ids: Vec<&str> = m["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(ids.contains(&"producer-1-Partition1-500"), "{m}");
    let msg = gw.get_json(&format!("/api/v1/messages/{topic}/1/producer-1/510"));
    assert_eq!(msg["status"], "missing");
    let msg = gw.get_json(&format!("/api/v1/messages/{topic}/1/producer-1/499"));
    assert_eq!(msg["status"], "seen");
    let leading = gaps
        .iter()
        .find(|g| g["producer"] == "producer-0" && g["partition"] == 0 && g["first_seq"] == 1);
    assert!(
        leading.unwrap()["offset_before"].is_null(),
        "a leading gap has nothing before it"
    );

    // `gapwatch gaps` shows the same gaps to a person.
    let out = gapwatch(&["gaps", "--url", &gw.url(""), "--topic", &topic]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(&format!("{} gaps, {missing} messages missing", gaps.len())),
        "{table}"
    );
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_invents_nothing() {
    let topic = fresh_topic("crash");
    create_topic(&topic, 3);
    let mut gw = Gapwatch::start(&topic, "");
    let dir = tempfile::tempdir().unwrap();
    let truth_path = dir.path().join("t.json");
    // Traffic flows while gapwatch is killed and restarted.
    let producer = {
        let bootstrap = bootstrap();
        let args: Vec<String> = [
            &[
                "loadgen",
                "--bootstrap-servers",
                &bootstrap,
                "--topic",
                &topic,
                "--rate",
                "40000",
                "--seed",
                "12",
                "--truth",
                truth_path.to_str().unwrap(),
            ][..],
            FAULTS,
        ]
        .concat()
        .into_iter()
        .map(str::to_owned)
        .collect();
        std::process::Command::new(env!("CARGO_BIN_EXE_gapwatch"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(rng.random_range(300..2500)));
        gw.kill();
        gw.spawn();
    }
    let status = producer.wait_with_output().unwrap().status;
    assert!(status.success(), "loadgen failed");
    let truth: Truth = serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap();
    gw.wait_ready(Duration::from_secs(60));
    assert_reports_truth(&gw, &truth);
    let log = gw.log_text();
    assert!(log.matches("gapwatch started").count() >= 7);
    assert!(
        log.contains("start=Offset("),
        "at least one restart resumed from gapwatch's own stored offsets"
    );
}

#[test]
fn sigterm_flushes_and_a_restart_carries_on_exactly() {
    let topic = fresh_topic("term");
    create_topic(&topic, 3);
    let mut gw = Gapwatch::start(&topic, "");
    let dir = tempfile::tempdir().unwrap();
    let truth = loadgen(
        &topic,
        &[FAULTS, &["--seed", "13"]].concat(),
        &dir.path().join("t.json"),
    );
    gw.wait_ready(Duration::from_secs(60));
    // Stop while gaps are still open or the topic is half read.
    std::thread::sleep(Duration::from_millis(500));
    let (status, took) = gw.terminate();
    assert!(
        status.success(),
        "clean exit on SIGTERM: {status:?}\n{}",
        gw.log_text()
    );
    assert!(
        took < gapwatch::run::SHUTDOWN_GRACE,
        "stopped within the grace period: {took:?}"
    );
    assert!(gw.log_text().contains("stopped cleanly"));
    gw.spawn();
    gw.wait_ready(Duration::from_secs(60));
    assert_reports_truth(&gw, &truth);
}

#[test]
fn a_10kb_producer_id_and_bad_headers_are_counted_not_fatal() {
    use rdkafka::config::ClientConfig;
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let topic = fresh_topic("poison");
    create_topic(&topic, 1);
    let gw = Gapwatch::start(&topic, "");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .unwrap();
    let big = "p".repeat(10 * 1024);
    let cases: Vec<Vec<(&str, &[u8])>> = vec![
        vec![("x-producer-id", big.as_bytes()), ("x-seq", b"1")],
        vec![("x-producer-id", b"ok"), ("x-seq", b"-5")],
        vec![("x-producer-id", b"ok"), ("x-seq", b"18446744073709551616")],
        vec![("x-producer-id", b"\xff\xfe"), ("x-seq", b"1")],
        vec![],
        vec![("x-producer-id", b"ok"), ("x-seq", b"1")],
        vec![("x-producer-id", b"ok"), ("x-seq", b"3")],
    ];
    for hs in &cases {
        let mut h = OwnedHeaders::new();
        for (k, v) in hs {
            h = h.insert(Header {
                key: k,
                value: Some(*v),
            });
        }
        producer
            .send(
                BaseRecord::<(), [u8]>::to(&topic)
                    .partition(0)
                    .payload(&b"x"[..])
                    .headers(h),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    gw.wait_ready(Duration::from_secs(60));
    let series = |reason: &str| {
        format!("gapwatch_messages_unaudited_total{{reason=\"{reason}\",topic=\"{topic}\"}}")
    };
    eventually(
        Duration::from_secs(30),
        "the good messages to be audited",
        || {
            (gw.metric(&format!(
                "gapwatch_messages_audited_total{{topic=\"{topic}\"}}"
            )) == 2.0)
                .then_some(())
        },
    );
    assert_eq!(gw.metric(&series("invalid_producer")), 2.0);
    assert_eq!(gw.metric(&series("invalid_sequence")), 1.0);
    assert_eq!(gw.metric(&series("sequence_out_of_range")), 1.0);
    assert_eq!(gw.metric(&series("missing_producer")), 1.0);
    let gaps = eventually(Duration::from_secs(30), "the gap after the poison", || {
        let g = gw.gaps("open,confirmed");
        (!g.is_empty()).then_some(g)
    });
    assert_eq!(
        gap_keys(&gaps),
        BTreeSet::from([(0, "ok".to_owned(), 0, 2, 2)])
    );
}

#[test]
fn bad_config_unreachable_broker_and_unwritable_state_each_fail_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let one_line_failure = |args: &[&str], expect: &str| {
        let out = gapwatch(args);
        assert!(!out.status.success(), "{args:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(expect), "expected '{expect}' in: {err}");
    };
    let typo = write(
        "typo.toml",
        "[kafka]\nbootstrap_server = \"127.0.0.1:9092\"\n[[audit]]\ntopics = [\"t\"]\n",
    );
    let typo = typo.to_str().unwrap();
    one_line_failure(
        &["check-config", "--config", typo],
        "kafka.bootstrap_server: unknown key",
    );
    one_line_failure(
        &["run", "--config", typo],
        "kafka.bootstrap_servers: required",
    );
    assert!(
        !dir.path().join("data").exists(),
        "a bad config touches no state"
    );

    let unreachable = write(
        "unreachable.toml",
        &format!(
            "[kafka]\nbootstrap_servers = \"127.0.0.1:1\"\n[[audit]]\ntopics = [\"t\"]\n[state]\ndir = \"{}\"\n",
            dir.path().join("s1").display()
        ),
    );
    one_line_failure(
        &["run", "--config", unreachable.to_str().unwrap()],
        "cannot reach Kafka at 127.0.0.1:1",
    );

    let file = write("not-a-dir", "x");
    let unwritable = write(
        "unwritable.toml",
        &format!(
            "[kafka]\nbootstrap_servers = \"{}\"\n[[audit]]\ntopics = [\"t\"]\n[state]\ndir = \"{}/data\"\n",
            bootstrap(),
            file.display()
        ),
    );
    one_line_failure(
        &["run", "--config", unwritable.to_str().unwrap()],
        "cannot open the state directory",
    );
}
