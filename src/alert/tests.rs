use super::*;
use crate::config::WebhookSettings;
use crate::engine::{Gap, GapStatus};

fn settings(urls: &[&str], window_ms: u64, max: usize) -> AlertSettings {
    AlertSettings {
        group_window: Duration::from_millis(window_ms),
        group_max: max,
        max_age: Duration::from_secs(3600),
        webhooks: urls
            .iter()
            .map(|u| WebhookSettings {
                url: u.to_string(),
                secret: None,
                timeout: Duration::from_secs(1),
                headers: vec![],
                events: vec![AlertKind::GapConfirmed],
            })
            .collect(),
        alertmanagers: vec![],
    }
}

fn event(topic: &str, partition: i32, first: u64, at_ms: u64) -> AlertEvent {
    let gap = Gap {
        first,
        last: first,
        status: GapStatus::Confirmed,
        detected_at_ms: at_ms - 10,
        confirmed_at_ms: Some(at_ms),
        offset_before: Some(1),
        offset_after: 2,
        origin_first: first,
        origin_last: first,
    };
    AlertEvent::new(
        AlertKind::GapConfirmed,
        crate::store::StreamRef {
            topic,
            partition,
            producer: "p",
            epoch: 1,
        },
        &gap,
        None,
        at_ms,
    )
}

fn put_events(store: &Store, events: &[AlertEvent]) {
    let mut b = store.batch();
    for e in events {
        store.put_alert_event(&mut b, &event_key(e.at_ms), &serde_json::to_vec(e).unwrap());
    }
    store.write(&b).unwrap();
}

#[test]
fn a_storm_is_grouped_per_topic_and_partition_with_a_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), false).unwrap());
    let metrics = Arc::new(Metrics::new());
    let mut a = Alerter::new(
        store.clone(),
        settings(&["http://127.0.0.1:1/hook"], 1000, 500),
        "http://gw".into(),
        metrics.clone(),
    )
    .unwrap();
    // A few events wait for the window to close.
    put_events(
        &store,
        &[event("quiet", 0, 1, 900_000), event("quiet", 0, 3, 900_100)],
    );
    assert_eq!(a.group(900_500).unwrap(), 0, "the window is still open");
    assert_eq!(a.group(901_000).unwrap(), 1, "then they go out together");
    let mut b = store.batch();
    let (quiet, _) = list(&store, &[DeliveryStatus::Pending], 10, None).unwrap();
    store.delete_alert(&mut b, &quiet[0].id);
    store.write(&b).unwrap();
    a.pending.clear();
    // 10,000 gaps confirmed within a second over 4 partitions: full groups
    // go out at once, without waiting for the window.
    let events: Vec<AlertEvent> = (0..10_000u64)
        .map(|i| event("orders", (i % 4) as i32, i + 1, 1_000_000 + i / 10))
        .collect();
    put_events(&store, &events);
    let created = a.group(1_000_999).unwrap();
    assert_eq!(
        created, 20,
        "4 partitions × 2,500 gaps in notifications of at most 500"
    );
    assert!(
        store.alert_events().unwrap().is_empty(),
        "grouped events leave the outbox"
    );
    let (all, _) = list(&store, &[DeliveryStatus::Pending], 1000, None).unwrap();
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|d| d.gaps == 500));
    let gaps: usize = all.iter().map(|d| d.gaps).sum();
    assert_eq!(gaps, 10_000);
    let body: serde_json::Value = serde_json::from_str(&all[0].payload).unwrap();
    assert_eq!(body["id"], all[0].id.as_str());
    assert_eq!(body["event"], "gap_confirmed");
    assert_eq!(body["gaps"].as_array().unwrap().len(), 500);
    assert_eq!(metrics.alerts.with_label_values(&["pending"]).get(), 20);
}

#[test]
fn each_wanting_webhook_gets_its_own_notification_and_ids_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), false).unwrap());
    let metrics = Arc::new(Metrics::new());
    let s = settings(&["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"], 10, 500);
    let mut a = Alerter::new(
        store.clone(),
        s.clone(),
        "http://gw".into(),
        metrics.clone(),
    )
    .unwrap();
    put_events(&store, &[event("t", 0, 5, 1_000)]);
    assert_eq!(a.group(2_000).unwrap(), 2);
    let (first, _) = list(&store, &[DeliveryStatus::Pending], 10, None).unwrap();
    assert_ne!(first[0].id, first[1].id);
    // A restart finds the same pending notifications with the same ids.
    drop(a);
    let a = Alerter::new(store.clone(), s, "http://gw".into(), metrics).unwrap();
    let ids: Vec<&String> = a.pending.keys().collect();
    let mut want: Vec<&String> = first.iter().map(|d| &d.id).collect();
    want.sort();
    assert_eq!(ids, want);
}

#[test]
fn backoff_grows_exponentially_with_jitter_and_a_ceiling() {
    for attempts in 1..30 {
        let b = backoff_ms(attempts);
        let base = (FIRST_BACKOFF_MS << (attempts.min(20) - 1)).min(MAX_BACKOFF_MS);
        assert!(
            b >= base / 2 && b <= base,
            "attempt {attempts}: {b} not in [{}, {base}]",
            base / 2
        );
    }
}

#[test]
fn a_dead_notification_can_be_requeued_once_and_unknown_ids_are_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    let metrics = Metrics::new();
    let d = Delivery {
        id: "x1".into(),
        target: 0,
        target_origin: "http://h".into(),
        event: AlertKind::GapConfirmed,
        topic: "t".into(),
        partition: 0,
        gaps: 1,
        missing_messages: 1,
        payload: "{}".into(),
        status: DeliveryStatus::Dead,
        attempts: 9,
        created_ms: 1,
        next_attempt_ms: 1,
        delivered_ms: None,
        last_error: Some("boom".into()),
    };
    let mut b = store.batch();
    store.put_alert(&mut b, "x1", &serde_json::to_vec(&d).unwrap());
    store.write(&b).unwrap();
    metrics.alerts.with_label_values(&["dead"]).set(1);
    let r = requeue(&store, &metrics, "x1", 5_000).unwrap().unwrap();
    assert_eq!(r.status, DeliveryStatus::Pending);
    assert_eq!(metrics.alerts.with_label_values(&["dead"]).get(), 0);
    assert!(requeue(&store, &metrics, "nope", 5_000).unwrap().is_none());
}

#[test]
fn urlencode_escapes_everything_but_unreserved() {
    assert_eq!(urlencode("a b/c?d"), "a%20b%2Fc%3Fd");
    assert_eq!(urlencode("orders.eu-1_x~"), "orders.eu-1_x~");
}
