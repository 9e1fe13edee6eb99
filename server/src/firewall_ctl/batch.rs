//! The batch entry point of the firewall domain, for desired state: plan a whole ordered rule list and
//! default policy (rules validated like `POST /firewall/rules`, errors named
//! `firewall.rules[<index>].<field>`), stage the new record into the caller's [`WriteBatch`], and after
//! the commit make it live through the ordinary commit-confirm apply. The caller holds
//! [`FirewallHandle::lock_batch`] from planning to commit, and releases it before
//! [`FirewallHandle::finish_batch`] (the apply takes the lock itself).

use std::net::IpAddr;

use app::model::state::{Change, FirewallDocument};
use warden_firewall::{FieldError, Rule, RuleInput, RuleSet};

use super::record::{FirewallRecord, MAX_RULES, RECORD_KEY};
use super::{FirewallError, FirewallHandle};
use crate::desired::plan::{plan_policy, plan_rules, RuleSource};
use crate::store::WriteBatch;

/// The planned firewall changes of a batch: the lines, and the record to write if anything changes.
#[derive(Debug)]
pub struct FirewallPlan {
    pub changes: Vec<Change>,
    next: Option<FirewallRecord>,
}

impl FirewallPlan {
    /// Whether the saved rules or policy change.
    pub fn changes_anything(&self) -> bool {
        self.next.is_some()
    }
}

impl FirewallHandle {
    /// Serialises a batch with every other firewall change (until the commit).
    pub async fn lock_batch(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.op.lock().await
    }

    /// The saved rules in order and the saved default policy.
    pub fn saved(&self) -> Result<(Vec<Rule>, warden_firewall::Policy), FirewallError> {
        let record = self.load()?;
        Ok((record.rules.rules, record.default_inbound_policy))
    }

    /// Validates and plans a document's firewall section. Nothing changes.
    pub fn plan_batch(
        &self,
        section: &FirewallDocument,
        prune: bool,
    ) -> Result<FirewallPlan, FirewallError> {
        let record = self.load()?;
        let mut next = record.clone();
        let mut changes = Vec::new();
        let mut changed = false;
        if let Some(desired) = &section.rules {
            let mut errors = Vec::new();
            if desired.len() > MAX_RULES {
                errors.push(FieldError::new(
                    "firewall.rules",
                    format!("a rule set holds at most {MAX_RULES} rules"),
                ));
            }
            let mut wanted = Vec::with_capacity(desired.len());
            for (index, doc) in desired.iter().enumerate() {
                match RuleInput::from(doc.clone()).into_rule("new") {
                    Ok(rule) => wanted.push(rule),
                    Err(fields) => errors.extend(fields.into_iter().map(|e| {
                        FieldError::new(format!("firewall.rules[{index}].{}", e.field), e.message)
                    })),
                }
            }
            if !errors.is_empty() {
                return Err(FirewallError::Invalid(errors));
            }
            let (lines, order) = plan_rules(&record.rules.rules, &wanted, prune);
            if lines.iter().any(Change::is_change) {
                changed = true;
                let mut rules = Vec::with_capacity(order.len());
                for (index, source) in order.into_iter().enumerate() {
                    let rule = match (source, wanted.get(index)) {
                        (RuleSource::Existing(id), Some(want)) => Rule { id, ..want.clone() },
                        (RuleSource::Existing(id), None) => {
                            record.rules.get(&id).cloned().ok_or_else(|| {
                                FirewallError::Internal(format!("rule {id} vanished"))
                            })?
                        }
                        (RuleSource::New(d), _) => {
                            next.next_rule_number += 1;
                            Rule {
                                id: format!("r{}", next.next_rule_number),
                                ..wanted.get(d).cloned().ok_or_else(|| {
                                    FirewallError::Internal("a planned rule is missing".into())
                                })?
                            }
                        }
                    };
                    rules.push(rule);
                }
                next.rules = RuleSet::new(rules);
            }
            changes.extend(lines);
        }
        if let Some(policy) = section.default_inbound_policy {
            let line = plan_policy(record.default_inbound_policy, policy);
            if line.is_change() {
                changed = true;
                next.default_inbound_policy = policy;
            }
            changes.push(line);
        }
        if changed {
            next.saved_revision += 1;
        }
        Ok(FirewallPlan {
            changes,
            next: changed.then_some(next),
        })
    }

    /// Stages the planned record into `batch` (nothing when nothing changes).
    pub fn stage_batch(
        &self,
        plan: &FirewallPlan,
        batch: &mut WriteBatch,
    ) -> Result<(), FirewallError> {
        if let Some(next) = &plan.next {
            self.inner.records.stage_insert(batch, RECORD_KEY, next)?;
        }
        Ok(())
    }

    /// After the batch is committed (and the batch lock released): records the edit in the audit log
    /// and applies the saved rules with the commit-confirm window `confirm_within_secs` (0 = none) for
    /// the administering address `applying`. `Ok(Some(reason))`: the rules are saved but not live
    /// (no firewall capability here, or the apply was refused: the reason).
    pub async fn finish_batch(
        &self,
        plan: &FirewallPlan,
        confirm_within_secs: u64,
        applying: IpAddr,
    ) -> Option<String> {
        let next = plan.next.as_ref()?;
        self.inner
            .audit
            .record(
                "firewall.rules.replace",
                &format!("revision {}", next.saved_revision),
                Ok(()),
            )
            .await;
        if let Err(e) = self.require_capability() {
            self.publish().await;
            return Some(e.to_string());
        }
        match self.apply(confirm_within_secs, applying).await {
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        }
    }
}
