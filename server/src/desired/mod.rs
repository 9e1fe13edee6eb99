//! Desired state: export the whole configuration as one document (`apiVersion: warden/v1`), plan a
//! document against what is, and apply it. An adapter over the domain handles (services, firewall,
//! settings, notifications, jails): each validates and plans its own section and stages its records;
//! this module puts the staged records into one [`WriteBatch`] that is committed in one sled
//! transaction and flushed, so a validation error anywhere changes nothing, and then lets each domain
//! make its effects (only what changed starts, restarts or stops; a firewall change goes through the
//! commit-confirm apply; only changed jails restart their watchers).
//!
//! A section absent from a document is not managed: it is left as it is (an import names only
//! services). Secrets (users, password hashes, tokens, SMTP passwords) are never exported; a document
//! may set an SMTP password (write-only, as on the API).
//! [`plan`] holds the pure diff.

pub mod plan;

use std::net::IpAddr;

use app::model::service::ServiceInput;
use app::model::state::{
    ApplyOutcome, Change, FirewallDocument, Plan, RuleDocument, SettingsDocument, StateDocument,
    API_VERSION,
};
use app::model::FieldError;

use crate::audit::AuditLog;
use crate::domain_error::DomainError;
use crate::firewall_ctl::{FirewallError, FirewallHandle, MAX_CONFIRM_SECS};
use crate::jails::{JailError, Jails};
use crate::notifications::{NotificationError, Notifications};
use crate::settings::{SettingsError, SettingsHandle};
use crate::store::{Store, StoreError, WriteBatch};
use crate::supervisor::{SupervisorError, SupervisorHandle};

/// Why a document was refused or could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    /// The document itself is invalid (version, request options), by field.
    #[error("invalid document: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Services(#[from] SupervisorError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Notifications(#[from] NotificationError),
    #[error(transparent)]
    Jails(#[from] JailError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DesiredError> for DomainError {
    fn from(e: DesiredError) -> Self {
        match e {
            DesiredError::Invalid(fields) => DomainError::Invalid(fields),
            DesiredError::Services(e) => e.into(),
            DesiredError::Firewall(e) => e.into(),
            DesiredError::Settings(e) => e.into(),
            DesiredError::Notifications(e) => e.into(),
            DesiredError::Jails(e) => e.into(),
            DesiredError::Store(e) => e.into(),
        }
    }
}

/// The domain handles desired state works through.
#[derive(Debug, Clone, Copy)]
pub struct Domains<'a> {
    pub store: &'a Store,
    pub supervisor: &'a SupervisorHandle,
    pub firewall: &'a FirewallHandle,
    pub settings: &'a SettingsHandle,
    pub notifications: &'a Notifications,
    pub jails: &'a Jails,
    pub audit: &'a AuditLog,
}

/// Every domain's plan of one document.
struct Planned {
    services: Option<crate::supervisor::batch::ServicesPlan>,
    firewall: Option<crate::firewall_ctl::batch::FirewallPlan>,
    settings: Option<(Change, app::model::settings::Settings)>,
    notifications: Option<crate::notifications::batch::NotificationsPlan>,
    jails: Option<crate::jails::batch::JailsPlan>,
}

impl Planned {
    fn changes(&self) -> Vec<Change> {
        let mut out = Vec::new();
        if let Some(p) = &self.services {
            out.extend(p.changes.iter().cloned());
        }
        if let Some(p) = &self.firewall {
            out.extend(p.changes.iter().cloned());
        }
        if let Some((line, _)) = &self.settings {
            out.push(line.clone());
        }
        if let Some(p) = &self.notifications {
            out.extend(p.changes.iter().cloned());
        }
        if let Some(p) = &self.jails {
            out.extend(p.changes.iter().cloned());
        }
        out
    }
}

