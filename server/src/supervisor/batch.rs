//! The batch entry point of the service domain, for desired state (`PUT /api/v1/state`) and the
//! upsert by name (`PUT /api/v1/services/by-name/{name}`): plan a whole set of services at once
//! (each validated against the set it will be part of, errors named `services[<name>].<field>`),
//! stage the records into a [`WriteBatch`] that the caller commits together with the other domains'
//! records, and then make the processes follow ([`SupervisorHandle::finish_batch`]): deleted
//! services stop, changed ones are updated exactly as a PATCH would (`spec_change`), new ones start.
//! The caller holds [`SupervisorHandle::lock_batch`] from planning until the batch is finished.

use std::collections::{BTreeMap, BTreeSet};

use app::model::service::{Service, ServiceInput, ServiceSpec, ValidationContext};
use app::model::settings::Settings;
use app::model::state::{Change, ChangeAction};
use app::model::FieldError;
use tokio::sync::oneshot;

use super::logs::ServiceLog;
use super::mutations::new_id;
use super::record::{ServiceRecord, StoredService};
use super::runner::Command;
use super::{SupervisorError, SupervisorHandle};
use crate::desired::plan::{plan_services, ServiceStep, SpecDefaults};
use crate::store::WriteBatch;

/// The planned service changes of a batch.
#[derive(Debug)]
pub struct ServicesPlan {
    /// One line per service named (and per service deleted).
    pub changes: Vec<Change>,
    steps: Vec<ServiceStep>,
}

/// What a committed batch still has to do to the processes.
#[derive(Debug, Default)]
pub struct StagedServices {
    creates: Vec<ServiceRecord>,
    updates: Vec<(String, ServiceSpec)>,
    deletes: Vec<String>,
}

/// The field of a service in a document: `services[<name>].<field>`.
fn prefixed(name: &str, index: usize, errors: Vec<FieldError>) -> Vec<FieldError> {
    let resource = if name.is_empty() {
        format!("services[{index}]")
    } else {
        format!("services[{name}]")
    };
    errors
        .into_iter()
        .map(|e| FieldError::new(format!("{resource}.{}", e.field), e.message))
        .collect()
}

impl SupervisorHandle {
    /// Serialises a batch with every other service mutation; hold it from plan to finish.
    pub async fn lock_batch(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.mutations.lock().await
    }

    /// What a `null` lifecycle field stands for here (the supervisor's configured timings).
    pub fn spec_defaults(&self) -> SpecDefaults {
        let c = &self.inner.env.config;
        SpecDefaults {
            stop_grace_secs: c.stop_grace.as_secs(),
            reload_grace_secs: c.reload_grace.as_secs(),
            monitoring_grace_secs: c.monitor_grace.as_secs(),
            monitoring_interval_secs: c.monitor_interval.as_secs(),
            monitoring_timeout_secs: c.monitor_timeout.as_secs(),
        }
    }

    /// Every service's `(id, spec)`, by name.
    pub fn specs(&self) -> Vec<(String, ServiceSpec)> {
        self.list().into_iter().map(|s| (s.id, s.spec)).collect()
    }

