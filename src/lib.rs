//! gapwatch proves, message by message, that nothing was lost on the way
//! through Apache Kafka.

pub mod alert;
pub mod api;
pub mod audit;
pub mod cli;
pub mod config;
pub mod consumer;
pub mod contract;
pub mod engine;
pub mod extract;
pub mod gaps_cmd;
pub mod kafka;
pub mod loadgen;
pub mod metrics;
pub mod readback;
pub mod run;
pub mod store;
pub mod truth;
