//! What one loadgen producer sends on one partition, decided up front and
//! reproducibly from a seed: the messages, their faults, and the ground truth.

use std::collections::HashMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::truth::{MalformedKind, SeqRange, StreamTruth};

/// A fault loadgen can inject at one step of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The sequence number is skipped and never sent: a lost message.
    Drop,
    /// The message is sent twice in a row.
    Duplicate,
    /// The message and its successor are sent swapped.
    Reorder,
    /// The producer moves to a new epoch and starts again at 1.
    Restart,
    /// A message whose stamp is unusable is sent before the step's message.
    Malformed,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Drop,
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::Restart,
        FaultKind::Malformed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Drop => "drop",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::Restart => "restart",
            FaultKind::Malformed => "malformed",
        }
    }
}

/// Probability per step of each fault.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultRates {
    pub drop: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub restart: f64,
    pub malformed: f64,
}

impl FaultRates {
    fn pick(&self, rng: &mut ChaCha8Rng) -> Option<FaultKind> {
        let total = self.drop + self.duplicate + self.reorder + self.restart + self.malformed;
        if total <= 0.0 {
            return None;
        }
        let mut r: f64 = rng.random();
        for (kind, rate) in [
            (FaultKind::Drop, self.drop),
            (FaultKind::Duplicate, self.duplicate),
            (FaultKind::Reorder, self.reorder),
            (FaultKind::Restart, self.restart),
            (FaultKind::Malformed, self.malformed),
        ] {
            if r < rate {
                return Some(kind);
            }
            r -= rate;
        }
        None
    }
}

/// Faults at explicit steps: (producer index, partition, step) → fault.
pub type ExplicitFaults = HashMap<(u32, i32, u64), FaultKind>;

/// One message to hand to Kafka.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// A correctly stamped message.
    Stamped { epoch: u64, seq: u64 },
    /// A message whose stamp is broken in the given way.
    Malformed(MalformedKind),
}

/// Generates the messages of one (producer, partition) lazily and records
/// the truth of every epoch it went through.
pub struct StreamPlan {
    pub producer_index: u32,
    pub producer: String,
    pub partition: i32,
    steps: u64,
    step: u64,
    epoch: u64,
    next_seq: u64,
    rng: ChaCha8Rng,
    rates: FaultRates,
    pending: std::collections::VecDeque<Outgoing>,
    current: StreamTruth,
    dropped: Vec<u64>,
    finished: Vec<StreamTruth>,
    malformed: [u64; MalformedKind::COUNT],
}

/// Everything one plan did, once it is exhausted.
pub struct PlanTruth {
    pub streams: Vec<StreamTruth>,
    pub malformed: [u64; MalformedKind::COUNT],
}

