//! systemd `.service` units → Warden services (systemd.service(5), systemd.exec(5), systemd.kill(5),
//! systemd.resource-control(5)): `ExecStart=` with its prefixes and `$VAR` rules, `Environment=` and
//! `EnvironmentFile=`, `User=`, `Restart=`, `KillSignal=`, `TimeoutStopSec=`, the limits, and `After=` /
//! `Requires=` between the imported units. The sandboxing settings have no counterpart and are reported.

use std::path::Path;

use app::model::import::{ImportFile, ImportNoteKind};
use app::model::service::ServiceInput;

use super::command_words::{split_systemd, systemd_to_shell};
use super::systemd_settings::service_setting;
use super::systemd_unit::{self, expand_specifiers, Assignment, UnitNames};
use super::{service_name, Converted, FileSource, Notes};

/// The settings whose values may hold specifiers (`%i`, `%n`…) that the import resolves.
const SPECIFIER_KEYS: &[&str] = &[
    "WorkingDirectory",
    "Environment",
    "EnvironmentFile",
    "User",
    "After",
    "Requires",
    "Wants",
    "BindsTo",
    "Requisite",
];

/// The names a unit file's name gives: Warden's service name source and the specifier values.
fn unit_names(file: &str) -> Result<UnitNames, String> {
    let base = Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(file)
        .to_string();
    let full = if base.ends_with(".service") {
        base
    } else {
        format!("{base}.service")
    };
    let stem = full.trim_end_matches(".service");
    let (prefix, instance) = match stem.split_once('@') {
        Some((_, "")) => {
            return Err(format!("{full} is a template: import an instance of it (e.g. name the file {stem}instance.service)"))
        }
        Some((p, i)) => (p.to_string(), i.to_string()),
        None => (stem.to_string(), String::new()),
    };
    Ok(UnitNames {
        full,
        prefix,
        instance,
        user: None,
    })
}

/// Converts each unit file.
pub fn convert(files: &[ImportFile], source: &dyn FileSource, notes: &mut Notes) -> Vec<Converted> {
    files
        .iter()
        .filter_map(|f| convert_unit(f, source, notes))
        .collect()
}

