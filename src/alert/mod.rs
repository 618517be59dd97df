//! Alerts that are never lost: the outbox of alert events (written with the
//! state change that caused them) is grouped into notifications per topic,
//! partition and event within `alert.group_window`, at most
//! `alert.group_max` gaps each, and delivered to every webhook that wants
//! them, with exponential backoff and jitter until the target answers 2xx,
//! or dead-lettered after `alert.max_age`. Alertmanager gets the confirmed
//! gaps as alerts, re-sent while active and resolved when they heal.

pub mod alertmanager;
mod delivery;
mod event;
pub mod webhook;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use serde_json::json;
use sha2::{Digest, Sha256};

pub use delivery::{Delivery, DeliveryStatus};
pub use event::{AlertEvent, event_key};

use crate::config::{AlertKind, AlertSettings, url_origin};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Outbox events grouped by (event, topic, partition), with their keys.
type Groups = BTreeMap<(AlertKind, String, i32), Vec<(Vec<u8>, AlertEvent)>>;

/// How often the outbox is grouped and due deliveries are attempted.
pub const TICK: Duration = Duration::from_millis(250);
const FIRST_BACKOFF_MS: u64 = 500;
const MAX_BACKOFF_MS: u64 = 60_000;
/// Deliveries attempted at once.
const PARALLEL: usize = 16;

pub struct Alerter {
    store: Arc<Store>,
    settings: AlertSettings,
    public_url: String,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    /// Pending notifications by id, with the time of their next attempt.
    pending: BTreeMap<String, u64>,
}

