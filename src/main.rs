use std::process::ExitCode;

use clap::Parser;
use gapwatch::cli::{Cli, Command};
use gapwatch::config::Config;

fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GAPWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Run(c) => match Config::load(&c.config) {
            Ok(config) => gapwatch::run::run(config),
            Err(e) => Err(e.into()),
        },
        Command::CheckConfig(c) => Config::load(&c.config).map(|config| {
            print!("{}", config.summary());
            println!("{}: ok", c.config.display());
        }).map_err(Into::into),
        Command::Readback(args) => gapwatch::readback::main(&args),
        Command::Gaps(args) => gapwatch::gaps_cmd::run(&args).map(|out| print!("{out}")),
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gapwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}