    /// Validates `desired` as a whole (names unique, each service against the others it will live
    /// with, under `settings`) and plans it. Every problem of every service is reported; nothing is
    /// changed. Services the set does not name are deleted when `prune`, else kept.
    pub fn plan_batch(
        &self,
        desired: &[ServiceInput],
        prune: bool,
        settings: &Settings,
    ) -> Result<ServicesPlan, SupervisorError> {
        let current = self.specs();
        let named: BTreeSet<&str> = desired.iter().map(|s| s.name.as_str()).collect();
        // The services that stay besides the desired ones.
        let kept: Vec<&ServiceSpec> = current
            .iter()
            .map(|(_, spec)| spec)
            .filter(|spec| !prune && !named.contains(spec.name.as_str()))
            .collect();
        let port_range = settings.service_port_range().unwrap_or_default();
        let mut invalid = Vec::new();
        let mut conflicts = Vec::new();
        let mut specs = Vec::new();
        let mut seen = BTreeSet::new();
        for (index, input) in desired.iter().enumerate() {
            if !seen.insert(input.name.as_str()) {
                invalid.extend(prefixed(
                    &input.name,
                    index,
                    vec![FieldError::new("name", "this name is listed twice")],
                ));
                continue;
            }
            let mut context = ValidationContext {
                port_range,
                taken_names: BTreeSet::new(),
                taken_ports: BTreeMap::new(),
                after: BTreeMap::new(),
            };
            let mut add = |name: &str, ports: &[u16], after: &[String]| {
                context.taken_names.insert(name.to_string());
                for port in ports {
                    context.taken_ports.insert(*port, name.to_string());
                }
                context.after.insert(name.to_string(), after.to_vec());
            };
            for spec in kept.iter().copied() {
                add(&spec.name, &spec.ports, &spec.after);
            }
            for other in desired.iter().filter(|d| d.name != input.name) {
                add(&other.name, &other.ports, &other.after);
            }
            match self.validate_in(input, &context, settings) {
                Ok(spec) => specs.push(spec),
                Err(SupervisorError::Validation(errors)) => {
                    invalid.extend(prefixed(&input.name, index, errors))
                }
                Err(SupervisorError::Conflict(errors)) => {
                    conflicts.extend(prefixed(&input.name, index, errors))
                }
                Err(other) => return Err(other),
            }
        }
        if !invalid.is_empty() {
            invalid.extend(conflicts);
            return Err(SupervisorError::Validation(invalid));
        }
        if !conflicts.is_empty() {
            return Err(SupervisorError::Conflict(conflicts));
        }
        let (changes, steps) = plan_services(&current, &specs, prune, &self.spec_defaults());
        Ok(ServicesPlan { changes, steps })
    }

    /// Stages the records of `plan` into `batch` (nothing is written yet).
    pub fn stage_batch(
        &self,
        plan: &ServicesPlan,
        batch: &mut WriteBatch,
    ) -> Result<StagedServices, SupervisorError> {
        let records = &self.inner.env.records;
        let mut staged = StagedServices::default();
        for step in &plan.steps {
            match step {
                ServiceStep::Create(spec) => {
                    let record = ServiceRecord {
                        id: new_id(),
                        spec: spec.clone(),
                        disabled_reason: None,
                        run: None,
                    };
                    records.stage_insert(batch, &record.id, &StoredService::from(&record))?;
                    staged.creates.push(record);
                }
                ServiceStep::Update { id, spec } => {
                    let stored = records
                        .get(id)?
                        .ok_or_else(|| SupervisorError::NotFound(id.clone()))?;
                    let mut record = ServiceRecord::from(stored);
                    if spec.enabled && !record.spec.enabled {
                        record.disabled_reason = None;
                    }
                    record.spec = spec.clone();
                    records.stage_insert(batch, id, &StoredService::from(&record))?;
                    staged.updates.push((id.clone(), spec.clone()));
                }
                ServiceStep::Delete { id } => {
                    records.stage_remove(batch, id);
                    staged.deletes.push(id.clone());
                }
            }
        }
        Ok(staged)
    }

