//! The stored form of a service: [`StoredService`], the value of sled tree `services` (keyed by the
//! service id), and its conversions to and from the supervisor's in-memory [`ServiceRecord`].
//!
//! The stored types are the on-disk format and belong to the server alone; the wire DTO
//! ([`ServiceSpec`], shared with the UI crate) may change without changing what is on disk, because
//! the only way between them is the explicit field-by-field conversion here.
//!
//! Versions: [`StoredService::version`] is absent in every record written before it existed and in
//! every version-1 record written since (it is serialised only when it is not 1), so version-1 JSON
//! is byte for byte what Warden wrote before the stored types were split from the DTOs. Its fields in
//! order: `id`, `spec` {`name`, `command`, `working_directory`, `environment`, `monitoring_command`,
//! `ports`, `user`, `enabled`, `allow_ports_outside_range`}, `disabled_reason`, `run` {`pgid`,
//! `start_ticks`}. A future format bumps [`SERVICE_RECORD_VERSION`] and converts older versions when
//! reading them (`server/tests/store_migration.rs` opens a store written by the first format).

use std::collections::BTreeMap;

use app::model::service::{
    MonitoringTimings, RestartPolicy, ServiceLimits, ServiceSpec, StopSignalName,
};
use serde::{Deserialize, Serialize};

/// The version of [`StoredService`] this build writes.
pub const SERVICE_RECORD_VERSION: u32 = 1;

/// A service as the supervisor keeps it in memory: its definition and what must survive a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    pub id: String,
    pub spec: ServiceSpec,
    /// Set while disabled by the crash-loop rule; survives Warden restarts until started again.
    pub disabled_reason: Option<String>,
    /// The running process group, for finding it after a Warden crash.
    pub run: Option<RunRecord>,
}

/// A running process group: its id (= the leader's pid) and the leader's start time in ticks after boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRecord {
    pub pgid: u32,
    pub start_ticks: u64,
}

/// One value of the `services` tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredService {
    /// The record format; absent means 1 (see the module header).
    #[serde(default = "version_1", skip_serializing_if = "is_version_1")]
    pub version: u32,
    pub id: String,
    pub spec: StoredSpec,
    #[serde(default)]
    pub disabled_reason: Option<String>,
    #[serde(default)]
    pub run: Option<StoredRun>,
}

fn version_1() -> u32 {
    1
}

fn is_version_1(version: &u32) -> bool {
    *version == 1
}

/// The stored service definition (version 1). `Option`s are written as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSpec {
    pub name: String,
    pub command: String,
    pub working_directory: Option<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    pub monitoring_command: Option<String>,
    #[serde(default)]
    pub ports: Vec<u16>,
    pub user: Option<String>,
    pub enabled: bool,
    #[serde(default)]
    pub allow_ports_outside_range: bool,
    /// The per-service lifecycle settings; absent (and not written) while all are the defaults, so
    /// records of services that do not use them are byte for byte what earlier builds wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<StoredLifecycle>,
}

/// The stored lifecycle settings (names as the API spells them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLifecycle {
    pub stop_signal: String,
    pub stop_grace_secs: Option<u64>,
    pub reload_grace_secs: Option<u64>,
    pub restart: String,
    pub monitoring_grace_secs: Option<u64>,
    pub monitoring_interval_secs: Option<u64>,
    pub monitoring_timeout_secs: Option<u64>,
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub memory_max_bytes: Option<u64>,
    #[serde(default)]
    pub tasks_max: Option<u64>,
    #[serde(default)]
    pub cpu_max_percent: Option<u32>,
    #[serde(default)]
    pub nofile: Option<u64>,
}

