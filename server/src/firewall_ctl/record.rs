//! The firewall's durable record (one JSON document in the `firewall` sled tree) and the pure state
//! transitions on it: rule edits with revision bumps, the applied/pending bookkeeping of a
//! commit-confirmed apply, rollback, and ban metadata. No I/O here: `FirewallHandle` loads the
//! record, calls these, persists (flushes) and only then touches the kernel or acknowledges.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use warden_firewall::backend::Snapshot;
use warden_firewall::{
    preset, preset_rule_ids, FieldError, Policy, ResolvedHosts, Rule, RuleInput, RulePatch,
    RuleSet, RuleSetError,
};

/// The key of the record in the `firewall` tree.
pub const RECORD_KEY: &str = "state";

/// Most rules a rule set may hold.
pub const MAX_RULES: usize = 10_000;

/// Everything the firewall keeps durably.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FirewallRecord {
    /// The saved (edited) rule set; nothing reaches the kernel before apply.
    pub rules: RuleSet,
    /// Bumped on every rule edit.
    pub saved_revision: u64,
    /// The number of the next server-assigned rule id (`r<n>`); never reused.
    pub next_rule_number: u64,
    /// Policy for inbound traffic no rule decided.
    pub default_inbound_policy: Policy,
    /// What is live in the kernel, if Warden's rule set is applied (`active`).
    pub applied: Option<AppliedState>,
    /// An unconfirmed apply and how to undo it.
    pub pending: Option<PendingApply>,
    /// The last apply that was rolled back, until the next apply (so the UI can say so after a reload).
    pub last_rollback: Option<RollbackNote>,
    /// Reason and time of each ban Warden made, keyed by the banned network (`192.0.2.7`,
    /// `2001:db8:1::/64`). The kernel holds the ban itself (and its expiry).
    pub bans: BTreeMap<String, BanMeta>,
    /// Increases with every apply; a rollback timer only acts on the apply it was armed for.
    pub apply_counter: u64,
    /// Someone turned the firewall off (`deactivate`): Warden does not install its default guard at
    /// start until the next apply.
    pub deactivated: bool,
}

/// The rule set that is live, and how it was rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedState {
    /// The revision of the saved rule set that was applied.
    pub revision: u64,
    /// The rules that were applied (saved rules may have changed since).
    pub rules: RuleSet,
    /// Anti-lockout addresses of that apply (the address that performed it).
    pub anti_lockout: Vec<IpAddr>,
    /// The SSH ports anti-lockout covered in that apply (records from before the setting: 22). A
    /// restore covers these as well as the ports in force then, so a restore at boot that runs
    /// before sshd is up still keeps sshd's port open to the administrators.
    #[serde(default = "default_ssh_ports")]
    pub ssh_ports: Vec<u16>,
    /// The policy of that apply.
    pub default_inbound_policy: Policy,
    /// The structural fingerprint of the live table right after the apply (drift detection).
    pub fingerprint: Option<String>,
    /// What the rules' hostnames resolved to when the table was installed (for the live exposure).
    #[serde(default)]
    pub resolved_hosts: ResolvedHosts,
    /// The installed table as nft text (ban elements omitted), for `GET /ruleset?applied=true`.
    pub text: String,
    /// RFC 3339 time of the apply.
    pub applied_at: String,
    /// Warden installed this by itself: the empty rule set (service-range guard, loopback,
    /// anti-lockout, bans) with inbound policy accept, on a start that found nothing applied.
    #[serde(default)]
    pub default_guard: bool,
}

fn default_ssh_ports() -> Vec<u16> {
    vec![warden_firewall::SSH_PORT]
}

/// An apply waiting for confirmation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingApply {
    /// The applied revision.
    pub revision: u64,
    /// Which apply (see [`FirewallRecord::apply_counter`]).
    pub apply_id: u64,
    /// Unix time in milliseconds after which the previous state is restored.
    pub rollback_at_ms: i64,
    /// The state to return to.
    pub previous: PreviousState,
}

/// Why an unconfirmed apply was rolled back, as stored (the API answers with
/// `app::model::firewall::RollbackCause`, same spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackCause {
    /// The confirm window ran out.
    Timer,
    /// Someone asked for it (REST or UI).
    Request,
    /// Warden started while the apply was still unconfirmed.
    Restart,
}

