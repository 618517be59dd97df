//! `GET /` and `/ui`: a plain, fast, server-rendered page of the current
//! gaps for the person who was paged. Alert links land here.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::params::{Params, rfc3339};
use super::{ApiError, AppState, blocking};
use crate::store::{Filter, GapRecord};

/// Most gaps listed on one page.
const PAGE_GAPS: usize = 500;
/// Missing IDs spelled out per gap.
const IDS_SHOWN: u64 = 5;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub async fn gaps_page(
    State(s): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    match render(s, q).await {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            let status = e.status;
            let body = format!(
                "<!doctype html><meta charset=utf-8><title>gapwatch</title><p>{}</p>",
                esc(&e.message)
            );
            (status, Html(body)).into_response()
        }
    }
}

async fn render(s: AppState, mut q: Vec<(String, String)>) -> Result<String, ApiError> {
    // The page's filter form sends its empty fields too.
    q.retain(|(_, v)| !v.is_empty());
    let p = Params::new(q, &["topic", "partition", "producer", "status"])?;
    let topic = p.string("topic");
    let partition = p.partition("partition")?;
    let producer = p.string("producer");
    let status_text = p
        .string("status")
        .unwrap_or_else(|| "open,confirmed".to_owned());
    let statuses = super::gaps::statuses(&p)?;
    let filter = Filter {
        topic: topic.clone(),
        partition,
        producer: producer.clone(),
    };
    let store = s.store.clone();
    let page = blocking(move || Ok(store.gaps(&filter, &statuses, None, PAGE_GAPS, None)?)).await?;

    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>gapwatch: missing messages</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#111}}
table{{border-collapse:collapse;width:100%}}th,td{{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}}
th{{background:#f4f4f4}}td.num{{text-align:right;font-variant-numeric:tabular-nums}}
.confirmed{{color:#b00020;font-weight:600}}.open{{color:#a15c00}}.healed{{color:#1b6e20}}
form{{margin:1rem 0}}input,select{{margin-right:.5rem}}code{{font-size:12px}}
</style></head><body>
<h1>Missing messages</h1>
<form method="get" action="/">
<label>topic <input name="topic" value="{}"></label>
<label>partition <input name="partition" size="4" value="{}"></label>
<label>producer <input name="producer" value="{}"></label>
<label>status <select name="status">"#,
        esc(topic.as_deref().unwrap_or("")),
        partition.map(|p| p.to_string()).unwrap_or_default(),
        esc(producer.as_deref().unwrap_or("")),
    );
    for opt in [
        "open,confirmed",
        "confirmed",
        "open",
        "healed",
        "open,confirmed,healed",
    ] {
        let sel = if opt == status_text { " selected" } else { "" };
        let _ = write!(h, r#"<option value="{opt}"{sel}>{opt}</option>"#);
    }
    let total: u64 = page.items.iter().map(|g| g.gap.count()).sum();
    let _ = write!(
        h,
        r#"</select></label><button type="submit">show</button></form>
<p id="summary">{} gaps, {} messages missing{}</p>
<table id="gaps"><thead><tr><th>topic</th><th>partition</th><th>producer</th><th>epoch</th><th>missing</th><th>count</th><th>status</th><th>missing IDs</th><th>offset before</th><th>offset after</th><th>detected</th><th>confirmed</th></tr></thead><tbody>
"#,
        page.items.len(),
        total,
        if page.next.is_some() {
            format!(" (first {PAGE_GAPS} shown)")
        } else {
            String::new()
        }
    );
    for GapRecord {
        stream,
        gap,
        healed_at_ms,
    } in &page.items
    {
        let status = if healed_at_ms.is_some() {
            "healed"
        } else {
            match gap.status {
                crate::engine::GapStatus::Open => "open",
                crate::engine::GapStatus::Confirmed => "confirmed",
            }
        };
        let range = if gap.first == gap.last {
            gap.first.to_string()
        } else {
            format!("{}–{}", gap.first, gap.last)
        };
        let mut ids: Vec<String> = (gap.first..=gap.last)
            .take(IDS_SHOWN as usize)
            .map(|seq| crate::contract::message_key(&stream.producer, stream.partition, seq))
            .collect();
        if gap.count() > IDS_SHOWN {
            ids.push(format!("… {} more", gap.count() - IDS_SHOWN));
        }
        let _ = writeln!(
            h,
            r#"<tr class="gap" data-topic="{t}" data-partition="{p}" data-producer="{pr}" data-epoch="{e}" data-first="{f}" data-last="{l}" data-status="{status}"><td>{t}</td><td class="num">{p}</td><td>{pr}</td><td class="num">{e}</td><td>{range}</td><td class="num">{c}</td><td class="{status}">{status}</td><td><code>{ids}</code></td><td class="num">{ob}</td><td class="num">{oa}</td><td>{d}</td><td>{conf}</td></tr>"#,
            t = esc(&stream.topic),
            p = stream.partition,
            pr = esc(&stream.producer),
            e = stream.epoch,
            f = gap.first,
            l = gap.last,
            c = gap.count(),
            ids = esc(&ids.join(", ")),
            ob = gap.offset_before.map_or("–".to_owned(), |o| o.to_string()),
            oa = gap.offset_after,
            d = rfc3339(gap.detected_at_ms),
            conf = gap.confirmed_at_ms.map(rfc3339).unwrap_or_default(),
        );
    }
    let _ = write!(
        h,
        r#"</tbody></table>
<p>The same as JSON: <a href="/api/v1/gaps">/api/v1/gaps</a>. Metrics: <a href="/metrics">/metrics</a>. Served by gapwatch {}.</p>
</body></html>
"#,
        env!("CARGO_PKG_VERSION")
    );
    if s.public_url.is_empty() {
        return Err(ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            parameter: None,
            message: "no public URL".into(),
        });
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}
