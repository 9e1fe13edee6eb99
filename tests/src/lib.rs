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

/// Spawns a `warden serve` command, copies its stderr into `sink` (on a thread, for the whole run) and waits
/// up to 60 s for the `Warden is running at URL` line. Returns the child and that URL.
pub fn spawn_until_ready(cmd: &mut Command, sink: &Arc<Mutex<String>>) -> (Child, String) {
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

/// A running `warden serve` process and its data dir.
pub struct Warden {
    child: Option<Child>,
    pub url: String,
    data_dir: tempfile::TempDir,
    stderr: Arc<Mutex<String>>,
    admin_password: Option<String>,
    extra_args: Vec<String>,
}

impl Warden {
    /// Starts Warden on a fresh data dir with the admin password [`ADMIN_PASSWORD`].
    pub fn start() -> Warden {
        Self::start_with_password(Some(ADMIN_PASSWORD))
    }

    /// Starts Warden on a fresh data dir; `None` lets it generate the first-run password.
    pub fn start_with_password(password: Option<&str>) -> Warden {
        Self::start_with(password, &[])
    }

    /// Starts Warden on a fresh data dir with [`ADMIN_PASSWORD`] and extra `serve` arguments (kept for
    /// restarts), e.g. `["--tls", "self-signed"]`.
    pub fn start_with_args(extra_args: &[&str]) -> Warden {
        Self::start_with(Some(ADMIN_PASSWORD), extra_args)
    }

    fn start_with(password: Option<&str>, extra_args: &[&str]) -> Warden {
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
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
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
            .args(&self.extra_args)
            .env_remove("WARDEN_ADMIN_PASSWORD")
            .env("RUST_LOG", "info");
        if let Some(pw) = &self.admin_password {
            cmd.env("WARDEN_ADMIN_PASSWORD", pw);
        }
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

    /// A client logged in as admin through the API: its cookie jar holds the session cookie.
    pub async fn cookie_client(&self) -> reqwest::Client {
        let c = self.client();
        let resp = c
            .post(self.api("/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .expect("login request");
        assert_eq!(resp.status(), 200, "login failed");
        c
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
            Self::start_with_args(width, height, &[]).await
        }

        /// A browser started with extra Chromium switches (e.g. `--ignore-certificate-errors` for a
        /// test server's self-signed certificate).
        pub async fn start_with_args(width: u32, height: u32, extra_args: &[&str]) -> Browser {
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
            let mut args: Vec<String> = [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            args.push(format!("--user-data-dir={}", profile.path().display()));
            args.push(format!("--window-size={width},{height}"));
            args.extend(extra_args.iter().map(|a| a.to_string()));
            let caps = serde_json::json!({
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": args,
                },
                // Keeps the console (CSP violations, errors) for `Browser::console_log`.
                "goog:loggingPrefs": {"browser": "ALL"}
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

        /// Waits until the WASM has hydrated the current page (`body[data-hydrated=true]`). On a
        /// timeout it fails with what the page had loaded from `/pkg`, which hinted files never
        /// arrived and the browser console (a WASM panic shows there), so a stalled chunk fetch can be
        /// told from a slow machine.
        pub async fn wait_hydrated(&self) {
            let waited = self
                .client
                .wait()
                .at_most(Duration::from_secs(20))
                .for_element(Locator::Css("body[data-hydrated=true]"))
                .await;
            if let Err(e) = waited {
                let state = self
                    .client
                    .execute(
                        "const got = performance.getEntriesByType('resource')
                           .filter(r => r.name.includes('/pkg/'))
                           .map(r => ({file: r.name.split('/').pop(), ms: Math.round(r.duration),
                                       bytes: r.transferSize, status: r.responseStatus}));
                         const names = new Set(got.map(r => r.file));
                         const hinted = [...document.querySelectorAll('link[rel=preload],link[rel=modulepreload]')]
                           .map(l => l.href.split('/').pop());
                         return JSON.stringify({url: location.href, readyState: document.readyState,
                           missing: hinted.filter(h => !names.has(h)), loaded: got});",
                        vec![],
                    )
                    .await
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .unwrap_or_else(|e| format!("(no page state: {e})"));
                let console = self
                    .client
                    .issue_cmd(ChromedriverPost::browser_log())
                    .await
                    .map(|log| log.to_string())
                    .unwrap_or_else(|e| format!("(no console log: {e})"));
                panic!(
                    "the page did not hydrate within 20 s ({e}); page state: {state}; console: {console}"
                );
            }
            self.wait_forms_live().await;
        }

        /// Waits until no form on the page is `inert` (a server-rendered form is until the WASM has
        /// attached its handlers, which for content inside a `<Transition>` can be after the page
        /// itself is marked hydrated).
        pub async fn wait_forms_live(&self) {
            self.wait_count("every form on the page to be live", "form[inert]", |n| {
                n == 0
            })
            .await;
        }

        /// How many elements on the page match a CSS selector (0 if the page cannot be asked).
        pub async fn count(&self, css: &str) -> usize {
            self.client
                .execute(
                    "return document.querySelectorAll(arguments[0]).length;",
                    vec![serde_json::json!(css)],
                )
                .await
                .ok()
                .and_then(|v| v.as_u64())
                .map_or(0, |n| n as usize)
        }

        /// Waits (up to 20 s) until the number of elements matching `css` satisfies `wanted`.
        pub async fn wait_count(&self, what: &str, css: &str, wanted: impl Fn(usize) -> bool) {
            crate::poll(what, Duration::from_secs(20), || async {
                let n = self.count(css).await;
                wanted(n).then_some(())
            })
            .await;
        }

        /// Logs in through the login form at `base` and waits for the dashboard to be hydrated (with lazy
        /// routes, hydration waits for the page's WASM chunks: a click before that is a full page load).
        pub async fn log_in(&self, base: &str, password: &str) {
            self.client
                .goto(&format!("{base}/login"))
                .await
                .expect("open the login page");
            self.find("#password")
                .await
                .send_keys(password)
                .await
                .expect("type the password");
            self.find("[data-testid=login-submit]")
                .await
                .click()
                .await
                .expect("submit the login form");
            self.wait_for_path("/").await;
            self.wait_hydrated().await;
        }

        /// Opens `base` + `path` and waits until the WASM has hydrated the page.
        pub async fn open(&self, base: &str, path: &str) {
            self.client
                .goto(&format!("{base}{path}"))
                .await
                .unwrap_or_else(|e| panic!("open {path}: {e}"));
            self.wait_hydrated().await;
        }

        /// Whether the page is wider than the window (a phone-width layout must not be).
        pub async fn overflows_horizontally(&self) -> bool {
            self.client
                .execute(
                    "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                    vec![],
                )
                .await
                .expect("measure the page width")
                .as_bool()
                .expect("a boolean")
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

        /// The browser console messages since the last call (chromedriver's log endpoint), each
        /// `{"level", "message", "source", "timestamp"}`; CSP violations show up here as errors.
        pub async fn console_log(&self) -> Vec<serde_json::Value> {
            let answer = self
                .client
                .issue_cmd(ChromedriverPost::browser_log())
                .await
                .expect("the browser log");
            answer.as_array().cloned().unwrap_or_default()
        }

        /// Empties the browser's HTTP cache (Chrome DevTools `Network.clearBrowserCache`), so the next
        /// page load fetches every asset as a first-time visitor would; cookies are kept.
        pub async fn clear_cache(&self) {
            self.client
                .issue_cmd(ChromedriverPost::cdp("Network.clearBrowserCache"))
                .await
                .expect("clear the browser cache");
        }

        /// Makes every request whose URL matches one of `patterns` (`*` wildcards) fail as a network
        /// error (DevTools `Network.setBlockedURLs`); an empty list lifts the block.
        pub async fn block_urls(&self, patterns: &[&str]) {
            self.client
                .issue_cmd(ChromedriverPost::cdp("Network.enable"))
                .await
                .expect("enable the DevTools network domain");
            self.client
                .issue_cmd(ChromedriverPost::cdp_with(
                    "Network.setBlockedURLs",
                    serde_json::json!({ "urls": patterns }),
                ))
                .await
                .expect("set the blocked URLs");
        }

        pub async fn close(mut self) {
            let _ = self.client.clone().close().await;
            let _ = self.driver.kill();
            let _ = self.driver.wait();
        }
    }

    /// A chromedriver-specific `POST /session/{id}/<path>` with a JSON body (not in fantoccini).
    #[derive(Debug)]
    struct ChromedriverPost {
        path: &'static str,
        body: serde_json::Value,
    }

    impl ChromedriverPost {
        /// `se/log {"type": "browser"}`: the console messages since the last call.
        fn browser_log() -> Self {
            ChromedriverPost {
                path: "se/log",
                body: serde_json::json!({"type": "browser"}),
            }
        }

        /// `goog/cdp/execute`: one Chrome DevTools Protocol command without parameters.
        fn cdp(cmd: &str) -> Self {
            Self::cdp_with(cmd, serde_json::json!({}))
        }

        /// `goog/cdp/execute`: one Chrome DevTools Protocol command with its parameters.
        fn cdp_with(cmd: &str, params: serde_json::Value) -> Self {
            ChromedriverPost {
                path: "goog/cdp/execute",
                body: serde_json::json!({"cmd": cmd, "params": params}),
            }
        }
    }

    impl fantoccini::wd::WebDriverCompatibleCommand for ChromedriverPost {
        fn endpoint(
            &self,
            base_url: &url::Url,
            session_id: Option<&str>,
        ) -> Result<url::Url, url::ParseError> {
            base_url.join(&format!(
                "session/{}/{}",
                session_id.unwrap_or_default(),
                self.path
            ))
        }

        fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
            (http::Method::POST, Some(self.body.to_string()))
        }
    }

    impl Drop for Browser {
        fn drop(&mut self) {
            let _ = self.driver.kill();
            let _ = self.driver.wait();
        }
    }
}

/// An authenticated client for the REST API of one running [`Warden`] (bearer token, JSON bodies).
/// After [`Warden::restart`] the URL changes: make a new one with [`Api::with_token`].
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    /// Logs in as admin and returns a client for `w`.
    pub async fn login(w: &Warden) -> Api {
        let token = w.login_token().await;
        Api::with_token(w, &token)
    }

    /// A client for `w` using an existing token.
    pub fn with_token(w: &Warden, token: &str) -> Api {
        Api {
            client: w.client(),
            base: w.api(""),
            token: token.to_string(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::DELETE, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}"))
    }

    pub async fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// POST without a body (the action routes).
    pub async fn post_empty(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub async fn patch(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.request(reqwest::Method::PATCH, path)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PATCH {path}: {e}"))
    }

    /// GET that must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = self.get(path).await;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
    }

    /// Creates a service (must answer 201) and returns it.
    pub async fn create_service(&self, body: &serde_json::Value) -> serde_json::Value {
        let resp = self.post("/services", body).await;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 201, "POST /services {body}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    pub async fn service(&self, id: &str) -> serde_json::Value {
        self.get_json(&format!("/services/{id}")).await
    }

    /// The last `lines` lines of a service's log.
    pub async fn logs(&self, id: &str, lines: usize) -> String {
        let resp = self
            .get(&format!("/services/{id}/logs?lines={lines}"))
            .await;
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap_or_default()
    }

    /// Polls the service until `pred` holds for it, or panics after `timeout` naming `what`.
    pub async fn wait_service(
        &self,
        id: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.service(id).await;
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out after {timeout:?} waiting for {what}; last: {s}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the service is `running` and returns its main pid.
    pub async fn wait_running(&self, id: &str, timeout: Duration) -> u32 {
        let s = self
            .wait_service(id, "state running", timeout, |s| {
                s["status"]["state"] == "running" && s["status"]["pid"].is_u64()
            })
            .await;
        s["status"]["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or_default()
    }
}

/// Polls the async `f` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One live (not zombie) process from `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub cmdline: String,
}

/// Every live process (zombies excluded), read from `/proc`.
pub fn live_processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 2..];
            let mut fields = rest.split_whitespace();
            let state = fields.next()?;
            if state == "Z" || state == "X" {
                return None;
            }
            let ppid = fields.next()?.parse().ok()?;
            let pgid = fields.next()?.parse().ok()?;
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            Some(Proc {
                pid,
                ppid,
                pgid,
                cmdline,
            })
        })
        .collect()
}

/// Live processes whose command line contains `marker`.
pub fn processes_matching(marker: &str) -> Vec<Proc> {
    live_processes()
        .into_iter()
        .filter(|p| p.cmdline.contains(marker))
        .collect()
}

/// Live processes of process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<Proc> {
    live_processes()
        .into_iter()
        .filter(|p| p.pgid == pgid)
        .collect()
}

/// Is a (non-zombie) process with this pid alive?
pub fn pid_alive(pid: u32) -> bool {
    live_processes().iter().any(|p| p.pid == pid)
}

/// The error of a failed API call: `(status, code, field)`; asserts the error shape.
pub async fn api_error(resp: reqwest::Response) -> (u16, String, Option<String>) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {status} {text}"));
    let error = &body["error"];
    let code = error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.code: {body}"))
        .to_string();
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message: {body}"
    );
    assert!(
        error.get("field").is_some(),
        "error.field must be present (null or a name): {body}"
    );
    let field = error["field"].as_str().map(str::to_string);
    (status, code, field)
}

