//! `warden import supervisord|systemd|pm2 FILE… [-o out.yaml]`: converts other supervisors' definitions
//! on this host into a desired-state document (YAML, or JSON for `-o *.json` / `--json`), following
//! `[include]` and `EnvironmentFile=` on disk, and prints the report of what was not carried over on
//! stderr. Needs no running Warden: review the document, then `warden apply -f` it.

use std::io::Write;
use std::path::PathBuf;

use app::model::import::{ImportFile, ImportFormat, ImportNoteKind, ImportOutcome};
use clap::{Args, ValueEnum};

use super::render::{paint, BAD, BOLD, DIM, WARN};
use super::CliError;
use crate::import::{convert, services_document, DiskFiles, HostFacts};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Supervisord,
    Systemd,
    Pm2,
}

impl From<FormatArg> for ImportFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Supervisord => ImportFormat::Supervisord,
            FormatArg::Systemd => ImportFormat::Systemd,
            FormatArg::Pm2 => ImportFormat::Pm2,
        }
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What the files are.
    pub format: FormatArg,
    /// The files: supervisord.conf (its [include] files are followed), .service units, PM2 ecosystem files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write the document here (0600) instead of stdout; `.json` writes JSON.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// JSON instead of YAML.
    #[arg(long)]
    pub json: bool,
}

/// Runs the import.
pub fn run(args: ImportArgs) -> Result<(), CliError> {
    let mut files = Vec::new();
    for path in &args.files {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        let text = std::fs::read_to_string(&absolute)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        files.push(ImportFile {
            name: absolute.display().to_string(),
            text,
        });
    }
    let outcome = convert(
        args.format.into(),
        &files,
        &DiskFiles,
        &HostFacts::current(),
    );
    print_report(&outcome);
    let json = args.json
        || args
            .output
            .as_ref()
            .is_some_and(|p| p.extension().is_some_and(|e| e == "json"));
    let document = services_document(&outcome.services);
    let text = if json {
        serde_json::to_string_pretty(&document).map_err(|e| CliError::Protocol(e.to_string()))?
            + "\n"
    } else {
        serde_norway::to_string(&document).map_err(|e| CliError::Protocol(e.to_string()))?
    };
    match &args.output {
        Some(path) => write_private(path, &text)
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?,
        None => print!("{text}"),
    }
    let unreadable = outcome.notes_of(ImportNoteKind::Error).count();
    if outcome.services.is_empty() {
        return Err(CliError::Failed(
            "nothing was imported (see the report above)".into(),
        ));
    }
    if unreadable > 0 {
        return Err(CliError::Failed(format!(
            "{unreadable} part(s) of the input could not be read (see the report above); the document holds the rest"
        )));
    }
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// The report on stderr: one line per note, grouped by kind, then a summary.
fn print_report(outcome: &ImportOutcome) {
    let groups = [
        (ImportNoteKind::Error, "could not be read", BAD),
        (ImportNoteKind::Refused, "not imported", BAD),
        (
            ImportNoteKind::Approximated,
            "imported with a difference",
            WARN,
        ),
        (ImportNoteKind::Unmapped, "left out", DIM),
    ];
    for (kind, heading, style) in groups {
        let notes: Vec<_> = outcome.notes_of(kind).collect();
        if notes.is_empty() {
            continue;
        }
        anstream::eprintln!("{}", paint(BOLD, &format!("{heading} ({})", notes.len())));
        for n in notes {
            let place = match n.line {
                Some(line) => format!("{}:{line}", n.file),
                None => n.file.clone(),
            };
            let service = n
                .service
                .as_deref()
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default();
            anstream::eprintln!(
                "  {}{service} {}: {}",
                paint(DIM, &place),
                paint(style, &n.key),
                n.message
            );
        }
    }
    let names: Vec<&str> = outcome.services.iter().map(|s| s.name.as_str()).collect();
    anstream::eprintln!(
        "{} service(s) converted{}",
        names.len(),
        if names.is_empty() {
            String::new()
        } else {
            format!(": {}", names.join(", "))
        }
    );
}
