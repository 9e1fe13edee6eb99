//! PM2 ecosystem files → Warden services (PM2's "Configuration File" / application declaration reference):
//! `process.json` and `ecosystem.config.js` (a `module.exports = { apps: [...] }` object literal, read as
//! JSON5 — the JavaScript PM2's own templates and examples use, without code) and `process.yml`.
//! `script` + `interpreter` + `args` become the command; `env`, `cwd`, `max_memory_restart`,
//! `autorestart`, `kill_timeout`, `user` carry over; the rest is reported.

use std::collections::BTreeMap;
use std::path::Path;

use app::model::import::{ImportFile, ImportNoteKind};
use app::model::service::{RestartPolicy, ServiceInput};
use app::model::service_lifecycle::MAX_STOP_GRACE_SECS;
use serde_json::Value;

use super::command_words::{join, split_posix};
use super::sizes::{parse_bytes, Amount};
use super::{directory_of, service_name, Converted, Notes};

/// The interpreter PM2 picks from a script's extension when none is given (PM2's `lib/API/interpreter.json`).
fn interpreter_for(script: &str) -> Option<&'static str> {
    let ext = Path::new(script)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    match ext {
        "js" | "mjs" | "cjs" => Some("node"),
        "ts" | "tsx" => Some("ts-node"),
        "coffee" => Some("coffee"),
        "py" => Some("python"),
        "rb" => Some("ruby"),
        "php" => Some("php"),
        "sh" => Some("bash"),
        "pl" => Some("perl"),
        "" if script.ends_with('/') => Some("node"),
        _ => None,
    }
}

/// The `apps` of an ecosystem file's text.
fn parse_document(name: &str, text: &str) -> Result<Value, String> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".yml") || lower.ends_with(".yaml") {
        return serde_norway::from_str::<Value>(text)
            .map_err(|e| format!("not a YAML ecosystem file: {e}"));
    }
    let trimmed = text.trim();
    let body = match trimmed.find("module.exports") {
        Some(at) => {
            if !only_comments(&trimmed[..at]) {
                return Err("the file runs code before module.exports; turn it into JSON first (e.g. node -e 'console.log(JSON.stringify(require(\"./ecosystem.config.js\")))')".into());
            }
            let rest = trimmed[at + "module.exports".len()..].trim_start();
            let rest = rest
                .strip_prefix('=')
                .ok_or("expected module.exports = { … }")?;
            rest.trim().trim_end_matches(';')
        }
        None => trimmed,
    };
    json5::from_str::<Value>(body).map_err(|e| {
        format!("not a JSON/JSON5 ecosystem object ({e}); a file that computes its apps with code must be turned into JSON first (e.g. node -e 'console.log(JSON.stringify(require(\"./ecosystem.config.js\")))')")
    })
}

/// Whether a JavaScript prefix holds only comments and `'use strict'`.
fn only_comments(prefix: &str) -> bool {
    let mut rest = prefix.trim();
    loop {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after
                .split_once('\n')
                .map(|(_, r)| r)
                .unwrap_or("")
                .trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            match after.split_once("*/") {
                Some((_, r)) => rest = r.trim_start(),
                None => return false,
            }
        } else if let Some(after) = rest
            .strip_prefix("'use strict'")
            .or_else(|| rest.strip_prefix("\"use strict\""))
        {
            rest = after.trim_start().trim_start_matches(';').trim_start();
        } else {
            return rest.is_empty();
        }
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string or an array of strings as arguments.
fn as_args(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => split_posix(s),
        Value::Array(items) => items
            .iter()
            .map(|i| as_text(i).ok_or_else(|| "arguments must be strings".to_string()))
            .collect(),
        _ => Err("expected a string or a list of strings".into()),
    }
}

