//! Opens a store written by an earlier Warden (commit 72ff2d3, before the stored records were split from
//! the wire DTOs) with this build, through the domain entry points, and checks that everything it held
//! is still there: the services (read through `StoredService`, then run by a `SupervisorHandle`, which
//! writes back byte-identical records), the settings (`SettingsHandle::open`), the audit log
//! (`AuditLog::recent`), the API token and the admin password (`Auth`) and the firewall rules.
//!
//! How `fixtures/store-v1` was made (the script is `fixtures/make-store-v1.sh`), as root:
//!
//! ```text
//! git checkout 72ff2d3
//! cargo build -p warden --bin warden && cp $CARGO_TARGET_DIR/debug/warden /tmp/supervisor-warden-old
//! WARDEN_ADMIN_PASSWORD=fixture-admin-password-1 warden serve --listen 127.0.0.1:<free> --data-dir <tmp>
//! # then, with the session token of POST /api/v1/auth/login {"username":"admin","password":...}:
//! PATCH /api/v1/settings {"hostname":"fixture-host","environment":{"REGION":"eu-1","TIER":"gold"},
//!                         "crash_loop":{"max_failures":7,"window_secs":90}}
//! POST /api/v1/services {"name":"web","command":"sleep 1000","working_directory":"/tmp",
//!                        "environment":{"GREETING":"hello world","MODE":"fixture"},
//!                        "monitoring_command":"true","ports":[8300,8301]}      -> id e195d2a6b0689e0e
//! POST /api/v1/services {"name":"worker","command":"sleep 2000"}              -> id 2b224e3d87cda88b
//! POST /api/v1/services {"name":"batch","command":"echo batch","enabled":false} -> id 78ec0cf2be21ca1e
//! POST /api/v1/firewall/rules {"protocol":"tcp","action":"accept","ports":["22"],
//!                              "annotation":"ssh from anywhere"}              -> r1
//! POST /api/v1/firewall/rules {"protocol":"udp","action":"drop","direction":"in",
//!                              "hosts":["203.0.113.0/24"],"ports":["8300:8499"],
//!                              "annotation":"no udp from the test net"}       -> r2
//! POST /api/v1/tokens {"name":"fixture-ci"} -> id 8dd1340e2f39cf31, token Wqey2J8T…PoxE (below)
//! kill -TERM <warden>; cp <tmp>/store/{conf,db} server/tests/fixtures/store-v1/
//! ```
//!
//! sled's empty `blobs` directory is not in git; the test creates it in the copy.

mod supervisor_support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context};
use app::model::admin::{ActorKind, AuditOutcome, TokenScope};
use app::model::service::{ServiceSpec, ServiceState};
use app::model::settings::{BanSettings, CrashLoopSettings};
use warden::access::{Auth, LoginOutcome, TokenKind};
use warden::audit::AuditLog;
use warden::events::EventBus;
use warden::firewall_ctl::record::{FirewallRecord, RECORD_KEY};
use warden::settings::SettingsHandle;
use warden::store::{trees, Store};
use warden::supervisor::record::{ServiceRecord, StoredService};
use warden::supervisor::SupervisorHandle;

use supervisor_support::{fast_config, is_root, skip, wait_for};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v1");
const WEB_ID: &str = "e195d2a6b0689e0e";
const WORKER_ID: &str = "2b224e3d87cda88b";
const BATCH_ID: &str = "78ec0cf2be21ca1e";
const API_TOKEN: &str = "Wqey2J8TSGPhBUL9Vw44mkfzOBsL8r5u2HPFiFlPoxE";
const API_TOKEN_ID: &str = "8dd1340e2f39cf31";
const ADMIN_PASSWORD: &str = "fixture-admin-password-1";

/// A data dir holding a copy of the fixture store (the fixture itself stays untouched).
fn copy_fixture() -> anyhow::Result<tempfile::TempDir> {
    let data = tempfile::tempdir()?;
    let store = data.path().join("store");
    std::fs::create_dir_all(store.join("blobs"))?;
    for file in ["conf", "db"] {
        std::fs::copy(Path::new(FIXTURE).join(file), store.join(file))
            .with_context(|| format!("copying the fixture's {file}"))?;
    }
    Ok(data)
}

