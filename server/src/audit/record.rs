//! An audit entry as it is stored (`audit` tree, keyed by its zero-padded id): a server-side record,
//! separate from the wire DTO `app::model::admin::AuditEntry`, so a change to the API's shape cannot
//! change the on-disk format by accident. Versioned by the store's schema version (`store::SCHEMA_VERSION`):
//! this is the layout of schema version 1 (the JSON the DTO produced before the two were separated).

use serde::{Deserialize, Serialize};

use app::model::admin::{ActorKind, AuditEntry, AuditOutcome};

/// The stored audit entry (schema version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: u64,
    pub at: String,
    pub actor_kind: StoredActorKind,
    pub actor: String,
    pub address: Option<String>,
    pub action: String,
    pub target: String,
    pub outcome: StoredOutcome,
    pub detail: Option<String>,
    /// How many times it happened, for an aggregated entry (failed logins); absent for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredActorKind {
    User,
    Token,
    System,
    Anonymous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredOutcome {
    Ok,
    Failed,
}

impl From<ActorKind> for StoredActorKind {
    fn from(kind: ActorKind) -> Self {
        match kind {
            ActorKind::User => StoredActorKind::User,
            ActorKind::Token => StoredActorKind::Token,
            ActorKind::System => StoredActorKind::System,
            ActorKind::Anonymous => StoredActorKind::Anonymous,
        }
    }
}

impl From<StoredActorKind> for ActorKind {
    fn from(kind: StoredActorKind) -> Self {
        match kind {
            StoredActorKind::User => ActorKind::User,
            StoredActorKind::Token => ActorKind::Token,
            StoredActorKind::System => ActorKind::System,
            StoredActorKind::Anonymous => ActorKind::Anonymous,
        }
    }
}

impl From<AuditOutcome> for StoredOutcome {
    fn from(outcome: AuditOutcome) -> Self {
        match outcome {
            AuditOutcome::Ok => StoredOutcome::Ok,
            AuditOutcome::Failed => StoredOutcome::Failed,
        }
    }
}

impl From<StoredOutcome> for AuditOutcome {
    fn from(outcome: StoredOutcome) -> Self {
        match outcome {
            StoredOutcome::Ok => AuditOutcome::Ok,
            StoredOutcome::Failed => AuditOutcome::Failed,
        }
    }
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor_kind: r.actor_kind.into(),
            actor: r.actor,
            address: r.address,
            action: r.action,
            target: r.target,
            outcome: r.outcome.into(),
            detail: r.detail,
            count: r.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry exactly as schema version 1 stores it (written by Warden before records and DTOs were
    /// separated).
    const STORED_V1: &str = r#"{"id":7,"at":"2026-11-30T10:00:00Z","actor_kind":"token","actor":"admin/ci","address":"192.0.2.1","action":"service.create","target":"web","outcome":"failed","detail":"name taken"}"#;

    #[test]
    fn reads_and_writes_the_version_1_layout_byte_for_byte() {
        let record: AuditRecord = serde_json::from_str(STORED_V1).unwrap();
        assert_eq!(serde_json::to_string(&record).unwrap(), STORED_V1);
        let entry = AuditEntry::from(record);
        assert_eq!(entry.actor_kind, ActorKind::Token);
        assert_eq!(entry.outcome, AuditOutcome::Failed);
        assert_eq!(entry.detail.as_deref(), Some("name taken"));
    }
}
