//! systemd `.service` units → Warden services (systemd.service(5), systemd.exec(5), systemd.kill(5),
//! systemd.resource-control(5)): `ExecStart=` with its prefixes and `$VAR` rules, `Environment=` and
//! `EnvironmentFile=`, `User=`, `Restart=`, `KillSignal=`, `TimeoutStopSec=`, the limits, and `After=` /
//! `Requires=` between the imported units. The sandboxing settings have no counterpart and are reported.

use std::path::Path;

use app::model::import::{ImportFile, ImportNoteKind};
use app::model::service::{RestartPolicy, ServiceInput, StopSignalName};
use app::model::service_form::parse_dotenv;
use app::model::service_lifecycle::MAX_STOP_GRACE_SECS;

use super::command_words::{split_systemd, systemd_to_shell};
use super::sizes::{parse_bytes, parse_timespan, whole_seconds_up, Amount};
use super::systemd_unit::{self, expand_specifiers, split_quoted_list, Assignment, UnitNames};
use super::{service_name, Converted, FileSource, Notes};

/// Settings that harden or isolate a unit, which Warden does not reproduce (it contains services with
/// its own user, process group and cgroup).
const SANDBOX_PREFIXES: &[&str] = &[
    "Protect",
    "Private",
    "Restrict",
    "ReadWrite",
    "ReadOnly",
    "Inaccessible",
    "NoExec",
    "Exec",
    "Capability",
    "AmbientCapabilities",
    "SystemCall",
    "NoNewPrivileges",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "RemoveIPC",
    "DynamicUser",
    "SupplementaryGroups",
    "DevicePolicy",
    "DeviceAllow",
    "IPAddress",
    "Umask",
    "UMask",
    "KeyringMode",
    "SecureBits",
    "Personality",
    "RootDirectory",
    "RootImage",
    "BindPaths",
    "BindReadOnlyPaths",
    "TemporaryFileSystem",
    "MountFlags",
    "ProcSubset",
];

