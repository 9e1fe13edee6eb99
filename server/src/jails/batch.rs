//! The batch entry point of the jails domain, for desired state (`PUT /api/v1/state`): plan a
//! document's `jails` section against the stored jails (each validated with the shared rules, errors
//! named `jails[<name>].<field>`, or `jails[#<index>]` for a jail without a name), stage the records
//! into a [`WriteBatch`] the caller commits with the other domains' records, and after the commit
//! make the watchers follow: a created or changed jail is (re)started exactly as a PATCH does (its
//! counts and repeat-offender history kept), a deleted one is stopped, an unchanged one is not touched.
//!
//! A jail of the document is matched to the stored jail with the same name (names are unique); stored
//! jails the document does not name are deleted only when pruning. A jail's runtime state (counts in
//! the window, repeat offenders, recent lines) is not part of the document; a deleted jail's state goes
//! in the same commit as its configuration. The caller holds [`Jails::lock_batch`] from planning until
//! the batch is finished.

use std::collections::{BTreeMap, BTreeSet};

use app::model::jails::JailInput;
use app::model::state::{Change, ChangeAction, ChangeKind};
use app::model::FieldError;

use super::{new_id, JailError, Jails, MAX_JAILS};
use crate::desired::plan::changed_fields;
use crate::store::WriteBatch;

/// What happens to one jail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JailStep {
    /// A new jail.
    Create(JailInput),
    /// The stored jail `id` takes `spec`.
    Update {
        id: String,
        spec: JailInput,
    },
    Delete {
        id: String,
    },
}

/// The planned jail changes of a batch.
#[derive(Debug)]
pub struct JailsPlan {
    pub changes: Vec<Change>,
    steps: Vec<JailStep>,
}

/// What a committed batch still has to do to the watchers.
#[derive(Debug, Default)]
pub struct StagedJails {
    /// Created and changed jails: `(id, spec)`, (re)started.
    started: Vec<(String, JailInput)>,
    /// Deleted jails: stopped.
    deleted: Vec<String>,
}

/// How a jail is named in a plan and in field errors: its name, else `#index`.
fn label(index: usize, input: &JailInput) -> String {
    if input.name.is_empty() {
        format!("#{index}")
    } else {
        input.name.clone()
    }
}

/// The pure plan: the lines and the steps. `current` is `(id, spec)` by name; `desired` is validated
/// (names unique).
pub fn plan_jails(
    current: &[(String, JailInput)],
    desired: &[JailInput],
    prune: bool,
) -> (Vec<Change>, Vec<JailStep>) {
    let by_name: BTreeMap<&str, &(String, JailInput)> = current
        .iter()
        .map(|entry| (entry.1.name.as_str(), entry))
        .collect();
    let mut used = BTreeSet::new();
    let mut changes = Vec::new();
    let mut steps = Vec::new();
    for (index, want) in desired.iter().enumerate() {
        let line = |action, fields| Change {
            kind: ChangeKind::Jail,
            name: label(index, want),
            action,
            fields,
            restarts: false,
        };
        let matched = by_name
            .get(want.name.as_str())
            .copied()
            .filter(|(id, _)| used.insert(id.as_str()));
        let Some((id, have)) = matched else {
            changes.push(line(ChangeAction::Create, Vec::new()));
            steps.push(JailStep::Create(want.clone()));
            continue;
        };
        let fields = changed_fields(have, want);
        if fields.is_empty() {
            changes.push(line(ChangeAction::Unchanged, fields));
        } else {
            changes.push(line(ChangeAction::Update, fields));
            steps.push(JailStep::Update {
                id: id.clone(),
                spec: want.clone(),
            });
        }
    }
    if prune {
        for (id, have) in current.iter().filter(|(id, _)| !used.contains(id.as_str())) {
            changes.push(Change {
                kind: ChangeKind::Jail,
                name: have.name.clone(),
                action: ChangeAction::Delete,
                fields: Vec::new(),
                restarts: false,
            });
            steps.push(JailStep::Delete { id: id.clone() });
        }
    }
    (changes, steps)
}

