//! Guessing against the real binary: a burst of parallel wrong logins from one address gets at most the
//! ban settings' allowance of passwords checked (401), every other attempt is refused at once (429 with
//! `Retry-After`); the failures are one aggregated audit entry per source and minute, whose count is
//! the number checked; and rotating through many addresses of one IPv6 /64 (real source addresses in a
//! network namespace) gets the allowance of one address, while another /64 is unaffected.

use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{gate, Api, Launch, Warden, ADMIN_PASSWORD};

/// The failed-login allowance the tests set (`ban.max_failures`).
const LIMIT: u64 = 10;

/// Lowers the failed-login allowance to [`LIMIT`].
async fn lower_the_limit(admin: &Api) {
    let resp = admin
        .patch("/settings", &json!({"ban": {"max_failures": LIMIT}}))
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

/// The failed `auth.login` entries of the audit log from `address`.
async fn failed_logins(admin: &Api, address: &str) -> Vec<Value> {
    admin
        .get_json("/audit?limit=1000")
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e["action"] == "auth.login" && e["outcome"] == "failed" && e["address"] == address
        })
        .collect()
}

#[tokio::test]
async fn a_burst_of_parallel_wrong_logins_gets_at_most_the_limit_checked() {
    let w = Warden::start();
    let admin = Api::login(&w).await;
    lower_the_limit(&admin).await;

    const BURST: usize = 150;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let url = w.api("/auth/login");
    let attempts = (0..BURST).map(|i| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let resp = client
                .post(&url)
                .json(&json!({"username": "admin", "password": format!("guess-{i}")}))
                .send()
                .await
                .unwrap_or_else(|e| panic!("attempt {i}: {e}"));
            let retry_after = resp.headers().get("retry-after").cloned();
            (resp.status().as_u16(), retry_after)
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let checked = answers.iter().filter(|(s, _)| *s == 401).count() as u64;
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    eprintln!(
        "{BURST} parallel wrong logins: {checked} checked (401), {} refused (429), limit {LIMIT}",
        refused.len()
    );
    assert!(
        checked <= LIMIT,
        "{checked} passwords checked against a limit of {LIMIT}"
    );
    assert!(checked >= 1, "no password was checked at all");
    assert_eq!(
        checked as usize + refused.len(),
        BURST,
        "only 401 and 429: {answers:?}"
    );
    assert!(
        refused.iter().all(|(_, retry)| retry.is_some()),
        "every 429 says when to retry"
    );

    // The right password is refused too now (the address used up its allowance).
    let resp = w
        .client()
        .post(w.api("/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    if checked == LIMIT {
        assert_eq!(resp.status(), 429);
    }

    // The audit log: one entry per minute for the address, counting exactly the checked passwords.
    let entries = failed_logins(&admin, "127.0.0.1").await;
    let counted: u64 = entries
        .iter()
        .map(|e| e["count"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(counted, checked, "{entries:#?}");
    assert!(
        entries.len() <= 2,
        "aggregated per minute (at most two minutes): {entries:#?}"
    );
    // Still answering normally meanwhile.
    assert_eq!(admin.get("/services").await.status(), 200);
}

#[tokio::test]
async fn aggregated_failed_logins_keep_older_evidence() {
    let w = Warden::start();
    let admin = Api::login(&w).await;
    let token: Value = admin
        .post("/tokens", &json!({"name": "evidence"}))
        .await
        .json()
        .await
        .unwrap();
    assert!(token["id"].is_string());
    // 40 wrong logins one after the other (below the default allowance of 50).
    let c = w.client();
    for i in 0..40 {
        let resp = c
            .post(w.api("/auth/login"))
            .json(&json!({"username": if i % 2 == 0 { "root" } else { "admin" }, "password": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    let all = admin.get_json("/audit?limit=1000").await;
    let all = all.as_array().unwrap();
    let failed = failed_logins(&admin, "127.0.0.1").await;
    let total: u64 = failed
        .iter()
        .map(|e| e["count"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(total, 40);
    assert!(failed.len() <= 2, "{failed:#?}");
    let detail = failed[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("failed logins from 127.0.0.1"), "{detail}");
    assert!(
        detail.contains("root") && detail.contains("admin"),
        "{detail}"
    );
    // The token's creation is still in the log, a handful of entries away.
    assert!(all.len() < 10, "{all:#?}");
    assert!(all
        .iter()
        .any(|e| e["action"] == "token.create" && e["target"] == "evidence"));
}

/// The /64 the attacker rotates through, the server's address (another /64, so a ban of the
/// attacker's network does not cover the server's replies) and the admin's (a third /64).
const ATTACKER_NET: &str = "2001:db8:0:66::";
const SERVER_V6: &str = "2001:db8:0:ff::1";
const ADMIN_V6: &str = "2001:db8:0:1::1";

/// A wrong login from `source` to the server at `base`; the status.
async fn guess_from(source: &str, base: &str) -> u16 {
    let client = reqwest::Client::builder()
        .local_address(Some(source.parse().unwrap()))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "wrong"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("login from {source}: {e}"))
        .status()
        .as_u16()
}

#[test]
fn rotating_addresses_inside_one_ipv6_64_gets_the_limit_of_one_address() {
    if !gate(
        "root, nft and ip for a network namespace",
        warden_testkit::netns::requirements(),
    ) {
        return;
    }
    let mut ns = warden_testkit::Netns::new("abuse64");
    const SOURCES: u64 = LIMIT + 20;
    for addr in [SERVER_V6.to_string(), ADMIN_V6.to_string()]
        .into_iter()
        .chain((0..SOURCES).map(|i| format!("{ATTACKER_NET}{:x}", 0x100 + i)))
    {
        ns.add_address("lo", &addr);
    }
    let w = Launch::new()
        .in_netns(&ns.name)
        .listen(format!("[{SERVER_V6}]:0"))
        .start();
    let base = w.url.clone();
    let outcome = ns.run_inside(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let admin = reqwest::Client::builder()
                .local_address(Some(ADMIN_V6.parse().unwrap()))
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let login: Value = admin
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let token = login["token"].as_str().unwrap().to_string();
            let resp = admin
                .patch(format!("{base}/api/v1/settings"))
                .bearer_auth(&token)
                .json(&json!({"ban": {"max_failures": LIMIT}}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);

            // One wrong login from each of many addresses of one /64, until the first refusal.
            let mut statuses = Vec::new();
            for i in 0..SOURCES {
                let source = format!("{ATTACKER_NET}{:x}", 0x100 + i);
                let status = guess_from(&source, &base).await;
                statuses.push(status);
                if status != 401 {
                    break;
                }
            }
            // Another /64 still gets its own allowance.
            let other = guess_from(ADMIN_V6, &base).await;
            let audit: Value = admin
                .get(format!("{base}/api/v1/audit?limit=1000"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (statuses, other, audit)
        })
    });
    let (statuses, other, audit) = outcome;
    eprintln!(
        "{} addresses of one /64 tried: {statuses:?} (limit {LIMIT})",
        statuses.len()
    );
    let checked = statuses.iter().filter(|s| **s == 401).count() as u64;
    assert_eq!(
        checked, LIMIT,
        "rotating inside the /64 got {checked} passwords checked: {statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(other, 401, "another /64 is not throttled");
    // The audit log names the /64, with the count.
    let net = format!("{ATTACKER_NET}/64");
    let counted: u64 = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.login" && e["address"] == net.as_str())
        .map(|e| e["count"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(counted, LIMIT, "{audit:#}");
    drop(w);
    drop(ns);
}