fn spec(name: &str, command: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        command: command.into(),
        working_directory: None,
        environment: BTreeMap::new(),
        monitoring_command: None,
        ports: Vec::new(),
        user: None,
        enabled: true,
        allow_ports_outside_range: false,
        stop_signal: Default::default(),
        stop_grace_secs: None,
        reload_grace_secs: None,
        restart: Default::default(),
        monitoring: Default::default(),
        after: Vec::new(),
        limits: Default::default(),
    }
}

/// The three services as they were created.
fn expected_services() -> BTreeMap<String, ServiceSpec> {
    let web = ServiceSpec {
        working_directory: Some("/tmp".into()),
        environment: BTreeMap::from([
            ("GREETING".into(), "hello world".into()),
            ("MODE".into(), "fixture".into()),
        ]),
        monitoring_command: Some("true".into()),
        ports: vec![8300, 8301],
        ..spec("web", "sleep 1000")
    };
    let batch = ServiceSpec {
        enabled: false,
        ..spec("batch", "echo batch")
    };
    BTreeMap::from([
        (WEB_ID.to_string(), web),
        (WORKER_ID.to_string(), spec("worker", "sleep 2000")),
        (BATCH_ID.to_string(), batch),
    ])
}

/// The `services` tree read through the stored type: every record is version 1, converts to the
/// expected definition, and converts back to exactly the bytes the old build wrote.
fn check_stored_services(store: &Store) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let raw = store
        .collection::<StoredService>(trees::SERVICES)?
        .list_raw()?;
    let mut found = BTreeMap::new();
    for (key, bytes) in &raw {
        let stored: StoredService = serde_json::from_slice(bytes)?;
        ensure!(stored.version == 1, "{key}: version {}", stored.version);
        let record = ServiceRecord::from(stored);
        ensure!(record.id == *key, "{key}: id {}", record.id);
        ensure!(
            record.disabled_reason.is_none() && record.run.is_none(),
            "{record:?}"
        );
        let written = serde_json::to_vec(&StoredService::from(&record))?;
        ensure!(
            written == *bytes,
            "{key}: this build writes\n{}\nwhere the old one wrote\n{}",
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(bytes)
        );
        found.insert(record.id, record.spec);
    }
    assert_eq!(found, expected_services());
    Ok(raw)
}

/// The environment of a running process, from `/proc/<pid>/environ`.
fn environment_of(pid: u32) -> anyhow::Result<BTreeMap<String, String>> {
    let raw = std::fs::read(format!("/proc/{pid}/environ"))?;
    Ok(raw
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (key, value) = entry.split_once('=')?;
            Some((key.to_string(), value.to_string()))
        })
        .collect())
}

