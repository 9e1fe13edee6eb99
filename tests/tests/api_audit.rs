//! The audit log over the real binary: every audited action — through the REST API and through the UI's
//! server functions — shows up in `GET /api/v1/audit` with its actor (user, `user/token`, or Warden
//! itself), the client address, the target and the outcome, newest first; failed logins too. The
//! kernel-side firewall actions (apply/confirm/rollback/deactivate, bans, the automatic ban of the login
//! throttle, the automatic rollback) run in throwaway network namespaces (root only, `gate`d).

#[path = "firewall_e2e_support/mod.rs"]
mod support;

use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{gate, Api, Warden};

/// The newest entry with this action, actor and outcome whose target contains `target`; panics
/// listing the log if there is none.
fn expect<'a>(
    entries: &'a [Value],
    action: &str,
    target: &str,
    actor: &str,
    outcome: &str,
) -> &'a Value {
    let e = entries
        .iter()
        .find(|e| {
            e["action"] == action
                && e["actor"] == actor
                && e["outcome"] == outcome
                && e["target"].as_str().is_some_and(|t| t.contains(target))
        })
        .unwrap_or_else(|| {
            panic!(
                "no {action} entry for {target:?} by {actor} ({outcome}) in:\n{}",
                serde_json::to_string_pretty(entries).unwrap_or_default()
            )
        });
    assert!(e["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    e
}

async fn audit(api: &Api) -> Vec<Value> {
    api.get_json("/audit?limit=1000")
        .await
        .as_array()
        .cloned()
        .expect("an array")
}

#[tokio::test]
async fn rest_and_server_function_actions_are_audited_with_their_actor() {
    let w = Warden::start_managed();
    let c = w.client();

    // A failed login, then the admin session.
    let resp = c
        .post(w.api("/auth/login"))
        .json(&json!({"username": "mallory", "password": "guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let admin = Api::login(&w).await;

    // Services over REST.
    let svc = admin
        .create_service(&json!({"name": "audited", "command": "sleep 1000", "ports": [8301]}))
        .await;
    let id = svc["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin
            .patch(
                &format!("/services/{id}"),
                &json!({"command": "sleep 1001"})
            )
            .await
            .status(),
        200
    );
    for action in ["stop", "start", "restart"] {
        assert_eq!(
            admin
                .post_empty(&format!("/services/{id}/{action}"))
                .await
                .status(),
            200,
            "{action}"
        );
    }
    // A refused change is audited as failed.
    assert_eq!(
        admin
            .patch(&format!("/services/{id}"), &json!({"name": "Bad Name"}))
            .await
            .status(),
        422
    );
    assert_eq!(admin.delete(&format!("/services/{id}")).await.status(), 204);

    // Firewall rule edits and presets (saved state only: nothing reaches the kernel).
    let rule: Value = admin
        .post(
            "/firewall/rules",
            &json!({"ports": ["8302"], "annotation": "audit test"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let rule_id = rule["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin
            .patch(
                &format!("/firewall/rules/{rule_id}"),
                &json!({"action": "drop"})
            )
            .await
            .status(),
        200
    );
    assert_eq!(
        admin
            .post(
                &format!("/firewall/rules/{rule_id}/move"),
                &json!({"position": 0})
            )
            .await
            .status(),
        200
    );
    assert_eq!(
        admin.post_empty("/firewall/presets/http").await.status(),
        201
    );
    assert_eq!(admin.delete("/firewall/presets/http").await.status(), 204);
    assert_eq!(
        admin
            .delete(&format!("/firewall/rules/{rule_id}"))
            .await
            .status(),
        204
    );

    // Settings, tokens (and an action by the token), password.
    assert_eq!(
        admin
            .patch("/settings", &json!({"hostname": "audited-host"}))
            .await
            .status(),
        200
    );
    let token: Value = admin
        .post("/tokens", &json!({"name": "ci"}))
        .await
        .json()
        .await
        .unwrap();
    let ci = Api::with_token(&w, token["token"].as_str().unwrap());
    assert_eq!(
        ci.patch("/settings", &json!({"ban": {"ban_secs": 700}}))
            .await
            .status(),
        200
    );
    assert_eq!(
        admin
            .delete(&format!("/tokens/{}", token["id"].as_str().unwrap()))
            .await
            .status(),
        204
    );
    assert_eq!(
        admin
            .post(
                "/auth/password",
                &json!({"current_password": "wrong-one", "new_password": "whatever-new-pass"})
            )
            .await
            .status(),
        422
    );

    // The UI's server functions go through the same domain calls.
    let browser = w.cookie_client().await;
    let resp = browser
        .post(format!("{}/rpc/services/create", w.url))
        .header("origin", &w.url)
        .json(&json!({"input": {"name": "from-ui", "command": "sleep 1000", "enabled": false}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let resp = browser
        .post(format!("{}/rpc/admin/tokens/create", w.url))
        .header("origin", &w.url)
        .json(&json!({"name": "ui-token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Logout last.
    let session = Api::login(&w).await;
    assert_eq!(session.post_empty("/auth/logout").await.status(), 204);

    let entries = audit(&admin).await;
    let ids: Vec<u64> = entries.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|p| p[0] > p[1]), "newest first: {ids:?}");

    let failed = expect(&entries, "auth.login", "", "mallory", "failed");
    assert_eq!(failed["actor_kind"], "anonymous");
    assert_eq!(failed["address"], "127.0.0.1");
    let login = entries
        .iter()
        .find(|e| e["action"] == "auth.login" && e["outcome"] == "ok")
        .expect("a successful login");
    assert_eq!(login["actor"], "admin");
    assert_eq!(login["actor_kind"], "user");

    let svc_target = format!("audited ({id})");
    let created = expect(&entries, "service.create", "audited", "admin", "ok");
    assert_eq!(created["address"], "127.0.0.1");
    for action in [
        "service.update",
        "service.stop",
        "service.start",
        "service.restart",
        "service.delete",
    ] {
        expect(&entries, action, &svc_target, "admin", "ok");
    }
    let refused = entries
        .iter()
        .find(|e| e["action"] == "service.update" && e["outcome"] == "failed")
        .expect("the refused update");
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("name")),
        "{refused}"
    );

    for action in [
        "firewall.rule.create",
        "firewall.rule.update",
        "firewall.rule.move",
        "firewall.rule.delete",
    ] {
        expect(&entries, action, &rule_id, "admin", "ok");
    }
    expect(&entries, "firewall.preset.open", "http", "admin", "ok");
    expect(&entries, "firewall.preset.close", "http", "admin", "ok");
    expect(&entries, "settings.update", "hostname", "admin", "ok");
    let by_token = expect(&entries, "settings.update", "ban", "admin/ci", "ok");
    assert_eq!(by_token["actor_kind"], "token");
    expect(&entries, "token.create", "ci", "admin", "ok");
    expect(&entries, "token.revoke", "ci", "admin", "ok");
    expect(&entries, "auth.password", "admin", "admin", "failed");
    expect(&entries, "service.create", "from-ui", "admin", "ok");
    expect(&entries, "token.create", "ui-token", "admin", "ok");
    expect(&entries, "auth.logout", "", "admin", "ok");

    // limit: newest N; out of range → 400 with the field.
    let two = admin.get_json("/audit?limit=2").await;
    assert_eq!(two.as_array().map(Vec::len), Some(2));
    assert_eq!(two[0]["id"], entries[0]["id"]);
    let default = admin.get_json("/audit").await;
    assert!(default.as_array().is_some_and(|a| a.len() <= 100));
    for bad in ["0", "1001", "-1", "x"] {
        let resp = admin.get(&format!("/audit?limit={bad}")).await;
        let (status, _, field) = warden_tests::api_error(resp).await;
        assert_eq!(
            (status, field.as_deref()),
            (400, Some("limit")),
            "limit={bad}"
        );
    }
}

#[tokio::test]
async fn audit_entries_survive_kill_9() {
    let mut w = Warden::start();
    let admin = Api::login(&w).await;
    assert_eq!(
        admin
            .patch("/settings", &json!({"hostname": "durable"}))
            .await
            .status(),
        200
    );
    w.kill9();
    w.restart();
    let admin = Api::login(&w).await;
    expect(
        &audit(&admin).await,
        "settings.update",
        "hostname",
        "admin",
        "ok",
    );
}

#[test]
fn kernel_firewall_actions_and_automatic_ones_are_audited() {
    if !gate(
        "network namespaces and nft",
        warden_testkit::netns::requirements(),
    ) {
        return;
    }
    let lab = support::Lab::new();
    let _warden = lab.start_warden();
    let admin = support::NsClient::new(&lab.admin, lab.admin_side()).login();

    // Apply with a window, confirm; apply again and roll back; apply with a short window and let the
    // timer roll it back; ban and unban by hand; deactivate.
    assert_eq!(
        admin
            .post("/firewall/apply", json!({"confirm_within_secs": 60}))
            .status,
        202
    );
    assert_eq!(admin.post("/firewall/confirm", json!({})).status, 200);
    assert_eq!(
        admin
            .post("/firewall/apply", json!({"confirm_within_secs": 60}))
            .status,
        202
    );
    assert_eq!(admin.post("/firewall/rollback", json!({})).status, 200);
    assert_eq!(
        admin
            .post("/firewall/apply", json!({"confirm_within_secs": 1}))
            .status,
        202
    );
    warden_tests::wait_for("the automatic rollback", Duration::from_secs(20), || {
        admin.get("/firewall").json()["pending"]
            .is_null()
            .then_some(())
    });
    assert_eq!(
        admin
            .post("/firewall/bans", json!({"address": "203.0.113.9"}))
            .status,
        201
    );
    assert_eq!(admin.delete("/firewall/bans/203.0.113.9").status, 204);

    // The login throttle bans the other client after 3 failures (settings lowered for the test).
    assert_eq!(
        admin
            .patch("/settings", json!({"ban": {"max_failures": 3}}))
            .status,
        200
    );
    let other = support::NsClient::new(&lab.other, lab.other_side());
    let bad = json!({"username": "admin", "password": "nope"});
    for _ in 0..3 {
        assert_eq!(other.post("/auth/login", bad.clone()).status, 401);
    }
    assert_eq!(other.post("/auth/login", bad).status, 429);
    assert_eq!(admin.post("/firewall/deactivate", json!({})).status, 200);

    let entries: Vec<Value> = admin
        .get("/audit?limit=1000")
        .json()
        .as_array()
        .cloned()
        .unwrap();
    let admin_addr = support::ADMIN_ADDR;
    for action in [
        "firewall.apply",
        "firewall.confirm",
        "firewall.rollback",
        "firewall.deactivate",
    ] {
        let e = expect(&entries, action, "", "admin", "ok");
        assert_eq!(e["address"], admin_addr, "{e}");
    }
    let timer = entries
        .iter()
        .find(|e| e["action"] == "firewall.rollback" && e["actor_kind"] == "system")
        .expect("the timer's rollback");
    assert_eq!(timer["actor"], "commit-confirm timer");
    expect(&entries, "firewall.ban", "203.0.113.9", "admin", "ok");
    expect(&entries, "firewall.unban", "203.0.113.9", "admin", "ok");
    let auto_ban = expect(
        &entries,
        "firewall.ban",
        support::OTHER_ADDR,
        "login throttle",
        "ok",
    );
    assert_eq!(auto_ban["actor_kind"], "system");
    let failed_login = expect(&entries, "auth.login", "", "admin", "failed");
    assert_eq!(failed_login["address"], support::OTHER_ADDR);
}
