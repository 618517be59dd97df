use std::borrow::Cow;

use super::*;
use crate::store::GapRecord;

fn settings() -> AuditSettings {
    AuditSettings {
        confirm_after: Duration::from_secs(30),
        truncation_window: 1_000,
        flush_interval: Duration::from_millis(200),
        flush_max_messages: 1000,
        idle_after: Duration::from_secs(600),
        retention: Duration::from_secs(86_400),
        max_streams_in_memory: 1_000_000,
        start_offset: StartOffset::Earliest,
    }
}

fn open(dir: &std::path::Path) -> Auditor {
    let store = Arc::new(Store::open(dir, false).unwrap());
    let mut a = Auditor::new(store, Arc::new(Metrics::new()), settings());
    a.init_gauges().unwrap();
    a
}

fn stamp(producer: &str, seq: u64, epoch: u64) -> Stamp<'static> {
    Stamp {
        producer: Cow::Owned(producer.to_owned()),
        seq,
        epoch,
    }
}

/// Feeds (producer, seq, epoch) at consecutive offsets from `first_offset`.
fn feed(
    a: &mut Auditor,
    partition: i32,
    first_offset: i64,
    msgs: &[(&str, u64, u64)],
    now_ms: u64,
) {
    for (i, (p, s, e)) in msgs.iter().enumerate() {
        a.audit(
            "t",
            At::new(partition, first_offset + i as i64),
            &stamp(p, *s, *e),
            now_ms,
        )
        .unwrap();
    }
}

fn gaps(a: &Auditor) -> Vec<(String, u64, u64, u64, GapStatus)> {
    let page = a
        .store
        .gaps(
            &Filter::default(),
            &[GapListStatus::Open, GapListStatus::Confirmed],
            None,
            1000,
            None,
        )
        .unwrap();
    page.items
        .into_iter()
        .map(|GapRecord { stream, gap, .. }| {
            (
                stream.producer,
                stream.epoch,
                gap.first,
                gap.last,
                gap.status,
            )
        })
        .collect()
}

#[test]
fn reading_from_the_first_offset_reports_a_leading_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    assert_eq!(a.assign("t", 0, 0).unwrap(), StartAt::Beginning);
    feed(
        &mut a,
        0,
        0,
        &[("p", 3, 0), ("p", 4, 0), ("p", 7, 0)],
        1_000,
    );
    a.flush().unwrap();
    assert_eq!(
        gaps(&a),
        vec![
            ("p".into(), 0, 1, 2, GapStatus::Open),
            ("p".into(), 0, 5, 6, GapStatus::Open)
        ]
    );
    assert_eq!(a.metrics.missing.with_label_values(&["t", "open"]).get(), 4);
}

#[test]
fn a_producer_first_seen_mid_log_is_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.assign("t", 0, 0).unwrap();
    // The first offset read is 100: the log's beginning is gone.
    feed(&mut a, 0, 100, &[("p", 50, 0), ("p", 51, 0)], 1_000);
    a.flush().unwrap();
    assert!(gaps(&a).is_empty());
    let s = a
        .store
        .stream(crate::store::StreamRef {
            topic: "t",
            partition: 0,
            producer: "p",
            epoch: 0,
        })
        .unwrap()
        .unwrap();
    assert_eq!(s.baseline, 50);
}

#[test]
fn a_higher_epoch_starts_a_new_stream_with_a_leading_gap_and_old_epochs_stay_matched() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.assign("t", 0, 0).unwrap();
    feed(
        &mut a,
        0,
        100,
        &[
            ("p", 10, 1),
            ("p", 11, 1),
            ("p", 3, 2),
            ("p", 12, 1),
            ("p", 4, 2),
            ("p", 11, 1),
        ],
        1_000,
    );
    a.flush().unwrap();
    assert_eq!(gaps(&a), vec![("p".into(), 2, 1, 2, GapStatus::Open)]);
    assert_eq!(a.metrics.duplicates.with_label_values(&["t"]).get(), 1);
}

#[test]
fn replayed_offsets_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.assign("t", 0, 0).unwrap();
    let msgs = [("p", 1, 0), ("p", 2, 0), ("p", 4, 0)];
    feed(&mut a, 0, 0, &msgs, 1_000);
    a.flush().unwrap();
    let before = gaps(&a);
    feed(&mut a, 0, 0, &msgs, 2_000);
    assert_eq!(a.metrics.duplicates.with_label_values(&["t"]).get(), 0);
    assert_eq!(a.metrics.replayed.with_label_values(&["t"]).get(), 3);
    a.flush().unwrap();
    assert_eq!(gaps(&a), before);
}

