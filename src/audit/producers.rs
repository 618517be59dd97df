//! The producers of one partition, by id.
//!
//! A partition can hold millions of streams, so their memory is the
//! auditor's: the producers sit side by side in a slab (a `Vec`, whose
//! untouched tail costs no RSS) and a hash table holds only their 4-byte
//! positions. A hash map of the producers themselves would carry its
//! load-factor slack (up to half the table empty after it doubles) on
//! 100-byte entries instead of 4-byte ones.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use smol_str::SmolStr;

use super::state::Producer;

/// A producer id. Ids of up to 23 bytes are held inline, without a heap
/// allocation of their own; longer ones are shared. Cloning one never
/// allocates.
pub type ProducerId = SmolStr;

/// One producer and its id.
#[derive(Debug)]
pub struct Entry {
    pub id: ProducerId,
    pub producer: Producer,
}

/// The producers of one partition.
#[derive(Debug, Default)]
pub struct Producers {
    /// Positions in `slab`, hashed by id.
    index: HashTable<u32>,
    /// `None` where a producer left (reused before the slab grows).
    slab: Vec<Option<Entry>>,
    free: Vec<u32>,
    /// Positions of the producers changed since the last flush (a dirty
    /// producer never leaves, so its position stays its own).
    dirty: Vec<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Producers {
    /// Producers held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Where a producer is held: stable until it leaves.
    #[inline]
    pub fn position(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        let slab = &self.slab;
        self.index
            .find(hash, |&i| {
                slab[i as usize]
                    .as_ref()
                    .is_some_and(|e| e.id.as_str() == id)
            })
            .copied()
    }

    #[inline]
    pub fn get(&self, id: &str) -> Option<&Producer> {
        let i = self.position(id)?;
        self.slab[i as usize].as_ref().map(|e| &e.producer)
    }

    #[inline]
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Producer> {
        self.entry_mut(id).map(|e| &mut e.producer)
    }

    /// The producer with its id.
    #[inline]
    pub fn entry_mut(&mut self, id: &str) -> Option<&mut Entry> {
        let i = self.position(id)?;
        self.slab[i as usize].as_mut()
    }

    /// The producer at a position returned by [`Producers::position`] or
    /// [`Producers::insert`] (and not removed since).
    #[inline]
    pub fn at_mut(&mut self, position: u32) -> &mut Entry {
        self.slab[position as usize]
            .as_mut()
            .expect("a position of a held producer")
    }

    /// Marks the producer at `position` changed since the last flush.
    #[inline]
    pub fn mark_dirty(&mut self, position: u32) {
        let p = &mut self.at_mut(position).producer;
        if !p.dirty {
            p.dirty = true;
            self.dirty.push(position);
        }
    }

    /// The producers changed since the last flush.
    pub fn dirty(&self) -> impl Iterator<Item = &Entry> {
        self.dirty
            .iter()
            .filter_map(|&i| self.slab[i as usize].as_ref())
    }

    /// After a flush: nothing is changed any more.
    pub fn mark_clean(&mut self) {
        for i in self.dirty.drain(..) {
            if let Some(e) = self.slab[i as usize].as_mut() {
                e.producer.dirty = false;
                e.producer.gaps_dirty = false;
            }
        }
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.position(id).is_some()
    }

    /// Adds a producer, replacing one held under the same id; returns its
    /// position. (A replaced producer's changes since the last flush are
    /// dropped with it, unless `producer` is marked dirty again.)
    pub fn insert(&mut self, id: &str, producer: Producer) -> u32 {
        match self.position(id) {
            Some(i) => {
                let was_dirty = self.at_mut(i).producer.dirty;
                let entry = self.at_mut(i);
                entry.producer = producer;
                entry.producer.dirty = was_dirty;
                i
            }
            None => {
                let entry = Entry {
                    id: ProducerId::new(id),
                    producer,
                };
                let i = match self.free.pop() {
                    Some(i) => {
                        self.slab[i as usize] = Some(entry);
                        i
                    }
                    None => {
                        let i = u32::try_from(self.slab.len())
                            .expect("fewer than 2^32 producers per partition");
                        self.slab.push(Some(entry));
                        i
                    }
                };
                let (slab, hasher) = (&self.slab, &self.hasher);
                self.index.insert_unique(hasher.hash_one(id), i, |&j| {
                    hasher.hash_one(
                        slab[j as usize]
                            .as_ref()
                            .expect("indexed entries are present")
                            .id
                            .as_str(),
                    )
                });
                i
            }
        }
    }

    /// Every producer held, with its id.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.slab.iter().flatten()
    }

