//! Environment overrides: `GAPWATCH_SECTION__KEY=value` sets `section.key`.
//!
//! Path segments are separated by a double underscore and lowercased; a
//! numeric segment indexes an array (`GAPWATCH_AUDIT__0__TOPICS`). Under
//! `kafka.options`, single underscores become dots, so
//! `GAPWATCH_KAFKA__OPTIONS__SASL_PASSWORD` sets librdkafka's `sasl.password`.
//! A value that parses as TOML (a number, a boolean, an array) is taken as
//! such; anything else is a string.

use std::collections::BTreeMap;

use toml::{Table, Value};

pub const PREFIX: &str = "GAPWATCH_";

/// Applies every override in `env` to `table`; returns a problem per
/// variable that cannot be applied.
pub fn apply(table: &mut Table, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if !rest.contains("__") {
            continue; // GAPWATCH_CONFIG, GAPWATCH_LOG and the like are not keys.
        }
        let mut path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.len() == 3 && path[0] == "kafka" && path[1] == "options" {
            path[2] = path[2].replace('_', ".");
        }
        if path.iter().any(String::is_empty) {
            problems.push(format!("environment variable {name}: empty path segment"));
            continue;
        }
        if let Err(e) = set(table, &path, parse_value(value)) {
            problems.push(format!("environment variable {name}: {e}"));
        }
    }
    problems
}

fn parse_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_owned())),
        Err(_) => Value::String(raw.to_owned()),
    }
}

fn set(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let (head, rest) = path.split_first().expect("non-empty path");
    if rest.is_empty() {
        table.insert(head.clone(), value);
        return Ok(());
    }
    let entry = table.entry(head.clone()).or_insert_with(|| {
        if rest[0].parse::<usize>().is_ok() {
            Value::Array(Vec::new())
        } else {
            Value::Table(Table::new())
        }
    });
    set_in(entry, head, rest, value)
}

fn set_in(node: &mut Value, name: &str, rest: &[String], value: Value) -> Result<(), String> {
    match node {
        Value::Table(t) => set(t, rest, value),
        Value::Array(items) => {
            let index: usize = rest[0]
                .parse()
                .map_err(|_| format!("'{name}' is a list; expected an index, not '{}'", rest[0]))?;
            if index > items.len() {
                return Err(format!(
                    "index {index} skips entries: '{name}' has {} entries",
                    items.len()
                ));
            }
            if index == items.len() {
                items.push(Value::Table(Table::new()));
            }
            if rest.len() == 1 {
                items[index] = value;
                Ok(())
            } else {
                set_in(&mut items[index], &rest[0], &rest[1..], value)
            }
        }
        _ => Err(format!("'{name}' is a value, not a section")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_nested_keys_arrays_and_kafka_options() {
        let mut t: Table = "[kafka]\nbootstrap_servers = \"a:1\"\n[[audit]]\ntopics = [\"x\"]\n"
            .parse()
            .unwrap();
        let problems = apply(
            &mut t,
            &env(&[
                ("GAPWATCH_KAFKA__BOOTSTRAP_SERVERS", "b:2"),
                ("GAPWATCH_KAFKA__OPTIONS__SASL_PASSWORD", "s3cret"),
                ("GAPWATCH_AUDIT__0__TOPICS", "[\"y\", \"z\"]"),
                ("GAPWATCH_AUDIT__1__TOPICS", "[\"w\"]"),
                ("GAPWATCH_STATE__FLUSH_MAX_MESSAGES", "500"),
                ("GAPWATCH_CONFIG", "ignored.toml"),
                ("OTHER__THING", "ignored"),
            ]),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(t["kafka"]["bootstrap_servers"].as_str(), Some("b:2"));
        assert_eq!(
            t["kafka"]["options"]["sasl.password"].as_str(),
            Some("s3cret")
        );
        assert_eq!(t["audit"][0]["topics"][1].as_str(), Some("z"));
        assert_eq!(t["audit"][1]["topics"][0].as_str(), Some("w"));
        assert_eq!(t["state"]["flush_max_messages"].as_integer(), Some(500));
        assert!(!t.contains_key("config"));
    }

    #[test]
    fn impossible_overrides_are_reported() {
        let mut t: Table = "[kafka]\nbootstrap_servers = \"a:1\"\n".parse().unwrap();
        let problems = apply(
            &mut t,
            &env(&[
                ("GAPWATCH_KAFKA__BOOTSTRAP_SERVERS__X", "1"),
                ("GAPWATCH_AUDIT__5__TOPICS", "[]"),
            ]),
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("GAPWATCH_AUDIT__5__TOPICS"));
        assert!(problems[1].contains("is a value, not a section"));
    }
}
