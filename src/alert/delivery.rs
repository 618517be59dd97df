//! A notification and its delivery state, as stored in the `alerts` family.

use serde::{Deserialize, Serialize};

use crate::config::AlertKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// Stable across retries: receivers deduplicate on it.
    pub id: String,
    /// Index of the webhook in the configuration.
    pub target: usize,
    /// The webhook's scheme, host and port (never its path or query).
    pub target_origin: String,
    pub event: AlertKind,
    pub topic: String,
    pub partition: i32,
    pub gaps: usize,
    pub missing_messages: u64,
    /// The exact JSON body sent on every attempt.
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub created_ms: u64,
    pub next_attempt_ms: u64,
    pub delivered_ms: Option<u64>,
    pub last_error: Option<String>,
}
