//! The `warden` binary: parses the command line and hands over to the library. Nothing else.

use clap::Parser;
use warden::config::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    warden::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => warden::serve(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warden: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
