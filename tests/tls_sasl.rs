//! gapwatch and loadgen against a real broker over TLS with SASL/SCRAM: a
//! broker of this test's own (scripts/kafka.sh with a SASL_SSL listener), a
//! keystore made here with the JDK's keytool, a SCRAM-SHA-512 user created
//! when the broker's storage is formatted. The gaps must equal the truth,
//! the password must never show, and a wrong password must fail clearly.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{GapKey, eventually, gap_keys, truth_gaps};

const PLAIN_PORT: u16 = 19392;
const SASL_SSL_PORT: u16 = 19592;
const USER: &str = "gapwatch";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A single-node cluster with a SASL_SSL listener; stopped when dropped.
struct SecureKafka {
    dir: PathBuf,
}

impl SecureKafka {
    fn env(&self, cmd: &mut Command, keystore: &Path, store_pass: &str, password: &str) {
        cmd.env("KAFKA_PORT", PLAIN_PORT.to_string())
            .env("KAFKA_DIR", &self.dir)
            .env("KAFKA_SASL_SSL_PORT", SASL_SSL_PORT.to_string())
            .env("KAFKA_SSL_KEYSTORE", keystore)
            .env("KAFKA_SSL_KEYSTORE_PASSWORD", store_pass)
            .env("KAFKA_SCRAM_USERS", format!("{USER}:{password}"));
    }
}

impl Drop for SecureKafka {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/kafka.sh"))
            .arg("down")
            .env("KAFKA_DIR", &self.dir)
            .env("KAFKA_PORT", PLAIN_PORT.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn keytool(args: &[&str]) {
    let out = Command::new("keytool")
        .args(args)
        .output()
        .expect("keytool (JDK)");
    assert!(
        out.status.success(),
        "keytool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn client_options(ca: &Path, password: &str) -> Vec<(String, String)> {
    vec![
        ("security.protocol".into(), "SASL_SSL".into()),
        ("sasl.mechanism".into(), "SCRAM-SHA-512".into()),
        ("sasl.username".into(), USER.into()),
        ("sasl.password".into(), password.into()),
        ("ssl.ca.location".into(), ca.display().to_string()),
    ]
}

fn config(dir: &Path, topic: &str, port: u16, options: &[(String, String)]) -> PathBuf {
    let opts: String = options
        .iter()
        .map(|(k, v)| format!("\"{k}\" = \"{v}\"\n"))
        .collect();
    let text = format!(
        "[kafka]\nbootstrap_servers = \"127.0.0.1:{SASL_SSL_PORT}\"\ngroup_id = \"gw-{topic}\"\n\
         [kafka.options]\n{opts}[[audit]]\ntopics = [\"{topic}\"]\n[detection]\nconfirm_after = \"1s\"\n\
         [state]\ndir = \"{}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n",
        dir.join("state").display()
    );
    let path = dir.join(format!("gapwatch-{port}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn gapwatch_audits_over_tls_with_scram_and_never_shows_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store_pass = format!("store-{}", std::process::id());
    let password = format!("scram-secret-{}", std::process::id());
    let keystore = d.join("broker.p12");
    let ca = d.join("ca.pem");
    keytool(&[
        "-genkeypair",
        "-alias",
        "broker",
        "-keyalg",
        "RSA",
        "-keysize",
        "2048",
        "-storetype",
        "PKCS12",
        "-keystore",
        keystore.to_str().unwrap(),
        "-storepass",
        &store_pass,
        "-keypass",
        &store_pass,
        "-dname",
        "CN=localhost",
        "-ext",
        "SAN=IP:127.0.0.1,DNS:localhost",
        "-validity",
        "2",
    ]);
    keytool(&[
        "-exportcert",
        "-rfc",
        "-alias",
        "broker",
        "-keystore",
        keystore.to_str().unwrap(),
        "-storepass",
        &store_pass,
        "-file",
        ca.to_str().unwrap(),
    ]);

    let kafka = SecureKafka {
        dir: d.join("kafka"),
    };
    let mut up = Command::new(repo().join("scripts/kafka.sh"));
    up.arg("up");
    kafka.env(&mut up, &keystore, &store_pass, &password);
    let out = up.output().unwrap();
    assert!(
        out.status.success(),
        "secure broker did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Traffic with known loss, written over SASL_SSL.
    let topic = "secure-orders";
    let options = client_options(&ca, &password);
    let truth_path = d.join("truth.json");
    let bootstrap = format!("127.0.0.1:{SASL_SSL_PORT}");
    let mut args: Vec<String> = [
        "loadgen",
        "--bootstrap-servers",
        &bootstrap,
        "--topic",
        topic,
        "--create-topic",
        "--producers",
        "3",
        "--partitions",
        "2",
        "--messages",
        "400",
        "--inject",
        "drop:0:0:50-59",
        "--inject",
        "drop:2:1:7",
        "--truth",
        truth_path.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (k, v) in &options {
        args.push("-X".into());
        args.push(format!("{k}={v}"));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_gapwatch"))
        .args(&args)
        .output()
        .unwrap();
    let loadgen_text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "loadgen over SASL_SSL: {loadgen_text}"
    );
    assert!(
        !loadgen_text.contains(&password),
        "loadgen printed the password"
    );
    let truth: gapwatch::truth::Truth =
        serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap();

    // check-config shows the options but not the password.
    let port = common::free_port();
    let cfg = config(d, topic, port, &options);
    let out = Command::new(env!("CARGO_BIN_EXE_gapwatch"))
        .args(["check-config", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("sasl.username") || text.contains("SASL_SSL"),
        "{text}"
    );
    assert!(
        !text.contains(&password),
        "check-config printed the password: {text}"
    );

    // gapwatch over SASL_SSL finds exactly the injected gaps.
    let log = d.join("gapwatch.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gapwatch"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("GAPWATCH_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::blocking::Client::new();
    let expected: std::collections::BTreeSet<GapKey> = truth_gaps(&[&truth]);
    assert!(!expected.is_empty());
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually(Duration::from_secs(60), "the gaps over SASL_SSL", || {
            let v: serde_json::Value = client
                .get(format!("http://127.0.0.1:{port}/api/v1/gaps?limit=1000"))
                .send()
                .ok()?
                .json()
                .ok()?;
            let gaps = gap_keys(v["gaps"].as_array()?);
            (gaps == expected).then_some(gaps)
        })
    }));
    let _ = child.kill();
    let _ = child.wait();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        got.is_ok(),
        "gaps never matched the truth; log:\n{log_text}"
    );
    assert!(
        !log_text.contains(&password),
        "the password is in gapwatch's debug log"
    );

    // A wrong password: a clear, fast failure, and still no password shown.
    let wrong = format!("wrong-{password}");
    let bad = config(d, topic, common::free_port(), &client_options(&ca, &wrong));
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gapwatch"))
        .args(["run", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "a wrong password must fail the start"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        err.contains("cannot reach Kafka") && err.to_lowercase().contains("auth"),
        "the error says authentication failed: {err}"
    );
    assert!(!err.contains(&wrong), "the wrong password was printed");
    drop(kafka);
}
