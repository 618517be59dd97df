//! Durable state in RocksDB: stream states, gaps and each partition's
//! consumed offset, always written together in one atomic batch.

mod incidents;
pub mod keys;
mod record;
mod topics;

use std::path::{Path, PathBuf};

use parking_lot::{MappedRwLockReadGuard, RwLock, RwLockReadGuard};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions,
};

pub use incidents::{Incident, IncidentCause};
pub use keys::{StreamId, StreamRef};
pub use record::{HealedGap, PartitionRecord, RecordError, StoredStream};

use crate::engine::{Gap, GapStatus};

const STREAMS: &str = "streams";
const GAPS: &str = "gaps";
const HEALED: &str = "healed";
const OFFSETS: &str = "offsets";
/// Alert events not yet grouped into notifications (the outbox).
const ALERT_EVENTS: &str = "alert_events";
/// Notifications and their delivery state.
const ALERTS: &str = "alerts";
/// Offset ranges gapwatch could not audit, and why.
const INCIDENTS: &str = "incidents";
/// Each audited topic's Kafka id, to notice it deleted and created again.
const TOPICS: &str = "topics";
const FAMILIES: [&str; 8] = [
    STREAMS,
    GAPS,
    HEALED,
    OFFSETS,
    ALERT_EVENTS,
    ALERTS,
    INCIDENTS,
    TOPICS,
];
// Indexes into FAMILIES, as batches record them.
const STREAMS_I: u8 = 0;
const GAPS_I: u8 = 1;
const HEALED_I: u8 = 2;
const OFFSETS_I: u8 = 3;
const ALERT_EVENTS_I: u8 = 4;
const ALERTS_I: u8 = 5;
const INCIDENTS_I: u8 = 6;
const TOPICS_I: u8 = 7;

/// Longest scan one query does before returning a cursor, so a filter that
/// matches little cannot pin a request on a huge store.
const MAX_SCAN: usize = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state directory {dir}: {reason}")]
    Open { dir: PathBuf, reason: String },
    #[error("cannot write state to {dir}: {reason}")]
    Write { dir: PathBuf, reason: String },
    #[error("cannot read state from {dir}: {reason}")]
    Read { dir: PathBuf, reason: String },
    #[error("corrupt record in {family} at key {key}: {source}")]
    Corrupt {
        family: &'static str,
        key: String,
        source: RecordError,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The RocksDB-backed store. Cheap to share: reads run concurrently with the
/// auditor's writes.
///
/// After a failed write (a full disk), RocksDB refuses every later write
/// until the database is opened again, so the store reopens it: whatever
/// was durable before stays, the failed batch is simply not there, and the
/// caller writes it again once space returns.
pub struct Store {
    db: RwLock<Option<DB>>,
    dir: PathBuf,
    sync: bool,
}

fn cf<'a>(db: &'a DB, name: &str) -> &'a ColumnFamily {
    db.cf_handle(name).expect("column family created at open")
}

fn open_db(dir: &Path) -> std::result::Result<DB, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_max_background_jobs(2);
    opts.set_keep_log_file_num(3);
    let cfs = FAMILIES.map(|name| {
        let mut o = Options::default();
        o.set_compression_type(rocksdb::DBCompressionType::Lz4);
        ColumnFamilyDescriptor::new(name, o)
    });
    DB::open_cf_descriptors(&opts, dir, cfs).map_err(|e| e.to_string())
}

/// Which streams a query covers; later fields need the earlier ones to
/// narrow the scan by prefix, otherwise they filter.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub producer: Option<String>,
}

impl Filter {
    fn prefix(&self) -> Vec<u8> {
        let mut p = Vec::new();
        match (&self.topic, self.partition, &self.producer) {
            (Some(t), Some(q), Some(prod)) => keys::producer_prefix(&mut p, t, q, prod),
            (Some(t), Some(q), None) => keys::partition_prefix(&mut p, t, q),
            (Some(t), None, _) => keys::topic_prefix(&mut p, t),
            (None, _, _) => {}
        }
        p
    }

    fn matches(&self, id: &StreamId) -> bool {
        self.topic.as_ref().is_none_or(|t| *t == id.topic)
            && self.partition.is_none_or(|q| q == id.partition)
            && self.producer.as_ref().is_none_or(|p| *p == id.producer)
    }
}

/// One page of a listing.
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts (opaque; hex-encoded in the API).
    pub next: Option<Vec<u8>>,
}