/// The last rollback: when, which revision, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackNote {
    pub at_ms: i64,
    pub revision: u64,
    pub cause: RollbackCause,
}

/// The state before an unconfirmed apply: the kernel table and Warden's bookkeeping of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousState {
    /// `nft list table inet warden` before the apply, or no table.
    pub snapshot: Snapshot,
    /// What was applied then (`None`: not active).
    pub applied: Option<AppliedState>,
    /// Whether the firewall had been turned off then.
    #[serde(default)]
    pub deactivated: bool,
}

/// Why and when an address was banned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanMeta {
    /// A human sentence, e.g. "50 failed logins within 600 s".
    pub reason: String,
    /// RFC 3339.
    pub banned_at: String,
    /// The jail that banned it (`None`: by hand or after failed logins to Warden).
    #[serde(default)]
    pub jail: Option<String>,
    /// The failures that led to the ban.
    #[serde(default)]
    pub failures: u32,
    /// The last failure lines (at most [`MAX_BAN_LINES`]).
    #[serde(default)]
    pub lines: Vec<String>,
}

/// Most failure lines a ban keeps.
pub const MAX_BAN_LINES: usize = 5;

/// A rule-edit failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// No such rule.
    NotFound(String),
    /// Invalid input (field errors).
    Invalid(Vec<FieldError>),
    /// The edit conflicts with the current rules.
    Conflict(String),
}

impl From<RuleSetError> for EditError {
    fn from(e: RuleSetError) -> Self {
        match e {
            RuleSetError::NotFound(id) => EditError::NotFound(format!("firewall rule {id:?}")),
            RuleSetError::Invalid(errors) => EditError::Invalid(errors),
            RuleSetError::DuplicateId(id) => {
                EditError::Conflict(format!("a rule with the id {id:?} already exists"))
            }
        }
    }
}

impl FirewallRecord {
    /// Whether Warden's rule set is live.
    pub fn active(&self) -> bool {
        self.applied.is_some()
    }

    fn next_id(&mut self) -> String {
        self.next_rule_number += 1;
        format!("r{}", self.next_rule_number)
    }

    fn edited(&mut self) {
        self.saved_revision += 1;
    }

    /// Adds a rule (appended unless `input.position` is given); returns it.
    pub fn add_rule(&mut self, input: RuleInput) -> Result<Rule, EditError> {
        Ok(self.add_rules(vec![input])?.remove(0))
    }

    /// Adds several rules in one edit (one revision bump); all or nothing.
    pub fn add_rules(&mut self, inputs: Vec<RuleInput>) -> Result<Vec<Rule>, EditError> {
        if self.rules.rules.len() + inputs.len() > MAX_RULES {
            return Err(EditError::Invalid(vec![FieldError::new(
                "rules",
                format!("a rule set holds at most {MAX_RULES} rules"),
            )]));
        }
        let mut next = self.clone();
        let mut ids = Vec::new();
        for input in inputs {
            let position = input.position;
            let id = next.next_id();
            let rule = input.into_rule(id.clone()).map_err(EditError::Invalid)?;
            next.rules.insert(rule, position)?;
            ids.push(id);
        }
        next.edited();
        *self = next;
        Ok(ids
            .iter()
            .filter_map(|id| self.rules.get(id).cloned())
            .collect())
    }

    /// Applies a partial update; returns the updated rule.
    pub fn patch_rule(&mut self, id: &str, patch: &RulePatch) -> Result<Rule, EditError> {
        let rule = self.rules.patch(id, patch)?.clone();
        self.edited();
        Ok(rule)
    }

    /// Moves a rule; returns it at its new position.
    pub fn move_rule(&mut self, id: &str, position: u32) -> Result<Rule, EditError> {
        let position = self.rules.move_rule(id, position)?;
        self.edited();
        self.rules
            .rules
            .get(position as usize)
            .cloned()
            .ok_or_else(|| EditError::NotFound(id.to_string()))
    }

    /// Removes a rule; returns it.
    pub fn remove_rule(&mut self, id: &str) -> Result<Rule, EditError> {
        let rule = self.rules.remove(id)?;
        self.edited();
        Ok(rule)
    }

