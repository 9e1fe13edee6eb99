//! supervisord `[program:x]` sections → Warden services (supervisord's configuration.rst is the
//! reference for every key): `%(ENV_X)s`, `%(program_name)s`, `%(here)s`… expansion, `[include]` files
//! (one level, as supervisord does), and a note for each key Warden has no counterpart for.

use std::collections::BTreeMap;
use std::path::Path;

use app::model::import::{ImportFile, ImportNoteKind};
use app::model::service::{RestartPolicy, ServiceInput, StopSignalName};
use app::model::service_lifecycle::MAX_STOP_GRACE_SECS;

use super::ini::{self, Section};
use super::supervisord_values::{expand, parse_environment, Expansion};
use super::{
    command_words, directory_of, parse_bool, service_name, Converted, FileSource, HostFacts, Notes,
};

/// Keys that belong to supervisord's own logging, which Warden replaces with its per-service log.
const LOG_KEYS: &[&str] = &[
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
];

/// Sections that configure supervisord itself rather than a program.
const OWN_SECTIONS: &[&str] = &[
    "supervisord",
    "supervisorctl",
    "unix_http_server",
    "inet_http_server",
];

/// Converts the files and the files their `[include]` sections name.
pub fn convert(
    files: &[ImportFile],
    source: &dyn FileSource,
    host: &HostFacts,
    notes: &mut Notes,
) -> Vec<Converted> {
    let mut parsed: Vec<(String, Vec<Section>)> = Vec::new();
    for file in files {
        let Some(sections) = parse_file(&file.name, &file.text, notes) else {
            continue;
        };
        let includes = sections.iter().find(|s| s.name == "include").cloned();
        parsed.push((file.name.clone(), sections));
        if let Some(include) = includes {
            follow_includes(&file.name, &include, source, host, notes, &mut parsed);
        }
    }
    let global_env = parsed.iter().find_map(|(file, sections)| {
        let section = sections.iter().find(|s| s.name == "supervisord")?;
        let entry = section.get("environment")?;
        Some((file.clone(), entry.clone()))
    });
    let mut global = BTreeMap::new();
    if let Some((file, entry)) = global_env {
        match parse_environment(&entry.value) {
            Ok(env) => global = env,
            Err(e) => notes.push(
                ImportNoteKind::Error,
                &file,
                Some(entry.line),
                None,
                "environment",
                e,
            ),
        }
    }
    let mut converted = Vec::new();
    for (file, sections) in &parsed {
        for section in sections {
            if let Some(c) = convert_section(file, section, host, &global, notes) {
                converted.push(c);
            }
        }
    }
    converted
}

fn parse_file(name: &str, text: &str, notes: &mut Notes) -> Option<Vec<Section>> {
    match ini::parse(text) {
        Ok(s) => Some(s),
        Err(e) => {
            notes.push(
                ImportNoteKind::Error,
                name,
                Some(e.line),
                None,
                "",
                e.message,
            );
            None
        }
    }
}

fn follow_includes(
    file: &str,
    include: &Section,
    source: &dyn FileSource,
    host: &HostFacts,
    notes: &mut Notes,
    parsed: &mut Vec<(String, Vec<Section>)>,
) {
    let Some(entry) = include.get("files") else {
        notes.push(
            ImportNoteKind::Error,
            file,
            Some(include.line),
            None,
            "include",
            "[include] needs a files setting",
        );
        return;
    };
    let here = directory_of(file);
    let ex = Expansion {
        program: "",
        here: here.display().to_string(),
        host,
    };
    let value = match expand(&entry.value, &ex) {
        Ok(v) => v,
        Err(e) => {
            notes.push(
                ImportNoteKind::Error,
                file,
                Some(entry.line),
                None,
                "files",
                e,
            );
            return;
        }
    };
    for pattern in value.split_whitespace() {
        let full = if Path::new(pattern).is_absolute() {
            pattern.to_string()
        } else {
            here.join(pattern).display().to_string()
        };
        let paths = match source.glob(&full) {
            Ok(p) => p,
            Err(e) => {
                notes.push(
                    ImportNoteKind::Unmapped,
                    file,
                    Some(entry.line),
                    None,
                    "files",
                    format!("{full} was not followed: {e}"),
                );
                continue;
            }
        };
        if paths.is_empty() {
            notes.push(
                ImportNoteKind::Unmapped,
                file,
                Some(entry.line),
                None,
                "files",
                format!("{full} matches no file"),
            );
        }
        for path in paths {
            let name = path.display().to_string();
            match source.read(&path) {
                Ok(text) => {
                    if let Some(sections) = parse_file(&name, &text, notes) {
                        if sections.iter().any(|s| s.name == "include") {
                            notes.push(ImportNoteKind::Unmapped, &name, None, None, "include", "an [include] inside an included file is not followed (supervisord does not either)");
                        }
                        parsed.push((name, sections));
                    }
                }
                Err(e) => notes.push(
                    ImportNoteKind::Error,
                    file,
                    Some(entry.line),
                    None,
                    "files",
                    format!("{name}: {e}"),
                ),
            }
        }
    }
}

