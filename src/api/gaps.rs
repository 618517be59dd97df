//! `GET /api/v1/gaps`: gaps by topic, partition, producer and status.

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use super::params::{Params, rfc3339};
use super::{ApiError, ApiResult, AppState, blocking};
use crate::engine::GapStatus;
use crate::store::{Filter, GapListStatus, GapRecord, hex};

pub const MAX_LIMIT: usize = 1000;

#[derive(Serialize)]
pub struct GapJson {
    pub topic: String,
    pub partition: i32,
    pub producer: String,
    pub epoch: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub count: u64,
    pub status: &'static str,
    pub detected_at: String,
    pub confirmed_at: Option<String>,
    pub healed_at: Option<String>,
    pub offset_before: Option<i64>,
    pub offset_after: i64,
}

impl From<GapRecord> for GapJson {
    fn from(r: GapRecord) -> GapJson {
        let status = match (r.healed_at_ms, r.gap.status) {
            (Some(_), _) => "healed",
            (None, GapStatus::Open) => "open",
            (None, GapStatus::Confirmed) => "confirmed",
        };
        GapJson {
            topic: r.stream.topic,
            partition: r.stream.partition,
            producer: r.stream.producer,
            epoch: r.stream.epoch,
            first_seq: r.gap.first,
            last_seq: r.gap.last,
            count: r.gap.count(),
            status,
            detected_at: rfc3339(r.gap.detected_at_ms),
            confirmed_at: r.gap.confirmed_at_ms.map(rfc3339),
            healed_at: r.healed_at_ms.map(rfc3339),
            offset_before: r.gap.offset_before,
            offset_after: r.gap.offset_after,
        }
    }
}

#[derive(Serialize)]
pub struct GapList {
    pub gaps: Vec<GapJson>,
    pub next_cursor: Option<String>,
}

/// The `status` parameter: a comma-separated list, by default open and
/// confirmed gaps.
pub fn statuses(p: &Params) -> Result<Vec<GapListStatus>, ApiError> {
    let Some(v) = p.string("status") else {
        return Ok(vec![GapListStatus::Open, GapListStatus::Confirmed]);
    };
    v.split(',')
        .map(|s| match s.trim() {
            "open" => Ok(GapListStatus::Open),
            "confirmed" => Ok(GapListStatus::Confirmed),
            "healed" => Ok(GapListStatus::Healed),
            other => Err(ApiError::bad_parameter(
                "status",
                format!("'{other}' is not one of open, confirmed, healed"),
            )),
        })
        .collect()
}

pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<GapList>> {
    let p = Params::new(
        q,
        &[
            "topic",
            "partition",
            "producer",
            "status",
            "since",
            "limit",
            "cursor",
        ],
    )?;
    let filter = Filter {
        topic: p.string("topic"),
        partition: p.partition("partition")?,
        producer: p.string("producer"),
    };
    let statuses = statuses(&p)?;
    let since = p.since()?;
    let limit = p.limit(100, MAX_LIMIT)?;
    let cursor = p.cursor()?;
    blocking(move || {
        let page = s
            .store
            .gaps(&filter, &statuses, since, limit, cursor.as_deref())?;
        Ok(Json(GapList {
            gaps: page.items.into_iter().map(GapJson::from).collect(),
            next_cursor: page.next.as_deref().map(hex),
        }))
    })
    .await
}