    /// After the batch is committed: stops and forgets deleted services, updates changed ones (a
    /// running service restarts only when its launch changed, as on PATCH) and starts new ones. Each
    /// step is recorded in the audit log. Returns once new services have booted.
    pub async fn finish_batch(&self, staged: StagedServices) -> Result<(), SupervisorError> {
        let mut first_error = None;
        for id in staged.deletes {
            let target = self.audit_target_of(&id);
            let result = self.forget(&id).await;
            self.audit_outcome("service.delete", &target, &result).await;
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        for (id, spec) in staged.updates {
            let target = format!("{} ({id})", spec.name);
            let result = self.adopt(&id, spec).await;
            self.audit_outcome("service.update", &target, &result).await;
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        let mut booted = Vec::new();
        for record in staged.creates {
            let target = format!("{} ({})", record.spec.name, record.id);
            let env = &self.inner.env;
            let result =
                ServiceLog::open(&env.log_dir, &record.spec.name, env.rotation()).map_err(|e| {
                    SupervisorError::Internal(format!("cannot open the service log: {e}"))
                });
            let result = result.map(|log| booted.extend(self.launch_runner(record, log)));
            self.audit_outcome("service.create", &target, &result).await;
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        for done in booted {
            let _ = done.await;
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Hands an already persisted definition to the service's task (which applies it as a PATCH).
    async fn adopt(&self, id: &str, spec: ServiceSpec) -> Result<(), SupervisorError> {
        let commands = self
            .read_slots()
            .get(id)
            .map(|slot| slot.commands.clone())
            .ok_or_else(|| SupervisorError::NotFound(id.to_string()))?;
        let (done, wait) = oneshot::channel();
        commands
            .send(Command::Update(Box::new(spec), done))
            .map_err(|_| SupervisorError::Internal("the service task has ended".into()))?;
        wait.await
            .map_err(|_| SupervisorError::Internal("the service task has ended".into()))??;
        Ok(())
    }

    /// Stops a service whose record is already removed and drops its task and cgroup.
    async fn forget(&self, id: &str) -> Result<(), SupervisorError> {
        let commands = self
            .read_slots()
            .get(id)
            .map(|slot| slot.commands.clone())
            .ok_or_else(|| SupervisorError::NotFound(id.to_string()))?;
        let (done, wait) = oneshot::channel();
        if commands.send(Command::Shutdown(done)).is_ok() {
            let _ = wait.await;
        }
        self.forget_stopped(id).await
    }

    /// `name (id)` for the audit log.
    fn audit_target_of(&self, id: &str) -> String {
        match self.get(id) {
            Ok(service) => format!("{} ({id})", service.spec.name),
            Err(_) => id.to_string(),
        }
    }

    async fn audit_outcome<T>(
        &self,
        action: &str,
        target: &str,
        result: &Result<T, SupervisorError>,
    ) {
        self.inner
            .env
            .audit
            .record_result(action, target, result)
            .await;
    }

    /// Creates or replaces the service named `input.name` (a whole definition: absent fields take
    /// their defaults), idempotently: the same definition again changes and restarts nothing.
    /// Returns whether it was created, the plan line and the service.
    pub async fn upsert_by_name(
        &self,
        input: ServiceInput,
    ) -> Result<(bool, Change, Service), SupervisorError> {
        let name = input.name.clone();
        let result = self.upsert_unaudited(input).await;
        if result.is_err() {
            self.audit_outcome("service.upsert", &name, &result).await;
        }
        result
    }

    async fn upsert_unaudited(
        &self,
        input: ServiceInput,
    ) -> Result<(bool, Change, Service), SupervisorError> {
        let name = input.name.clone();
        let guard = self.lock_batch().await;
        // Errors name the fields of the one service (the path names the resource).
        let strip = |errors: Vec<FieldError>| -> Vec<FieldError> {
            errors
                .into_iter()
                .map(|e| {
                    let field = e
                        .field
                        .split_once("].")
                        .map_or(e.field.clone(), |(_, f)| f.to_string());
                    FieldError::new(field, e.message)
                })
                .collect()
        };
        let plan = self
            .plan_batch(std::slice::from_ref(&input), false, &self.settings())
            .map_err(|e| match e {
                SupervisorError::Validation(errors) => SupervisorError::Validation(strip(errors)),
                SupervisorError::Conflict(errors) => SupervisorError::Conflict(strip(errors)),
                other => other,
            })?;
        let change = plan
            .changes
            .first()
            .cloned()
            .ok_or_else(|| SupervisorError::Internal("an empty plan for one service".into()))?;
        let mut batch = WriteBatch::default();
        let staged = self.stage_batch(&plan, &mut batch)?;
        self.inner.env.store.commit(batch).await?;
        self.finish_batch(staged).await?;
        drop(guard);
        let service = self
            .list()
            .into_iter()
            .find(|s| s.spec.name == name)
            .ok_or_else(|| SupervisorError::NotFound(name.clone()))?;
        Ok((change.action == ChangeAction::Create, change, service))
    }
}
