//! The auditor: applies the sequence engine to every audited message, keeps
//! each stream's state in memory, and writes state, gaps and offsets to
//! RocksDB together in one atomic batch.
//!
//! It is driven by one thread (the consumer loop) and by the rebalance
//! callbacks that run inside that thread's poll, so it needs no internal
//! locking; the loop shares it through a mutex only for those callbacks.

mod absent;
mod events;
mod flush;
mod journal;
mod out_of_range;
pub mod producers;
mod recreated;
mod rewind;
mod state;
mod writer;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alert::AlertEvent;
use crate::config::{AlertKind, StartOffset};
use crate::engine::{GapStatus, Observation, StreamState};
use crate::extract::{Stamp, Unaudited};
use crate::metrics::{Metrics, TopicMetrics};
use crate::store::{Filter, GapListStatus, HealedGap, Store, StoreError, StreamId, StreamRef};

pub use producers::{ProducerId, Producers};
pub use state::{Epoch, FastMap, Producer, Slot, Topic};

/// The auditor's tunables, from the configuration.
#[derive(Clone, Debug)]
pub struct AuditSettings {
    pub confirm_after: Duration,
    /// Arrivals remembered per partition to undo a truncated log.
    pub truncation_window: usize,
    pub flush_interval: Duration,
    pub flush_max_messages: u64,
    pub idle_after: Duration,
    pub retention: Duration,
    pub max_streams_in_memory: u64,
    pub start_offset: StartOffset,
}

pub struct Auditor {
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    settings: AuditSettings,
    topics: FastMap<Arc<str>, Topic>,
    /// Producers with open gaps, whose confirmation timers must run.
    ticking: HashSet<(Arc<str>, i32, ProducerId)>,
    /// Gaps healed since the last flush, written to the healed index.
    healed: Vec<(StreamId, HealedGap)>,
    unflushed: u64,
    last_flush: Instant,
    streams_in_memory: u64,
    confirm_buf: Vec<crate::engine::Gap>,
    /// Alert kinds some target wants; events of other kinds are not kept.
    alert_kinds: Vec<AlertKind>,
    /// Alert events since the last flush, written to the outbox with it.
    alert_events: Vec<AlertEvent>,
    /// Where the retention sweep over stored streams continues.
    sweep_cursor: Option<Vec<u8>>,
    last_sweep: Instant,
    /// Incidents since the last flush, written with it.
    incidents: Vec<crate::store::Incident>,
    /// Writes flushed batches on a thread of its own, when started.
    writer: Option<writer::Writer>,
    last_evict: Instant,
}

/// Eviction waits for the background writer when it has not found it idle
/// for this long.
const EVICT_AT_LEAST_EVERY: Duration = Duration::from_secs(2);

/// How often the retention sweep runs, and how many stored streams it
/// visits each time: bounded work, however large the store.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
const SWEEP_BATCH: usize = 10_000;

/// Where a message sits in Kafka.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    pub partition: i32,
    pub offset: i64,
    /// Leader epoch of the batch that holds it (-1: unknown).
    pub leader_epoch: i32,
    /// Kafka timestamp, ms.
    pub timestamp_ms: Option<i64>,
}

impl At {
    pub fn new(partition: i32, offset: i64) -> At {
        At {
            partition,
            offset,
            leader_epoch: -1,
            timestamp_ms: None,
        }
    }
}

/// What an arrival at some offset means for its partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Advance {
    /// A new offset, now audited.
    Fresh,
    /// An offset audited before, redelivered: nothing changes.
    Replay,
    /// An offset audited before, now holding a message from a later leader:
    /// Kafka truncated its log there.
    Diverged,
}

/// Where the consumer should start reading an assigned partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    Offset(i64),
    Beginning,
    End,
}

