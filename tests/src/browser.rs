//! Headless Chromium driven over WebDriver (Debian's `chromium` + `chromium-driver`): [`Browser`] starts
//! chromedriver with one headless session and offers the waits the UI tests need (hydration, element
//! counts, paths), screenshots, the console log and a few DevTools commands.
//!
//! Every session keeps the whole browser console; [`Browser::close`] fails the test if a page logged an
//! error (a WASM panic logs one, then throws) or an uncaught exception, or shows the "stopped working"
//! banner — unless the test said it expects that error ([`Browser::allow_console_error`]).

mod driver_process;
mod navigation;

use driver_process::end_process_group;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Child;
use std::sync::Mutex;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether the browser test can run here (against the binary under test and its UI).
pub fn available() -> Result<(), String> {
    chromium_installed()?;
    if !crate::site_root().join("pkg").is_dir() {
        return Err(format!(
            "the UI is not built ({} is missing): run `make build-debug`",
            crate::site_root().join("pkg").display()
        ));
    }
    Ok(())
}

/// Whether a browser test of `build` can run here (Chromium, and that build's binary and UI).
pub fn available_for(build: crate::Build) -> Result<(), String> {
    chromium_installed()?;
    build.built()
}

/// Whether Chromium and chromedriver are installed (for tests of the browser harness itself).
pub fn chromium_installed() -> Result<(), String> {
    for p in [CHROMIUM, CHROMEDRIVER] {
        if !std::path::Path::new(p).exists() {
            return Err(format!(
                "{p} is missing (Debian packages chromium and chromium-driver)"
            ));
        }
    }
    Ok(())
}

/// A chromedriver process with one headless Chromium session.
pub struct Browser {
    driver: Child,
    pub client: Client,
    profile: tempfile::TempDir,
    /// Every console message of the session so far (chromedriver hands each out once).
    console: Mutex<Vec<serde_json::Value>>,
    /// Substrings of console errors the test expects (e.g. a chunk it made fail to load).
    allowed: Mutex<Vec<String>>,
}

/// Whether a console entry is an error of the page: `console.error` (a WASM panic's message), an
/// uncaught exception (`RuntimeError: unreachable` after the panic) or a refused script (CSP). Failed
/// HTTP requests (`network`: a 401 on a wrong password, a 422 with field errors) are the tests' business.
fn is_page_error(entry: &serde_json::Value) -> bool {
    entry["level"] == "SEVERE" && entry["source"] != "network"
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
        // The free port is found by binding and releasing it, so another process (a Warden under test
        // on 127.0.0.1:0) can take it before chromedriver does: then the session fails to connect, and
        // a fresh port is tried.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(width, height, extra_args).await {
                Ok(browser) => return browser,
                Err(e) => last_error = e,
            }
        }
        panic!("a WebDriver session: {last_error}");
    }

    async fn try_start(width: u32, height: u32, extra_args: &[&str]) -> Result<Browser, String> {
        let port = free_port();
        let mut driver = driver_process::spawn_chromedriver(port);
        crate::wait_for("chromedriver to listen", Duration::from_secs(20), || {
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
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => client,
                Err(e) => {
                    end_process_group(&mut driver);
                    return Err(format!("{e:?}"));
                }
            };
        Ok(Browser {
            driver,
            client,
            profile,
            console: Mutex::new(Vec::new()),
            allowed: Mutex::new(Vec::new()),
        })
    }

    /// Waits for an element matching a CSS selector. On a timeout it fails with the page errors so
    /// far (a WASM panic explains a missing element).
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let errors = self.page_errors().await;
                panic!("no element {css}: {e}; page errors: {errors:#?}")
            }
        }
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
            self.console_log().await;
            let console = self
                .console
                .lock()
                .map(|c| serde_json::Value::Array(c.clone()).to_string())
                .unwrap_or_default();
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
        let dir = crate::repo_root().join("target").join("artifacts");
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
        let fresh = answer.as_array().cloned().unwrap_or_default();
        if let Ok(mut all) = self.console.lock() {
            all.extend(fresh.iter().cloned());
        }
        fresh
    }

    /// Tells [`Browser::close`] that console errors containing `text` are expected in this test.
    pub fn allow_console_error(&self, text: &str) {
        if let Ok(mut allowed) = self.allowed.lock() {
            allowed.push(text.to_string());
        }
    }

    /// The page errors of the session so far (see [`is_page_error`]) that the test did not allow,
    /// each as `source: message`.
    pub async fn page_errors(&self) -> Vec<String> {
        self.console_log().await;
        let allowed = self.allowed.lock().map(|a| a.clone()).unwrap_or_default();
        let all = self.console.lock().map(|c| c.clone()).unwrap_or_default();
        all.iter()
            .filter(|e| is_page_error(e))
            .map(|e| {
                format!(
                    "{}: {}",
                    e["source"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or_default()
                )
            })
            .filter(|m| !allowed.iter().any(|a| m.contains(a.as_str())))
            .collect()
    }

    /// Fails (naming `step`) if a page error happened so far or the page shows the "stopped working"
    /// banner.
    pub async fn assert_no_page_errors(&self, step: &str) {
        let errors = self.page_errors().await;
        assert!(
            errors.is_empty(),
            "{step}: the page logged errors: {errors:#?}"
        );
        assert_eq!(
            self.count("[data-testid=page-stopped]").await,
            0,
            "{step}: the page shows the \"stopped working\" banner"
        );
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

    /// Runs `script` in every document before the page's own scripts (DevTools
    /// `Page.addScriptToEvaluateOnNewDocument`; not subject to the page's CSP).
    pub async fn script_on_new_documents(&self, script: &str) {
        self.client
            .issue_cmd(ChromedriverPost::cdp_with(
                "Page.addScriptToEvaluateOnNewDocument",
                serde_json::json!({ "source": script }),
            ))
            .await
            .expect("add the script");
    }

    /// The session's Chromium profile directory (every Chromium process of the session names it).
    pub fn profile_dir(&self) -> &std::path::Path {
        self.profile.path()
    }

    /// Ends the session, then fails the test if a page logged an error it did not allow or the last
    /// page shows the "stopped working" banner (see the module's header).
    pub async fn close(mut self) {
        let (errors, stopped) = match self.client.current_url().await {
            Ok(_) => (
                self.page_errors().await,
                self.count("[data-testid=page-stopped]").await,
            ),
            Err(_) => (Vec::new(), 0),
        };
        let _ = self.client.clone().close().await;
        end_process_group(&mut self.driver);
        assert!(
            errors.is_empty(),
            "the pages of this test logged errors: {errors:#?}"
        );
        assert_eq!(
            stopped, 0,
            "the last page shows the \"stopped working\" banner"
        );
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
        end_process_group(&mut self.driver);
    }
}
