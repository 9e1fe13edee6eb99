//! The batch entry point of the notifications domain, for desired state (`PUT /api/v1/state`): plan
//! a document's `notifications` section against the stored destinations (each validated with the
//! shared rules, errors named `notifications[<name>].<field>`), stage the records into a
//! [`WriteBatch`] the caller commits with the other domains' records, and tidy up after the commit
//! (the delivery logs of deleted destinations).
//!
//! A destination of the document is matched to a stored one that is the same, else to one with the
//! same (non-empty) name, else to one with the same settings under another name, else it is new; stored destinations the document does not name are
//! deleted only when pruning. The SMTP password is write-only here as on the API: a document never
//! carries it on export; one that leaves it out keeps the stored password, one that names it sets it
//! (the plan says `smtp.password` without showing it).

use app::model::notifications::{validate_destination, DestinationInput, MAX_DESTINATIONS};
use app::model::state::{Change, ChangeAction, ChangeKind};
use app::model::FieldError;

use super::record::StoredDestination;
use super::{new_id, NotificationError, Notifications};
use crate::desired::plan::changed_fields;
use crate::store::WriteBatch;

/// What happens to one destination.
#[derive(Debug, Clone, PartialEq)]
pub enum DestinationStep {
    /// The desired destination at this index is new.
    Create(usize),
    /// The stored destination `id` takes the desired one at `index`.
    Update {
        id: String,
        index: usize,
    },
    Delete {
        id: String,
    },
}

/// The planned destination changes of a batch.
#[derive(Debug)]
pub struct NotificationsPlan {
    pub changes: Vec<Change>,
    desired: Vec<DestinationInput>,
    steps: Vec<DestinationStep>,
}

/// What a committed batch still has to tidy up.
#[derive(Debug, Default)]
pub struct StagedNotifications {
    deleted: Vec<String>,
}