#[test]
fn gaps_confirm_after_the_delay_and_heal_when_late_messages_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.assign("t", 0, 0).unwrap();
    feed(&mut a, 0, 0, &[("p", 1, 0), ("p", 5, 0)], 1_000);
    a.tick(30_999);
    a.flush().unwrap();
    assert_eq!(gaps(&a)[0].4, GapStatus::Open, "not yet due");
    a.tick(31_000);
    a.flush().unwrap();
    assert_eq!(gaps(&a), vec![("p".into(), 0, 2, 4, GapStatus::Confirmed)]);
    assert_eq!(a.metrics.lost_messages.with_label_values(&["t"]).get(), 3);
    assert_eq!(
        a.metrics
            .missing
            .with_label_values(&["t", "confirmed"])
            .get(),
        3
    );
    feed(
        &mut a,
        0,
        2,
        &[("p", 3, 0), ("p", 2, 0), ("p", 4, 0)],
        40_000,
    );
    a.flush().unwrap();
    assert!(gaps(&a).is_empty());
    assert_eq!(
        a.metrics
            .missing
            .with_label_values(&["t", "confirmed"])
            .get(),
        0
    );
    assert_eq!(
        a.metrics.recovered_messages.with_label_values(&["t"]).get(),
        3
    );
    let healed = a
        .store
        .gaps(&Filter::default(), &[GapListStatus::Healed], None, 10, None)
        .unwrap();
    assert_eq!(
        healed.items.len(),
        1,
        "the gap heals once, whole, after its pieces"
    );
    assert_eq!(
        (healed.items[0].gap.first, healed.items[0].gap.last),
        (2, 4)
    );
    assert_eq!(a.metrics.gaps_healed.with_label_values(&["t"]).get(), 1);
}

#[test]
fn a_restart_resumes_from_stored_state_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut a = open(dir.path());
        a.assign("t", 0, 0).unwrap();
        feed(&mut a, 0, 0, &[("p", 1, 0), ("p", 3, 0)], 1_000);
        a.flush().unwrap();
        // Unflushed work is lost with the process, offsets included.
        feed(&mut a, 0, 2, &[("p", 9, 0)], 1_000);
    }
    let mut a = open(dir.path());
    assert_eq!(a.metrics.missing.with_label_values(&["t", "open"]).get(), 1);
    assert_eq!(a.assign("t", 0, 0).unwrap(), StartAt::Offset(2));
    assert_eq!(
        a.ticking.len(),
        1,
        "streams with open gaps are loaded to keep their timers"
    );
    feed(&mut a, 0, 2, &[("p", 9, 0), ("p", 2, 0)], 2_000);
    a.tick(40_000);
    a.flush().unwrap();
    assert_eq!(gaps(&a), vec![("p".into(), 0, 4, 8, GapStatus::Confirmed)]);
}

#[test]
fn unaudited_messages_advance_the_offset_and_count_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.assign("t", 0, 0).unwrap();
    a.unaudited("t", At::new(0, 0), Unaudited::MissingSequence)
        .unwrap();
    a.unaudited("t", At::new(0, 0), Unaudited::MissingSequence)
        .unwrap();
    assert_eq!(
        a.metrics
            .unaudited
            .with_label_values(&["t", "missing_sequence"])
            .get(),
        1,
        "a redelivered unaudited message is not counted twice"
    );
    assert_eq!(a.positions(), vec![(Arc::from("t"), 0, 1)]);
}

#[test]
fn idle_streams_leave_memory_and_come_back_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.settings.idle_after = Duration::from_secs(1);
    a.assign("t", 0, 0).unwrap();
    feed(
        &mut a,
        0,
        0,
        &[("p", 1, 0), ("q", 1, 0), ("p", 2, 0)],
        1_000,
    );
    a.flush().unwrap();
    a.tick(5_000);
    assert_eq!(a.streams_in_memory(), 0);
    feed(
        &mut a,
        0,
        3,
        &[("p", 3, 0), ("q", 2, 0), ("p", 2, 0)],
        6_000,
    );
    assert_eq!(a.streams_in_memory(), 2);
    assert_eq!(a.metrics.duplicates.with_label_values(&["t"]).get(), 1);
    a.flush().unwrap();
    assert!(gaps(&a).is_empty());
}

