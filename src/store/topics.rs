//! Topic ids, and setting aside the state of a topic that was deleted and
//! created again: its gaps stay queryable under an archived name, and the
//! new topic of the same name starts with no state.

use super::{
    GAPS, GAPS_I, HEALED, HEALED_I, INCIDENTS, INCIDENTS_I, Incident, OFFSETS, OFFSETS_I, Result,
    STREAMS, STREAMS_I, Store, TOPICS, TOPICS_I, cf, keys,
};

impl Store {
    /// The Kafka id last seen for `topic`.
    pub fn topic_id(&self, topic: &str) -> Result<Option<String>> {
        let db = self.db()?;
        Ok(db
            .get_cf(cf(&db, TOPICS), topic.as_bytes())
            .map_err(|e| self.read_err(e))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn put_topic_id(&self, topic: &str, id: &str) -> Result<()> {
        let mut b = self.batch();
        b.put(TOPICS_I, topic.as_bytes(), id.as_bytes());
        self.write(&b)
    }

    /// Moves every stored record of `topic` (streams, gaps, healed gaps,
    /// offsets, incidents) to the name `archived`, and records `new_id` as
    /// the topic's id, in one atomic batch. Returns how many records moved.
    pub fn archive_topic(&self, topic: &str, archived: &str, new_id: &str) -> Result<u64> {
        let mut prefix = Vec::new();
        keys::topic_prefix(&mut prefix, topic);
        let mut renamed = Vec::new();
        keys::topic_prefix(&mut renamed, archived);
        let mut b = self.batch();
        let mut moved = 0u64;
        for (family, index) in [
            (STREAMS, STREAMS_I),
            (GAPS, GAPS_I),
            (HEALED, HEALED_I),
            (OFFSETS, OFFSETS_I),
            (INCIDENTS, INCIDENTS_I),
        ] {
            self.scan(family, &prefix, None, |k, v| {
                let mut key = renamed.clone();
                key.extend_from_slice(&k[prefix.len()..]);
                let value = match serde_json::from_slice::<Incident>(v) {
                    Ok(mut i) if index == INCIDENTS_I => {
                        i.topic = archived.to_owned();
                        serde_json::to_vec(&i).expect("serializable")
                    }
                    _ => v.to_vec(),
                };
                b.put(index, &key, &value);
                b.delete(index, k);
                moved += 1;
                Ok(true)
            })?;
        }
        b.put(TOPICS_I, topic.as_bytes(), new_id.as_bytes());
        self.write(&b)?;
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StreamState;
    use crate::store::{Filter, GapListStatus, PartitionRecord, StoredStream, StreamRef};

    #[test]
    fn archiving_moves_a_topics_state_and_leaves_others_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let (state, _) = StreamState::start(5, 10, 1, true);
        let mut b = store.batch();
        for topic in ["orders", "orders-eu"] {
            let id = StreamRef {
                topic,
                partition: 0,
                producer: "p",
                epoch: 0,
            };
            store.put_stream(
                &mut b,
                id,
                &StoredStream {
                    baseline: 1,
                    created_ms: 1,
                    state: state.clone(),
                },
            );
            store.put_gaps(&mut b, id, &state.gaps);
            store.put_partition(&mut b, topic, 0, PartitionRecord::new(11, true));
        }
        store.write(&b).unwrap();
        store.put_topic_id("orders", "old-id").unwrap();

        let moved = store
            .archive_topic("orders", "orders~old-id", "new-id")
            .unwrap();
        assert_eq!(moved, 3, "stream, gap, offsets");
        assert_eq!(store.topic_id("orders").unwrap().as_deref(), Some("new-id"));
        assert_eq!(store.partition("orders", 0).unwrap(), None);
        assert!(store.partition("orders~old-id", 0).unwrap().is_some());
        assert!(store.partition("orders-eu", 0).unwrap().is_some());
        let gaps = store
            .gaps(&Filter::default(), &[GapListStatus::Open], None, 100, None)
            .unwrap();
        let topics: Vec<&str> = gaps.items.iter().map(|g| g.stream.topic.as_str()).collect();
        assert_eq!(topics, vec!["orders-eu", "orders~old-id"]);
    }
}
