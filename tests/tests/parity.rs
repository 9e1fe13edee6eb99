//! The REST API and the UI's server functions are twin adapters over one domain layer: the same mutation
//! made through either leaves the same state, the same audit entries and the same events. Two fresh
//! Wardens run the same scenario, one through `/api/v1` and one through `/rpc`, both as the admin's
//! browser session (session cookie, same origin), and are compared after every step. Ids, process ids,
//! timestamps and the listening port differ between the two by nature and are masked; everything else
//! must be equal.
//! (Unbanning needs a kernel firewall and is compared in a network namespace: `firewall_e2e`.)

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use warden_tests::{sse_wait, Warden};

/// Which adapter a side speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Rest,
    Rpc,
}

/// One Warden driven through one adapter, with its event stream open from the start.
struct Side {
    way: Way,
    warden: Warden,
    client: reqwest::Client,
    events: reqwest::Response,
    /// Server-assigned ids seen so far, masked when comparing.
    ids: Vec<String>,
}

/// What a step answered: the HTTP status and the body as JSON (or a JSON string of the text).
struct Answer {
    status: u16,
    body: Value,
}

impl Side {
    async fn start(way: Way) -> Side {
        let warden = Warden::start();
        let client = warden.cookie_client().await;
        let events = client
            .get(warden.api("/events"))
            .send()
            .await
            .expect("event stream");
        assert_eq!(events.status(), 200);
        Side {
            way,
            warden,
            client,
            events,
            ids: Vec::new(),
        }
    }

    async fn send(&self, method: Method, url: String, body: Option<Value>) -> Answer {
        let mut request = self
            .client
            .request(method, url)
            .header("origin", &self.warden.url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let resp = request.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body }
    }

    async fn rest(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send(method, self.warden.api(path), body).await
    }

    async fn rpc(&self, name: &str, args: Value) -> Answer {
        self.send(
            Method::POST,
            format!("{}/rpc/{name}", self.warden.url),
            Some(args),
        )
        .await
    }

    fn remember(&mut self, id: &Value) {
        if let Some(id) = id.as_str() {
            self.ids.push(id.to_string());
        }
    }

    /// Everything a user can read back, through REST on both sides (the read path is not under test).
    async fn state(&self) -> Value {
        let mut state = serde_json::Map::new();
        for path in [
            "/services",
            "/settings",
            "/firewall/rules",
            "/firewall/presets",
            "/tokens",
        ] {
            let answer = self.rest(Method::GET, path, None).await;
            assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
            state.insert(path.to_string(), answer.body);
        }
        self.masked(Value::Object(state))
    }

    /// The newest audit entries (who, what, on what, how it ended), oldest first.
    async fn audit(&self, newest: usize) -> Value {
        let answer = self
            .rest(Method::GET, &format!("/audit?limit={newest}"), None)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let mut entries: Vec<Value> = answer
            .body
            .as_array()
            .expect("audit entries")
            .iter()
            .map(|e| {
                json!({
                    "action": e["action"], "target": e["target"], "outcome": e["outcome"],
                    "detail": e["detail"], "actor_kind": e["actor_kind"], "actor": e["actor"],
                    "address": e["address"],
                })
            })
            .collect();
        entries.reverse();
        self.masked(Value::Array(entries))
    }

