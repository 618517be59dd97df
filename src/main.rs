use std::process::ExitCode;

use clap::Parser;
use gapwatch::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GAPWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Loadgen(args) => gapwatch::loadgen::run(&args).map(|summary| {
            let t = &summary.truth;
            println!(
                "loadgen: sent {} messages ({} acknowledged, {} malformed) to '{}' in {:.2}s: {:.0} msg/s",
                t.sent,
                t.acked,
                t.malformed_total(),
                t.topic,
                summary.elapsed.as_secs_f64(),
                summary.rate()
            );
        }),
        Command::Run { .. } | Command::CheckConfig { .. } => {
            Err(anyhow::anyhow!("this build of gapwatch has no auditing service yet"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gapwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}
