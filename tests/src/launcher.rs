//! Starting the real `warden` binary: where it is ([`warden_bin`], [`repo_root`], [`site_root`], and
//! [`Build`]: the debug or release binary with the UI site built with it), how it is started
//! ([`Launch`]: which build, listen address, network namespace, first-run password, extra arguments
//! and environment), and the running process ([`Warden`]: a temporary data dir, its stderr, kill -9,
//! SIGTERM, restart on the same data dir). Every test that runs `warden serve` goes through [`Launch`].

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The admin password the harness sets on first start.
pub const ADMIN_PASSWORD: &str = "test-admin-password-1";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A build of Warden: its binary and the UI site cargo-leptos built with it. The two builds write
/// separate sites (`make build` → `target/site`, `make build-debug` → `target/site-debug`), so building
/// one never replaces the assets a running Warden of the other serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    Debug,
    Release,
}

impl Build {
    /// Both builds, debug first.
    pub const ALL: [Build; 2] = [Build::Debug, Build::Release];

    /// `debug` or `release` (the cargo profile directory).
    pub fn name(self) -> &'static str {
        match self {
            Build::Debug => "debug",
            Build::Release => "release",
        }
    }

    /// `target/<profile>/warden`.
    pub fn bin(self) -> PathBuf {
        repo_root().join("target").join(self.name()).join("warden")
    }

    /// The site this build's UI is written to: `target/site-debug` or `target/site`.
    pub fn site_root(self) -> PathBuf {
        let dir = match self {
            Build::Debug => "site-debug",
            Build::Release => "site",
        };
        repo_root().join("target").join(dir)
    }

    /// The make target that produces this build.
    pub fn make_target(self) -> &'static str {
        match self {
            Build::Debug => "build-debug",
            Build::Release => "build",
        }
    }

    /// Whether this build's binary and UI are there.
    pub fn built(self) -> Result<(), String> {
        let (bin, pkg) = (self.bin(), self.site_root().join("pkg"));
        if !bin.is_file() {
            return Err(format!(
                "{} is missing: run `make {}`",
                bin.display(),
                self.make_target()
            ));
        }
        if !pkg.is_dir() {
            return Err(format!(
                "the {} UI is not built ({} is missing): run `make {}`",
                self.name(),
                pkg.display(),
                self.make_target()
            ));
        }
        Ok(())
    }

    /// The build a binary belongs to: one under `target/release/` is the release build, anything
    /// else counts as debug.
    fn of(bin: &Path) -> Build {
        let profile = bin.parent().and_then(Path::file_name);
        if profile.is_some_and(|p| p == "release") {
            Build::Release
        } else {
            Build::Debug
        }
    }
}

/// The `warden` binary under test: `$WARDEN_BIN`, else the debug build, else the release build.
pub fn warden_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WARDEN_BIN") {
        return PathBuf::from(p);
    }
    for build in Build::ALL {
        let p = build.bin();
        if p.is_file() {
            return p;
        }
    }
    panic!("no warden binary: build it first (`make build-debug`), or set WARDEN_BIN");
}

/// The site root with the UI built with [`warden_bin`] (see [`Build::site_root`]).
pub fn site_root() -> PathBuf {
    Build::of(&warden_bin()).site_root()
}

/// How to start `warden serve`. The default: [`warden_bin`] on the host, `--listen 127.0.0.1:0`,
/// first-run admin password [`ADMIN_PASSWORD`], `RUST_LOG=info`, the UI from [`site_root`], and
/// `--firewall off`: a Warden in the host's namespace never touches the host's nftables (it would
/// install its default guard there). Inside a test's own namespace ([`Launch::in_netns`]) it manages
/// that namespace's firewall.
#[derive(Debug, Clone)]
pub struct Launch {
    build: Option<Build>,
    site: Option<PathBuf>,
    netns: Option<String>,
    /// Pass `--firewall on` (the product's default) instead of `--firewall off`.
    manage_firewall: bool,
    listen: String,
    admin_password: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            build: None,
            site: None,
            netns: None,
            manage_firewall: false,
            listen: "127.0.0.1:0".to_string(),
            admin_password: Some(ADMIN_PASSWORD.to_string()),
            args: Vec::new(),
            env: Vec::new(),
        }
    }
}

