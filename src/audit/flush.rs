//! Writing what changed since the last flush as one atomic batch.

use std::time::Instant;

use super::Auditor;
use crate::store::{StoreError, StreamRef};

impl Auditor {
    /// Writes every changed stream, its gaps, the healed gaps and each
    /// partition's next offset in one RocksDB batch. On failure nothing is
    /// marked clean, so the next flush writes it all again.
    ///
    /// With a background writer ([`Auditor::write_in_background`]) the batch
    /// is handed to it and this returns at once; it fails while the writer's
    /// batch is refused.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(e) = self.writer.as_ref().and_then(|w| w.failing()) {
            return Err(e);
        }
        let started = Instant::now();
        let store = &self.store;
        let mut batch = store.batch();
        for t in self.topics.values() {
            for (partition, slot) in &t.partitions {
                for entry in slot.producers.dirty() {
                    let p = &entry.producer;
                    for e in &p.epochs {
                        let id = StreamRef {
                            topic: &t.name,
                            partition: *partition,
                            producer: &entry.id,
                            epoch: e.epoch,
                        };
                        store.put_stream(&mut batch, id, &e.to_stored());
                        if p.gaps_dirty {
                            store.put_gaps(&mut batch, id, &e.state.gaps);
                        }
                    }
                }
                if slot.record_dirty
                    && let Some(r) = slot.record
                {
                    store.put_partition(&mut batch, &t.name, *partition, r);
                }
            }
        }
        for (id, h) in &self.healed {
            store.put_healed(&mut batch, id.as_ref(), h);
        }
        for i in &self.incidents {
            store.put_incident(&mut batch, i);
        }
        for e in &self.alert_events {
            let json = serde_json::to_vec(e).expect("serializable");
            store.put_alert_event(&mut batch, &crate::alert::event_key(e.at_ms), &json);
        }
        if batch.is_empty() {
            self.unflushed = 0;
            self.last_flush = Instant::now();
            return Ok(());
        }
        match &self.writer {
            Some(w) => w.submit(batch, self.positions())?,
            None => {
                if let Err(e) = store.write(&batch) {
                    self.metrics.flush_errors.inc();
                    self.metrics.state_healthy.set(0);
                    return Err(e);
                }
                self.metrics.state_healthy.set(1);
                self.metrics.flushes.inc();
                self.metrics
                    .flush_seconds
                    .observe(started.elapsed().as_secs_f64());
            }
        }
        for t in self.topics.values_mut() {
            for slot in t.partitions.values_mut() {
                slot.producers.mark_clean();
                slot.record_dirty = false;
            }
        }
        self.healed.clear();
        self.alert_events.clear();
        self.incidents.clear();
        self.unflushed = 0;
        self.last_flush = Instant::now();
        Ok(())
    }
}
