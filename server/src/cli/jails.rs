//! `warden firewall jails …`: list, show, add, enable, disable, delete, test (patterns tried on lines
//! from a file or stdin) and presets. Each is one call to `/api/v1/firewall/jails*`: the same
//! authorization, validation and audit as the API. A jail is named by its name or its id.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio::io::AsyncReadExt;

use super::jails_view::{jail_text, jails_table, presets_table, test_text};
use super::{CliError, Client};

#[derive(Debug, Subcommand)]
pub enum JailsCommand {
    /// The jails with their counters (lines read, failures matched, bans) and failing addresses.
    #[command(alias = "ls")]
    List,
    /// One jail: its settings, counters, failing addresses and recent failure lines.
    Show { jail: String },
    /// Adds a jail (it starts watching its source at once unless --disabled).
    Add(JailFlags),
    /// Makes a jail watch its source again.
    Enable { jail: String },
    /// Stops a jail watching its source (its counts are kept).
    Disable { jail: String },
    /// Deletes a jail (its bans stay until they expire).
    #[command(alias = "rm")]
    Delete { jail: String },
    /// Tries a preset and/or patterns on log lines (from --file, else stdin) and prints which lines
    /// match and the address each names. Changes nothing.
    #[command(group(ArgGroup::new("what").required(true).multiple(true).args(["preset", "patterns"])))]
    Test {
        /// A shipped preset (see `warden firewall jails presets`).
        #[arg(long)]
        preset: Option<String>,
        /// A regular expression with <HOST> where the address is (repeatable).
        #[arg(long = "pattern")]
        patterns: Vec<String>,
        /// Read the lines from this file instead of stdin.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// The shipped presets and their patterns.
    Presets,
}

/// A jail as flags (what is left out takes the API's default).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["service", "file", "journal"])))]
pub struct JailFlags {
    /// Unique name (letters, digits, '.', '_', '-'); bans name it.
    #[arg(long)]
    pub name: String,
    /// Watch a supervised service's own log (by service name).
    #[arg(long)]
    pub service: Option<String>,
    /// Watch a log file (absolute path), followed from its end across rotation.
    #[arg(long)]
    pub file: Option<String>,
    /// Watch the systemd journal of a unit (e.g. ssh.service).
    #[arg(long)]
    pub journal: Option<String>,
    /// A shipped preset: sshd, nginx-http-auth, nginx-limit-req, postfix-sasl, dovecot, vsftpd, generic.
    #[arg(long)]
    pub preset: Option<String>,
    /// A regular expression with <HOST> where the address is (repeatable; after the preset's).
    #[arg(long = "pattern")]
    pub patterns: Vec<String>,
    /// Failures within the window that ban an address (default 5).
    #[arg(long)]
    pub max_failures: Option<u32>,
    /// The window failures are counted in, in seconds (default 600).
    #[arg(long, value_name = "SECS")]
    pub window: Option<u64>,
    /// How long a first ban lasts, in seconds (default 600).
    #[arg(long, value_name = "SECS")]
    pub ban: Option<u64>,
    /// An address or network (CIDR) that never counts (repeatable).
    #[arg(long = "ignore")]
    pub ignore: Vec<String>,
    /// Repeat offenders get the same ban, not twice as long each time.
    #[arg(long)]
    pub no_increment: bool,
    /// The longest ban repeat offences reach, in seconds (default a week).
    #[arg(long, value_name = "SECS")]
    pub max_ban: Option<u64>,
    /// Add it switched off.
    #[arg(long)]
    pub disabled: bool,
}

impl JailFlags {
    /// The body of `POST /firewall/jails`.
    pub fn body(self) -> Value {
        let mut jail = Map::new();
        jail.insert("name".into(), json!(self.name));
        let source = match (self.service, self.file, self.journal) {
            (Some(service), _, _) => json!({ "service": service }),
            (None, Some(file), _) => json!({ "file": file }),
            (None, None, journal) => json!({ "journal": journal.unwrap_or_default() }),
        };
        jail.insert("source".into(), source);
        if let Some(preset) = self.preset {
            jail.insert("preset".into(), json!(preset));
        }
        if !self.patterns.is_empty() {
            jail.insert("patterns".into(), json!(self.patterns));
        }
        let numbers = [
            ("max_failures", self.max_failures.map(u64::from)),
            ("window_secs", self.window),
            ("ban_secs", self.ban),
            ("max_ban_secs", self.max_ban),
        ];
        for (key, value) in numbers {
            if let Some(v) = value {
                jail.insert(key.into(), json!(v));
            }
        }
        if !self.ignore.is_empty() {
            jail.insert("ignore".into(), json!(self.ignore));
        }
        if self.no_increment {
            jail.insert("increment".into(), json!(false));
        }
        if self.disabled {
            jail.insert("enabled".into(), json!(false));
        }
        Value::Object(jail)
    }
}

/// Finds a jail's id from its name or its id.
async fn jail_id(client: &Client, name_or_id: &str) -> Result<String, CliError> {
    let jails = client.get("/firewall/jails").await?;
    let list = jails.as_array().cloned().unwrap_or_default();
    list.iter()
        .find(|j| j["name"] == name_or_id)
        .or_else(|| list.iter().find(|j| j["id"] == name_or_id))
        .and_then(|j| j["id"].as_str().map(str::to_string))
        .ok_or_else(|| CliError::Refused {
            status: StatusCode::NOT_FOUND,
            message: format!("there is no jail {name_or_id:?} (by name or id)"),
        })
}

/// The lines to test: the file's, else stdin's.
async fn test_lines(file: Option<PathBuf>) -> Result<Vec<String>, CliError> {
    let text = match file {
        Some(path) => tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", path.display())))?,
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                anstream::eprintln!("paste log lines, then Ctrl-D:");
            }
            let mut text = String::new();
            tokio::io::stdin()
                .read_to_string(&mut text)
                .await
                .map_err(|e| CliError::Failed(format!("cannot read stdin: {e}")))?;
            text
        }
    };
    Ok(text.lines().map(str::to_string).collect())
}

