//! The state directory's disk fills up while gapwatch audits: it says so
//! (a log line and `gapwatch_state_healthy 0`), loses and corrupts nothing,
//! and carries on by itself once space returns. Needs root for the tmpfs.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Gapwatch, create_topic, eventually, fresh_topic, gap_keys, loadgen, truth_gaps};

struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_state_disk_pauses_auditing_and_it_resumes_when_space_returns() {
    let topic = fresh_topic("diskfull");
    create_topic(&topic, 2);
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("state-volume");
    std::fs::create_dir_all(&mnt).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
        .arg(&mnt)
        .status()
        .expect("mount");
    assert!(
        status.success(),
        "mounting a tmpfs needs root (scripts/test.sh runs as root)"
    );
    let _unmount = Tmpfs(mnt.clone());
    let state = mnt.join("data");
    let mut gw = Gapwatch::start_with_state(&topic, "", Some(&state));
    gw.wait_ready(Duration::from_secs(60));

    // Fill the volume to the last byte.
    let filler = mnt.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "count=64"])
        .arg(format!("of={}", filler.display()))
        .output();
    let truth = loadgen(
        &topic,
        &[
            "--producers",
            "3",
            "--partitions",
            "2",
            "--messages",
            "3000",
            "--drop-rate",
            "0.002",
            "--seed",
            "31",
        ],
        &dir.path().join("truth.json"),
    );
    eventually(
        Duration::from_secs(60),
        "gapwatch to notice the full disk",
        || (gw.metric("gapwatch_state_healthy") == 0.0).then_some(()),
    );
    // A clear error: the state writer retries the refused batch (and the
    // consumer pauses at its next flush, if messages keep coming).
    eventually(Duration::from_secs(10), "the error in the log", || {
        gw.log_text().contains("cannot write state").then_some(())
    });
    assert!(gw.metric("gapwatch_state_flush_errors_total") >= 1.0);

    // Space returns: it carries on by itself and reports exactly the truth.
    std::fs::remove_file(&filler).unwrap();
    eventually(Duration::from_secs(60), "writes to succeed again", || {
        (gw.metric("gapwatch_state_healthy") == 1.0).then_some(())
    });
    let want = truth_gaps(&[&truth]);
    assert!(!want.is_empty());
    eventually(Duration::from_secs(60), "the exact gaps, confirmed", || {
        let gaps = gw.gaps("open,confirmed");
        let got = gap_keys(&gaps);
        (got == want && gaps.iter().all(|g| g["status"] == "confirmed")).then_some(())
    });
    // And the state survives a restart intact.
    gw.kill();
    gw.spawn();
    gw.wait_ready(Duration::from_secs(60));
    assert_eq!(gw.gaps("open,confirmed").len(), want.len());
}
