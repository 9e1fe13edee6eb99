//! The `warden` command line for a running Warden: `status`, `services …`, `firewall …`, `tokens …`,
//! `settings …`, plus `completions` and the man page. Every command is a REST call (see [`transport`]):
//! the same authorization, validation and audit as the API. Human output by default ([`render`]), the
//! API's JSON with `--json`. Exit codes: 0 ok, 1 Warden refused or failed, 2 usage, 3 Warden unreachable.

pub mod firewall;
pub mod firewall_view;
pub mod follow;
pub mod import;
pub mod jails;
pub mod jails_view;
pub mod misc;
pub mod render;
pub mod services;
pub mod state;
pub mod transport;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use http::{Method, StatusCode};
use serde_json::Value;

use transport::{Endpoint, Reply};

/// How to reach Warden and how to print; accepted by every client command (before or after it).
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// Warden's URL when it is not on this host (e.g. https://server:8080); needs --token.
    #[arg(long, env = "WARDEN_URL", global = true)]
    pub url: Option<String>,
    /// An API token for --url (Settings → API tokens, or `warden tokens create`).
    /// A token beginning with `-` (older ones may) is still taken as this option's value.
    #[arg(
        long,
        env = "WARDEN_TOKEN",
        global = true,
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub token: Option<String>,
    /// The certificate to trust for an https --url (e.g. Warden's self-signed one); default: the system's.
    #[arg(long, env = "WARDEN_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Warden's Unix socket on this host (root only); default: `<data dir>/warden.sock`.
    #[arg(long, env = "WARDEN_SOCKET", global = true)]
    pub socket: Option<PathBuf>,
    /// Warden's data directory, to find its socket (as for `serve`; default: ./data, or the package's
    /// /run/warden/warden.sock where that exists).
    #[arg(long, env = "WARDEN_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Remote {
    fn endpoint(&self) -> Result<Endpoint, CliError> {
        let socket = crate::socket::locate(self.socket.as_deref(), self.data_dir.as_deref());
        Endpoint::from_options(
            self.url.as_deref(),
            self.token.as_deref(),
            self.ca_cert.as_deref(),
            socket,
        )
    }
}

/// What can go wrong, by exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Warden answered with an error (exit 1).
    #[error("{message}")]
    Refused { status: StatusCode, message: String },
    /// Warden's answer made no sense (exit 1).
    #[error("{0}")]
    Protocol(String),
    /// The command could not do its job (exit 1).
    #[error("{0}")]
    Failed(String),
    /// The command line is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Warden could not be reached (exit 3).
    #[error("{0}")]
    Unreachable(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Refused { .. } | CliError::Protocol(_) | CliError::Failed(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) => 3,
        }
    }
}

/// A connected client: the endpoint and the output mode.
pub struct Client {
    pub endpoint: Endpoint,
    pub json: bool,
}

impl Client {
    /// A request whose answer must be a success; its reply.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, CliError> {
        let reply = self.endpoint.call(method, path, body).await?;
        if reply.status.is_success() {
            return Ok(reply);
        }
        Err(refusal(&reply))
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::GET, path, None).await?.json()
    }

    pub async fn send(&self, method: Method, path: &str, body: &Value) -> Result<Value, CliError> {
        self.call(method, path, Some(body)).await?.json()
    }

    /// Prints `value` as JSON when `--json`, else runs `human`.
    pub fn print(&self, value: &Value, human: impl FnOnce(&Value) -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
            );
        } else {
            let text = human(value);
            if !text.is_empty() {
                anstream::println!("{text}");
            }
        }
    }
}

