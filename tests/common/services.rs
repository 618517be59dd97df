//! The real Prometheus and Alertmanager (Debian's packages), started by a
//! test on loopback ports with their data in a temporary directory.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub struct Service {
    pub port: u16,
    child: Child,
    pub log: std::path::PathBuf,
}

impl Service {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn wait_ready(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if reqwest::blocking::get(self.url(path)).is_ok_and(|r| r.status().is_success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "{} did not become ready:\n{}",
            self.url(path),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    pub fn get_json(&self, path_and_query: &str) -> serde_json::Value {
        reqwest::blocking::get(self.url(path_and_query))
            .unwrap()
            .json()
            .unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(binary: &str, args: &[String], dir: &Path, port: u16, name: &str) -> Service {
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(binary)
        .args(args)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary} (scripts/test.sh installs it): {e}"));
    Service { port, child, log }
}

/// Alertmanager routing every alert to `receiver_url`, quickly.
pub fn alertmanager(dir: &Path, receiver_url: &str) -> Service {
    let port = free_port();
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: test\n  group_by: ['...']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: test\n    webhook_configs:\n      - url: {receiver_url}\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let data = dir.join("am-data");
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.path={}", data.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--cluster.listen-address=".to_owned(),
    ];
    let s = spawn(
        "/usr/bin/prometheus-alertmanager",
        &args,
        dir,
        port,
        "alertmanager",
    );
    s.wait_ready("/-/ready");
    s
}

/// Prometheus scraping gapwatch every second, evaluating `rules` every
/// second and alerting to `alertmanager_port`.
pub fn prometheus(dir: &Path, gapwatch_port: u16, rules: &Path, alertmanager_port: u16) -> Service {
    let port = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{alertmanager_port}']\n\
             scrape_configs:\n  - job_name: gapwatch\n    static_configs:\n      - targets: ['127.0.0.1:{gapwatch_port}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    let s = spawn("/usr/bin/prometheus", &args, dir, port, "prometheus");
    s.wait_ready("/-/ready");
    s
}
