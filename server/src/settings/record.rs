//! The settings document as it is stored (`settings` tree, key [`SETTINGS_KEY`]): a server-side record,
//! separate from the wire DTO `app::model::settings::Settings`, so a change to the UI's or the API's shape
//! cannot change the on-disk format by accident.
//!
//! Versioning: records are versioned by the store's schema version (`store::SCHEMA_VERSION`). This record
//! is the layout schema version 1 has always written (the same JSON the settings DTO produced before the
//! two were separated); a change to it bumps the schema version and adds a migration in `store`. Fields
//! added since (`allowed_hosts`, `trusted_proxies`, `ssh_ports`, `metrics_loopback_without_token`) are
//! optional: absent in an older record they read as empty (false), and empty (false) they are not
//! written, so a record without them keeps its exact bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use app::model::settings::{BanSettings, CrashLoopSettings, Settings};

/// The key of the settings document in the settings tree.
pub const SETTINGS_KEY: &str = "settings";

/// The stored settings (schema version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRecord {
    pub hostname: String,
    pub environment: BTreeMap<String, String>,
    pub service_user: String,
    /// The service port range as `"first:last"`.
    pub service_ports: String,
    pub crash_loop: CrashLoopRecord,
    pub ban: BanRecord,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_ports: Vec<u16>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub metrics_loopback_without_token: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashLoopRecord {
    pub max_failures: u32,
    pub window_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanRecord {
    pub max_failures: u32,
    pub window_secs: u64,
    pub ban_secs: u64,
}

impl From<&Settings> for SettingsRecord {
    fn from(s: &Settings) -> Self {
        SettingsRecord {
            hostname: s.hostname.clone(),
            environment: s.environment.clone(),
            service_user: s.service_user.clone(),
            service_ports: s.service_ports.to_string(),
            crash_loop: CrashLoopRecord {
                max_failures: s.crash_loop.max_failures,
                window_secs: s.crash_loop.window_secs,
            },
            ban: BanRecord {
                max_failures: s.ban.max_failures,
                window_secs: s.ban.window_secs,
                ban_secs: s.ban.ban_secs,
            },
            allowed_hosts: s.allowed_hosts.clone(),
            trusted_proxies: s.trusted_proxies.clone(),
            ssh_ports: s.ssh_ports.clone(),
            metrics_loopback_without_token: s.metrics_loopback_without_token,
        }
    }
}

impl From<SettingsRecord> for Settings {
    fn from(r: SettingsRecord) -> Self {
        Settings {
            hostname: r.hostname,
            environment: r.environment,
            service_user: r.service_user,
            service_ports: r.service_ports,
            crash_loop: CrashLoopSettings {
                max_failures: r.crash_loop.max_failures,
                window_secs: r.crash_loop.window_secs,
            },
            ban: BanSettings {
                max_failures: r.ban.max_failures,
                window_secs: r.ban.window_secs,
                ban_secs: r.ban.ban_secs,
            },
            allowed_hosts: r.allowed_hosts,
            trusted_proxies: r.trusted_proxies,
            ssh_ports: r.ssh_ports,
            metrics_loopback_without_token: r.metrics_loopback_without_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact JSON schema version 1 stores (written by Warden before records and DTOs were separated).
    const STORED_V1: &str = r#"{"hostname":"box","environment":{"PATH":"/usr/bin:/bin","TZ":"UTC"},"service_user":"nobody","service_ports":"8300:8499","crash_loop":{"max_failures":5,"window_secs":60},"ban":{"max_failures":50,"window_secs":600,"ban_secs":600}}"#;

    #[test]
    fn reads_and_writes_the_version_1_layout_byte_for_byte() {
        let record: SettingsRecord = serde_json::from_str(STORED_V1).unwrap();
        let settings = Settings::from(record.clone());
        assert_eq!(settings.hostname, "box");
        assert_eq!(settings.environment["TZ"], "UTC");
        assert_eq!(settings.ban.ban_secs, 600);
        let back = SettingsRecord::from(&settings);
        assert_eq!(back, record);
        assert_eq!(serde_json::to_string(&back).unwrap(), STORED_V1);
    }

    #[test]
    fn the_host_lists_round_trip() {
        let mut settings =
            Settings::from(serde_json::from_str::<SettingsRecord>(STORED_V1).unwrap());
        settings.allowed_hosts = vec!["panel.example.com".into()];
        settings.trusted_proxies = vec!["10.0.0.0/8".into()];
        settings.ssh_ports = vec![22, 2222];
        let json = serde_json::to_string(&SettingsRecord::from(&settings)).unwrap();
        let back = Settings::from(serde_json::from_str::<SettingsRecord>(&json).unwrap());
        assert_eq!(back, settings);
    }
}
