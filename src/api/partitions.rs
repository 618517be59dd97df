//! `GET /api/v1/partitions`: how far gapwatch has durably audited each
//! partition it has state for.

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use super::params::Params;
use super::{ApiResult, AppState, blocking};

#[derive(Serialize)]
pub struct PartitionJson {
    pub topic: String,
    pub partition: i32,
    /// Every offset below this one is audited and its result stored.
    pub next_offset: i64,
    /// Leader epoch of the last message audited (null: not known).
    pub leader_epoch: Option<i32>,
    /// Audited from the partition's very first offset.
    pub from_start: bool,
}

#[derive(Serialize)]
pub struct PartitionList {
    pub partitions: Vec<PartitionJson>,
}

pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<PartitionList>> {
    let p = Params::new(q, &["topic"])?;
    let topic = p.string("topic");
    blocking(move || {
        let partitions = s
            .store
            .partitions()?
            .into_iter()
            .filter(|(t, _, _)| topic.as_ref().is_none_or(|want| want == t))
            .map(|(topic, partition, r)| PartitionJson {
                topic,
                partition,
                next_offset: r.next_offset,
                leader_epoch: (r.leader_epoch >= 0).then_some(r.leader_epoch),
                from_start: r.from_start,
            })
            .collect();
        Ok(Json(PartitionList { partitions }))
    })
    .await
}

#[derive(Serialize)]
pub struct IncidentJson {
    pub topic: String,
    pub partition: i32,
    /// `expired_before_audit`, `log_truncated` or `truncated_unknown`.
    pub cause: &'static str,
    pub first_offset: i64,
    pub last_offset: i64,
    pub offsets: i64,
    /// For `log_truncated`: audited messages the cut removed (reported as gaps).
    pub messages: Option<u64>,
    pub detected_at: String,
}

#[derive(Serialize)]
pub struct IncidentList {
    pub incidents: Vec<IncidentJson>,
}

/// `GET /api/v1/incidents`: offset ranges gapwatch could not audit, or saw
/// Kafka take back, and why.
pub async fn incidents(
    State(s): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<IncidentList>> {
    let p = Params::new(q, &["topic", "partition"])?;
    let topic = p.string("topic");
    let partition = p.partition("partition")?;
    blocking(move || {
        let incidents = s
            .store
            .incidents(topic.as_deref(), partition)?
            .into_iter()
            .map(|i| IncidentJson {
                cause: i.cause.as_str(),
                offsets: i.last_offset - i.first_offset + 1,
                detected_at: super::params::rfc3339(i.detected_ms),
                topic: i.topic,
                partition: i.partition,
                first_offset: i.first_offset,
                last_offset: i.last_offset,
                messages: i.messages,
            })
            .collect();
        Ok(Json(IncidentList { incidents }))
    })
    .await
}