impl Alerter {
    /// Loads the pending notifications and the dead-letter count.
    pub fn new(
        store: Arc<Store>,
        settings: AlertSettings,
        public_url: String,
        metrics: Arc<Metrics>,
    ) -> Result<Alerter, StoreError> {
        let mut pending = BTreeMap::new();
        let mut dead = 0;
        store.scan_alerts(None, |_, v| {
            if let Ok(d) = serde_json::from_slice::<Delivery>(v) {
                match d.status {
                    DeliveryStatus::Pending => {
                        pending.insert(d.id, d.next_attempt_ms);
                    }
                    DeliveryStatus::Dead => dead += 1,
                    DeliveryStatus::Delivered => {}
                }
            }
            true
        })?;
        metrics
            .alerts
            .with_label_values(&["pending"])
            .set(pending.len() as i64);
        metrics.alerts.with_label_values(&["dead"]).set(dead);
        Ok(Alerter {
            store,
            settings,
            public_url,
            metrics,
            client: reqwest::Client::builder()
                .user_agent(concat!("gapwatch/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("HTTP client"),
            pending,
        })
    }

    fn set_pending_gauge(&self) {
        self.metrics
            .alerts
            .with_label_values(&["pending"])
            .set(self.pending.len() as i64);
    }

    /// Turns outbox events into notifications: per (event, topic,
    /// partition), once the oldest is `group_window` old or the group is
    /// full, at most `group_max` gaps each, one per wanting webhook. The new
    /// notifications and the removal of their events are one batch.
    pub fn group(&mut self, now_ms: u64) -> Result<usize, StoreError> {
        let events = self.store.alert_events()?;
        if events.is_empty() {
            return Ok(0);
        }
        let window = self.settings.group_window.as_millis() as u64;
        let mut groups: Groups = BTreeMap::new();
        let mut batch = self.store.batch();
        for (key, value) in events {
            match serde_json::from_slice::<AlertEvent>(&value) {
                Ok(e) => groups
                    .entry((e.kind, e.topic.clone(), e.partition))
                    .or_default()
                    .push((key, e)),
                Err(err) => {
                    tracing::warn!(error = %err, "dropping an unreadable alert event");
                    self.store.delete_alert_event(&mut batch, &key);
                }
            }
        }
        let mut created = 0;
        for ((kind, topic, partition), members) in groups {
            let oldest = members.first().map_or(now_ms, |(_, e)| e.at_ms);
            if now_ms < oldest + window && members.len() < self.settings.group_max {
                continue;
            }
            for chunk in members.chunks(self.settings.group_max) {
                for (target, hook) in self.settings.webhooks.iter().enumerate() {
                    if !hook.events.contains(&kind) {
                        continue;
                    }
                    let d = self.notification(target, kind, &topic, partition, chunk, now_ms);
                    let json = serde_json::to_vec(&d).expect("serializable");
                    self.store.put_alert(&mut batch, &d.id, &json);
                    self.pending.insert(d.id, now_ms);
                    created += 1;
                }
                for (key, _) in chunk {
                    self.store.delete_alert_event(&mut batch, key);
                }
            }
        }
        if !batch.is_empty() {
            self.store.write(&batch)?;
        }
        self.set_pending_gauge();
        Ok(created)
    }

    fn notification(
        &self,
        target: usize,
        kind: AlertKind,
        topic: &str,
        partition: i32,
        events: &[(Vec<u8>, AlertEvent)],
        now_ms: u64,
    ) -> Delivery {
        let mut h = Sha256::new();
        h.update(target.to_be_bytes());
        for (key, _) in events {
            h.update(key);
        }
        let digest = crate::store::hex(&h.finalize()[..8]);
        let id = format!("{now_ms:013}-{digest}");
        let link = format!(
            "{}/?topic={}&partition={partition}",
            self.public_url,
            urlencode(topic)
        );
        let gaps: Vec<serde_json::Value> = events
            .iter()
            .map(|(_, e)| {
                json!({
                    "producer": e.producer,
                    "epoch": e.epoch,
                    "first_seq": e.first_seq,
                    "last_seq": e.last_seq,
                    "count": e.count,
                    "offset_before": e.offset_before,
                    "offset_after": e.offset_after,
                    "detected_at": rfc3339(e.detected_at_ms),
                    "confirmed_at": e.confirmed_at_ms.map(rfc3339),
                    "healed_at": e.healed_at_ms.map(rfc3339),
                    "link": format!(
                        "{}/?topic={}&partition={partition}&producer={}",
                        self.public_url,
                        urlencode(topic),
                        urlencode(&e.producer)
                    ),
                })
            })
            .collect();
        let missing: u64 = events.iter().map(|(_, e)| e.count).sum();
        let payload = json!({
            "id": id,
            "event": kind.as_str(),
            "topic": topic,
            "partition": partition,
            "gap_count": events.len(),
            "missing_messages": missing,
            "gaps": gaps,
            "link": link,
            "created_at": rfc3339(now_ms),
            "source": "gapwatch",
        });
        Delivery {
            id,
            target,
            target_origin: url_origin(&self.settings.webhooks[target].url),
            event: kind,
            topic: topic.to_owned(),
            partition,
            gaps: events.len(),
            missing_messages: missing,
            payload: payload.to_string(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            created_ms: now_ms,
            next_attempt_ms: now_ms,
            delivered_ms: None,
            last_error: None,
        }
    }

    /// Makes a notification due now (an API retry).
    pub fn wake(&mut self, id: String, now_ms: u64) {
        self.pending.insert(id, now_ms);
        self.set_pending_gauge();
    }

    /// Attempts every due notification, a few at a time.
    pub async fn deliver_due(&mut self, now_ms: u64) {
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, at)| **at <= now_ms)
            .map(|(id, _)| id.clone())
            .take(PARALLEL * 4)
            .collect();
        for chunk in due.chunks(PARALLEL) {
            let attempts = chunk.iter().map(|id| self.attempt(id.clone(), now_ms));
            let results = futures::future::join_all(attempts).await;
            for (id, next) in chunk.iter().zip(results) {
                match next {
                    Some(at) => {
                        self.pending.insert(id.clone(), at);
                    }
                    None => {
                        self.pending.remove(id);
                    }
                }
            }
        }
        self.set_pending_gauge();
    }

    /// One attempt; returns the next attempt's time while still pending.
    async fn attempt(&self, id: String, now_ms: u64) -> Option<u64> {
        let mut d: Delivery = match self.store.alert(&id) {
            Ok(Some(v)) => serde_json::from_slice(&v).ok()?,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a pending notification; retrying later");
                return Some(now_ms + MAX_BACKOFF_MS);
            }
        };
        if d.status != DeliveryStatus::Pending {
            return None;
        }
        let result = match self.settings.webhooks.get(d.target) {
            None => Err("its webhook is no longer configured".to_owned()),
            Some(hook) => send(&self.client, hook, &d).await,
        };
        d.attempts += 1;
        let next = match result {
            Ok(()) => {
                d.status = DeliveryStatus::Delivered;
                d.delivered_ms = Some(now_ms);
                d.last_error = None;
                self.metrics
                    .alert_deliveries
                    .with_label_values(&["delivered"])
                    .inc();
                tracing::info!(id = %d.id, event = d.event.as_str(), topic = %d.topic, partition = d.partition,
                    target = %d.target_origin, attempts = d.attempts, "alert delivered");
                None
            }
            Err(e) => {
                self.metrics
                    .alert_deliveries
                    .with_label_values(&["failed"])
                    .inc();
                d.last_error = Some(e.clone());
                let age = now_ms.saturating_sub(d.created_ms);
                if age >= self.settings.max_age.as_millis() as u64 {
                    d.status = DeliveryStatus::Dead;
                    self.metrics.alerts.with_label_values(&["dead"]).inc();
                    tracing::error!(id = %d.id, target = %d.target_origin, attempts = d.attempts, error = %e,
                        "alert dead-lettered after alert.max_age; retry it with POST /api/v1/alerts/{{id}}/retry");
                    None
                } else {
                    let backoff = backoff_ms(d.attempts);
                    d.next_attempt_ms = now_ms + backoff;
                    tracing::warn!(id = %d.id, target = %d.target_origin, attempts = d.attempts, error = %e,
                        retry_in_ms = backoff, "alert delivery failed");
                    Some(d.next_attempt_ms)
                }
            }
        };
        let mut batch = self.store.batch();
        self.store.put_alert(
            &mut batch,
            &d.id,
            &serde_json::to_vec(&d).expect("serializable"),
        );
        if let Err(e) = self.store.write(&batch) {
            tracing::warn!(error = %e, "cannot record a delivery attempt");
        }
        next
    }
}

