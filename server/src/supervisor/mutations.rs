//! The service mutations of [`SupervisorHandle`]: validation (the pure rules of `app::model::service`
//! plus the host checks), create, update, delete, start, stop and restart. Each public mutation records
//! its outcome in the audit log, for REST and UI alike; the `_unaudited` bodies do the work.

use std::collections::{BTreeMap, BTreeSet};

use app::model::service::{
    validate_service, Service, ServiceEvent, ServiceInput, ServicePatch, ServiceSpec,
    ValidationContext,
};
use app::model::FieldError;
use tokio::sync::{mpsc, oneshot};

use super::logs::ServiceLog;
use super::record::{ServiceRecord, StoredService};
use super::runner::{Ack, Command};
use super::{spawn, SupervisorError, SupervisorHandle};

pub(super) fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl SupervisorHandle {
    /// Names and ports of every service except `except`.
    fn validation_context(&self, except: Option<&str>) -> ValidationContext {
        let settings = self.settings();
        let slots = self.read_slots();
        // Collected, then built in one go (sorted, bulk-built): cheaper than an insert per name.
        let mut names = Vec::with_capacity(slots.len());
        let mut taken_ports = BTreeMap::new();
        let mut after = BTreeMap::new();
        for (id, slot) in slots.iter() {
            if Some(id.as_str()) == except {
                continue;
            }
            // Only the spec's name, ports and order are needed: read them in place rather than
            // cloning each whole service (status, environment, warnings), which made a create cost
            // grow steeply with the number of services.
            let view = slot.view.lock().unwrap_or_else(|p| p.into_inner());
            let spec = &view.spec;
            for port in &spec.ports {
                taken_ports.insert(*port, spec.name.clone());
            }
            if !spec.after.is_empty() {
                after.insert(spec.name.clone(), spec.after.clone());
            }
            names.push(spec.name.clone());
        }
        drop(slots);
        let taken_names: BTreeSet<String> = names.into_iter().collect();
        ValidationContext {
            // Settings validation refuses an unparsable range; should one be stored, the default applies.
            port_range: settings.service_port_range().unwrap_or_default(),
            taken_names,
            taken_ports,
            after,
        }
    }

    /// The pure validation plus the host checks: the working directory exists, the user exists and
    /// Warden may run a process as it.
    fn validate(
        &self,
        input: &ServiceInput,
        except: Option<&str>,
    ) -> Result<ServiceSpec, SupervisorError> {
        self.validate_in(input, &self.validation_context(except), &self.settings())
    }

    /// [`Self::validate`] against a given view of the other services and the settings (a batch judges
    /// each service against the set it will be part of).
    pub(super) fn validate_in(
        &self,
        input: &ServiceInput,
        context: &ValidationContext,
        settings: &app::model::settings::Settings,
    ) -> Result<ServiceSpec, SupervisorError> {
        let pure = validate_service(input, context);
        let mut host_errors = Vec::new();
        if let Some(dir) = &input.working_directory {
            if dir.starts_with('/') && !spawn::is_directory(dir) {
                host_errors.push(FieldError::new(
                    "working_directory",
                    format!("{dir} does not exist or is not a directory"),
                ));
            }
        }
        host_errors.extend(super::limits::refusals(
            &input.limits,
            &self.inner.env.capabilities(),
        ));
        let user = input.user.as_deref().unwrap_or(&settings.service_user);
        if app::model::service::is_valid_user_name(user) {
            if let Err(e) = spawn::resolve_user(user) {
                host_errors.push(FieldError::new("user", e));
            }
        }
        match pure {
            Ok(spec) if host_errors.is_empty() => Ok(spec),
            Ok(_) => Err(SupervisorError::Validation(host_errors)),
            Err(mut errors) => {
                errors.invalid.extend(host_errors);
                Err(errors.into())
            }
        }
    }

    /// Validates, persists (durably) and — if enabled — starts a new service. Its audit entry is made
    /// durable by the same flush as the service (one fsync, not two, before the API answers); a
    /// failure is audited by the caller.
    async fn create_unaudited(&self, input: ServiceInput) -> Result<Service, SupervisorError> {
        let _guard = self.inner.mutations.lock().await;
        let spec = self.validate(&input, None)?;
        let env = &self.inner.env;
        let record = ServiceRecord {
            id: new_id(),
            spec,
            disabled_reason: None,
            run: None,
        };
        let log = ServiceLog::open(&env.log_dir, &record.spec.name, env.rotation())
            .map_err(|e| SupervisorError::Internal(format!("cannot open the service log: {e}")))?;
        env.records
            .insert(&record.id, &StoredService::from(&record))?;
        let audited = env.audit.stage("service.create", &record.spec.name)?;
        if let Err(e) = env.store.flush().await {
            env.audit.unstage(audited);
            return Err(e.into());
        }
        let id = record.id.clone();
        if let Some(booted) = self.launch_runner(record, log) {
            let _ = booted.await;
        }
        self.get(&id)
    }

    fn commands(&self, id: &str) -> Result<mpsc::UnboundedSender<Command>, SupervisorError> {
        self.read_slots()
            .get(id)
            .map(|slot| slot.commands.clone())
            .ok_or_else(|| SupervisorError::NotFound(id.to_string()))
    }

    async fn ask(
        &self,
        id: &str,
        make: impl FnOnce(Ack) -> Command,
    ) -> Result<Service, SupervisorError> {
        let commands = self.commands(id)?;
        let (done, wait) = oneshot::channel();
        commands
            .send(make(done))
            .map_err(|_| SupervisorError::Internal("the service task has ended".into()))?;
        wait.await
            .map_err(|_| SupervisorError::Internal("the service task has ended".into()))??;
        self.get(id)
    }

    /// Applies a partial update (validated like a create; persisted before it returns). A running
    /// service whose command, directory, environment, user, ports or monitoring changed restarts.
    async fn update_unaudited(
        &self,
        id: &str,
        patch: ServicePatch,
    ) -> Result<Service, SupervisorError> {
        let _guard = self.inner.mutations.lock().await;
        let current = self.get(id)?;
        let input = patch.apply_to(&current.spec);
        let spec = self.validate(&input, Some(id))?;
        let commands = self.commands(id)?;
        let (done, wait) = oneshot::channel();
        commands
            .send(Command::Update(Box::new(spec), done))
            .map_err(|_| SupervisorError::Internal("the service task has ended".into()))?;
        wait.await
            .map_err(|_| SupervisorError::Internal("the service task has ended".into()))??;
        self.get(id)
    }

    /// Stops the service (every process of its group) and deletes it. Its log files stay.
    async fn delete_unaudited(&self, id: &str) -> Result<(), SupervisorError> {
        let _guard = self.inner.mutations.lock().await;
        self.ask(id, Command::Shutdown).await?;
        self.forget_stopped(id).await
    }

    /// After a service's task has shut down: drops its slot and cgroup, removes its record (the task
    /// may have written it once more while stopping), flushes, and announces the deletion.
    pub(super) async fn forget_stopped(&self, id: &str) -> Result<(), SupervisorError> {
        let slot = self.write_slots().remove(id);
        drop(slot);
        if let Some(cgroup) = self.inner.env.cgroup_of(id) {
            if let Err(e) = cgroup.remove() {
                tracing::warn!(service = id, "cannot remove the service's cgroup: {e}");
            }
        }
        self.inner.env.records.remove(id)?;
        self.inner.env.store.flush().await?;
        let _ = self
            .inner
            .env
            .events
            .send(ServiceEvent::ServiceDeleted { id: id.to_string() });
        Ok(())
    }

    /// Enables and starts the service (re-enabling a disabled one).
    async fn start_service_unaudited(&self, id: &str) -> Result<Service, SupervisorError> {
        self.ask(id, Command::Start).await
    }

    /// Disables and stops the service; returns once no process of its group is left.
    async fn stop_service_unaudited(&self, id: &str) -> Result<Service, SupervisorError> {
        self.ask(id, Command::Stop).await
    }

    /// Restarts the service: SIGHUP to its group; started again at once if it exits on it, reloaded in
    /// place if still running after the reload grace. `hard`: stop (stop signal, grace, kill of
    /// everything left) and start. Starts a stopped or disabled service.
    async fn restart_service_unaudited(
        &self,
        id: &str,
        hard: bool,
    ) -> Result<Service, SupervisorError> {
        self.ask(id, |ack| Command::Restart(ack, hard)).await
    }

    // ---- audited mutations: each records its outcome in the audit log, for REST and UI alike ----

    /// Validates, persists (durably) and — if enabled — starts a new service.
    pub async fn create(&self, input: ServiceInput) -> Result<Service, SupervisorError> {
        let name = input.name.clone();
        let result = self.create_unaudited(input).await;
        // A created service's entry was flushed with it (see `create_unaudited`).
        if result.is_err() {
            self.audit("service.create", &name, &result).await;
        }
        result
    }

    /// Applies a partial update (see `update_unaudited`).
    pub async fn update(&self, id: &str, patch: ServicePatch) -> Result<Service, SupervisorError> {
        let target = self.audit_target(id);
        let result = self.update_unaudited(id, patch).await;
        self.audit("service.update", &target, &result).await;
        result
    }

    /// Stops the service (every process of its group) and deletes it. Its log files stay.
    pub async fn delete(&self, id: &str) -> Result<(), SupervisorError> {
        let target = self.audit_target(id);
        let result = self.delete_unaudited(id).await;
        self.audit("service.delete", &target, &result).await;
        result
    }

    /// Enables and starts the service (re-enabling a disabled one).
    pub async fn start_service(&self, id: &str) -> Result<Service, SupervisorError> {
        let target = self.audit_target(id);
        let result = self.start_service_unaudited(id).await;
        self.audit("service.start", &target, &result).await;
        result
    }

    /// Disables and stops the service; returns once no process of its group is left.
    pub async fn stop_service(&self, id: &str) -> Result<Service, SupervisorError> {
        let target = self.audit_target(id);
        let result = self.stop_service_unaudited(id).await;
        self.audit("service.stop", &target, &result).await;
        result
    }

    /// Restarts the service (SIGHUP: started again if it exits on it, else reloaded in place).
    pub async fn restart_service(&self, id: &str) -> Result<Service, SupervisorError> {
        let target = self.audit_target(id);
        let result = self.restart_service_unaudited(id, false).await;
        self.audit("service.restart", &target, &result).await;
        result
    }

    /// Hard restart: stop (stop signal, grace, kill of everything left) and start.
    pub async fn hard_restart_service(&self, id: &str) -> Result<Service, SupervisorError> {
        let target = self.audit_target(id);
        let result = self.restart_service_unaudited(id, true).await;
        self.audit("service.restart_hard", &target, &result).await;
        result
    }

    /// `name (id)` of a service for the audit log, or the id alone when there is no such service.
    fn audit_target(&self, id: &str) -> String {
        match self.get(id) {
            Ok(service) => format!("{} ({id})", service.spec.name),
            Err(_) => id.to_string(),
        }
    }

    async fn audit<T>(&self, action: &str, target: &str, result: &Result<T, SupervisorError>) {
        self.inner
            .env
            .audit
            .record_result(action, target, result)
            .await;
    }
}
