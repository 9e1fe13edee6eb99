//! The `warden` command line against the real binary (root only: the control socket admits root, and
//! the firewall part runs Warden in a throwaway network namespace with the real `nft`).
//!
//! Over the socket (no token): services create/list/show/edit/stop/start/restart/logs/ps/delete, a
//! validation error (exit 1, naming the field), an unknown service (exit 1), usage errors (exit 2), an
//! unreachable Warden (exit 3), settings set/get, tokens create, `status`, and the audit log naming
//! `root@socket`. Remotely (`--url` + a read-only token): reads work, a mutation is refused (exit 1).
//! Another user cannot use the socket. `logs -f` keeps following across a Warden restart. Firewall:
//! add, apply --yes (no question without a terminal otherwise: exit 2), rules, status, diff.
//! Completions and man pages are generated.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use warden_tests::{gate, wait_for, warden_bin, Api, Launch, Warden};

fn root() -> Result<(), String> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err("not running as root (the control socket admits root)".into())
    }
}

/// `warden <args>` with Warden's data dir (so it finds the socket).
fn cli(w: &Warden, args: &[&str]) -> Output {
    cli_in(w.data_dir(), args)
}

fn cli_in(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(warden_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("WARDEN_URL")
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_SOCKET")
        .stdin(Stdio::null())
        .output()
        .expect("run warden")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs and expects exit 0; stdout.
fn ok(w: &Warden, args: &[&str]) -> String {
    let out = cli(w, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(w: &Warden, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(w, &all)).expect("--json prints JSON")
}

fn state_of(w: &Warden, service: &str) -> String {
    json(w, &["services", "show", service])["status"]["state"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn wait_state(w: &Warden, service: &str, want: &str) {
    wait_for(
        &format!("{service} {want}"),
        Duration::from_secs(15),
        || (state_of(w, service) == want).then_some(()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_tokens_settings_and_status_over_the_socket_and_remotely() {
    if !gate("root", root()) {
        return;
    }
    let w = Launch::new().start();

    // ---- services ----
    let out = ok(
        &w,
        &[
            "services",
            "create",
            "web",
            "--command",
            "while true; do echo tick; sleep 0.3; done",
            "--port",
            "8300",
        ],
    );
    assert!(out.contains("created web"), "{out}");
    wait_state(&w, "web", "running");
    let list = ok(&w, &["services", "list"]);
    assert!(
        list.contains("NAME") && list.contains("web") && list.contains("running"),
        "{list}"
    );
    assert!(
        !list.contains('\u{1b}'),
        "no colours when stdout is not a terminal: {list:?}"
    );
    let services = json(&w, &["services", "list"]);
    assert_eq!(services[0]["name"], "web");
    assert_eq!(services[0]["ports"], serde_json::json!([8300]));

    ok(&w, &["services", "edit", "web", "--env", "GREETING=hi"]);
    assert_eq!(
        json(&w, &["services", "show", "web"])["environment"]["GREETING"],
        "hi"
    );
    wait_state(&w, "web", "running");
    ok(&w, &["services", "stop", "web"]);
    wait_state(&w, "web", "stopped");
    ok(&w, &["services", "start", "web"]);
    wait_state(&w, "web", "running");
    let before = json(&w, &["services", "show", "web"])["status"]["restarts"].as_u64();
    ok(&w, &["services", "restart", "web"]);
    wait_for("the restart counted", Duration::from_secs(15), || {
        let s = json(&w, &["services", "show", "web"]);
        (s["status"]["restarts"].as_u64() > before && s["status"]["state"] == "running")
            .then_some(())
    });
    wait_for("log lines", Duration::from_secs(10), || {
        ok(&w, &["services", "logs", "web", "-n", "3"])
            .contains("tick")
            .then_some(())
    });
    let ps = ok(&w, &["services", "ps", "web"]);
    assert!(ps.contains("PID") && ps.contains("sh"), "{ps}");

    // ---- errors and exit codes ----
    let bad = cli(&w, &["services", "create", "Bad Name", "--command", "true"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        text(&bad).contains("name"),
        "names the field: {}",
        text(&bad)
    );
    let missing = cli(&w, &["services", "show", "no-such-service"]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    let usage = cli(&w, &["services", "create", "x"]);
    assert_eq!(
        usage.status.code(),
        Some(2),
        "no --command: {}",
        text(&usage)
    );
    let usage = cli(&w, &["services", "frobnicate"]);
    assert_eq!(usage.status.code(), Some(2));
    let nowhere = tempfile::tempdir().expect("tempdir");
    let unreachable = cli_in(nowhere.path(), &["status"]);
    assert_eq!(unreachable.status.code(), Some(3), "{}", text(&unreachable));
    assert!(text(&unreachable).contains("cannot reach Warden"));

    // ---- settings, status ----
    ok(
        &w,
        &[
            "settings",
            "set",
            "ban.ban_secs=700",
            "allowed_hosts=[\"panel.example.com\"]",
        ],
    );
    assert_eq!(ok(&w, &["settings", "get", "ban.ban_secs"]).trim(), "700");
    assert_eq!(
        json(&w, &["settings", "get"])["allowed_hosts"],
        serde_json::json!(["panel.example.com"])
    );
    let refused = cli(&w, &["settings", "set", "ban.ban_secs=0"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let status = ok(&w, &["status"]);
    assert!(
        status.contains("Services:") && status.contains("1 running"),
        "{status}"
    );
    assert!(
        status.contains("Firewall:") && status.contains("Bans: 0"),
        "{status}"
    );

    // ---- a read-only token, used remotely ----
    let token = json(&w, &["tokens", "create", "cli-read", "--scope", "read"])["token"]
        .as_str()
        .expect("the secret")
        .to_string();
    let remote = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--url", &w.url, "--token", &token]);
        cli_in(Path::new("/nonexistent"), &all)
    };
    let out = remote(&["services", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = remote(&["services", "stop", "web"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a read token cannot stop: {}",
        text(&out)
    );
    assert!(text(&out).contains("read-only"), "{}", text(&out));
    let out = cli_in(Path::new("/nonexistent"), &["status", "--url", &w.url]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--url without a token: {}",
        text(&out)
    );

    // ---- the socket is root's ----
    let socket = w.data_dir().join("warden.sock");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&socket).expect("socket").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let as_nobody = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(warden_bin())
        .args(["status", "--socket"])
        .arg(&socket)
        .output()
        .expect("setpriv");
    assert_eq!(as_nobody.status.code(), Some(3), "{}", text(&as_nobody));

    // ---- the audit log names the socket's user ----
    let api = Api::login(&w).await;
    let audit = api.get_json("/audit?limit=200").await;
    let by_socket = audit.as_array().into_iter().flatten().any(|e| {
        e["actor"] == "root@socket" && e["action"] == "service.create" && e["outcome"] == "ok"
    });
    assert!(by_socket, "{audit}");

    ok(&w, &["services", "delete", "web"]);
    assert_eq!(json(&w, &["services", "list"]), serde_json::json!([]));
}

#[test]
fn logs_follow_keeps_going_across_a_warden_restart() {
    if !gate("root", root()) {
        return;
    }
    let mut w = Launch::new().start();
    ok(
        &w,
        &[
            "services",
            "create",
            "ticker",
            "--command",
            "while true; do echo tick-$(date +%s%N); sleep 0.2; done",
        ],
    );
    wait_state(&w, "ticker", "running");
    let mut follower = Command::new(warden_bin())
        .args(["services", "logs", "ticker", "-f", "-n", "1", "--data-dir"])
        .arg(w.data_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("follow");
    let stdout = follower.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_tick_after = |after_ns: u128, within: Duration| -> bool {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    let ns = line
                        .rsplit("tick-")
                        .next()
                        .and_then(|n| n.trim().parse::<u128>().ok());
                    if ns.is_some_and(|n| n > after_ns) {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    };
    let now_ns = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    };
    assert!(
        next_tick_after(now_ns(), Duration::from_secs(10)),
        "live lines arrive"
    );
    w.terminate(Duration::from_secs(20));
    w.restart();
    wait_state(&w, "ticker", "running");
    let restarted_at = now_ns();
    assert!(
        next_tick_after(restarted_at, Duration::from_secs(20)),
        "lines written after the restart are followed"
    );
    let _ = follower.kill();
    let _ = follower.wait();
    ok(&w, &["services", "delete", "ticker"]);
}

#[test]
fn the_firewall_from_the_command_line() {
    if !gate(
        "root with nft, ip and python3",
        warden_testkit::netns::requirements(),
    ) {
        return;
    }
    let ns = warden_testkit::Netns::new("cli");
    let w = Launch::new().in_netns(&ns.name).start();
    let out = ok(
        &w,
        &[
            "firewall",
            "add",
            "--port",
            "8300",
            "--protocol",
            "tcp",
            "--annotation",
            "web",
        ],
    );
    assert!(out.contains("added rule"), "{out}");
    let diff = ok(&w, &["firewall", "diff"]);
    assert!(diff.contains("+ ") && diff.contains("8300"), "{diff}");
    let asks = cli(&w, &["firewall", "apply"]);
    assert_eq!(
        asks.status.code(),
        Some(2),
        "no terminal, no --yes: {}",
        text(&asks)
    );
    assert!(text(&asks).contains("--yes"));
    let out = ok(
        &w,
        &["firewall", "apply", "--yes", "--confirm-within", "30"],
    );
    assert!(out.contains("rolls back by itself"), "{out}");
    assert!(json(&w, &["firewall", "status"])["pending"].is_object());
    ok(&w, &["firewall", "confirm"]);
    let status = json(&w, &["firewall", "status"]);
    assert!(status["pending"].is_null(), "{status}");
    assert_eq!(status["applied_revision"], status["saved_revision"]);
    let rules = ok(&w, &["firewall", "rules"]);
    assert!(
        rules.contains("8300") && rules.contains("accept") && rules.contains("web"),
        "{rules}"
    );
    let human = ok(&w, &["firewall", "status"]);
    assert!(human.contains("active") && human.contains("yes"), "{human}");
    assert!(ok(&w, &["firewall", "diff"]).contains("no change"));
    let presets = ok(&w, &["firewall", "presets"]);
    assert!(presets.contains("ssh"), "{presets}");
}

#[test]
fn completions_and_man_pages_are_generated() {
    let out = Command::new(warden_bin())
        .args(["completions", "bash"])
        .output()
        .expect("completions");
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains("warden") && script.contains("services"),
        "{script}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(warden_bin())
        .arg("manpages")
        .arg(dir.path())
        .output()
        .expect("man pages");
    assert!(out.status.success(), "{}", text(&out));
    let page = std::fs::read_to_string(dir.path().join("warden.1")).expect("warden.1");
    assert!(page.contains(".TH warden"), "{page}");
    assert!(dir.path().join("warden-services.1").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_goes_through_a_running_warden() {
    if !gate("root", root()) {
        return;
    }
    let w = Launch::new().start();
    let old = Api::login(&w).await;
    let out = Command::new(warden_bin())
        .args(["admin", "reset-password", "--clear-totp", "--data-dir"])
        .arg(w.data_dir())
        .env("WARDEN_NEW_PASSWORD", "another-fresh-password-7")
        .output()
        .expect("reset-password");
    assert!(out.status.success(), "{}", text(&out));
    // The old session ended; the new password works; the audit log says who did it.
    assert_eq!(old.get("/services").await.status(), 401);
    let resp = w
        .client()
        .post(w.api("/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": "another-fresh-password-7"}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("login body");
    let fresh = Api::with_token(&w, body["token"].as_str().expect("token"));
    let audit = fresh.get_json("/audit?limit=50").await;
    assert!(
        audit
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["actor"] == "root@socket"
                && e["action"] == "user.update"
                && e["outcome"] == "ok"),
        "{audit}"
    );
}