    pub fn values(&self) -> impl Iterator<Item = &Producer> {
        self.iter().map(|e| &e.producer)
    }

    /// Keeps the producers for which `keep` is true, and every producer
    /// changed since the last flush.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Producer) -> bool) {
        for i in 0..self.slab.len() {
            let Some(e) = self.slab[i].as_mut() else {
                continue;
            };
            if e.producer.dirty || keep(e.id.as_str(), &mut e.producer) {
                continue;
            }
            let hash = self.hasher.hash_one(e.id.as_str());
            if let Ok(found) = self.index.find_entry(hash, |&j| j as usize == i) {
                found.remove();
            }
            self.slab[i] = None;
            self.free.push(i as u32);
        }
        if self.index.is_empty() {
            // Everything left: give the memory back.
            *self = Producers {
                hasher: self.hasher.clone(),
                ..Producers::default()
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Epoch;
    use crate::engine::StreamState;

    /// A producer told apart by the number of its one epoch.
    fn producer(n: u64) -> Producer {
        let mut p = Producer::default();
        p.insert(Epoch {
            epoch: n,
            baseline: 1,
            created_ms: 0,
            state: StreamState::default(),
        });
        p
    }

    fn tag(ps: &Producers, id: &str) -> Option<u64> {
        ps.get(id).and_then(Producer::max_epoch)
    }

    #[test]
    fn inserted_producers_are_found_by_id_and_others_are_not() {
        let mut ps = Producers::default();
        for i in 0..1000 {
            ps.insert(&format!("p-{i}"), producer(i));
        }
        assert_eq!(ps.len(), 1000);
        for i in 0..1000 {
            assert_eq!(tag(&ps, &format!("p-{i}")), Some(i));
        }
        assert!(ps.get("p-1000").is_none());
        assert!(!ps.contains_key("p-"));
    }

    #[test]
    fn inserting_an_id_again_replaces_its_producer() {
        let mut ps = Producers::default();
        ps.insert("a", producer(1));
        ps.insert("a", producer(2));
        assert_eq!(ps.len(), 1);
        assert_eq!(tag(&ps, "a"), Some(2));
    }

    #[test]
    fn retain_removes_from_the_index_and_freed_places_are_reused() {
        let mut ps = Producers::default();
        for i in 0..100 {
            ps.insert(&format!("p-{i}"), producer(i));
        }
        ps.retain(|_, p| p.max_epoch().is_some_and(|n| n.is_multiple_of(2)));
        assert_eq!(ps.len(), 50);
        assert!(ps.get("p-3").is_none());
        assert_eq!(tag(&ps, "p-4"), Some(4));
        for i in 100..150 {
            ps.insert(&format!("p-{i}"), producer(i));
        }
        assert_eq!(ps.len(), 100);
        assert_eq!(ps.slab.len(), 100, "freed places were reused");
        let mut ids: Vec<String> = ps.iter().map(|e| e.id.to_string()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 100);
        assert!(ps.iter().all(|e| ps.get(&e.id).is_some()));
    }

    #[test]
    fn a_dirty_producer_is_listed_once_and_kept_until_marked_clean() {
        let mut ps = Producers::default();
        let a = ps.insert("a", producer(1));
        ps.insert("b", producer(2));
        ps.mark_dirty(a);
        ps.mark_dirty(a);
        let dirty: Vec<&str> = ps.dirty().map(|e| e.id.as_str()).collect();
        assert_eq!(dirty, vec!["a"]);
        ps.retain(|_, _| false);
        assert_eq!(ps.len(), 1, "the dirty producer stays");
        assert!(ps.get("b").is_none());
        ps.mark_clean();
        assert_eq!(ps.dirty().count(), 0);
        assert!(!ps.get("a").unwrap().dirty);
        ps.retain(|_, _| false);
        assert!(ps.is_empty());
    }

    #[test]
    fn replacing_a_dirty_producer_keeps_it_dirty() {
        let mut ps = Producers::default();
        let a = ps.insert("a", producer(1));
        ps.mark_dirty(a);
        assert_eq!(ps.insert("a", producer(5)), a);
        assert!(ps.get("a").unwrap().dirty);
        assert_eq!(ps.dirty().count(), 1);
        assert_eq!(tag(&ps, "a"), Some(5));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u64),
        MarkDirty(u8),
        MarkClean,
        /// Keeps the producers whose tag is not divisible by this.
        Retain(u64),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (any::<u8>(), 1..50u64).prop_map(|(i, t)| Op::Insert(i, t)),
            2 => any::<u8>().prop_map(Op::MarkDirty),
            1 => Just(Op::MarkClean),
            1 => (2..5u64).prop_map(Op::Retain),
        ]
    }

