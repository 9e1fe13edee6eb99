//! `warden services …`: list, show, create, edit, start, stop, restart (`--hard`), delete, logs (`-f`
//! follows the live stream and reconnects across Warden restarts) and ps. A service is named by its id
//! or its name.

use clap::{Args, Subcommand};
use http::Method;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::render::{self, paint, table, BOLD, DIM, WARN};
use super::{service_id, CliError, Client, Remote};

#[derive(Debug, Args)]
pub struct ServicesArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub command: ServicesCommand,
}

#[derive(Debug, Subcommand)]
pub enum ServicesCommand {
    /// Every service with its state.
    #[command(alias = "ls")]
    List,
    /// One service: its spec and status.
    Show { service: String },
    /// Creates a service (started at once unless --disabled).
    Create {
        name: String,
        #[command(flatten)]
        spec: SpecFlags,
        /// Create it stopped.
        #[arg(long)]
        disabled: bool,
    },
    /// Changes a service (a running one restarts with the new spec).
    Edit {
        service: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        spec: SpecFlags,
    },
    /// Starts (and re-enables) a service.
    Start { service: String },
    /// Stops and disables a service.
    Stop { service: String },
    /// Sends SIGHUP (a program that reloads stays up); --hard stops and starts it.
    Restart {
        service: String,
        #[arg(long)]
        hard: bool,
    },
    /// Stops and deletes a service.
    #[command(alias = "rm")]
    Delete { service: String },
    /// The last lines of the service's log; -f keeps following it.
    Logs {
        service: String,
        /// How many lines.
        #[arg(short = 'n', long = "lines", default_value_t = 100)]
        lines: u32,
        /// Keep printing new lines (reconnects if Warden restarts).
        #[arg(short, long)]
        follow: bool,
    },
    /// The service's processes.
    Ps { service: String },
}

/// Spec fields as flags (create: the spec; edit: what changes).
#[derive(Debug, Args)]
pub struct SpecFlags {
    /// The command, run by /bin/sh -c in the foreground.
    #[arg(long)]
    pub command: Option<String>,
    /// Working directory (absolute).
    #[arg(long)]
    pub workdir: Option<String>,
    /// An environment variable (repeatable; on edit the list replaces the service's variables).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// A reserved port (repeatable; on edit the list replaces the ports).
    #[arg(long = "port")]
    pub ports: Vec<u16>,
    /// The Unix user it runs as.
    #[arg(long)]
    pub user: Option<String>,
    /// A monitoring command (exit ≠ 0 restarts the service).
    #[arg(long)]
    pub monitor: Option<String>,
    /// Any other field of the service, as KEY=JSON (or KEY=text), e.g. stop_grace_secs=30.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl SpecFlags {
    fn into_fields(self, fields: &mut Map<String, Value>) -> Result<(), CliError> {
        if let Some(v) = self.command {
            fields.insert("command".into(), json!(v));
        }
        if let Some(v) = self.workdir {
            fields.insert("working_directory".into(), json!(v));
        }
        if !self.env.is_empty() {
            let mut env = Map::new();
            for pair in &self.env {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| CliError::Usage(format!("--env {pair:?}: use KEY=VALUE")))?;
                env.insert(k.to_string(), json!(v));
            }
            fields.insert("environment".into(), Value::Object(env));
        }
        if !self.ports.is_empty() {
            fields.insert("ports".into(), json!(self.ports));
        }
        if let Some(v) = self.user {
            fields.insert("user".into(), json!(v));
        }
        if let Some(v) = self.monitor {
            fields.insert("monitoring_command".into(), json!(v));
        }
        for pair in &self.set {
            let (k, v) = key_value(pair, "--set")?;
            fields.insert(k, v);
        }
        Ok(())
    }
}