/// Exponential backoff with full jitter in its upper half.
pub fn backoff_ms(attempts: u32) -> u64 {
    let base = FIRST_BACKOFF_MS
        .saturating_mul(1u64 << attempts.min(20).saturating_sub(1))
        .min(MAX_BACKOFF_MS);
    base / 2 + rand::rng().random_range(0..=base / 2)
}

async fn send(
    client: &reqwest::Client,
    hook: &crate::config::WebhookSettings,
    d: &Delivery,
) -> Result<(), String> {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let mut req = client
        .post(&hook.url)
        .timeout(hook.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(webhook::ID_HEADER, &d.id)
        .header(webhook::EVENT_HEADER, d.event.as_str())
        .header(webhook::TIMESTAMP_HEADER, ts.to_string());
    if let Some(secret) = &hook.secret {
        req = req.header(
            webhook::SIGNATURE_HEADER,
            webhook::signature(secret.expose().as_bytes(), ts, d.payload.as_bytes()),
        );
    }
    for (k, v) in &hook.headers {
        req = req.header(k, v.expose());
    }
    match req.body(d.payload.clone()).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("the webhook answered {}", r.status())),
        // Without the URL: it may carry a token.
        Err(e) => Err(format!("request failed: {}", e.without_url())),
    }
}

pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Lists notifications by status, newest id last, paginated by id.
pub fn list(
    store: &Store,
    statuses: &[DeliveryStatus],
    limit: usize,
    after: Option<&[u8]>,
) -> Result<(Vec<Delivery>, Option<String>), StoreError> {
    let mut out = Vec::new();
    let mut next = None;
    let mut scanned = 0;
    store.scan_alerts(after, |k, v| {
        scanned += 1;
        if let Ok(d) = serde_json::from_slice::<Delivery>(v)
            && statuses.contains(&d.status)
        {
            out.push(d);
        }
        if out.len() >= limit || scanned >= 200_000 {
            next = Some(String::from_utf8_lossy(k).into_owned());
            return false;
        }
        true
    })?;
    Ok((out, next))
}

/// Puts a dead notification back in the queue; `Ok(None)` when unknown.
pub fn requeue(
    store: &Store,
    metrics: &Metrics,
    id: &str,
    now_ms: u64,
) -> Result<Option<Delivery>, StoreError> {
    let Some(v) = store.alert(id)? else {
        return Ok(None);
    };
    let Ok(mut d) = serde_json::from_slice::<Delivery>(&v) else {
        return Ok(None);
    };
    if d.status == DeliveryStatus::Dead {
        d.status = DeliveryStatus::Pending;
        d.created_ms = now_ms; // a fresh max_age from the retry
        d.next_attempt_ms = now_ms;
        let mut batch = store.batch();
        store.put_alert(
            &mut batch,
            id,
            &serde_json::to_vec(&d).expect("serializable"),
        );
        store.write(&batch)?;
        metrics.alerts.with_label_values(&["dead"]).dec();
    }
    Ok(Some(d))
}

/// Counts by status, for tests and the UI.
pub fn counts(store: &Store) -> Result<HashMap<&'static str, usize>, StoreError> {
    let mut out = HashMap::new();
    store.scan_alerts(None, |_, v| {
        if let Ok(d) = serde_json::from_slice::<Delivery>(v) {
            *out.entry(d.status.as_str()).or_default() += 1;
        }
        true
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests;

/// Runs the outbox until cancelled: groups events, delivers what is due,
/// and takes API retries from `wake`.
pub async fn run_sender(
    mut alerter: Alerter,
    mut wake: tokio::sync::mpsc::Receiver<String>,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            Some(id) = wake.recv() => alerter.wake(id, crate::consumer::unix_ms()),
            _ = tick.tick() => {
                let now = crate::consumer::unix_ms();
                if let Err(e) = alerter.group(now) {
                    tracing::warn!(error = %e, "cannot group alert events; retrying");
                }
                alerter.deliver_due(now).await;
            }
        }
    }
}
