//! The HTTP surface: `/metrics`, `/healthz`, `/readyz`, and the JSON API
//! under `/api/v1`. Reads come from RocksDB, so the API shows the state as
//! of the last flush (at most `state.flush_interval` old).

mod alerts;
mod error;
mod gaps;
mod page;
mod params;
mod partitions;
mod streams;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use subtle::ConstantTimeEq;
use tower_http::timeout::TimeoutLayer;

pub use error::{ApiError, ApiResult};

use crate::config::Secret;
use crate::metrics::Metrics;
use crate::store::Store;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    /// Set once state is loaded and the group has assigned partitions.
    pub ready: Arc<AtomicBool>,
    pub auth_token: Option<Secret>,
    /// Tells the alert sender to attempt a notification now.
    pub alerts_wake: Option<tokio::sync::mpsc::Sender<String>>,
    /// How people reach this gapwatch (links in the page).
    pub public_url: String,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/gaps", get(gaps::list))
        .route("/streams", get(streams::list))
        .route("/streams/{topic}/{partition}/{producer}", get(streams::one))
        .route(
            "/streams/{topic}/{partition}/{producer}/missing",
            get(streams::missing),
        )
        .route(
            "/messages/{topic}/{partition}/{producer}/{seq}",
            get(streams::message),
        )
        .route("/partitions", get(partitions::list))
        .route("/incidents", get(partitions::incidents))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}/retry", axum::routing::post(alerts::retry))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { ApiError::not_found("no such API endpoint; see docs/API.md") })
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                parameter: None,
                message: "this endpoint does not take that method; see docs/API.md".into(),
            }
        })
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    // The page shows producer ids like the API, so it takes the same token.
    let page = Router::new()
        .route("/", get(page::gaps_page))
        .route("/ui", get(page::gaps_page))
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .nest("/api/v1", api)
        .merge(page)
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(10),
        ))
        .with_state(state)
}

/// The OpenAPI 3 description of `/api/v1`.
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    let body = s.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    let ready = s.ready.load(Ordering::Acquire);
    let body = Json(serde_json::json!({
        "ready": ready,
        "assigned_partitions": s.metrics.assigned_partitions.get(),
    }));
    if ready {
        (StatusCode::OK, body).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

/// With `http.auth_token` set, every `/api` request needs it as a bearer
/// token, compared in constant time.
async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(token) = &s.auth_token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let ok: bool = given.as_bytes().ct_eq(token.expose().as_bytes()).into();
        if !ok {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(req).await
}

/// Runs blocking store reads off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("request failed: {e}")))?
}
