//! A topic deleted and created again under the same name: a new log that
//! starts over at offset 0, with producers that may start over at 1. What
//! gapwatch knew of the old topic is set aside under an archived name (its
//! gaps stay queryable there) and the new topic is audited as new.

use crate::store::StoreError;

use super::Auditor;

impl Auditor {
    /// Checks the topic's Kafka id against the one stored; on a change, the
    /// old state is archived. Returns true when the topic was recreated.
    pub fn check_topic_id(&mut self, topic: &str, id: &str) -> Result<bool, StoreError> {
        match self.store.topic_id(topic)? {
            None => {
                self.store.put_topic_id(topic, id)?;
                Ok(false)
            }
            Some(known) if known == id => Ok(false),
            Some(old) => {
                self.recreated(topic, &old, id)?;
                Ok(true)
            }
        }
    }

    fn recreated(&mut self, topic: &str, old_id: &str, new_id: &str) -> Result<(), StoreError> {
        // What was observed of the old topic is kept with it.
        self.flush_durably()?;
        if let Some(t) = self.topics.get_mut(topic) {
            let n: u64 = t
                .partitions
                .values()
                .flat_map(|s| s.producers.values())
                .map(|p| p.epochs.len() as u64)
                .sum();
            self.streams_in_memory -= n;
            t.metrics.streams.sub(n as i64);
            t.partitions.clear();
        }
        self.ticking.retain(|(t, _, _)| t.as_ref() != topic);
        let archived = format!("{topic}~{old_id}");
        let moved = self.store.archive_topic(topic, &archived, new_id)?;
        for status in ["open", "confirmed"] {
            self.metrics
                .missing
                .with_label_values(&[topic, status])
                .set(0);
        }
        self.init_gauges()?;
        tracing::warn!(
            topic,
            old_id,
            new_id,
            archived = %archived,
            records = moved,
            "the topic was deleted and created again: what gapwatch knew of the old one is kept \
             under the archived name, and the new one is audited from its start"
        );
        Ok(())
    }
}
