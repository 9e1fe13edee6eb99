//! Unit tests of [`Auth`]: bootstrap, login and sessions, API tokens (scope, expiry), the password
//! change and its throttle, and the login throttle under parallel attempts.

use std::net::IpAddr;
use std::time::Duration;

use app::model::admin::{PasswordChange, TokenRequest, TokenScope};

use super::*;
use crate::access::{CredentialError, LoginOutcome};

#[tokio::test]
async fn bootstrap_login_authenticate_logout() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let auth = Auth::new(&store).unwrap();
    let generated = auth
        .bootstrap(None)
        .await
        .unwrap()
        .expect("generated password");
    assert_eq!(generated.len(), 20);
    assert_eq!(
        auth.bootstrap(None).await.unwrap(),
        None,
        "only on first start"
    );
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let w = Duration::from_secs(600);
    assert!(matches!(
        auth.login("admin", "nope", ip, 50, w).await.unwrap(),
        LoginOutcome::Invalid
    ));
    assert!(matches!(
        auth.login("root", &generated, ip, 50, w).await.unwrap(),
        LoginOutcome::Invalid
    ));
    let LoginOutcome::Ok { token, .. } = auth.login("admin", &generated, ip, 50, w).await.unwrap()
    else {
        panic!("login failed");
    };
    let p = auth.authenticate(&token).unwrap().expect("valid token");
    assert_eq!(p.username, "admin");
    assert_eq!(auth.authenticate("garbage").unwrap(), None);
    auth.logout(&p).await.unwrap();
    assert_eq!(auth.authenticate(&token).unwrap(), None);
}

/// A fresh store (kept alive by the returned directory) whose admin has `password`.
async fn auth_with_admin(password: &str) -> (tempfile::TempDir, Auth) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let auth = Auth::new(&store).unwrap();
    auth.bootstrap(Some(password.into())).await.unwrap();
    (dir, auth)
}

#[tokio::test]
async fn api_tokens_and_password_change() {
    let (_dir, auth) = auth_with_admin("first-password-1").await;
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let w = Duration::from_secs(600);
    let session = |outcome| match outcome {
        LoginOutcome::Ok { token, .. } => token,
        other => panic!("login failed: {other:?}"),
    };
    let mine = session(
        auth.login("admin", "first-password-1", ip, 50, w)
            .await
            .unwrap(),
    );
    let other = session(
        auth.login("admin", "first-password-1", ip, 50, w)
            .await
            .unwrap(),
    );
    let me = auth.authenticate(&mine).unwrap().unwrap();

    let created = auth
        .create_api_token("admin", &TokenRequest::named("ci"))
        .await
        .unwrap();
    assert!(matches!(
        auth.create_api_token("admin", &TokenRequest::named("ci"))
            .await,
        Err(CredentialError::Conflict(_))
    ));
    assert!(matches!(
        auth.create_api_token("admin", &TokenRequest::named(""))
            .await,
        Err(CredentialError::Invalid(_))
    ));
    let p = auth.authenticate(&created.token).unwrap().unwrap();
    assert_eq!(p.actor(None).name, "admin/ci");
    let listed = auth.api_tokens("admin").unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some(), "the use was noted");

    let wrong = PasswordChange {
        current_password: "nope".into(),
        new_password: "second-password-2".into(),
    };
    assert!(matches!(
        auth.change_password(&me, &wrong, ip, 50, w).await,
        Err(CredentialError::Invalid(e)) if e[0].field == "current_password"
    ));
    let right = PasswordChange {
        current_password: "first-password-1".into(),
        ..wrong
    };
    auth.change_password(&me, &right, ip, 50, w).await.unwrap();
    assert!(
        auth.authenticate(&mine).unwrap().is_some(),
        "the caller stays"
    );
    assert!(
        auth.authenticate(&other).unwrap().is_none(),
        "other sessions end"
    );
    assert!(
        auth.authenticate(&created.token).unwrap().is_some(),
        "API tokens stay"
    );

    auth.revoke_api_token("admin", &created.id).await.unwrap();
    assert!(auth.authenticate(&created.token).unwrap().is_none());
    assert!(matches!(
        auth.revoke_api_token("admin", &created.id).await,
        Err(CredentialError::NotFound(_))
    ));
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_per_address() {
    let (_dir, auth) = auth_with_admin("first-password-1").await;
    let (ip, other): (IpAddr, IpAddr) =
        ("192.0.2.7".parse().unwrap(), "192.0.2.8".parse().unwrap());
    let w = Duration::from_secs(600);
    let token = match auth.login("admin", "first-password-1", ip, 50, w).await {
        Ok(LoginOutcome::Ok { token, .. }) => token,
        other => panic!("login failed: {other:?}"),
    };
    let me = auth.authenticate(&token).unwrap().unwrap();
    let change = |current: &str| PasswordChange {
        current_password: current.into(),
        new_password: "second-password-2".into(),
    };
    // A malformed request (empty current password) is not a guess and costs nothing.
    assert!(matches!(
        auth.change_password(&me, &change(""), ip, 2, w).await,
        Err(CredentialError::Invalid(_))
    ));
    for _ in 0..2 {
        assert!(matches!(
            auth.change_password(&me, &change("guess"), ip, 2, w).await,
            Err(CredentialError::Invalid(e)) if e[0].field == "current_password"
        ));
    }
    // The failures are used up: even the right password is refused from that address, unchecked.
    assert!(matches!(
        auth.change_password(&me, &change("first-password-1"), ip, 2, w).await,
        Err(CredentialError::Throttled(d)) if d > Duration::ZERO
    ));
    // They count as failed logins of the address too.
    assert!(matches!(
        auth.login("admin", "first-password-1", ip, 2, w).await,
        Ok(LoginOutcome::Throttled { .. })
    ));
    // Another address is not affected.
    auth.change_password(&me, &change("first-password-1"), other, 2, w)
        .await
        .unwrap();
}