fn convert_unit(
    file: &ImportFile,
    source: &dyn FileSource,
    notes: &mut Notes,
) -> Option<Converted> {
    let fname = file.name.as_str();
    let assignments = match systemd_unit::parse(&file.text) {
        Ok(a) => a,
        Err(e) => {
            notes.push(
                ImportNoteKind::Error,
                fname,
                Some(e.line),
                None,
                "",
                e.message,
            );
            return None;
        }
    };
    let mut names = match unit_names(fname) {
        Ok(n) => n,
        Err(e) => {
            notes.push(ImportNoteKind::Refused, fname, None, None, "unit", e);
            return None;
        }
    };
    names.user = assignments
        .iter()
        .rev()
        .find(|a| a.section == "Service" && a.key == "User")
        .map(|a| a.value.clone());
    let source_name = if names.instance.is_empty() {
        names.prefix.clone()
    } else {
        format!("{}-{}", names.prefix, names.instance)
    };
    let name = service_name(&source_name, fname, None, notes);
    let svc = Some(name.as_str());
    let service_type = assignments
        .iter()
        .rev()
        .find(|a| a.section == "Service" && a.key == "Type")
        .map(|a| a.value.as_str())
        .unwrap_or("simple");
    match service_type {
        "forking" => {
            notes.push(ImportNoteKind::Refused, fname, None, svc, "Type", "Type=forking: the program puts itself in the background, and Warden supervises foreground programs; change its command to stay in the foreground (e.g. nginx -g 'daemon off;', a --foreground or -D flag) and add it by hand");
            return None;
        }
        "oneshot" => {
            notes.push(
                ImportNoteKind::Refused,
                fname,
                None,
                svc,
                "Type",
                "Type=oneshot runs once and exits: not a long-running service",
            );
            return None;
        }
        _ => {}
    }
    let exec_starts: Vec<&Assignment> = assignments
        .iter()
        .filter(|a| a.section == "Service" && a.key == "ExecStart" && !a.value.is_empty())
        .collect();
    let Some(exec) = exec_starts.last() else {
        notes.push(
            ImportNoteKind::Refused,
            fname,
            None,
            svc,
            "ExecStart",
            "the unit has no ExecStart",
        );
        return None;
    };
    if exec_starts.len() > 1 {
        notes.push(
            ImportNoteKind::Refused,
            fname,
            Some(exec.line),
            svc,
            "ExecStart",
            "several ExecStart= lines (only Type=oneshot allows them)",
        );
        return None;
    }
    let command = match exec_command(exec, &names, fname, svc, notes) {
        Ok(c) => c,
        Err(e) => {
            notes.push(
                ImportNoteKind::Refused,
                fname,
                Some(exec.line),
                svc,
                "ExecStart",
                e,
            );
            return None;
        }
    };
    let mut input = ServiceInput::new(name.clone(), command);
    let mut after_sources = Vec::new();
    for a in &assignments {
        let l = Some(a.line);
        let key = a.key.as_str();
        // Specifiers are resolved in the settings that take them (ExecStart= separately, with its prefixes).
        let value = if SPECIFIER_KEYS.contains(&key) {
            match expand_specifiers(&a.value, &names) {
                Ok(v) => v,
                Err(e) => {
                    notes.push(ImportNoteKind::Unmapped, fname, l, svc, key, e);
                    continue;
                }
            }
        } else {
            a.value.clone()
        };
        match (a.section.as_str(), key) {
            ("Service", "ExecStart") | ("Service", "Type") => {
                if key == "Type" && (value == "notify" || value == "notify-reload") {
                    notes.push(ImportNoteKind::Approximated, fname, l, svc, key, format!("Type={value}: Warden gives no NOTIFY_SOCKET; the program runs without readiness notification (use a monitoring command for health)"));
                }
            }
            ("Unit", "After")
            | ("Unit", "Requires")
            | ("Unit", "Wants")
            | ("Unit", "BindsTo")
            | ("Unit", "Requisite") => {
                for unit in value.split_whitespace() {
                    if unit.ends_with(".service") {
                        after_sources.push(unit.trim_end_matches(".service").to_string());
                    } else if key == "After" {
                        notes.push(ImportNoteKind::Unmapped, fname, l, svc, key, format!("{unit}: Warden starts services once it is up itself (network and file systems are there by then)"));
                    }
                }
                if key != "After" {
                    notes.push(ImportNoteKind::Approximated, fname, l, svc, key, format!("{key}= becomes a start order (after): Warden does not stop this service when the other one stops"));
                }
            }
            ("Unit", _) => notes.push(
                ImportNoteKind::Unmapped,
                fname,
                l,
                svc,
                key,
                "unit metadata and conditions are not imported",
            ),
            ("Install", _) => notes.push(
                ImportNoteKind::Unmapped,
                fname,
                l,
                svc,
                key,
                "Warden starts every enabled service when it starts; there are no targets",
            ),
            ("Service", _) => {
                if !service_setting(fname, l, svc, key, &value, source, &mut input, notes) {
                    return None;
                }
            }
            (other, _) => notes.push(
                ImportNoteKind::Unmapped,
                fname,
                l,
                svc,
                key,
                format!("[{other}] is not a section of a service unit"),
            ),
        }
    }
    Some(Converted {
        input,
        file: fname.to_string(),
        line: None,
        after_sources,
        source_names: vec![
            names.full.trim_end_matches(".service").to_string(),
            names.full.clone(),
        ],
    })
}

/// The shell command of an `ExecStart=` value, after its prefixes (systemd.service(5) table 1).
fn exec_command(
    exec: &Assignment,
    names: &UnitNames,
    file: &str,
    svc: Option<&str>,
    notes: &mut Notes,
) -> Result<String, String> {
    let mut text = exec.value.as_str();
    let mut substitute = true;
    while let Some(first) = text.chars().next() {
        match first {
            '-' => notes.push(ImportNoteKind::Approximated, file, Some(exec.line), svc, "ExecStart", "the - prefix (failure ignored) has no meaning for a long-running service"),
            ':' => substitute = false,
            '+' | '!' => notes.push(ImportNoteKind::Approximated, file, Some(exec.line), svc, "ExecStart", format!("the {first} prefix (full privileges) is dropped: the command runs as the service user")),
            '@' => return Err("the @ prefix (a different argv[0]) cannot be expressed as a shell command".into()),
            '|' => return Err("the | prefix (run through the user's shell) is not imported".into()),
            _ => break,
        }
        text = &text[first.len_utf8()..];
    }
    let expanded = expand_specifiers(text, names)?;
    let words = split_systemd(&expanded, substitute)?;
    if words.is_empty() {
        return Err("ExecStart is empty".into());
    }
    Ok(systemd_to_shell(&words))
}
