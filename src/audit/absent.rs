//! Which producers of a partition may have state in RocksDB, so that a new
//! producer costs no RocksDB lookup.
//!
//! A partition this instance starts auditing with nothing stored (no stored
//! offsets: every batch that stores a stream of the partition stores its
//! offsets too) has a producer's state in RocksDB only if that producer
//! left memory since. The ids of the producers that left are kept in a
//! Bloom filter (about 10 bits each, one false "maybe" in a hundred): a
//! producer it has never seen is new, without a lookup. For a partition
//! that had stored state every new producer is looked up.

use std::hash::BuildHasher;

/// Bits per id kept, and hashes per id: about 1 % false positives.
const BITS_PER_ID: usize = 10;
const HASHES: u32 = 7;
/// Ids held by the first filter; each further one holds twice as many.
const FIRST_CAPACITY: usize = 1 << 16;

#[derive(Debug, Default)]
pub struct Absent {
    /// Filters, oldest first; ids go into the last one.
    layers: Vec<Layer>,
    hasher: foldhash::fast::RandomState,
}

#[derive(Debug)]
struct Layer {
    bits: Vec<u64>,
    capacity: usize,
    len: usize,
}

impl Layer {
    fn new(capacity: usize) -> Layer {
        Layer {
            bits: vec![0; (capacity * BITS_PER_ID).div_ceil(64)],
            capacity,
            len: 0,
        }
    }

    /// The bit positions of a hash (double hashing).
    fn positions(&self, hash: u64) -> impl Iterator<Item = usize> + use<> {
        let n = (self.bits.len() * 64) as u64;
        let (h1, h2) = (hash, hash.rotate_left(32) | 1);
        (0..HASHES).map(move |i| (h1.wrapping_add(u64::from(i).wrapping_mul(h2)) % n) as usize)
    }

    fn insert(&mut self, hash: u64) {
        for p in self.positions(hash) {
            self.bits[p / 64] |= 1 << (p % 64);
        }
        self.len += 1;
    }

    fn may_contain(&self, hash: u64) -> bool {
        self.positions(hash)
            .all(|p| self.bits[p / 64] & (1 << (p % 64)) != 0)
    }
}

impl Absent {
    /// Remembers that a producer left memory (its state is in RocksDB).
    pub fn left(&mut self, id: &str) {
        let hash = self.hasher.hash_one(id);
        if self.layers.last().is_none_or(|l| l.len >= l.capacity) {
            let capacity = self
                .layers
                .last()
                .map_or(FIRST_CAPACITY, |l| l.capacity * 2);
            self.layers.push(Layer::new(capacity));
        }
        self.layers
            .last_mut()
            .expect("a layer was just made")
            .insert(hash);
    }

    /// False when the producer certainly never left memory.
    pub fn may_have_left(&self, id: &str) -> bool {
        if self.layers.is_empty() {
            return false;
        }
        let hash = self.hasher.hash_one(id);
        self.layers.iter().any(|l| l.may_contain(hash))
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.layers.iter().map(|l| l.bits.len() * 8).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_producer_that_left_is_maybe_and_few_others_are() {
        let mut a = Absent::default();
        assert!(!a.may_have_left("p-0"));
        let n = 300_000;
        for i in 0..n {
            a.left(&format!("p-{i}"));
        }
        assert!((0..n).all(|i| a.may_have_left(&format!("p-{i}"))));
        let false_maybes = (n..2 * n)
            .filter(|i| a.may_have_left(&format!("p-{i}")))
            .count();
        // About 1 % per layer, and three layers are asked.
        assert!(
            false_maybes < n / 20,
            "{false_maybes} of {n} never-seen ids said maybe"
        );
        assert!(a.bytes() < n * 4, "{} bytes for {n} ids", a.bytes());
    }
}
