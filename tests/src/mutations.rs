//! The read-only check shared by the scope and accounts tests: every documented REST mutation (from the
//! live OpenAPI document: every non-public POST/PUT/PATCH/DELETE) and every server function not listed
//! as a read (from `warden server-fns`) must answer 403 `forbidden` to a read-only credential, and the
//! listed reads must not.

use serde_json::json;

use crate::api::{api_error, Api};
use crate::launcher::{server_fn_endpoints, Warden};

/// The path with every `{param}` replaced by a dummy value.
pub fn fill(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{address}" => "192.0.2.77".to_string(),
            "{name}" => "ssh".to_string(),
            "{username}" => "admin".to_string(),
            s if s.starts_with('{') => "dummy-id".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every documented, authenticated mutation as `(method, path under /api/v1)`, each checked to
/// document its 403.
pub fn documented_mutations(doc: &serde_json::Value) -> Vec<(reqwest::Method, String)> {
    let mut mutations = Vec::new();
    let paths = doc["paths"]
        .as_object()
        .expect("paths in the OpenAPI document");
    for (template, item) in paths {
        for (method, op) in item.as_object().expect("a path item") {
            if !["post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let public = op["security"].as_array().is_some_and(|reqs| {
                reqs.iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            if public {
                continue;
            }
            let path = fill(template).replacen("/api/v1", "", 1);
            if READ_ONLY_POST_ROUTES
                .iter()
                .any(|(m, p)| method.eq_ignore_ascii_case(m) && path == *p)
            {
                continue;
            }
            assert!(
                op["responses"]["403"].is_object(),
                "{method} {template} documents its 403"
            );
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            mutations.push((m, path));
        }
    }
    mutations
}

/// The REST routes that take a POST body but change nothing, which a read-only credential may call (the
/// server's `middleware::READ_ONLY_POST_ROUTES`): the desired-state plan and the jail pattern test.
pub const READ_ONLY_POST_ROUTES: &[(&str, &str)] =
    &[("POST", "/state/plan"), ("POST", "/firewall/jails/test")];

/// The REST routes acting on the caller's own account, which a `read` user's login session may use (the
/// server's `middleware::OWN_ACCOUNT_ROUTES`, as the API contract names them).
pub const OWN_ACCOUNT_ROUTES: &[(&str, &str)] = &[
    ("POST", "/auth/password"),
    ("POST", "/auth/totp/enroll"),
    ("POST", "/auth/totp/confirm"),
    ("DELETE", "/auth/totp"),
    ("POST", "/auth/logout"),
];

/// Which mutations a read-only credential is checked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A read-only API token: every mutation is refused.
    Token,
    /// A `read` user's login session: every mutation but its own account's ([`OWN_ACCOUNT_ROUTES`],
    /// `warden server-fns --own-account`), which are left out here and tested on their own.
    Session,
}

/// Asserts that `reader` (a read-only credential of `w`) gets 403 `forbidden` on every documented
/// mutation and every mutating server function, and no 403 on the server functions listed as reads.
/// Returns how many mutations were tried (REST, server functions).
pub async fn assert_every_mutation_forbidden(
    w: &Warden,
    reader: &Api,
    kind: Reader,
) -> (usize, usize) {
    let doc = reader.get_json("/openapi.json").await;
    let own_account: Vec<String> = match kind {
        Reader::Token => Vec::new(),
        Reader::Session => server_fn_endpoints(&["--own-account"])
            .into_iter()
            .map(|(_, p)| p)
            .collect(),
    };
    let rest: Vec<_> = documented_mutations(&doc)
        .into_iter()
        .filter(|(m, p)| {
            kind == Reader::Token
                || !OWN_ACCOUNT_ROUTES
                    .iter()
                    .any(|(om, op)| m.as_str() == *om && p == op)
        })
        .collect();
    for (method, path) in &rest {
        let resp = reader
            .request(method.clone(), path)
            .json(&json!({}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let (status, code, _) = api_error(resp).await;
        assert_eq!(
            (status, code.as_str()),
            (403, "forbidden"),
            "{method} {path}"
        );
    }
    let fns = server_fn_endpoints(&[]);
    let reads: Vec<String> = server_fn_endpoints(&["--read-only"])
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let mut mutating = 0;
    for (method, path) in &fns {
        if own_account.contains(path) {
            continue;
        }
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = reader
            .client
            .request(m, format!("{}{path}", w.url))
            .bearer_auth(&reader.token)
            .json(&json!({}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        if reads.contains(path) {
            assert_ne!(resp.status(), 403, "server fn {path} only reads");
        } else {
            let (status, code, _) = api_error(resp).await;
            assert_eq!(
                (status, code.as_str()),
                (403, "forbidden"),
                "server fn {method} {path}"
            );
            mutating += 1;
        }
    }
    (rest.len(), mutating)
}
