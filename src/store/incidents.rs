//! Incidents: offset ranges of a partition that gapwatch could not audit, or
//! that Kafka took back after gapwatch audited them. They are kept apart from
//! gaps: a gap is a producer's number that never arrived, an incident is a
//! stretch of the log whose messages gapwatch never saw (or saw vanish).

use rocksdb::IteratorMode;
use serde::{Deserialize, Serialize};

use super::{INCIDENTS, INCIDENTS_I, Result, StateBatch, Store, cf, keys};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentCause {
    /// Deleted by retention (the log start moved past them) before gapwatch
    /// read them: not lost in transit, but never audited.
    ExpiredBeforeAudit,
    /// Audited, then removed when Kafka cut the log (an unclean leader
    /// election); the messages removed are reported as gaps.
    LogTruncated,
    /// Removed by a cut of the log while, or before, gapwatch knew what they
    /// held (it was not running, or they were beyond
    /// `detection.truncation_window`).
    TruncatedUnknown,
}

impl IncidentCause {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentCause::ExpiredBeforeAudit => "expired_before_audit",
            IncidentCause::LogTruncated => "log_truncated",
            IncidentCause::TruncatedUnknown => "truncated_unknown",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub topic: String,
    pub partition: i32,
    pub cause: IncidentCause,
    /// The offsets concerned, inclusive.
    pub first_offset: i64,
    pub last_offset: i64,
    /// For a truncation: the audited messages it removed.
    pub messages: Option<u64>,
    pub detected_ms: u64,
}

/// At most this many incidents are listed at once.
pub const MAX_INCIDENTS: usize = 10_000;

impl Store {
    pub fn put_incident(&self, b: &mut StateBatch, incident: &Incident) {
        b.buf.clear();
        keys::partition_prefix(&mut b.buf, &incident.topic, incident.partition);
        b.buf.extend_from_slice(&incident.detected_ms.to_be_bytes());
        b.buf
            .extend_from_slice(&incident.first_offset.to_be_bytes());
        let key = std::mem::take(&mut b.buf);
        let value = serde_json::to_vec(incident).expect("serializable");
        b.put(INCIDENTS_I, &key, &value);
        b.buf = key;
    }

    /// Incidents, by topic and partition, oldest first within each; at most
    /// [`MAX_INCIDENTS`].
    pub fn incidents(&self, topic: Option<&str>, partition: Option<i32>) -> Result<Vec<Incident>> {
        let db = self.db()?;
        let mut out = Vec::new();
        for item in db.iterator_cf(cf(&db, INCIDENTS), IteratorMode::Start) {
            let (_, v) = item.map_err(|e| self.read_err(e))?;
            let Ok(incident) = serde_json::from_slice::<Incident>(&v) else {
                continue;
            };
            if topic.is_some_and(|t| t != incident.topic)
                || partition.is_some_and(|p| p != incident.partition)
            {
                continue;
            }
            out.push(incident);
            if out.len() >= MAX_INCIDENTS {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_are_stored_and_listed_by_partition() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let mut b = store.batch();
        for (p, first) in [(0, 10), (1, 5), (0, 30)] {
            store.put_incident(
                &mut b,
                &Incident {
                    topic: "t".into(),
                    partition: p,
                    cause: IncidentCause::ExpiredBeforeAudit,
                    first_offset: first,
                    last_offset: first + 9,
                    messages: None,
                    detected_ms: first as u64,
                },
            );
        }
        store.write(&b).unwrap();
        let all = store.incidents(Some("t"), None).unwrap();
        assert_eq!(all.len(), 3);
        let p0: Vec<i64> = store
            .incidents(None, Some(0))
            .unwrap()
            .iter()
            .map(|i| i.first_offset)
            .collect();
        assert_eq!(p0, vec![10, 30]);
        assert!(store.incidents(Some("other"), None).unwrap().is_empty());
    }
}
