//! `warden firewall …`: status, rules, add, delete, move, apply (the diff first, a question unless
//! `--yes`, then the confirm countdown: Enter keeps the rules), confirm, rollback, diff, bans, ban,
//! unban, presets, and `jails …` (in [`super::jails`]).

use std::io::IsTerminal;
use std::time::Duration;

use app::model::firewall::{line_diff, DiffLine};
use clap::{Args, Subcommand};
use http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio::io::AsyncBufReadExt;

use super::firewall_view::{bans_table, presets_table, rules_table, status_text};
use super::render::{self, paint, BAD, DIM, GOOD, WARN};
use super::{CliError, Client, Remote};

#[derive(Debug, Args)]
pub struct FirewallArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub command: FirewallCommand,
}

#[derive(Debug, Subcommand)]
pub enum FirewallCommand {
    /// Active, applied and saved revisions, a pending apply, drift, anti-lockout.
    Status,
    /// The saved rules in order (top wins), with live counters.
    Rules,
    /// Adds a rule to the saved rules (nothing is live before apply).
    Add(RuleFlags),
    /// Deletes a saved rule.
    #[command(alias = "rm")]
    Delete { id: String },
    /// Moves a saved rule to a position (0 = top).
    Move { id: String, position: u32 },
    /// Makes the saved rules live: shows the diff, asks, applies; with a confirm window, Enter keeps them.
    Apply {
        /// Roll back by itself unless confirmed within this many seconds (0: no confirmation).
        #[arg(long, default_value_t = 60)]
        confirm_within: u64,
        /// Do not ask (scripts); with a confirm window, do not wait either.
        #[arg(long, short)]
        yes: bool,
    },
    /// Keeps a pending apply.
    Confirm,
    /// Puts back what was live before a pending apply.
    Rollback,
    /// What apply would change in the live ruleset.
    Diff,
    /// Current bans.
    Bans,
    /// Bans an address (an IPv6 address bans its /64).
    Ban {
        address: String,
        /// For how long (default: the ban setting).
        #[arg(long)]
        secs: Option<u64>,
        /// Why (shown in the ban list).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lifts a ban.
    Unban { address: String },
    /// Presets (common services' rules) and whether each is open.
    Presets,
    /// Jails (fail2ban built in): list, show, add, enable, disable, delete, test patterns, presets.
    Jails {
        #[command(subcommand)]
        command: super::jails::JailsCommand,
    },
}

/// A rule as flags.
#[derive(Debug, Args)]
pub struct RuleFlags {
    /// accept, drop or reject.
    #[arg(long, default_value = "accept")]
    pub action: String,
    /// tcp, udp, icmp or any.
    #[arg(long)]
    pub protocol: Option<String>,
    /// in or out.
    #[arg(long)]
    pub direction: Option<String>,
    /// A host: address, network or name (repeatable; none = any).
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// A port or range like 8000:8100 (repeatable; none = any).
    #[arg(long = "port")]
    pub ports: Vec<String>,
    /// 4, 6 or both.
    #[arg(long)]
    pub ip_version: Option<String>,
    /// A note shown with the rule.
    #[arg(long)]
    pub annotation: Option<String>,
    /// Where in the list (0 = top; default: the end).
    #[arg(long)]
    pub position: Option<u32>,
    /// Add it switched off.
    #[arg(long)]
    pub disabled: bool,
}

impl RuleFlags {
    fn body(self) -> Value {
        let mut rule = Map::new();
        rule.insert("action".into(), json!(self.action));
        let optional = [
            ("protocol", self.protocol),
            ("direction", self.direction),
            ("ip_version", self.ip_version),
            ("annotation", self.annotation),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                rule.insert(key.into(), json!(v));
            }
        }
        if !self.hosts.is_empty() {
            rule.insert("hosts".into(), json!(self.hosts));
        }
        if !self.ports.is_empty() {
            rule.insert("ports".into(), json!(self.ports));
        }
        if let Some(p) = self.position {
            rule.insert("position".into(), json!(p));
        }
        if self.disabled {
            rule.insert("enabled".into(), json!(false));
        }
        Value::Object(rule)
    }
}

