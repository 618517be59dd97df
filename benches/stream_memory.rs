//! Bytes per stream held in memory by the auditor: feeds N new streams
//! (one message each) and reports the heap growth per stream (counted by a
//! wrapping allocator) and the RSS growth per stream.
//!
//! usage: stream_memory [N]   (default 1,000,000)

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gapwatch::audit::{At, AuditSettings, Auditor};
use gapwatch::config::StartOffset;
use gapwatch::extract::Stamp;
use gapwatch::metrics::Metrics;
use gapwatch::store::Store;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), false).unwrap());
    let settings = AuditSettings {
        confirm_after: Duration::from_secs(30),
        truncation_window: 0,
        flush_interval: Duration::from_secs(3600),
        flush_max_messages: u64::MAX,
        idle_after: Duration::from_secs(3600),
        retention: Duration::from_secs(86_400),
        max_streams_in_memory: u64::MAX,
        start_offset: StartOffset::Earliest,
    };
    let mut a = Auditor::new(store, Arc::new(Metrics::new()), settings);
    a.assign("t", 0, 0).unwrap();
    // Warm up allocator pools and the partition's maps.
    let names: Vec<String> = (0..n).map(|i| format!("producer-{i:07}")).collect();
    let (heap0, rss0) = (LIVE.load(Ordering::Relaxed), rss());
    for (i, p) in names.iter().enumerate() {
        let stamp = Stamp {
            producer: Cow::Borrowed(p),
            seq: 1,
            epoch: 1,
        };
        a.audit("t", At::new(0, i as i64 + 100), &stamp, 1).unwrap();
    }
    eprintln!(
        "sizes: producer entry {} B, producer {} B, epoch {} B, stream state {} B",
        std::mem::size_of::<Option<gapwatch::audit::producers::Entry>>(),
        std::mem::size_of::<gapwatch::audit::Producer>(),
        std::mem::size_of::<gapwatch::audit::Epoch>(),
        std::mem::size_of::<gapwatch::engine::StreamState>(),
    );
    let (heap1, rss1) = (LIVE.load(Ordering::Relaxed), rss());
    println!(
        "{{\"streams\": {n}, \"heap_bytes_per_stream\": {:.1}, \"rss_bytes_per_stream\": {:.1}, \"producer_id_bytes\": {}}}",
        (heap1 - heap0) as f64 / n as f64,
        (rss1.saturating_sub(rss0)) as f64 / n as f64,
        names[0].len()
    );
}
