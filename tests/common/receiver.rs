//! An HTTP receiver for webhook and Alertmanager deliveries, run by a test.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

#[derive(Clone, Default)]
struct Shared {
    requests: Arc<Mutex<Vec<Request>>>,
    /// The status to answer with (200 unless a test changes it).
    status: Arc<AtomicU16>,
    /// Keep requests waiting (recorded with status 0: never answered).
    hold: Arc<AtomicBool>,
}

pub struct Receiver {
    pub port: u16,
    shared: Shared,
    _runtime: tokio::runtime::Runtime,
}

async fn record(
    State(s): State<Shared>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let hold = s.hold.load(Ordering::SeqCst);
    let status = if hold {
        0
    } else {
        s.status.load(Ordering::SeqCst)
    };
    s.requests.lock().unwrap().push(Request {
        path: format!("/{path}"),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
        answered: status,
    });
    if hold {
        // Longer than any sender waits: the request stays in flight.
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        return StatusCode::OK;
    }
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    /// Listens on `port` (0: any free port) of loopback.
    pub fn start(port: u16) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Shared {
            requests: Default::default(),
            status: Arc::new(AtomicU16::new(200)),
            hold: Arc::new(AtomicBool::new(false)),
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .expect("bind the receiver");
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .route("/{*path}", post(record))
            .with_state(shared.clone());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            port,
            shared,
            _runtime: runtime,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn answer_with(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Keeps every request waiting, unanswered, while set.
    pub fn hold(&self, on: bool) {
        self.shared.hold.store(on, Ordering::SeqCst);
    }

    pub fn requests(&self, path: &str) -> Vec<Request> {
        self.shared
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

/// Checks gapwatch's webhook signature as a receiver would.
pub fn signature_ok(r: &Request, secret: &[u8]) -> bool {
    use hmac::{Hmac, KeyInit, Mac};
    let (Some(ts), Some(sig)) = (
        r.header("x-gapwatch-timestamp"),
        r.header("x-gapwatch-signature"),
    ) else {
        return false;
    };
    let Some(hex) = sig.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fresh = ts.parse::<u64>().is_ok_and(|t| now.abs_diff(t) < 300);
    fresh && mac.verify_slice(&given).is_ok()
}
