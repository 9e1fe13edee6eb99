//! Hostile input against the real binary with a bearer token: huge bodies (413, also chunked and to server
//! functions), deeply nested JSON, invalid UTF-8, NUL bytes, unicode, `;`/newlines/`}`/quotes in every
//! text field of services, firewall rules and settings, path traversal in ids, names and log requests
//! (plain and percent-encoded, sent byte for byte). Every refusal is a 4xx in the API's error shape, the
//! persisted state is the same afterwards, Warden is still healthy and its log shows no panic.
//!
//! Free-text fields that are shell commands (`command`, `monitoring_command`, environment values) or
//! labels (`annotation`, `hostname`) legitimately contain `;`, `}` and quotes: those are accepted and must
//! come back byte for byte; NUL and (for one-line labels) control characters are refused.

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use warden_tests::{Api, Warden};

/// Values that must never be accepted in a structured field (names, users, hosts, ports, keys, ...).
fn hostile_tokens() -> Vec<String> {
    let mut v: Vec<String> = [
        "a;b",
        "a\nb",
        "a}b",
        "a{b",
        "a\"b",
        "a'b",
        "a\0b",
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "名前",
        "caf\u{e9}",
        "\u{202e}evil",
        "a\r\nb",
        "$(id)",
        "`id`",
        "",
        " ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(100_000));
    v
}

/// The persisted state a client can see: services (without live status), rules (without counters),
/// settings, the firewall's saved revision and the bans.
async fn snapshot(api: &Api) -> Value {
    let mut services = api.get_json("/services").await;
    for s in services.as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("status");
        s.as_object_mut().unwrap().remove("warnings");
    }
    let mut rules = api.get_json("/firewall/rules").await;
    for r in rules.as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("packets");
        r.as_object_mut().unwrap().remove("bytes");
    }
    let firewall = api.get_json("/firewall").await;
    json!({
        "services": services,
        "rules": rules,
        "settings": api.get_json("/settings").await,
        "saved_revision": firewall["saved_revision"],
        "bans": api.get_json("/firewall/bans").await,
    })
}

/// Asserts a 4xx in the error shape; returns the code.
async fn assert_refused(what: &str, resp: reqwest::Response) -> String {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert_refused_text(what, status, &text)
}

fn assert_refused_text(what: &str, status: u16, full_text: &str) -> String {
    let short: String = what.chars().take(120).collect();
    let text: String = full_text.chars().take(600).collect();
    assert!(
        (400..500).contains(&status),
        "{short}: expected a 4xx, got {status}: {text}"
    );
    let body: Value = serde_json::from_str(full_text)
        .unwrap_or_else(|e| panic!("{short}: {status} body is not JSON ({e}): {text}"));
    let err = &body["error"];
    assert!(
        err["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{short}: {text}"
    );
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{short}: {text}"
    );
    assert!(
        err.get("field")
            .is_some_and(|f| f.is_null() || f.is_string()),
        "{short}: {text}"
    );
    err["code"].as_str().unwrap_or_default().to_string()
}

/// One raw HTTP/1.1 request, byte for byte (reqwest would normalise `..` and `%2e%2e` away).
fn raw_request(base: &str, method: &str, target: &str, token: &str) -> (u16, String) {
    raw_http(
        base,
        &format!(
            "{method} {target} HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n"
        ),
        b"",
    )
}