    proptest::proptest! {
        /// The slab and its index answer like a map of id to (tag, dirty),
        /// whatever the sequence of inserts, evictions and flushes.
        #[test]
        fn producers_behave_like_a_map(ops in proptest::collection::vec(op(), 0..300)) {
            use std::collections::BTreeMap;
            let mut ps = Producers::default();
            let mut model: BTreeMap<String, (u64, bool)> = BTreeMap::new();
            // Ids of both kinds: inline (short) and shared (over 23 bytes).
            let id = |i: u8| {
                if i.is_multiple_of(3) {
                    format!("a-long-producer-id-beyond-inline-{i}")
                } else {
                    format!("p{i}")
                }
            };
            for op in ops {
                match op {
                    Op::Insert(i, t) => {
                        let pos = ps.insert(&id(i), producer(t));
                        proptest::prop_assert_eq!(ps.position(&id(i)), Some(pos));
                        let dirty = model.get(&id(i)).is_some_and(|m| m.1);
                        model.insert(id(i), (t, dirty));
                    }
                    Op::MarkDirty(i) => {
                        if let Some(pos) = ps.position(&id(i)) {
                            ps.mark_dirty(pos);
                            model.get_mut(&id(i)).unwrap().1 = true;
                        } else {
                            proptest::prop_assert!(!model.contains_key(&id(i)));
                        }
                    }
                    Op::MarkClean => {
                        ps.mark_clean();
                        model.values_mut().for_each(|m| m.1 = false);
                    }
                    Op::Retain(d) => {
                        ps.retain(|_, p| p.max_epoch().is_some_and(|t| !t.is_multiple_of(d)));
                        model.retain(|_, m| m.1 || !m.0.is_multiple_of(d));
                    }
                }
                proptest::prop_assert_eq!(ps.len(), model.len());
                let held: BTreeMap<String, (u64, bool)> = ps
                    .iter()
                    .map(|e| (e.id.to_string(), (e.producer.max_epoch().unwrap(), e.producer.dirty)))
                    .collect();
                proptest::prop_assert_eq!(&held, &model);
                let mut dirty: Vec<String> = ps.dirty().map(|e| e.id.to_string()).collect();
                dirty.sort();
                let want: Vec<String> = model.iter().filter(|m| m.1.1).map(|m| m.0.clone()).collect();
                proptest::prop_assert_eq!(dirty, want);
                for (k, (t, _)) in &model {
                    proptest::prop_assert_eq!(tag(&ps, k), Some(*t));
                }
            }
        }
    }

    #[test]
    fn long_ids_work_like_short_ones() {
        let mut ps = Producers::default();
        let long = "x".repeat(300);
        ps.insert(&long, producer(7));
        ps.insert("short", producer(8));
        assert_eq!(tag(&ps, &long), Some(7));
        ps.retain(|id, _| id == "short");
        assert!(ps.get(&long).is_none());
        assert_eq!(ps.len(), 1);
    }

    #[test]
    fn emptied_producers_start_over() {
        let mut ps = Producers::default();
        ps.insert("a", producer(1));
        ps.retain(|_, _| false);
        assert!(ps.is_empty());
        assert!(ps.slab.is_empty() && ps.free.is_empty());
        ps.insert("b", producer(2));
        assert_eq!(tag(&ps, "b"), Some(2));
    }
}