/// `PATCH {"enabled": …}` of a jail.
async fn set_enabled(client: &Client, jail: &str, enabled: bool) -> Result<(), CliError> {
    let id = jail_id(client, jail).await?;
    let changed = client
        .send(
            Method::PATCH,
            &format!("/firewall/jails/{id}"),
            &json!({ "enabled": enabled }),
        )
        .await?;
    client.print(&changed, |_| {
        if enabled {
            format!("jail {jail} is watching its source again")
        } else {
            format!("jail {jail} is disabled (its counts are kept)")
        }
    });
    Ok(())
}

pub async fn run(client: &Client, command: JailsCommand) -> Result<(), CliError> {
    match command {
        JailsCommand::List => {
            let jails = client.get("/firewall/jails").await?;
            client.print(&jails, jails_table);
        }
        JailsCommand::Show { jail } => {
            let id = jail_id(client, &jail).await?;
            let view = client.get(&format!("/firewall/jails/{id}")).await?;
            client.print(&view, |v| jail_text(v, time::OffsetDateTime::now_utc()));
        }
        JailsCommand::Add(flags) => {
            let jail = client
                .send(Method::POST, "/firewall/jails", &flags.body())
                .await?;
            client.print(&jail, |j| {
                let watching = if j["enabled"].as_bool() == Some(false) {
                    "disabled"
                } else {
                    "watching its source"
                };
                format!(
                    "added jail {} ({watching})",
                    super::render::cell(&j["name"])
                )
            });
        }
        JailsCommand::Enable { jail } => set_enabled(client, &jail, true).await?,
        JailsCommand::Disable { jail } => set_enabled(client, &jail, false).await?,
        JailsCommand::Delete { jail } => {
            let id = jail_id(client, &jail).await?;
            client
                .call(Method::DELETE, &format!("/firewall/jails/{id}"), None)
                .await?;
            if !client.json {
                println!("deleted jail {jail} (its bans stay until they expire)");
            }
        }
        JailsCommand::Test {
            preset,
            patterns,
            file,
        } => {
            let lines = test_lines(file).await?;
            let body = json!({ "preset": preset, "patterns": patterns, "lines": lines });
            let result = client
                .send(Method::POST, "/firewall/jails/test", &body)
                .await?;
            client.print(&result, test_text);
        }
        JailsCommand::Presets => {
            let presets = client.get("/firewall/jails/presets").await?;
            client.print(&presets, presets_table);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::jails::{JailInput, JailSource};
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Line {
        #[command(subcommand)]
        command: JailsCommand,
    }

    fn parse(args: &[&str]) -> Result<JailsCommand, clap::Error> {
        Line::try_parse_from(std::iter::once("jails").chain(args.iter().copied()))
            .map(|l| l.command)
    }

    #[test]
    fn add_flags_give_the_api_body_and_leave_defaults_to_warden() {
        let Ok(JailsCommand::Add(flags)) = parse(&[
            "add",
            "--name",
            "sshd",
            "--journal",
            "ssh.service",
            "--preset",
            "sshd",
            "--pattern",
            "a <HOST>",
            "--pattern",
            "b <HOST>",
            "--window",
            "300",
            "--ignore",
            "192.0.2.0/24",
            "--no-increment",
            "--disabled",
        ]) else {
            panic!("not parsed");
        };
        let body = flags.body();
        assert!(body.get("max_failures").is_none() && body.get("ban_secs").is_none());
        let input: JailInput = serde_json::from_value(body).expect("the API's shape");
        assert_eq!(input.source, JailSource::Journal("ssh.service".into()));
        assert_eq!(input.patterns, ["a <HOST>", "b <HOST>"]);
        assert_eq!(input.window_secs, 300);
        assert_eq!(input.max_failures, app::model::jails::DEFAULT_MAX_FAILURES);
        assert!(!input.increment && !input.enabled);
        assert_eq!(input.ignore, ["192.0.2.0/24"]);
    }

    #[test]
    fn one_source_is_required_and_a_test_needs_a_preset_or_a_pattern() {
        assert!(parse(&["add", "--name", "x"]).is_err());
        assert!(parse(&["add", "--name", "x", "--file", "/a", "--journal", "b"]).is_err());
        assert!(parse(&["test"]).is_err());
        assert!(parse(&["test", "--pattern", "from <HOST>"]).is_ok());
    }
}
