use super::*;
use crate::engine::StreamState;

fn gap(first: u64, last: u64, status: GapStatus) -> Gap {
    Gap {
        first,
        last,
        status,
        detected_at_ms: first * 10,
        confirmed_at_ms: (status == GapStatus::Confirmed).then_some(first * 10 + 1),
        offset_before: Some(first as i64),
        offset_after: last as i64 + 2,
        origin_first: first,
        origin_last: last,
    }
}

fn id<'a>(topic: &'a str, partition: i32, producer: &'a str, epoch: u64) -> StreamRef<'a> {
    StreamRef {
        topic,
        partition,
        producer,
        epoch,
    }
}

fn stored(next: u64) -> StoredStream {
    let (state, _) = StreamState::start(next - 1, 0, 1, false);
    StoredStream {
        baseline: next - 1,
        created_ms: 1,
        state,
    }
}

#[test]
fn a_batch_lands_whole_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), true).unwrap();
        let mut b = store.batch();
        store.put_stream(&mut b, id("t", 0, "p", 1), &stored(10));
        store.put_gaps(&mut b, id("t", 0, "p", 1), &[gap(3, 4, GapStatus::Open)]);
        store.put_partition(
            &mut b,
            "t",
            0,
            PartitionRecord {
                next_offset: 42,
                from_start: true,
                leader_epoch: -1,
                resumed_at: -1,
            },
        );
        store.write(&b).unwrap();
    }
    let store = Store::open(dir.path(), true).unwrap();
    assert_eq!(store.stream(id("t", 0, "p", 1)).unwrap(), Some(stored(10)));
    assert_eq!(
        store.partition("t", 0).unwrap(),
        Some(PartitionRecord {
            next_offset: 42,
            from_start: true,
            leader_epoch: -1,
            resumed_at: -1,
        })
    );
    assert_eq!(store.streams_with_gaps().unwrap().len(), 1);
}

#[test]
fn two_stores_cannot_share_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _a = Store::open(dir.path(), false).unwrap();
    let err = Store::open(dir.path(), false)
        .err()
        .expect("second open fails");
    assert!(
        err.to_string()
            .starts_with("cannot open the state directory"),
        "{err}"
    );
}

#[test]
fn put_gaps_replaces_a_streams_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    let s = id("t", 0, "p", 1);
    let mut b = store.batch();
    store.put_gaps(&mut b, s, &[gap(3, 7, GapStatus::Open)]);
    store.put_gaps(&mut b, id("t", 0, "p", 2), &[gap(1, 1, GapStatus::Open)]);
    store.write(&b).unwrap();
    let mut b = store.batch();
    store.put_gaps(
        &mut b,
        s,
        &[
            gap(3, 4, GapStatus::Confirmed),
            gap(6, 7, GapStatus::Confirmed),
        ],
    );
    store.write(&b).unwrap();
    let all = [GapListStatus::Open, GapListStatus::Confirmed];
    let page = store
        .gaps(&Filter::default(), &all, None, 100, None)
        .unwrap();
    let got: Vec<(u64, u64, u64)> = page
        .items
        .iter()
        .map(|g| (g.stream.epoch, g.gap.first, g.gap.last))
        .collect();
    assert_eq!(got, vec![(1, 3, 4), (1, 6, 7), (2, 1, 1)]);
    let open = store
        .gaps(&Filter::default(), &[GapListStatus::Open], None, 100, None)
        .unwrap();
    assert_eq!(open.items.len(), 1, "status filter");
}