impl Auditor {
    pub fn new(store: Arc<Store>, metrics: Arc<Metrics>, settings: AuditSettings) -> Auditor {
        Auditor {
            store,
            metrics,
            settings,
            topics: FastMap::default(),
            ticking: HashSet::new(),
            healed: Vec::new(),
            unflushed: 0,
            last_flush: Instant::now(),
            streams_in_memory: 0,
            confirm_buf: Vec::new(),
            alert_kinds: Vec::new(),
            alert_events: Vec::new(),
            sweep_cursor: None,
            last_sweep: Instant::now(),
            incidents: Vec::new(),
            writer: None,
            last_evict: Instant::now(),
        }
    }

    /// Records alert events of these kinds in the outbox.
    pub fn with_alerts(mut self, kinds: Vec<AlertKind>) -> Auditor {
        self.alert_kinds = kinds;
        self
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Sets the missing-message gauges from the stored gaps, once at start.
    pub fn init_gauges(&mut self) -> Result<(), StoreError> {
        let mut cursor: Option<Vec<u8>> = None;
        let mut sums: HashMap<(String, GapStatus), i64> = HashMap::new();
        loop {
            let page = self.store.gaps(
                &Filter::default(),
                &[GapListStatus::Open, GapListStatus::Confirmed],
                None,
                10_000,
                cursor.as_deref(),
            )?;
            for g in &page.items {
                *sums
                    .entry((g.stream.topic.clone(), g.gap.status))
                    .or_default() += g.gap.count() as i64;
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        for ((topic, status), n) in sums {
            let label = match status {
                GapStatus::Open => "open",
                GapStatus::Confirmed => "confirmed",
            };
            self.metrics
                .missing
                .with_label_values(&[&topic, label])
                .set(n);
        }
        Ok(())
    }

    /// Takes on a partition: loads its stored offset and every stream of it
    /// that has gaps, and says where to read from.
    pub fn assign(
        &mut self,
        topic: &str,
        partition: i32,
        rule: usize,
    ) -> Result<StartAt, StoreError> {
        // What was flushed of this partition before (held here earlier) is
        // read back below. While RocksDB refuses writes, what it has is read:
        // its offsets and state agree, and the refused batch lands later.
        self.settle();
        let record = self.store.partition(topic, partition)?;
        let metrics = &self.metrics;
        let t = self
            .topics
            .entry(Arc::from(topic))
            .or_insert_with(|| Topic {
                name: Arc::from(topic),
                rule,
                metrics: TopicMetrics::new(metrics, topic),
                partitions: FastMap::default(),
            });
        t.rule = rule;
        let name = t.name.clone();
        let tm = t.metrics.clone();
        let new_slot = !t.partitions.contains_key(&partition);
        let slot = t.partitions.entry(partition).or_default();
        if new_slot {
            // Nothing stored for it: only producers that leave memory from
            // now on are in RocksDB.
            slot.absent = record.is_none().then(absent::Absent::default);
        }
        slot.record = record;
        // Streams with gaps come into memory now so their timers run.
        let filter = Filter {
            topic: Some(topic.to_owned()),
            partition: Some(partition),
            producer: None,
        };
        let page = self.store.gaps(
            &filter,
            &[GapListStatus::Open, GapListStatus::Confirmed],
            None,
            usize::MAX,
            None,
        )?;
        let mut producers: Vec<String> =
            page.items.into_iter().map(|g| g.stream.producer).collect();
        producers.dedup();
        for producer in producers {
            if slot.producers.contains_key(producer.as_str()) {
                continue;
            }
            let position = bring_in(
                &self.store,
                slot,
                &tm,
                &mut self.streams_in_memory,
                (topic, partition, &producer),
            )?;
            if slot.producers.at_mut(position).producer.has_open_gaps() {
                self.ticking
                    .insert((name.clone(), partition, ProducerId::new(&producer)));
            }
        }
        self.metrics.assigned_partitions.inc();
        if record.is_none() {
            let from = match self.settings.start_offset {
                StartOffset::Earliest => "its first offset still in Kafka",
                StartOffset::Latest => "its end (kafka.start_offset = \"latest\")",
            };
            tracing::warn!(
                topic,
                partition,
                "no stored state for this partition here (new to this instance, or its state lives with \
                 another instance): auditing it from {from}"
            );
        }
        Ok(match (record, self.settings.start_offset) {
            (Some(r), _) => StartAt::Offset(r.next_offset),
            (None, StartOffset::Earliest) => StartAt::Beginning,
            (None, StartOffset::Latest) => StartAt::End,
        })
    }

    /// Lets go of a partition: its streams leave memory. Call [`flush`]
    /// first; whatever it could not write is read again from the stored
    /// offset by whoever takes the partition next.
    ///
    /// [`flush`]: Auditor::flush
    pub fn revoke(&mut self, topic: &str, partition: i32) {
        if let Some(t) = self.topics.get_mut(topic)
            && let Some(slot) = t.partitions.remove(&partition)
        {
            let n: u64 = slot.producers.values().map(|p| p.epochs.len() as u64).sum();
            self.streams_in_memory -= n;
            t.metrics.streams.sub(n as i64);
            self.ticking
                .retain(|(tn, q, _)| !(tn.as_ref() == topic && *q == partition));
            self.metrics.assigned_partitions.dec();
            self.metrics
                .consumer_lag
                .remove_label_values(&[topic, &partition.to_string()])
                .ok();
        }
    }

    /// The partitions held and their next offsets, for the advisory Kafka commit.
    pub fn positions(&self) -> Vec<(Arc<str>, i32, i64)> {
        let mut out = Vec::new();
        for t in self.topics.values() {
            for (p, slot) in &t.partitions {
                if let Some(r) = slot.record {
                    out.push((t.name.clone(), *p, r.next_offset));
                }
            }
        }
        out
    }

    /// The topics with at least one partition held.
    pub fn held_topics(&self) -> Vec<Arc<str>> {
        self.topics
            .values()
            .filter(|t| !t.partitions.is_empty())
            .map(|t| t.name.clone())
            .collect()
    }

    pub fn start_offset(&self) -> StartOffset {
        self.settings.start_offset
    }

    /// From now on, flushed batches are written by a thread of their own
    /// (see `writer.rs`), so the consumer reads on while RocksDB syncs.
    pub fn write_in_background(&mut self) -> std::io::Result<()> {
        self.writer = Some(writer::Writer::start(
            self.store.clone(),
            self.metrics.clone(),
        )?);
        Ok(())
    }

    /// Waits until everything flushed is durable: true, or false while
    /// RocksDB refuses it (the writer keeps trying).
    pub fn settle(&self) -> bool {
        self.writer.as_ref().is_none_or(writer::Writer::wait_idle)
    }

    /// Flushes and waits until it is durable.
    pub fn flush_durably(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        match self.writer.as_ref() {
            Some(w) if !w.wait_idle() => Err(w.failing().unwrap_or(StoreError::Write {
                dir: self.store.dir().to_owned(),
                reason: "the state writer failed".to_owned(),
            })),
            _ => Ok(()),
        }
    }

    /// The held partitions' next offsets as far as they are durable, for the
    /// advisory Kafka commit.
    pub fn durable_positions(&self) -> Vec<(Arc<str>, i32, i64)> {
        let Some(w) = &self.writer else {
            return self.positions();
        };
        let held = self.positions();
        w.durable_positions()
            .into_iter()
            .filter(|(t, p, _)| held.iter().any(|(ht, hp, _)| ht == t && hp == p))
            .collect()
    }

    pub fn rule_of(&self, topic: &str) -> Option<usize> {
        self.topics.get(topic).map(|t| t.rule)
    }

    /// Advances a partition past `at.offset`, unless that offset was audited
    /// before: then it is a redelivery, which must change nothing, or, when
    /// it now holds a message from a later leader epoch, the sign that Kafka
    /// cut its log there.
    #[inline]
    fn advance(slot: &mut Slot, metrics: &TopicMetrics, at: At) -> Advance {
        let mut record = match slot.record {
            Some(r) if at.offset < r.next_offset => {
                if r.leader_epoch >= 0 && at.leader_epoch > r.leader_epoch {
                    return Advance::Diverged;
                }
                metrics.replayed.inc();
                return Advance::Replay;
            }
            Some(r) => r,
            None => crate::store::PartitionRecord::new(at.offset, at.offset == 0),
        };
        slot.journal.begin(at.offset);
        record.next_offset = at.offset + 1;
        record.leader_epoch = record.leader_epoch.max(at.leader_epoch);
        slot.record = Some(record);
        slot.record_dirty = true;
        if at.timestamp_ms.is_some() {
            slot.last_timestamp_ms = at.timestamp_ms;
        }
        Advance::Fresh
    }

    /// Advances the partition, first undoing a truncated log if the message
    /// shows one; false when the message changes nothing.
    fn arrive(&mut self, topic: &str, at: At, now_ms: u64) -> bool {
        let Some(t) = self.topics.get_mut(topic) else {
            return false;
        };
        let slot = t.partitions.entry(at.partition).or_default();
        match Self::advance(slot, &t.metrics, at) {
            Advance::Fresh => true,
            Advance::Replay => false,
            Advance::Diverged => {
                self.rewind(topic, at.partition, at.offset, now_ms);
                let t = self.topics.get_mut(topic).expect("topic held");
                let slot = t.partitions.entry(at.partition).or_default();
                Self::advance(slot, &t.metrics, at) == Advance::Fresh
            }
        }
    }

    /// Counts a message whose stamp could not be read.
    pub fn unaudited(&mut self, topic: &str, at: At, reason: Unaudited) -> Result<(), StoreError> {
        if !self.arrive(topic, at, crate::consumer::unix_ms()) {
            return Ok(());
        }
        let (partition, offset) = (at.partition, at.offset);
        self.metrics
            .unaudited
            .with_label_values(&[topic, reason.as_str()])
            .inc();
        events::unaudited(topic, partition, offset, reason);
        self.unflushed += 1;
        Ok(())
    }

    /// Audits one stamped message.
    pub fn audit(
        &mut self,
        topic: &str,
        at: At,
        stamp: &Stamp<'_>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let (partition, offset) = (at.partition, at.offset);
        if !self.arrive(topic, at, now_ms) {
            return Ok(());
        }
        let t = self
            .topics
            .get_mut(topic)
            .expect("arrive checked the topic");
        let slot = t
            .partitions
            .get_mut(&partition)
            .expect("arrive made the slot");
        let (from_start, resumed_at) = slot
            .record
            .map_or((false, -1), |r| (r.from_start, r.resumed_at));
        self.unflushed += 1;
        t.metrics.audited.inc();

        let position = match slot.producers.position(&stamp.producer) {
            Some(i) => i,
            None => bring_in(
                &self.store,
                slot,
                &t.metrics,
                &mut self.streams_in_memory,
                (topic, partition, &stamp.producer),
            )?,
        };
        let entry = slot.producers.at_mut(position);
        let (key, producer) = (&entry.id, &mut entry.producer);

        let observation = match producer.epoch_mut(stamp.epoch) {
            Some(e) => {
                if e.state.last_offset < resumed_at && stamp.seq > e.state.next {
                    // The stream's numbers since its last message lie in a
                    // stretch deleted before it was audited: not a gap.
                    e.state.next = stamp.seq;
                }
                e.state.observe(stamp.seq, offset, now_ms)
            }
            None => {
                // A new stream. Numbers before its first message count as
                // missing when gapwatch read the partition from its very
                // first offset, or when a known producer moved to a higher
                // epoch; otherwise the first message is the baseline.
                // (Unless the producer was last seen before a stretch that
                // expired unaudited: the new epoch may have begun in it.)
                let newer_epoch = producer.epochs.last().is_some_and(|last| {
                    stamp.epoch > last.epoch && last.state.last_offset >= resumed_at
                });
                let leading_gap = from_start || newer_epoch;
                let (state, gap) = StreamState::start(stamp.seq, offset, now_ms, leading_gap);
                producer.insert(Epoch {
                    epoch: stamp.epoch,
                    baseline: if gap.is_some() { 1 } else { stamp.seq },
                    created_ms: now_ms,
                    state,
                });
                self.streams_in_memory += 1;
                t.metrics.streams.inc();
                match gap {
                    Some(g) => Observation::Opened(g),
                    None => Observation::InOrder,
                }
            }
        };

        let accepted = observation != Observation::Duplicate;
        match observation {
            Observation::InOrder => {}
            Observation::Duplicate => {
                t.metrics.duplicates.inc();
                events::duplicate(
                    topic,
                    partition,
                    &stamp.producer,
                    stamp.epoch,
                    stamp.seq,
                    offset,
                );
            }
            Observation::Opened(gap) => {
                producer.gaps_dirty = true;
                t.metrics.gaps_detected.inc();
                t.metrics.missing_open.add(gap.count() as i64);
                events::gap_opened(topic, partition, &stamp.producer, stamp.epoch, &gap);
                let stream = stamp_stream(topic, partition, stamp);
                queue_alert(
                    &self.alert_kinds,
                    &mut self.alert_events,
                    AlertKind::GapOpened,
                    stream,
                    &gap,
                    None,
                    now_ms,
                );
                self.ticking
                    .insert((t.name.clone(), partition, key.clone()));
            }
            Observation::Late { was, healed, .. } => {
                producer.gaps_dirty = true;
                t.metrics.late.inc();
                match was {
                    GapStatus::Open => t.metrics.missing_open.dec(),
                    GapStatus::Confirmed => {
                        t.metrics.missing_confirmed.dec();
                        t.metrics.recovered.inc();
                    }
                }
                // A gap is healed when the last piece of it, as first
                // detected, arrives; it is then reported whole.
                let whole = healed.filter(|piece| {
                    !producer
                        .epoch_mut(stamp.epoch)
                        .is_some_and(|e| e.state.has_piece_of(piece.origin()))
                });
                if let Some(mut gap) = whole {
                    gap.first = gap.origin_first;
                    gap.last = gap.origin_last;
                    t.metrics.gaps_healed.inc();
                    events::gap_healed(topic, partition, &stamp.producer, stamp.epoch, &gap, was);
                    if was == GapStatus::Confirmed {
                        let stream = stamp_stream(topic, partition, stamp);
                        queue_alert(
                            &self.alert_kinds,
                            &mut self.alert_events,
                            AlertKind::GapRecovered,
                            stream,
                            &gap,
                            Some(now_ms),
                            now_ms,
                        );
                    }
                    self.healed.push((
                        StreamId {
                            topic: topic.to_owned(),
                            partition,
                            producer: stamp.producer.to_string(),
                            epoch: stamp.epoch,
                        },
                        HealedGap {
                            gap,
                            healed_at_ms: now_ms,
                        },
                    ));
                }
            }
        }
        if accepted {
            slot.journal.record(
                self.settings.truncation_window,
                journal::Entry {
                    offset,
                    producer: key.clone(),
                    epoch: stamp.epoch,
                    seq: stamp.seq,
                },
            );
        }
        slot.producers.mark_dirty(position);
        Ok(())
    }

    /// True when enough has changed, or enough time passed, to flush.
    pub fn flush_due(&self) -> bool {
        self.unflushed >= self.settings.flush_max_messages
            || (self.unflushed > 0 && self.last_flush.elapsed() >= self.settings.flush_interval)
            || (!self.healed.is_empty()
                && self.last_flush.elapsed() >= self.settings.flush_interval)
    }

    /// Confirms gaps that stayed open long enough, refreshes per-partition
    /// gauges and lets idle streams leave memory.
    pub fn tick(&mut self, now_ms: u64) {
        let confirm_after_ms = self.settings.confirm_after.as_millis() as u64;
        let mut done = Vec::new();
        for key in &self.ticking {
            let (topic, partition, producer) = key;
            let Some(t) = self.topics.get_mut(topic.as_ref()) else {
                done.push(key.clone());
                continue;
            };
            let Some(slot) = t.partitions.get_mut(partition) else {
                done.push(key.clone());
                continue;
            };
            let Some(position) = slot.producers.position(producer) else {
                done.push(key.clone());
                continue;
            };
            let p = &mut slot.producers.at_mut(position).producer;
            let mut confirmed_any = false;
            for e in p.epochs.iter_mut() {
                self.confirm_buf.clear();
                if e.state
                    .confirm_due(now_ms, confirm_after_ms, &mut self.confirm_buf)
                    > 0
                {
                    confirmed_any = true;
                    for gap in &self.confirm_buf {
                        let n = gap.count() as i64;
                        t.metrics.gaps_confirmed.inc();
                        t.metrics.lost.inc_by(n as u64);
                        t.metrics.missing_open.sub(n);
                        t.metrics.missing_confirmed.add(n);
                        events::gap_confirmed(topic, *partition, producer, e.epoch, gap);
                        let stream = StreamRef {
                            topic,
                            partition: *partition,
                            producer,
                            epoch: e.epoch,
                        };
                        queue_alert(
                            &self.alert_kinds,
                            &mut self.alert_events,
                            AlertKind::GapConfirmed,
                            stream,
                            gap,
                            None,
                            now_ms,
                        );
                    }
                }
            }
            let open = p.has_open_gaps();
            if confirmed_any {
                self.unflushed += 1;
                p.gaps_dirty = true;
                slot.producers.mark_dirty(position);
            }
            if !open {
                done.push(key.clone());
            }
        }
        for key in done {
            self.ticking.remove(&key);
        }
        for t in self.topics.values() {
            for (partition, slot) in &t.partitions {
                if let Some(ts) = slot.last_timestamp_ms {
                    self.metrics
                        .last_consumed
                        .with_label_values(&[t.name.as_ref(), &partition.to_string()])
                        .set(ts as f64 / 1000.0);
                }
            }
        }
        // Streams leave memory, and retention deletes stored ones, only when
        // everything flushed is durable: a stream loaded again, or judged by
        // what is stored, must not miss a batch still being written.
        // A batch is usually being written for a small part of the time:
        // wait for one only when eviction has not run for a while.
        let idle = self.writer.as_ref().is_none_or(writer::Writer::is_idle);
        if !idle && self.last_evict.elapsed() < EVICT_AT_LEAST_EVERY {
            return;
        }
        if !self.settle() {
            return;
        }
        self.last_evict = Instant::now();
        self.evict(now_ms);
        if self.last_sweep.elapsed() >= SWEEP_EVERY {
            self.last_sweep = Instant::now();
            if let Err(e) = self.sweep(now_ms) {
                tracing::warn!(error = %e, "retention sweep failed; retrying later");
            }
        }
    }

    /// Removes healed gaps and gap-free streams older than the retention.
    pub fn sweep(&mut self, now_ms: u64) -> Result<(), StoreError> {
        let before = now_ms.saturating_sub(self.settings.retention.as_millis() as u64);
        let healed = self.store.expire_healed(before, SWEEP_BATCH)?;
        let (streams, next) =
            self.store
                .sweep_streams(self.sweep_cursor.as_deref(), SWEEP_BATCH, before)?;
        self.sweep_cursor = next;
        if healed + streams > 0 {
            tracing::info!(
                healed_gaps = healed,
                streams,
                "retention removed old records"
            );
        }
        Ok(())
    }

    /// Updates the lag gauge from a partition's high watermark.
    pub fn observe_high_watermark(&self, topic: &str, partition: i32, high: i64) {
        let Some(slot) = self
            .topics
            .get(topic)
            .and_then(|t| t.partitions.get(&partition))
        else {
            return;
        };
        let next = slot.record.map_or(0, |r| r.next_offset);
        self.metrics
            .consumer_lag
            .with_label_values(&[topic, &partition.to_string()])
            .set((high - next).max(0));
    }

    /// Streams that have been silent for `idle_after`, or the least recently
    /// used beyond `max_streams_in_memory`, leave memory; they stay in
    /// RocksDB. Streams with unflushed changes or open gaps stay.
    fn evict(&mut self, now_ms: u64) {
        let idle_ms = self.settings.idle_after.as_millis() as u64;
        let over = self
            .streams_in_memory
            .saturating_sub(self.settings.max_streams_in_memory);
        // Touch time under which producers go: the idle limit, or later when
        // memory is over its cap.
        let mut cutoff = now_ms.saturating_sub(idle_ms);
        if over > 0 {
            let mut touches: Vec<u64> = self
                .topics
                .values()
                .flat_map(|t| t.partitions.values())
                .flat_map(|s| s.producers.values())
                .filter(|p| !p.dirty && !p.has_open_gaps())
                .map(Producer::touched_ms)
                .collect();
            // Evict the `over` least recently touched: keep what was
            // touched at or after the over-th smallest touch time.
            let over = over as usize;
            if over >= touches.len() {
                cutoff = u64::MAX;
            } else {
                touches.select_nth_unstable(over);
                cutoff = cutoff.max(touches[over]);
            }
        }
        for t in self.topics.values_mut() {
            for slot in t.partitions.values_mut() {
                let Slot {
                    producers, absent, ..
                } = slot;
                producers.retain(|id, p| {
                    let keep = p.touched_ms() >= cutoff || p.has_open_gaps();
                    if !keep {
                        self.streams_in_memory -= p.epochs.len() as u64;
                        t.metrics.streams.sub(p.epochs.len() as i64);
                        if let Some(a) = absent.as_mut() {
                            a.left(id);
                        }
                    }
                    keep
                });
            }
        }
    }

    pub fn streams_in_memory(&self) -> u64 {
        self.streams_in_memory
    }
}

fn stamp_stream<'a>(topic: &'a str, partition: i32, stamp: &'a Stamp<'_>) -> StreamRef<'a> {
    StreamRef {
        topic,
        partition,
        producer: &stamp.producer,
        epoch: stamp.epoch,
    }
}

/// Queues an alert event for the outbox when some target wants its kind.
#[allow(clippy::too_many_arguments)]
fn queue_alert(
    wanted: &[AlertKind],
    events: &mut Vec<AlertEvent>,
    kind: AlertKind,
    stream: StreamRef<'_>,
    gap: &crate::engine::Gap,
    healed_at_ms: Option<u64>,
    now_ms: u64,
) {
    if wanted.contains(&kind) {
        events.push(AlertEvent::new(kind, stream, gap, healed_at_ms, now_ms));
    }
}

/// Brings a producer that is not in memory into its partition's slot with
/// every stored epoch (none for a new one: a partition assigned with nothing
/// stored reads RocksDB only for producers that left memory), counts its
/// streams, and returns its position.
fn bring_in(
    store: &Store,
    slot: &mut Slot,
    metrics: &TopicMetrics,
    in_memory: &mut u64,
    (topic, partition, producer): (&str, i32, &str),
) -> Result<u32, StoreError> {
    let certainly_new = slot
        .absent
        .as_ref()
        .is_some_and(|a| !a.may_have_left(producer));
    let epochs = if certainly_new {
        Default::default()
    } else {
        store
            .producer_streams(topic, partition, producer)?
            .into_iter()
            .map(|(epoch, s)| Epoch::from_stored(epoch, s))
            .collect()
    };
    let p = Producer {
        epochs,
        ..Producer::default()
    };
    *in_memory += p.epochs.len() as u64;
    metrics.streams.add(p.epochs.len() as i64);
    Ok(slot.producers.insert(producer, p))
}

#[cfg(test)]
mod tests;
