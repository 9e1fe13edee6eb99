//! Test support for the end-to-end suites: [`Warden`] starts the real `warden` binary on `127.0.0.1:0` with
//! a temporary data dir and waits until it serves; [`gate`] decides whether a test that needs something from
//! the machine (root, Chromium) runs, skips with a printed reason, or — in CI — fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// The `warden` binary under test: `$WARDEN_BIN`, else the debug build, else the release build.
pub fn warden_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WARDEN_BIN") {
        return PathBuf::from(p);
    }
    let root = repo_root();
    for profile in ["debug", "release"] {
        let p = root.join("target").join(profile).join("warden");
        if p.is_file() {
            return p;
        }
    }
    panic!("no warden binary: build it first (`make build-debug`), or set WARDEN_BIN");
}

/// The site root with the built UI assets, if one was built.
pub fn site_root() -> PathBuf {
    repo_root().join("target").join("site")
}

/// Whether a machine-dependent test runs. Outside CI a missing prerequisite skips (printing why); in CI
/// (`CI=true`) it fails, because there the suite must really run.
pub fn gate(requirement: &str, available: Result<(), String>) -> bool {
    match available {
        Ok(()) => true,
        Err(reason) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{requirement} is required in CI but unavailable: {reason}");
            }
            eprintln!("SKIP ({requirement}): {reason}");
            false
        }
    }
}

/// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `warden serve` process and its data dir.
pub struct Warden {
    child: Option<Child>,
    pub url: String,
    data_dir: tempfile::TempDir,
    stderr: Arc<Mutex<String>>,
    admin_password: Option<String>,
}

impl Warden {
    /// Starts Warden on a fresh data dir with the admin password [`ADMIN_PASSWORD`].
    pub fn start() -> Warden {
        Self::start_with_password(Some(ADMIN_PASSWORD))
    }

    /// Starts Warden on a fresh data dir; `None` lets it generate the first-run password.
    pub fn start_with_password(password: Option<&str>) -> Warden {
        let data_dir = tempfile::Builder::new()
            .prefix("warden-test-")
            .tempdir()
            .expect("temp dir");
        let mut w = Warden {
            child: None,
            url: String::new(),
            data_dir,
            stderr: Arc::new(Mutex::new(String::new())),
            admin_password: password.map(str::to_string),
        };
        w.spawn();
        w
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Everything Warden wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(warden_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.data_dir.path())
            .arg("--site-root")
            .arg(site_root())
            .env_remove("WARDEN_ADMIN_PASSWORD")
            .env("RUST_LOG", "info");
        if let Some(pw) = &self.admin_password {
            cmd.env("WARDEN_ADMIN_PASSWORD", pw);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn warden");
        let stderr = child.stderr.take().expect("stderr pipe");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let sink = self.stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Warden is running at ") {
                    let _ = tx.send(url.trim().to_string());
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => self.url = url,
            Err(_) => panic!(
                "warden did not start within 60 s; stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// `kill -9` the process (no chance to clean up), and wait for it to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    /// SIGTERM, and wait up to `timeout` for a clean exit; returns the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
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

    /// Starts the process again on the same data dir (after `kill9` or `terminate`). The stderr captured
    /// so far is kept; [`Warden::stderr_since_restart`] gives only the new run's.
    pub fn restart(&mut self) {
        self.kill9();
        if let Ok(mut s) = self.stderr.lock() {
            s.push_str("\n--- restart ---\n");
        }
        self.spawn();
    }

    /// The stderr of the current run only.
    pub fn stderr_since_restart(&self) -> String {
        let all = self.stderr();
        match all.rfind("--- restart ---") {
            Some(i) => all[i..].to_string(),
            None => all,
        }
    }

    /// An HTTP client with a cookie jar.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client")
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.url, path)
    }

    /// Logs in as admin through the API and returns the bearer token.
    pub async fn login_token(&self) -> String {
        let resp = self
            .client()
            .post(self.api("/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .expect("login request");
        assert_eq!(resp.status(), 200, "login failed");
        let body: serde_json::Value = resp.json().await.expect("login body");
        body["token"].as_str().expect("token").to_string()
    }
}

impl Drop for Warden {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Headless Chromium driven over WebDriver (Debian's `chromium` + `chromium-driver`).
pub mod browser {
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use fantoccini::{Client, ClientBuilder, Locator};

    pub const CHROMIUM: &str = "/usr/bin/chromium";
    pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

    /// Whether the browser test can run here.
    pub fn available() -> Result<(), String> {
        for p in [CHROMIUM, CHROMEDRIVER] {
            if !std::path::Path::new(p).exists() {
                return Err(format!(
                    "{p} is missing (Debian packages chromium and chromium-driver)"
                ));
            }
        }
        if !super::site_root().join("pkg").is_dir() {
            return Err(
                "the UI is not built (target/site/pkg is missing): run `make build-debug`".into(),
            );
        }
        Ok(())
    }

    /// A chromedriver process with one headless Chromium session.
    pub struct Browser {
        driver: Child,
        pub client: Client,
        _profile: tempfile::TempDir,
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    impl Browser {
        pub async fn start(width: u32, height: u32) -> Browser {
            let port = free_port();
            let driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver");
            super::wait_for("chromedriver to listen", Duration::from_secs(20), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).ok()
            });
            let profile = tempfile::tempdir().expect("profile dir");
            let caps = serde_json::json!({
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--disable-dev-shm-usage",
                        format!("--user-data-dir={}", profile.path().display()),
                        format!("--window-size={width},{height}"),
                    ]
                }
            });
            let caps = match caps {
                serde_json::Value::Object(m) => m,
                _ => unreachable!("a JSON object literal"),
            };
            let client =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await
                    .expect("a WebDriver session");
            Browser {
                driver,
                client,
                _profile: profile,
            }
        }

        /// Waits for an element matching a CSS selector.
        pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
            self.client
                .wait()
                .at_most(Duration::from_secs(20))
                .for_element(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no element {css}: {e}"))
        }

        /// Waits until the path of the current URL is `path`.
        pub async fn wait_for_path(&self, path: &str) {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let url = self.client.current_url().await.expect("current url");
                if url.path() == path {
                    return;
                }
                if std::time::Instant::now() > deadline {
                    panic!("expected to be at {path}, still at {url}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        /// Saves a screenshot under `target/artifacts/`.
        pub async fn screenshot(&self, name: &str) -> PathBuf {
            let png = self.client.screenshot().await.expect("screenshot");
            let dir = super::repo_root().join("target").join("artifacts");
            std::fs::create_dir_all(&dir).expect("artifacts dir");
            let path = dir.join(format!("{name}.png"));
            std::fs::write(&path, png).expect("write screenshot");
            path
        }

        pub async fn close(mut self) {
            let _ = self.client.clone().close().await;
            let _ = self.driver.kill();
            let _ = self.driver.wait();
        }
    }

    impl Drop for Browser {
        fn drop(&mut self) {
            let _ = self.driver.kill();
            let _ = self.driver.wait();
        }
    }
}
