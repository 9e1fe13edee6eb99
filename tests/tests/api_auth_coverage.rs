//! Authentication coverage: every operation of the live OpenAPI document and every registered server
//! function answers 401 with the error shape when called without credentials (or with a bad one),
//! except the operations the document marks public (`security: [{}]`). The lists come from the binary
//! itself (`/api/v1/openapi.json`, generated from the router; `warden server-fns`, read from the
//! server-fn registry), so a new route cannot ship unprotected without failing here. Also CSRF: a
//! mutation with a session cookie from a foreign `Origin` is refused (403); with a bearer token it is not.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use warden_tests::Warden;

/// Every `(METHOD, path template, public)` of the document.
fn operations(doc: &Value) -> Vec<(String, String, bool)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if ![
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                continue;
            }
            let public = op["security"].as_array().is_some_and(|reqs| {
                reqs.iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            ops.push((method.to_uppercase(), path.clone(), public));
        }
    }
    ops
}

/// The path with every `{param}` replaced by a dummy value.
fn fill(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{port}" => "8300".to_string(),
            "{address}" => "192.0.2.77".to_string(),
            s if s.starts_with('{') => "dummy-id".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn assert_unauthorized(resp: reqwest::Response, what: &str) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(status, 401, "{what} without credentials: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
    assert_eq!(body["error"]["code"], "unauthorized", "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
    assert!(body["error"].get("field").is_some(), "{what}: {body}");
}

#[tokio::test]
async fn every_route_and_server_function_requires_credentials() {
    let w = Warden::start();
    let c = w.client();
    let doc: Value = c
        .get(w.api("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .expect("the document is public JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let ops = operations(&doc);
    assert!(ops.len() >= 40, "only {} operations documented", ops.len());

    // The public operations are exactly the documented ones.
    let public: BTreeSet<(String, String)> = ops
        .iter()
        .filter(|(_, _, p)| *p)
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("POST", "/api/v1/auth/login"),
        ("GET", "/api/v1/openapi.json"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(public, expected);

    for (method, template, is_public) in &ops {
        if *is_public {
            continue;
        }
        let path = fill(template);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let what = format!("{method} {path}");
        // No credentials at all (a JSON body, so a body-reading handler would not fail first).
        let resp = c
            .request(method.clone(), format!("{}{path}", w.url))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_unauthorized(resp, &what).await;
        // A made-up bearer token and a made-up cookie.
        let resp = c
            .request(method.clone(), format!("{}{path}", w.url))
            .bearer_auth("made-up-token")
            .send()
            .await
            .unwrap();
        assert_unauthorized(resp, &format!("{what} (bad bearer)")).await;
        let resp = c
            .request(method.clone(), format!("{}{path}", w.url))
            .header("cookie", "warden_session=made-up")
            .send()
            .await
            .unwrap();
        assert_unauthorized(resp, &format!("{what} (bad cookie)")).await;
    }

    let fns = warden_tests::server_fn_endpoints(&[]);
    assert!(
        fns.iter().any(|(_, p)| p == "/rpc/admin/tokens/create")
            && fns.iter().any(|(_, p)| p == "/rpc/services/create"),
        "{fns:?}"
    );
    for (method, path) in &fns {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = c
            .request(method.clone(), format!("{}{path}", w.url))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_unauthorized(resp, &format!("server fn {method} {path}")).await;
    }

    // With a valid token the same document's routes exist (no "no such API route" 404): a cheap
    // check in the other direction, on the read-only operations.
    let token = w.login_token().await;
    for (method, template, _) in ops.iter().filter(|(m, _, _)| m == "GET") {
        if template.ends_with("/stream") || template.ends_with("/events") {
            continue; // endless streams
        }
        let path = fill(template);
        let resp = c
            .get(format!("{}{path}", w.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            !text.contains("There is no such API route"),
            "{method} {path} is documented but not routed: {status} {text}"
        );
    }
}

#[tokio::test]
async fn csrf_foreign_origin_with_cookie_is_refused_bearer_is_not() {
    let w = Warden::start();
    let cookie = w.cookie_client().await;
    let token = w.login_token().await;

    // REST mutation and server-fn mutation, cookie + foreign Origin → 403 with the error shape, and
    // nothing is created.
    let resp = cookie
        .post(w.api("/tokens"))
        .header("origin", "http://evil.example")
        .json(&json!({"name": "csrf"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    let resp = cookie
        .post(format!("{}/rpc/admin/tokens/create", w.url))
        .header("origin", "http://evil.example")
        .json(&json!({"name": "csrf-rpc"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let listed: Value = cookie
        .get(w.api("/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]), "a refused request created nothing");

    // Same origin with the cookie → allowed.
    let resp = cookie
        .post(w.api("/tokens"))
        .header("origin", &w.url)
        .json(&json!({"name": "same-origin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    // A bearer token without any cookie, even from a foreign origin → allowed.
    let resp = w
        .client()
        .post(w.api("/tokens"))
        .bearer_auth(&token)
        .header("origin", "http://evil.example")
        .json(&json!({"name": "bearer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}
