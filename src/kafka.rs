//! librdkafka client configuration shared by every gapwatch command.

use rdkafka::ClientConfig;

/// Parses a `key=value` librdkafka option given on the command line.
pub fn parse_option(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!(
            "expected a librdkafka option as key=value, got '{}'",
            redact_option_text(s)
        )),
    }
}

/// True for librdkafka properties whose values must never be printed.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "sasl.oauthbearer.config",
        "ssl.key.pem",
        "ssl_key",
        "key.pem",
        "credentials",
    ]
    .iter()
    .any(|s| k.contains(s))
}

fn redact_option_text(s: &str) -> String {
    match s.split_once('=') {
        Some((k, _)) if is_secret_key(k) => format!("{k}=<redacted>"),
        _ => s.to_owned(),
    }
}

/// A client configuration: gapwatch's defaults first, then the user's
/// options, which win.
pub fn client_config(
    bootstrap_servers: &str,
    defaults: &[(&str, &str)],
    options: &[(String, String)],
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    for (k, v) in defaults {
        config.set(*k, *v);
    }
    for (k, v) in options {
        config.set(k, v);
    }
    config
}

/// The leader epoch of the batch a consumed message came in (-1 when the
/// broker did not say). A later epoch at an offset already read means the
/// log was truncated and rewritten there.
pub fn leader_epoch(msg: &rdkafka::message::BorrowedMessage<'_>) -> i32 {
    // SAFETY: `msg.ptr()` is the live librdkafka message `msg` borrows; the
    // call only reads a field of it.
    unsafe { rdkafka::bindings::rd_kafka_message_leader_epoch(msg.ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_secrets_are_redacted_in_errors() {
        assert_eq!(
            parse_option("compression.type=zstd"),
            Ok(("compression.type".into(), "zstd".into()))
        );
        assert_eq!(parse_option("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_option("=x").is_err());
        let err = parse_option("novalue").unwrap_err();
        assert!(err.contains("novalue"));
        assert!(is_secret_key("sasl.password"));
        assert!(is_secret_key("ssl.key.password"));
        assert!(!is_secret_key("bootstrap.servers"));
    }

    #[test]
    fn user_options_override_defaults() {
        let c = client_config(
            "127.0.0.1:9092",
            &[("acks", "1")],
            &[("acks".into(), "all".into())],
        );
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    }
}
