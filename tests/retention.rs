//! Messages deleted before gapwatch read them: while gapwatch is stopped the
//! log's start moves past its stored position (what retention does, made
//! immediate with the DeleteRecords API). gapwatch must record the stretch
//! as "expired before audit", with its offsets, and not as lost messages.

mod common;

use std::time::Duration;

use common::{Gapwatch, bootstrap, create_topic, eventually, fresh_topic, loadgen};

/// Moves the log start of partition 0 to `offset`.
fn delete_records_before(topic: &str, offset: i64) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::{Offset, TopicPartitionList};
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))
        .unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let res = futures::executor::block_on(admin.delete_records(&tpl, &opts)).unwrap();
    for e in res.elements() {
        assert!(e.error().is_ok(), "delete records: {:?}", e.error());
    }
}

fn next_offset(gw: &Gapwatch) -> Option<i64> {
    let v = gw.get_json("/api/v1/partitions");
    v["partitions"][0]["next_offset"].as_i64()
}

#[test]
fn messages_deleted_before_audit_are_an_expired_incident_not_a_loss() {
    let topic = fresh_topic("expired");
    create_topic(&topic, 1);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let phase = |epoch: &str, file: &str| {
        loadgen(
            &topic,
            &[
                "--producers",
                "2",
                "--partitions",
                "1",
                "--messages",
                "100",
                "--epoch",
                epoch,
            ],
            &dir.path().join(file),
        )
    };
    // Offsets 0..200: audited.
    phase("1", "t1.json");
    let mut gw = Gapwatch::start_with_state(&topic, "", Some(&state));
    gw.wait_ready(Duration::from_secs(60));
    eventually(Duration::from_secs(60), "offsets 0..200 audited", || {
        (next_offset(&gw) == Some(200)).then_some(())
    });
    gw.terminate();

    // Offsets 200..400 written while gapwatch is stopped; 200..300 deleted
    // before it comes back: the producers' epoch-2 numbers 1..50 with them.
    phase("2", "t2.json");
    delete_records_before(&topic, 300);
    gw.spawn();
    gw.wait_ready(Duration::from_secs(60));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while next_offset(&gw) != Some(400) {
        assert!(
            std::time::Instant::now() < deadline,
            "offsets 300..400 not audited; at {:?}. Log:\n{}",
            next_offset(&gw),
            gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let incidents = gw.get_json(&format!("/api/v1/incidents?topic={topic}"));
    let list = incidents["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{incidents}");
    assert_eq!(list[0]["cause"], "expired_before_audit");
    assert_eq!(list[0]["first_offset"], 200);
    assert_eq!(list[0]["last_offset"], 299);
    assert_eq!(
        gw.metric(&format!(
            "gapwatch_unaudited_offsets_total{{cause=\"expired\",topic=\"{topic}\"}}"
        )),
        100.0
    );
    // Not a loss: no gap, though epoch 2 of each producer is first seen at 51.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(gw.gaps("open,confirmed"), Vec::<serde_json::Value>::new());
    assert!(
        gw.log_text().contains("expired before audit"),
        "the log says what happened"
    );
}
