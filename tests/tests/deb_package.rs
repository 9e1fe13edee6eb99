//! The Debian package (issue 15, part 2), as root on this machine: `make deb`'s package is lintian
//! clean, installs with `dpkg -i` (the binary, the UI, the unit, the conffile, /var/lib/warden 0700),
//! the unit passes `systemd-analyze verify`, and `/usr/bin/warden` started exactly as the unit's
//! `ExecStart=` (its command line and `Environment=`, plus only a test listen port and `--firewall off`
//! through the environment, which overrides the config file) speaks the notify protocol to a socket
//! the test listens on as `NOTIFY_SOCKET` (READY=1 once /healthz answers, WATCHDOG=1 pings at half of
//! `WATCHDOG_USEC`, STOPPING=1 on SIGTERM), serves the UI with its hashed assets and lets `admin` log
//! in with the password from /var/lib/warden/initial-admin-password (never on stderr). Then `dpkg
//! --purge` leaves nothing behind. A drop guard purges the package even when the test fails.
//!
//! The started Warden must never touch the host's nftables: `WARDEN_FIREWALL=off` (the environment
//! wins over the config file's `firewall = "on"`), checked in its `--print-config` first.
//! This runs the installed binary, not a build under `target/`, so it does not go through `Launch`.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use warden_tests::{assets, gate, repo_root, wait_for};

const UNIT: &str = "/usr/lib/systemd/system/warden.service";
const PASSWORD_FILE: &str = "/var/lib/warden/initial-admin-password";
/// What the package owns or creates; none of it may be left after a purge.
const PACKAGE_PATHS: &[&str] = &[
    "/usr/bin/warden",
    "/usr/share/warden",
    "/usr/share/doc/warden",
    "/etc/warden",
    "/var/lib/warden",
    "/run/warden",
    "/usr/share/man/man1/warden.1.gz",
    "/usr/share/bash-completion/completions/warden",
    "/usr/share/zsh/vendor-completions/_warden",
    "/usr/share/fish/vendor_completions.d/warden.fish",
    UNIT,
    "/etc/systemd/system/multi-user.target.wants/warden.service",
    "/var/lib/systemd/deb-systemd-helper-enabled/warden.service.dsh-also",
    "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/warden.service",
];

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "warden"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// The package `make deb` built for this version (`target/debian/warden_<version>-<rev>_<arch>.deb`).
fn package() -> Result<PathBuf, String> {
    let dir = repo_root().join("target/debian");
    let prefix = format!("warden_{}-", env!("CARGO_PKG_VERSION"));
    std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e} (run `make deb`)", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
        })
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .ok_or_else(|| format!("no {prefix}*.deb in {} (run `make deb`)", dir.display()))
}

/// Whether this test may install and purge `warden` here: root, the tools, and no Warden of someone
/// else's (an installed package, or its directories) that the purge would remove.
fn may_run() -> Result<(), String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Err("installing a package needs root".into());
    }
    for tool in ["dpkg", "lintian"] {
        let found = Command::new("sh")
            .args(["-c", "command -v \"$1\"", "sh", tool])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Err(format!("`{tool}` is missing (.ci/setup test installs it)"));
        }
    }
    if installed() {
        return Err("a `warden` package is already installed here; not replacing it".into());
    }
    for path in ["/etc/warden", "/var/lib/warden", "/usr/share/warden"] {
        if Path::new(path).exists() {
            return Err(format!("{path} exists and does not belong to this test"));
        }
    }
    Ok(())
}

/// Purges the package when dropped (also when the test panics), so the host is left as it was.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "warden"]).output();
    }
}

/// The running installed Warden: killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ExecStart=` (split on whitespace: the unit uses no quoting) and the `Environment=` pairs of the unit.
fn exec_start(unit: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut command = Vec::new();
    let mut env = Vec::new();
    for line in unit.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("ExecStart=") {
            assert!(
                !rest.contains(['"', '\'', '$', '%']),
                "a test-unfriendly ExecStart: {rest}"
            );
            command = rest.split_whitespace().map(str::to_string).collect();
        } else if let Some(rest) = line.strip_prefix("Environment=") {
            for pair in rest.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("KEY=value");
                env.push((k.to_string(), v.to_string()));
            }
        }
    }
    assert!(!command.is_empty(), "no ExecStart in the unit:\n{unit}");
    (command, env)
}

