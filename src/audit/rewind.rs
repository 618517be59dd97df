//! Undoing a truncated log. When a partition's leadership passes to a replica
//! that never had its newest messages (an unclean leader election), Kafka cuts
//! the log back to what that replica holds and writes new messages at the
//! same offsets. Messages gapwatch audited at or after the cut are then gone
//! from Kafka: acknowledged, perhaps, but lost. Each becomes missing again,
//! as an open gap, and the partition is audited again from the cut.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::AlertKind;
use crate::engine::runs;
use crate::store::{Incident, IncidentCause, StreamRef};

use super::{Auditor, ProducerId, bring_in, events, queue_alert};

impl Auditor {
    /// Kafka's log of `topic`/`partition` no longer holds what gapwatch
    /// audited from offset `at` on.
    pub(super) fn rewind(&mut self, topic: &str, partition: i32, at: i64, now_ms: u64) {
        let Some(t) = self.topics.get_mut(topic) else {
            return;
        };
        let Some(slot) = t.partitions.get_mut(&partition) else {
            return;
        };
        let Some(mut record) = slot.record else {
            return;
        };
        let audited_to = record.next_offset;
        let cut = slot.journal.cut(at, audited_to);

        // The numbers each stream lost, as sorted sets.
        let mut lost: BTreeMap<(ProducerId, u64), BTreeSet<u64>> = BTreeMap::new();
        for e in &cut.entries {
            lost.entry((e.producer.clone(), e.epoch))
                .or_default()
                .insert(e.seq);
        }
        let mut reopened = 0u64;
        for ((producer, epoch), seqs) in lost {
            let position = match slot.producers.position(&producer) {
                Some(i) => i,
                // Evicted since: its state is in RocksDB.
                None => match bring_in(
                    &self.store,
                    slot,
                    &t.metrics,
                    &mut self.streams_in_memory,
                    (topic, partition, &producer),
                ) {
                    Ok(position) => position,
                    Err(e) => {
                        tracing::error!(topic, partition, producer = %producer, error = %e,
                            "cannot load a stream to undo a truncated log; its lost messages are not reported");
                        continue;
                    }
                },
            };
            let p = &mut slot.producers.at_mut(position).producer;
            let Some(e) = p.epoch_mut(epoch) else {
                continue;
            };
            let mut gaps = Vec::new();
            for (first, last) in runs(&seqs) {
                gaps.extend(e.state.forget(first, last, at, now_ms));
            }
            if gaps.is_empty() {
                continue;
            }
            p.gaps_dirty = true;
            slot.producers.mark_dirty(position);
            for gap in &gaps {
                reopened += gap.count();
                t.metrics.gaps_detected.inc();
                t.metrics.missing_open.add(gap.count() as i64);
                events::gap_opened(topic, partition, &producer, epoch, gap);
                let stream = StreamRef {
                    topic,
                    partition,
                    producer: &producer,
                    epoch,
                };
                queue_alert(
                    &self.alert_kinds,
                    &mut self.alert_events,
                    AlertKind::GapOpened,
                    stream,
                    gap,
                    None,
                    now_ms,
                );
            }
            self.ticking.insert((t.name.clone(), partition, producer));
        }

        self.metrics.truncations.with_label_values(&[topic]).inc();
        self.metrics
            .truncated
            .with_label_values(&[topic])
            .inc_by(cut.entries.len() as u64);
        tracing::warn!(
            topic,
            partition,
            from_offset = at,
            to_offset = audited_to,
            messages = cut.entries.len(),
            missing = reopened,
            "Kafka cut this partition's log below what gapwatch had audited (an unclean leader \
             election?): the messages it removed are reported missing, and the partition is \
             audited again from the cut"
        );
        if !cut.entries.is_empty() {
            self.incidents.push(Incident {
                topic: topic.to_owned(),
                partition,
                cause: IncidentCause::LogTruncated,
                first_offset: at,
                last_offset: audited_to - 1,
                messages: Some(cut.entries.len() as u64),
                detected_ms: now_ms,
            });
        }
        if let Some((from, to)) = cut.unknown {
            self.incidents.push(Incident {
                topic: topic.to_owned(),
                partition,
                cause: IncidentCause::TruncatedUnknown,
                first_offset: from,
                last_offset: to - 1,
                messages: None,
                detected_ms: now_ms,
            });
            self.metrics
                .unaudited_offsets
                .with_label_values(&[topic, "truncated"])
                .inc_by((to - from) as u64);
            tracing::error!(
                topic,
                partition,
                from_offset = from,
                to_offset = to,
                "the truncated offsets include some audited before this instance started or \
                 beyond detection.truncation_window: which messages they held is not known"
            );
        }
        record.next_offset = at;
        slot.record = Some(record);
        slot.record_dirty = true;
        self.unflushed += 1;
    }
}
