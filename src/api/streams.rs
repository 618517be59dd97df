//! Streams, their missing IDs, and single messages.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use serde::Serialize;

use super::params::{Params, rfc3339};
use super::{ApiError, ApiResult, AppState, blocking};
use crate::engine::{Gap, GapStatus};
use crate::store::{Filter, StoredStream, StreamId, hex};

#[derive(Serialize)]
pub struct RangeJson {
    pub first_seq: u64,
    pub last_seq: u64,
    pub count: u64,
    pub status: &'static str,
}

impl From<&Gap> for RangeJson {
    fn from(g: &Gap) -> RangeJson {
        RangeJson {
            first_seq: g.first,
            last_seq: g.last,
            count: g.count(),
            status: status_str(g.status),
        }
    }
}

fn status_str(s: GapStatus) -> &'static str {
    match s {
        GapStatus::Open => "open",
        GapStatus::Confirmed => "confirmed",
    }
}

#[derive(Serialize)]
pub struct StreamJson {
    pub topic: String,
    pub partition: i32,
    pub producer: String,
    pub epoch: u64,
    pub next_seq: u64,
    pub baseline_seq: u64,
    pub last_offset: i64,
    pub last_seen_at: String,
    pub first_seen_at: String,
    pub seen: u64,
    pub duplicates: u64,
    pub late_arrivals: u64,
    pub missing_count: u64,
    pub missing: Vec<RangeJson>,
}

impl StreamJson {
    fn new(id: StreamId, s: StoredStream) -> StreamJson {
        StreamJson {
            missing_count: s.state.missing(),
            missing: s.state.gaps.iter().map(RangeJson::from).collect(),
            topic: id.topic,
            partition: id.partition,
            producer: id.producer,
            epoch: id.epoch,
            next_seq: s.state.next,
            baseline_seq: s.baseline,
            last_offset: s.state.last_offset,
            last_seen_at: rfc3339(s.state.last_seen_ms),
            first_seen_at: rfc3339(s.created_ms),
            seen: s.state.seen,
            duplicates: s.state.duplicates,
            late_arrivals: s.state.late,
        }
    }
}

#[derive(Serialize)]
pub struct StreamList {
    pub streams: Vec<StreamJson>,
    pub next_cursor: Option<String>,
}

pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<StreamList>> {
    let p = Params::new(q, &["topic", "partition", "producer", "limit", "cursor"])?;
    let filter = Filter {
        topic: p.string("topic"),
        partition: p.partition("partition")?,
        producer: p.string("producer"),
    };
    let limit = p.limit(100, 1000)?;
    let cursor = p.cursor()?;
    blocking(move || {
        let page = s.store.streams(&filter, limit, cursor.as_deref())?;
        Ok(Json(StreamList {
            streams: page
                .items
                .into_iter()
                .map(|(id, st)| StreamJson::new(id, st))
                .collect(),
            next_cursor: page.next.as_deref().map(hex),
        }))
    })
    .await
}

/// Path parts of a stream, parsed with JSON errors.
fn stream_path(
    path: Result<Path<Vec<String>>, PathRejection>,
) -> Result<(String, i32, String, Vec<String>), ApiError> {
    let Path(parts) = path.map_err(|e| ApiError::bad_parameter("path", e.body_text()))?;
    let mut it = parts.into_iter();
    let (Some(topic), Some(partition), Some(producer)) = (it.next(), it.next(), it.next()) else {
        return Err(ApiError::bad_parameter(
            "path",
            "expected /{topic}/{partition}/{producer}",
        ));
    };
    let partition = partition
        .parse::<i32>()
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(|| {
            ApiError::bad_parameter(
                "partition",
                format!("'{partition}' is not a partition number"),
            )
        })?;
    Ok((topic, partition, producer, it.collect()))
}

/// The stream of the requested epoch, or the producer's highest epoch.
fn find_stream(
    s: &AppState,
    topic: &str,
    partition: i32,
    producer: &str,
    epoch: Option<u64>,
) -> ApiResult<(StreamId, StoredStream, Vec<u64>)> {
    let all = s.store.producer_streams(topic, partition, producer)?;
    let epochs: Vec<u64> = all.iter().map(|(e, _)| *e).collect();
    let found = match epoch {
        Some(e) => all.into_iter().find(|(x, _)| *x == e),
        None => all.into_iter().next_back(),
    };
    let Some((epoch, stream)) = found else {
        let which = epoch.map(|e| format!(" epoch {e}")).unwrap_or_default();
        return Err(ApiError::not_found(format!(
            "no stream of producer '{producer}'{which} on {topic}/{partition}"
        )));
    };
    let id = StreamId {
        topic: topic.to_owned(),
        partition,
        producer: producer.to_owned(),
        epoch,
    };
    Ok((id, stream, epochs))
}

