//! Talking to a running [`Warden`] over its REST API: plain and logged-in HTTP clients of a [`Warden`],
//! the bearer-token [`Api`] client with its service helpers, the error shape check [`api_error`] and
//! the server-sent-events reader [`sse_wait`].

use std::time::{Duration, Instant};

use crate::launcher::{Warden, ADMIN_PASSWORD};

impl Warden {
    /// An HTTP client with a cookie jar.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client")
    }

    /// The URL of an API path (`/services` → `<url>/api/v1/services`).
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

    /// Logs in as admin at `base` (`http://host:port`, e.g. a Warden in a namespace reached over a
    /// veth), retrying until it answers (up to 20 s).
    pub async fn login_at(base: &str) -> Api {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        let token = crate::poll(
            "Warden to answer at its address",
            Duration::from_secs(20),
            || {
                let client = client.clone();
                async move {
                    let resp = client
                        .post(format!("{base}/api/v1/auth/login"))
                        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
                        .send()
                        .await
                        .ok()?;
                    let body: serde_json::Value = resp.json().await.ok()?;
                    body["token"].as_str().map(str::to_string)
                }
            },
        )
        .await;
        Api {
            client,
            base: format!("{base}/api/v1"),
            token,
        }
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

    pub async fn put(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.request(reqwest::Method::PUT, path)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {path}: {e}"))
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
