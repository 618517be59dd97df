//! Pushing confirmed gaps to Alertmanager's `POST /api/v2/alerts`, the way
//! Prometheus does: every active alert is re-sent each `resend_interval`
//! with an `endsAt` a few intervals ahead (so alerts resolve by themselves
//! if gapwatch goes away), and a stream whose lost messages all arrived is
//! sent once more with `endsAt` = when it healed, which resolves it at once.
//!
//! One alert per (topic, partition, producer) with confirmed gaps. The set
//! is computed from the stored gaps on every push, so it survives restarts
//! without any state of its own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{rfc3339, urlencode};
use crate::config::{AlertmanagerSettings, redact_url};
use crate::engine::GapStatus;
use crate::metrics::Metrics;
use crate::store::{Filter, GapListStatus, Store, StoreError};

pub const ALERT_NAME: &str = "GapwatchMessagesLost";
/// Healed streams are reported as resolved for this long after healing.
const RESOLVED_FOR_MS: u64 = 15 * 60 * 1000;
/// Most ranges listed in one alert's annotation.
const RANGES_SHOWN: usize = 20;

type StreamKey = (String, i32, String);

struct Active {
    starts_ms: u64,
    ranges: Vec<(u64, u64)>,
    missing: u64,
}

/// The alerts to send now: active ones and recently resolved ones.
pub fn alerts(
    store: &Store,
    settings: &AlertmanagerSettings,
    public_url: &str,
    now_ms: u64,
) -> Result<Vec<serde_json::Value>, StoreError> {
    let mut active: BTreeMap<StreamKey, Active> = BTreeMap::new();
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let page = store.gaps(
            &Filter::default(),
            &[GapListStatus::Confirmed],
            None,
            10_000,
            cursor.as_deref(),
        )?;
        for g in page.items {
            if g.gap.status != GapStatus::Confirmed {
                continue;
            }
            let a = active
                .entry((g.stream.topic, g.stream.partition, g.stream.producer))
                .or_insert(Active {
                    starts_ms: u64::MAX,
                    ranges: Vec::new(),
                    missing: 0,
                });
            a.starts_ms = a
                .starts_ms
                .min(g.gap.confirmed_at_ms.unwrap_or(g.gap.detected_at_ms));
            a.ranges.push((g.gap.first, g.gap.last));
            a.missing += g.gap.count();
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let ends_ahead = settings.resend_interval.as_millis() as u64 * 4;
    let mut out: Vec<serde_json::Value> = active
        .iter()
        .map(|((topic, partition, producer), a)| {
            let shown: Vec<String> = a
                .ranges
                .iter()
                .take(RANGES_SHOWN)
                .map(|(f, l)| if f == l { f.to_string() } else { format!("{f}-{l}") })
                .collect();
            let more = a.ranges.len().saturating_sub(RANGES_SHOWN);
            let ranges = if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                shown.join(", ")
            };
            alert(
                settings,
                public_url,
                (topic, *partition, producer),
                json!({
                    "summary": format!("{} messages lost on {topic}/{partition} from producer {producer}", a.missing),
                    "description": format!(
                        "gapwatch confirmed {} missing sequence numbers of producer {producer} on {topic} partition {partition}: {ranges}",
                        a.missing
                    ),
                    "missing_ranges": ranges,
                    "missing_messages": a.missing.to_string(),
                }),
                a.starts_ms,
                now_ms + ends_ahead,
            )
        })
        .collect();
    // Streams whose confirmed gaps healed recently and that have none left.
    let mut resolved: BTreeMap<StreamKey, (u64, u64)> = BTreeMap::new();
    let page = store.gaps(
        &Filter::default(),
        &[GapListStatus::Healed],
        None,
        10_000,
        None,
    )?;
    for g in page.items {
        let (Some(healed), Some(confirmed)) = (g.healed_at_ms, g.gap.confirmed_at_ms) else {
            continue;
        };
        if now_ms.saturating_sub(healed) > RESOLVED_FOR_MS {
            continue;
        }
        let key = (g.stream.topic, g.stream.partition, g.stream.producer);
        if active.contains_key(&key) {
            continue;
        }
        let e = resolved.entry(key).or_insert((confirmed, healed));
        e.0 = e.0.min(confirmed);
        e.1 = e.1.max(healed);
    }
    for ((topic, partition, producer), (starts, ends)) in resolved {
        out.push(alert(
            settings,
            public_url,
            (&topic, partition, &producer),
            json!({
                "summary": format!("lost messages on {topic}/{partition} from producer {producer} arrived after all"),
                "description": "every message gapwatch had counted lost arrived late; the gap healed",
            }),
            starts,
            ends,
        ));
    }
    Ok(out)
}

fn alert(
    settings: &AlertmanagerSettings,
    public_url: &str,
    (topic, partition, producer): (&str, i32, &str),
    annotations: serde_json::Value,
    starts_ms: u64,
    ends_ms: u64,
) -> serde_json::Value {
    let link = format!(
        "{public_url}/?topic={}&partition={partition}&producer={}",
        urlencode(topic),
        urlencode(producer)
    );
    let mut annotations = annotations;
    annotations["link"] = json!(link);
    json!({
        "labels": {
            "alertname": ALERT_NAME,
            "topic": topic,
            "partition": partition.to_string(),
            "producer": producer,
            "severity": settings.severity,
            "source": "gapwatch",
        },
        "annotations": annotations,
        "startsAt": rfc3339(starts_ms),
        "endsAt": rfc3339(ends_ms),
        "generatorURL": link,
    })
}

/// Sends the current alerts to every Alertmanager of the list (an HA pair
/// gets them all, as Prometheus does).
pub async fn push(
    client: &reqwest::Client,
    store: &Arc<Store>,
    settings: &AlertmanagerSettings,
    public_url: &str,
    metrics: &Metrics,
    now_ms: u64,
) {
    let alerts = {
        let store = store.clone();
        let settings = settings.clone();
        let public_url = public_url.to_owned();
        match tokio::task::spawn_blocking(move || alerts(&store, &settings, &public_url, now_ms))
            .await
        {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read gaps for Alertmanager");
                return;
            }
            Err(_) => return,
        }
    };
    if alerts.is_empty() {
        return;
    }
    for url in &settings.urls {
        let result = client
            .post(format!("{url}/api/v2/alerts"))
            .timeout(settings.timeout)
            .json(&alerts)
            .send()
            .await;
        let ok = matches!(&result, Ok(r) if r.status().is_success());
        metrics
            .alertmanager_pushes
            .with_label_values(&[if ok { "ok" } else { "failed" }])
            .inc();
        if !ok {
            let why = match result {
                Ok(r) => format!("answered {}", r.status()),
                Err(e) => e.without_url().to_string(),
            };
            tracing::warn!(alertmanager = %redact_url(url), error = %why, "cannot push alerts to Alertmanager");
        }
    }
}

/// Runs until cancelled, pushing every `resend_interval`.
pub async fn run(
    store: Arc<Store>,
    settings: AlertmanagerSettings,
    public_url: String,
    metrics: Arc<Metrics>,
    cancel: tokio_util::sync::CancellationToken,
) {
    let client = reqwest::Client::new();
    let mut tick = tokio::time::interval(settings.resend_interval.max(Duration::from_millis(100)));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        push(
            &client,
            &store,
            &settings,
            &public_url,
            &metrics,
            crate::consumer::unix_ms(),
        )
        .await;
    }
}