/// `KEY=VALUE` with VALUE read as JSON when it is JSON, else as text.
pub fn key_value(pair: &str, flag: &str) -> Result<(String, Value), CliError> {
    let (k, v) = pair
        .split_once('=')
        .ok_or_else(|| CliError::Usage(format!("{flag} {pair:?}: use KEY=VALUE")))?;
    if k.is_empty() {
        return Err(CliError::Usage(format!(
            "{flag} {pair:?}: the key is empty"
        )));
    }
    let value = serde_json::from_str(v).unwrap_or_else(|_| json!(v));
    Ok((k.to_string(), value))
}

pub async fn run(client: &Client, command: ServicesCommand) -> Result<(), CliError> {
    match command {
        ServicesCommand::List => {
            let list = client.get("/services").await?;
            client.print(&list, services_table);
        }
        ServicesCommand::Show { service } => {
            let id = service_id(client, &service).await?;
            let s = client.get(&format!("/services/{id}")).await?;
            client.print(&s, describe);
        }
        ServicesCommand::Create {
            name,
            spec,
            disabled,
        } => {
            let mut fields = Map::new();
            fields.insert("name".into(), json!(name));
            spec.into_fields(&mut fields)?;
            if !fields.contains_key("command") {
                return Err(CliError::Usage("create needs --command".into()));
            }
            if disabled {
                fields.insert("enabled".into(), json!(false));
            }
            let s = client
                .send(Method::POST, "/services", &Value::Object(fields))
                .await?;
            client.print(&s, |s| {
                format!("created {} ({})", cell(s, "name"), cell(s, "id"))
            });
        }
        ServicesCommand::Edit {
            service,
            name,
            spec,
        } => {
            let id = service_id(client, &service).await?;
            let mut fields = Map::new();
            if let Some(n) = name {
                fields.insert("name".into(), json!(n));
            }
            spec.into_fields(&mut fields)?;
            if fields.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: give at least one flag".into(),
                ));
            }
            let s = client
                .send(
                    Method::PATCH,
                    &format!("/services/{id}"),
                    &Value::Object(fields),
                )
                .await?;
            client.print(&s, |s| format!("changed {}", cell(s, "name")));
        }
        ServicesCommand::Start { service } => action(client, &service, "start", "started").await?,
        ServicesCommand::Stop { service } => action(client, &service, "stop", "stopped").await?,
        ServicesCommand::Restart { service, hard } => {
            let verb = if hard { "restart?mode=hard" } else { "restart" };
            action(client, &service, verb, "restarted").await?;
        }
        ServicesCommand::Delete { service } => {
            let id = service_id(client, &service).await?;
            client
                .call(Method::DELETE, &format!("/services/{id}"), None)
                .await?;
            if !client.json {
                println!("deleted {service}");
            }
        }
        ServicesCommand::Logs {
            service,
            lines,
            follow,
        } => {
            let id = service_id(client, &service).await?;
            let tail = client
                .call(
                    Method::GET,
                    &format!("/services/{id}/logs?lines={lines}"),
                    None,
                )
                .await?
                .text();
            print!("{tail}");
            if follow {
                super::follow::follow_logs(client, &id, last_line(&tail)).await?;
            }
        }
        ServicesCommand::Ps { service } => {
            let id = service_id(client, &service).await?;
            let procs = client.get(&format!("/services/{id}/processes")).await?;
            client.print(&procs, processes_table);
        }
    }
    Ok(())
}

async fn action(client: &Client, service: &str, verb: &str, done: &str) -> Result<(), CliError> {
    let id = service_id(client, service).await?;
    let s = client
        .send(Method::POST, &format!("/services/{id}/{verb}"), &json!({}))
        .await?;
    client.print(&s, |s| {
        format!(
            "{done} {} — {}",
            cell(s, "name"),
            render::state(s["status"]["state"].as_str().unwrap_or("?"))
        )
    });
    Ok(())
}

fn cell(v: &Value, key: &str) -> String {
    render::cell(&v[key])
}