/// Waits for the next notify message (`deadline`-bounded).
fn next_message(socket: &UnixDatagram, deadline: Instant) -> Option<String> {
    let mut buf = [0u8; 4096];
    let left = deadline.checked_duration_since(Instant::now())?;
    socket
        .set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .ok()?;
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Waits until a message containing the line `wanted` arrives; returns every message seen.
fn wait_message(socket: &UnixDatagram, wanted: &str, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while let Some(msg) = next_message(socket, deadline) {
        let found = msg.lines().any(|l| l == wanted);
        seen.push(msg);
        if found {
            return seen;
        }
    }
    panic!("no {wanted} within {timeout:?}; got {seen:?}");
}

#[test]
fn the_package_installs_runs_as_the_unit_and_purges_cleanly() {
    if !gate(
        "root and dpkg/lintian, nothing named warden installed",
        may_run(),
    ) {
        return;
    }
    let deb = match package() {
        Ok(deb) => deb,
        Err(reason) => {
            gate("the package built by `make deb`", Err(reason));
            return;
        }
    };
    let size = std::fs::metadata(&deb).map(|m| m.len()).unwrap_or(0);
    eprintln!("package: {} ({} KiB)", deb.display(), size / 1024);

    let lintian = Command::new("lintian")
        .args(["--fail-on", "error,warning", "--display-info"])
        .arg(&deb)
        .output()
        .expect("run lintian");
    let report = String::from_utf8_lossy(&lintian.stdout);
    eprintln!("lintian:\n{report}");
    assert!(
        lintian.status.success(),
        "lintian: {}\n{report}",
        lintian.status
    );

    let _purge = Purge;
    let install = run(Command::new("dpkg").arg("-i").arg(&deb));
    let said = String::from_utf8_lossy(&install.stdout);
    assert!(
        said.contains(PASSWORD_FILE) && said.contains("warden admin reset-password"),
        "the postinst names the password file and reset-password:\n{said}"
    );
    for path in [
        "/usr/bin/warden",
        UNIT,
        "/etc/warden/warden.toml",
        "/usr/share/warden/site/hash.txt",
        "/usr/share/man/man1/warden.1.gz",
        "/usr/share/man/man1/warden-services.1.gz",
        "/usr/share/bash-completion/completions/warden",
        "/usr/share/zsh/vendor-completions/_warden",
        "/usr/share/fish/vendor_completions.d/warden.fish",
    ] {
        assert!(Path::new(path).is_file(), "{path} is not installed");
    }
    assert!(Path::new("/usr/share/warden/site/pkg").is_dir());
    let mode = std::fs::metadata("/var/lib/warden")
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "/var/lib/warden");
    let conffiles = run(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "warden"]));
    assert!(String::from_utf8_lossy(&conffiles.stdout).contains("/etc/warden/warden.toml"));

    if Path::new("/usr/bin/systemd-analyze").exists() {
        run(Command::new("systemd-analyze").args(["verify", UNIT]));
    } else {
        eprintln!("NOTE: systemd-analyze is missing; the unit was not verified");
    }

    let unit = std::fs::read_to_string(UNIT).unwrap();
    for directive in [
        "Type=notify",
        "Delegate=yes",
        "KillMode=mixed",
        "RuntimeDirectory=warden",
        "WatchdogSec=",
    ] {
        assert!(
            unit.lines().any(|l| l.starts_with(directive)),
            "{directive} missing from the unit"
        );
    }
    let (command, unit_env) = exec_start(&unit);
    assert_eq!(command[0], "/usr/bin/warden");
    let test_env = [("WARDEN_LISTEN", "127.0.0.1:0"), ("WARDEN_FIREWALL", "off")];
    let unit_command = || {
        let mut cmd = Command::new(&command[0]);
        cmd.args(&command[1..])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        cmd.envs(unit_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.envs(test_env);
        cmd
    };

    // The host's firewall stays untouched: the configuration in force says so.
    let config = run(unit_command().arg("--print-config"));
    let config = String::from_utf8_lossy(&config.stdout);
    assert!(
        config.contains("firewall = \"off\"  # environment"),
        "{config}"
    );
    assert!(
        config.contains("data-dir = \"/var/lib/warden\"  # config file"),
        "{config}"
    );

    let sockets = tempfile::tempdir().unwrap();
    let notify_path = sockets.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let started = Instant::now();
    let mut child = unit_command()
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "1000000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start /usr/bin/warden");
    let stderr_pipe = child.stderr.take().unwrap();
    let mut warden = Running(child);
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
            if let Ok(mut s) = sink.lock() {
                s.push_str(&line);
                s.push('\n');
            }
        }
    });
    let stderr_now = || stderr.lock().map(|s| s.clone()).unwrap_or_default();

    let seen = wait_message(&notify, "READY=1", Duration::from_secs(60));
    eprintln!(
        "READY=1 after {:?} (before it: {seen:?})",
        started.elapsed()
    );
    // Printed just before READY=1 (the thread copying stderr may be a moment behind).
    let url = wait_for("the URL on stderr", Duration::from_secs(5), || {
        stderr_now()
            .lines()
            .find_map(|l| l.strip_prefix("Warden is running at "))
            .map(|u| u.trim().to_string())
    });
    assert!(
        url.starts_with("https://"),
        "the packaged config serves HTTPS: {url}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cert = std::fs::read("/var/lib/warden/tls/self-signed-cert.pem")
        .expect("the self-signed certificate");
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    runtime.block_on(async {
        // Ready means ready: /healthz answers at once.
        let health = client.get(format!("{url}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);

        let page = client.get(format!("{url}/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let urls = assets::asset_urls(&html);
        let wasm_or_js = urls
            .iter()
            .find(|u| u.ends_with(".js") || u.ends_with(".wasm"))
            .unwrap_or_else(|| panic!("no /pkg asset in the page:\n{html}"));
        let name = wasm_or_js.rsplit('/').next().unwrap();
        assert!(assets::is_hashed_name(name), "not a hashed name: {name}");
        assert!(Path::new("/usr/share/warden/site/pkg").join(name).is_file());
        for asset in &urls {
            let resp = client.get(format!("{url}{asset}")).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{asset}");
        }

        let password = std::fs::read_to_string(PASSWORD_FILE).expect("the initial password file");
        let password = password.trim();
        let mode = std::fs::metadata(PASSWORD_FILE)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{PASSWORD_FILE}");
        assert!(
            !stderr_now().contains(password),
            "the password reached stderr (the journal)"
        );
        let login = client
            .post(format!("{url}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            login.status(),
            200,
            "log in with the password from {PASSWORD_FILE}"
        );
    });

    // Watchdog pings every half of WATCHDOG_USEC (1 s → 0.5 s): at least two more within 3 s.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut pings = 0;
    while pings < 2 {
        let msg = next_message(&notify, deadline)
            .unwrap_or_else(|| panic!("{pings} WATCHDOG=1 within 3 s"));
        pings += msg.lines().filter(|l| *l == "WATCHDOG=1").count();
    }

    let pid = nix::unistd::Pid::from_raw(warden.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    wait_message(&notify, "STOPPING=1", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = warden.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "warden did not exit within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        stderr_now()
    );
    drop(warden);

    run(Command::new("dpkg").args(["--purge", "warden"]));
    assert!(!installed());
    let left: Vec<&str> = PACKAGE_PATHS
        .iter()
        .copied()
        .filter(|p| Path::new(p).exists())
        .collect();
    assert!(left.is_empty(), "left after the purge: {left:?}");
}
