//! Backups: a consistent snapshot of everything Warden keeps (the desired-state document for people to
//! read, and every store tree as raw records: services, settings, firewall record, users with their
//! password hashes, token digests, the audit log and the counters), taken while Warden runs
//! (`GET /api/v1/backup`, `warden backup -o FILE`), and the offline restore into a data dir no Warden
//! is using (`warden restore FILE --data-dir D`).
//!
//! Consistency: the snapshot is taken holding the services, settings, firewall, notifications and
//! jails batch locks, so no multi-record change (a desired-state apply) is half in it; every other
//! write is one record (a jail's runtime state included).
//! Left out: login sessions (a restored Warden asks everyone to log in again) and the process groups
//! of running services (a restored Warden must never act on another Warden's processes).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use app::model::state::StateDocument;

use crate::audit::{acting_as, Actor, AuditLog};
use crate::desired::{DesiredError, Domains};
use crate::store::{trees, Store, StoreError, TreeDump, SCHEMA_VERSION};

/// The format tag of a backup file.
pub const FORMAT: &str = "warden-backup/1";

/// Trees a backup leaves out.
const SKIPPED_TREES: &[&str] = &[trees::SESSIONS, trees::NOTIFICATION_OUTBOX];

/// A backup file (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// RFC 3339.
    pub created_at: String,
    /// The Warden version that wrote it.
    pub warden_version: String,
    /// The store schema version of the records.
    pub schema_version: u32,
    /// The desired-state document at that moment (for reading and for `warden apply`; a restore uses
    /// `trees`).
    pub state: StateDocument,
    /// Every tree's records: base64 of the key and of the value.
    pub trees: BTreeMap<String, Vec<[String; 2]>>,
}

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Desired(#[from] DesiredError),
}

/// A service record without its running process group (see the module header).
fn without_run(raw: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(mut record)) if record.contains_key("run") => {
            record.insert("run".into(), serde_json::Value::Null);
            serde_json::to_vec(&record).unwrap_or_else(|_| raw.to_vec())
        }
        _ => raw.to_vec(),
    }
}

/// Whether a `tokens` record is a login session (left out of a backup).
fn is_session(raw: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(raw).is_ok_and(|record| record["kind"] == "session")
}

/// Takes the snapshot (audited as `backup.create`).
pub async fn snapshot(domains: &Domains<'_>) -> Result<BackupFile, BackupError> {
    let result = snapshot_unaudited(domains).await;
    let target = match &result {
        Ok(file) => format!(
            "{} records",
            file.trees.values().map(Vec::len).sum::<usize>()
        ),
        Err(_) => String::new(),
    };
    domains
        .audit
        .record_result("backup.create", &target, &result)
        .await;
    result
}

async fn snapshot_unaudited(domains: &Domains<'_>) -> Result<BackupFile, BackupError> {
    let _services = domains.supervisor.lock_batch().await;
    let _settings = domains.settings.lock_batch().await;
    let _firewall = domains.firewall.lock_batch().await;
    let _notifications = domains.notifications.lock_batch().await;
    let _jails = domains.jails.lock_batch().await;
    let state = domains.export()?;
    let dumps = domains.store.dump(SKIPPED_TREES)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let trees = dumps
        .into_iter()
        .map(|dump| {
            let services = dump.name == trees::SERVICES;
            let tokens = dump.name == trees::TOKENS;
            let entries = dump
                .entries
                .iter()
                .filter(|(_, v)| !(tokens && is_session(v)))
                .map(|(k, v)| {
                    let value = if services { without_run(v) } else { v.clone() };
                    [b64.encode(k), b64.encode(value)]
                })
                .collect();
            (dump.name, entries)
        })
        .collect();
    Ok(BackupFile {
        format: FORMAT.to_string(),
        created_at: crate::clock::now_rfc3339(),
        warden_version: env!("CARGO_PKG_VERSION").to_string(),
        schema_version: SCHEMA_VERSION,
        state,
        trees,
    })
}