/// Converts the apps of each file.
pub fn convert(files: &[ImportFile], notes: &mut Notes) -> Vec<Converted> {
    let mut out = Vec::new();
    for file in files {
        let doc = match parse_document(&file.name, &file.text) {
            Ok(d) => d,
            Err(e) => {
                notes.push(ImportNoteKind::Error, &file.name, None, None, "", e);
                continue;
            }
        };
        let apps = match &doc {
            Value::Array(apps) => apps.clone(),
            Value::Object(map) => {
                for key in map.keys().filter(|k| *k != "apps") {
                    let message = if key == "deploy" {
                        "PM2's deployment recipes are not imported: Warden's desired state (warden apply, Ansible) covers deployment"
                    } else {
                        "not part of an ecosystem file's apps"
                    };
                    notes.push(
                        ImportNoteKind::Unmapped,
                        &file.name,
                        None,
                        None,
                        key,
                        message,
                    );
                }
                match map.get("apps") {
                    Some(Value::Array(apps)) => apps.clone(),
                    Some(app @ Value::Object(_)) => vec![app.clone()],
                    _ => {
                        notes.push(
                            ImportNoteKind::Error,
                            &file.name,
                            None,
                            None,
                            "apps",
                            "the file has no apps list",
                        );
                        continue;
                    }
                }
            }
            _ => {
                notes.push(
                    ImportNoteKind::Error,
                    &file.name,
                    None,
                    None,
                    "",
                    "expected an object with apps",
                );
                continue;
            }
        };
        for (index, app) in apps.iter().enumerate() {
            if let Some(c) = convert_app(&file.name, index, app, notes) {
                out.push(c);
            }
        }
    }
    out
}

