//! The per-message path allocates nothing once a stream is known: in-order
//! arrivals, duplicates and replays of known streams are audited without a
//! single heap allocation (counted by a wrapping global allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use gapwatch::audit::{At, AuditSettings, Auditor};
use gapwatch::config::StartOffset;
use gapwatch::extract::Stamp;
use gapwatch::metrics::Metrics;
use gapwatch::store::Store;

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, new) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const PRODUCERS: usize = 1_000;
const WINDOW: usize = 4_096;

fn auditor() -> (tempfile::TempDir, Auditor) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), false).unwrap());
    let settings = AuditSettings {
        confirm_after: Duration::from_secs(30),
        truncation_window: WINDOW,
        flush_interval: Duration::from_secs(3600),
        flush_max_messages: u64::MAX,
        idle_after: Duration::from_secs(3600),
        retention: Duration::from_secs(86_400),
        max_streams_in_memory: u64::MAX,
        start_offset: StartOffset::Earliest,
    };
    let mut a = Auditor::new(store, Arc::new(Metrics::new()), settings);
    a.assign("t", 0, 0).unwrap();
    (dir, a)
}

/// Round-robin over the producers, sequence `round + 1`, from `offset`.
fn feed(a: &mut Auditor, ids: &[String], rounds: std::ops::Range<u64>, offset: &mut i64) {
    for round in rounds {
        for id in ids {
            let stamp = Stamp {
                producer: Cow::Borrowed(id),
                seq: round + 1,
                epoch: 1,
            };
            a.audit("t", At::new(0, *offset), &stamp, 1_000 + round)
                .unwrap();
            *offset += 1;
        }
    }
}

#[test]
fn auditing_in_order_and_duplicate_messages_of_known_streams_allocates_nothing() {
    let (_dir, mut a) = auditor();
    // Ids longer than the 23 bytes held inline: the journal shares them.
    let ids: Vec<String> = (0..PRODUCERS)
        .map(|i| format!("a-rather-long-producer-id-{i:06}"))
        .collect();
    let mut offset = 0;
    // Every stream known, the truncation journal full.
    let warm = (WINDOW / PRODUCERS + 2) as u64;
    feed(&mut a, &ids, 0..warm, &mut offset);
    let start = offset;

    COUNTING.store(true, Ordering::Relaxed);
    // 100 rounds in order, then 10 rounds of duplicates (numbers seen
    // before, at new offsets).
    feed(&mut a, &ids, warm..warm + 100, &mut offset);
    feed(&mut a, &ids, warm + 50..warm + 60, &mut offset);
    COUNTING.store(false, Ordering::Relaxed);

    assert_eq!(offset - start, 110 * PRODUCERS as i64);
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "allocations while auditing 110,000 messages of known streams"
    );
}