fn services_table(list: &Value) -> String {
    let now = OffsetDateTime::now_utc();
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let st = &s["status"];
            let since = st["started_at"]
                .as_str()
                .map(|t| render::relative(t, now))
                .unwrap_or_else(|| "-".into());
            vec![
                cell(s, "name"),
                render::state(st["state"].as_str().unwrap_or("?")),
                render::cell(&st["pid"]),
                render::cell(&st["restarts"]),
                render::cell(&st["health"]),
                cell(s, "ports"),
                since,
                warnings(st),
            ]
        })
        .collect();
    if rows.is_empty() {
        return paint(
            DIM,
            "no services yet: warden services create NAME --command '…'",
        );
    }
    table(
        &[
            "NAME", "STATE", "PID", "RESTARTS", "HEALTH", "PORTS", "STARTED", "WARNINGS",
        ],
        rows,
    )
}

fn warnings(status: &Value) -> String {
    let mut out: Vec<String> = status["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["kind"].as_str().map(|k| paint(WARN, k)))
        .collect();
    if let Some(reason) = status["disabled_reason"].as_str() {
        out.push(paint(render::BAD, reason));
    }
    if out.is_empty() {
        "-".into()
    } else {
        out.join(", ")
    }
}

fn describe(s: &Value) -> String {
    let st = &s["status"];
    let mut lines = vec![
        format!(
            "{} {}",
            paint(BOLD, &cell(s, "name")),
            paint(DIM, &cell(s, "id"))
        ),
        format!(
            "  state      {}",
            render::state(st["state"].as_str().unwrap_or("?"))
        ),
        format!("  command    {}", cell(s, "command")),
        format!("  enabled    {}", cell(s, "enabled")),
        format!("  pid        {}", render::cell(&st["pid"])),
        format!("  restarts   {}", render::cell(&st["restarts"])),
        format!("  health     {}", render::cell(&st["health"])),
        format!("  ports      {}", cell(s, "ports")),
        format!("  user       {}", cell(s, "user")),
        format!("  directory  {}", cell(s, "working_directory")),
        format!("  monitor    {}", cell(s, "monitoring_command")),
    ];
    if let Some(map) = s["environment"].as_object() {
        for (k, v) in map {
            lines.push(format!("  env        {k}={}", render::cell(v)));
        }
    }
    if let Some(reason) = st["disabled_reason"].as_str() {
        lines.push(format!("  {}", paint(render::BAD, reason)));
    }
    for w in st["warnings"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  {} {}",
            paint(WARN, w["kind"].as_str().unwrap_or("warning")),
            w["message"].as_str().unwrap_or("")
        ));
    }
    lines.join("\n")
}

fn processes_table(list: &Value) -> String {
    let rows = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                render::cell(&p["pid"]),
                render::cell(&p["ppid"]),
                format!("{}%", render::cell(&p["cpu_percent"])),
                p["rss_bytes"]
                    .as_u64()
                    .map(render::bytes)
                    .unwrap_or_else(|| "-".into()),
                render::cell(&p["command"]),
            ]
        })
        .collect();
    table(&["PID", "PPID", "CPU", "RSS", "COMMAND"], rows)
}

fn last_line(text: &str) -> Option<String> {
    text.lines().last().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_are_json_when_they_can_be() {
        assert_eq!(
            key_value("a=30", "--set").ok(),
            Some(("a".into(), json!(30)))
        );
        assert_eq!(
            key_value("a=TERM", "--set").ok(),
            Some(("a".into(), json!("TERM")))
        );
        assert_eq!(
            key_value("limits={\"nofile\":1024}", "--set").ok(),
            Some(("limits".into(), json!({"nofile": 1024})))
        );
        assert_eq!(key_value("a=", "--set").ok(), Some(("a".into(), json!(""))));
        assert!(key_value("novalue", "--set").is_err());
        assert!(key_value("=1", "--set").is_err());
    }
}