#[test]
fn gap_listing_filters_and_pages_through_live_then_healed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    let mut b = store.batch();
    for (topic, partition, producer) in [("a", 0, "p"), ("a", 1, "p"), ("a", 1, "q"), ("b", 0, "p")]
    {
        let s = id(topic, partition, producer, 0);
        store.put_gaps(
            &mut b,
            s,
            &[gap(5, 5, GapStatus::Confirmed), gap(9, 9, GapStatus::Open)],
        );
        store.put_healed(
            &mut b,
            s,
            &HealedGap {
                gap: gap(2, 2, GapStatus::Open),
                healed_at_ms: 99,
            },
        );
    }
    store.write(&b).unwrap();
    let every = [
        GapListStatus::Open,
        GapListStatus::Confirmed,
        GapListStatus::Healed,
    ];
    let filter = Filter {
        topic: Some("a".into()),
        partition: Some(1),
        producer: None,
    };
    let mut seen = Vec::new();
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let page = store
            .gaps(&filter, &every, None, 2, cursor.as_deref())
            .unwrap();
        seen.extend(page.items.iter().map(|g| {
            (
                g.stream.producer.clone(),
                g.gap.first,
                g.healed_at_ms.is_some(),
            )
        }));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![
            ("p".to_string(), 5, false),
            ("p".to_string(), 9, false),
            ("q".to_string(), 5, false),
            ("q".to_string(), 9, false),
            ("p".to_string(), 2, true),
            ("q".to_string(), 2, true),
        ]
    );
    let by_producer = Filter {
        topic: None,
        partition: None,
        producer: Some("q".into()),
    };
    let page = store.gaps(&by_producer, &every, None, 100, None).unwrap();
    assert_eq!(page.items.len(), 3);
    let since = store
        .gaps(&Filter::default(), &every, Some(60), 100, None)
        .unwrap();
    assert!(
        since.items.iter().all(|g| g.gap.first == 9),
        "since filters by detection time"
    );
}

#[test]
fn producer_streams_returns_every_epoch_of_one_producer_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    let mut b = store.batch();
    for epoch in [3, 1, 2] {
        store.put_stream(&mut b, id("t", 0, "p", epoch), &stored(10 + epoch));
    }
    store.put_stream(&mut b, id("t", 0, "pp", 1), &stored(5));
    store.put_stream(&mut b, id("t", 1, "p", 1), &stored(5));
    store.write(&b).unwrap();
    let got: Vec<u64> = store
        .producer_streams("t", 0, "p")
        .unwrap()
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert_eq!(got, vec![1, 2, 3]);
}

#[test]
fn delete_partition_forgets_only_that_partition() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    let mut b = store.batch();
    for partition in [0, 1] {
        let s = id("t", partition, "p", 1);
        store.put_stream(&mut b, s, &stored(3));
        store.put_gaps(&mut b, s, &[gap(1, 1, GapStatus::Open)]);
        store.put_partition(
            &mut b,
            "t",
            partition,
            PartitionRecord {
                next_offset: 5,
                from_start: false,
                leader_epoch: -1,
                resumed_at: -1,
            },
        );
    }
    store.write(&b).unwrap();
    let mut b = store.batch();
    store.delete_partition(&mut b, "t", 0);
    store.write(&b).unwrap();
    assert!(store.stream(id("t", 0, "p", 1)).unwrap().is_none());
    assert!(store.partition("t", 0).unwrap().is_none());
    assert!(store.stream(id("t", 1, "p", 1)).unwrap().is_some());
    assert_eq!(store.streams_with_gaps().unwrap().len(), 1);
}

#[test]
fn hex_cursors_round_trip_and_reject_junk() {
    assert_eq!(unhex(&hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
    assert_eq!(unhex("abc"), None);
    assert_eq!(unhex("zz"), None);
}

#[test]
fn sweeping_removes_only_old_streams_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    let mut b = store.batch();
    let old = stored(10); // last seen at 1 ms
    let mut recent = stored(10);
    recent.state.last_seen_ms = 5_000;
    let (mut gappy, _) = StreamState::start(1, 0, 1, false);
    gappy.observe(5, 1, 1);
    let gappy = StoredStream {
        baseline: 1,
        created_ms: 1,
        state: gappy,
    };
    store.put_stream(&mut b, id("t", 0, "old", 1), &old);
    store.put_stream(&mut b, id("t", 0, "recent", 1), &recent);
    store.put_stream(&mut b, id("t", 0, "gappy", 1), &gappy);
    store.write(&b).unwrap();
    let mut cursor: Option<Vec<u8>> = None;
    let mut total = 0;
    loop {
        let (n, next) = store.sweep_streams(cursor.as_deref(), 1, 1_000).unwrap();
        total += n;
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(total, 1);
    assert!(store.stream(id("t", 0, "old", 1)).unwrap().is_none());
    assert!(store.stream(id("t", 0, "recent", 1)).unwrap().is_some());
    assert!(store.stream(id("t", 0, "gappy", 1)).unwrap().is_some());
}
