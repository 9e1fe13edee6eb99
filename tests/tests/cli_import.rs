//! `warden import` with the real binary on real definitions: a supervisord configuration in
//! supervisord's own syntax (an `[include]`d program, `%(ENV_X)s`, a global environment) becomes a
//! document that `warden apply` puts on a real Warden, where the service really runs; Debian's own installed unit files
//! (redis-server, nginx) convert or are refused with the reason; exit codes and the 0600 output file.
//! The document it writes is the one `warden apply` reads.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use warden_tests::{gate, poll, warden_bin, Api, Warden};

fn import(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(warden_bin());
    command.arg("import").args(args).stdin(Stdio::null());
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("run warden import")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "current_thread")]
async fn an_imported_supervisord_program_runs_under_warden() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf_d = dir.path().join("conf.d");
    std::fs::create_dir(&conf_d).expect("conf.d");
    std::fs::write(
        dir.path().join("supervisord.conf"),
        "[supervisord]\nenvironment=GREETING=\"hello from supervisord\"\n\n[include]\nfiles = conf.d/*.conf\n",
    )
    .expect("write supervisord.conf");
    std::fs::write(
        conf_d.join("web.conf"),
        "[program:web]\ncommand=/usr/bin/python3 -m http.server %(ENV_WEB_PORT)s --bind 127.0.0.1\nautorestart=true\nstopsignal=INT\nstdout_logfile=/var/log/web.log\n",
    )
    .expect("write web.conf");
    let port = free_port();
    let out_file = dir.path().join("services.json");
    let out = import(
        &[
            "supervisord",
            &dir.path().join("supervisord.conf").display().to_string(),
            "-o",
            &out_file.display().to_string(),
        ],
        &[("WEB_PORT", &port.to_string())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stderr(&out);
    assert!(
        report.contains("stdout_logfile"),
        "the report names what was left out: {report}"
    );
    assert!(report.contains("1 service(s) converted: web"), "{report}");
    let mode = std::fs::metadata(&out_file)
        .expect("output written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the document is private to its owner");
    let doc: Value = serde_json::from_slice(&std::fs::read(&out_file).expect("read document"))
        .expect("JSON document");
    assert_eq!(doc["apiVersion"], "warden/v1");
    let web = doc["services"][0].clone();
    assert_eq!(web["name"], "web");
    assert_eq!(
        web["command"],
        format!("/usr/bin/python3 -m http.server {port} --bind 127.0.0.1")
    );
    assert_eq!(web["stop_signal"], "INT");
    assert_eq!(web["environment"]["GREETING"], "hello from supervisord");

    // The document is applied as it is (`warden apply`, remotely with a token) and the program really runs.
    let warden = Warden::start();
    let api = Api::login(&warden).await;
    let applied = Command::new(warden_bin())
        .args(["apply", "-f", &out_file.display().to_string()])
        .args(["--url", &warden.url, "--token", &api.token])
        .env_remove("WARDEN_URL")
        .env_remove("WARDEN_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run warden apply");
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let service = api.get_json("/services/by-name/web").await;
    assert_eq!(
        service["environment"]["GREETING"], "hello from supervisord",
        "{service}"
    );
    let url = format!("http://127.0.0.1:{port}/");
    poll(
        "the imported program to serve HTTP",
        Duration::from_secs(20),
        || {
            let url = url.clone();
            async move {
                let response = reqwest::get(&url).await.ok()?;
                (response.status() == 200).then_some(())
            }
        },
    )
    .await;
}

#[test]
fn debian_unit_files_convert_or_are_refused_with_the_reason() {
    let redis = "/lib/systemd/system/redis-server.service";
    let nginx = "/lib/systemd/system/nginx.service";
    let present = if std::path::Path::new(redis).exists() && std::path::Path::new(nginx).exists() {
        Ok(())
    } else {
        Err("Debian's redis-server and nginx-light are not installed (.ci/setup test installs them)".to_string())
    };
    if !gate("Debian unit files", present) {
        return;
    }
    let out = import(&["systemd", redis, nginx], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_norway::from_slice(&out.stdout).expect("YAML on stdout");
    let services = doc["services"].as_array().cloned().unwrap_or_default();
    assert_eq!(services.len(), 1, "{doc}");
    assert_eq!(services[0]["name"], "redis-server");
    assert_eq!(services[0]["user"], "redis");
    assert!(services[0]["command"]
        .as_str()
        .unwrap_or("")
        .starts_with("/usr/bin/redis-server /etc/redis/redis.conf"));
    let report = stderr(&out);
    assert!(
        report.contains("daemon off"),
        "nginx forks, and the report says how to fix it: {report}"
    );
    assert!(report.contains("ProtectSystem"), "{report}");

    // Only a refused unit: nothing to write, exit 1.
    let refused = import(&["systemd", nginx], &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    // A file that is not there: a usage error, exit 2.
    let missing = import(&["pm2", "/nonexistent/ecosystem.config.js"], &[]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
}
