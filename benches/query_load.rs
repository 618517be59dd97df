//! Query latency under load: sends API requests on a fixed timetable (open
//! loop: a slow answer does not delay the next request, and latency counts
//! from when a request was due, so a stalled server is not hidden) and
//! prints one JSON object of percentiles per endpoint.
//!
//! usage: query_load URL TOPIC PARTITIONS PRODUCERS [RATE] [SECONDS]
//!
//! Half the requests are `GET /api/v1/gaps?limit=100`, half
//! `GET /api/v1/messages/TOPIC/P/producer-I/1` for a random I below
//! PRODUCERS, written with `loadgen --one-partition-each` (producer I on
//! partition I mod PARTITIONS). RATE defaults to 500 requests/s, SECONDS to 20.
//! Any answer but 200 counts as an error; the answers are also counted by
//! status (or `timeout`, `connection error`, `body error`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Samples {
    latencies_ms: Vec<f64>,
    statuses: BTreeMap<String, u64>,
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str, default: Option<T>) -> T {
    match (args.get(i), default) {
        (Some(v), _) => v.parse().unwrap_or_else(|_| {
            eprintln!("query_load: {name} '{v}' is not valid");
            std::process::exit(2)
        }),
        (None, Some(d)) => d,
        (None, None) => {
            eprintln!("usage: query_load URL TOPIC PARTITIONS PRODUCERS [RATE] [SECONDS]");
            std::process::exit(2)
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(s: &Samples) -> serde_json::Value {
    let mut l = s.latencies_ms.clone();
    l.sort_by(f64::total_cmp);
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    let ok = s.statuses.get("200").copied().unwrap_or(0);
    serde_json::json!({
        "count": l.len(),
        "errors": l.len() as u64 - ok,
        "statuses": s.statuses,
        "p50_ms": round(percentile(&l, 0.50)),
        "p90_ms": round(percentile(&l, 0.90)),
        "p99_ms": round(percentile(&l, 0.99)),
        "max_ms": round(l.last().copied().unwrap_or(0.0)),
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url: String = arg(&args, 1, "URL", None);
    if !matches!(reqwest::Url::parse(&url), Ok(u) if u.scheme() == "http" || u.scheme() == "https")
    {
        eprintln!("query_load: URL '{url}' is not an http:// or https:// URL");
        std::process::exit(2);
    }
    let url = url.trim_end_matches('/').to_owned();
    let topic: String = arg(&args, 2, "TOPIC", None);
    let partitions: u64 = arg(&args, 3, "PARTITIONS", None);
    let producers: u64 = arg(&args, 4, "PRODUCERS", None);
    let rate: u64 = arg(&args, 5, "RATE", Some(500));
    let seconds: u64 = arg(&args, 6, "SECONDS", Some(20));
    if partitions == 0 || producers == 0 || rate == 0 || seconds == 0 {
        eprintln!("query_load: PARTITIONS, PRODUCERS, RATE and SECONDS must be above 0");
        std::process::exit(2);
    }
    // Every request is kept until the end: bound what that costs.
    let Some(total) = rate.checked_mul(seconds).filter(|&t| t <= 10_000_000) else {
        eprintln!("query_load: RATE x SECONDS must be at most 10,000,000 requests");
        std::process::exit(2);
    };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(256)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("query_load: cannot create an HTTP client: {e}");
            std::process::exit(1);
        }
    };
    let results: Arc<Mutex<BTreeMap<&'static str, Samples>>> = Arc::default();
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let (endpoint, target) = if i % 2 == 0 {
            ("gaps", format!("{url}/api/v1/gaps?limit=100"))
        } else {
            // xorshift64: a spread of streams, the same every run.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let producer = rng % producers;
            let partition = producer % partitions;
            (
                "messages",
                format!("{url}/api/v1/messages/{topic}/{partition}/producer-{producer}/1"),
            )
        };
        let (client, results) = (client.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            let status = match client.get(&target).send().await {
                Ok(r) => {
                    let code = r.status().as_u16().to_string();
                    match r.bytes().await {
                        Ok(_) => code,
                        Err(_) => "body error".to_owned(),
                    }
                }
                Err(e) if e.is_timeout() => "timeout".to_owned(),
                Err(_) => "connection error".to_owned(),
            };
            let ms = due.elapsed().as_secs_f64() * 1000.0;
            let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
            let s = r.entry(endpoint).or_default();
            s.latencies_ms.push(ms);
            *s.statuses.entry(status).or_default() += 1;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let r = results.lock().unwrap_or_else(|e| e.into_inner());
    let endpoints: BTreeMap<&str, serde_json::Value> =
        r.iter().map(|(k, v)| (*k, summary(v))).collect();
    println!(
        "{}",
        serde_json::json!({
            "rate": rate,
            "seconds": seconds,
            "achieved_rps": (total as f64 / elapsed * 10.0).round() / 10.0,
            "endpoints": endpoints,
        })
    );
}
