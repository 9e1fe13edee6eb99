//! The importers on real definitions (fixtures/README.md says where each file comes from).

use std::path::{Path, PathBuf};

use app::model::import::{ImportFile, ImportFormat, ImportNoteKind, ImportOutcome};
use app::model::service::{RestartPolicy, ServiceInput, StopSignalName};

use super::{convert, FileSource, HostFacts, NoFiles};

fn fixture(path: &str) -> ImportFile {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/import/fixtures")
        .join(path);
    ImportFile {
        name: path.to_string(),
        text: std::fs::read_to_string(&full)
            .unwrap_or_else(|e| panic!("fixture {}: {e}", full.display())),
    }
}

fn host() -> HostFacts {
    HostFacts {
        environment: [("LOGLEVEL".to_string(), "info".to_string())].into(),
        hostname: "box".into(),
    }
}

fn service<'a>(outcome: &'a ImportOutcome, name: &str) -> &'a ServiceInput {
    outcome
        .services
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no service {name} in {:#?}", outcome))
}

fn has_note(outcome: &ImportOutcome, kind: ImportNoteKind, key: &str) -> bool {
    outcome.notes.iter().any(|n| n.kind == kind && n.key == key)
}

/// Files from a map (what `[include]` and `EnvironmentFile=` read).
struct MapFiles(Vec<(PathBuf, String)>);

impl FileSource for MapFiles {
    fn read(&self, path: &Path) -> Result<String, String> {
        self.0
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| "No such file or directory".to_string())
    }

    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, String> {
        let pattern = glob::Pattern::new(pattern).map_err(|e| e.to_string())?;
        Ok(self
            .0
            .iter()
            .filter(|(p, _)| pattern.matches_path(p))
            .map(|(p, _)| p.clone())
            .collect())
    }
}

#[test]
fn supervisord_documentation_example_program() {
    let outcome = convert(
        ImportFormat::Supervisord,
        &[fixture("supervisord/program-cat.conf")],
        &NoFiles,
        &host(),
    );
    let cat = service(&outcome, "cat");
    assert_eq!(cat.command, "/bin/cat");
    assert_eq!(cat.working_directory.as_deref(), Some("/tmp"));
    assert_eq!(cat.user.as_deref(), Some("chrism"));
    assert!(cat.enabled);
    assert_eq!(
        cat.restart,
        RestartPolicy::OnFailure,
        "autorestart=unexpected"
    );
    assert_eq!(cat.stop_signal, StopSignalName::Term);
    assert_eq!(cat.stop_grace_secs, Some(10));
    assert_eq!(cat.environment.get("A").map(String::as_str), Some("1"));
    assert_eq!(cat.environment.get("B").map(String::as_str), Some("2"));
    for key in [
        "umask",
        "priority",
        "stdout_logfile",
        "stopasgroup",
        "serverurl",
    ] {
        assert!(
            has_note(&outcome, ImportNoteKind::Unmapped, key),
            "{key} is reported: {:#?}",
            outcome.notes
        );
    }
    assert!(has_note(
        &outcome,
        ImportNoteKind::Approximated,
        "startsecs"
    ));
    assert!(has_note(
        &outcome,
        ImportNoteKind::Approximated,
        "startretries"
    ));
    // Every note names its line in the file.
    let umask = outcome
        .notes
        .iter()
        .find(|n| n.key == "umask")
        .and_then(|n| n.line);
    assert_eq!(umask, Some(6));
}

#[test]
fn supervisord_env_expansion_and_missing_variables() {
    let outcome = convert(
        ImportFormat::Supervisord,
        &[fixture("supervisord/env-expansion.conf")],
        &NoFiles,
        &host(),
    );
    assert_eq!(
        service(&outcome, "example").command,
        "/usr/bin/example --loglevel=info"
    );
    let none = convert(
        ImportFormat::Supervisord,
        &[fixture("supervisord/env-expansion.conf")],
        &NoFiles,
        &HostFacts::none(),
    );
    assert!(none.services.is_empty());
    assert!(none
        .notes
        .iter()
        .any(|n| n.kind == ImportNoteKind::Refused && n.message.contains("LOGLEVEL")));
}