/// The trees of a backup file, checked.
fn decode(file: &BackupFile) -> Result<Vec<TreeDump>, BackupError> {
    if file.format != FORMAT {
        return Err(BackupError::Unreadable(format!(
            "not a Warden backup (format {:?}, expected {FORMAT})",
            file.format
        )));
    }
    if file.schema_version > SCHEMA_VERSION {
        return Err(BackupError::Unreadable(format!(
            "the backup has store schema {}, newer than this Warden understands ({SCHEMA_VERSION})",
            file.schema_version
        )));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let bad = |tree: &str| BackupError::Unreadable(format!("the backup's tree {tree} is damaged"));
    file.trees
        .iter()
        .filter(|(name, _)| !SKIPPED_TREES.contains(&name.as_str()))
        .map(|(name, entries)| {
            let entries = entries
                .iter()
                .map(|[k, v]| {
                    Ok((
                        b64.decode(k).map_err(|_| bad(name))?,
                        b64.decode(v).map_err(|_| bad(name))?,
                    ))
                })
                .collect::<Result<Vec<_>, BackupError>>()?;
            Ok(TreeDump {
                name: name.clone(),
                entries,
            })
        })
        .collect()
}

/// What a restore put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub trees: usize,
    pub records: usize,
    pub created_at: String,
}

/// Restores `backup` (the file's text) into the data dir `data_dir`, which no Warden may be using (the
/// store's lock says so: refused then). Everything in its store is replaced. Audited as
/// `backup.restore` (actor `restore`).
pub async fn restore(backup: &str, data_dir: &Path) -> Result<Restored, BackupError> {
    let file: BackupFile = serde_json::from_str(backup)
        .map_err(|e| BackupError::Unreadable(format!("not a Warden backup: {e}")))?;
    let dumps = decode(&file)?;
    crate::file_modes::prepare_data_dir(data_dir).map_err(|e| {
        BackupError::Unreadable(format!("cannot create {}: {e}", data_dir.display()))
    })?;
    let store = Store::open(&data_dir.join("store"))?;
    store.replace_all(&dumps)?;
    let restored = Restored {
        trees: dumps.len(),
        records: dumps.iter().map(|d| d.entries.len()).sum(),
        created_at: file.created_at.clone(),
    };
    let audit = AuditLog::open(&store)?;
    acting_as(
        Actor::system("restore"),
        audit.record(
            "backup.restore",
            &format!("backup of {}", file.created_at),
            Ok(()),
        ),
    )
    .await;
    store.flush().await?;
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_record_loses_its_process_group() {
        let raw = br#"{"id":"a","spec":{},"run":{"pgid":42,"start_ticks":7}}"#;
        let cleaned: serde_json::Value = serde_json::from_slice(&without_run(raw)).unwrap();
        assert!(cleaned["run"].is_null());
        assert_eq!(cleaned["id"], "a");
        assert_eq!(without_run(b"not json"), b"not json".to_vec());
        assert!(is_session(
            br#"{"username":"admin","kind":"session","created_at":"x","expires_at":1}"#
        ));
        assert!(!is_session(
            br#"{"username":"admin","kind":"api","id":"a","name":"ci"}"#
        ));
    }

    #[tokio::test]
    async fn a_restore_refuses_what_it_cannot_read_and_replaces_the_store() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            restore("{}", dir.path()).await,
            Err(BackupError::Unreadable(_))
        ));
        let b64 = base64::engine::general_purpose::STANDARD;
        let file = BackupFile {
            format: FORMAT.into(),
            created_at: "2026-12-02T00:00:00Z".into(),
            warden_version: "0".into(),
            schema_version: SCHEMA_VERSION,
            state: StateDocument::empty(),
            trees: BTreeMap::from([(
                trees::RECORDS.to_string(),
                vec![[b64.encode("k"), b64.encode("\"v\"")]],
            )]),
        };
        {
            let store = Store::open(&dir.path().join("store")).unwrap();
            let old = store.collection::<String>(trees::RECORDS).unwrap();
            old.insert("old", &"x".to_string()).unwrap();
            store.flush().await.unwrap();
        }
        let text = serde_json::to_string(&file).unwrap();
        let restored = restore(&text, dir.path()).await.unwrap();
        assert_eq!((restored.trees, restored.records), (1, 1));
        let store = Store::open(&dir.path().join("store")).unwrap();
        let records = store.collection::<String>(trees::RECORDS).unwrap();
        assert_eq!(
            records.list().unwrap(),
            vec![("k".to_string(), "v".to_string())]
        );
        let audit = AuditLog::open(&store).unwrap().recent(1).unwrap();
        assert_eq!(audit[0].action, "backup.restore");
    }
}
