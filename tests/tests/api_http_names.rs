//! Who Warden answers to and who it thinks is calling, against the real binary: a request for a
//! foreign host name (DNS rebinding) is refused with 421 on pages, the API, server functions and the
//! login, while the listen address, `localhost` and an `allowed_hosts` entry pass; HSTS is sent under
//! TLS only; listening beyond loopback over plain HTTP warns at start and in the UI's server info;
//! `X-Forwarded-For` names the client (in the audit log) only when the peer is a trusted proxy.

use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{Api, Launch, Warden, ADMIN_PASSWORD};

async fn rpc(w: &Warden, c: &reqwest::Client, host: Option<&str>, name: &str) -> reqwest::Response {
    // The browser's Origin is the name it addressed Warden by.
    let origin = host.map_or_else(|| w.url.clone(), |h| format!("http://{h}"));
    let mut req = c
        .post(format!("{}/rpc/{name}", w.url))
        .header("origin", origin)
        .json(&json!({}));
    if let Some(host) = host {
        req = req.header("host", host);
    }
    req.send().await.expect("rpc request")
}

#[tokio::test]
async fn foreign_host_names_get_421_and_own_names_pass() {
    let w = Warden::start();
    let port = w.host_addr().port();
    let api = Api::login(&w).await;
    let session = w.cookie_client().await;
    let evil = format!("rebind.evil.example:{port}");

    // The page, the API, a server function and the login itself.
    let page = session
        .get(format!("{}/", w.url))
        .header("host", &evil)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 421);
    assert!(page
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html")));
    // The refusal page carries the same security headers as every page.
    let csp = page
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "CSP: {csp:?}");
    assert_eq!(
        page.headers().get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"DENY"[..])
    );
    assert!(page.text().await.unwrap().contains("Allowed host names"));
    let resp = api
        .request(reqwest::Method::GET, "/services")
        .header("host", &evil)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 421);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "misdirected_request", "{body}");
    assert_eq!(
        rpc(&w, &session, Some(&evil), "admin/settings")
            .await
            .status(),
        421
    );
    let login = w
        .client()
        .post(w.api("/auth/login"))
        .header("host", &evil)
        .header("origin", format!("http://{evil}"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 421, "a login through a rebound name");
    // Monitors may address /healthz by any name.
    let health = w
        .client()
        .get(format!("{}/healthz", w.url))
        .header("host", &evil)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // Warden's own names pass.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".into(),
    ] {
        let resp = api
            .request(reqwest::Method::GET, "/services")
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{host}");
        assert_eq!(
            rpc(&w, &session, Some(&host), "admin/settings")
                .await
                .status(),
            200,
            "{host}"
        );
    }

    // A name added to allowed_hosts passes at once; an invalid entry is refused by field.
    let resp = api
        .patch("/settings", &json!({"allowed_hosts": ["bad host:80"]}))
        .await;
    assert_eq!(resp.status(), 422);
    let resp = api
        .patch(
            "/settings",
            &json!({"allowed_hosts": ["panel.example.com"]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let settings: Value = resp.json().await.unwrap();
    assert_eq!(settings["allowed_hosts"], json!(["panel.example.com"]));
    let resp = session
        .get(format!("{}/", w.url))
        .header("host", format!("Panel.Example.com:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = api
        .request(reqwest::Method::GET, "/services")
        .header("host", &evil)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 421, "other names are still refused");
}

/// A client that trusts exactly this certificate.
fn client_trusting(cert_pem: &[u8]) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(cert_pem).expect("PEM certificate");
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(cert)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("https client")
}

#[tokio::test]
async fn hsts_is_sent_under_tls_and_not_over_plain_http() {
    let tls = Warden::start_with_args(&["--tls", "self-signed"]);
    let cert = std::fs::read(tls.data_dir().join("tls").join("self-signed-cert.pem")).unwrap();
    let c = client_trusting(&cert);
    for path in ["/login", "/healthz", "/api/v1/services"] {
        let resp = c.get(format!("{}{path}", tls.url)).send().await.unwrap();
        assert_eq!(
            resp.headers()
                .get("strict-transport-security")
                .and_then(|v| v.to_str().ok()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    // The certificate's names are Warden's own: `localhost` is in the self-signed one.
    let port = tls.url.rsplit(':').next().unwrap();
    let resp = c
        .get(format!("https://localhost:{port}/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let plain = Warden::start();
    let resp = plain
        .client()
        .get(format!("{}/login", plain.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn plain_http_beyond_loopback_warns_at_start_and_in_the_ui() {
    let exposed = Launch::new().listen("0.0.0.0:0").start();
    assert!(
        exposed.stderr().contains("over plain HTTP"),
        "{}",
        exposed.stderr()
    );
    let session = exposed.cookie_client().await;
    let info: Value = rpc(&exposed, &session, None, "admin/server")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        info["warning"]
            .as_str()
            .is_some_and(|w| w.contains("plain HTTP")),
        "{info}"
    );

    let local = Warden::start();
    assert!(!local.stderr().contains("over plain HTTP"));
    let session = local.cookie_client().await;
    let info: Value = rpc(&local, &session, None, "admin/server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["warning"], Value::Null, "{info}");
}

/// The address of the newest failed login in the audit log.
async fn failed_login_address(api: &Api, user: &str) -> String {
    let entries = api.get_json("/audit?limit=1000").await;
    entries
        .as_array()
        .unwrap()
        .iter()
        // Failed logins are aggregated per source and minute: the user may be one of the names tried.
        .find(|e| {
            e["action"] == "auth.login"
                && e["outcome"] == "failed"
                && (e["actor"] == user || e["detail"].as_str().is_some_and(|d| d.contains(user)))
        })
        .and_then(|e| e["address"].as_str())
        .unwrap_or_else(|| panic!("no failed login of {user}: {entries}"))
        .to_string()
}

async fn failed_login(w: &Warden, user: &str, forwarded_for: &str) {
    let resp = w
        .client()
        .post(w.api("/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": user, "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
    let w = Warden::start();
    let api = Api::login(&w).await;

    // Without trusted proxies the header is ignored: the peer is the client.
    failed_login(&w, "mallory", "203.0.113.9").await;
    assert_eq!(failed_login_address(&api, "mallory").await, "127.0.0.1");

    // A trusted proxy that is not the peer changes nothing either.
    let resp = api
        .patch("/settings", &json!({"trusted_proxies": ["10.0.0.0/8"]}))
        .await;
    assert_eq!(resp.status(), 200);
    failed_login(&w, "trudy", "203.0.113.9").await;
    assert_eq!(failed_login_address(&api, "trudy").await, "127.0.0.1");

    // The peer is trusted: the rightmost untrusted hop is the client; what the client itself put on
    // the left does not count.
    let resp = api
        .patch(
            "/settings",
            &json!({"trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    failed_login(&w, "eve", "198.51.100.66, 203.0.113.9, 10.1.2.3").await;
    assert_eq!(failed_login_address(&api, "eve").await, "203.0.113.9");

    let resp = api
        .patch("/settings", &json!({"trusted_proxies": ["not a network"]}))
        .await;
    assert_eq!(resp.status(), 422);
}