fn convert_app(file: &str, index: usize, app: &Value, notes: &mut Notes) -> Option<Converted> {
    let Some(map) = app.as_object() else {
        notes.push(
            ImportNoteKind::Error,
            file,
            None,
            None,
            &format!("apps[{index}]"),
            "an app must be an object",
        );
        return None;
    };
    let Some(script) = map.get("script").and_then(as_text) else {
        notes.push(
            ImportNoteKind::Refused,
            file,
            None,
            None,
            &format!("apps[{index}]"),
            "an app needs a script",
        );
        return None;
    };
    // PM2's default name: the script's file name without its extension.
    let source_name = map.get("name").and_then(as_text).unwrap_or_else(|| {
        Path::new(script.trim_end_matches('/'))
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("app")
            .to_string()
    });
    let name = service_name(&source_name, file, None, notes);
    let svc = Some(name.as_str());
    let fail = |key: &str, message: String, notes: &mut Notes| {
        notes.push(ImportNoteKind::Refused, file, None, svc, key, message);
    };
    let interpreter = map
        .get("interpreter")
        .or_else(|| map.get("exec_interpreter"))
        .and_then(as_text);
    let interpreter = match interpreter.as_deref() {
        Some("none") => None,
        Some(i) => Some(i.to_string()),
        None => interpreter_for(&script).map(str::to_string),
    };
    let mut argv: Vec<String> = Vec::new();
    if let Some(i) = &interpreter {
        argv.push(i.clone());
        if let Some(v) = map.get("interpreter_args").or_else(|| map.get("node_args")) {
            match as_args(v) {
                Ok(a) => argv.extend(a),
                Err(e) => {
                    fail("interpreter_args", e, notes);
                    return None;
                }
            }
        }
    }
    argv.push(script.clone());
    if let Some(v) = map.get("args") {
        match as_args(v) {
            Ok(a) => argv.extend(a),
            Err(e) => {
                fail("args", e, notes);
                return None;
            }
        }
    }
    let mut input = ServiceInput::new(name.clone(), join(&argv));
    let note = |kind: ImportNoteKind, key: &str, message: String, notes: &mut Notes| {
        notes.push(kind, file, None, svc, key, message)
    };
    let file_dir = directory_of(file);
    for (key, value) in map {
        let text = as_text(value);
        match key.as_str() {
            "name" | "script" | "interpreter" | "exec_interpreter" | "interpreter_args" | "node_args" | "args" => {}
            "cwd" => {
                let cwd = text.unwrap_or_default();
                if cwd.starts_with('/') {
                    input.working_directory = Some(cwd);
                } else if file_dir.is_absolute() {
                    let joined = file_dir.join(&cwd);
                    note(ImportNoteKind::Approximated, key, format!("the relative cwd {cwd:?} is taken from the ecosystem file's directory: {}", joined.display()), notes);
                    input.working_directory = Some(joined.display().to_string());
                } else {
                    note(ImportNoteKind::Unmapped, key, format!("the relative cwd {cwd:?} needs the file's location: set the working directory to an absolute path"), notes);
                }
            }
            "env" => match value.as_object() {
                Some(env) => {
                    let pairs: BTreeMap<String, String> = env
                        .iter()
                        .filter_map(|(k, v)| as_text(v).map(|t| (k.clone(), t)))
                        .collect();
                    if pairs.len() != env.len() {
                        note(ImportNoteKind::Unmapped, key, "values that are not strings, numbers or booleans are left out".into(), notes);
                    }
                    input.environment.extend(pairs);
                }
                None => note(ImportNoteKind::Error, key, "env must be an object".into(), notes),
            },
            k if k.starts_with("env_") => note(ImportNoteKind::Unmapped, key, format!("the variables PM2 uses with --env {}: Warden imports `env`; edit the service's environment for that stage", &k[4..]), notes),
            "instances" => {
                let one = matches!(value, Value::Number(n) if n.as_u64() == Some(1));
                if !one {
                    note(ImportNoteKind::Approximated, key, format!("instances={}: Warden runs one process per service (PM2's cluster mode shares one port between its instances; give more services their own ports instead)", text.unwrap_or_default()), notes);
                }
            }
            "exec_mode" => {
                if text.as_deref() != Some("fork") && text.as_deref() != Some("fork_mode") {
                    note(ImportNoteKind::Approximated, key, "cluster mode is PM2's Node.js load balancer; the app runs as one process".into(), notes);
                }
            }
            "max_memory_restart" => match text.as_deref().map(parse_bytes) {
                Some(Ok(Amount::Value(bytes))) => input.limits.memory_max_bytes = Some(bytes),
                Some(Ok(Amount::Unlimited)) => {}
                Some(Err(e)) => note(ImportNoteKind::Error, key, e, notes),
                None => note(ImportNoteKind::Error, key, "expected a size such as 300M".into(), notes),
            },
            "autorestart" => {
                if value.as_bool() == Some(false) {
                    input.restart = RestartPolicy::Never;
                }
            }
            "autostart" => {
                if value.as_bool() == Some(false) {
                    input.enabled = false;
                }
            }
            "kill_timeout" => match value.as_u64() {
                Some(ms) => {
                    let secs = ms.div_ceil(1000).clamp(1, MAX_STOP_GRACE_SECS);
                    if secs * 1000 != ms {
                        note(ImportNoteKind::Approximated, key, format!("{ms} ms becomes a stop grace of {secs} s"), notes);
                    }
                    input.stop_grace_secs = Some(secs);
                }
                None => note(ImportNoteKind::Error, key, "expected milliseconds".into(), notes),
            },
            "user" | "uid" => input.user = text,
            "max_restarts" | "min_uptime" | "restart_delay" | "exp_backoff_restart_delay" => note(
                ImportNoteKind::Approximated,
                key,
                "Warden's backoff (100 ms doubling to 30 s) and crash-loop rule (5 failures within 60 s disable the service) apply instead".into(),
                notes,
            ),
            "watch" | "ignore_watch" | "watch_options" | "watch_delay" => note(ImportNoteKind::Unmapped, key, "Warden does not restart a service when its files change: restart it from your deployment".into(), notes),
            "error_file" | "err_file" | "error" | "out_file" | "output" | "out" | "log_file" | "log" | "merge_logs"
            | "combine_logs" | "log_date_format" | "time" | "log_type" | "pid_file" | "pid" => note(
                ImportNoteKind::Unmapped,
                key,
                "Warden writes stdout and stderr to the service's own log (<data>/logs/services, timestamped, rotated)".into(),
                notes,
            ),
            "treekill" => note(ImportNoteKind::Unmapped, key, "always on: a stop ends everything in the service's cgroup".into(), notes),
            "cron_restart" => note(ImportNoteKind::Unmapped, key, "scheduled restarts are not built in: use cron with `warden services restart`".into(), notes),
            _ => note(ImportNoteKind::Unmapped, key, "no counterpart in Warden".into(), notes),
        }
    }
    if input.working_directory.is_none() && !script.starts_with('/') && file_dir.is_absolute() {
        input.working_directory = Some(file_dir.display().to_string());
        note(ImportNoteKind::Approximated, "cwd", format!("no cwd: PM2 resolves the script from where `pm2 start` runs; the ecosystem file's directory {} is used", file_dir.display()), notes);
    }
    Some(Converted {
        input,
        file: file.to_string(),
        line: None,
        after_sources: Vec::new(),
        source_names: vec![source_name],
    })
}