#[tokio::test]
async fn a_store_written_by_72ff2d3_opens_with_everything_in_it() -> anyhow::Result<()> {
    let data = copy_fixture()?;
    let store = Store::open(&data.path().join("store"))?;

    // Services, through the stored record type.
    let services_before = check_stored_services(&store)?;

    // Settings.
    let settings = SettingsHandle::open(&store, EventBus::default())
        .await?
        .current();
    assert_eq!(settings.hostname, "fixture-host");
    assert_eq!(
        settings.environment,
        BTreeMap::from([
            ("REGION".into(), "eu-1".into()),
            ("TIER".into(), "gold".into())
        ])
    );
    assert_eq!(settings.service_user, "nobody");
    assert_eq!(settings.service_ports, "8300:8499");
    assert_eq!(
        settings.crash_loop,
        CrashLoopSettings {
            max_failures: 7,
            window_secs: 90
        }
    );
    assert_eq!(settings.ban, BanSettings::default());

    // The audit log: every mutation made, by the admin, in order (read before anything new is logged).
    let mut audit = AuditLog::open(&store)?.recent(100)?;
    audit.reverse();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(
        actions.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        [
            "auth.login",
            "settings.update",
            "service.create",
            "service.create",
            "service.create",
            "firewall.rule.create",
            "firewall.rule.create",
            "token.create",
        ]
    );
    assert_eq!(
        &actions[2..5],
        [
            ("service.create", "web"),
            ("service.create", "worker"),
            ("service.create", "batch")
        ]
    );
    for entry in &audit {
        assert_eq!(entry.outcome, AuditOutcome::Ok, "{entry:?}");
        assert!(entry.actor.starts_with("admin"), "{entry:?}");
        assert!(entry.id > 0 && entry.at.starts_with("2026-"), "{entry:?}");
    }
    assert!(audit[1..].iter().all(|e| e.actor_kind == ActorKind::User));

    // The firewall's saved rules (never applied).
    let firewall = store
        .collection::<FirewallRecord>(trees::FIREWALL)?
        .get(RECORD_KEY)?
        .ok_or_else(|| anyhow!("no firewall record"))?;
    assert_eq!(firewall.saved_revision, 2);
    assert_eq!(firewall.next_rule_number, 2);
    assert!(firewall.applied.is_none() && firewall.pending.is_none());
    let rules = serde_json::to_value(&firewall.rules.rules)?;
    let rule_fields = |i: usize| {
        [
            "id",
            "position",
            "enabled",
            "protocol",
            "action",
            "direction",
            "hosts",
            "ports",
            "ip_version",
            "annotation",
        ]
        .map(|field| rules[i][field].to_string())
        .join(" ")
    };
    assert_eq!(
        rule_fields(0),
        r#""r1" 0 true "tcp" "accept" "in" [] ["22"] "any" "ssh from anywhere""#
    );
    assert_eq!(
        rule_fields(1),
        r#""r2" 1 true "udp" "drop" "in" ["203.0.113.0/24"] ["8300:8499"] "any" "no udp from the test net""#
    );

    // The API token and the admin password.
    let auth = Auth::new(&store)?;
    let principal = auth
        .authenticate(API_TOKEN)?
        .ok_or_else(|| anyhow!("the API token is not accepted"))?;
    assert_eq!(principal.username, "admin");
    assert_eq!(
        principal.kind,
        TokenKind::Api {
            id: API_TOKEN_ID.into(),
            name: "fixture-ci".into()
        }
    );
    // Stored before scopes and expiry existed: an admin token that never expires.
    assert_eq!(principal.scope, TokenScope::Admin);
    let listed = auth.api_tokens("admin")?;
    ensure!(
        listed.len() == 1 && listed[0].scope == TokenScope::Admin && listed[0].expires_at.is_none(),
        "{listed:?}"
    );
    assert!(auth.authenticate("not-the-token")?.is_none());
    let login = auth
        .login(
            "admin",
            ADMIN_PASSWORD,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            5,
            Duration::from_secs(60),
        )
        .await?;
    assert!(matches!(login, LoginOutcome::Ok { .. }), "{login:?}");

    // The supervisor runs the stored services (as the stored service user, so only as root).
    if !is_root() && skip("running the fixture's services as `nobody` needs root") {
        return Ok(());
    }
    let handle =
        SupervisorHandle::start_with_config(data.path(), store.clone(), settings, fast_config())
            .await?;
    let listed: BTreeMap<String, ServiceSpec> = handle
        .list()
        .into_iter()
        .map(|service| (service.id, service.spec))
        .collect();
    assert_eq!(listed, expected_services());
    let running = |id: &'static str| {
        let handle = handle.clone();
        wait_for(id, Duration::from_secs(5), move || {
            let service = handle.get(id).ok();
            async move {
                service
                    .filter(|s| s.status.state == ServiceState::Running && s.status.pid.is_some())
            }
        })
    };
    let web = running(WEB_ID).await;
    running(WORKER_ID).await;
    assert_eq!(handle.get(BATCH_ID)?.status.state, ServiceState::Stopped);
    let web_pid = web.status.pid.ok_or_else(|| anyhow!("web has no pid"))?;
    let env = environment_of(web_pid)?;
    assert_eq!(env.get("GREETING").map(String::as_str), Some("hello world"));
    assert_eq!(env.get("REGION").map(String::as_str), Some("eu-1"));
    assert_eq!(env.get("USER").map(String::as_str), Some("nobody"));
    handle.shutdown().await;

    // Running and stopping them rewrote the records (the run was saved, then cleared): in the old bytes.
    let services_after = store
        .collection::<StoredService>(trees::SERVICES)?
        .list_raw()?;
    assert_eq!(services_after, services_before);
    Ok(())
}
