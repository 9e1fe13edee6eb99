//! The `[Service]` settings of a systemd unit one by one (systemd.exec(5), systemd.kill(5),
//! systemd.resource-control(5)): what each becomes in a Warden service, or why it is left out.

use std::path::Path;

use app::model::import::ImportNoteKind;
use app::model::service::{RestartPolicy, ServiceInput, StopSignalName};
use app::model::service_form::parse_dotenv;
use app::model::service_lifecycle::MAX_STOP_GRACE_SECS;

use super::sizes::{parse_bytes, parse_timespan, whole_seconds_up, Amount};
use super::systemd_unit::split_quoted_list;
use super::{FileSource, Notes};

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

/// Maps one `[Service]` setting; `false` = the unit cannot be imported.
#[allow(clippy::too_many_arguments)]
pub fn service_setting(
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