impl Launch {
    /// The default launch (see [`Launch`]).
    pub fn new() -> Launch {
        Launch::default()
    }

    /// Runs this build's binary with its UI (instead of [`warden_bin`] and [`site_root`]).
    pub fn build(mut self, build: Build) -> Launch {
        self.build = Some(build);
        self
    }

    /// Serves the UI from `site` instead of the build's own site.
    pub fn site_root(mut self, site: &Path) -> Launch {
        self.site = Some(site.to_path_buf());
        self
    }

    /// Runs Warden inside network namespace `name` (`ip netns exec`, which execs Warden itself: same
    /// pid, so killing the child kills Warden).
    pub fn in_netns(mut self, name: &str) -> Launch {
        self.netns = Some(name.to_string());
        self.manage_firewall = true;
        self
    }

    /// `--firewall off`, also inside a namespace.
    pub fn firewall_off(mut self) -> Launch {
        self.manage_firewall = false;
        self
    }

    /// Lets Warden manage the firewall (`--firewall on`) on the host too: only with a `WARDEN_NFT`
    /// that cannot reach the host's nftables (e.g. a program that does not exist).
    pub fn manage_firewall(mut self) -> Launch {
        self.manage_firewall = true;
        self
    }

    /// The `--listen` address.
    pub fn listen(mut self, addr: impl Into<String>) -> Launch {
        self.listen = addr.into();
        self
    }

    /// The first-run admin password (`WARDEN_ADMIN_PASSWORD`); `None` lets Warden generate one.
    pub fn admin_password(mut self, password: Option<&str>) -> Launch {
        self.admin_password = password.map(str::to_string);
        self
    }