    /// Opens a preset: adds its rules (appended), or re-enables them if they exist but are disabled.
    /// Returns the rules added or re-enabled.
    pub fn open_preset(&mut self, name: &str) -> Result<Vec<Rule>, EditError> {
        let Some(preset) = preset(name) else {
            return Err(EditError::NotFound(format!("preset {name:?}")));
        };
        let existing = preset_rule_ids(&self.rules, name);
        if existing.is_empty() {
            return self.add_rules(preset.rules);
        }
        let disabled: Vec<String> = existing
            .into_iter()
            .filter(|id| self.rules.get(id).is_some_and(|r| !r.enabled))
            .collect();
        if disabled.is_empty() {
            return Err(EditError::Conflict(format!(
                "the preset {name:?} is already open"
            )));
        }
        let enable = RulePatch {
            enabled: Some(true),
            ..RulePatch::default()
        };
        let mut out = Vec::new();
        for id in disabled {
            out.push(self.rules.patch(&id, &enable)?.clone());
        }
        self.edited();
        Ok(out)
    }

    /// Closes a preset: removes the rules it added. Returns them.
    pub fn close_preset(&mut self, name: &str) -> Result<Vec<Rule>, EditError> {
        if preset(name).is_none() {
            return Err(EditError::NotFound(format!("preset {name:?}")));
        }
        let ids = preset_rule_ids(&self.rules, name);
        if ids.is_empty() {
            return Err(EditError::NotFound(format!(
                "rules of the preset {name:?} (it is not open)"
            )));
        }
        let mut removed = Vec::new();
        for id in ids {
            removed.push(self.rules.remove(&id)?);
        }
        self.edited();
        Ok(removed)
    }

    /// Records a successful apply of the saved rules. With `confirm_within_ms > 0`, the apply is
    /// pending: `previous` (the state before the *first* unconfirmed apply, kept across re-applies
    /// within the window) is what a rollback restores. Returns the apply id.
    pub fn record_apply(
        &mut self,
        applied: AppliedState,
        snapshot_before: Snapshot,
        rollback_at_ms: Option<i64>,
    ) -> u64 {
        self.apply_counter += 1;
        self.last_rollback = None;
        let apply_id = self.apply_counter;
        let previous = match self.pending.take() {
            Some(pending) => pending.previous,
            None => PreviousState {
                snapshot: snapshot_before,
                applied: self.applied.clone(),
                deactivated: self.deactivated,
            },
        };
        self.pending = rollback_at_ms.map(|at| PendingApply {
            revision: applied.revision,
            apply_id,
            rollback_at_ms: at,
            previous,
        });
        self.applied = Some(applied);
        self.deactivated = false;
        apply_id
    }

    /// Whether a start should install the default guard: nothing applied or pending, and nobody
    /// turned the firewall off.
    pub fn wants_default_guard(&self) -> bool {
        self.applied.is_none() && self.pending.is_none() && !self.deactivated
    }

    /// Forgets the pending apply, keeping what is live. `false` if nothing was pending.
    pub fn confirm(&mut self) -> bool {
        self.pending.take().is_some()
    }

    /// Returns to the state before the pending apply (the caller restores the kernel snapshot).
    pub fn roll_back(&mut self) -> Option<PendingApply> {
        let pending = self.pending.take()?;
        self.applied = pending.previous.applied.clone();
        self.deactivated = pending.previous.deactivated;
        Some(pending)
    }

    /// Warden's table is gone: nothing applied, nothing pending, no bans.
    pub fn deactivate(&mut self) {
        self.applied = None;
        self.pending = None;
        self.bans.clear();
        self.deactivated = true;
    }

