//! Throughput of the sequence engine alone: 1,000 streams held in a `Vec`, their messages
//! interleaved round-robin as a consumer of one partition-set would see them.
//!
//! Cases: `in_order`, `gappy` (1% drops + 1% reorders), `duplicates` (10% duplicates), plus a
//! `confirm_due` sweep over all streams. Throughput is reported in messages (or streams) per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gapwatch::engine::{Gap, Seq, StreamState};

const STREAMS: usize = 1_000;
const PER_STREAM: u64 = 200;

/// splitmix64: a tiny deterministic generator, so the bench needs no `rand`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `percent`%.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone, Copy)]
enum Profile {
    InOrder,
    Gappy,
    Duplicates,
}

/// Arrival order of one stream that sent `1..=PER_STREAM`.
fn stream_arrivals(profile: Profile, rng: &mut Rng) -> Vec<Seq> {
    let mut out: Vec<Seq> = Vec::with_capacity(PER_STREAM as usize * 11 / 10);
    for seq in 1..=PER_STREAM {
        match profile {
            Profile::InOrder => out.push(seq),
            Profile::Gappy => {
                if seq > 1 && rng.chance(1) {
                    continue; // dropped
                }
                out.push(seq);
                if out.len() > 2 && rng.chance(1) {
                    let n = out.len();
                    out.swap(n - 1, n - 2); // reordered with its predecessor
                }
            }
            Profile::Duplicates => {
                out.push(seq);
                if rng.chance(10) {
                    let back = rng.next() % 20;
                    out.push(seq.saturating_sub(back).max(1)); // a recent message again
                }
            }
        }
    }
    out
}

struct Input {
    started: Vec<StreamState>,
    /// (stream index, seq, offset), round-robin over streams.
    events: Vec<(u32, Seq, i64)>,
}

fn input(profile: Profile) -> Input {
    let mut rng = Rng(42);
    let streams: Vec<Vec<Seq>> = (0..STREAMS)
        .map(|_| stream_arrivals(profile, &mut rng))
        .collect();
    let started = streams
        .iter()
        .map(|s| StreamState::start(s[0], 0, 0, true).0)
        .collect();
    let mut events = Vec::new();
    let longest = streams.iter().map(Vec::len).max().unwrap_or(0);
    for i in 1..longest {
        for (stream, arrivals) in streams.iter().enumerate() {
            if let Some(&seq) = arrivals.get(i) {
                events.push((stream as u32, seq, events.len() as i64));
            }
        }
    }
    Input { started, events }
}

fn feed(states: &mut [StreamState], events: &[(u32, Seq, i64)]) {
    for &(stream, seq, offset) in events {
        let now_ms = 1_700_000_000_000 + (offset as u64 >> 10);
        black_box(states[stream as usize].observe(seq, offset, now_ms));
    }
}

fn observe(c: &mut Criterion) {
    let mut group = c.benchmark_group("observe");
    for (name, profile) in [
        ("in_order", Profile::InOrder),
        ("gappy", Profile::Gappy),
        ("duplicates", Profile::Duplicates),
    ] {
        let input = input(profile);
        group.throughput(Throughput::Elements(input.events.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || input.started.clone(),
                |states| feed(states, &input.events),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn confirm_due(c: &mut Criterion) {
    let mut group = c.benchmark_group("confirm_due");
    group.throughput(Throughput::Elements(STREAMS as u64));
    for (name, profile) in [("no_gaps", Profile::InOrder), ("gappy", Profile::Gappy)] {
        let input = input(profile);
        let mut states = input.started.clone();
        feed(&mut states, &input.events);
        // Confirm everything once, so the measured sweeps find nothing new (the steady state).
        let mut out: Vec<Gap> = Vec::new();
        for s in &mut states {
            s.confirm_due(u64::MAX, 0, &mut out);
        }
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                let mut n = 0;
                for s in &mut states {
                    n += s.confirm_due(black_box(u64::MAX), 60_000, &mut out);
                }
                n
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = observe, confirm_due
}
criterion_main!(benches);