fn check_document(doc: &StateDocument) -> Result<(), DesiredError> {
    let mut errors = Vec::new();
    if doc.api_version != API_VERSION {
        errors.push(FieldError::new(
            "apiVersion",
            format!("this Warden reads {API_VERSION} documents"),
        ));
    }
    if doc.firewall_confirm_within_secs.unwrap_or(0) > MAX_CONFIRM_SECS {
        errors.push(FieldError::new(
            "firewall_confirm_within_secs",
            format!("at most {MAX_CONFIRM_SECS} seconds"),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DesiredError::Invalid(errors))
    }
}

impl Domains<'_> {
    /// The whole desired state as it is now: services, saved rules and policy, settings, notification
    /// destinations (without SMTP passwords), jails (without their runtime state).
    pub fn export(&self) -> Result<StateDocument, DesiredError> {
        let (rules, policy) = self.firewall.saved()?;
        Ok(StateDocument {
            services: Some(
                self.supervisor
                    .specs()
                    .into_iter()
                    .map(|(_, spec)| ServiceInput::from(spec))
                    .collect(),
            ),
            firewall: Some(FirewallDocument {
                default_inbound_policy: Some(policy),
                rules: Some(rules.iter().map(RuleDocument::from).collect()),
            }),
            settings: Some(SettingsDocument::from(&self.settings.current())),
            notifications: Some(self.notifications.export()?),
            jails: Some(self.jails.export()?),
            ..StateDocument::empty()
        })
    }

    /// Validates every section (all problems of all sections at once) and plans it. Services are
    /// judged under the settings the document asks for.
    fn plan_all(&self, doc: &StateDocument) -> Result<Planned, DesiredError> {
        check_document(doc)?;
        let mut invalid = Vec::new();
        let settings = match &doc.settings {
            Some(section) => match self.settings.plan_batch(section) {
                Ok(planned) => Some(planned),
                Err(SettingsError::Invalid(fields)) => {
                    invalid.extend(fields);
                    None
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let firewall = match &doc.firewall {
            Some(section) => match self.firewall.plan_batch(section, doc.prune) {
                Ok(planned) => Some(planned),
                Err(FirewallError::Invalid(fields)) => {
                    invalid.extend(fields);
                    None
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let notifications = match &doc.notifications {
            Some(list) => match self.notifications.plan_batch(list, doc.prune) {
                Ok(planned) => Some(planned),
                Err(NotificationError::Invalid(fields)) => {
                    invalid.extend(fields);
                    None
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let jails = match &doc.jails {
            Some(list) => match self.jails.plan_batch(list, doc.prune) {
                Ok(planned) => Some(planned),
                Err(JailError::Invalid(fields)) => {
                    invalid.extend(fields);
                    None
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let effective = settings
            .as_ref()
            .map(|(_, next)| next.clone())
            .unwrap_or_else(|| self.settings.current());
        let services = match &doc.services {
            Some(list) => match self.supervisor.plan_batch(list, doc.prune, &effective) {
                Ok(planned) => Some(planned),
                Err(SupervisorError::Validation(fields)) => {
                    invalid.extend(fields);
                    None
                }
                Err(SupervisorError::Conflict(fields)) if invalid.is_empty() => {
                    return Err(SupervisorError::Conflict(fields).into())
                }
                Err(SupervisorError::Conflict(fields)) => {
                    invalid.extend(fields);
                    None
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        if !invalid.is_empty() {
            return Err(DesiredError::Invalid(invalid));
        }
        Ok(Planned {
            services,
            firewall,
            settings,
            notifications,
            jails,
        })
    }

    /// The plan of `doc`: what applying it would do. Changes nothing.
    pub async fn plan(&self, doc: &StateDocument) -> Result<Plan, DesiredError> {
        let _services = self.supervisor.lock_batch().await;
        let _settings = self.settings.lock_batch().await;
        let _firewall = self.firewall.lock_batch().await;
        let _notifications = self.notifications.lock_batch().await;
        let _jails = self.jails.lock_batch().await;
        Ok(Plan {
            changes: self.plan_all(doc)?.changes(),
        })
    }

    /// Applies `doc`: validates and plans everything, writes every changed record in one durable
    /// commit (on any error nothing changes), then starts, restarts and stops only what changed, puts
    /// the settings in force and applies a changed firewall (commit-confirm window from the document;
    /// `applying` is the administering address, kept reachable). Recorded in the audit log.
    pub async fn apply(
        &self,
        doc: &StateDocument,
        applying: IpAddr,
    ) -> Result<ApplyOutcome, DesiredError> {
        let result = self.apply_unaudited(doc, applying).await;
        let target = match &result {
            Ok(outcome) => format!(
                "{} of {} resources changed",
                outcome.changes.iter().filter(|c| c.is_change()).count(),
                outcome.changes.len()
            ),
            Err(_) => String::new(),
        };
        self.audit
            .record_result("state.apply", &target, &result)
            .await;
        result
    }

    async fn apply_unaudited(
        &self,
        doc: &StateDocument,
        applying: IpAddr,
    ) -> Result<ApplyOutcome, DesiredError> {
        let services_guard = self.supervisor.lock_batch().await;
        let settings_guard = self.settings.lock_batch().await;
        let firewall_guard = self.firewall.lock_batch().await;
        let notifications_guard = self.notifications.lock_batch().await;
        let jails_guard = self.jails.lock_batch().await;
        let planned = self.plan_all(doc)?;
        let changes = planned.changes();
        let changed = changes.iter().any(Change::is_change);

        let mut batch = WriteBatch::default();
        let staged_services = match &planned.services {
            Some(p) => Some(self.supervisor.stage_batch(p, &mut batch)?),
            None => None,
        };
        if let Some(p) = &planned.firewall {
            self.firewall.stage_batch(p, &mut batch)?;
        }
        let staged_notifications = match &planned.notifications {
            Some(p) => Some(self.notifications.stage_batch(p, &mut batch)?),
            None => None,
        };
        let staged_jails = match &planned.jails {
            Some(p) => Some(self.jails.stage_batch(p, &mut batch)?),
            None => None,
        };
        let new_settings = match planned.settings {
            Some((line, next)) if line.is_change() => {
                self.settings.stage_batch(&next, &mut batch)?;
                Some(next)
            }
            _ => None,
        };
        self.store.commit(batch).await?;

        // Durable: now the effects. Settings first (services start with the new environment).
        if let Some(next) = new_settings {
            self.settings.finish_batch(next).await;
        }
        drop(settings_guard);
        if let Some(staged) = staged_notifications {
            self.notifications.finish_batch(staged);
        }
        drop(notifications_guard);
        if let Some(staged) = staged_jails {
            self.jails.finish_batch(staged).await;
        }
        drop(jails_guard);
        drop(firewall_guard);
        let mut firewall_not_applied = None;
        if let Some(p) = &planned.firewall {
            firewall_not_applied = self
                .firewall
                .finish_batch(p, doc.firewall_confirm_within_secs.unwrap_or(0), applying)
                .await;
        }
        if let Some(staged) = staged_services {
            self.supervisor.finish_batch(staged).await?;
        }
        drop(services_guard);
        Ok(ApplyOutcome {
            changed,
            changes,
            firewall_not_applied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_and_the_confirm_window_are_checked() {
        let mut doc = StateDocument::empty();
        assert!(check_document(&doc).is_ok());
        doc.api_version = "warden/v2".into();
        doc.firewall_confirm_within_secs = Some(MAX_CONFIRM_SECS + 1);
        let Err(DesiredError::Invalid(fields)) = check_document(&doc) else {
            panic!("accepted");
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["apiVersion", "firewall_confirm_within_secs"]);
    }
}
