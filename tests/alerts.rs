//! Alerts end to end with real components: loadgen with loss → gapwatch →
//! a signed webhook, gapwatch's own Alertmanager push and a real Prometheus
//! evaluating config/prometheus/alerts.yml → a real Alertmanager → the
//! test's receiver; healing resolves. Also crashes between confirmation and
//! delivery, a receiver that fails for a while, a dead target, a storm, and
//! the gaps page in headless Chromium.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use common::receiver::{Receiver, signature_ok};
use common::services::{alertmanager, prometheus};
use common::{
    GapKey, Gapwatch, bootstrap, create_topic, eventually, fresh_topic, gap_keys, loadgen,
    truth_gaps,
};

const SECRET: &str = "test-webhook-secret";

/// Every gap in the webhook notifications of one event kind, signature checked.
fn webhook_gaps(rx: &Receiver, event: &str) -> BTreeSet<GapKey> {
    let mut seen_ids = HashSet::new();
    let mut out = BTreeSet::new();
    for r in rx.requests("/hook").iter().filter(|r| r.answered == 200) {
        assert!(
            signature_ok(r, SECRET.as_bytes()),
            "bad signature on {:?}",
            r.headers
        );
        let body = r.json();
        assert_eq!(r.header("x-gapwatch-id"), body["id"].as_str());
        if body["event"] != event || !seen_ids.insert(body["id"].as_str().unwrap().to_owned()) {
            continue;
        }
        for g in body["gaps"].as_array().unwrap() {
            out.insert((
                body["partition"].as_i64().unwrap() as i32,
                g["producer"].as_str().unwrap().to_owned(),
                g["epoch"].as_u64().unwrap(),
                g["first_seq"].as_u64().unwrap(),
                g["last_seq"].as_u64().unwrap(),
            ));
        }
    }
    out
}