#[test]
fn memory_cap_evicts_the_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.settings.max_streams_in_memory = 2;
    a.assign("t", 0, 0).unwrap();
    for (i, p) in ["a", "b", "c", "d"].iter().enumerate() {
        feed(&mut a, 0, i as i64, &[(p, 1, 0)], 1_000 + i as u64);
    }
    a.flush().unwrap();
    a.tick(2_000);
    assert_eq!(a.streams_in_memory(), 2);
    let t = a.topics.get("t").unwrap();
    let mut kept: Vec<&str> = t.partitions[&0]
        .producers
        .iter()
        .map(|e| e.id.as_str())
        .collect();
    kept.sort();
    assert_eq!(kept, vec!["c", "d"]);
}

#[test]
fn retention_removes_old_healed_gaps_and_silent_streams() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.assign("t", 0, 0).unwrap();
    feed(
        &mut a,
        0,
        0,
        &[
            ("p", 1, 0),
            ("p", 3, 0),
            ("p", 2, 0),
            ("q", 1, 0),
            ("r", 1, 0),
            ("r", 3, 0),
        ],
        1_000,
    );
    a.flush().unwrap();
    let day = 86_400_000;
    a.sweep(1_000 + day / 2).unwrap();
    let healed = |a: &Auditor| {
        a.store
            .gaps(&Filter::default(), &[GapListStatus::Healed], None, 10, None)
            .unwrap()
            .items
            .len()
    };
    assert_eq!(healed(&a), 1, "younger than the retention");
    a.sweep(1_001 + day).unwrap();
    assert_eq!(healed(&a), 0);
    let left = a.store.streams(&Filter::default(), 10, None).unwrap().items;
    let names: Vec<&str> = left.iter().map(|(id, _)| id.producer.as_str()).collect();
    assert_eq!(names, vec!["r"], "only the stream with a gap stays");
}

/// Feeds (producer, seq) at consecutive offsets written under one leader epoch.
fn feed_epoch(a: &mut Auditor, first_offset: i64, leader_epoch: i32, msgs: &[(&str, u64)]) {
    for (i, (p, s)) in msgs.iter().enumerate() {
        let at = At {
            leader_epoch,
            ..At::new(0, first_offset + i as i64)
        };
        a.audit("t", at, &stamp(p, *s, 0), 1_000).unwrap();
    }
}

#[test]
fn a_log_truncated_under_the_auditor_reports_exactly_the_messages_it_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.assign("t", 0, 0).unwrap();
    // Offsets 0..8 under leader epoch 3: p 1..=4 and q 1..=4, interleaved.
    let before: Vec<(&str, u64)> = (1..=4).flat_map(|s| [("p", s), ("q", s)]).collect();
    feed_epoch(&mut a, 0, 3, &before);
    a.flush().unwrap();
    // The same offsets again from the same epoch: a replay, nothing changes.
    feed_epoch(&mut a, 5, 3, &before[5..]);
    assert_eq!(a.metrics.replayed.with_label_values(&["t"]).get(), 3);
    // A new leader (epoch 4) held only offsets 0..5 and wrote p 5 at 5.
    // Gone: q 3 (offset 5), p 4 (6), q 4 (7).
    feed_epoch(&mut a, 5, 4, &[("p", 5), ("q", 5)]);
    a.flush().unwrap();
    assert_eq!(
        gaps(&a),
        vec![
            ("p".into(), 0, 4, 4, GapStatus::Open),
            ("q".into(), 0, 3, 4, GapStatus::Open)
        ]
    );
    assert_eq!(
        a.metrics.truncated.with_label_values(&["t"]).get(),
        3,
        "three audited messages were removed"
    );
    assert_eq!(a.metrics.truncations.with_label_values(&["t"]).get(), 1);
    assert_eq!(a.positions(), vec![(Arc::from("t"), 0, 7)]);
    // A producer that resends what was lost heals its gap.
    feed_epoch(&mut a, 7, 4, &[("p", 4)]);
    a.flush().unwrap();
    assert_eq!(gaps(&a), vec![("q".into(), 0, 3, 4, GapStatus::Open)]);
}

