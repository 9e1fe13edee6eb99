//! Importing other supervisors' definitions (supervisord, systemd units, PM2 ecosystem files) as Warden
//! services, with a report of every key that was not carried over and why. Pure conversion: the only
//! effect is reading files a definition names (supervisord `[include]`, systemd `EnvironmentFile=`),
//! and that goes through a [`FileSource`], so the browser import (pasted text) reads nothing from the
//! server's disk while `warden import` on the host follows them.
//!
//! Every converted service is checked with the same validation `POST /api/v1/services` runs (minus the
//! host checks), so what the import hands over is accepted as it is, or is reported and left out.

mod command_words;
mod ini;
mod pm2;
mod sizes;
mod supervisord;
mod supervisord_values;
mod systemd;
mod systemd_settings;
mod systemd_unit;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use app::model::import::{
    ImportFile, ImportFormat, ImportNote, ImportNoteKind, ImportOutcome, MAX_IMPORT_BYTES,
};
use app::model::service::{validate_service, ServiceInput, ValidationContext};
use app::model::service_ports::ServicePortRange;

/// Reading the files a definition refers to.
pub trait FileSource {
    /// The text of `path`; `Err` says why it could not be read.
    fn read(&self, path: &Path) -> Result<String, String>;
    /// The files a glob pattern matches, sorted.
    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, String>;
}

/// The host's files (the CLI).
pub struct DiskFiles;

/// The most a referenced file may hold.
const MAX_REFERENCED_FILE_BYTES: u64 = 1024 * 1024;

impl FileSource for DiskFiles {
    fn read(&self, path: &Path) -> Result<String, String> {
        let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
        if meta.len() > MAX_REFERENCED_FILE_BYTES {
            return Err(format!("larger than {} bytes", MAX_REFERENCED_FILE_BYTES));
        }
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }

    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, String> {
        let paths = glob::glob(pattern).map_err(|e| e.to_string())?;
        let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        found.sort();
        Ok(found)
    }
}

/// No files at all (the browser import: pasted text only).
pub struct NoFiles;

impl FileSource for NoFiles {
    fn read(&self, _path: &Path) -> Result<String, String> {
        Err("files on the server are not read by the browser import (run `warden import` on the host to follow them)".into())
    }

    fn glob(&self, _pattern: &str) -> Result<Vec<PathBuf>, String> {
        Err("files on the server are not read by the browser import (run `warden import` on the host to follow them)".into())
    }
}

/// What the converters share: the report being written and the host facts expansion needs.
pub(crate) struct Notes {
    pub notes: Vec<ImportNote>,
}

impl Notes {
    fn new() -> Self {
        Notes { notes: Vec::new() }
    }

    pub fn push(
        &mut self,
        kind: ImportNoteKind,
        file: &str,
        line: Option<u32>,
        service: Option<&str>,
        key: &str,
        message: impl Into<String>,
    ) {
        self.notes.push(ImportNote {
            kind,
            file: file.to_string(),
            line,
            service: service.map(str::to_string),
            key: key.to_string(),
            message: message.into(),
        });
    }
}

/// A converted service before the shared validation, with where it came from.
pub(crate) struct Converted {
    pub input: ServiceInput,
    pub file: String,
    pub line: Option<u32>,
    /// `after` names as the source wrote them (resolved to Warden names once all are converted).
    pub after_sources: Vec<String>,
    /// The names this service is known by in its source (e.g. `redis-server.service`, `redis`).
    pub source_names: Vec<String>,
}

/// Host facts some formats expand (`%(ENV_X)s`, `%(host_node_name)s`).
pub struct HostFacts {
    pub environment: BTreeMap<String, String>,
    pub hostname: String,
}

impl HostFacts {
    /// The importing process's own environment and host name.
    pub fn current() -> Self {
        HostFacts {
            environment: std::env::vars().collect(),
            hostname: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".into()),
        }
    }

    /// No environment (the browser import: the server's own environment is not the operator's).
    pub fn none() -> Self {
        HostFacts {
            environment: BTreeMap::new(),
            hostname: "localhost".into(),
        }
    }
}

/// Converts `files` of `format` into services and a report.
pub fn convert(
    format: ImportFormat,
    files: &[ImportFile],
    source: &dyn FileSource,
    host: &HostFacts,
) -> ImportOutcome {
    let mut notes = Notes::new();
    let total: usize = files.iter().map(|f| f.text.len()).sum();
    if total > MAX_IMPORT_BYTES {
        notes.push(
            ImportNoteKind::Error,
            "",
            None,
            None,
            "",
            format!("the import is larger than {MAX_IMPORT_BYTES} bytes"),
        );
        return ImportOutcome {
            services: Vec::new(),
            notes: notes.notes,
        };
    }
    let converted = match format {
        ImportFormat::Supervisord => supervisord::convert(files, source, host, &mut notes),
        ImportFormat::Systemd => systemd::convert(files, source, &mut notes),
        ImportFormat::Pm2 => pm2::convert(files, &mut notes),
    };
    let services = finish(converted, &mut notes);
    ImportOutcome {
        services,
        notes: notes.notes,
    }
}