    /// Extra `serve` arguments (kept for restarts), e.g. `["--tls", "self-signed"]`.
    pub fn args(mut self, args: &[&str]) -> Launch {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// An extra environment variable, e.g. `WARDEN_NFT`.
    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The `warden serve` command on `data_dir`, not yet run (for a test that expects it to fail, run
    /// it with `.output()`).
    pub fn command(&self, data_dir: &Path) -> Command {
        let (bin, build_site) = match self.build {
            Some(build) => (build.bin(), build.site_root()),
            None => (warden_bin(), site_root()),
        };
        let site = self.site.clone().unwrap_or(build_site);
        let mut cmd = match &self.netns {
            Some(ns) => warden_testkit::netns::command_in(ns, bin),
            None => Command::new(bin),
        };
        cmd.args(["serve", "--listen", &self.listen, "--data-dir"])
            .arg(data_dir)
            .arg("--site-root")
            .arg(site)
            .args([
                "--firewall",
                if self.manage_firewall { "on" } else { "off" },
            ])
            .args(&self.args)
            .env_remove("WARDEN_ADMIN_PASSWORD")
            .env_remove("WARDEN_FIREWALL")
            .env("WARDEN_CGROUP_NAME", cgroup_name(data_dir))
            .env("RUST_LOG", "info");
        if let Some(pw) = &self.admin_password {
            cmd.env("WARDEN_ADMIN_PASSWORD", pw);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// Starts Warden on a fresh data dir and waits until it serves.
    pub fn start(self) -> Warden {
        let data_dir = tempfile::Builder::new()
            .prefix("warden-test-")
            .tempdir()
            .expect("temp dir");
        let mut w = Warden {
            child: None,
            url: String::new(),
            data_dir,
            stderr: Arc::new(Mutex::new(String::new())),
            launch: self,
        };
        w.spawn();
        w
    }
}

/// The cgroup subtree of the Warden on `data_dir`: the data dir's name (`warden-test-…`), unique per
/// test instance; removed when the [`Warden`] is dropped (see [`crate::cgroups`]).
pub fn cgroup_name(data_dir: &Path) -> String {
    data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "warden-test".to_string())
}

/// Spawns a `warden serve` command, copies its stderr into `sink` (on a thread, for the whole run) and waits
/// up to 60 s for the `Warden is running at URL` line. Returns the child and that URL.
fn spawn_until_ready(cmd: &mut Command, sink: &Arc<Mutex<String>>) -> (Child, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn warden");
    let stderr = child.stderr.take().expect("stderr pipe");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let sink_for_thread = sink.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("Warden is running at ") {
                let _ = tx.send(url.trim().to_string());
            }
            if let Ok(mut s) = sink_for_thread.lock() {
                s.push_str(&line);
                s.push('\n');
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(url) => (child, url),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let log = sink.lock().map(|s| s.clone()).unwrap_or_default();
            panic!("warden did not start within 60 s; stderr:\n{log}")
        }
    }
}

/// A running `warden serve` process and its data dir; `kill -9`ed on drop.
pub struct Warden {
    pub(crate) child: Option<Child>,
    pub url: String,
    data_dir: tempfile::TempDir,
    stderr: Arc<Mutex<String>>,
    launch: Launch,
}

impl Warden {
    /// Starts Warden on a fresh data dir with the admin password [`ADMIN_PASSWORD`].
    pub fn start() -> Warden {
        Launch::new().start()
    }

    /// Starts Warden on a fresh data dir; `None` lets it generate the first-run password.
    pub fn start_with_password(password: Option<&str>) -> Warden {
        Launch::new().admin_password(password).start()
    }

    /// Starts Warden on a fresh data dir with [`ADMIN_PASSWORD`] and extra `serve` arguments (kept for
    /// restarts), e.g. `["--tls", "self-signed"]`.
    pub fn start_with_args(extra_args: &[&str]) -> Warden {
        Launch::new().args(extra_args).start()
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The address Warden listens on, from its URL (`http://ip:port` or `https://ip:port`).
    pub fn host_addr(&self) -> SocketAddr {
        self.url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("{} is not http://ip:port: {e}", self.url))
    }

    /// The pid of the running `warden` process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything Warden wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The stderr of the current run only.
    pub fn stderr_since_restart(&self) -> String {
        let all = self.stderr();
        match all.rfind("--- restart ---") {
            Some(i) => all[i..].to_string(),
            None => all,
        }
    }

    fn spawn(&mut self) {
        let mut cmd = self.launch.command(self.data_dir.path());
        let (child, url) = spawn_until_ready(&mut cmd, &self.stderr);
        self.child = Some(child);
        self.url = url;
    }

    /// `kill -9` the process (no chance to clean up), and wait for it to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    /// SIGTERM, and wait up to `timeout` for a clean exit; returns the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("warden did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the process again on the same data dir (after `kill9` or `terminate`; kills it first if
    /// still running). The stderr captured so far is kept; [`Warden::stderr_since_restart`] gives only
    /// the new run's.
    pub fn restart(&mut self) {
        self.kill9();
        if let Ok(mut s) = self.stderr.lock() {
            s.push_str("\n--- restart ---\n");
        }
        self.spawn();
    }
}

impl Drop for Warden {
    fn drop(&mut self) {
        self.kill9();
        // Whatever its services left (after a kill -9) and the subtree itself: no test leaves a cgroup.
        crate::cgroups::remove_subtree(&cgroup_name(self.data_dir.path()));
    }
}

/// `warden server-fns <args>`: `(METHOD, path)` of every server function (`--read-only`: of those a
/// read token may call).
pub fn server_fn_endpoints(args: &[&str]) -> Vec<(String, String)> {
    let out = Command::new(warden_bin())
        .arg("server-fns")
        .args(args)
        .output()
        .expect("run warden server-fns");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}
