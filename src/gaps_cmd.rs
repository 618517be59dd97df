//! `gapwatch gaps`: the API's gap listing as a table for a person.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::cli::GapsArgs;

#[derive(Deserialize, serde::Serialize)]
struct Gap {
    topic: String,
    partition: i32,
    producer: String,
    epoch: u64,
    first_seq: u64,
    last_seq: u64,
    count: u64,
    status: String,
    detected_at: String,
    offset_before: Option<i64>,
    offset_after: i64,
}

#[derive(Deserialize)]
struct Page {
    gaps: Vec<Gap>,
    next_cursor: Option<String>,
}

/// Fetches every page and renders it.
pub fn run(args: &GapsArgs) -> anyhow::Result<String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let base = format!("{}/api/v1/gaps", args.url.trim_end_matches('/'));
    let mut gaps = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query: Vec<(&str, String)> = vec![("limit", "1000".into())];
        let opt = |q: &mut Vec<(&str, String)>, k, v: &Option<String>| {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        };
        opt(&mut query, "topic", &args.topic);
        opt(
            &mut query,
            "partition",
            &args.partition.map(|p| p.to_string()),
        );
        opt(&mut query, "producer", &args.producer);
        opt(&mut query, "status", &args.status);
        opt(&mut query, "since", &args.since);
        opt(&mut query, "cursor", &cursor);
        let mut req = client.get(&base).query(&query);
        if let Some(t) = &args.token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .with_context(|| format!("cannot reach gapwatch at {}", args.url))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().unwrap_or_default();
            let msg = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or(body);
            bail!("gapwatch answered {status}: {msg}");
        }
        let page: Page = resp
            .json()
            .context("gapwatch's answer is not a gap listing")?;
        gaps.extend(page.gaps);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if args.json {
        return Ok(serde_json::to_string_pretty(&gaps)? + "\n");
    }
    Ok(table(&gaps))
}

fn table(gaps: &[Gap]) -> String {
    if gaps.is_empty() {
        return "no gaps\n".to_owned();
    }
    let header = [
        "TOPIC",
        "PARTITION",
        "PRODUCER",
        "EPOCH",
        "MISSING",
        "COUNT",
        "STATUS",
        "OFFSETS",
        "DETECTED",
    ];
    let rows: Vec<[String; 9]> = gaps
        .iter()
        .map(|g| {
            let missing = if g.first_seq == g.last_seq {
                g.first_seq.to_string()
            } else {
                format!("{}-{}", g.first_seq, g.last_seq)
            };
            let before = g
                .offset_before
                .map_or("start".to_owned(), |o| o.to_string());
            [
                g.topic.clone(),
                g.partition.to_string(),
                g.producer.clone(),
                g.epoch.to_string(),
                missing,
                g.count.to_string(),
                g.status.clone(),
                format!("{before}..{}", g.offset_after),
                g.detected_at.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&header);
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        line(&cells);
    }
    let total: u64 = gaps.iter().map(|g| g.count).sum();
    let _ = writeln!(out, "\n{} gaps, {total} messages missing", gaps.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_and_totals() {
        let g = |first, last, status: &str| Gap {
            topic: "orders".into(),
            partition: 2,
            producer: "producer-1".into(),
            epoch: 1,
            first_seq: first,
            last_seq: last,
            count: last - first + 1,
            status: status.into(),
            detected_at: "2026-01-01T00:00:00.000Z".into(),
            offset_before: if first == 1 { None } else { Some(10) },
            offset_after: 11,
        };
        let t = table(&[g(1, 1, "open"), g(100, 105, "confirmed")]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("TOPIC   PARTITION  PRODUCER"));
        assert!(lines[1].contains("start..11"));
        assert!(lines[2].contains("100-105") && lines[2].contains("confirmed"));
        assert!(t.ends_with("2 gaps, 7 messages missing\n"));
        assert_eq!(table(&[]), "no gaps\n");
    }
}