/// A gap as listed: open and confirmed ones from `gaps`, healed ones from
/// `healed`.
#[derive(Clone, Debug)]
pub struct GapRecord {
    pub stream: StreamId,
    pub gap: Gap,
    pub healed_at_ms: Option<u64>,
}

impl Store {
    pub fn open(dir: &Path, sync: bool) -> Result<Store> {
        let db = open_db(dir).map_err(|reason| StoreError::Open {
            dir: dir.to_owned(),
            reason,
        })?;
        Ok(Store {
            db: RwLock::new(Some(db)),
            dir: dir.to_owned(),
            sync,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The open database, or an error while it is being reopened.
    fn db(&self) -> Result<MappedRwLockReadGuard<'_, DB>> {
        RwLockReadGuard::try_map(self.db.read(), Option::as_ref).map_err(|_| StoreError::Write {
            dir: self.dir.clone(),
            reason: "the state store is closed after a failed write; it reopens at the next write"
                .to_owned(),
        })
    }

    /// Closes and opens the database again, clearing RocksDB's sticky
    /// write error. Leaves it closed (to be retried) if opening fails.
    fn reopen(&self) {
        let mut slot = self.db.write();
        drop(slot.take());
        match open_db(&self.dir) {
            Ok(db) => *slot = Some(db),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot reopen the state store yet")
            }
        }
    }

    fn read_err(&self, e: rocksdb::Error) -> StoreError {
        StoreError::Read {
            dir: self.dir.clone(),
            reason: e.to_string(),
        }
    }

    fn corrupt(family: &'static str, key: &[u8], source: RecordError) -> StoreError {
        StoreError::Corrupt {
            family,
            key: hex(key),
            source,
        }
    }

    /// Writes a batch atomically (and durably, unless sync is off).
    pub fn write(&self, batch: &StateBatch) -> Result<()> {
        let result = match self.db.read().as_ref() {
            None => Err("the state store is closed after a failed write".to_owned()),
            Some(db) => {
                let mut wb = WriteBatch::default();
                batch.apply(db, &mut wb);
                let mut wo = WriteOptions::default();
                wo.set_sync(self.sync);
                db.write_opt(wb, &wo).map_err(|e| e.to_string())
            }
        };
        result.map_err(|reason| {
            // RocksDB keeps refusing writes after an I/O error (a full
            // disk) until it is opened again.
            self.reopen();
            StoreError::Write {
                dir: self.dir.clone(),
                reason,
            }
        })
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Result<Option<PartitionRecord>> {
        let mut k = Vec::new();
        keys::partition_prefix(&mut k, topic, partition);
        let db = self.db()?;
        match db
            .get_cf(cf(&db, OFFSETS), &k)
            .map_err(|e| self.read_err(e))?
        {
            None => Ok(None),
            Some(v) => PartitionRecord::decode(&v)
                .map(Some)
                .map_err(|e| Self::corrupt(OFFSETS, &k, e)),
        }
    }

    pub fn partitions(&self) -> Result<Vec<(String, i32, PartitionRecord)>> {
        let mut out = Vec::new();
        let db = self.db()?;
        for item in db.iterator_cf(cf(&db, OFFSETS), IteratorMode::Start) {
            let (k, v) = item.map_err(|e| self.read_err(e))?;
            let mut kb: &[u8] = &k;
            let Some((topic, partition)) = keys::decode_partition(&mut kb) else {
                continue;
            };
            let rec = PartitionRecord::decode(&v).map_err(|e| Self::corrupt(OFFSETS, &k, e))?;
            out.push((topic, partition, rec));
        }
        Ok(out)
    }

    pub fn stream(&self, id: StreamRef<'_>) -> Result<Option<StoredStream>> {
        let mut k = Vec::new();
        keys::stream_key(&mut k, id);
        let db = self.db()?;
        match db
            .get_cf(cf(&db, STREAMS), &k)
            .map_err(|e| self.read_err(e))?
        {
            None => Ok(None),
            Some(v) => StoredStream::decode(&v)
                .map(Some)
                .map_err(|e| Self::corrupt(STREAMS, &k, e)),
        }
    }

    /// Every stored epoch of one producer on one partition, oldest first.
    pub fn producer_streams(
        &self,
        topic: &str,
        partition: i32,
        producer: &str,
    ) -> Result<Vec<(u64, StoredStream)>> {
        let mut prefix = Vec::new();
        keys::producer_prefix(&mut prefix, topic, partition, producer);
        let mut out = Vec::new();
        self.scan(STREAMS, &prefix, None, |k, v| {
            let mut kb = k;
            if let Some(id) = keys::decode_stream(&mut kb) {
                out.push((
                    id.epoch,
                    StoredStream::decode(v).map_err(|e| Self::corrupt(STREAMS, k, e))?,
                ));
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// Visits keys under `prefix` from `after` (exclusive) while `f` says so.
    fn scan(
        &self,
        family: &'static str,
        prefix: &[u8],
        after: Option<&[u8]>,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut ro = ReadOptions::default();
        if let Some(end) = keys::prefix_end(prefix) {
            ro.set_iterate_upper_bound(end);
        }
        let start: Vec<u8> = match after {
            Some(a) if a > prefix => {
                let mut s = a.to_vec();
                s.push(0);
                s
            }
            _ => prefix.to_vec(),
        };
        let db = self.db()?;
        let iter = db.iterator_cf_opt(
            cf(&db, family),
            ro,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(|e| self.read_err(e))?;
            if !k.starts_with(prefix) || !f(&k, &v)? {
                break;
            }
        }
        Ok(())
    }

    /// Lists gaps by filter and status, oldest key first.
    pub fn gaps(
        &self,
        filter: &Filter,
        statuses: &[GapListStatus],
        since_ms: Option<u64>,
        limit: usize,
        cursor: Option<&[u8]>,
    ) -> Result<Page<GapRecord>> {
        // Open and confirmed gaps share one family, healed ones have their
        // own; a listing of both walks `gaps` then `healed`, and the cursor
        // says which family it stopped in.
        let mut items = Vec::new();
        let mut next = None;
        let (family_at, after) = match cursor {
            Some([b'h', rest @ ..]) => (1, Some(rest)),
            Some([b'g', rest @ ..]) => (0, Some(rest)),
            _ => (0, None),
        };
        let want_live = statuses
            .iter()
            .any(|s| matches!(s, GapListStatus::Open | GapListStatus::Confirmed));
        let want_healed = statuses.contains(&GapListStatus::Healed);
        let prefix = filter.prefix();
        for (index, family, wanted, tag) in
            [(0, GAPS, want_live, b'g'), (1, HEALED, want_healed, b'h')]
        {
            if index < family_at || !wanted || next.is_some() {
                continue;
            }
            let after = if index == family_at { after } else { None };
            let mut scanned = 0usize;
            self.scan(family, &prefix, after, |k, v| {
                scanned += 1;
                let Some((stream, _)) = keys::decode_gap(k) else {
                    return Ok(true);
                };
                let (gap, healed_at_ms) = if family == HEALED {
                    let h = HealedGap::decode(v).map_err(|e| Self::corrupt(HEALED, k, e))?;
                    (h.gap, Some(h.healed_at_ms))
                } else {
                    let g = crate::engine::codec::decode_gap(v)
                        .map_err(|e| Self::corrupt(GAPS, k, e.into()))?;
                    (g, None)
                };
                let status = match (healed_at_ms, gap.status) {
                    (Some(_), _) => GapListStatus::Healed,
                    (None, GapStatus::Open) => GapListStatus::Open,
                    (None, GapStatus::Confirmed) => GapListStatus::Confirmed,
                };
                if filter.matches(&stream)
                    && statuses.contains(&status)
                    && since_ms.is_none_or(|s| gap.detected_at_ms >= s)
                {
                    items.push(GapRecord {
                        stream,
                        gap,
                        healed_at_ms,
                    });
                }
                if items.len() >= limit || scanned >= MAX_SCAN {
                    let mut c = vec![tag];
                    c.extend_from_slice(k);
                    next = Some(c);
                    return Ok(false);
                }
                Ok(true)
            })?;
        }
        Ok(Page { items, next })
    }

    /// Lists streams by filter, in key order.
    pub fn streams(
        &self,
        filter: &Filter,
        limit: usize,
        cursor: Option<&[u8]>,
    ) -> Result<Page<(StreamId, StoredStream)>> {
        let mut items = Vec::new();
        let mut next = None;
        let mut scanned = 0usize;
        self.scan(STREAMS, &filter.prefix(), cursor, |k, v| {
            scanned += 1;
            let mut kb = k;
            if let Some(id) = keys::decode_stream(&mut kb)
                && filter.matches(&id)
            {
                let s = StoredStream::decode(v).map_err(|e| Self::corrupt(STREAMS, k, e))?;
                items.push((id, s));
            }
            if items.len() >= limit || scanned >= MAX_SCAN {
                next = Some(k.to_vec());
                return Ok(false);
            }
            Ok(true)
        })?;
        Ok(Page { items, next })
    }

    /// Every stream with open or confirmed gaps (loaded at start so that
    /// their confirmation timers and gauges carry on).
    pub fn streams_with_gaps(&self) -> Result<Vec<StreamId>> {
        let mut out: Vec<StreamId> = Vec::new();
        self.scan(GAPS, &[], None, |k, _| {
            if let Some((id, _)) = keys::decode_gap(k)
                && out.last() != Some(&id)
            {
                out.push(id);
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// Deletes healed gaps healed before `before_ms`; returns how many.
    pub fn expire_healed(&self, before_ms: u64, max: usize) -> Result<usize> {
        let mut batch = self.batch();
        let mut n = 0;
        self.scan(HEALED, &[], None, |k, v| {
            if let Ok(h) = HealedGap::decode(v)
                && h.healed_at_ms < before_ms
            {
                batch.delete(HEALED_I, k);
                n += 1;
            }
            Ok(n < max)
        })?;
        if !batch.is_empty() {
            self.write(&batch)?;
        }
        Ok(n)
    }

    /// Deletes up to `max` streams, from `after` on in key order, that were
    /// last seen before `before_ms` and have no gaps. Returns how many went
    /// and where the next sweep starts (`None`: the end was reached).
    pub fn sweep_streams(
        &self,
        after: Option<&[u8]>,
        max: usize,
        before_ms: u64,
    ) -> Result<(usize, Option<Vec<u8>>)> {
        let mut batch = self.batch();
        let mut seen = 0;
        let mut deleted = 0;
        let mut next = None;
        self.scan(STREAMS, &[], after, |k, v| {
            seen += 1;
            if let Ok(s) = StoredStream::decode(v)
                && s.state.gaps.is_empty()
                && s.state.last_seen_ms < before_ms
            {
                batch.delete(STREAMS_I, k);
                deleted += 1;
            }
            if seen >= max {
                next = Some(k.to_vec());
                return Ok(false);
            }
            Ok(true)
        })?;
        if deleted > 0 {
            self.write(&batch)?;
        }
        Ok((deleted, next))
    }

    /// A new, empty batch.
    pub fn batch(&self) -> StateBatch {
        StateBatch::new()
    }

    pub fn put_stream(&self, b: &mut StateBatch, id: StreamRef<'_>, s: &StoredStream) {
        b.buf.clear();
        keys::stream_key(&mut b.buf, id);
        let klen = b.buf.len();
        s.encode(&mut b.buf);
        b.put_split(STREAMS_I, klen);
    }

    pub fn delete_stream(&self, b: &mut StateBatch, id: StreamRef<'_>) {
        b.buf.clear();
        keys::stream_key(&mut b.buf, id);
        b.delete_buf(STREAMS_I);
    }

    /// Replaces every stored gap of a stream by `gaps`.
    pub fn put_gaps(&self, b: &mut StateBatch, id: StreamRef<'_>, gaps: &[Gap]) {
        b.buf.clear();
        keys::stream_key(&mut b.buf, id);
        if let Some(end) = keys::prefix_end(&b.buf) {
            b.delete_range_from_buf(GAPS_I, &end);
        }
        for g in gaps {
            b.buf.clear();
            keys::gap_key(&mut b.buf, id, g.first);
            let klen = b.buf.len();
            crate::engine::codec::encode_gap(g, &mut b.buf);
            b.put_split(GAPS_I, klen);
        }
    }

    pub fn put_healed(&self, b: &mut StateBatch, id: StreamRef<'_>, h: &HealedGap) {
        b.buf.clear();
        keys::gap_key(&mut b.buf, id, h.gap.first);
        let klen = b.buf.len();
        h.encode(&mut b.buf);
        b.put_split(HEALED_I, klen);
    }

    pub fn put_partition(
        &self,
        b: &mut StateBatch,
        topic: &str,
        partition: i32,
        r: PartitionRecord,
    ) {
        b.buf.clear();
        keys::partition_prefix(&mut b.buf, topic, partition);
        b.put_buf(OFFSETS_I, &r.encode());
    }

    /// Adds an alert event to the outbox, in the same batch as the state
    /// change that caused it.
    pub fn put_alert_event(&self, b: &mut StateBatch, key: &[u8], event_json: &[u8]) {
        b.put(ALERT_EVENTS_I, key, event_json);
    }

    /// Every alert event waiting in the outbox, oldest first.
    pub fn alert_events(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        self.scan(ALERT_EVENTS, &[], None, |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Ok(true)
        })?;
        Ok(out)
    }

    pub fn delete_alert_event(&self, b: &mut StateBatch, key: &[u8]) {
        b.delete(ALERT_EVENTS_I, key);
    }

    pub fn put_alert(&self, b: &mut StateBatch, id: &str, record_json: &[u8]) {
        b.put(ALERTS_I, id.as_bytes(), record_json);
    }

    pub fn delete_alert(&self, b: &mut StateBatch, id: &str) {
        b.delete(ALERTS_I, id.as_bytes());
    }

    pub fn alert(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let db = self.db()?;
        db.get_cf(cf(&db, ALERTS), id.as_bytes())
            .map_err(|e| self.read_err(e))
    }

    /// Notifications in id order from `after`, while `f` says so.
    pub fn scan_alerts(
        &self,
        after: Option<&[u8]>,
        mut f: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.scan(ALERTS, &[], after, |k, v| Ok(f(k, v)))
    }

    /// Removes everything stored for a partition (a topic deleted and
    /// recreated starts over).
    pub fn delete_partition(&self, b: &mut StateBatch, topic: &str, partition: i32) {
        b.buf.clear();
        keys::partition_prefix(&mut b.buf, topic, partition);
        if let Some(end) = keys::prefix_end(&b.buf) {
            for family in [STREAMS_I, GAPS_I, HEALED_I] {
                b.delete_range_from_buf(family, &end);
            }
        }
        b.delete_buf(OFFSETS_I);
    }
}

/// Status filter of a gap listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapListStatus {
    Open,
    Confirmed,
    Healed,
}

/// Changes to be written together, recorded as plain data and turned into
/// a RocksDB batch only when written (so a reopened database is fine).
pub struct StateBatch {
    /// Keys and values, back to back.
    data: Vec<u8>,
    ops: Vec<Op>,
    /// Scratch space for building keys.
    buf: Vec<u8>,
}

#[derive(Clone, Copy)]
enum OpKind {
    Put,
    Delete,
    DeleteRange,
}

#[derive(Clone, Copy)]
struct Op {
    family: u8,
    kind: OpKind,
    start: usize,
    key_len: usize,
    value_len: usize,
}

impl StateBatch {
    fn new() -> StateBatch {
        StateBatch {
            data: Vec::new(),
            ops: Vec::new(),
            buf: Vec::new(),
        }
    }

    fn push(&mut self, family: u8, kind: OpKind, key: &[u8], value: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(value);
        self.ops.push(Op {
            family,
            kind,
            start,
            key_len: key.len(),
            value_len: value.len(),
        });
    }

    fn put(&mut self, family: u8, key: &[u8], value: &[u8]) {
        self.push(family, OpKind::Put, key, value);
    }

    fn delete(&mut self, family: u8, key: &[u8]) {
        self.push(family, OpKind::Delete, key, &[]);
    }

    /// Puts `buf[..klen]` as the key and the rest of `buf` as the value.
    fn put_split(&mut self, family: u8, klen: usize) {
        let kv = std::mem::take(&mut self.buf);
        self.put(family, &kv[..klen], &kv[klen..]);
        self.buf = kv;
    }

    /// Puts `value` under the key built in `buf`.
    fn put_buf(&mut self, family: u8, value: &[u8]) {
        let key = std::mem::take(&mut self.buf);
        self.put(family, &key, value);
        self.buf = key;
    }

    /// Deletes the key built in `buf`.
    fn delete_buf(&mut self, family: u8) {
        let key = std::mem::take(&mut self.buf);
        self.delete(family, &key);
        self.buf = key;
    }

    /// Deletes from the key built in `buf` (inclusive) to `end` (exclusive).
    fn delete_range_from_buf(&mut self, family: u8, end: &[u8]) {
        let key = std::mem::take(&mut self.buf);
        self.push(family, OpKind::DeleteRange, &key, end);
        self.buf = key;
    }

    fn apply(&self, db: &DB, wb: &mut WriteBatch) {
        for op in &self.ops {
            let handle = cf(db, FAMILIES[op.family as usize]);
            let key = &self.data[op.start..op.start + op.key_len];
            let value = &self.data[op.start + op.key_len..op.start + op.key_len + op.value_len];
            match op.kind {
                OpKind::Put => wb.put_cf(handle, key, value),
                OpKind::Delete => wb.delete_cf(handle, key),
                OpKind::DeleteRange => wb.delete_range_cf(handle, key, value),
            }
        }
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 4096 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