/// Directory management systemd does for a unit.
const DIRECTORY_KEYS: &[&str] = &[
    "RuntimeDirectory",
    "RuntimeDirectoryMode",
    "RuntimeDirectoryPreserve",
    "StateDirectory",
    "StateDirectoryMode",
    "CacheDirectory",
    "CacheDirectoryMode",
    "LogsDirectory",
    "LogsDirectoryMode",
    "ConfigurationDirectory",
    "ConfigurationDirectoryMode",
];

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
    loop {
        let Some(first) = text.chars().next() else {
            break;
        };
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

/// Maps one `[Service]` setting; `false` = the unit cannot be imported.
#[allow(clippy::too_many_arguments)]
fn service_setting(
    file: &str,
    l: Option<u32>,
    svc: Option<&str>,
    key: &str,
    value: &str,
    source: &dyn FileSource,
    input: &mut ServiceInput,
    notes: &mut Notes,
) -> bool {
    let mut note =
        |kind: ImportNoteKind, message: String| notes.push(kind, file, l, svc, key, message);
    match key {
        "WorkingDirectory" => {
            let dir = value.trim_start_matches('-');
            if dir.starts_with('/') {
                input.working_directory = Some(dir.to_string());
            } else {
                note(ImportNoteKind::Unmapped, format!("{dir:?} is not an absolute path (~ means the user's home to systemd); the service starts in Warden's default directory"));
            }
        }
        "Environment" => match split_quoted_list(value) {
            Ok(items) if items.is_empty() => input.environment.clear(),
            Ok(items) => {
                for item in items {
                    match item.split_once('=') {
                        Some((k, v)) => {
                            input.environment.insert(k.to_string(), v.to_string());
                        }
                        None => note(ImportNoteKind::Error, format!("{item:?} is not NAME=value")),
                    }
                }
            }
            Err(e) => note(ImportNoteKind::Error, e),
        },
        "EnvironmentFile" => {
            let optional = value.starts_with('-');
            let path = value.trim_start_matches('-');
            match source.read(Path::new(path)) {
                Ok(text) => match parse_dotenv(&text) {
                    Ok(pairs) => input.environment.extend(pairs),
                    Err(errors) => {
                        for e in errors {
                            note(ImportNoteKind::Error, format!("{path} line {}: {}", e.line, e.message));
                        }
                    }
                },
                Err(e) if optional => note(ImportNoteKind::Unmapped, format!("{path} (optional) was not read: {e}")),
                Err(e) => {
                    note(ImportNoteKind::Refused, format!("{path} was not read: {e}; systemd would not start the unit without it"));
                    return false;
                }
            }
        }
        "User" => input.user = Some(value.to_string()),
        "Group" => note(ImportNoteKind::Unmapped, "the service runs with its user's primary group".into()),
        "Restart" => {
            input.restart = match value {
                "no" => RestartPolicy::Never,
                "always" => RestartPolicy::Always,
                "on-failure" => RestartPolicy::OnFailure,
                "on-abnormal" | "on-abort" | "on-watchdog" => {
                    note(ImportNoteKind::Approximated, format!("Restart={value} becomes on_failure (any exit but 0 restarts it)"));
                    RestartPolicy::OnFailure
                }
                "on-success" => {
                    note(ImportNoteKind::Approximated, "Restart=on-success has no counterpart; the service is never restarted".into());
                    RestartPolicy::Never
                }
                other => {
                    note(ImportNoteKind::Error, format!("{other:?} is not a Restart= value"));
                    input.restart
                }
            };
        }
        "RestartSec" | "RestartSteps" | "RestartMaxDelaySec" | "StartLimitBurst" | "StartLimitIntervalSec" => note(
            ImportNoteKind::Approximated,
            "Warden's backoff (100 ms doubling to 30 s) and crash-loop rule (5 failures within 60 s disable the service) apply instead".into(),
        ),
        "KillSignal" => match StopSignalName::parse(value) {
            Some(s) => input.stop_signal = s,
            None => note(ImportNoteKind::Unmapped, format!("{value} is not a stop signal Warden sends; TERM is used")),
        },
        "TimeoutStopSec" | "TimeoutSec" => match parse_timespan(value) {
            Ok(Amount::Value(d)) if !d.is_zero() => {
                let secs = whole_seconds_up(d);
                if secs > MAX_STOP_GRACE_SECS {
                    note(ImportNoteKind::Approximated, format!("{value} is above Warden's longest stop grace; {MAX_STOP_GRACE_SECS} s is used"));
                }
                input.stop_grace_secs = Some(secs.min(MAX_STOP_GRACE_SECS));
            }
            Ok(_) => {
                input.stop_grace_secs = Some(MAX_STOP_GRACE_SECS);
                note(ImportNoteKind::Approximated, format!("{key}={value} means no timeout; Warden's longest stop grace, {MAX_STOP_GRACE_SECS} s, is used"));
            }
            Err(e) => note(ImportNoteKind::Error, e),
        },
        "MemoryMax" | "MemoryLimit" => match parse_bytes(value) {
            Ok(Amount::Value(bytes)) => input.limits.memory_max_bytes = Some(bytes),
            Ok(Amount::Unlimited) => {}
            Err(e) => note(ImportNoteKind::Unmapped, format!("{e}; only absolute sizes are imported")),
        },
        "TasksMax" => match value.parse::<u64>() {
            Ok(n) => input.limits.tasks_max = Some(n),
            Err(_) if value == "infinity" => {}
            Err(_) => note(ImportNoteKind::Unmapped, format!("{value:?}: only a number of tasks is imported")),
        },
        "LimitNOFILE" => {
            let hard = value.rsplit(':').next().unwrap_or(value);
            match hard.parse::<u64>() {
                Ok(n) => {
                    if value.contains(':') {
                        note(ImportNoteKind::Approximated, format!("{value}: Warden sets one open-file limit (soft = hard = {n})"));
                    }
                    input.limits.nofile = Some(n);
                }
                Err(_) => note(ImportNoteKind::Unmapped, format!("{value:?}: only a number is imported")),
            }
        }
        "CPUQuota" => match value.strip_suffix('%').and_then(|p| p.parse::<u32>().ok()) {
            Some(p) => input.limits.cpu_max_percent = Some(p),
            None => note(ImportNoteKind::Unmapped, format!("{value:?} is not a percentage")),
        },
        "KillMode" => {
            if value != "control-group" {
                note(ImportNoteKind::Approximated, format!("KillMode={value}: Warden's stop signals the main process's group and then ends everything left in the service's cgroup"));
            }
        }
        "ExecReload" => {
            if value.contains("kill -HUP $MAINPID") || value.contains("kill -s HUP $MAINPID") {
                note(ImportNoteKind::Unmapped, "the same as Warden's restart, which sends SIGHUP".into());
            } else {
                note(ImportNoteKind::Unmapped, "Warden's restart sends SIGHUP; a different reload command is not run".into());
            }
        }
        "ExecStartPre" | "ExecStartPost" | "ExecStop" | "ExecStopPost" | "ExecCondition" => note(
            ImportNoteKind::Unmapped,
            "Warden runs one command per service; put a pre-start step in the command (`check && exec program`)".into(),
        ),
        "PIDFile" | "GuessMainPID" => note(ImportNoteKind::Unmapped, "Warden knows the main process itself".into()),
        "StandardOutput" | "StandardError" | "StandardInput" | "SyslogIdentifier" | "LogLevelMax" => note(
            ImportNoteKind::Unmapped,
            "Warden writes stdout and stderr to the service's own log; stdin is /dev/null".into(),
        ),
        "RestartPreventExitStatus" | "SuccessExitStatus" | "RestartForceExitStatus" => note(
            ImportNoteKind::Unmapped,
            "Warden counts only exit 0 as success".into(),
        ),
        "TimeoutStartSec" | "WatchdogSec" | "NotifyAccess" | "RemainAfterExit" | "Slice" | "Delegate" | "OOMScoreAdjust"
        | "Nice" | "IOSchedulingClass" | "IOSchedulingPriority" | "CPUSchedulingPolicy" | "CPUWeight" | "IOWeight" => {
            note(ImportNoteKind::Unmapped, "no counterpart in Warden".into())
        }
        k if DIRECTORY_KEYS.contains(&k) => note(
            ImportNoteKind::Unmapped,
            "Warden does not create directories for a service: create it once (owned by the service user)".into(),
        ),
        k if SANDBOX_PREFIXES.iter().any(|p| k.starts_with(p)) => note(
            ImportNoteKind::Unmapped,
            "systemd sandboxing is not reproduced: Warden contains the service with its user, process group and cgroup".into(),
        ),
        k if k.starts_with("Limit") => note(ImportNoteKind::Unmapped, "only LimitNOFILE is imported".into()),
        _ => note(ImportNoteKind::Unmapped, "not imported".into()),
    }
    true
}