/// (alertname, producer label or "", status) of what Alertmanager delivered.
fn alertmanager_deliveries(rx: &Receiver) -> Vec<(String, String, String, String)> {
    rx.requests("/am")
        .iter()
        .flat_map(|r| {
            let body = r.json();
            body["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        a["labels"]["alertname"].as_str().unwrap_or("").to_owned(),
                        a["labels"]["topic"].as_str().unwrap_or("").to_owned(),
                        a["labels"]["producer"].as_str().unwrap_or("").to_owned(),
                        a["status"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What Alertmanager delivered for `topic` with `status`: the producers of
/// gapwatch's own per-stream alerts, and whether the Prometheus rule's
/// per-topic alert (which has no producer label) came through.
fn through_alertmanager(rx: &Receiver, topic: &str, status: &str) -> (BTreeSet<String>, bool) {
    let d = alertmanager_deliveries(rx);
    let ours = |n: &str, t: &str, s: &str| n == "GapwatchMessagesLost" && t == topic && s == status;
    let pushed = d
        .iter()
        .filter(|(n, t, p, s)| ours(n, t, s) && !p.is_empty())
        .map(|(_, _, p, _)| p.clone())
        .collect();
    let from_rule = d.iter().any(|(n, t, p, s)| ours(n, t, s) && p.is_empty());
    (pushed, from_rule)
}

/// Writes 2 partitions of stamped traffic with random drops; the gaps it
/// must produce (never none).
fn lossy_traffic(
    topic: &str,
    dir: &std::path::Path,
    producers: &str,
    messages: &str,
    drop_rate: &str,
    seed: &str,
) -> BTreeSet<GapKey> {
    let truth = loadgen(
        topic,
        &[
            "--producers",
            producers,
            "--partitions",
            "2",
            "--messages",
            messages,
            "--drop-rate",
            drop_rate,
            "--seed",
            seed,
        ],
        &dir.join(format!("truth-{seed}.json")),
    );
    let want = truth_gaps(&[&truth]);
    assert!(!want.is_empty());
    want
}

/// The ids of the webhook requests the receiver answered with `status`
/// (0: still unanswered).
fn hook_ids(rx: &Receiver, status: u16) -> BTreeSet<String> {
    rx.requests("/hook")
        .iter()
        .filter(|r| r.answered == status)
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect()
}

fn alert_config(hook: &str, alertmanager_url: Option<&str>, max_age: &str) -> String {
    let mut s = format!(
        "[alert]\ngroup_window = \"300ms\"\nmax_age = \"{max_age}\"\n\
         [[alert.webhook]]\nurl = \"{hook}\"\nsecret = \"{SECRET}\"\ntimeout = \"2s\"\n\
         events = [\"gap_confirmed\", \"gap_recovered\"]\n"
    );
    if let Some(am) = alertmanager_url {
        s.push_str(&format!(
            "[[alert.alertmanager]]\nurls = [\"{am}\"]\nresend_interval = \"1s\"\n"
        ));
    }
    s
}

/// Sends the given numbers of a producer's stream, stamped, to heal gaps.
fn send_stamped(
    topic: &str,
    partition: i32,
    producer: &str,
    epoch: u64,
    seqs: impl Iterator<Item = u64>,
) {
    use rdkafka::config::ClientConfig;
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .unwrap();
    for seq in seqs {
        let (s, e) = (seq.to_string(), epoch.to_string());
        let h = OwnedHeaders::new()
            .insert(Header {
                key: "x-producer-id",
                value: Some(producer),
            })
            .insert(Header {
                key: "x-seq",
                value: Some(&s),
            })
            .insert(Header {
                key: "x-producer-epoch",
                value: Some(&e),
            });
        p.send(
            BaseRecord::<(), [u8]>::to(topic)
                .partition(partition)
                .payload(&b"late"[..])
                .headers(h),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

/// Replaces Grafana's variables so an expression runs in plain Prometheus.
fn plain(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$topic", ".*")
}

#[test]
fn loss_reaches_people_by_webhook_and_alertmanager_and_healing_resolves_it() {
    let topic = fresh_topic("alerts");
    create_topic(&topic, 2);
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(0);
    let am = alertmanager(dir.path(), &rx.url("/am"));
    let gw = Gapwatch::start(
        &topic,
        &alert_config(&rx.url("/hook"), Some(&am.url("")), "1h"),
    );
    let rules =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prometheus/alerts.yml");
    let prom = prometheus(dir.path(), gw.port, &rules, am.port);
    let truth = loadgen(
        &topic,
        &[
            "--producers",
            "2",
            "--partitions",
            "2",
            "--messages",
            "3000",
            "--seed",
            "5",
            "--malformed-rate",
            "0.002",
            "--inject",
            "drop:0:0:100-104",
            "--inject",
            "drop:1:1:50",
            "--inject",
            "drop:1:0:2000-2001",
        ],
        &dir.path().join("truth.json"),
    );
    let want = truth_gaps(&[&truth]);
    assert_eq!(want.len(), 3);
    gw.wait_ready(Duration::from_secs(60));

    // (a) The webhook gets exactly the truth's gaps, signed.
    eventually(
        Duration::from_secs(60),
        "webhook notifications of every gap",
        || (webhook_gaps(&rx, "gap_confirmed") == want).then_some(()),
    );
    // (b) gapwatch's own push and (c) Prometheus's rule both reach
    // Alertmanager, which delivers them to the receiver.
    eventually(
        Duration::from_secs(90),
        "both kinds of alerts through Alertmanager",
        || {
            let (pushed, from_rule) = through_alertmanager(&rx, &topic, "firing");
            let producers = BTreeSet::from(["producer-0".to_owned(), "producer-1".to_owned()]);
            (pushed == producers && from_rule).then_some(())
        },
    );

    // Every PromQL expression of the dashboard and the rules parses and
    // returns data from this Prometheus, which scraped a run with loss.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/gapwatch.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["expr"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(exprs.len() >= 14);
    for expr in &exprs {
        let q = plain(expr);
        let v = prom.get_json(&format!(
            "/api/v1/query?query={}",
            gapwatch::alert::urlencode(&q)
        ));
        assert_eq!(v["status"], "success", "{q}: {v}");
        assert!(
            !v["data"]["result"].as_array().unwrap().is_empty(),
            "dashboard query returns no data: {q}"
        );
    }
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    let metric = regex::Regex::new(r"gapwatch_[a-z_]+").unwrap();
    // The rules as Prometheus loaded them: each evaluated without error and
    // its query runs.
    let loaded = prom.get_json("/api/v1/rules");
    let rules_loaded: Vec<serde_json::Value> = loaded["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect();
    assert_eq!(rules_loaded.len(), rules_text.matches("- alert:").count());
    for r in &rules_loaded {
        assert_eq!(r["health"], "ok", "rule {}: {}", r["name"], r["lastError"]);
        let q = r["query"].as_str().unwrap();
        let v = prom.get_json(&format!(
            "/api/v1/query?query={}",
            gapwatch::alert::urlencode(q)
        ));
        assert_eq!(v["status"], "success", "{q}: {v}");
    }
    for m in metric
        .find_iter(&rules_text)
        .map(|m| m.as_str())
        .collect::<BTreeSet<_>>()
    {
        let v = prom.get_json(&format!("/api/v1/query?query={m}"));
        assert!(
            !v["data"]["result"].as_array().unwrap().is_empty(),
            "rule metric {m} has no data"
        );
    }

    // Healing: the late messages arrive, the gaps heal, everything resolves.
    send_stamped(&topic, 0, "producer-0", 1, 100..=104);
    send_stamped(&topic, 1, "producer-1", 1, 50..=50);
    send_stamped(&topic, 0, "producer-1", 1, 2000..=2001);
    eventually(
        Duration::from_secs(60),
        "gap_recovered notifications",
        || (webhook_gaps(&rx, "gap_recovered") == want).then_some(()),
    );
    eventually(
        Duration::from_secs(90),
        "resolved alerts through Alertmanager",
        || {
            let (pushed, from_rule) = through_alertmanager(&rx, &topic, "resolved");
            (pushed.len() == 2 && from_rule).then_some(())
        },
    );
    assert!(gw.gaps("open,confirmed").is_empty());
}

#[test]
fn a_crash_before_delivery_and_a_failing_receiver_lose_no_alert() {
    let topic = fresh_topic("outbox");
    create_topic(&topic, 2);
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(0);
    rx.answer_with(503);
    let mut gw = Gapwatch::start(&topic, &alert_config(&rx.url("/hook"), None, "1h"));
    let want = lossy_traffic(&topic, dir.path(), "3", "2000", "0.002", "8");
    gw.wait_ready(Duration::from_secs(60));
    // Confirmed, grouped and attempted, but the receiver refuses.
    let failed_ids: BTreeSet<String> =
        eventually(Duration::from_secs(60), "failed attempts", || {
            let ids: BTreeSet<String> = rx
                .requests("/hook")
                .iter()
                .map(|r| r.json()["id"].as_str().unwrap().to_owned())
                .collect();
            let gaps: usize = rx
                .requests("/hook")
                .iter()
                .map(|r| r.json()["gaps"].as_array().unwrap().len())
                .sum();
            (gaps >= want.len()).then_some(ids)
        });
    let pending = gw.get_json("/api/v1/alerts?status=pending");
    assert!(!pending["alerts"].as_array().unwrap().is_empty());
    assert!(gw.metric("gapwatch_alerts{status=\"pending\"}") >= 1.0);
    gw.kill();
    rx.answer_with(200);
    gw.spawn();
    eventually(
        Duration::from_secs(60),
        "every gap delivered after the restart",
        || (webhook_gaps(&rx, "gap_confirmed") == want).then_some(()),
    );
    let delivered_ids = hook_ids(&rx, 200);
    assert_eq!(
        delivered_ids, failed_ids,
        "delivered after the restart under the same ids"
    );
    eventually(Duration::from_secs(10), "nothing left pending", || {
        let p = gw.get_json("/api/v1/alerts?status=pending");
        p["alerts"].as_array().unwrap().is_empty().then_some(())
    });
}

#[test]
fn a_dead_target_is_dead_lettered_visible_and_retryable() {
    let topic = fresh_topic("dead");
    create_topic(&topic, 1);
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port yet.
    let port = common::free_port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let gw = Gapwatch::start(&topic, &alert_config(&hook, None, "2s"));
    loadgen(
        &topic,
        &[
            "--producers",
            "1",
            "--partitions",
            "1",
            "--messages",
            "100",
            "--inject",
            "drop:0:0:50",
        ],
        &dir.path().join("truth.json"),
    );
    gw.wait_ready(Duration::from_secs(60));
    let dead = eventually(Duration::from_secs(60), "a dead-lettered alert", || {
        let v = gw.get_json("/api/v1/alerts?status=dead");
        let a = v["alerts"].as_array().unwrap().clone();
        (!a.is_empty()).then_some(a)
    });
    assert!(dead[0]["attempts"].as_u64().unwrap() >= 1);
    assert!(
        dead[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("request failed")
    );
    assert!(
        !dead[0]["last_error"].as_str().unwrap().contains(&hook),
        "errors never carry the URL"
    );
    assert_eq!(gw.metric("gapwatch_alerts{status=\"dead\"}"), 1.0);
    // The target comes back; a retry delivers the same notification.
    let rx = Receiver::start(port);
    let id = dead[0]["id"].as_str().unwrap();
    let resp = reqwest::blocking::Client::new()
        .post(gw.url(&format!("/api/v1/alerts/{id}/retry")))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    eventually(
        Duration::from_secs(30),
        "the retried alert delivered",
        || {
            rx.requests("/hook")
                .iter()
                .any(|r| r.json()["id"] == id && signature_ok(r, SECRET.as_bytes()))
                .then_some(())
        },
    );
    eventually(
        Duration::from_secs(10),
        "its status to be delivered",
        || {
            let v = gw.get_json("/api/v1/alerts?status=delivered");
            v["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["id"] == id)
                .then_some(())
        },
    );
    let unknown = reqwest::blocking::Client::new()
        .post(gw.url("/api/v1/alerts/no-such-id/retry"))
        .send()
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
}

#[test]
fn a_storm_of_ten_thousand_gaps_becomes_a_few_grouped_requests() {
    let topic = fresh_topic("storm");
    create_topic(&topic, 2);
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(0);
    let gw = Gapwatch::start(&topic, &alert_config(&rx.url("/hook"), None, "1h"));
    let truth = loadgen(
        &topic,
        &[
            "--producers",
            "1",
            "--partitions",
            "2",
            "--messages",
            "20000",
            "--drop-rate",
            "0.5",
            "--seed",
            "3",
        ],
        &dir.path().join("truth.json"),
    );
    let want = truth_gaps(&[&truth]);
    assert!(want.len() >= 9_000, "a storm: {} gaps", want.len());
    gw.wait_ready(Duration::from_secs(60));
    eventually(
        Duration::from_secs(90),
        "every gap of the storm notified",
        || (webhook_gaps(&rx, "gap_confirmed") == want).then_some(()),
    );
    let requests = rx.requests("/hook");
    assert!(
        requests.len() <= 60,
        "{} requests for {} gaps",
        requests.len(),
        want.len()
    );
    for r in &requests {
        let body = r.json();
        let gaps = body["gaps"].as_array().unwrap();
        assert!(gaps.len() <= 500, "the cap holds");
        assert_eq!(body["gap_count"].as_u64().unwrap() as usize, gaps.len());
    }
}

#[test]
fn the_gaps_page_shows_in_chromium_what_the_api_shows() {
    let topic = fresh_topic("page");
    create_topic(&topic, 2);
    let dir = tempfile::tempdir().unwrap();
    let gw = Gapwatch::start(&topic, "");
    let truth = loadgen(
        &topic,
        &[
            "--producers",
            "2",
            "--partitions",
            "2",
            "--messages",
            "1000",
            "--drop-rate",
            "0.01",
            "--seed",
            "21",
        ],
        &dir.path().join("truth.json"),
    );
    gw.wait_ready(Duration::from_secs(60));
    let want = truth_gaps(&[&truth]);
    let api = eventually(Duration::from_secs(60), "confirmed gaps", || {
        let g = gw.gaps("confirmed");
        (g.len() == want.len()).then_some(g)
    });
    let page_url = gw.url(&format!("/?topic={topic}&status=confirmed"));
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
            &page_url,
        ])
        .output()
        .expect("chromium (scripts/test.sh installs it)");
    let dom = String::from_utf8_lossy(&out.stdout);
    let row = regex::Regex::new(
        r#"<tr class="gap" data-topic="([^"]*)" data-partition="(\d+)" data-producer="([^"]*)" data-epoch="(\d+)" data-first="(\d+)" data-last="(\d+)" data-status="(\w+)">"#,
    )
    .unwrap();
    let shown: BTreeSet<GapKey> = row
        .captures_iter(&dom)
        .map(|c| {
            assert_eq!(&c[1], topic);
            assert_eq!(&c[7], "confirmed");
            (
                c[2].parse().unwrap(),
                c[3].to_owned(),
                c[4].parse().unwrap(),
                c[5].parse().unwrap(),
                c[6].parse().unwrap(),
            )
        })
        .collect();
    let from_api = gap_keys(&api);
    assert_eq!(shown, from_api, "the page shows the API's gaps");
    assert_eq!(shown, want);
    let total: u64 = api.iter().map(|g| g["count"].as_u64().unwrap()).sum();
    assert!(
        dom.contains(&format!("{} gaps, {total} messages missing", api.len())),
        "summary line"
    );
    // Each gap shows its missing IDs in the seed's format.
    let (p, prod, _, first, _) = want.iter().next().unwrap();
    assert!(dom.contains(&format!("{prod}-Partition{p}-{first}")));
}

#[test]
fn killed_while_a_delivery_is_in_flight_the_alert_goes_out_again_after_a_restart() {
    let topic = fresh_topic("inflight");
    create_topic(&topic, 2);
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(0);
    rx.hold(true);
    let mut gw = Gapwatch::start(&topic, &alert_config(&rx.url("/hook"), None, "1h"));
    let want = lossy_traffic(&topic, dir.path(), "2", "1000", "0.003", "21");
    gw.wait_ready(Duration::from_secs(60));
    // The receiver has a request and has not answered: kill gapwatch now.
    let in_flight = eventually(Duration::from_secs(60), "a delivery in flight", || {
        let ids = hook_ids(&rx, 0);
        (!ids.is_empty()).then_some(ids)
    });
    gw.kill();
    rx.hold(false);
    gw.spawn();
    eventually(
        Duration::from_secs(60),
        "every gap delivered after the restart",
        || (webhook_gaps(&rx, "gap_confirmed") == want).then_some(()),
    );
    let delivered = hook_ids(&rx, 200);
    assert!(
        in_flight.is_subset(&delivered),
        "what was in flight at the kill went out again under the same id: {in_flight:?} vs {delivered:?}"
    );
}
