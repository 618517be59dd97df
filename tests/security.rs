//! With `http.auth_token` set, every `/api` route and the gaps page need the
//! token; secrets never appear in logs or `check-config` output.

mod common;

use std::time::Duration;

use common::{Gapwatch, create_topic, fresh_topic, gapwatch};

const TOKEN: &str = "s3cret-api-token-123";
const SASL_PASSWORD: &str = "kafka-pass-456";
const WEBHOOK_SECRET: &str = "hook-secret-789";

#[test]
fn the_api_needs_the_token_and_secrets_never_show() {
    let topic = fresh_topic("secure");
    create_topic(&topic, 1);
    let extra = format!(
        "auth_token = \"{TOKEN}\"\n\
         [alert]\n[[alert.webhook]]\nurl = \"http://127.0.0.1:9/hook?key=inline-url-token\"\nsecret = \"{WEBHOOK_SECRET}\"\n"
    );
    // `extra` lands after [http], so auth_token belongs to it.
    let gw = Gapwatch::start(&topic, &extra);
    // A librdkafka secret in the options, too.
    let config = std::fs::read_to_string(&gw.config).unwrap().replace(
        "[kafka.options]\n",
        &format!("[kafka.options]\n\"sasl.password\" = \"{SASL_PASSWORD}\"\n"),
    );
    std::fs::write(&gw.config, &config).unwrap();
    let mut gw = gw;
    gw.kill();
    gw.spawn();
    gw.wait_ready(Duration::from_secs(60));

    let client = reqwest::blocking::Client::new();
    let status = |path: &str, token: Option<&str>| {
        let mut req = client.get(gw.url(path)).timeout(Duration::from_secs(5));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().unwrap();
        let code = resp.status().as_u16();
        (code, resp.text().unwrap())
    };
    for path in [
        "/api/v1/gaps",
        "/api/v1/streams",
        &format!("/api/v1/streams/{topic}/0/p"),
        &format!("/api/v1/streams/{topic}/0/p/missing"),
        &format!("/api/v1/messages/{topic}/0/p/1"),
        "/api/v1/alerts",
        "/api/v1/no-such-endpoint",
        "/",
    ] {
        let (code, body) = status(path, None);
        assert_eq!(code, 401, "{path} without the token");
        if path.starts_with("/api") {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"]["code"], "unauthorized", "{path}: {body}");
        }
        assert_eq!(
            status(path, Some("wrong-token")).0,
            401,
            "{path} with a wrong token"
        );
    }
    assert_eq!(status("/api/v1/gaps", Some(TOKEN)).0, 200);
    assert_eq!(status("/", Some(TOKEN)).0, 200);
    let unknown = status(&format!("/api/v1/streams/{topic}/0/nobody"), Some(TOKEN));
    assert_eq!(unknown.0, 404, "{}", unknown.1);
    // Scrapers and probes need no token.
    assert_eq!(status("/metrics", None).0, 200);
    assert_eq!(status("/healthz", None).0, 200);
    assert_eq!(status("/readyz", None).0, 200);
    let retry = client
        .post(gw.url("/api/v1/alerts/x/retry"))
        .send()
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(retry, 401);

    let checked = gapwatch(&["check-config", "--config", gw.config.to_str().unwrap()]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let shown = format!(
        "{}{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr),
        gw.log_text()
    );
    for secret in [TOKEN, SASL_PASSWORD, WEBHOOK_SECRET, "inline-url-token"] {
        assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
    }
    assert!(
        shown.contains("<redacted>"),
        "check-config shows that a secret is set"
    );
}

#[test]
fn bad_api_parameters_are_400s_that_name_the_parameter() {
    let topic = fresh_topic("params");
    create_topic(&topic, 1);
    let gw = Gapwatch::start(&topic, "");
    gw.wait_ready(Duration::from_secs(60));
    for (path, param) in [
        ("/api/v1/gaps?limit=0", "limit"),
        ("/api/v1/gaps?limit=100000", "limit"),
        ("/api/v1/gaps?status=lost", "status"),
        ("/api/v1/gaps?partition=-1", "partition"),
        ("/api/v1/gaps?since=yesterday", "since"),
        ("/api/v1/gaps?cursor=zz", "cursor"),
        ("/api/v1/gaps?colour=blue", "colour"),
        ("/api/v1/streams/t/x/p", "partition"),
        ("/api/v1/messages/t/0/p/0", "seq"),
        ("/api/v1/streams/t/0/p/missing?format=xml", "format"),
        ("/api/v1/alerts?status=lost", "status"),
    ] {
        let (code, body) = gw.get(path).unwrap();
        assert_eq!(code, 400, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["parameter"], param, "{path}: {body}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
}
