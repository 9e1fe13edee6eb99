//! A service as the API serves it: its definition with an `id` and the read-only `status` (state, pid,
//! restarts, last exit, health, warnings, containment), its processes and resource usage, and the events
//! the UI and `/api/v1/events` receive. Re-exported from [`super::service`].

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::service::ServiceSpec;

/// A service as the API serves it: `id`, the fields of its [`ServiceSpec`] and `status` in one object.
/// (`Deserialize` by hand, see below.)
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Service {
    pub id: String,
    #[serde(flatten)]
    pub spec: ServiceSpec,
    pub status: ServiceStatus,
}

/// The same object `#[serde(flatten)]` reads, without its cost in the WASM: a flattened field makes
/// serde buffer the object into its `Content` tree and read the spec from that, a second instantiation
/// of the deserializers of `ServiceSpec` and of everything in it (and serde's `FlatMapDeserializer`),
/// in the main module since the live updates read services. Here the spec reads the object itself, its
/// keys passing through [`IdAndStatus`], which takes `id` and `status` out on the way.
impl<'de> Deserialize<'de> for Service {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ServiceVisitor;
        impl<'de> Visitor<'de> for ServiceVisitor {
            type Value = Service;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("struct Service")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Service, A::Error> {
                let mut rest = IdAndStatus {
                    map,
                    id: None,
                    status: None,
                };
                let spec =
                    ServiceSpec::deserialize(de::value::MapAccessDeserializer::new(&mut rest))?;
                let id = rest.id.ok_or_else(|| de::Error::missing_field("id"))?;
                let status = rest
                    .status
                    .ok_or_else(|| de::Error::missing_field("status"))?;
                Ok(Service { id, spec, status })
            }
        }
        deserializer.deserialize_map(ServiceVisitor)
    }
}

/// A service object's entries as its spec sees them: all but `id` and `status`, which are kept here.
struct IdAndStatus<A> {
    map: A,
    id: Option<String>,
    status: Option<ServiceStatus>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for IdAndStatus<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<String>()? {
            match key.as_str() {
                "id" if self.id.is_some() => return Err(de::Error::duplicate_field("id")),
                "id" => self.id = Some(self.map.next_value()?),
                "status" if self.status.is_some() => {
                    return Err(de::Error::duplicate_field("status"))
                }
                "status" => self.status = Some(self.map.next_value()?),
                _ => {
                    return seed
                        .deserialize(IntoDeserializer::<A::Error>::into_deserializer(key))
                        .map(Some)
                }
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    Starting,
    Running,
    Backoff,
    Stopping,
    Stopped,
    Disabled,
    /// Ended by its restart policy (`on_failure` after an exit 0, `never` after any exit).
    Exited,
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Starting => "starting",
            ServiceState::Running => "running",
            ServiceState::Backoff => "backoff",
            ServiceState::Stopping => "stopping",
            ServiceState::Stopped => "stopped",
            ServiceState::Disabled => "disabled",
            ServiceState::Exited => "exited",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Health {
    #[default]
    Unknown,
    Passing,
    Failing,
}

/// How the last run ended: exit `code`, or the `signal` that killed it; `at` is RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LastExit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// Exited 0 leaving processes in its group: it forked into the background.
    Daemonized,
    /// A reserved port has no listening socket after the grace period.
    PortNotListening,
    /// A reserved port is bound to loopback only (unreachable from outside; bind `::`).
    PortLoopbackOnly,
    /// The service's log file cannot be written (disk full, read-only, permissions): its output is
    /// dropped until it can; the service itself keeps running.
    LogNotWritable,
    /// Its memory exceeded `limits.memory_max_bytes`: it was restarted.
    MemoryLimit,
}

/// Something about a running service an operator should fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceWarning {
    pub kind: WarningKind,
    pub port: Option<u16>,
    pub message: String,
}

/// The read-only `status` object of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceStatus {
    pub state: ServiceState,
    pub pid: Option<u32>,
    pub started_at: Option<String>,
    pub restarts: u32,
    pub last_exit: Option<LastExit>,
    pub disabled_reason: Option<String>,
    pub health: Health,
    #[serde(default)]
    pub warnings: Vec<ServiceWarning>,
    /// Orders the snapshots of this service: a newer one has a larger revision. It grows by one with
    /// each change, from a start value taken from the clock when Warden starts supervising the service
    /// (so it keeps growing across restarts of Warden). A client that holds a snapshot from the event
    /// stream ignores an older one that arrives later (e.g. the answer to the action that caused it).
    #[serde(default)]
    pub revision: u64,
    /// How the service's processes are held together: its own cgroup (v2), or only its process group
    /// where no writable cgroup2 exists (then a child that calls `setsid` escapes).
    #[serde(default)]
    pub containment: Containment,
}