impl StreamPlan {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        topic: &str,
        producer_index: u32,
        producer: String,
        partition: i32,
        steps: u64,
        first_epoch: u64,
        seed: u64,
        rates: FaultRates,
    ) -> StreamPlan {
        // Each plan has its own generator so the result does not depend on
        // how plans are interleaved while sending.
        let stream_seed = seed
            ^ (u64::from(producer_index)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (partition as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        StreamPlan {
            producer_index,
            current: StreamTruth::new(topic, partition, &producer, first_epoch),
            producer,
            partition,
            steps,
            step: 0,
            epoch: first_epoch,
            next_seq: 1,
            rng: ChaCha8Rng::seed_from_u64(stream_seed),
            rates,
            pending: Default::default(),
            dropped: Vec::new(),
            finished: Vec::new(),
            malformed: [0; MalformedKind::COUNT],
        }
    }

    /// The next message to send, or `None` when the plan is exhausted.
    pub fn next_message(&mut self, explicit: &ExplicitFaults) -> Option<Outgoing> {
        loop {
            if let Some(out) = self.pending.pop_front() {
                return Some(out);
            }
            if self.step >= self.steps {
                return None;
            }
            self.step += 1;
            let fault = explicit
                .get(&(self.producer_index, self.partition, self.step))
                .copied()
                .or_else(|| self.rates.pick(&mut self.rng));
            self.apply(fault);
        }
    }

    fn apply(&mut self, fault: Option<FaultKind>) {
        let seq = self.next_seq;
        match fault {
            None => self.send(seq),
            Some(FaultKind::Drop) => {
                self.dropped.push(seq);
                self.next_seq += 1;
            }
            Some(FaultKind::Duplicate) => {
                self.send(seq);
                self.queue(seq);
                self.current.duplicates.push(seq);
            }
            Some(FaultKind::Reorder) if self.step < self.steps => {
                // Two steps are consumed: seq+1 goes out before seq.
                self.step += 1;
                self.queue(seq + 1);
                self.queue(seq);
                self.current.reorders.push([seq, seq + 1]);
                self.current.max_seq = self.current.max_seq.max(seq + 1);
                self.next_seq += 2;
            }
            Some(FaultKind::Reorder) => self.send(seq),
            Some(FaultKind::Restart) => {
                self.close_epoch();
                self.epoch += 1;
                self.next_seq = 1;
                let topic = std::mem::take(&mut self.current.topic);
                self.current = StreamTruth::new(&topic, self.partition, &self.producer, self.epoch);
                self.send(1);
            }
            Some(FaultKind::Malformed) => {
                let kind = MalformedKind::ALL[self.rng.random_range(0..MalformedKind::COUNT)];
                self.malformed[kind as usize] += 1;
                self.pending.push_back(Outgoing::Malformed(kind));
                self.send(seq);
            }
        }
    }

    /// Queues `seq` as the next message and advances the sequence.
    fn send(&mut self, seq: u64) {
        self.queue(seq);
        self.current.max_seq = self.current.max_seq.max(seq);
        self.next_seq = seq + 1;
    }

    fn queue(&mut self, seq: u64) {
        self.current.sent += 1;
        self.pending.push_back(Outgoing::Stamped {
            epoch: self.epoch,
            seq,
        });
    }

    /// Seals the current epoch's truth: its dropped numbers become missing
    /// ranges, and those after the last number sent become the tail.
    fn close_epoch(&mut self) {
        let max = self.current.max_seq;
        let mut ranges = SeqRange::merge(&self.dropped);
        if let Some(last) = ranges.last()
            && last.last_seq > max
        {
            self.current.tail = ranges.pop();
        }
        self.current.missing = ranges;
        self.dropped.clear();
        let fresh = StreamTruth::new(
            &self.current.topic,
            self.partition,
            &self.producer,
            self.epoch,
        );
        let done = std::mem::replace(&mut self.current, fresh);
        self.finished.push(done);
    }

    /// Consumes the exhausted plan and returns its truth.
    pub fn finish(mut self) -> PlanTruth {
        self.close_epoch();
        PlanTruth {
            streams: self.finished,
            malformed: self.malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(plan: &mut StreamPlan, explicit: &ExplicitFaults) -> Vec<Outgoing> {
        std::iter::from_fn(|| plan.next_message(explicit)).collect()
    }

    fn plan(steps: u64, rates: FaultRates) -> StreamPlan {
        StreamPlan::new("t", 0, "p0".into(), 0, steps, 1, 7, rates)
    }

    fn seqs(out: &[Outgoing]) -> Vec<u64> {
        out.iter()
            .filter_map(|o| match o {
                Outgoing::Stamped { seq, .. } => Some(*seq),
                Outgoing::Malformed(_) => None,
            })
            .collect()
    }

    #[test]
    fn no_faults_sends_one_to_n() {
        let mut p = plan(5, FaultRates::default());
        let out = drain(&mut p, &ExplicitFaults::new());
        assert_eq!(seqs(&out), vec![1, 2, 3, 4, 5]);
        let truth = p.finish();
        assert_eq!(truth.streams.len(), 1);
        assert_eq!(truth.streams[0].max_seq, 5);
        assert!(truth.streams[0].missing.is_empty());
        assert!(truth.streams[0].tail.is_none());
    }

    #[test]
    fn explicit_faults_shape_the_stream_and_truth() {
        let explicit = ExplicitFaults::from([
            ((0, 0, 1), FaultKind::Drop),
            ((0, 0, 3), FaultKind::Duplicate),
            ((0, 0, 5), FaultKind::Reorder),
            ((0, 0, 8), FaultKind::Drop),
            ((0, 0, 9), FaultKind::Drop),
            ((0, 0, 12), FaultKind::Drop),
        ]);
        let mut p = plan(12, FaultRates::default());
        let out = drain(&mut p, &explicit);
        assert_eq!(seqs(&out), vec![2, 3, 3, 4, 6, 5, 7, 10, 11]);
        let truth = p.finish();
        let s = &truth.streams[0];
        assert_eq!(s.max_seq, 11);
        assert_eq!(
            s.missing,
            vec![SeqRange::new(1, 1), SeqRange::new(8, 9)],
            "leading and middle drops are missing"
        );
        assert_eq!(s.tail, Some(SeqRange::new(12, 12)));
        assert_eq!(s.duplicates, vec![3]);
        assert_eq!(s.reorders, vec![[5, 6]]);
        assert_eq!(s.sent, 9);
    }

    #[test]
    fn restart_moves_to_a_new_epoch_and_seals_the_old_tail() {
        let explicit = ExplicitFaults::from([
            ((0, 0, 3), FaultKind::Drop),
            ((0, 0, 4), FaultKind::Restart),
        ]);
        let mut p = plan(5, FaultRates::default());
        let out = drain(&mut p, &explicit);
        assert_eq!(
            out,
            vec![
                Outgoing::Stamped { epoch: 1, seq: 1 },
                Outgoing::Stamped { epoch: 1, seq: 2 },
                Outgoing::Stamped { epoch: 2, seq: 1 },
                Outgoing::Stamped { epoch: 2, seq: 2 },
            ]
        );
        let truth = p.finish();
        assert_eq!(truth.streams.len(), 2);
        assert_eq!(truth.streams[0].tail, Some(SeqRange::new(3, 3)));
        assert!(truth.streams[0].missing.is_empty());
        assert_eq!(truth.streams[1].epoch, 2);
        assert_eq!(truth.streams[1].max_seq, 2);
    }

    #[test]
    fn malformed_adds_a_message_without_consuming_a_sequence() {
        let explicit = ExplicitFaults::from([((0, 0, 2), FaultKind::Malformed)]);
        let mut p = plan(3, FaultRates::default());
        let out = drain(&mut p, &explicit);
        assert_eq!(out.len(), 4);
        assert!(matches!(out[1], Outgoing::Malformed(_)));
        assert_eq!(seqs(&out), vec![1, 2, 3]);
        assert_eq!(p.finish().malformed.iter().sum::<u64>(), 1);
    }

    #[test]
    fn same_seed_same_plan() {
        let rates = FaultRates {
            drop: 0.05,
            duplicate: 0.05,
            reorder: 0.05,
            restart: 0.01,
            malformed: 0.02,
        };
        let a = drain(&mut plan(2000, rates), &ExplicitFaults::new());
        let b = drain(&mut plan(2000, rates), &ExplicitFaults::new());
        assert_eq!(a, b);
        assert!(a.len() > 1500);
    }
}
