//! The `warden` binary: tunes the allocator, builds the runtime, parses the command line and hands over
//! to the library. Nothing else.

// Production code never panics on a failed `expect` (tests may: `clippy.toml` allows it there).
#![cfg_attr(not(test), deny(clippy::expect_used))]

use warden::config::{Cli, Command};
use warden::config_file::ConfigError;

fn main() -> std::process::ExitCode {
    // Before any thread exists (the runtime's included), so every thread shares the capped arenas.
    warden::runtime::tune_allocator();
    warden::telemetry::init();
    // Flags > environment > `--config` file > defaults (server/src/config_file.rs).
    let loaded = match warden::config_file::load(std::env::args_os().collect()) {
        Ok(loaded) => loaded,
        Err(ConfigError::Usage(e)) => e.exit(),
        Err(e) => {
            eprintln!("warden: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Command::Serve(args) = &loaded.cli.command {
        if args.print_config {
            print!("{}", loaded.values_description());
            return std::process::ExitCode::SUCCESS;
        }
    }
    let cli = loaded.cli;
    let runtime = match warden::runtime::build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("warden: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Client(command) => return Ok(Some(warden::cli::run(command).await)),
            Command::Completions { shell } => {
                let mut command = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut command, "warden", &mut std::io::stdout());
                Ok(())
            }
            Command::Manpages { dir } => {
                let command = <Cli as clap::CommandFactory>::command();
                std::fs::create_dir_all(&dir)
                    .and_then(|()| clap_mangen::generate_to(command, &dir))
                    .map_err(|e| {
                        anyhow::anyhow!("cannot write the man pages to {}: {e}", dir.display())
                    })
            }
            Command::Serve(args) => warden::serve(*args).await,
            Command::ServerFns {
                read_only,
                own_account,
            } => {
                for (method, path) in warden::http::server_fn_endpoints() {
                    let listed = (!read_only || app::rpc::is_read_only_endpoint(&path))
                        && (!own_account || app::rpc::is_own_account_endpoint(&path));
                    if listed {
                        println!("{method} {path}");
                    }
                }
                Ok(())
            }
            Command::Admin(command) => warden::admin_cli::run(command).await,
            Command::Restore { file, data_dir } => {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
                let restored = warden::backup::restore(&text, &data_dir).await?;
                println!(
                    "restored {} records in {} trees (backup of {}) into {}",
                    restored.records,
                    restored.trees,
                    restored.created_at,
                    data_dir.display()
                );
                Ok(())
            }
            Command::Openapi => warden::http::openapi::document()
                .to_pretty_json()
                .map(|json| println!("{json}"))
                .map_err(anyhow::Error::from),
        }
        .map(|()| None)
    });
    match result {
        Ok(Some(code)) => code,
        Ok(None) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warden: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
