//! The command line: one binary, one subcommand per job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::loadgen::LoadgenArgs;

#[derive(Parser, Debug)]
#[command(
    name = "gapwatch",
    version,
    about = "Audit Kafka topics for lost messages, message by message",
    long_about = "gapwatch consumes audited Kafka topics, tracks the next expected sequence of \
every (topic, partition, producer) stream in RocksDB, and says exactly which messages are missing: \
as Prometheus metrics, in logs, and through an HTTP API.\n\n\
Every configuration key can also be set in the environment as GAPWATCH_<SECTION>__<KEY>, \
e.g. GAPWATCH_KAFKA__BOOTSTRAP_SERVERS=broker:9092. Log level: GAPWATCH_LOG (e.g. info, debug)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// Configuration file (TOML).
    #[arg(
        short,
        long,
        env = "GAPWATCH_CONFIG",
        default_value = "config/gapwatch.toml"
    )]
    pub config: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the auditing service.
    Run(ConfigArg),
    /// Validate a configuration file (with environment overrides) and print every problem found.
    CheckConfig(ConfigArg),
    /// Show the gaps a running gapwatch has found, as a table.
    Gaps(GapsArgs),
    /// Produce stamped test traffic with injected faults and write its ground truth.
    Loadgen(LoadgenArgs),
    /// Read a topic back from its first offset and list, per stream, the
    /// sequence numbers it holds (the ground truth of the loss lab).
    Readback(crate::readback::ReadbackArgs),
}

#[derive(Args, Debug, Clone)]
pub struct GapsArgs {
    /// Base URL of a running gapwatch.
    #[arg(long, env = "GAPWATCH_URL", default_value = "http://127.0.0.1:9477")]
    pub url: String,
    /// Bearer token, when the server sets http.auth_token.
    #[arg(long, env = "GAPWATCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[arg(long)]
    pub topic: Option<String>,
    #[arg(long)]
    pub partition: Option<i32>,
    #[arg(long)]
    pub producer: Option<String>,
    /// open, confirmed, healed, or a comma-separated list (default: open,confirmed).
    #[arg(long)]
    pub status: Option<String>,
    /// Only gaps detected since this RFC 3339 time or this long ago (e.g. 1h).
    #[arg(long)]
    pub since: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}
