//! A partial change to the settings (`PATCH /api/v1/settings`, the settings page, later the CLI and
//! desired state): absent fields keep their value, nested objects merge field by field, `environment` is
//! replaced as a whole. Pure: merging and naming what changed; validation is in `app::model::settings`.

use std::collections::BTreeMap;

use serde::Deserialize;

use app::model::settings::{BanSettings, CrashLoopSettings, Settings};

/// A settings change: absent fields keep their value. Unknown fields are rejected at every level.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub hostname: Option<String>,
    pub environment: Option<BTreeMap<String, String>>,
    pub service_user: Option<String>,
    pub service_ports: Option<String>,
    pub crash_loop: Option<CrashLoopPatch>,
    pub ban: Option<BanPatch>,
    /// Replaces the list as a whole.
    pub allowed_hosts: Option<Vec<String>>,
    /// Replaces the list as a whole.
    pub trusted_proxies: Option<Vec<String>>,
    /// Replaces the list as a whole; `[]` = the ports sshd listens on (else 22).
    pub ssh_ports: Option<Vec<u16>>,
    /// `GET /metrics` without a token from a direct loopback connection.
    pub metrics_loopback_without_token: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CrashLoopPatch {
    pub max_failures: Option<u32>,
    pub window_secs: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanPatch {
    pub max_failures: Option<u32>,
    pub window_secs: Option<u64>,
    pub ban_secs: Option<u64>,
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}

impl SettingsPatch {
    /// The patch that replaces every field with `settings`' value (the settings page saves a whole form).
    pub fn replacing_all(settings: Settings) -> SettingsPatch {
        SettingsPatch {
            hostname: Some(settings.hostname),
            environment: Some(settings.environment),
            service_user: Some(settings.service_user),
            service_ports: Some(settings.service_ports.to_string()),
            crash_loop: Some(CrashLoopPatch {
                max_failures: Some(settings.crash_loop.max_failures),
                window_secs: Some(settings.crash_loop.window_secs),
            }),
            ban: Some(BanPatch {
                max_failures: Some(settings.ban.max_failures),
                window_secs: Some(settings.ban.window_secs),
                ban_secs: Some(settings.ban.ban_secs),
            }),
            allowed_hosts: Some(settings.allowed_hosts),
            trusted_proxies: Some(settings.trusted_proxies),
            ssh_ports: Some(settings.ssh_ports),
            metrics_loopback_without_token: Some(settings.metrics_loopback_without_token),
        }
    }

    /// The settings that result from applying this patch to `current` (validate before use).
    pub fn apply_to(self, current: &Settings) -> Settings {
        let mut s = current.clone();
        set(&mut s.hostname, self.hostname);
        set(&mut s.environment, self.environment);
        set(&mut s.service_user, self.service_user);
        set(&mut s.service_ports, self.service_ports);
        if let Some(p) = self.crash_loop {
            let c: &mut CrashLoopSettings = &mut s.crash_loop;
            set(&mut c.max_failures, p.max_failures);
            set(&mut c.window_secs, p.window_secs);
        }
        if let Some(p) = self.ban {
            let b: &mut BanSettings = &mut s.ban;
            set(&mut b.max_failures, p.max_failures);
            set(&mut b.window_secs, p.window_secs);
            set(&mut b.ban_secs, p.ban_secs);
        }
        set(&mut s.allowed_hosts, self.allowed_hosts);
        set(&mut s.trusted_proxies, self.trusted_proxies);
        set(&mut s.ssh_ports, self.ssh_ports);
        set(
            &mut s.metrics_loopback_without_token,
            self.metrics_loopback_without_token,
        );
        s
    }

    /// The names of the fields this patch sets (the audit log's target when it is refused).
    pub fn field_names(&self) -> Vec<&'static str> {
        let fields: [(&'static str, bool); 10] = [
            ("hostname", self.hostname.is_some()),
            ("environment", self.environment.is_some()),
            ("service_user", self.service_user.is_some()),
            ("service_ports", self.service_ports.is_some()),
            ("crash_loop", self.crash_loop.is_some()),
            ("ban", self.ban.is_some()),
            ("allowed_hosts", self.allowed_hosts.is_some()),
            ("trusted_proxies", self.trusted_proxies.is_some()),
            ("ssh_ports", self.ssh_ports.is_some()),
            (
                "metrics_loopback_without_token",
                self.metrics_loopback_without_token.is_some(),
            ),
        ];
        fields
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| name)
            .collect()
    }
}

/// The names of the top-level settings that differ between `a` and `b` (the audit log's target).
pub fn changed_fields(a: &Settings, b: &Settings) -> Vec<&'static str> {
    let fields: [(&'static str, bool); 10] = [
        ("hostname", a.hostname != b.hostname),
        ("environment", a.environment != b.environment),
        ("service_user", a.service_user != b.service_user),
        ("service_ports", a.service_ports != b.service_ports),
        ("crash_loop", a.crash_loop != b.crash_loop),
        ("ban", a.ban != b.ban),
        ("allowed_hosts", a.allowed_hosts != b.allowed_hosts),
        ("trusted_proxies", a.trusted_proxies != b.trusted_proxies),
        ("ssh_ports", a.ssh_ports != b.ssh_ports),
        (
            "metrics_loopback_without_token",
            a.metrics_loopback_without_token != b.metrics_loopback_without_token,
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_fields_name_only_what_differs() {
        let a = Settings::defaults("box".into(), "nobody".into());
        let mut b = a.clone();
        assert!(changed_fields(&a, &b).is_empty());
        b.hostname = "other".into();
        b.ban.ban_secs += 1;
        assert_eq!(changed_fields(&a, &b), ["hostname", "ban"]);
    }

    #[test]
    fn patch_merges_nested_fields_and_rejects_unknown_ones() {
        let current = Settings::defaults("box".into(), "nobody".into());
        let patch: SettingsPatch =
            serde_json::from_str(r#"{"hostname": "h2", "crash_loop": {"window_secs": 5}}"#)
                .expect("valid patch");
        assert_eq!(patch.field_names(), ["hostname", "crash_loop"]);
        let next = patch.apply_to(&current);
        assert_eq!(next.hostname, "h2");
        assert_eq!(next.crash_loop.window_secs, 5);
        assert_eq!(
            next.crash_loop.max_failures,
            current.crash_loop.max_failures
        );
        assert_eq!(next.environment, current.environment);
        for bad in [
            r#"{"nope": 1}"#,
            r#"{"crash_loop": {"nope": 1}}"#,
            r#"{"ban": {"x": 1}}"#,
        ] {
            assert!(serde_json::from_str::<SettingsPatch>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replacing_all_yields_exactly_the_given_settings() {
        let current = Settings::defaults("box".into(), "nobody".into());
        let mut wanted = current.clone();
        wanted.hostname = "new".into();
        wanted.crash_loop.max_failures = 9;
        wanted.ban.window_secs = 30;
        wanted.allowed_hosts = vec!["panel.example.com".into()];
        wanted.trusted_proxies = vec!["10.0.0.0/8".into()];
        wanted.ssh_ports = vec![2222];
        wanted.metrics_loopback_without_token = true;
        let patch = SettingsPatch::replacing_all(wanted.clone());
        assert_eq!(patch.field_names().len(), 10);
        assert_eq!(patch.apply_to(&current), wanted);
    }
}