#[test]
fn supervisord_sample_conf_has_no_programs_and_says_so() {
    let outcome = convert(
        ImportFormat::Supervisord,
        &[fixture("supervisord/sample.conf")],
        &NoFiles,
        &host(),
    );
    assert!(outcome.services.is_empty());
    for section in [
        "[unix_http_server]",
        "[supervisord]",
        "[supervisorctl]",
        "[rpcinterface:supervisor]",
    ] {
        assert!(
            has_note(&outcome, ImportNoteKind::Unmapped, section),
            "{section}: {:#?}",
            outcome.notes
        );
    }
}

#[test]
fn supervisord_numprocs_includes_and_shell_characters() {
    let main = ImportFile {
        name: "/etc/supervisor/supervisord.conf".into(),
        text: "[supervisord]\nenvironment=TZ=\"UTC\"\n[include]\nfiles = conf.d/*.conf\n".into(),
    };
    let files = MapFiles(vec![
        (
            PathBuf::from("/etc/supervisor/conf.d/web.conf"),
            "[program:Web.App]\ncommand=/usr/bin/python3 -m http.server %(process_num)d >access.log\nautostart=false\nautorestart=true\nstopsignal=INT\n".into(),
        ),
        (PathBuf::from("/etc/supervisor/conf.d/workers.conf"), "[program:worker]\ncommand=/bin/worker\nnumprocs=4\n".into()),
    ]);
    let outcome = convert(ImportFormat::Supervisord, &[main], &files, &host());
    let web = service(&outcome, "web-app");
    // supervisord does not use a shell: `>` stays an argument.
    assert_eq!(
        web.command,
        "/usr/bin/python3 -m http.server 0 '>access.log'"
    );
    assert!(!web.enabled);
    assert_eq!(web.restart, RestartPolicy::Always);
    assert_eq!(web.stop_signal, StopSignalName::Int);
    assert_eq!(
        web.environment.get("TZ").map(String::as_str),
        Some("UTC"),
        "[supervisord] environment applies to every program"
    );
    assert!(has_note(&outcome, ImportNoteKind::Approximated, "name"));
    assert!(outcome.services.iter().all(|s| s.name != "worker"));
    assert!(has_note(&outcome, ImportNoteKind::Refused, "numprocs"));
    // Without file access the include is reported, not silently dropped.
    let pasted = convert(
        ImportFormat::Supervisord,
        &[ImportFile {
            name: "supervisord.conf".into(),
            text: "[include]\nfiles = conf.d/*.conf\n".into(),
        }],
        &NoFiles,
        &host(),
    );
    assert!(has_note(&pasted, ImportNoteKind::Unmapped, "files"));
}

#[test]
fn supervisord_syntax_errors_name_the_line() {
    let outcome = convert(
        ImportFormat::Supervisord,
        &[ImportFile {
            name: "bad.conf".into(),
            text: "[program:a]\ncommand=/bin/a\ncommand=/bin/b\n".into(),
        }],
        &NoFiles,
        &host(),
    );
    assert!(outcome.services.is_empty());
    assert!(outcome
        .notes
        .iter()
        .any(|n| n.kind == ImportNoteKind::Error && n.line == Some(3)));
}

#[test]
fn debian_redis_unit() {
    let outcome = convert(
        ImportFormat::Systemd,
        &[fixture("systemd/redis-server.service")],
        &NoFiles,
        &host(),
    );
    let redis = service(&outcome, "redis-server");
    assert_eq!(
        redis.command,
        "/usr/bin/redis-server /etc/redis/redis.conf --supervised systemd --daemonize no"
    );
    assert_eq!(redis.user.as_deref(), Some("redis"));
    assert_eq!(redis.restart, RestartPolicy::Always);
    assert_eq!(redis.limits.nofile, Some(65535));
    assert_eq!(
        redis.stop_grace_secs,
        Some(3600),
        "TimeoutStopSec=0 = no timeout"
    );
    assert!(has_note(
        &outcome,
        ImportNoteKind::Approximated,
        "TimeoutStopSec"
    ));
    assert!(
        has_note(&outcome, ImportNoteKind::Approximated, "Type"),
        "Type=notify"
    );
    for key in [
        "ProtectSystem",
        "ReadWritePaths",
        "SystemCallFilter",
        "RuntimeDirectory",
        "PIDFile",
        "Group",
        "UMask",
        "WantedBy",
        "After",
    ] {
        assert!(
            has_note(&outcome, ImportNoteKind::Unmapped, key),
            "{key}: {:#?}",
            outcome.notes
        );
    }
}