    /// Anti-lockout addresses of what is live.
    pub fn anti_lockout(&self) -> Vec<IpAddr> {
        self.applied
            .as_ref()
            .map(|a| a.anti_lockout.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use warden_firewall::Action;

    fn input(port: &str) -> RuleInput {
        RuleInput {
            ports: Some(vec![port.to_string()]),
            ..RuleInput::default()
        }
    }

    fn applied(revision: u64) -> AppliedState {
        AppliedState {
            revision,
            rules: RuleSet::default(),
            anti_lockout: vec![],
            ssh_ports: vec![22],
            default_inbound_policy: Policy::Accept,
            fingerprint: Some(format!("fp{revision}")),
            resolved_hosts: Default::default(),
            text: String::new(),
            applied_at: String::new(),
            default_guard: false,
        }
    }

    #[test]
    fn edits_bump_the_revision_and_ids_are_never_reused() {
        let mut r = FirewallRecord::default();
        let a = r.add_rule(input("22")).unwrap();
        let b = r.add_rule(input("80")).unwrap();
        assert_eq!((a.id.as_str(), b.id.as_str()), ("r1", "r2"));
        assert_eq!(r.saved_revision, 2);
        r.remove_rule("r2").unwrap();
        let c = r.add_rule(input("443")).unwrap();
        assert_eq!(c.id, "r3");
        let moved = r.move_rule("r3", 0).unwrap();
        assert_eq!(moved.position, 0);
        assert_eq!(r.saved_revision, 5);
    }

    #[test]
    fn rejected_edits_change_nothing() {
        let mut r = FirewallRecord::default();
        r.add_rule(input("22")).unwrap();
        let before = r.clone();
        assert!(matches!(r.add_rule(input("0")), Err(EditError::Invalid(_))));
        assert!(matches!(
            r.add_rules(vec![input("80"), input("99999")]),
            Err(EditError::Invalid(_))
        ));
        let bad = RulePatch {
            ports: Some(vec!["9:1".into()]),
            ..RulePatch::default()
        };
        assert!(matches!(
            r.patch_rule("r1", &bad),
            Err(EditError::Invalid(_))
        ));
        assert!(matches!(
            r.patch_rule("nope", &RulePatch::default()),
            Err(EditError::NotFound(_))
        ));
        assert_eq!(r, before);
    }

    #[test]
    fn presets_open_once_and_close() {
        let mut r = FirewallRecord::default();
        let added = r.open_preset("smtp").unwrap();
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].action, Action::Accept);
        assert!(matches!(r.open_preset("smtp"), Err(EditError::Conflict(_))));
        assert!(matches!(
            r.open_preset("gopher"),
            Err(EditError::NotFound(_))
        ));
        let removed = r.close_preset("smtp").unwrap();
        assert_eq!(removed.len(), 1);
        assert!(r.rules.rules.is_empty());
        assert!(matches!(
            r.close_preset("smtp"),
            Err(EditError::NotFound(_))
        ));
    }

    #[test]
    fn rollback_returns_to_the_state_before_the_first_unconfirmed_apply() {
        let mut r = FirewallRecord::default();
        let none = Snapshot { table: None };
        r.record_apply(applied(1), none.clone(), None);
        assert!(r.active() && r.pending.is_none());
        let first = Snapshot {
            table: Some("table inet warden {}".into()),
        };
        let id2 = r.record_apply(applied(2), first.clone(), Some(10));
        let id3 = r.record_apply(applied(3), Snapshot { table: None }, Some(20));
        assert_ne!(id2, id3);
        let pending = r.pending.clone().unwrap();
        assert_eq!((pending.revision, pending.apply_id), (3, id3));
        assert_eq!(pending.previous.snapshot, first, "kept across re-applies");
        let undone = r.roll_back().unwrap();
        assert_eq!(undone.previous.applied.unwrap().revision, 1);
        assert_eq!(r.applied.as_ref().unwrap().revision, 1);
        assert!(r.roll_back().is_none());
        assert!(!r.confirm());
    }

    #[test]
    fn the_default_guard_is_wanted_until_someone_turns_the_firewall_off() {
        let mut r = FirewallRecord::default();
        assert!(r.wants_default_guard(), "a fresh install");
        r.record_apply(applied(1), Snapshot { table: None }, None);
        assert!(!r.wants_default_guard(), "something is applied");
        r.deactivate();
        assert!(
            !r.wants_default_guard(),
            "turned off: stays off across restarts"
        );
        // An unconfirmed apply after turning off, rolled back: off again, not guarded.
        r.record_apply(applied(2), Snapshot { table: None }, Some(10));
        assert!(!r.deactivated);
        r.roll_back().unwrap();
        assert!(r.deactivated && r.applied.is_none());
        assert!(!r.wants_default_guard());
        // A confirmed apply turns it back on for good.
        r.record_apply(applied(3), Snapshot { table: None }, Some(10));
        assert!(r.confirm());
        assert!(!r.deactivated);
    }

    #[test]
    fn a_record_of_an_older_version_loads_and_wants_the_guard() {
        // The fields of the record before `deactivated` existed.
        let old = r#"{"saved_revision":0,"next_rule_number":0,"applied":null,"pending":null,
            "last_rollback":null,"bans":{},"apply_counter":0}"#;
        let r: FirewallRecord = serde_json::from_str(old).unwrap();
        assert!(r.wants_default_guard());
    }
}
