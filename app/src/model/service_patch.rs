//! The body of `PATCH /api/v1/services/{id}` ([`ServicePatch`]): absent fields are kept, and for
//! nullable fields an explicit `null` clears; [`ServicePatch::apply_to`] turns it into a full input that
//! the shared validation then checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::service::{
    MonitoringTimings, RestartPolicy, ServiceInput, ServiceLimits, ServiceSpec, StopSignalName,
};

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn explicit_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The body of `PATCH /api/v1/services/{id}`: absent fields are kept; for nullable fields `null` clears.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServicePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(
        default,
        deserialize_with = "explicit_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
    pub working_directory: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<BTreeMap<String, String>>,
    #[serde(
        default,
        deserialize_with = "explicit_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
    pub monitoring_command: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<u16>>,
    #[serde(
        default,
        deserialize_with = "explicit_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
    pub user: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_ports_outside_range: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<StopSignalName>,
    #[serde(
        default,
        deserialize_with = "explicit_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<u64>))]
    pub stop_grace_secs: Option<Option<u64>>,
    #[serde(
        default,
        deserialize_with = "explicit_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<u64>))]
    pub reload_grace_secs: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// Replaces the whole monitoring schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringTimings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<String>>,
    /// Replaces all the limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ServiceLimits>,
}

impl ServicePatch {
    /// The input that results from applying this patch to `spec` (validate it before use).
    pub fn apply_to(&self, spec: &ServiceSpec) -> ServiceInput {
        let mut input = ServiceInput::from(spec.clone());
        if let Some(v) = &self.name {
            input.name = v.clone();
        }
        if let Some(v) = &self.command {
            input.command = v.clone();
        }
        if let Some(v) = &self.working_directory {
            input.working_directory = v.clone();
        }
        if let Some(v) = &self.environment {
            input.environment = v.clone();
        }
        if let Some(v) = &self.monitoring_command {
            input.monitoring_command = v.clone();
        }
        if let Some(v) = &self.ports {
            input.ports = v.clone();
        }
        if let Some(v) = &self.user {
            input.user = v.clone();
        }
        if let Some(v) = self.enabled {
            input.enabled = v;
        }
        if let Some(v) = self.allow_ports_outside_range {
            input.allow_ports_outside_range = v;
        }
        if let Some(v) = self.stop_signal {
            input.stop_signal = v;
        }
        if let Some(v) = self.stop_grace_secs {
            input.stop_grace_secs = v;
        }
        if let Some(v) = self.reload_grace_secs {
            input.reload_grace_secs = v;
        }
        if let Some(v) = self.restart {
            input.restart = v;
        }
        if let Some(v) = self.monitoring {
            input.monitoring = v;
        }
        if let Some(v) = &self.after {
            input.after = v.clone();
        }
        if let Some(v) = self.limits {
            input.limits = v;
        }
        input
    }
}
