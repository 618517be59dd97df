//! Faults around gapwatch that must neither lose nor invent a gap:
//! partitions added to an audited topic, and a second instance taking over
//! the partitions of one that was killed.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{
    GapKey, Gapwatch, bootstrap, create_topic, eventually, fresh_topic, gap_keys, loadgen,
    truth_gaps,
};

fn reported(gw: &Gapwatch) -> BTreeSet<GapKey> {
    gap_keys(&gw.gaps("open,confirmed"))
}

fn add_partitions(topic: &str, total: usize) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let res = futures::executor::block_on(
        admin.create_partitions([&NewPartitions::new(topic, total)], &opts),
    )
    .unwrap();
    for r in res {
        r.expect("partitions added");
    }
}

#[test]
fn partitions_added_to_an_audited_topic_are_audited_without_a_restart() {
    let topic = fresh_topic("grow");
    create_topic(&topic, 1);
    let gw = Gapwatch::start(&topic, "");
    let dir = tempfile::tempdir().unwrap();
    let first = loadgen(
        &topic,
        &[
            "--producers",
            "2",
            "--partitions",
            "1",
            "--messages",
            "500",
            "--inject",
            "drop:0:0:100",
        ],
        &dir.path().join("t1.json"),
    );
    gw.wait_ready(Duration::from_secs(60));
    eventually(Duration::from_secs(60), "the first gap", || {
        (reported(&gw) == truth_gaps(&[&first])).then_some(())
    });
    add_partitions(&topic, 3);
    let second = loadgen(
        &topic,
        &[
            "--producers",
            "2",
            "--partitions",
            "3",
            "--messages",
            "500",
            "--producer-prefix",
            "later",
            "--inject",
            "drop:1:2:250-260",
            "--inject",
            "drop:0:1:7",
        ],
        &dir.path().join("t2.json"),
    );
    eventually(
        Duration::from_secs(90),
        "gaps on the new partitions",
        || (reported(&gw) == truth_gaps(&[&first, &second])).then_some(()),
    );
    assert_eq!(gw.metric("gapwatch_assigned_partitions"), 3.0);
}

#[test]
fn a_second_instance_takes_over_a_killed_ones_partitions_and_says_it_lacks_their_state() {
    takeover("takeover", None);
}

#[test]
fn takeover_works_with_a_cooperative_assignor_too() {
    takeover("coop", Some("cooperative-sticky"));
}

/// Restarts `g` with its config changed by `f`.
fn reconfigure(g: &mut Gapwatch, f: impl Fn(String) -> String) {
    g.kill();
    let config = f(std::fs::read_to_string(&g.config).unwrap());
    std::fs::write(&g.config, config).unwrap();
    g.spawn();
}

