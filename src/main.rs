use std::process::ExitCode;

use clap::Parser;

use accord::cli::{Cli, run};
use accord::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("accord: bad setting {error}");
            return ExitCode::from(2);
        }
    };
    accord::telemetry::init(&config.log_filter, config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("accord: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // actix-web needs a LocalSet for its workers' spawn_local; `serve` runs inside one.
    let local = tokio::task::LocalSet::new();
    match local.block_on(&runtime, run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, even when a cause (a libpq message) spans several.
            eprintln!(
                "accord: error: {}",
                format!("{error:#}")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            ExitCode::FAILURE
        }
    }
}