#[test]
fn debian_memcached_and_ssh_units_with_their_environment_file() {
    let files = MapFiles(vec![(
        PathBuf::from("/etc/default/ssh"),
        "# Default settings for openssh-server.\nSSHD_OPTS=\"-p 2222\"\n".into(),
    )]);
    let outcome = convert(
        ImportFormat::Systemd,
        &[
            fixture("systemd/memcached.service"),
            fixture("systemd/ssh.service"),
        ],
        &files,
        &host(),
    );
    let memcached = service(&outcome, "memcached");
    assert_eq!(
        memcached.command,
        "/usr/share/memcached/scripts/systemd-memcached-wrapper /etc/memcached.conf"
    );
    let ssh = service(&outcome, "ssh");
    // `$SSHD_OPTS` stays a word-split variable, set from the environment file.
    assert_eq!(ssh.command, "/usr/sbin/sshd -D $SSHD_OPTS");
    assert_eq!(
        ssh.environment.get("SSHD_OPTS").map(String::as_str),
        Some("-p 2222")
    );
    assert_eq!(ssh.restart, RestartPolicy::OnFailure);
    assert!(outcome
        .notes
        .iter()
        .any(|n| n.key == "ExecReload" && n.message.contains("SIGHUP")));
    assert!(has_note(&outcome, ImportNoteKind::Approximated, "KillMode"));
    // Pasted (no file access): the optional environment file is reported, the unit still imported.
    let pasted = convert(
        ImportFormat::Systemd,
        &[fixture("systemd/ssh.service")],
        &NoFiles,
        &host(),
    );
    assert!(pasted.services.iter().any(|s| s.name == "ssh"));
    assert!(has_note(
        &pasted,
        ImportNoteKind::Unmapped,
        "EnvironmentFile"
    ));
}

#[test]
fn debian_nginx_unit_is_refused_because_it_forks() {
    let outcome = convert(
        ImportFormat::Systemd,
        &[fixture("systemd/nginx.service")],
        &NoFiles,
        &host(),
    );
    assert!(outcome.services.is_empty());
    let note = outcome
        .notes
        .iter()
        .find(|n| n.kind == ImportNoteKind::Refused && n.key == "Type");
    assert!(
        note.is_some_and(|n| n.message.contains("daemon off")),
        "{:#?}",
        outcome.notes
    );
}

#[test]
fn units_keep_their_order_limits_and_quoting() {
    let app = ImportFile {
        name: "units/app@blue.service".into(),
        text: "[Unit]\nAfter=network.target db.service\nRequires=db.service\n[Service]\nExecStart=/opt/app/bin/app --name %i \"--greeting=hello world\" --home=${HOME}\nEnvironment=\"HOME=/srv/app\" LANG=C.UTF-8\nMemoryMax=512M\nTasksMax=64\nCPUQuota=150%\nKillSignal=SIGQUIT\nTimeoutStopSec=1min 30s\nRestart=on-abnormal\n".into(),
    };
    let db = ImportFile {
        name: "units/db.service".into(),
        text: "[Service]\nExecStart=/usr/bin/db\n".into(),
    };
    let outcome = convert(ImportFormat::Systemd, &[app, db], &NoFiles, &host());
    let app = service(&outcome, "app-blue");
    assert_eq!(
        app.command,
        "/opt/app/bin/app --name blue '--greeting=hello world' --home=\"${HOME}\""
    );
    assert_eq!(app.after, vec!["db".to_string()]);
    assert_eq!(app.limits.memory_max_bytes, Some(512 << 20));
    assert_eq!(app.limits.tasks_max, Some(64));
    assert_eq!(app.limits.cpu_max_percent, Some(150));
    assert_eq!(app.stop_signal, StopSignalName::Quit);
    assert_eq!(app.stop_grace_secs, Some(90));
    assert_eq!(app.restart, RestartPolicy::OnFailure);
    assert_eq!(
        app.environment.get("LANG").map(String::as_str),
        Some("C.UTF-8")
    );
    assert!(has_note(&outcome, ImportNoteKind::Approximated, "Requires"));
    let template = convert(
        ImportFormat::Systemd,
        &[ImportFile {
            name: "getty@.service".into(),
            text: "[Service]\nExecStart=/sbin/agetty %i\n".into(),
        }],
        &NoFiles,
        &host(),
    );
    assert!(template.services.is_empty());
    assert!(has_note(&template, ImportNoteKind::Refused, "unit"));
}