fn takeover(name: &str, assignor: Option<&str>) {
    let topic = fresh_topic(name);
    create_topic(&topic, 4);
    let with_assignor = |c: String| match assignor {
        Some(a) => c.replace(
            "[kafka.options]\n",
            &format!("[kafka.options]\n\"partition.assignment.strategy\" = \"{a}\"\n"),
        ),
        None => c,
    };
    let mut a = Gapwatch::start(&topic, "");
    reconfigure(&mut a, with_assignor);
    // The second instance: the same group, its own state and member id.
    let mut b = Gapwatch::start(&topic, "");
    reconfigure(&mut b, |c| {
        with_assignor(c.replace(&format!("\"gw-{topic}-1\""), &format!("\"gw-{topic}-2\"")))
    });
    a.wait_ready(Duration::from_secs(60));
    b.wait_ready(Duration::from_secs(60));
    eventually(
        Duration::from_secs(60),
        "the partitions shared between both",
        || {
            (a.metric("gapwatch_assigned_partitions") == 2.0
                && b.metric("gapwatch_assigned_partitions") == 2.0)
                .then_some(())
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let truth = loadgen(
        &topic,
        &[
            "--producers",
            "3",
            "--partitions",
            "4",
            "--messages",
            "1000",
            "--drop-rate",
            "0.005",
            "--seed",
            "77",
        ],
        &dir.path().join("t.json"),
    );
    let want = truth_gaps(&[&truth]);
    eventually(
        Duration::from_secs(60),
        "both instances to report their half",
        || {
            let both: BTreeSet<GapKey> = reported(&a).union(&reported(&b)).cloned().collect();
            (both == want).then_some(())
        },
    );
    let before_kill = b.log_text().len();
    a.kill();
    eventually(
        Duration::from_secs(90),
        "the survivor to hold every partition",
        || (b.metric("gapwatch_assigned_partitions") == 4.0).then_some(()),
    );
    let after = b.log_text()[before_kill..].to_owned();
    assert_eq!(
        after
            .matches("no stored state for this partition here")
            .count(),
        2,
        "the survivor says plainly, once per partition taken over, that it lacks its state:\n{after}"
    );
    eventually(
        Duration::from_secs(60),
        "the survivor to report every gap",
        || (reported(&b) == want).then_some(()),
    );
}

#[test]
fn killed_during_a_rebalance_nothing_is_lost_or_invented() {
    let topic = fresh_topic("rebalance-kill");
    create_topic(&topic, 4);
    let dir = tempfile::tempdir().unwrap();
    let phase = |prefix: &str, seed: &str, file: &str| {
        loadgen(
            &topic,
            &[
                "--producers",
                "3",
                "--partitions",
                "4",
                "--messages",
                "1500",
                "--drop-rate",
                "0.004",
                "--duplicate-rate",
                "0.002",
                "--reorder-rate",
                "0.002",
                "--producer-prefix",
                prefix,
                "--seed",
                seed,
            ],
            &dir.path().join(file),
        )
    };
    let mut a = Gapwatch::start(&topic, "");
    let first = phase("early", "5", "t1.json");
    a.wait_ready(Duration::from_secs(60));
    eventually(Duration::from_secs(60), "the first traffic audited", || {
        (reported(&a) == truth_gaps(&[&first])).then_some(())
    });
    // A second member joins; the moment the rebalance takes partitions from
    // the first, the first is killed.
    let mut b = Gapwatch::start(&topic, "");
    reconfigure(&mut b, |c| {
        c.replace(&format!("\"gw-{topic}-1\""), &format!("\"gw-{topic}-2\""))
    });
    let writer = {
        let topic = topic.clone();
        let path = dir.path().join("t2.json");
        std::thread::spawn(move || {
            common::loadgen(
                &topic,
                &[
                    "--producers",
                    "3",
                    "--partitions",
                    "4",
                    "--messages",
                    "1500",
                    "--drop-rate",
                    "0.004",
                    "--producer-prefix",
                    "late",
                    "--seed",
                    "6",
                    "--rate",
                    "3000",
                ],
                &path,
            )
        })
    };
    eventually(Duration::from_secs(60), "the rebalance to start", || {
        a.log_text().contains("partition revoked").then_some(())
    });
    a.kill();
    let second = writer.join().unwrap();
    b.terminate();
    // The first comes back alone: it takes every partition again and must
    // report exactly the truth of both phases.
    a.spawn();
    a.wait_ready(Duration::from_secs(60));
    eventually(Duration::from_secs(90), "every gap, exactly", || {
        (reported(&a) == truth_gaps(&[&first, &second])).then_some(())
    });
}

/// Deletes `topic` and creates it again with `partitions`, as soon as Kafka
/// lets the name be reused.
fn recreate_topic(topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for r in futures::executor::block_on(admin.delete_topics(&[topic], &opts)).unwrap() {
        r.expect("topic deleted");
    }
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    eventually(Duration::from_secs(60), "the name free again", || {
        let res = futures::executor::block_on(admin.create_topics([&new], &opts)).ok()?;
        res.into_iter().all(|r| r.is_ok()).then_some(())
    });
}

#[test]
fn a_topic_deleted_and_created_again_is_audited_afresh_and_its_old_gaps_are_kept() {
    let topic = fresh_topic("recreated");
    create_topic(&topic, 2);
    let dir = tempfile::tempdir().unwrap();
    // The same producers both times: their numbers start over at 1.
    let phase = |inject: &str, seed: &str, file: &str| {
        loadgen(
            &topic,
            &[
                "--producers",
                "2",
                "--partitions",
                "2",
                "--messages",
                "500",
                "--inject",
                inject,
                "--seed",
                seed,
            ],
            &dir.path().join(file),
        )
    };
    let gw = Gapwatch::start(&topic, "");
    let first = phase("drop:0:0:100-109", "1", "t1.json");
    gw.wait_ready(Duration::from_secs(60));
    eventually(Duration::from_secs(60), "the first topic's gaps", || {
        (reported(&gw) == truth_gaps(&[&first])).then_some(())
    });
    recreate_topic(&topic, 2);
    let second = phase("drop:1:1:20-24", "2", "t2.json");
    let archived_prefix = format!("{topic}~");
    let split = |gaps: Vec<serde_json::Value>| {
        let (new, old): (Vec<_>, Vec<_>) = gaps
            .into_iter()
            .partition(|g| g["topic"].as_str() == Some(topic.as_str()));
        assert!(
            old.iter()
                .all(|g| g["topic"].as_str().unwrap().starts_with(&archived_prefix)),
            "{old:?}"
        );
        (gap_keys(&new), gap_keys(&old))
    };
    eventually(
        Duration::from_secs(90),
        "the new topic's gaps, and the old ones under the archived name",
        || {
            let (new, old) = split(gw.gaps("open,confirmed"));
            (new == truth_gaps(&[&second]) && old == truth_gaps(&[&first])).then_some(())
        },
    );
    assert!(gw.log_text().contains("deleted and created again"));
}
