use std::collections::BTreeMap;

use super::*;

fn parse(text: &str) -> Result<Config, Vec<String>> {
    Config::parse(text, &BTreeMap::new())
}

const MINIMAL: &str =
    "[kafka]\nbootstrap_servers = \"127.0.0.1:9092\"\n[[audit]]\ntopics = [\"orders\"]\n";

#[test]
fn the_shipped_example_is_valid() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/gapwatch.toml"))
            .unwrap();
    let c = parse(&text).expect("config/gapwatch.toml is valid");
    assert_eq!(c.kafka.group_id, "gapwatch");
    assert_eq!(c.detection.confirm_after, Duration::from_secs(30));
    assert!(c.audit[0].topics[1].matches("payments.eu"));
    assert!(!c.audit[0].topics[1].matches("orders.eu"));
}

#[test]
fn a_minimal_file_gets_documented_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:9477");
    assert_eq!(c.state.dir, PathBuf::from("./data"));
    assert_eq!(c.kafka.start_offset, StartOffset::Earliest);
    match &c.audit[0].source {
        Source::Headers {
            producer,
            sequence,
            epoch,
        } => assert_eq!(
            (producer.as_str(), sequence.as_str(), epoch.as_str()),
            ("x-producer-id", "x-seq", "x-producer-epoch")
        ),
        other => panic!("default source is headers, got {other:?}"),
    }
}