/// How a destination is named in a plan and in field errors: its name, else `#index kind`.
fn label(index: usize, input: &DestinationInput) -> String {
    if input.name.trim().is_empty() {
        let kind = serde_json::to_value(input.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        format!("#{index} {kind}")
    } else {
        input.name.trim().to_string()
    }
}

/// `input` as it would be stored (trimmed), the password left out: what export shows.
fn comparable(input: &DestinationInput) -> DestinationInput {
    StoredDestination::create(String::new(), input, String::new()).as_input()
}

/// The stored record `input` leads to when it replaces `current` (or is new): a left-out SMTP password
/// keeps the stored one.
fn stored_from(input: &DestinationInput, current: Option<&StoredDestination>) -> StoredDestination {
    match current {
        Some(current) => {
            let mut next =
                StoredDestination::create(current.id.clone(), input, current.created_at.clone());
            let kept = current.smtp.as_ref().and_then(|s| s.password.clone());
            if let Some(smtp) = next.smtp.as_mut() {
                let named = input.smtp.as_ref().and_then(|s| s.password.as_ref());
                if named.is_none() {
                    smtp.password = kept;
                }
            }
            next
        }
        None => StoredDestination::create(new_id(), input, crate::clock::now_rfc3339()),
    }
}

/// The fields in which `current` and the record `input` leads to differ (`smtp.password` for a
/// changed password, never its value).
fn destination_fields(current: &StoredDestination, input: &DestinationInput) -> Vec<String> {
    let next = stored_from(input, Some(current));
    let mut fields = changed_fields(&current.as_input(), &next.as_input());
    let password = |d: &StoredDestination| d.smtp.as_ref().and_then(|s| s.password.clone());
    if password(current) != password(&next) {
        fields.push("smtp.password".to_string());
    }
    fields
}

/// The pure plan: the lines and the steps. `desired` is validated.
pub fn plan_destinations(
    current: &[StoredDestination],
    desired: &[DestinationInput],
    prune: bool,
) -> (Vec<Change>, Vec<DestinationStep>) {
    let mut used = vec![false; current.len()];
    let mut matched: Vec<Option<usize>> = vec![None; desired.len()];
    for (d, want) in desired.iter().enumerate() {
        let want = comparable(want);
        if let Some(c) = (0..current.len()).find(|&c| !used[c] && current[c].as_input() == want) {
            used[c] = true;
            matched[d] = Some(c);
        }
    }
    for (d, want) in desired.iter().enumerate() {
        let name = want.name.trim();
        if matched[d].is_some() || name.is_empty() {
            continue;
        }
        if let Some(c) = (0..current.len()).find(|&c| !used[c] && current[c].name == name) {
            used[c] = true;
            matched[d] = Some(c);
        }
    }
    // Renamed: the same settings under another name.
    let unnamed = |mut input: DestinationInput| {
        input.name = String::new();
        input
    };
    for (d, want) in desired.iter().enumerate() {
        if matched[d].is_some() {
            continue;
        }
        let want = unnamed(comparable(want));
        if let Some(c) =
            (0..current.len()).find(|&c| !used[c] && unnamed(current[c].as_input()) == want)
        {
            used[c] = true;
            matched[d] = Some(c);
        }
    }
    let mut changes = Vec::new();
    let mut steps = Vec::new();
    for (d, want) in desired.iter().enumerate() {
        let line = |action, fields| Change {
            kind: ChangeKind::Notification,
            name: label(d, want),
            action,
            fields,
            restarts: false,
        };
        match matched[d] {
            None => {
                changes.push(line(ChangeAction::Create, Vec::new()));
                steps.push(DestinationStep::Create(d));
            }
            Some(c) => {
                let fields = destination_fields(&current[c], want);
                if fields.is_empty() {
                    changes.push(line(ChangeAction::Unchanged, fields));
                } else {
                    changes.push(line(ChangeAction::Update, fields));
                    steps.push(DestinationStep::Update {
                        id: current[c].id.clone(),
                        index: d,
                    });
                }
            }
        }
    }
    if prune {
        for (c, have) in current.iter().enumerate().filter(|(c, _)| !used[*c]) {
            changes.push(Change {
                kind: ChangeKind::Notification,
                name: label(c, &have.as_input()),
                action: ChangeAction::Delete,
                fields: Vec::new(),
                restarts: false,
            });
            steps.push(DestinationStep::Delete {
                id: have.id.clone(),
            });
        }
    }
    (changes, steps)
}

/// Every field error of `desired`, named `notifications[<label>].<field>`.
fn validate_all(desired: &[DestinationInput]) -> Vec<FieldError> {
    desired
        .iter()
        .enumerate()
        .flat_map(|(index, input)| {
            let resource = format!("notifications[{}]", label(index, input));
            validate_destination(input)
                .into_iter()
                .map(move |e| FieldError::new(format!("{resource}.{}", e.field), e.message))
        })
        .collect()
}

impl Notifications {
    /// Serialises a batch with every other destination change; hold it from plan to finish.
    pub async fn lock_batch(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.writes.lock().await
    }

    /// The stored destinations, oldest first (passwords included: never answer these).
    pub(super) fn stored(&self) -> Result<Vec<StoredDestination>, NotificationError> {
        let mut all: Vec<StoredDestination> = self
            .inner
            .destinations
            .list()?
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// The destinations as a document names them: no ids, no delivery state, no SMTP password.
    pub fn export(&self) -> Result<Vec<DestinationInput>, NotificationError> {
        Ok(self
            .stored()?
            .iter()
            .map(StoredDestination::as_input)
            .collect())
    }

    /// Validates a document's section (every problem at once) and plans it. Changes nothing.
    pub fn plan_batch(
        &self,
        desired: &[DestinationInput],
        prune: bool,
    ) -> Result<NotificationsPlan, NotificationError> {
        let mut errors = validate_all(desired);
        let current = self.stored()?;
        let (changes, steps) = plan_destinations(&current, desired, prune);
        let deleted = steps
            .iter()
            .filter(|s| matches!(s, DestinationStep::Delete { .. }))
            .count();
        let created = steps
            .iter()
            .filter(|s| matches!(s, DestinationStep::Create(_)))
            .count();
        if current.len() + created - deleted > MAX_DESTINATIONS {
            errors.push(FieldError::new(
                "notifications",
                format!("at most {MAX_DESTINATIONS} notification destinations"),
            ));
        }
        if !errors.is_empty() {
            return Err(NotificationError::Invalid(errors));
        }
        Ok(NotificationsPlan {
            changes,
            desired: desired.to_vec(),
            steps,
        })
    }

    /// Stages the records of `plan` into `batch` (nothing is written yet).
    pub fn stage_batch(
        &self,
        plan: &NotificationsPlan,
        batch: &mut WriteBatch,
    ) -> Result<StagedNotifications, NotificationError> {
        let collection = &self.inner.destinations;
        let mut staged = StagedNotifications::default();
        for step in &plan.steps {
            match step {
                DestinationStep::Create(index) => {
                    let input = plan.desired.get(*index).ok_or_else(|| {
                        NotificationError::Internal("a planned destination is missing".into())
                    })?;
                    let next = stored_from(input, None);
                    collection.stage_insert(batch, &next.id, &next)?;
                }
                DestinationStep::Update { id, index } => {
                    let current = self.load(id)?;
                    let input = plan.desired.get(*index).ok_or_else(|| {
                        NotificationError::Internal("a planned destination is missing".into())
                    })?;
                    let next = stored_from(input, Some(&current));
                    collection.stage_insert(batch, id, &next)?;
                }
                DestinationStep::Delete { id } => {
                    collection.stage_remove(batch, id);
                    staged.deleted.push(id.clone());
                }
            }
        }
        Ok(staged)
    }

    /// After the batch is committed: the delivery logs of deleted destinations go too.
    pub fn finish_batch(&self, staged: StagedNotifications) {
        for id in staged.deleted {
            if let Err(e) = self.inner.log.remove_all(&id) {
                tracing::warn!(destination = %id, error = %e, "cannot remove a deleted destination's delivery log");
            }
        }
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
