//! Hands messages to librdkafka and accounts for every delivery report.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::ClientContext;
use rdkafka::producer::{DeliveryResult, ProducerContext};

/// Identifies a message in its delivery report without allocating:
/// the plan's index in the high bits and the sequence (0 for malformed) below.
pub fn opaque(plan: usize, seq: u64) -> usize {
    (plan << 40) | seq as usize
}

fn split_opaque(op: usize) -> (usize, u64) {
    (op >> 40, (op & ((1 << 40) - 1)) as u64)
}

/// How many delivery failures are kept for the report.
const KEPT_FAILURES: usize = 20;

/// Counts acknowledged and failed deliveries.
#[derive(Default)]
pub struct DeliveryTracker {
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    failures: Mutex<Vec<(usize, u64, i32, String)>>,
    /// With `--record-acks`: (plan index, sequence) of every acknowledged
    /// stamped message.
    acks: Option<Mutex<Vec<(usize, u64)>>>,
}

impl DeliveryTracker {
    pub fn recording_acks() -> DeliveryTracker {
        DeliveryTracker {
            acks: Some(Mutex::new(Vec::new())),
            ..DeliveryTracker::default()
        }
    }

    /// Acknowledged sequences per plan index, when recording.
    pub fn take_acks(&self, plans: usize) -> Option<Vec<Vec<u64>>> {
        let acks = self.acks.as_ref()?;
        let mut out = vec![Vec::new(); plans];
        for (plan, seq) in acks.lock().ok()?.drain(..) {
            if let Some(v) = out.get_mut(plan) {
                v.push(seq);
            }
        }
        Some(out)
    }

    /// The first failures seen: (plan index, sequence, partition, error).
    pub fn failures(&self) -> Vec<(usize, u64, i32, String)> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Accounts for a message that failed, by its opaque.
    pub fn record_failure(&self, op: usize, partition: i32, err: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let (plan, seq) = split_opaque(op);
        if let Ok(mut f) = self.failures.lock()
            && f.len() < KEPT_FAILURES
        {
            f.push((plan, seq, partition, err));
        }
    }
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, op: usize) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
                if let Some(acks) = &self.acks {
                    let (plan, seq) = split_opaque(op);
                    if seq > 0
                        && let Ok(mut a) = acks.lock()
                    {
                        a.push((plan, seq));
                    }
                }
            }
            Err((err, msg)) => {
                use rdkafka::message::Message;
                self.record_failure(op, msg.partition(), err.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_round_trips() {
        let op = opaque(12_345, (1 << 40) - 1);
        assert_eq!(split_opaque(op), (12_345, (1 << 40) - 1));
        assert_eq!(split_opaque(opaque(0, 0)), (0, 0));
    }
}