/// Every field error of `desired` (each jail's own, and a name listed twice), named
/// `jails[<label>].<field>`.
pub fn validate_all(desired: &[JailInput]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, input) in desired.iter().enumerate() {
        let resource = format!("jails[{}]", label(index, input));
        let mut own = input.validate().err().unwrap_or_default();
        if !input.name.is_empty() && !seen.insert(input.name.as_str()) {
            own.push(FieldError::new("name", "this name is listed twice"));
        }
        errors.extend(
            own.into_iter()
                .map(|e| FieldError::new(format!("{resource}.{}", e.field), e.message)),
        );
    }
    errors
}

/// The limit on the number of jails, checked on what the plan leaves.
fn check_count(current: usize, steps: &[JailStep]) -> Option<FieldError> {
    let created = steps
        .iter()
        .filter(|s| matches!(s, JailStep::Create(_)))
        .count();
    let deleted = steps
        .iter()
        .filter(|s| matches!(s, JailStep::Delete { .. }))
        .count();
    ((current + created).saturating_sub(deleted) > MAX_JAILS)
        .then(|| FieldError::new("jails", format!("at most {MAX_JAILS} jails")))
}

impl Jails {
    /// Serialises a batch with every other jail change; hold it from plan to finish.
    pub async fn lock_batch(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.op.lock().await
    }

    /// Every stored jail's `(id, spec)`, by name.
    fn specs(&self) -> Result<Vec<(String, JailInput)>, JailError> {
        let mut all = self.inner.specs.list()?;
        all.sort_by(|a, b| a.1.name.cmp(&b.1.name));
        Ok(all)
    }

    /// The jails as a document names them: no ids, no counts, by name.
    pub fn export(&self) -> Result<Vec<JailInput>, JailError> {
        Ok(self.specs()?.into_iter().map(|(_, spec)| spec).collect())
    }

    /// Validates a document's section (every problem at once) and plans it. Changes nothing.
    pub fn plan_batch(&self, desired: &[JailInput], prune: bool) -> Result<JailsPlan, JailError> {
        let mut errors = validate_all(desired);
        let current = self.specs()?;
        let (changes, steps) = plan_jails(&current, desired, prune);
        errors.extend(check_count(current.len(), &steps));
        if !errors.is_empty() {
            return Err(JailError::Invalid(errors));
        }
        Ok(JailsPlan { changes, steps })
    }

    /// Stages the records of `plan` into `batch` (nothing is written yet). A deleted jail's state goes
    /// with it.
    pub fn stage_batch(
        &self,
        plan: &JailsPlan,
        batch: &mut WriteBatch,
    ) -> Result<StagedJails, JailError> {
        let mut staged = StagedJails::default();
        for step in &plan.steps {
            match step {
                JailStep::Create(spec) => {
                    let id = new_id();
                    self.inner.specs.stage_insert(batch, &id, spec)?;
                    staged.started.push((id, spec.clone()));
                }
                JailStep::Update { id, spec } => {
                    self.inner.specs.stage_insert(batch, id, spec)?;
                    staged.started.push((id.clone(), spec.clone()));
                }
                JailStep::Delete { id } => {
                    self.inner.specs.stage_remove(batch, id);
                    self.inner.states.stage_remove(batch, id);
                    staged.deleted.push(id.clone());
                }
            }
        }
        Ok(staged)
    }

    /// After the batch is committed: deleted jails stop, created and changed ones (re)start (a changed
    /// one keeps its state, as after a PATCH). Unchanged jails are not touched.
    pub async fn finish_batch(&self, staged: StagedJails) {
        for id in staged.deleted {
            if let Some(old) = self.running().remove(&id) {
                old.stop();
            }
            // Stopping saves the state once more: it goes again (the commit already removed it).
            if let Err(e) = self.inner.states.remove(&id) {
                tracing::warn!(jail = %id, error = %e, "cannot remove a deleted jail's state");
            }
        }
        for (id, spec) in staged.started {
            self.restart(&id, &spec).await;
        }
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