impl StoredLifecycle {
    fn of(spec: &ServiceSpec) -> Option<StoredLifecycle> {
        let stored = StoredLifecycle {
            stop_signal: spec.stop_signal.as_str().to_string(),
            stop_grace_secs: spec.stop_grace_secs,
            reload_grace_secs: spec.reload_grace_secs,
            restart: spec.restart.as_str().to_string(),
            monitoring_grace_secs: spec.monitoring.grace_secs,
            monitoring_interval_secs: spec.monitoring.interval_secs,
            monitoring_timeout_secs: spec.monitoring.timeout_secs,
            after: spec.after.clone(),
            memory_max_bytes: spec.limits.memory_max_bytes,
            tasks_max: spec.limits.tasks_max,
            cpu_max_percent: spec.limits.cpu_max_percent,
            nofile: spec.limits.nofile,
        };
        let default = StoredLifecycle {
            stop_signal: StopSignalName::default().as_str().to_string(),
            stop_grace_secs: None,
            reload_grace_secs: None,
            restart: RestartPolicy::default().as_str().to_string(),
            monitoring_grace_secs: None,
            monitoring_interval_secs: None,
            monitoring_timeout_secs: None,
            after: Vec::new(),
            memory_max_bytes: None,
            tasks_max: None,
            cpu_max_percent: None,
            nofile: None,
        };
        (stored != default).then_some(stored)
    }
}

/// The stored running process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRun {
    pub pgid: u32,
    pub start_ticks: u64,
}

impl From<&ServiceRecord> for StoredService {
    fn from(record: &ServiceRecord) -> StoredService {
        StoredService {
            version: SERVICE_RECORD_VERSION,
            id: record.id.clone(),
            spec: StoredSpec::from(&record.spec),
            disabled_reason: record.disabled_reason.clone(),
            run: record.run.map(|run| StoredRun {
                pgid: run.pgid,
                start_ticks: run.start_ticks,
            }),
        }
    }
}

impl From<StoredService> for ServiceRecord {
    fn from(stored: StoredService) -> ServiceRecord {
        // Version 1 is the only format so far; a later one converts older records here.
        ServiceRecord {
            id: stored.id,
            spec: stored.spec.into(),
            disabled_reason: stored.disabled_reason,
            run: stored.run.map(|run| RunRecord {
                pgid: run.pgid,
                start_ticks: run.start_ticks,
            }),
        }
    }
}

impl From<&ServiceSpec> for StoredSpec {
    fn from(spec: &ServiceSpec) -> StoredSpec {
        let ServiceSpec {
            name,
            command,
            working_directory,
            environment,
            monitoring_command,
            ports,
            user,
            enabled,
            allow_ports_outside_range,
            stop_signal: _,
            stop_grace_secs: _,
            reload_grace_secs: _,
            restart: _,
            monitoring: _,
            after: _,
            limits: _,
        } = spec;
        StoredSpec {
            lifecycle: StoredLifecycle::of(spec),
            name: name.clone(),
            command: command.clone(),
            working_directory: working_directory.clone(),
            environment: environment.clone(),
            monitoring_command: monitoring_command.clone(),
            ports: ports.clone(),
            user: user.clone(),
            enabled: *enabled,
            allow_ports_outside_range: *allow_ports_outside_range,
        }
    }
}

