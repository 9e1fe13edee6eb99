//! `warden status` (one screen), `warden tokens …` and `warden settings …`.

use clap::{Args, Subcommand};
use http::Method;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::render::{self, paint, table, BAD, BOLD, DIM, GOOD, WARN};
use super::services::key_value;
use super::{CliError, Client, Remote};

/// `warden status`: services by state, the firewall, bans, warnings.
pub async fn status(client: &Client) -> Result<(), CliError> {
    let services = client.get("/services").await?;
    let firewall = client.get("/firewall").await?;
    let bans = client.get("/firewall/bans").await?;
    let all = json!({"services": services, "firewall": firewall, "bans": bans});
    client.print(&all, |all| {
        status_text(&all["services"], &all["firewall"], &all["bans"])
    });
    Ok(())
}

fn status_text(services: &Value, firewall: &Value, bans: &Value) -> String {
    let list = services.as_array().cloned().unwrap_or_default();
    let mut by_state = std::collections::BTreeMap::<String, usize>::new();
    for s in &list {
        *by_state
            .entry(s["status"]["state"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    let counts = if by_state.is_empty() {
        paint(DIM, "none")
    } else {
        by_state
            .iter()
            .map(|(state, n)| format!("{n} {}", render::state(state)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![format!("{} {counts}", paint(BOLD, "Services:"))];
    for s in &list {
        let st = &s["status"];
        let name = render::cell(&s["name"]);
        if let Some(reason) = st["disabled_reason"].as_str() {
            lines.push(format!("  {name}: {}", paint(BAD, reason)));
        }
        for w in st["warnings"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  {name}: {} {}",
                paint(WARN, w["kind"].as_str().unwrap_or("warning")),
                w["message"].as_str().unwrap_or("")
            ));
        }
        if st["health"] == "failing" {
            lines.push(format!("  {name}: {}", paint(BAD, "health check failing")));
        }
    }
    let active = firewall["active"].as_bool() == Some(true);
    let mut fw = vec![if active {
        paint(GOOD, "active")
    } else {
        paint(WARN, "off")
    }];
    if let Some(rev) = firewall["applied_revision"].as_u64() {
        fw.push(format!("revision {rev}"));
    }
    if firewall["default_guard"].as_bool() == Some(true) {
        fw.push("default guard".into());
    }
    if let Some(secs) = firewall["pending"]["seconds_left"].as_u64() {
        fw.push(paint(
            WARN,
            &format!("apply pending, rolls back in {secs} s"),
        ));
    }
    if firewall["drift"].as_bool() == Some(true) {
        fw.push(paint(
            BAD,
            "drift: the live table differs from what Warden applied",
        ));
    }
    if let Some(reason) = firewall["fallback"].as_str() {
        fw.push(paint(BAD, reason));
    }
    if firewall["capability"]["available"].as_bool() == Some(false) {
        fw.push(paint(DIM, "not managed here"));
    }
    lines.push(format!("{} {}", paint(BOLD, "Firewall:"), fw.join(", ")));
    let ban_count = bans.as_array().map_or(0, Vec::len);
    lines.push(format!("{} {ban_count}", paint(BOLD, "Bans:")));
    lines.join("\n")
}

#[derive(Debug, Args)]
pub struct TokensArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub command: TokensCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Every API token (never the secrets).
    #[command(alias = "ls")]
    List,
    /// Creates a token and prints its secret, once.
    Create {
        name: String,
        /// admin (everything) or read (no changes).
        #[arg(long, default_value = "admin")]
        scope: String,
        /// When it stops working (RFC 3339), e.g. 2027-01-01T00:00:00Z.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Revokes a token: it stops working at once.
    Revoke { id: String },
}

pub async fn tokens(client: &Client, command: TokensCommand) -> Result<(), CliError> {
    match command {
        TokensCommand::List => {
            let list = client.get("/tokens").await?;
            let now = OffsetDateTime::now_utc();
            client.print(&list, |list| {
                let rows: Vec<Vec<String>> = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        vec![
                            render::cell(&t["id"]),
                            render::cell(&t["name"]),
                            render::cell(&t["scope"]),
                            t["created_at"]
                                .as_str()
                                .map(|c| render::relative(c, now))
                                .unwrap_or_else(|| "-".into()),
                            render::cell(&t["expires_at"]),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    return paint(DIM, "no API tokens");
                }
                table(&["ID", "NAME", "SCOPE", "CREATED", "EXPIRES"], rows)
            });
        }
        TokensCommand::Create {
            name,
            scope,
            expires_at,
        } => {
            let mut body = json!({ "name": name, "scope": scope });
            if let Some(at) = expires_at {
                body["expires_at"] = json!(at);
            }
            let created = client.send(Method::POST, "/tokens", &body).await?;
            client.print(&created, |t| {
                format!(
                    "{}\n{}",
                    render::cell(&t["token"]),
                    paint(DIM, "shown once: store it now (e.g. as WARDEN_TOKEN)")
                )
            });
        }
        TokensCommand::Revoke { id } => {
            client
                .call(Method::DELETE, &format!("/tokens/{id}"), None)
                .await?;
            if !client.json {
                println!("revoked {id}");
            }
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub command: SettingsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Every setting, or one (dotted for nested ones: ban.ban_secs).
    Get { key: Option<String> },
    /// Changes settings: KEY=VALUE pairs, VALUE as JSON when it is JSON (ssh_ports=[2222]), dotted keys
    /// for nested settings (crash_loop.max_failures=3).
    Set {
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
}

pub async fn settings(client: &Client, command: SettingsCommand) -> Result<(), CliError> {
    match command {
        SettingsCommand::Get { key } => {
            let all = client.get("/settings").await?;
            let value = match &key {
                None => all,
                Some(k) => k
                    .split('.')
                    .try_fold(&all, |v, part| v.get(part))
                    .cloned()
                    .ok_or_else(|| CliError::Usage(format!("there is no setting {k:?}")))?,
            };
            client.print(&value, settings_text);
        }
        SettingsCommand::Set { pairs } => {
            let patch = settings_patch(&pairs)?;
            let saved = client.send(Method::PATCH, "/settings", &patch).await?;
            client.print(&saved, |_| "saved".to_string());
        }
    }
    Ok(())
}

/// The PATCH body for `KEY=VALUE` pairs, dotted keys nested.
fn settings_patch(pairs: &[String]) -> Result<Value, CliError> {
    let mut patch = Map::new();
    for pair in pairs {
        let (key, value) = key_value(pair, "set")?;
        let mut parts = key.split('.').peekable();
        let mut node = &mut patch;
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                node.insert(part.to_string(), value.clone());
                break;
            }
            let next = node
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            node = next
                .as_object_mut()
                .ok_or_else(|| CliError::Usage(format!("{key:?} sets {part:?} twice")))?;
        }
    }
    Ok(Value::Object(patch))
}

fn settings_text(value: &Value) -> String {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::Object(_) => format!("{}\n{}", paint(BOLD, k), indent(&settings_text(v))),
                _ => format!("{k} = {}", render::cell(v)),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => render::cell(other),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_nest_and_values_are_json() {
        let patch = settings_patch(&[
            "ban.ban_secs=600".into(),
            "ban.max_failures=20".into(),
            "hostname=box".into(),
            "ssh_ports=[2222]".into(),
        ])
        .unwrap_or_default();
        assert_eq!(
            patch,
            json!({"ban": {"ban_secs": 600, "max_failures": 20}, "hostname": "box", "ssh_ports": [2222]})
        );
        assert!(settings_patch(&["hostname=a".into(), "hostname.x=1".into()]).is_err());
    }
}