#[test]
fn pm2_example_ecosystem_in_its_three_spellings() {
    for file in [
        "pm2/process.json",
        "pm2/process.config.js",
        "pm2/process.yml",
    ] {
        let outcome = convert(ImportFormat::Pm2, &[fixture(file)], &NoFiles, &host());
        let names: Vec<&str> = outcome.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["http-api", "worker", "checks"],
            "{file}: {:#?}",
            outcome.notes
        );
        let api = service(&outcome, "http-api");
        assert_eq!(api.command, "node apps/http.js");
        assert_eq!(api.limits.memory_max_bytes, Some(260 << 20));
        assert!(api.environment.contains_key("NODE_ENV"));
        assert_eq!(
            service(&outcome, "checks").command,
            "bash apps/connection_check.sh"
        );
        assert!(
            has_note(&outcome, ImportNoteKind::Approximated, "instances"),
            "{file}"
        );
        assert!(
            has_note(&outcome, ImportNoteKind::Unmapped, "env_production"),
            "{file}"
        );
        // A relative script without a known directory is said, not guessed.
        assert!(api.working_directory.is_none());
    }
}

#[test]
fn pm2_template_and_misc_example() {
    let outcome = convert(
        ImportFormat::Pm2,
        &[ImportFile {
            name: "/srv/app/ecosystem.config.js".into(),
            text: fixture("pm2/ecosystem.config.js").text,
        }],
        &NoFiles,
        &host(),
    );
    let names: Vec<&str> = outcome.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["index", "service-worker"]);
    assert_eq!(
        service(&outcome, "index").working_directory.as_deref(),
        Some("/srv/app")
    );
    assert!(has_note(&outcome, ImportNoteKind::Unmapped, "deploy"));
    assert!(has_note(&outcome, ImportNoteKind::Unmapped, "watch"));
    let misc = convert(
        ImportFormat::Pm2,
        &[fixture("pm2/misc-process.json")],
        &NoFiles,
        &host(),
    );
    let hapi = service(&misc, "hapi_playground");
    assert_eq!(hapi.command, "node --harmony child.js");
    assert_eq!(hapi.limits.memory_max_bytes, Some(160 << 20));
    assert!(
        has_note(&misc, ImportNoteKind::Unmapped, "cwd"),
        "relative cwd without a location"
    );
}

#[test]
fn pm2_code_is_refused_with_a_way_out() {
    let outcome = convert(
        ImportFormat::Pm2,
        &[ImportFile {
            name: "ecosystem.config.js".into(),
            text: "const base = require('./base');\nmodule.exports = { apps: [base] };\n".into(),
        }],
        &NoFiles,
        &host(),
    );
    assert!(outcome.services.is_empty());
    assert!(outcome
        .notes
        .iter()
        .any(|n| n.kind == ImportNoteKind::Error && n.message.contains("JSON.stringify")));
}

#[test]
fn oversized_input_is_refused_whole() {
    let big = ImportFile {
        name: "big.conf".into(),
        text: "#".repeat(app::model::import::MAX_IMPORT_BYTES + 1),
    };
    let outcome = convert(ImportFormat::Supervisord, &[big], &NoFiles, &host());
    assert!(outcome.services.is_empty());
    assert!(outcome
        .notes
        .iter()
        .any(|n| n.kind == ImportNoteKind::Error));
}

#[test]
fn the_document_leaves_out_what_repeats_the_defaults() {
    let mut web = ServiceInput::new("web", "/bin/web");
    web.limits.nofile = Some(1024);
    web.enabled = false;
    let doc = super::services_document(&[web]);
    assert_eq!(
        doc,
        serde_json::json!({
            "apiVersion": "warden/v1",
            "services": [{"name": "web", "command": "/bin/web", "enabled": false, "limits": {"nofile": 1024}}]
        })
    );
}
