//! `warden export`, `warden apply` and `warden backup`: desired state and backups from the command
//! line, over the REST API like every client command. Documents are read and written as YAML, or JSON
//! when the file name ends in `.json`; `apply` prints the plan as a diff before it applies anything.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::Args;
use http::Method;
use serde_json::Value;

use super::render::{paint, BAD, GOOD, WARN};
use super::{CliError, Client, Remote};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write the document here (YAML, or JSON for a `.json` name) instead of standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The desired-state document (YAML, or JSON for a `.json` name; `-` reads standard input).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete services and firewall rules the document does not name.
    #[arg(long)]
    pub prune: bool,
    /// The commit-confirm window of a firewall change, in seconds (default 0: no window).
    #[arg(long, value_name = "S")]
    pub confirm_within: Option<u64>,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (mode 0600: it holds password hashes and token digests).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    #[command(flatten)]
    pub remote: Remote,
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Reads a document file (YAML or JSON) as JSON.
pub fn read_document(path: &Path) -> Result<Value, CliError> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::Usage(format!("cannot read standard input: {e}")))?
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?
    };
    let parsed = if is_json(path) {
        serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())
    } else {
        serde_norway::from_str::<Value>(&text).map_err(|e| e.to_string())
    };
    let doc = parsed
        .map_err(|e| CliError::Usage(format!("{} is not a valid document: {e}", path.display())))?;
    if !doc.is_object() {
        return Err(CliError::Usage(format!(
            "{} is not a document (expected a mapping with apiVersion)",
            path.display()
        )));
    }
    Ok(doc)
}

/// A document as text: JSON for a `.json` name, else YAML.
pub fn write_document(doc: &Value, as_json: bool) -> Result<String, CliError> {
    if as_json {
        serde_json::to_string_pretty(doc)
            .map(|t| t + "\n")
            .map_err(|e| CliError::Protocol(e.to_string()))
    } else {
        serde_norway::to_string(doc).map_err(|e| CliError::Protocol(e.to_string()))
    }
}

/// `warden export`.
pub async fn export(client: &Client, args: &ExportArgs) -> Result<(), CliError> {
    let doc = client.get("/state").await?;
    match &args.output {
        Some(path) => {
            let text = write_document(&doc, is_json(path))?;
            std::fs::write(path, text)
                .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{}", write_document(&doc, client.json)?),
    }
    Ok(())
}

/// The plan as a diff: `+` create, `~` update (fields; restarts), `-` delete; unchanged lines are
/// counted only.
pub fn render_plan(changes: &[Value]) -> String {
    let mut out = String::new();
    let mut unchanged = 0;
    let mut restarts = 0;
    for c in changes {
        let kind = c["kind"].as_str().unwrap_or("?").replace('_', " ");
        let name = c["name"].as_str().unwrap_or("?");
        let fields: Vec<&str> = c["fields"]
            .as_array()
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let line = match c["action"].as_str() {
            Some("create") => paint(GOOD, &format!("+ {kind} {name}")),
            Some("delete") => paint(BAD, &format!("- {kind} {name}")),
            Some("update") => {
                let restart = c["restarts"].as_bool().unwrap_or(false);
                if restart {
                    restarts += 1;
                }
                paint(
                    WARN,
                    &format!(
                        "~ {kind} {name}: {}{}",
                        fields.join(", "),
                        if restart { " (restarts)" } else { "" }
                    ),
                )
            }
            _ => {
                unchanged += 1;
                continue;
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    let count = |a: &str| changes.iter().filter(|c| c["action"] == a).count();
    out.push_str(&format!(
        "{} to create, {} to update ({restarts} restart), {} to delete, {unchanged} unchanged",
        count("create"),
        count("update"),
        count("delete"),
    ));
    out
}

/// `warden apply`.
pub async fn apply(client: &Client, args: &ApplyArgs) -> Result<(), CliError> {
    let mut doc = read_document(&args.file)?;
    if let Some(map) = doc.as_object_mut() {
        if args.prune {
            map.insert("prune".into(), Value::Bool(true));
        }
        if let Some(secs) = args.confirm_within {
            map.insert("firewall_confirm_within_secs".into(), secs.into());
        }
    }
    let plan = client.send(Method::POST, "/state/plan", &doc).await?;
    let changes = plan["changes"].as_array().cloned().unwrap_or_default();
    if !client.json {
        anstream::println!("{}", render_plan(&changes));
    }
    let any = changes.iter().any(|c| c["action"] != "unchanged");
    if args.dry_run || !any {
        if client.json {
            client.print(&plan, |_| String::new());
        } else if !any {
            println!("nothing to change");
        }
        return Ok(());
    }
    let outcome = client.send(Method::PUT, "/state", &doc).await?;
    client.print(&outcome, |o| {
        let mut text = if o["changed"].as_bool().unwrap_or(false) {
            "applied".to_string()
        } else {
            "nothing changed".to_string()
        };
        if let Some(reason) = o["firewall_not_applied"].as_str() {
            text.push_str(&format!(
                "\nthe firewall rules are saved but not live: {reason}"
            ));
        }
        text
    });
    Ok(())
}

/// `warden backup`: the snapshot, written with mode 0600.
pub async fn backup(client: &Client, args: &BackupArgs) -> Result<(), CliError> {
    let reply = client.call(Method::GET, "/backup", None).await?;
    let body = reply.text();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&args.output)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", args.output.display())))?;
    file.write_all(body.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", args.output.display())))?;
    eprintln!("wrote {} ({} bytes)", args.output.display(), body.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_reads_as_a_diff() {
        let changes = serde_json::json!([
            {"kind": "service", "name": "web", "action": "update", "fields": ["command"], "restarts": true},
            {"kind": "service", "name": "new", "action": "create", "fields": [], "restarts": false},
            {"kind": "rule", "name": "#0 ssh", "action": "delete", "fields": [], "restarts": false},
            {"kind": "settings", "name": "settings", "action": "unchanged", "fields": [], "restarts": false},
        ]);
        let text = render_plan(changes.as_array().unwrap());
        let plain: String = anstream::adapter::strip_str(&text).to_string();
        assert!(
            plain.contains("~ service web: command (restarts)"),
            "{plain}"
        );
        assert!(plain.contains("+ service new"), "{plain}");
        assert!(plain.contains("- rule #0 ssh"), "{plain}");
        assert!(
            plain.contains("1 to create, 1 to update (1 restart), 1 to delete, 1 unchanged"),
            "{plain}"
        );
    }

    #[test]
    fn yaml_and_json_documents_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("state.yaml");
        std::fs::write(
            &yaml,
            "apiVersion: warden/v1\nservices:\n  - name: web\n    command: sleep 100\n",
        )
        .unwrap();
        let json = dir.path().join("state.json");
        std::fs::write(
            &json,
            r#"{"apiVersion": "warden/v1", "services": [{"name": "web", "command": "sleep 100"}]}"#,
        )
        .unwrap();
        assert_eq!(read_document(&yaml).unwrap(), read_document(&json).unwrap());
        let text = write_document(&read_document(&yaml).unwrap(), false).unwrap();
        std::fs::write(&yaml, text).unwrap();
        assert_eq!(read_document(&yaml).unwrap(), read_document(&json).unwrap());
        std::fs::write(&yaml, "- a list").unwrap();
        assert!(matches!(read_document(&yaml), Err(CliError::Usage(_))));
    }
}
