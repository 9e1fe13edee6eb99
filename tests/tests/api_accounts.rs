//! Accounts over the real binary: users with a role, the last-admin rule, disabling that ends sessions
//! and tokens at once, the password policy, a `read` user (its session and its token) refused on every
//! mutation (REST routes from the OpenAPI document, every mutating server function), and audit entries
//! that name the user. The second factor is in `api_totp.rs`.

use serde_json::{json, Value};
use warden_tests::{api_error, Api, Warden};

const ALICE_PASSWORD: &str = "alice-long-password-1";

/// Logs `username` in through the API; the session token.
async fn login_as(w: &Warden, username: &str, password: &str) -> Api {
    let resp = w
        .client()
        .post(w.api("/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("login request");
    assert_eq!(resp.status(), 200, "login of {username}");
    let body: Value = resp.json().await.expect("login body");
    Api::with_token(w, body["token"].as_str().expect("token"))
}

#[tokio::test]
async fn a_read_user_and_its_token_read_everything_but_every_mutation_is_forbidden() {
    let w = Warden::start();
    let admin = Api::login(&w).await;
    // Alice starts as an admin and makes herself an (admin-scope) API token; then she is demoted.
    let resp = admin
        .post(
            "/users",
            &json!({"username": "alice", "password": ALICE_PASSWORD, "role": "admin"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let alice_admin = login_as(&w, "alice", ALICE_PASSWORD).await;
    let resp = alice_admin.post("/tokens", &json!({"name": "mine"})).await;
    assert_eq!(resp.status(), 201);
    let token: Value = resp.json().await.expect("token body");
    let alice_token = Api::with_token(&w, token["token"].as_str().expect("secret"));
    let resp = admin.patch("/users/alice", &json!({"role": "read"})).await;
    assert_eq!(resp.status(), 200);
    let demoted: Value = resp.json().await.expect("user body");
    assert_eq!(demoted["role"], "read");

    // A fresh read session, the session from before the demotion and the token: all read-only now.
    let alice = login_as(&w, "alice", ALICE_PASSWORD).await;
    for reader in [&alice, &alice_admin, &alice_token] {
        for path in [
            "/services",
            "/firewall",
            "/firewall/rules",
            "/settings",
            "/tokens",
            "/audit",
            "/users",
        ] {
            assert_eq!(reader.get(path).await.status(), 200, "GET {path}");
        }
    }
    use warden_tests::mutations::Reader;
    for (reader, kind) in [(&alice, Reader::Session), (&alice_token, Reader::Token)] {
        let (rest, fns) =
            warden_tests::mutations::assert_every_mutation_forbidden(&w, reader, kind).await;
        assert!(
            rest >= 25 && fns >= 10,
            "{rest} REST mutations, {fns} server fns"
        );
    }
    // Nothing changed: admin is still an enabled admin, no service, no second user's token.
    let users = admin.get_json("/users").await;
    assert_eq!(users[0]["username"], "admin");
    assert_eq!(users[0]["role"], "admin");
    assert_eq!(users[0]["enabled"], true);
    assert_eq!(admin.get_json("/services").await, json!([]));

    // Her own account is hers to look after, from her login session (not with a token): a second
    // factor, a new password. Another user's second factor is not.
    let resp = alice.post_empty("/auth/totp/enroll").await;
    assert_eq!(
        resp.status(),
        200,
        "a read user enrolls her own second factor"
    );
    let resp = alice_token.post_empty("/auth/totp/enroll").await;
    assert_eq!(resp.status(), 403, "not with an API token");
    let resp = alice
        .client
        .post(format!("{}/rpc/users/totp/remove", w.url))
        .bearer_auth(&alice.token)
        .json(&json!({"username": "admin"}))
        .send()
        .await
        .expect("remove admin's second factor");
    assert!(!resp.status().is_success(), "{}", resp.status());
    let resp = alice
        .post(
            "/auth/password",
            &json!({"current_password": ALICE_PASSWORD, "new_password": "alice-has-a-new-secret-42"}),
        )
        .await;
    assert_eq!(resp.status(), 204, "a read user changes her own password");
    login_as(&w, "alice", "alice-has-a-new-secret-42").await;
}

#[tokio::test]
async fn the_last_admin_stays_and_disabling_a_user_ends_its_sessions_and_tokens() {
    let w = Warden::start();
    let admin = Api::login(&w).await;

    // The only admin can be neither deleted, demoted nor disabled.
    for resp in [
        admin.delete("/users/admin").await,
        admin.patch("/users/admin", &json!({"role": "read"})).await,
        admin
            .patch("/users/admin", &json!({"enabled": false}))
            .await,
    ] {
        let (status, code, _) = api_error(resp).await;
        assert_eq!((status, code.as_str()), (409, "conflict"));
    }

    // The password policy: too short, too common; a taken name; a bad name.
    for (body, field) in [
        (
            json!({"username": "bob", "password": "short", "role": "read"}),
            "password",
        ),
        (
            json!({"username": "bob", "password": "Password1234", "role": "read"}),
            "password",
        ),
        (
            json!({"username": "Bob!", "password": ALICE_PASSWORD}),
            "username",
        ),
    ] {
        let (status, code, f) = api_error(admin.post("/users", &body).await).await;
        assert_eq!(
            (status, code.as_str(), f.as_deref()),
            (422, "validation_failed", Some(field)),
            "{body}"
        );
    }
    let (status, code, _) = api_error(
        admin
            .post(
                "/users",
                &json!({"username": "admin", "password": ALICE_PASSWORD}),
            )
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "conflict"));

    // A second admin: logged in, with an API token; disabling ends both at once.
    let resp = admin
        .post(
            "/users",
            &json!({"username": "bob", "password": ALICE_PASSWORD, "role": "admin"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.expect("user body");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["totp"], false);
    assert!(created["created_at"].is_string());
    let bob = login_as(&w, "bob", ALICE_PASSWORD).await;
    let resp = bob.post("/tokens", &json!({"name": "ci"})).await;
    assert_eq!(resp.status(), 201);
    let token: Value = resp.json().await.expect("token body");
    let bob_token = Api::with_token(&w, token["token"].as_str().expect("secret"));
    assert_eq!(bob_token.get("/services").await.status(), 200);
    let resp = admin.patch("/users/bob", &json!({"enabled": false})).await;
    assert_eq!(resp.status(), 200);
    let (status, code, _) = api_error(bob.get("/services").await).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    assert_eq!(bob_token.get("/services").await.status(), 401);
    // A disabled user cannot log in; enabled again, it can.
    let resp = w
        .client()
        .post(w.api("/auth/login"))
        .json(&json!({"username": "bob", "password": ALICE_PASSWORD}))
        .send()
        .await
        .expect("login request");
    assert_eq!(resp.status(), 401);
    assert_eq!(
        admin
            .patch("/users/bob", &json!({"enabled": true}))
            .await
            .status(),
        200
    );
    let bob = login_as(&w, "bob", ALICE_PASSWORD).await;

    // With a second admin, the first one may go; bob then is the last one.
    assert_eq!(bob.delete("/users/admin").await.status(), 204);
    assert_eq!(admin.get("/services").await.status(), 401);
    let (status, code, _) = api_error(bob.delete("/users/bob").await).await;
    assert_eq!((status, code.as_str()), (409, "conflict"));
    let (status, code, _) = api_error(bob.delete("/users/nobody").await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let users = bob.get_json("/users").await;
    assert_eq!(users.as_array().map(Vec::len), Some(1));

    // The audit log names who did what.
    let audit = bob.get_json("/audit?limit=1000").await;
    let entries = audit.as_array().expect("audit entries");
    let by = |action: &str, target: &str, actor: &str| {
        entries.iter().any(|e| {
            e["action"] == action
                && e["target"] == target
                && e["actor"] == actor
                && e["outcome"] == "ok"
        })
    };
    assert!(by("user.create", "bob", "admin"), "{audit:#}");
    assert!(by("user.update", "bob", "admin"), "{audit:#}");
    assert!(by("user.delete", "admin", "bob"), "{audit:#}");
    assert!(entries
        .iter()
        .any(|e| e["action"] == "user.delete" && e["target"] == "admin" && e["outcome"] == "ok"));
}
