//! The real binary over HTTP: health, login, 401s, logout, error shapes, CSRF, durability across kill -9.

use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{Launch, Warden, ADMIN_PASSWORD};

async fn error_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("error body is JSON");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_string();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    (status, code)
}

#[tokio::test]
async fn healthz_login_and_unauthorized() {
    let w = Warden::start();
    let c = w.client();

    let health = c.get(format!("{}/healthz", w.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    // No credentials → 401 with the error shape.
    let resp = c.post(w.api("/auth/logout")).send().await.unwrap();
    assert_eq!(error_code(resp).await, (401, "unauthorized".into()));
    let resp = c.get(w.api("/services")).send().await.unwrap();
    assert_eq!(error_code(resp).await, (401, "unauthorized".into()));
    // A made-up token → 401.
    let resp = c
        .get(w.api("/services"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Wrong password → 401.
    let resp = c
        .post(w.api("/auth/login"))
        .json(&json!({"username": "admin", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(resp).await, (401, "unauthorized".into()));
    // Unknown fields → 400.
    let resp = c
        .post(w.api("/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD, "extra": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(resp).await, (400, "validation_failed".into()));

    // Right password → token + HttpOnly SameSite=Strict cookie.
    let resp = c
        .post(w.api("/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_string();
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));

    // The token authenticates: an unknown API route now answers 404 (not 401).
    let resp = c
        .get(w.api("/no-such-route"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(resp).await, (404, "not_found".into()));

    // Logout revokes it at once.
    let plain = reqwest::Client::new();
    let resp = plain
        .post(w.api("/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = plain
        .get(w.api("/no-such-route"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        !w.stderr().contains(ADMIN_PASSWORD),
        "the password must never be logged"
    );
}

#[tokio::test]
async fn pages_redirect_to_login_and_server_fns_need_auth() {
    let w = Warden::start();
    let c = w.client();
    for path in ["/", "/services", "/firewall", "/logs", "/settings"] {
        let resp = c.get(format!("{}{path}", w.url)).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{path}");
        assert_eq!(resp.headers()["location"], "/login", "{path}");
    }
    let login = c.get(format!("{}/login", w.url)).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let headers = login.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(login.text().await.unwrap().contains("name=\"password\""));

    let resp = c
        .post(format!("{}/rpc/shell_info", w.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // The login form sets the cookie and redirects to the dashboard, which then renders.
    let resp = c
        .post(format!("{}/login", w.url))
        .header("origin", &w.url)
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/");
    let dash = c.get(format!("{}/", w.url)).send().await.unwrap();
    assert_eq!(dash.status(), 200);
    let html = dash.text().await.unwrap();
    assert!(
        html.contains("Dashboard") && html.contains("/firewall"),
        "{html}"
    );
    let resp = c
        .post(format!("{}/rpc/shell_info", w.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // A wrong password on the form goes back to the login page with an error.
    let resp = w
        .client()
        .post(format!("{}/login", w.url))
        .form(&[("username", "admin"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["location"], "/login?error=invalid");
}

#[tokio::test]
async fn foreign_origin_mutations_are_refused_unless_bearer() {
    let w = Warden::start();
    let token = w.login_token().await;
    let c = w.cookie_client().await;
    // Cookie + foreign Origin → 403.
    let resp = c
        .post(w.api("/auth/logout"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(resp).await, (403, "forbidden".into()));
    // Cookie + same Origin → allowed.
    let resp = c
        .post(w.api("/auth/logout"))
        .header("origin", &w.url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    // Bearer without cookie, even with a foreign Origin → allowed.
    let resp = reqwest::Client::new()
        .post(w.api("/auth/logout"))
        .header("origin", "http://evil.example")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let mut w = Warden::start();
    // A login creates a session record in the store and is acknowledged only after a flush.
    let token = w.login_token().await;
    w.kill9();
    w.restart();
    let resp = reqwest::Client::new()
        .get(w.api("/no-such-route"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        404,
        "the session survived kill -9 (404, not 401)"
    );
    // The admin password still works.
    let _ = w.login_token().await;
}

#[tokio::test]
async fn generated_first_run_password_is_printed_once_and_works() {
    let mut w = Warden::start_with_password(None);
    let stderr = w.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("log in as `admin` with password: "))
        .unwrap_or_else(|| panic!("no password line in: {stderr}"));
    let password = line.rsplit(": ").next().unwrap().trim().to_string();
    assert!(password.len() >= 16, "{password}");
    assert_eq!(
        stderr.matches(&password).count(),
        1,
        "printed once, never logged"
    );
    let resp = w
        .client()
        .post(w.api("/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    w.restart();
    assert!(
        !w.stderr_since_restart().contains("with password"),
        "not printed again"
    );
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let mut w = Warden::start();
    let status = w.terminate(Duration::from_secs(15)).expect("was running");
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn unusable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = Launch::new()
        .admin_password(None)
        .command(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&file.display().to_string()),
        "names the path: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn unknown_api_paths_answer_json_404() {
    let w = Warden::start();
    let token = w.login_token().await;
    let c = reqwest::Client::new();
    for path in [
        "/api",
        "/api/",
        "/api/v1",
        "/api/v1/",
        "/api/v2/services",
        "/api/v1/nope/../x",
    ] {
        let resp = c
            .get(format!("{}{path}", w.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(resp).await, (404, "not_found".into()), "{path}");
    }
}
