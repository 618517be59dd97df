//! `gapwatch run`: wires the consumer loop, the auditor, the store and the
//! HTTP server around one shared state, and shuts them down in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::Consumer;

use crate::api::{AppState, router};
use crate::audit::{AuditSettings, Auditor};
use crate::config::Config;
use crate::consumer::{self, AuditContext};
use crate::metrics::Metrics;
use crate::store::Store;

/// How long a SIGTERM/SIGINT may take before the process exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);
/// How long to wait for a broker to answer at start.
const REACH_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(config: Config) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(Store::open(&config.state.dir, true)?);
    let settings = AuditSettings {
        confirm_after: config.detection.confirm_after,
        truncation_window: config.detection.truncation_window as usize,
        flush_interval: config.state.flush_interval,
        flush_max_messages: config.state.flush_max_messages,
        idle_after: config.state.idle_after,
        retention: config.state.retention,
        max_streams_in_memory: config.state.max_streams_in_memory,
        start_offset: config.kafka.start_offset,
    };
    let mut auditor =
        Auditor::new(store.clone(), metrics.clone(), settings).with_alerts(config.alert.wanted());
    auditor.init_gauges()?;
    auditor
        .write_in_background()
        .map_err(|e| anyhow::anyhow!("cannot start the state writer thread: {e}"))?;
    metrics.state_healthy.set(1);
    let auditor = Arc::new(Mutex::new(auditor));
    let rules = Arc::new(config.audit.clone());
    let context = AuditContext::new(auditor, rules.clone(), metrics.clone());
    let ready = context.assigned.clone();
    let consumer = consumer::create(&config.kafka, context)?;
    consumer::check_reachable(&consumer, &config.kafka.bootstrap_servers, REACH_TIMEOUT)?;
    consumer
        .context()
        .quiet
        .store(false, std::sync::atomic::Ordering::Relaxed);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("gapwatch-http")
        .build()
        .context("cannot start the async runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.http.listen))
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    tracing::info!(
        listen = %config.http.listen,
        state = %config.state.dir.display(),
        kafka = %config.kafka.bootstrap_servers,
        "gapwatch started"
    );

    let shutdown = Arc::new(AtomicBool::new(false));
    let cancel = tokio_util::sync::CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        let cancel = cancel.clone();
        runtime.spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: flushing state and offsets");
            shutdown.store(true, Ordering::Release);
            cancel.cancel();
            tokio::time::sleep(SHUTDOWN_GRACE).await;
            tracing::error!("shutdown took longer than {SHUTDOWN_GRACE:?}; exiting");
            std::process::exit(1);
        });
    }
    // Alerts: the webhook outbox sender and the Alertmanager pushers.
    let alerts_wake = if config.alert.webhooks.is_empty() {
        None
    } else {
        let alerter = crate::alert::Alerter::new(
            store.clone(),
            config.alert.clone(),
            config.http.public_url.clone(),
            metrics.clone(),
        )?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        runtime.spawn(crate::alert::run_sender(alerter, rx, cancel.clone()));
        Some(tx)
    };
    for am in &config.alert.alertmanagers {
        runtime.spawn(crate::alert::alertmanager::run(
            store.clone(),
            am.clone(),
            config.http.public_url.clone(),
            metrics.clone(),
            cancel.clone(),
        ));
    }
    let app = router(AppState {
        store,
        metrics,
        ready,
        auth_token: config.http.auth_token.clone(),
        alerts_wake,
        public_url: config.http.public_url.clone(),
    });
    let server_cancel = cancel.clone();
    let server = runtime.spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(server_cancel.cancelled_owned())
            .await
    });

    let result = consumer::run(&consumer, &rules, &shutdown);
    // Leaving the group revokes the partitions, which flushes once more.
    drop(consumer);
    cancel.cancel();
    let _ = runtime.block_on(server);
    runtime.shutdown_timeout(Duration::from_secs(2));
    result?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