/// Reads an SSE response until `pred` matches one `data:` payload or `timeout` passes; returns the
/// matching payload.
pub async fn sse_wait(
    resp: &mut reqwest::Response,
    timeout: Duration,
    mut pred: impl FnMut(&str) -> bool,
) -> Option<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = String::new();
    loop {
        while let Some(end) = buf.find('\n') {
            let line: String = buf.drain(..=end).collect();
            if let Some(data) = line.trim_end_matches(['\r', '\n']).strip_prefix("data:") {
                let data = data.strip_prefix(' ').unwrap_or(data);
                if pred(data) {
                    return Some(data.to_string());
                }
            }
        }
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return None,
        }
    }
}

impl Warden {
    /// The pid of the running `warden` process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A [`Warden`] that stops every service it started when dropped (also when a test panics): SIGTERM
/// (Warden's clean shutdown, bounded), then SIGKILL to Warden and to every process group it had started.
/// A plain [`Warden`] is `kill -9`ed on drop and leaves its services running.
pub struct ManagedWarden(pub Warden);

impl Warden {
    /// [`Warden::start`], stopping its services on drop (see [`ManagedWarden`]).
    pub fn start_managed() -> ManagedWarden {
        ManagedWarden(Warden::start())
    }

    /// The process groups of Warden's direct children (its services' groups).
    pub fn child_groups(&self) -> Vec<u32> {
        let Some(pid) = self.pid() else {
            return Vec::new();
        };
        let mut groups: Vec<u32> = live_processes()
            .into_iter()
            .filter(|p| p.ppid == pid && p.pgid != pid)
            .map(|p| p.pgid)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }
}

impl std::ops::Deref for ManagedWarden {
    type Target = Warden;
    fn deref(&self) -> &Warden {
        &self.0
    }
}

impl std::ops::DerefMut for ManagedWarden {
    fn deref_mut(&mut self) -> &mut Warden {
        &mut self.0
    }
}

impl Drop for ManagedWarden {
    fn drop(&mut self) {
        let groups = self.0.child_groups();
        if let Some(mut child) = self.0.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for pgid in groups {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// The built UI assets as the HTML names them (for the asset test and `bench_assets`).
pub mod assets {
    /// Whether `target/site/pkg` holds a built UI.
    pub fn built() -> Result<(), String> {
        let pkg = super::site_root().join("pkg");
        let has_wasm = std::fs::read_dir(&pkg)
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().ends_with(".wasm"))
            })
            .unwrap_or(false);
        if has_wasm {
            Ok(())
        } else {
            Err(format!(
                "{} has no built UI: run `cargo leptos build`",
                pkg.display()
            ))
        }
    }

    /// The `/pkg/...` URLs of the stylesheet, JS and WASM a page references, in order, without repeats.
    pub fn asset_urls(html: &str) -> Vec<String> {
        let mut urls: Vec<String> = Vec::new();
        for (start, _) in html.match_indices("/pkg/") {
            let rest = &html[start..];
            let end = rest
                .find(|c: char| c == '"' || c == '\'' || c == ')' || c.is_whitespace())
                .unwrap_or(rest.len());
            let url = &rest[..end];
            if [".js", ".wasm", ".css"].iter().any(|e| url.ends_with(e))
                && !urls.iter().any(|u| u == url)
            {
                urls.push(url.to_string());
            }
        }
        urls
    }

    /// `name.<hash>.ext` with a cargo-leptos content hash (base64url, at least 16 characters).
    pub fn is_hashed_name(file_name: &str) -> bool {
        let parts: Vec<&str> = file_name.split('.').collect();
        matches!(parts.as_slice(), [stem, hash, ext]
            if !stem.is_empty()
                && ["js", "wasm", "css"].contains(ext)
                && hash.len() >= 16
                && hash.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    }
}