fn convert_section(
    file: &str,
    section: &Section,
    host: &HostFacts,
    global_env: &BTreeMap<String, String>,
    notes: &mut Notes,
) -> Option<Converted> {
    let line = Some(section.line);
    let Some(program) = section.name.strip_prefix("program:") else {
        let kind = section.name.split(':').next().unwrap_or_default();
        let message = match kind {
            "include" => return None,
            k if OWN_SECTIONS.contains(&k) => "supervisord's own settings, not a program",
            "group" => "groups are not imported: each program becomes its own service",
            "eventlistener" => {
                "event listeners are not imported: Warden's notifications cover service events"
            }
            "fcgi-program" => {
                "FastCGI programs (a socket supervisord opens for the children) are not imported"
            }
            k if k.starts_with("rpcinterface") => "supervisord's RPC plugins have no counterpart",
            _ => "not a section supervisord knows",
        };
        let kind = if section.name.starts_with("fcgi-program:")
            || section.name.starts_with("eventlistener:")
        {
            ImportNoteKind::Refused
        } else {
            ImportNoteKind::Unmapped
        };
        notes.push(
            kind,
            file,
            line,
            None,
            &format!("[{}]", section.name),
            message,
        );
        return None;
    };
    let name = service_name(program, file, line, notes);
    let svc = Some(name.as_str());
    let ex = Expansion {
        program,
        here: directory_of(file).display().to_string(),
        host,
    };
    let numprocs = section.get("numprocs").map(|e| e.value.trim().to_string());
    if let Some(n) = numprocs.as_deref() {
        if n != "1" {
            notes.push(
                ImportNoteKind::Refused,
                file,
                section.get("numprocs").map(|e| e.line),
                svc,
                "numprocs",
                format!("numprocs={n}: a Warden service is one process group with its own ports; create one service per process (e.g. {program}-0, {program}-1) by hand"),
            );
            return None;
        }
    }
    let Some(command_entry) = section.get("command") else {
        notes.push(
            ImportNoteKind::Refused,
            file,
            line,
            svc,
            "command",
            "a program needs a command",
        );
        return None;
    };
    let command =
        match expand(&command_entry.value, &ex).and_then(|c| command_words::split_posix(&c)) {
            Ok(args) if !args.is_empty() => command_words::join(&args),
            Ok(_) => {
                notes.push(
                    ImportNoteKind::Refused,
                    file,
                    Some(command_entry.line),
                    svc,
                    "command",
                    "the command is empty",
                );
                return None;
            }
            Err(e) => {
                notes.push(
                    ImportNoteKind::Refused,
                    file,
                    Some(command_entry.line),
                    svc,
                    "command",
                    e,
                );
                return None;
            }
        };
    let mut input = ServiceInput::new(name.clone(), command);
    input.environment = global_env.clone();
    let mut autorestart: Option<String> = None;
    let mut exitcodes: Option<(String, u32)> = None;
    for entry in &section.entries {
        let key = entry.key.as_str();
        let l = Some(entry.line);
        let value = match expand(&entry.value, &ex) {
            Ok(v) => v,
            Err(e) => {
                notes.push(ImportNoteKind::Refused, file, l, svc, key, e);
                return None;
            }
        };
        let mut unmapped =
            |message: &str| notes.push(ImportNoteKind::Unmapped, file, l, svc, key, message);
        match key {
            "command" | "numprocs" => {}
            "process_name" => {
                if value != program {
                    unmapped("the service is named after the program; process_name is not used");
                }
            }
            "numprocs_start" => unmapped("only used with numprocs > 1"),
            "directory" => {
                if value.starts_with('/') {
                    input.working_directory = Some(value);
                } else {
                    notes.push(ImportNoteKind::Refused, file, l, svc, key, format!("{value:?} is not an absolute path"));
                    return None;
                }
            }
            "umask" => unmapped("Warden does not set a umask per service: start the command with `umask 022; exec …` if it needs one"),
            "priority" => unmapped("start order in Warden is explicit: set `after` to the services that must run first"),
            "autostart" => match parse_bool(&value) {
                Some(b) => input.enabled = b,
                None => notes.push(ImportNoteKind::Error, file, l, svc, key, format!("{value:?} is not true or false")),
            },
            "autorestart" => autorestart = Some(value.to_ascii_lowercase()),
            "exitcodes" => exitcodes = Some((value, entry.line)),
            "startsecs" | "startretries" => notes.push(
                ImportNoteKind::Approximated,
                file,
                l,
                svc,
                key,
                format!("{key}={value}: Warden's crash-loop rule applies instead (a service failing 5 times within 60 s is disabled; backoff 100 ms doubling to 30 s)"),
            ),
            "stopsignal" => match StopSignalName::parse(&value.to_ascii_uppercase()) {
                Some(signal) => input.stop_signal = signal,
                None => notes.push(ImportNoteKind::Unmapped, file, l, svc, key, format!("{value} is not a stop signal Warden sends; TERM is used")),
            },
            "stopwaitsecs" => match value.parse::<u64>() {
                Ok(secs) if secs > MAX_STOP_GRACE_SECS => {
                    input.stop_grace_secs = Some(MAX_STOP_GRACE_SECS);
                    notes.push(ImportNoteKind::Approximated, file, l, svc, key, format!("{secs} s is above Warden's longest stop grace; {MAX_STOP_GRACE_SECS} s is used"));
                }
                Ok(0) => {
                    input.stop_grace_secs = Some(1);
                    notes.push(ImportNoteKind::Approximated, file, l, svc, key, "0 s: Warden's shortest stop grace, 1 s, is used");
                }
                Ok(secs) => input.stop_grace_secs = Some(secs),
                Err(_) => notes.push(ImportNoteKind::Error, file, l, svc, key, format!("{value:?} is not a number of seconds")),
            },
            "stopasgroup" | "killasgroup" => unmapped("always on in Warden: a stop signals the service's whole process group (and its cgroup)"),
            "user" => input.user = Some(value),
            "environment" => match parse_environment(&value) {
                Ok(env) => input.environment.extend(env),
                Err(e) => {
                    notes.push(ImportNoteKind::Refused, file, l, svc, key, e);
                    return None;
                }
            },
            "serverurl" => unmapped("supervisorctl's address for the program; Warden's CLI finds its server itself"),
            k if LOG_KEYS.contains(&k) => unmapped("Warden writes stdout and stderr to the service's own log (<data>/logs/services, rotated 10 MiB × 5, lines marked out/err)"),
            _ => unmapped("not a supervisord program setting"),
        }
    }
    apply_autorestart(file, svc, autorestart, exitcodes, &mut input, notes);
    Some(Converted {
        input,
        file: file.to_string(),
        line,
        after_sources: Vec::new(),
        source_names: vec![program.to_string()],
    })
}

fn apply_autorestart(
    file: &str,
    svc: Option<&str>,
    autorestart: Option<String>,
    exitcodes: Option<(String, u32)>,
    input: &mut ServiceInput,
    notes: &mut Notes,
) {
    // supervisord's default is `unexpected` with exitcodes=0: restarted unless it exits 0.
    let policy = autorestart.as_deref().unwrap_or("unexpected");
    input.restart = match policy {
        "true" => RestartPolicy::Always,
        "false" => RestartPolicy::Never,
        _ => RestartPolicy::OnFailure,
    };
    if let Some((codes, line)) = exitcodes {
        let only_zero = codes.split(',').map(str::trim).all(|c| c == "0");
        if !only_zero && input.restart == RestartPolicy::OnFailure {
            notes.push(
                ImportNoteKind::Approximated,
                file,
                Some(line),
                svc,
                "exitcodes",
                format!("exitcodes={codes}: Warden counts only exit 0 as expected"),
            );
        } else if !only_zero {
            notes.push(
                ImportNoteKind::Unmapped,
                file,
                Some(line),
                svc,
                "exitcodes",
                "only matters with autorestart=unexpected",
            );
        }
    }
}