/// The API's error (`{"error": {"code", "message", "field"}}`, or a field list) as a message.
fn refusal(reply: &Reply) -> CliError {
    let body = reply.json().unwrap_or(Value::Null);
    let error = &body["error"];
    let mut message = error["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("Warden answered {}: {}", reply.status, reply.text().trim()));
    let details = error["details"].as_array().cloned().unwrap_or_default();
    if details.is_empty() {
        if let Some(field) = error["field"].as_str() {
            message = format!("{field}: {message}");
        }
    }
    for f in &details {
        message.push_str(&format!(
            "\n  {}: {}",
            f["field"].as_str().unwrap_or("?"),
            f["message"].as_str().unwrap_or("")
        ));
    }
    CliError::Refused {
        status: reply.status,
        message,
    }
}

/// The client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// One screen: services by state, the firewall (active, pending, drift), bans, warnings.
    Status(StatusArgs),
    /// List, inspect, create, change, start, stop, restart and delete services; their logs and processes.
    Services(services::ServicesArgs),
    /// The firewall: rules, apply with confirm, rollback, diff, bans, presets, jails.
    Firewall(firewall::FirewallArgs),
    /// API tokens: list, create (the secret is shown once), revoke.
    Tokens(misc::TokensArgs),
    /// Read or change Warden's settings.
    Settings(misc::SettingsArgs),
    /// Convert supervisord programs, systemd units or PM2 apps on this host into a desired-state
    /// document (no running Warden needed), with a report of what was not carried over.
    Import(import::ImportArgs),
    /// Print (or write with -o) the desired-state document: services, firewall rules, settings,
    /// notification destinations, jails.
    Export(state::ExportArgs),
    /// Apply a desired-state document: prints the plan as a diff, then applies it (one durable write;
    /// only what changed restarts).
    Apply(state::ApplyArgs),
    /// Write a consistent snapshot of everything (document, users, token digests, audit log, firewall
    /// record) to a file (0600), while Warden runs. Restore it with `warden restore`.
    Backup(state::BackupArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub remote: Remote,
}

/// Runs a client command; prints errors; the exit code.
pub async fn run(command: ClientCommand) -> ExitCode {
    let result = match command {
        ClientCommand::Import(a) => import::run(a),
        ClientCommand::Status(a) => {
            with_client(&a.remote, |c| async move { misc::status(&c).await }).await
        }
        ClientCommand::Services(a) => {
            let remote = a.remote.clone();
            with_client(
                &remote,
                |c| async move { services::run(&c, a.command).await },
            )
            .await
        }
        ClientCommand::Firewall(a) => {
            let remote = a.remote.clone();
            with_client(
                &remote,
                |c| async move { firewall::run(&c, a.command).await },
            )
            .await
        }
        ClientCommand::Tokens(a) => {
            let remote = a.remote.clone();
            with_client(
                &remote,
                |c| async move { misc::tokens(&c, a.command).await },
            )
            .await
        }
        ClientCommand::Settings(a) => {
            let remote = a.remote.clone();
            with_client(
                &remote,
                |c| async move { misc::settings(&c, a.command).await },
            )
            .await
        }
        ClientCommand::Export(a) => {
            let remote = a.remote.clone();
            with_client(&remote, |c| async move { state::export(&c, &a).await }).await
        }
        ClientCommand::Apply(a) => {
            let remote = a.remote.clone();
            with_client(&remote, |c| async move { state::apply(&c, &a).await }).await
        }
        ClientCommand::Backup(a) => {
            let remote = a.remote.clone();
            with_client(&remote, |c| async move { state::backup(&c, &a).await }).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            anstream::eprintln!("{} {e}", render::paint(render::BAD, "error:"));
            ExitCode::from(e.exit_code())
        }
    }
}

async fn with_client<F, Fut>(remote: &Remote, f: F) -> Result<(), CliError>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<(), CliError>>,
{
    let client = Client {
        endpoint: remote.endpoint()?,
        json: remote.json,
    };
    f(client).await
}

/// Finds a service's id from its id or its name.
pub async fn service_id(client: &Client, id_or_name: &str) -> Result<String, CliError> {
    let services = client.get("/services").await?;
    let list = services.as_array().cloned().unwrap_or_default();
    list.iter()
        .find(|s| s["id"] == id_or_name)
        .or_else(|| list.iter().find(|s| s["name"] == id_or_name))
        .and_then(|s| s["id"].as_str().map(str::to_string))
        .ok_or_else(|| CliError::Refused {
            status: StatusCode::NOT_FOUND,
            message: format!("there is no service {id_or_name:?} (by id or name)"),
        })
}