#[test]
fn every_problem_is_reported_at_once_with_its_path() {
    let text = r#"
[kafka]
bootstrap_server = "typo"
[kafka.options]
"no.such.property" = "1"
[[audit]]
topics = ["re:(unclosed"]
[[audit]]
source = "key"
key_regex = "^(?P<producer>.+)$"
[detection]
confirm_after = "soon"
[state]
flush_max_messages = 0
[http]
listen = "nowhere"
[extra]
"#;
    let problems = parse(text).unwrap_err();
    let expect = [
        "extra: unknown key",
        "kafka.bootstrap_server: unknown key (did you mean 'bootstrap_servers'?)",
        "kafka.bootstrap_servers: required",
        "kafka.options.no.such.property:",
        "audit[0].topics[0]: bad regex",
        "audit[1].topics: required",
        "audit[1].key_regex: needs a named group (?P<seq>...)",
        "detection.confirm_after: 'soon' is not a duration",
        "state.flush_max_messages: must be at least 1",
        "http.listen: 'nowhere' is not an address",
    ];
    for e in expect {
        assert!(
            problems.iter().any(|p| p.starts_with(e)),
            "missing problem '{e}' in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expect.len(), "{problems:#?}");
}

#[test]
fn type_errors_name_the_section() {
    let problems = parse(
        "[kafka]\nbootstrap_servers = 5\n[[audit]]\ntopics = [\"a\"]\n[state]\nflush_max_messages = \"x\"\n",
    )
    .unwrap_err();
    assert!(
        problems.iter().any(|p| p.starts_with("kafka:")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("state:")),
        "{problems:?}"
    );
}

#[test]
fn no_audit_rule_is_an_error() {
    let problems = parse("[kafka]\nbootstrap_servers = \"a:1\"\n").unwrap_err();
    assert_eq!(
        problems,
        vec!["audit: at least one [[audit]] rule is required"]
    );
}

#[test]
fn bad_toml_says_where() {
    let problems = parse("[kafka\n").unwrap_err();
    assert!(problems[0].starts_with("not valid TOML"), "{problems:?}");
}

#[test]
fn environment_overrides_win_over_the_file() {
    let env = BTreeMap::from([
        (
            "GAPWATCH_KAFKA__BOOTSTRAP_SERVERS".to_owned(),
            "10.0.0.1:9092".to_owned(),
        ),
        (
            "GAPWATCH_DETECTION__CONFIRM_AFTER".to_owned(),
            "2m".to_owned(),
        ),
        ("GAPWATCH_HTTP__AUTH_TOKEN".to_owned(), "t0ken".to_owned()),
    ]);
    let c = Config::parse(MINIMAL, &env).unwrap();
    assert_eq!(c.kafka.bootstrap_servers, "10.0.0.1:9092");
    assert_eq!(c.detection.confirm_after, Duration::from_secs(120));
    assert_eq!(
        c.http.auth_token.as_ref().map(Secret::expose),
        Some("t0ken")
    );
}

#[test]
fn secrets_never_print() {
    let text = format!(
        "{MINIMAL}[kafka.options]\n\"sasl.password\" = \"hunter2\"\n[http]\nauth_token = \"tok-123\"\n"
    );
    let c = parse(&text).unwrap();
    let shown = format!("{}{:?}", c.summary(), c);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("tok-123"), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[test]
fn key_and_json_sources_validate_their_fields() {
    let text = format!(
        "{MINIMAL}[[audit]]\ntopics = [\"k\"]\nsource = \"key\"\nkey_regex = '^(?P<producer>.+)-Partition\\d+-(?P<seq>\\d+)$'\n\
         [[audit]]\ntopics = [\"j\"]\nsource = \"json\"\njson_producer = \"/p\"\njson_sequence = \"/s\"\n"
    );
    let c = parse(&text).unwrap();
    assert!(matches!(c.audit[1].source, Source::Key(_)));
    assert!(matches!(c.audit[2].source, Source::Json { .. }));
    let bad =
        format!("{MINIMAL}[[audit]]\ntopics = [\"j\"]\nsource = \"json\"\njson_producer = \"p\"\n");
    let problems = parse(&bad).unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains("is not a JSON pointer")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("needs json_producer and json_sequence"))
    );
}

#[test]
fn alert_targets_validate_and_hide_their_secrets() {
    let text = format!(
        "{MINIMAL}[alert]\ngroup_window = \"2s\"\n[[alert.webhook]]\nurl = \"https://hooks.example.com/x\"\nsecret = \"whsec-1\"\n\
         events = [\"gap_confirmed\", \"gap_opened\"]\n[alert.webhook.headers]\n\"X-Api-Key\" = \"key-42\"\n\
         [[alert.alertmanager]]\nurls = [\"http://user:pw@127.0.0.1:9093\", \"http://127.0.0.1:9094\"]\n"
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.alert.group_window, Duration::from_secs(2));
    assert_eq!(
        c.alert.webhooks[0].events,
        vec![AlertKind::GapConfirmed, AlertKind::GapOpened]
    );
    assert_eq!(c.alert.alertmanagers[0].urls.len(), 2);
    let shown = format!("{}{:?}", c.summary(), c);
    for secret in ["whsec-1", "key-42", "user:pw", "/x"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    let bad = format!(
        "{MINIMAL}[[alert.webhook]]\nurl = \"ftp://x\"\n[[alert.webhook]]\nurl = \"http://x\"\nevents = [\"gap_exploded\"]\n\
         [[alert.alertmanager]]\nseverity = \"page\"\n"
    );
    let problems = parse(&bad).unwrap_err();
    for p in [
        "alert.webhook[0].url: 'ftp://x' is not an http:// or https:// URL",
        "alert.webhook[1].events: 'gap_exploded'",
        "alert.alertmanager[0].urls: at least one",
    ] {
        assert!(
            problems.iter().any(|x| x.starts_with(p)),
            "{p} in {problems:#?}"
        );
    }
}

#[test]
fn public_url_defaults_to_the_listen_address() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.http.public_url, "http://127.0.0.1:9477");
    assert_eq!(
        redact_url("http://a:b@host:1/x"),
        "http://<redacted>@host:1/x"
    );
    assert_eq!(redact_url("http://host/x@y"), "http://host/x@y");
}

#[test]
fn options_gapwatch_manages_itself_are_refused_with_the_reason() {
    let problems = parse(
        "[kafka]\nbootstrap_servers = \"b:9092\"\n[kafka.options]\n\"auto.offset.reset\" = \"earliest\"\n\
         \"enable.auto.commit\" = true\n[[audit]]\ntopics = [\"a\"]\n",
    )
    .unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("kafka.options.auto.offset.reset: gapwatch manages this itself")
    );
    assert!(problems[1].starts_with("kafka.options.enable.auto.commit: gapwatch manages"));
}
