//! The `warden` binary: parses the command line and hands over to the library. Nothing else.

use clap::Parser;
use warden::config::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    warden::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => warden::serve(args).await,
        Command::ServerFns => {
            for (method, path) in warden::http::server_fn_endpoints() {
                println!("{method} {path}");
            }
            Ok(())
        }
        Command::Openapi => warden::http::openapi::document()
            .to_pretty_json()
            .map(|json| println!("{json}"))
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warden: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
