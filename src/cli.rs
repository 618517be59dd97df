//! The command line: one binary, one subcommand per job.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::loadgen::LoadgenArgs;

#[derive(Parser, Debug)]
#[command(
    name = "gapwatch",
    version,
    about = "Audit Kafka topics for lost messages, message by message",
    long_about = "gapwatch consumes audited Kafka topics, tracks the next expected sequence of \
every (topic, partition, producer) stream, and says exactly which messages are missing."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the auditing service.
    Run {
        /// Configuration file (TOML).
        #[arg(
            short,
            long,
            env = "GAPWATCH_CONFIG",
            default_value = "config/gapwatch.toml"
        )]
        config: PathBuf,
    },
    /// Produce stamped test traffic with injected faults and write its ground truth.
    Loadgen(LoadgenArgs),
    /// Validate a configuration file and print every problem found.
    CheckConfig {
        /// Configuration file (TOML).
        #[arg(
            short,
            long,
            env = "GAPWATCH_CONFIG",
            default_value = "config/gapwatch.toml"
        )]
        config: PathBuf,
    },
}