/// `status.containment`: `cgroup` or `process_group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Containment {
    /// Every process of the service is in its own cgroup; stop ends the whole cgroup.
    Cgroup,
    /// Only the process group: a child that leaves it (`setsid`) is not tracked.
    #[default]
    ProcessGroup,
}

impl ServiceStatus {
    /// The status of a service that is not running.
    pub fn stopped() -> Self {
        ServiceStatus {
            state: ServiceState::Stopped,
            pid: None,
            started_at: None,
            restarts: 0,
            last_exit: None,
            disabled_reason: None,
            health: Health::Unknown,
            warnings: Vec::new(),
            revision: 0,
            containment: Containment::ProcessGroup,
        }
    }
}

/// One process of a service's process group (`GET /api/v1/services/{id}/processes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub command: String,
    /// CPU use over a short sampling interval (about 200 ms), in percent of one core.
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub started_at: String,
}

/// The resources a service uses now (`GET /api/v1/services/{id}/usage`): every process of its cgroup
/// (or, without cgroups, of its process group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceUsage {
    pub containment: Containment,
    /// CPU time used, in microseconds: the cgroup's `cpu.stat` `usage_usec` (every process it ever
    /// held), else the sum over the live processes of the group.
    pub cpu_usage_usec: u64,
    /// Memory in bytes: the cgroup's `memory.current` where the memory controller is enabled, else
    /// the sum of the processes' RSS.
    pub memory_bytes: u64,
    /// `memory.current` or `rss`.
    pub memory_source: String,
    /// How many live processes the service has.
    pub processes: u32,
}

/// A change the UI and `/api/v1/events` care about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServiceEvent {
    /// The service was created or its definition or status changed; carries the new state.
    Service { service: Box<Service> },
    /// The service was deleted.
    ServiceDeleted { id: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written `Deserialize` reads what the flattened `Serialize` writes, and refuses what
    /// `#[serde(flatten)]` refused.
    #[test]
    fn a_service_reads_back_as_written() {
        let json = r#"{"id":"x","name":"web","command":"true","working_directory":null,
            "environment":{"A":"1"},"ports":[8300],"user":null,"enabled":true,"extra":1,
            "status":{"state":"running","pid":7,"started_at":null,"restarts":2,"last_exit":null,
            "disabled_reason":null,"health":"unknown"}}"#;
        let service: Service = serde_json::from_str(json).unwrap();
        assert_eq!(
            (service.id.as_str(), service.spec.name.as_str()),
            ("x", "web")
        );
        assert_eq!(service.spec.ports, vec![8300]);
        assert_eq!(service.status.restarts, 2);
        let again: Service =
            serde_json::from_str(&serde_json::to_string(&service).unwrap()).unwrap();
        assert_eq!(again, service);
        let value: Service =
            serde_json::from_value(serde_json::to_value(&service).unwrap()).unwrap();
        assert_eq!(value, service);

        let without = |key: &str| {
            let mut v = serde_json::to_value(&service).unwrap();
            v.as_object_mut().unwrap().remove(key);
            serde_json::from_value::<Service>(v).is_err()
        };
        assert!(without("id") && without("status") && without("name"));
        assert!(serde_json::from_str::<Service>(r#"{"id":"x","id":"y"}"#).is_err());
        assert!(serde_json::from_str::<Service>("[]").is_err());
    }
}