    /// `value` with this side's ids replaced by their order of appearance and volatile fields masked.
    fn masked(&self, value: Value) -> Value {
        const VOLATILE: [&str; 11] = [
            "pid",
            "revision",
            "admin_port",
            "started_at",
            "created_at",
            "last_used_at",
            "at",
            "expires_at",
            "rollback_at",
            "banned_at",
            "seconds_left",
        ];
        match value {
            Value::String(mut text) => {
                for (n, id) in self.ids.iter().enumerate() {
                    text = text.replace(id.as_str(), &format!("<id {n}>"));
                }
                Value::String(text)
            }
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.masked(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = if VOLATILE.contains(&k.as_str()) && !v.is_null() {
                            Value::String("<volatile>".into())
                        } else {
                            self.masked(v)
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    /// Every event up to the end marker (a settings change of the hostname to `marker`, made through
    /// REST on both sides), grouped by type: the order within one type is the order of the changes; the
    /// order between types depends on task scheduling and is not part of the contract.
    async fn events_until(&mut self, marker: &str) -> BTreeMap<String, Vec<Value>> {
        let answer = self
            .rest(
                Method::PATCH,
                "/settings",
                Some(json!({ "hostname": marker })),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let mut seen = Vec::new();
        let found = sse_wait(&mut self.events, Duration::from_secs(20), |data| {
            seen.push(data.to_string());
            data.contains(marker)
        })
        .await;
        assert!(
            found.is_some(),
            "{:?}: no end marker among {seen:?}",
            self.way
        );
        let mut by_type: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for data in seen {
            let event: Value = serde_json::from_str(&data).expect("event JSON");
            let kind = event["type"].as_str().unwrap_or("?").to_string();
            by_type.entry(kind).or_default().push(self.masked(event));
        }
        by_type
    }
}

/// Asserts both sides answered alike: both succeeded, or both failed (a server function's failure is an
/// HTTP 500 carrying the `AppError`; what it says is compared by the steps).
fn same_answer(step: &str, a: &Answer, b: &Answer) {
    let ok = |s: u16| (200..300).contains(&s);
    assert_eq!(
        ok(a.status),
        ok(b.status),
        "{step}: REST {} {} vs server fn {} {}",
        a.status,
        a.body,
        b.status,
        b.body
    );
}

/// The same mutation through both adapters (REST on one Warden, the server function on the other); both
/// must succeed or both fail.
async fn both(
    rest: &Side,
    rpc: &Side,
    step: &str,
    (method, path, body): (Method, &str, Option<Value>),
    (name, args): (&str, Value),
) -> (Answer, Answer) {
    let a = rest.rest(method, path, body).await;
    let b = rpc.rpc(name, args).await;
    same_answer(step, &a, &b);
    (a, b)
}

/// Compares the two sides' state and their audit entries of the last step.
async fn compare(step: &str, rest: &Side, rpc: &Side, audit_entries: usize) {
    assert_eq!(
        rest.state().await,
        rpc.state().await,
        "{step}: the state differs between REST and the server functions"
    );
    assert_eq!(
        rest.audit(audit_entries).await,
        rpc.audit(audit_entries).await,
        "{step}: the audit entries differ between REST and the server functions"
    );
}

#[tokio::test]
async fn every_mutation_through_rest_and_through_server_fns_leaves_the_same_state_audit_and_events()
{
    let (mut rest, mut rpc) = tokio::join!(Side::start(Way::Rest), Side::start(Way::Rpc));
    assert_eq!(rest.way, Way::Rest);
    assert_eq!(rpc.way, Way::Rpc);

    // ---- services ----
    let input = json!({
        "name": "web", "command": "sleep 1000", "ports": [8301], "enabled": false,
        "environment": {"MODE": "a"},
    });
    let (a, b) = both(
        &rest,
        &rpc,
        "create a service",
        (Method::POST, "/services", Some(input.clone())),
        ("services/create", json!({ "input": input })),
    )
    .await;
    rest.remember(&a.body["id"]);
    rpc.remember(&b.body["id"]);
    compare("create a service", &rest, &rpc, 3).await;
    let (rest_id, rpc_id) = (rest.ids[0].clone(), rpc.ids[0].clone());

    // A refused create: the same field error and the same failed audit entry.
    let taken = json!({"name": "web", "command": "true", "ports": [8301]});
    let (a, b) = both(
        &rest,
        &rpc,
        "create a taken name",
        (Method::POST, "/services", Some(taken.clone())),
        ("services/create", json!({ "input": taken })),
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(
        a.body["error"]["details"], b.body["Conflict"],
        "the same field errors"
    );
    compare("create a taken name", &rest, &rpc, 3).await;

    let patch = json!({"environment": {"MODE": "b"}, "command": "sleep 2000"});
    both(
        &rest,
        &rpc,
        "update a service",
        (
            Method::PATCH,
            &format!("/services/{rest_id}"),
            Some(patch.clone()),
        ),
        ("services/update", json!({"id": rpc_id, "patch": patch})),
    )
    .await;
    compare("update a service", &rest, &rpc, 3).await;

    // ---- settings ----
    let mut settings = rest.rest(Method::GET, "/settings", None).await.body;
    settings["environment"]["LANG"] = json!("C.UTF-8");
    settings["crash_loop"]["max_failures"] = json!(7);
    settings["ban"]["ban_secs"] = json!(900);
    both(
        &rest,
        &rpc,
        "update the settings",
        (Method::PATCH, "/settings", Some(settings.clone())),
        ("admin/settings/update", json!({ "settings": settings })),
    )
    .await;
    compare("update the settings", &rest, &rpc, 3).await;

    let mut bad = settings.clone();
    bad["service_ports"] = json!("9000:8000");
    let (a, b) = both(
        &rest,
        &rpc,
        "refused settings",
        (Method::PATCH, "/settings", Some(bad.clone())),
        ("admin/settings/update", json!({ "settings": bad })),
    )
    .await;
    assert_eq!(a.body["error"]["details"], b.body["Invalid"]);
    compare("refused settings", &rest, &rpc, 3).await;

    // ---- API tokens and the password ----
    let (a, b) = both(
        &rest,
        &rpc,
        "create a token",
        (Method::POST, "/tokens", Some(json!({"name": "ci"}))),
        ("admin/tokens/create", json!({"name": "ci"})),
    )
    .await;
    rest.remember(&a.body["id"]);
    rpc.remember(&b.body["id"]);
    compare("create a token", &rest, &rpc, 3).await;
    let (rest_token, rpc_token) = (rest.ids[1].clone(), rpc.ids[1].clone());
    both(
        &rest,
        &rpc,
        "revoke a token",
        (Method::DELETE, &format!("/tokens/{rest_token}"), None),
        ("admin/tokens/revoke", json!({ "id": rpc_token })),
    )
    .await;
    compare("revoke a token", &rest, &rpc, 3).await;

    let wrong =
        json!({"current_password": "not the password", "new_password": "a-new-long-password-2"});
    let (a, b) = both(
        &rest,
        &rpc,
        "a wrong current password",
        (Method::POST, "/auth/password", Some(wrong.clone())),
        ("admin/password", json!({ "change": wrong })),
    )
    .await;
    assert_eq!(a.body["error"]["details"], b.body["Invalid"]);
    compare("a wrong current password", &rest, &rpc, 3).await;

    // ---- firewall rules and presets (saved rules only; nothing reaches the kernel) ----
    let rule =
        json!({"action": "accept", "protocol": "tcp", "ports": ["8301"], "annotation": "web"});
    let (a, b) = both(
        &rest,
        &rpc,
        "add a rule",
        (Method::POST, "/firewall/rules", Some(rule.clone())),
        ("firewall/rules/add", json!({ "input": rule })),
    )
    .await;
    rest.remember(&a.body["id"]);
    rpc.remember(&b.body["id"]);
    let (a, b) = both(
        &rest,
        &rpc,
        "expose a service port",
        (
            Method::POST,
            &format!("/firewall/exposure/{rest_id}/8301"),
            None,
        ),
        (
            "firewall/expose",
            json!({"service_id": rpc_id, "port": 8301}),
        ),
    )
    .await;
    rest.remember(&a.body["id"]);
    rpc.remember(&b.body["id"]);
    compare("add rules", &rest, &rpc, 4).await;
    let (rest_rule, rpc_rule) = (rest.ids[2].clone(), rpc.ids[2].clone());

    let patch = json!({"annotation": "web, from the office", "hosts": ["198.51.100.0/24"]});
    both(
        &rest,
        &rpc,
        "update a rule",
        (
            Method::PATCH,
            &format!("/firewall/rules/{rest_rule}"),
            Some(patch.clone()),
        ),
        (
            "firewall/rules/update",
            json!({"id": rpc_rule, "patch": patch}),
        ),
    )
    .await;
    both(
        &rest,
        &rpc,
        "move a rule",
        (
            Method::POST,
            &format!("/firewall/rules/{rest_rule}/move"),
            Some(json!({"position": 0})),
        ),
        (
            "firewall/rules/move",
            json!({"id": rpc_rule, "position": 0}),
        ),
    )
    .await;
    compare("update and move a rule", &rest, &rpc, 4).await;

    let (a, b) = both(
        &rest,
        &rpc,
        "open a preset",
        (Method::POST, "/firewall/presets/redis", None),
        (
            "firewall/presets/set",
            json!({"name": "redis", "open": true}),
        ),
    )
    .await;
    for (side, body) in [(&mut rest, &a.body), (&mut rpc, &b.body)] {
        for rule in body.as_array().expect("added rules") {
            side.remember(&rule["id"]);
        }
    }
    // Opening it twice is refused alike (a state conflict: 409 over REST, the same sentence in the UI).
    let (a, b) = both(
        &rest,
        &rpc,
        "open a preset twice",
        (Method::POST, "/firewall/presets/redis", None),
        (
            "firewall/presets/set",
            json!({"name": "redis", "open": true}),
        ),
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(
        a.body["error"]["message"], b.body["Refused"],
        "the same sentence"
    );
    both(
        &rest,
        &rpc,
        "close a preset",
        (Method::DELETE, "/firewall/presets/redis", None),
        (
            "firewall/presets/set",
            json!({"name": "redis", "open": false}),
        ),
    )
    .await;
    both(
        &rest,
        &rpc,
        "delete a rule",
        (
            Method::DELETE,
            &format!("/firewall/rules/{rest_rule}"),
            None,
        ),
        ("firewall/rules/delete", json!({ "id": rpc_rule })),
    )
    .await;
    compare("presets and a deleted rule", &rest, &rpc, 5).await;

    // ---- service actions and deletion ----
    for (path, action) in [("start", "start"), ("stop", "stop")] {
        both(
            &rest,
            &rpc,
            action,
            (Method::POST, &format!("/services/{rest_id}/{path}"), None),
            ("services/action", json!({"id": rpc_id, "action": action})),
        )
        .await;
    }
    both(
        &rest,
        &rpc,
        "delete a service",
        (Method::DELETE, &format!("/services/{rest_id}"), None),
        ("services/delete", json!({ "id": rpc_id })),
    )
    .await;
    compare("service actions and deletion", &rest, &rpc, 3).await;

    // ---- the events of the whole scenario ----
    let (a, b) = tokio::join!(
        rest.events_until("end-of-parity"),
        rpc.events_until("end-of-parity")
    );
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same kinds of events"
    );
    for (kind, rest_events) in &a {
        if kind == "service" {
            // A started service's transitions (starting, running, stopping) are timed by the process,
            // not by the adapter: compare the changes of its definition and where it ended.
            let definitions = |events: &Vec<Value>| {
                let mut seen: Vec<Value> = Vec::new();
                for e in events {
                    let spec = json!({"name": e["service"]["name"], "command": e["service"]["command"],
                        "environment": e["service"]["environment"], "enabled": e["service"]["enabled"]});
                    if seen.last() != Some(&spec) {
                        seen.push(spec);
                    }
                }
                seen
            };
            assert_eq!(
                definitions(rest_events),
                definitions(&b[kind]),
                "service events"
            );
            assert_eq!(
                rest_events.last().map(|e| &e["service"]["status"]["state"]),
                b[kind].last().map(|e| &e["service"]["status"]["state"]),
                "the last service state"
            );
        } else {
            assert_eq!(rest_events, &b[kind], "{kind} events");
        }
    }
    assert!(
        a.contains_key("settings") && a.contains_key("firewall"),
        "{a:?}"
    );
}