/// Resolves `after` between the imported services, then runs the shared validation on each (names
/// already taken by an earlier one included) and keeps what passes.
fn finish(converted: Vec<Converted>, notes: &mut Notes) -> Vec<ServiceInput> {
    let mut known: BTreeMap<String, String> = BTreeMap::new();
    for c in &converted {
        for alias in &c.source_names {
            known.insert(alias.clone(), c.input.name.clone());
        }
        known.insert(c.input.name.clone(), c.input.name.clone());
    }
    // Each one is validated against all the others (an `after` may name one converted later).
    let mut all_after: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut resolved = Vec::new();
    for mut c in converted {
        let name = c.input.name.clone();
        for source_name in &c.after_sources {
            match known.get(source_name) {
                Some(target) if *target != name => {
                    if !c.input.after.contains(target) {
                        c.input.after.push(target.clone());
                    }
                }
                Some(_) => {}
                None => notes.push(
                    ImportNoteKind::Unmapped,
                    &c.file,
                    c.line,
                    Some(&name),
                    source_name,
                    format!("{source_name} is not among the imported definitions, so the start order after it is not kept"),
                ),
            }
        }
        all_after.insert(name, c.input.after.clone());
        resolved.push(c);
    }
    let mut services = Vec::new();
    for (index, c) in resolved.iter().enumerate() {
        let name = &c.input.name;
        let others = resolved
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, o)| o.input.name.clone());
        let ctx = ValidationContext {
            port_range: ServicePortRange::default(),
            taken_names: others.collect(),
            taken_ports: BTreeMap::new(),
            after: all_after
                .iter()
                .filter(|(n, _)| *n != name)
                .map(|(n, a)| (n.clone(), a.clone()))
                .collect(),
        };
        match validate_service(&c.input, &ctx) {
            Ok(_) => services.push(c.input.clone()),
            Err(errors) => {
                for e in errors.invalid.iter().chain(errors.conflicts.iter()) {
                    notes.push(
                        ImportNoteKind::Refused,
                        &c.file,
                        c.line,
                        Some(name),
                        &e.field,
                        format!("not imported: {}", e.message),
                    );
                }
            }
        }
    }
    services
}

/// A Warden service name for a source name: lowercase, other characters as `-`, at most 64. The note
/// says when it differs.
pub(crate) fn service_name(
    source: &str,
    file: &str,
    line: Option<u32>,
    notes: &mut Notes,
) -> String {
    let mut name: String = source
        .trim()
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(app::model::service::NAME_MAX_CHARS);
    if name != source {
        notes.push(
            ImportNoteKind::Approximated,
            file,
            line,
            Some(&name),
            "name",
            format!("{source:?} is named {name:?} in Warden (service names use a-z, 0-9, - and _)"),
        );
    }
    name
}

/// The desired-state document (`apiVersion: warden/v1`) holding `services`, each written without the
/// fields that only repeat Warden's defaults (`PUT /api/v1/state` and `warden apply` read it as is).
pub fn services_document(services: &[ServiceInput]) -> serde_json::Value {
    let list: Vec<serde_json::Value> = services.iter().map(compact_service).collect();
    serde_json::json!({ "apiVersion": "warden/v1", "services": list })
}

/// A service's JSON without the fields equal to a new service's defaults.
pub fn compact_service(service: &ServiceInput) -> serde_json::Value {
    let defaults = serde_json::to_value(ServiceInput::new(&service.name, &service.command))
        .unwrap_or_default();
    let mut value = serde_json::to_value(service).unwrap_or_default();
    if let (Some(map), Some(defaults)) = (value.as_object_mut(), defaults.as_object()) {
        map.retain(|key, v| key == "name" || key == "command" || defaults.get(key) != Some(v));
        for nested in ["monitoring", "limits"] {
            if let Some(inner) = map.get_mut(nested).and_then(|v| v.as_object_mut()) {
                inner.retain(|_, v| !v.is_null());
            }
        }
    }
    value
}

/// Parses a boolean the way supervisord and systemd spell them.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The directory a file name lives in (`.` when it has none).
pub(crate) fn directory_of(file: &str) -> PathBuf {
    match Path::new(file).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests;