/// Sends `head` (request line and headers, each ending in CRLF; Host and Connection are added) and
/// `body`, then reads the whole answer. The body may be shorter than a declared Content-Length: the
/// server must answer from the headers alone.
fn raw_http(base: &str, head: &str, body: &[u8]) -> (u16, String) {
    let authority = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{head}Host: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{head}: no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A chunked body of `len` bytes (no Content-Length), so the limit must hold while streaming.
fn chunked_body(len: usize) -> reqwest::Body {
    let chunk = vec![b' '; 64 * 1024];
    let chunks = len / chunk.len();
    reqwest::Body::wrap_stream(futures::stream::iter(
        (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    ))
}

#[tokio::test]
async fn hostile_input_is_refused_in_the_error_shape_and_changes_nothing() {
    let w = Warden::start_managed();
    let api = Api::login(&w).await;

    // Something to attack: a stopped service and a rule.
    let service = api
        .create_service(&json!({
            "name": "victim",
            "command": "sleep 1000",
            "enabled": false,
            "ports": [8301],
        }))
        .await;
    let sid = service["id"].as_str().unwrap().to_string();
    let resp = api
        .post(
            "/firewall/rules",
            &json!({"protocol": "tcp", "action": "accept", "direction": "in",
                    "hosts": ["192.0.2.1"], "ports": ["22"], "ip_version": "4", "annotation": "ssh"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let rule: Value = resp.json().await.unwrap();
    let rid = rule["id"].as_str().unwrap().to_string();
    let before = snapshot(&api).await;

    // --- huge bodies: 413 payload_too_large, with Content-Length and chunked ---
    // A declared Content-Length over the limit is answered from the headers alone.
    let huge_len = 2 * 1024 * 1024;
    let prefix = vec![b' '; 64 * 1024];
    let cookie = w.cookie_client().await;
    let session = cookie
        .post(format!("{}/api/v1/auth/login", w.url))
        .json(&json!({"username": "admin", "password": warden_tests::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    for (method, path) in [
        (Method::POST, "/api/v1/services".to_string()),
        (Method::PATCH, format!("/api/v1/services/{sid}")),
        (Method::POST, "/api/v1/firewall/rules".to_string()),
        (Method::PATCH, format!("/api/v1/firewall/rules/{rid}")),
        (Method::PATCH, "/api/v1/settings".to_string()),
        (Method::POST, "/api/v1/auth/login".to_string()),
        // Server functions (the UI's endpoints) and the login form have the same limit.
        (Method::POST, "/rpc/services/create".to_string()),
        (Method::POST, "/login".to_string()),
    ] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nAuthorization: Bearer {}\r\nCookie: {session}\r\n\
             Content-Type: application/json\r\nContent-Length: {huge_len}\r\n",
            api.token
        );
        let (status, body) = raw_http(&w.url, &head, &prefix);
        assert_eq!(status, 413, "{method} {path}: {body}");
        assert_eq!(
            assert_refused_text(&format!("huge {method} {path}"), status, &body),
            "payload_too_large"
        );
        // Without a declared length (chunked) the limit holds while reading.
        let path = path.trim_start_matches("/api/v1");
        let resp = if path.starts_with("/rpc/") || path == "/login" {
            cookie.request(method.clone(), format!("{}{path}", w.url))
        } else {
            api.request(method.clone(), path)
        }
        .header("content-type", "application/json")
        .body(chunked_body(4 * 1024 * 1024))
        .send()
        .await;
        // The server answers 413 once it has read past the limit; the client may see the connection
        // closed while it is still sending instead.
        if let Ok(resp) = resp {
            assert_eq!(resp.status(), 413, "chunked {method} {path}");
        }
    }

    // --- malformed JSON: deep nesting, invalid UTF-8, wrong types, unknown fields ---
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let deep_in_field = format!(
        "{{\"name\":\"x\",\"command\":\"true\",\"environment\":{}}}",
        deep_object
    );
    let bodies: Vec<Vec<u8>> = vec![
        deep_array.into_bytes(),
        deep_object.into_bytes(),
        deep_in_field.into_bytes(),
        b"{\"name\": \"\xff\xfe\", \"command\": \"true\"}".to_vec(),
        b"{\"name\": \"a\\u0000b\", \"command\": \"true\"}".to_vec(),
        b"\0\0\0\0".to_vec(),
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"x\"".to_vec(),
        b"{\"name\": \"ok\", \"command\": \"true\", \"surprise\": 1}".to_vec(),
        b"{\"name\": \"ok\", \"command\": [\"true\"]}".to_vec(),
        b"{\"name\": \"ok\", \"command\": \"true\", \"ports\": [1e999]}".to_vec(),
        b"{\"name\": \"ok\", \"command\": \"true\", \"ports\": [8300.5]}".to_vec(),
        b"{\"name\": \"ok\", \"command\": \"true\", \"ports\": [-1]}".to_vec(),
        b"{\"name\": \"ok\", \"command\": \"true\", \"ports\": [70000]}".to_vec(),
        b"{\"name\": \"ok\", \"name\": \"dup\", \"command\": \"true\"}".to_vec(),
        b"{\"annotation\": \"a\", \"annotation\": \"b\"}".to_vec(),
        b"{\"hostname\": \"a\", \"hostname\": \"b\"}".to_vec(),
    ];
    for body in &bodies {
        for (method, path) in [
            (Method::POST, "/services".to_string()),
            (Method::PATCH, format!("/services/{sid}")),
            (Method::POST, "/firewall/rules".to_string()),
            (Method::PATCH, format!("/firewall/rules/{rid}")),
            (Method::PATCH, "/settings".to_string()),
        ] {
            let resp = api
                .request(method.clone(), &path)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let what = format!("{method} {path} {}", String::from_utf8_lossy(body));
            assert_refused(&what, resp).await;
        }
    }
    // Not JSON at all.
    let resp = api
        .request(Method::POST, "/services")
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_refused("text/plain body", resp).await;

    // --- structured fields of services: every hostile token is refused ---
    for bad in hostile_tokens() {
        let mut env_key = serde_json::Map::new();
        env_key.insert(bad.clone(), json!("v"));
        let cases = vec![
            json!({"name": bad, "command": "true"}),
            json!({"name": "fresh", "command": "true", "user": bad}),
            json!({"name": "fresh", "command": "true", "environment": env_key}),
            json!({"name": "fresh", "command": "true", "ports": [bad]}),
            json!({"name": "fresh", "command": "true", "working_directory": format!("{bad}/rel")}),
        ];
        for body in cases {
            assert_refused(
                &format!("create {body}"),
                api.post("/services", &body).await,
            )
            .await;
            let mut patch = body.clone();
            patch.as_object_mut().unwrap().remove("command");
            if patch.get("name") == Some(&json!("fresh")) {
                patch.as_object_mut().unwrap().remove("name");
            }
            assert_refused(
                &format!("patch {patch}"),
                api.patch(&format!("/services/{sid}"), &patch).await,
            )
            .await;
        }
    }
    // NUL in the free-text fields of a service.
    for body in [
        json!({"name": "fresh", "command": "echo a\u{0}b"}),
        json!({"name": "fresh", "command": "true", "monitoring_command": "true\u{0}"}),
        json!({"name": "fresh", "command": "true", "environment": {"K": "v\u{0}"}}),
        json!({"name": "fresh", "command": "true", "working_directory": "/tmp\u{0}/x"}),
        json!({"name": "fresh", "command": "   "}),
    ] {
        assert_refused(
            &format!("create {body}"),
            api.post("/services", &body).await,
        )
        .await;
    }

    // --- firewall rules: hosts, ports, enums and the annotation ---
    let rule_base = json!({"protocol": "tcp", "action": "accept", "direction": "in",
                           "hosts": [], "ports": ["22"], "ip_version": "4", "annotation": ""});
    for bad in hostile_tokens() {
        let mut cases = vec![
            ("hosts", json!([bad])),
            ("ports", json!([bad])),
            ("protocol", json!(bad)),
            ("direction", json!(bad)),
            ("ip_version", json!(bad)),
        ];
        // Appended to a valid value (blank tokens would leave it valid).
        if !bad.trim().is_empty() {
            cases.push(("hosts", json!(["192.0.2.1", format!("192.0.2.2{bad}")])));
            cases.push(("ports", json!([format!("22{bad}")])));
            cases.push(("action", json!(format!("accept{bad}"))));
        }
        for (field, value) in cases {
            let mut body = rule_base.clone();
            body[field] = value.clone();
            assert_refused(
                &format!("rule {field}={value}"),
                api.post("/firewall/rules", &body).await,
            )
            .await;
            assert_refused(
                &format!("patch rule {field}={value}"),
                api.patch(&format!("/firewall/rules/{rid}"), &json!({ field: value }))
                    .await,
            )
            .await;
        }
    }
    for annotation in [
        "a\nb".to_string(),
        "a\0b".to_string(),
        "a\rb".to_string(),
        "\u{1b}[31mred".to_string(),
        "x".repeat(257),
    ] {
        let mut body = rule_base.clone();
        body["annotation"] = json!(annotation);
        assert_refused("annotation", api.post("/firewall/rules", &body).await).await;
        assert_refused(
            "annotation patch",
            api.patch(
                &format!("/firewall/rules/{rid}"),
                &json!({ "annotation": annotation }),
            )
            .await,
        )
        .await;
    }
    assert_refused(
        "move to a hostile position",
        api.post(
            &format!("/firewall/rules/{rid}/move"),
            &json!({"position": "0;1"}),
        )
        .await,
    )
    .await;
    assert_refused(
        "hostile ban address",
        api.post(
            "/firewall/bans",
            &json!({"address": "192.0.2.9;flush ruleset"}),
        )
        .await,
    )
    .await;

    // --- settings ---
    for bad in hostile_tokens() {
        let mut env_key = serde_json::Map::new();
        env_key.insert(bad.clone(), json!("v"));
        let mut cases = vec![
            json!({"service_user": bad}),
            json!({"service_ports": bad}),
            json!({"environment": env_key}),
            json!({"crash_loop": {"max_failures": bad, "window_secs": 60}}),
            json!({"ban": {"max_failures": 5, "window_secs": bad, "ban_secs": 60}}),
        ];
        if !bad.trim().is_empty() {
            cases.push(json!({"service_ports": format!("8300:8499{bad}")}));
        }
        for body in cases {
            assert_refused(
                &format!("settings {body}"),
                api.patch("/settings", &body).await,
            )
            .await;
        }
    }
    for hostname in ["a\nb", "a\0b", "", "\u{7}"] {
        assert_refused(
            "hostname",
            api.patch("/settings", &json!({ "hostname": hostname }))
                .await,
        )
        .await;
    }
    assert_refused(
        "NUL in a global environment value",
        api.patch("/settings", &json!({"environment": {"K": "a\u{0}b"}}))
            .await,
    )
    .await;

    // --- path traversal, byte for byte ---
    let token = api.token.clone();
    for target in [
        "/api/v1/services/../../../../etc/passwd".to_string(),
        "/api/v1/services/..%2F..%2F..%2Fetc%2Fpasswd".to_string(),
        "/api/v1/services/%2e%2e%2f%2e%2e%2fetc%2fpasswd/logs".to_string(),
        "/api/v1/services/..%252F..%252Fetc%252Fpasswd/logs".to_string(),
        "/api/v1/services/%2e%2e/logs?lines=10".to_string(),
        "/api/v1/services/..%5c..%5cetc%5cpasswd/logs".to_string(),
        "/api/v1/services/%00/logs".to_string(),
        "/api/v1/services/victim%00.log/logs".to_string(),
        "/api/v1/services/victim/logs".to_string(),
        "/api/v1/services/..%2Flogs%2Fservices%2Fvictim/logs".to_string(),
        format!("/api/v1/services/{sid}/logs?lines=../../etc/passwd"),
        format!("/api/v1/services/{sid}/logs?lines=%2e%2e%2f"),
        format!("/api/v1/services/{sid}/logs?lines=-1"),
        format!("/api/v1/services/{sid}/logs?lines=99999999999999999999999"),
        format!("/api/v1/services/{sid}/logs?lines=10%00"),
        format!("/api/v1/services/{sid}/processes/../../../../etc/passwd"),
        "/api/v1/firewall/rules/..%2F..%2Fetc%2Fpasswd".to_string(),
        "/api/v1/firewall/presets/..%2F..%2Fetc%2Fpasswd".to_string(),
        "/api/v1/firewall/bans/..%2F..%2Fetc%2Fpasswd".to_string(),
        format!("/api/v1/services/{}", "a".repeat(5000)),
    ] {
        for method in ["GET", "POST", "DELETE"] {
            let (status, body) = raw_request(&w.url, method, &target, &token);
            assert!(
                !body.contains("root:x:0:0"),
                "{method} {target} leaked /etc/passwd"
            );
            if status == 405 {
                continue; // the route exists for other methods only
            }
            assert_refused_text(&format!("{method} {target}"), status, &body);
        }
    }
    // The static file server must not leave its directory either.
    for target in [
        "/pkg/../../../../etc/passwd",
        "/pkg/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/pkg/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/pkg/....//....//etc/passwd",
        "/..%2F..%2Fetc%2Fpasswd",
    ] {
        let (status, body) = raw_request(&w.url, "GET", target, &token);
        assert!(
            !body.contains("root:x:0:0"),
            "GET {target} leaked /etc/passwd"
        );
        assert!(status >= 300, "GET {target}: {status}");
    }

    // Nothing changed, nothing broke.
    assert_eq!(snapshot(&api).await, before, "persisted state changed");
    let resp = api.get(&format!("/services/{sid}/logs?lines=5")).await;
    assert_eq!(resp.status(), 200);

    // --- free text that is legitimately hostile-looking comes back byte for byte ---
    let command = "echo 'a;b' \"c}d\" $HOME `x` \\\n; printf '%s\\n' \u{1F600} 名前";
    let created = api
        .create_service(&json!({
            "name": "free-text",
            "command": command,
            "monitoring_command": "test \"$(echo ok; echo })\" != x",
            "environment": {"WEIRD": "v;}\n\"'`$(id)`"},
            "enabled": false,
        }))
        .await;
    let fid = created["id"].as_str().unwrap();
    let fetched = api.service(fid).await;
    assert_eq!(fetched["command"], command);
    assert_eq!(
        fetched["monitoring_command"],
        "test \"$(echo ok; echo })\" != x"
    );
    assert_eq!(fetched["environment"]["WEIRD"], "v;}\n\"'`$(id)`");
    let annotation = "web; } { \"quoted\" 'single' \\ 名前 🙂";
    let mut body = rule_base.clone();
    body["annotation"] = json!(annotation);
    let resp = api.post("/firewall/rules", &body).await;
    assert_eq!(resp.status(), 201);
    let created_rule: Value = resp.json().await.unwrap();
    let fetched = api
        .get_json(&format!(
            "/firewall/rules/{}",
            created_rule["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(fetched["annotation"], annotation);
    // The rendered ruleset still renders (the annotation is data, not nft syntax).
    let resp = api.get("/firewall/ruleset").await;
    assert_eq!(resp.status(), 200);
    let resp = api
        .patch("/settings", &json!({"hostname": "box; } \"q\" 名前"}))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        api.get_json("/settings").await["hostname"],
        "box; } \"q\" 名前"
    );

    assert_eq!(
        reqwest::get(format!("{}/healthz", w.url))
            .await
            .unwrap()
            .status(),
        200
    );
    let log = w.stderr();
    assert!(!log.contains("panicked"), "Warden panicked:\n{log}");
}
