//! Durable state in RocksDB: stream states, gaps and each partition's
//! consumed offset, always written together in one atomic batch.

pub mod keys;
mod record;

use std::path::{Path, PathBuf};

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions, WriteBatch,
    WriteOptions,
};

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
const FAMILIES: [&str; 6] = [STREAMS, GAPS, HEALED, OFFSETS, ALERT_EVENTS, ALERTS];

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
pub struct Store {
    db: DB,
    dir: PathBuf,
    sync: bool,
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
        let open_err = |reason: String| StoreError::Open {
            dir: dir.to_owned(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
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
        let db = DB::open_cf_descriptors(&opts, dir, cfs).map_err(|e| open_err(e.to_string()))?;
        Ok(Store {
            db,
            dir: dir.to_owned(),
            sync,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column family created at open")
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
    pub fn write(&self, batch: StateBatch) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(self.sync);
        self.db
            .write_opt(batch.wb, &wo)
            .map_err(|e| StoreError::Write {
                dir: self.dir.clone(),
                reason: e.to_string(),
            })
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Result<Option<PartitionRecord>> {
        let mut k = Vec::new();
        keys::partition_prefix(&mut k, topic, partition);
        match self
            .db
            .get_cf(self.cf(OFFSETS), &k)
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
        for item in self.db.iterator_cf(self.cf(OFFSETS), IteratorMode::Start) {
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
        match self
            .db
            .get_cf(self.cf(STREAMS), &k)
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
        let iter = self.db.iterator_cf_opt(
            self.cf(family),
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
        let mut batch = WriteBatch::default();
        let mut n = 0;
        self.scan(HEALED, &[], None, |k, v| {
            if let Ok(h) = HealedGap::decode(v)
                && h.healed_at_ms < before_ms
            {
                batch.delete_cf(self.cf(HEALED), k);
                n += 1;
            }
            Ok(n < max)
        })?;
        self.write(StateBatch {
            wb: batch,
            buf: Vec::new(),
        })?;
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
                batch.wb.delete_cf(self.cf(STREAMS), k);
                deleted += 1;
            }
            if seen >= max {
                next = Some(k.to_vec());
                return Ok(false);
            }
            Ok(true)
        })?;
        if deleted > 0 {
            self.write(batch)?;
        }
        Ok((deleted, next))
    }

    /// A new, empty batch.
    pub fn batch(&self) -> StateBatch {
        StateBatch {
            wb: WriteBatch::default(),
            buf: Vec::new(),
        }
    }

    pub fn put_stream(&self, b: &mut StateBatch, id: StreamRef<'_>, s: &StoredStream) {
        b.buf.clear();
        keys::stream_key(&mut b.buf, id);
        let klen = b.buf.len();
        s.encode(&mut b.buf);
        let (k, v) = b.buf.split_at(klen);
        b.wb.put_cf(self.cf(STREAMS), k, v);
    }

    pub fn delete_stream(&self, b: &mut StateBatch, id: StreamRef<'_>) {
        b.buf.clear();
        keys::stream_key(&mut b.buf, id);
        b.wb.delete_cf(self.cf(STREAMS), &b.buf);
    }

    /// Replaces every stored gap of a stream by `gaps`.
    pub fn put_gaps(&self, b: &mut StateBatch, id: StreamRef<'_>, gaps: &[Gap]) {
        b.buf.clear();
        keys::stream_key(&mut b.buf, id);
        if let Some(end) = keys::prefix_end(&b.buf) {
            b.wb.delete_range_cf(self.cf(GAPS), &b.buf, &end);
        }
        for g in gaps {
            b.buf.clear();
            keys::gap_key(&mut b.buf, id, g.first);
            let klen = b.buf.len();
            crate::engine::codec::encode_gap(g, &mut b.buf);
            let (k, v) = b.buf.split_at(klen);
            b.wb.put_cf(self.cf(GAPS), k, v);
        }
    }

    pub fn put_healed(&self, b: &mut StateBatch, id: StreamRef<'_>, h: &HealedGap) {
        b.buf.clear();
        keys::gap_key(&mut b.buf, id, h.gap.first);
        let klen = b.buf.len();
        h.encode(&mut b.buf);
        let (k, v) = b.buf.split_at(klen);
        b.wb.put_cf(self.cf(HEALED), k, v);
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
        b.wb.put_cf(self.cf(OFFSETS), &b.buf, r.encode());
    }

    /// Adds an alert event to the outbox, in the same batch as the state
    /// change that caused it.
    pub fn put_alert_event(&self, b: &mut StateBatch, key: &[u8], event_json: &[u8]) {
        b.wb.put_cf(self.cf(ALERT_EVENTS), key, event_json);
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
        b.wb.delete_cf(self.cf(ALERT_EVENTS), key);
    }

    pub fn put_alert(&self, b: &mut StateBatch, id: &str, record_json: &[u8]) {
        b.wb.put_cf(self.cf(ALERTS), id.as_bytes(), record_json);
    }

    pub fn delete_alert(&self, b: &mut StateBatch, id: &str) {
        b.wb.delete_cf(self.cf(ALERTS), id.as_bytes());
    }

    pub fn alert(&self, id: &str) -> Result<Option<Vec<u8>>> {
        self.db
            .get_cf(self.cf(ALERTS), id.as_bytes())
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
            for family in [STREAMS, GAPS, HEALED] {
                b.wb.delete_range_cf(self.cf(family), &b.buf, &end);
            }
        }
        b.wb.delete_cf(self.cf(OFFSETS), &b.buf);
    }
}

/// Status filter of a gap listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapListStatus {
    Open,
    Confirmed,
    Healed,
}

/// Changes to be written together.
pub struct StateBatch {
    wb: WriteBatch,
    buf: Vec<u8>,
}

impl StateBatch {
    pub fn len(&self) -> usize {
        self.wb.len()
    }

    pub fn is_empty(&self) -> bool {
        self.wb.is_empty()
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
