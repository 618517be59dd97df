//! `GET /api/v1/alerts` and `POST /api/v1/alerts/{id}/retry`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::params::{Params, rfc3339};
use super::{ApiError, ApiResult, AppState, blocking};
use crate::alert::{Delivery, DeliveryStatus};

#[derive(Serialize)]
pub struct AlertJson {
    pub id: String,
    pub target: String,
    pub event: &'static str,
    pub topic: String,
    pub partition: i32,
    pub gaps: usize,
    pub missing_messages: u64,
    pub status: &'static str,
    pub attempts: u32,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_error: Option<String>,
    pub payload: serde_json::Value,
}

impl From<Delivery> for AlertJson {
    fn from(d: Delivery) -> AlertJson {
        AlertJson {
            next_attempt_at: (d.status == DeliveryStatus::Pending)
                .then(|| rfc3339(d.next_attempt_ms)),
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
            id: d.id,
            target: d.target_origin,
            event: d.event.as_str(),
            topic: d.topic,
            partition: d.partition,
            gaps: d.gaps,
            missing_messages: d.missing_messages,
            status: d.status.as_str(),
            attempts: d.attempts,
            created_at: rfc3339(d.created_ms),
            delivered_at: d.delivered_ms.map(rfc3339),
            last_error: d.last_error,
        }
    }
}

#[derive(Serialize)]
pub struct AlertList {
    pub alerts: Vec<AlertJson>,
    pub next_cursor: Option<String>,
}

pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<AlertList>> {
    let p = Params::new(q, &["status", "limit", "cursor"])?;
    let statuses: Vec<DeliveryStatus> = match p.string("status") {
        None => vec![
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Dead,
        ],
        Some(v) => v
            .split(',')
            .map(|x| match x.trim() {
                "pending" => Ok(DeliveryStatus::Pending),
                "delivered" => Ok(DeliveryStatus::Delivered),
                "dead" => Ok(DeliveryStatus::Dead),
                other => Err(ApiError::bad_parameter(
                    "status",
                    format!("'{other}' is not one of pending, delivered, dead"),
                )),
            })
            .collect::<Result<_, _>>()?,
    };
    let limit = p.limit(100, 1000)?;
    let cursor = p.string("cursor");
    // Cursors are notification ids: "<unix ms>-<hex>".
    let is_id = |c: &str| {
        c.len() <= 64
            && c.split_once('-').is_some_and(|(ms, h)| {
                !ms.is_empty()
                    && !h.is_empty()
                    && ms.bytes().all(|b| b.is_ascii_digit())
                    && h.bytes().all(|b| b.is_ascii_hexdigit())
            })
    };
    if cursor.as_ref().is_some_and(|c| !is_id(c)) {
        return Err(ApiError::bad_parameter(
            "cursor",
            "not a cursor returned by this API",
        ));
    }
    blocking(move || {
        let (items, next) = crate::alert::list(
            &s.store,
            &statuses,
            limit,
            cursor.as_deref().map(str::as_bytes),
        )?;
        Ok(Json(AlertList {
            alerts: items.into_iter().map(AlertJson::from).collect(),
            next_cursor: next,
        }))
    })
    .await
}

pub async fn retry(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<(StatusCode, Json<AlertJson>)> {
    let Path(id) = path.map_err(|e| ApiError::bad_parameter("id", e.body_text()))?;
    if id.is_empty() || id.len() > 128 {
        return Err(ApiError::bad_parameter("id", "not an alert id"));
    }
    let state = s.clone();
    let id2 = id.clone();
    let d = blocking(move || {
        Ok(crate::alert::requeue(
            &state.store,
            &state.metrics,
            &id2,
            crate::consumer::unix_ms(),
        )?)
    })
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no alert with id '{id}'")))?;
    if d.status == DeliveryStatus::Delivered {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "already_delivered",
            parameter: Some("id".into()),
            message: "this alert was delivered; there is nothing to retry".into(),
        });
    }
    if let Some(wake) = &s.alerts_wake {
        let _ = wake.try_send(id);
    }
    Ok((StatusCode::ACCEPTED, Json(AlertJson::from(d))))
}