#[tokio::test]
async fn given_password_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let auth = Auth::new(&store).unwrap();
    assert_eq!(
        auth.bootstrap(Some("s3cret-pass".into())).await.unwrap(),
        None
    );
    let ip: IpAddr = "::1".parse().unwrap();
    assert!(matches!(
        auth.login("admin", "s3cret-pass", ip, 50, Duration::from_secs(60))
            .await
            .unwrap(),
        LoginOutcome::Ok { .. }
    ));
}

#[tokio::test]
async fn read_tokens_and_expiring_tokens() {
    let (_dir, auth) = auth_with_admin("first-password-1").await;
    let read = auth
        .create_api_token(
            "admin",
            &TokenRequest {
                scope: TokenScope::Read,
                expires_at: Some("2999-01-01T00:00:00Z".into()),
                ..TokenRequest::named("reader")
            },
        )
        .await
        .unwrap();
    assert_eq!(read.scope, TokenScope::Read);
    assert_eq!(read.expires_at.as_deref(), Some("2999-01-01T00:00:00Z"));
    let p = auth.authenticate(&read.token).unwrap().unwrap();
    assert_eq!(p.scope, TokenScope::Read);
    let admin = auth
        .create_api_token("admin", &TokenRequest::named("admin"))
        .await
        .unwrap();
    assert_eq!(
        auth.authenticate(&admin.token).unwrap().unwrap().scope,
        TokenScope::Admin
    );

    // An expiry in the past is refused; one that passes later ends the token (still listed).
    assert!(matches!(
        auth.create_api_token(
            "admin",
            &TokenRequest {
                expires_at: Some("2020-01-01T00:00:00Z".into()),
                ..TokenRequest::named("late")
            }
        )
        .await,
        Err(CredentialError::Invalid(e)) if e[0].field == "expires_at"
    ));
    let (key, mut record) = auth
        .tokens
        .list()
        .unwrap()
        .into_iter()
        .find(|(_, r)| matches!(&r.kind, TokenKind::Api { name, .. } if name == "reader"))
        .unwrap();
    record.expires_at = Some(now_unix() - 1);
    auth.tokens.insert(&key, &record).unwrap();
    assert_eq!(auth.authenticate(&read.token).unwrap(), None);
    let listed = auth.api_tokens("admin").unwrap();
    let reader = listed.iter().find(|t| t.name == "reader").unwrap();
    assert_eq!(reader.scope, TokenScope::Read);
    assert!(reader.expires_at.is_some());
}

/// 60 wrong logins at once from one IPv6 /64 (a different address each) with a hashing gate of
/// `slots`: returns (passwords checked, refused as throttled, refused as busy).
async fn burst(auth: &std::sync::Arc<Auth>, slots_note: &str) -> (usize, usize, usize) {
    let w = Duration::from_secs(600);
    let attempts = (0..60u32).map(|i| {
        let auth = auth.clone();
        let addr: IpAddr = format!("2001:db8::{:x}", i + 1).parse().unwrap();
        tokio::spawn(async move { auth.login("admin", "wrong", addr, 10, w).await.unwrap() })
    });
    let (mut invalid, mut throttled, mut busy) = (0, 0, 0);
    for outcome in futures::future::join_all(attempts).await {
        match outcome.unwrap() {
            LoginOutcome::Invalid => invalid += 1,
            LoginOutcome::Throttled { .. } => throttled += 1,
            LoginOutcome::Busy { .. } => busy += 1,
            other => panic!("{slots_note}: {other:?}"),
        }
    }
    (invalid, throttled, busy)
}

async fn auth_with_gate(slots: usize) -> (tempfile::TempDir, std::sync::Arc<Auth>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let auth = Auth::new(&store).unwrap().with_hashing_slots(slots);
    auth.bootstrap(Some("first-password-1".into()))
        .await
        .unwrap();
    (dir, std::sync::Arc::new(auth))
}

#[tokio::test]
async fn parallel_wrong_logins_from_one_64_cannot_exceed_the_limit() {
    // Room to hash all 60 at once: only the slot taken before the check holds them back.
    let (_dir, auth) = auth_with_gate(64).await;
    let (invalid, throttled, busy) = burst(&auth, "gate of 64").await;
    assert_eq!(
        (invalid, throttled, busy),
        (10, 50, 0),
        "passwords checked against a limit of 10"
    );
}

#[tokio::test]
async fn a_busy_hashing_gate_answers_at_once_and_gives_the_slot_back() {
    let (_dir, auth) = auth_with_gate(2).await;
    let (invalid, throttled, busy) = burst(&auth, "gate of 2").await;
    assert!(busy > 0, "({invalid}, {throttled}, {busy})");
    assert!(invalid <= 10);
    // The busy answers cost nothing: one by one, the source gets exactly the rest of its allowance.
    let w = Duration::from_secs(600);
    let ip: IpAddr = "2001:db8::ffff".parse().unwrap();
    let mut checked = invalid;
    for _ in 0..20 {
        match auth.login("admin", "wrong", ip, 10, w).await.unwrap() {
            LoginOutcome::Invalid => checked += 1,
            LoginOutcome::Throttled { .. } => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(checked, 10);
}
