//! The configuration file as written: plain values, before validation.
//! Every field is optional here so that validation can report every missing
//! or malformed value at once, with its path.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct RawKafka {
    pub bootstrap_servers: Option<String>,
    pub group_id: Option<String>,
    pub start_offset: Option<String>,
    #[serde(default)]
    pub options: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAudit {
    pub topics: Option<Vec<String>>,
    pub source: Option<String>,
    pub producer_header: Option<String>,
    pub sequence_header: Option<String>,
    pub epoch_header: Option<String>,
    pub key_regex: Option<String>,
    pub json_producer: Option<String>,
    pub json_sequence: Option<String>,
    pub json_epoch: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawDetection {
    pub confirm_after: Option<String>,
    pub truncation_window: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawState {
    pub dir: Option<String>,
    pub flush_interval: Option<String>,
    pub flush_max_messages: Option<u64>,
    pub retention: Option<String>,
    pub idle_after: Option<String>,
    pub max_streams_in_memory: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawHttp {
    pub listen: Option<String>,
    pub auth_token: Option<String>,
    pub public_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAlert {
    pub group_window: Option<String>,
    pub group_max: Option<u64>,
    pub max_age: Option<String>,
    #[serde(default)]
    pub webhook: Vec<toml::Value>,
    #[serde(default)]
    pub alertmanager: Vec<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawWebhook {
    pub url: Option<String>,
    pub secret: Option<String>,
    pub timeout: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub events: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAlertmanager {
    pub urls: Option<Vec<String>>,
    pub severity: Option<String>,
    pub resend_interval: Option<String>,
    pub timeout: Option<String>,
}