#[test]
fn a_truncation_below_what_this_instance_read_is_counted_as_unknown_offsets() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut a = open(dir.path());
        a.assign("t", 0, 0).unwrap();
        feed_epoch(&mut a, 0, 1, &[("p", 1), ("p", 2), ("p", 3)]);
        a.flush().unwrap();
    }
    // Restarted: the journal is empty, the stored epoch is 1.
    let mut a = open(dir.path());
    assert_eq!(a.assign("t", 0, 0).unwrap(), StartAt::Offset(3));
    feed_epoch(&mut a, 1, 2, &[("p", 4)]);
    assert_eq!(
        a.metrics
            .unaudited_offsets
            .with_label_values(&["t", "truncated"])
            .get(),
        2
    );
    assert_eq!(a.positions(), vec![(Arc::from("t"), 0, 2)]);
}

#[test]
fn a_stretch_expired_before_audit_is_an_incident_and_streams_across_it_rebaseline() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.assign("t", 0, 0).unwrap();
    feed(
        &mut a,
        0,
        0,
        &[("p", 1, 0), ("p", 2, 0), ("q", 1, 0)],
        1_000,
    );
    // In range: nothing to do.
    assert_eq!(a.out_of_range("t", 0, 0, 3, 1_000), None);
    // The log now starts at 10: offsets 3..=9 expired unaudited.
    assert_eq!(a.out_of_range("t", 0, 10, 20, 1_000), Some(10));
    // p continues at 9 (3..=8 were in the stretch), q moves to epoch 1 at 4,
    // r is new: none of it is a gap. p's 11 after 9 still is.
    feed(
        &mut a,
        0,
        10,
        &[("p", 9, 0), ("q", 4, 1), ("r", 7, 0), ("p", 11, 0)],
        2_000,
    );
    a.flush().unwrap();
    assert_eq!(gaps(&a), vec![("p".into(), 0, 10, 10, GapStatus::Open)]);
    let incidents = a.store.incidents(Some("t"), Some(0)).unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(
        (
            incidents[0].cause,
            incidents[0].first_offset,
            incidents[0].last_offset
        ),
        (crate::store::IncidentCause::ExpiredBeforeAudit, 3, 9)
    );
    assert_eq!(
        a.metrics
            .unaudited_offsets
            .with_label_values(&["t", "expired"])
            .get(),
        7
    );
}

#[test]
fn with_a_background_writer_flushed_state_is_durable_once_settled_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut a = open(dir.path());
        a.write_in_background().unwrap();
        a.assign("t", 0, 0).unwrap();
        // Many small batches back to back: each lands, in order.
        for i in 0..50u64 {
            feed(&mut a, 0, i as i64, &[("p", 2 * i + 1, 0)], 1_000);
            a.flush().unwrap();
        }
        assert!(a.settle());
        assert_eq!(a.durable_positions(), vec![(Arc::from("t"), 0, 50)]);
        assert_eq!(gaps(&a).len(), 49, "one gap per skipped number");
        // Dropping the auditor writes what was handed over.
        feed(&mut a, 0, 50, &[("p", 102, 0)], 1_000);
        a.flush().unwrap();
    }
    let mut a = open(dir.path());
    assert_eq!(a.assign("t", 0, 0).unwrap(), StartAt::Offset(51));
    assert_eq!(a.store.partition("t", 0).unwrap().unwrap().next_offset, 51);
}

#[test]
fn with_a_background_writer_evicted_streams_come_back_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.write_in_background().unwrap();
    a.settings.idle_after = Duration::from_millis(1);
    a.assign("t", 0, 0).unwrap();
    feed(&mut a, 0, 0, &[("p", 1, 0), ("q", 1, 0)], 1_000);
    a.flush().unwrap();
    // Once the batch is durable, idle streams go (they are in RocksDB) ...
    assert!(a.settle());
    a.tick(10_000);
    assert_eq!(a.streams_in_memory(), 0);
    // ... and come back from there as they were.
    feed(&mut a, 0, 2, &[("p", 2, 0)], 11_000);
    assert_eq!(a.streams_in_memory(), 1);
    a.flush_durably().unwrap();
    assert!(gaps(&a).is_empty(), "{:?}", gaps(&a));
}