impl From<StoredSpec> for ServiceSpec {
    fn from(stored: StoredSpec) -> ServiceSpec {
        let StoredSpec {
            name,
            command,
            working_directory,
            environment,
            monitoring_command,
            ports,
            user,
            enabled,
            allow_ports_outside_range,
            lifecycle,
        } = stored;
        let lifecycle = lifecycle.unwrap_or(StoredLifecycle {
            stop_signal: String::new(),
            stop_grace_secs: None,
            reload_grace_secs: None,
            restart: String::new(),
            monitoring_grace_secs: None,
            monitoring_interval_secs: None,
            monitoring_timeout_secs: None,
            after: Vec::new(),
            memory_max_bytes: None,
            tasks_max: None,
            cpu_max_percent: None,
            nofile: None,
        });
        ServiceSpec {
            name,
            command,
            working_directory,
            environment,
            monitoring_command,
            ports,
            user,
            enabled,
            allow_ports_outside_range,
            // An unknown name (only a damaged record has one) falls back to the default.
            stop_signal: StopSignalName::parse(&lifecycle.stop_signal).unwrap_or_default(),
            stop_grace_secs: lifecycle.stop_grace_secs,
            reload_grace_secs: lifecycle.reload_grace_secs,
            restart: RestartPolicy::parse(&lifecycle.restart).unwrap_or_default(),
            monitoring: MonitoringTimings {
                grace_secs: lifecycle.monitoring_grace_secs,
                interval_secs: lifecycle.monitoring_interval_secs,
                timeout_secs: lifecycle.monitoring_timeout_secs,
            },
            after: lifecycle.after,
            limits: ServiceLimits {
                memory_max_bytes: lifecycle.memory_max_bytes,
                tasks_max: lifecycle.tasks_max,
                cpu_max_percent: lifecycle.cpu_max_percent,
                nofile: lifecycle.nofile,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as Warden wrote it before the stored types existed (commit 72ff2d3).
    const WRITTEN_BEFORE: &str = r#"{"id":"00c0ffee00c0ffee","spec":{"name":"web","command":"./serve","working_directory":"/srv","environment":{"A":"1","B":"2"},"monitoring_command":null,"ports":[8300,8301],"user":null,"enabled":true,"allow_ports_outside_range":false},"disabled_reason":"failed 5 times within 60 s","run":{"pgid":4242,"start_ticks":99}}"#;

    #[test]
    fn version_1_reads_and_writes_the_bytes_written_before() -> Result<(), serde_json::Error> {
        let stored: StoredService = serde_json::from_str(WRITTEN_BEFORE)?;
        assert_eq!(stored.version, 1);
        let record = ServiceRecord::from(stored);
        assert_eq!(record.spec.ports, vec![8300, 8301]);
        assert_eq!(record.spec.working_directory.as_deref(), Some("/srv"));
        assert_eq!(
            record.run,
            Some(RunRecord {
                pgid: 4242,
                start_ticks: 99
            })
        );
        let written = serde_json::to_string(&StoredService::from(&record))?;
        assert_eq!(written, WRITTEN_BEFORE);
        Ok(())
    }

    #[test]
    fn a_minimal_record_takes_the_defaults() -> Result<(), serde_json::Error> {
        let stored: StoredService = serde_json::from_str(
            r#"{"id":"1","spec":{"name":"a","command":"true","working_directory":null,"monitoring_command":null,"user":null,"enabled":false}}"#,
        )?;
        assert_eq!(stored.version, 1);
        let record = ServiceRecord::from(stored);
        assert!(record.spec.environment.is_empty());
        assert!(record.spec.ports.is_empty());
        assert!(!record.spec.allow_ports_outside_range);
        assert_eq!(record.disabled_reason, None);
        assert_eq!(record.run, None);
        Ok(())
    }

    #[test]
    fn lifecycle_settings_round_trip_and_defaults_are_not_written() -> Result<(), serde_json::Error>
    {
        let stored: StoredService = serde_json::from_str(WRITTEN_BEFORE)?;
        let mut record = ServiceRecord::from(stored);
        assert_eq!(record.spec.stop_signal, StopSignalName::Term);
        assert_eq!(record.spec.restart, RestartPolicy::Always);
        record.spec.stop_signal = StopSignalName::Int;
        record.spec.stop_grace_secs = Some(60);
        record.spec.restart = RestartPolicy::OnFailure;
        record.spec.monitoring.interval_secs = Some(5);
        record.spec.after = vec!["db".into()];
        record.spec.limits.nofile = Some(4096);
        let written = serde_json::to_string(&StoredService::from(&record))?;
        assert!(
            written.contains(r#""lifecycle":{"stop_signal":"INT""#),
            "{written}"
        );
        let back = ServiceRecord::from(serde_json::from_str::<StoredService>(&written)?);
        assert_eq!(back, record);
        Ok(())
    }

    #[test]
    fn a_later_version_is_written_out() -> Result<(), serde_json::Error> {
        let mut stored: StoredService = serde_json::from_str(WRITTEN_BEFORE)?;
        stored.version = 2;
        let written = serde_json::to_string(&stored)?;
        assert!(written.starts_with(r#"{"version":2,"id":"#), "{written}");
        Ok(())
    }
}