pub async fn run(client: &Client, command: FirewallCommand) -> Result<(), CliError> {
    match command {
        FirewallCommand::Status => {
            let s = client.get("/firewall").await?;
            client.print(&s, status_text);
        }
        FirewallCommand::Rules => {
            let rules = client.get("/firewall/rules").await?;
            client.print(&rules, rules_table);
        }
        FirewallCommand::Add(flags) => {
            let rule = client
                .send(Method::POST, "/firewall/rules", &flags.body())
                .await?;
            client.print(&rule, |r| {
                format!(
                    "added rule {} at position {} (saved; `warden firewall apply` makes it live)",
                    render::cell(&r["id"]),
                    render::cell(&r["position"])
                )
            });
        }
        FirewallCommand::Delete { id } => {
            client
                .call(Method::DELETE, &format!("/firewall/rules/{id}"), None)
                .await?;
            if !client.json {
                println!("deleted rule {id} (saved; apply makes it live)");
            }
        }
        FirewallCommand::Move { id, position } => {
            let rule = client
                .send(
                    Method::POST,
                    &format!("/firewall/rules/{id}/move"),
                    &json!({ "position": position }),
                )
                .await?;
            client.print(&rule, |r| {
                format!(
                    "rule {id} is now at position {}",
                    render::cell(&r["position"])
                )
            });
        }
        FirewallCommand::Apply {
            confirm_within,
            yes,
        } => apply(client, confirm_within, yes).await?,
        FirewallCommand::Confirm => {
            let s = client
                .send(Method::POST, "/firewall/confirm", &json!({}))
                .await?;
            client.print(&s, |_| "confirmed: the applied rules stay".to_string());
        }
        FirewallCommand::Rollback => {
            let s = client
                .send(Method::POST, "/firewall/rollback", &json!({}))
                .await?;
            client.print(&s, |_| {
                "rolled back to what was live before the apply".to_string()
            });
        }
        FirewallCommand::Diff => {
            let (live, next) = ruleset_texts(client).await?;
            if client.json {
                client.print(
                    &json!({"applied": live, "apply_would_install": next}),
                    |_| String::new(),
                );
            } else {
                anstream::println!("{}", diff_text(&live, &next));
            }
        }
        FirewallCommand::Bans => {
            let bans = client.get("/firewall/bans").await?;
            client.print(&bans, bans_table);
        }
        FirewallCommand::Ban {
            address,
            secs,
            reason,
        } => {
            let mut body = json!({ "address": address });
            if let Some(s) = secs {
                body["ban_secs"] = json!(s);
            }
            if let Some(r) = reason {
                body["reason"] = json!(r);
            }
            let ban = client.send(Method::POST, "/firewall/bans", &body).await?;
            client.print(&ban, |b| format!("banned {}", render::cell(&b["address"])));
        }
        FirewallCommand::Unban { address } => {
            let path = format!("/firewall/bans/{}", address.replace('/', "%2F"));
            client.call(Method::DELETE, &path, None).await?;
            if !client.json {
                println!("lifted the ban of {address}");
            }
        }
        FirewallCommand::Presets => {
            let presets = client.get("/firewall/presets").await?;
            client.print(&presets, presets_table);
        }
        FirewallCommand::Jails { command } => super::jails::run(client, command).await?,
    }
    Ok(())
}

/// The live ruleset (empty when nothing is applied) and what apply would install.
async fn ruleset_texts(client: &Client) -> Result<(String, String), CliError> {
    let live = match client
        .call(Method::GET, "/firewall/ruleset?applied=true", None)
        .await
    {
        Ok(reply) => reply.text(),
        Err(CliError::Refused { status, .. }) if status == StatusCode::NOT_FOUND => String::new(),
        Err(e) => return Err(e),
    };
    let next = client
        .call(Method::GET, "/firewall/ruleset", None)
        .await?
        .text();
    Ok((live, next))
}

fn diff_text(live: &str, next: &str) -> String {
    let diff = line_diff(live, next);
    if diff.iter().all(|l| matches!(l, DiffLine::Same(_))) {
        return paint(
            DIM,
            "no change: the live ruleset is what apply would install",
        );
    }
    diff.iter()
        .filter_map(|line| match line {
            DiffLine::Same(_) => None,
            DiffLine::Added(l) => Some(paint(GOOD, &format!("+ {l}"))),
            DiffLine::Removed(l) => Some(paint(BAD, &format!("- {l}"))),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn apply(client: &Client, confirm_within: u64, yes: bool) -> Result<(), CliError> {
    let interactive = std::io::stdin().is_terminal();
    if !yes {
        if !interactive {
            return Err(CliError::Usage(
                "apply asks before changing the firewall: run it in a terminal, or add --yes"
                    .into(),
            ));
        }
        let (live, next) = ruleset_texts(client).await?;
        anstream::println!("{}", diff_text(&live, &next));
        if !ask("Apply these rules now? [y/N] ").await {
            println!("nothing applied");
            return Ok(());
        }
    }
    let status = client
        .send(
            Method::POST,
            "/firewall/apply",
            &json!({ "confirm_within_secs": confirm_within }),
        )
        .await?;
    if client.json {
        client.print(&status, |_| String::new());
        return Ok(());
    }
    let Some(seconds) = status["pending"]["seconds_left"].as_u64() else {
        anstream::println!("{}", paint(GOOD, "applied"));
        return Ok(());
    };
    if yes || !interactive {
        anstream::println!(
            "{} it rolls back by itself in {seconds} s unless confirmed: warden firewall confirm",
            paint(WARN, "applied;")
        );
        return Ok(());
    }
    countdown_then_confirm(client, seconds).await
}

/// Counts down the confirm window; Enter confirms. Check that you can still reach the server first.
async fn countdown_then_confirm(client: &Client, seconds: u64) -> Result<(), CliError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now()).as_secs();
                anstream::eprint!(
                    "\r{} Enter keeps them; rollback in {left:>3} s ",
                    paint(WARN, "Applied.")
                );
                if left == 0 {
                    anstream::eprintln!();
                    anstream::println!("{}", paint(BAD, "not confirmed: Warden rolls the apply back"));
                    return Ok(());
                }
            }
            line = stdin.next_line() => {
                anstream::eprintln!();
                if line.is_err() {
                    anstream::println!("stdin closed: the apply rolls back unless confirmed");
                    return Ok(());
                }
                client.send(Method::POST, "/firewall/confirm", &json!({})).await?;
                anstream::println!("{}", paint(GOOD, "confirmed: the applied rules stay"));
                return Ok(());
            }
        }
    }
}

async fn ask(question: &str) -> bool {
    anstream::eprint!("{question}");
    let mut line = String::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    if stdin.read_line(&mut line).await.is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes")
}