#[derive(Serialize)]
pub struct StreamDetail {
    #[serde(flatten)]
    pub stream: StreamJson,
    /// Every epoch gapwatch knows of this producer on this partition.
    pub epochs: Vec<u64>,
}

pub async fn one(
    State(s): State<AppState>,
    path: Result<Path<Vec<String>>, PathRejection>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<StreamDetail>> {
    let (topic, partition, producer, _) = stream_path(path)?;
    let p = Params::new(q, &["epoch"])?;
    let epoch = p.u64("epoch")?;
    blocking(move || {
        let (id, stream, epochs) = find_stream(&s, &topic, partition, &producer, epoch)?;
        Ok(Json(StreamDetail {
            stream: StreamJson::new(id, stream),
            epochs,
        }))
    })
    .await
}

#[derive(Serialize)]
pub struct Missing {
    pub topic: String,
    pub partition: i32,
    pub producer: String,
    pub epoch: u64,
    pub missing_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Vec<RangeJson>>,
    /// IDs as `{producer}-Partition{partition}-{seq}`, the format of the
    /// message keys loadgen writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    pub truncated: bool,
}

pub async fn missing(
    State(s): State<AppState>,
    path: Result<Path<Vec<String>>, PathRejection>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Missing>> {
    let (topic, partition, producer, _) = stream_path(path)?;
    let p = Params::new(q, &["epoch", "format", "limit"])?;
    let epoch = p.u64("epoch")?;
    let as_ids = match p.string("format").as_deref() {
        None | Some("ranges") => false,
        Some("ids") => true,
        Some(other) => {
            return Err(ApiError::bad_parameter(
                "format",
                format!("'{other}' is not one of ranges, ids"),
            ));
        }
    };
    let limit = if as_ids {
        p.limit(1000, 100_000)?
    } else {
        p.limit(1000, 10_000)?
    };
    blocking(move || {
        let (id, stream, _) = find_stream(&s, &topic, partition, &producer, epoch)?;
        let gaps = &stream.state.gaps;
        let total = stream.state.missing();
        let (ranges, ids, truncated) = if as_ids {
            let ids: Vec<String> = gaps
                .iter()
                .flat_map(|g| g.first..=g.last)
                .take(limit)
                .map(|seq| crate::contract::message_key(&id.producer, id.partition, seq))
                .collect();
            let truncated = (ids.len() as u64) < total;
            (None, Some(ids), truncated)
        } else {
            let ranges: Vec<RangeJson> = gaps.iter().take(limit).map(RangeJson::from).collect();
            let truncated = ranges.len() < gaps.len();
            (Some(ranges), None, truncated)
        };
        Ok(Json(Missing {
            topic: id.topic,
            partition: id.partition,
            producer: id.producer,
            epoch: id.epoch,
            missing_count: total,
            ranges,
            ids,
            truncated,
        }))
    })
    .await
}

#[derive(Serialize)]
pub struct MessageStatus {
    pub topic: String,
    pub partition: i32,
    pub producer: String,
    pub epoch: u64,
    pub seq: u64,
    /// seen | missing | ahead (not yet seen: at or beyond the next expected
    /// number) | before_baseline (below the first number gapwatch saw of a
    /// stream it did not read from its start).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<RangeJson>,
    pub next_seq: u64,
}

pub async fn message(
    State(s): State<AppState>,
    path: Result<Path<Vec<String>>, PathRejection>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<MessageStatus>> {
    let (topic, partition, producer, rest) = stream_path(path)?;
    let seq_text = rest.first().cloned().unwrap_or_default();
    let seq = seq_text
        .parse::<u64>()
        .ok()
        .filter(|s| *s >= 1)
        .ok_or_else(|| {
            ApiError::bad_parameter(
                "seq",
                format!("'{seq_text}' is not a sequence number (1 or more)"),
            )
        })?;
    let p = Params::new(q, &["epoch"])?;
    let epoch = p.u64("epoch")?;
    blocking(move || {
        let (id, stream, _) = find_stream(&s, &topic, partition, &producer, epoch)?;
        let st = &stream.state;
        let gap = st.is_missing(seq).map(RangeJson::from);
        let status = if gap.is_some() {
            "missing"
        } else if seq >= st.next {
            "ahead"
        } else if seq < stream.baseline {
            "before_baseline"
        } else {
            "seen"
        };
        Ok(Json(MessageStatus {
            topic: id.topic,
            partition: id.partition,
            producer: id.producer,
            epoch: id.epoch,
            seq,
            status,
            gap,
            next_seq: st.next,
        }))
    })
    .await
}
