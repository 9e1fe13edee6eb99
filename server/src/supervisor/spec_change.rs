//! What a changed service definition does to the running service, pure: [`classify`] takes the old and
//! the new [`ServiceSpec`] and says whether the service starts, stops, restarts or keeps running, whether
//! its log is renamed and whether a crash-loop disable is lifted. The effects shell (`runner`) performs
//! the answer; the table tests below pin which field does what.
//!
//! Every field of [`ServiceSpec`] is destructured by name, so a new field does not compile until it is
//! given a rule here.

use app::model::service::ServiceSpec;

/// What an update does to the service's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecEffect {
    /// Nothing: the running process (if any) already matches the new definition.
    Keep,
    /// The service was disabled and is enabled now: start it.
    Start,
    /// The service is disabled by the update (or stays disabled): stop it.
    Stop,
    /// The service stays enabled and how it is launched changed: restart it with the new definition.
    Restart,
}

/// Everything an update implies, besides persisting the new definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecChange {
    pub effect: SpecEffect,
    /// The name changed: the log file follows it.
    pub renamed: bool,
    /// The update enables a disabled service: a crash-loop `disabled_reason` no longer holds.
    pub clears_disabled_reason: bool,
}

/// The effect of replacing `old` by `new`.
///
/// A change of how the command is launched — command, working directory, environment, user, ports
/// (they are in the environment) or monitoring command — restarts an enabled service. A new name or
/// `allow_ports_outside_range` (only a validation rule) does not.
pub fn classify(old: &ServiceSpec, new: &ServiceSpec) -> SpecChange {
    let ServiceSpec {
        name,
        command,
        working_directory,
        environment,
        monitoring_command,
        ports,
        user,
        enabled,
        allow_ports_outside_range: _,
        // Read at the next stop, restart, exit or check: nothing to do to the running process.
        stop_signal: _,
        stop_grace_secs: _,
        reload_grace_secs: _,
        restart: _,
        monitoring: _,
        after: _,
        limits,
    } = new;
    let launch_changed = old.command != *command
        || old.working_directory != *working_directory
        || old.environment != *environment
        || old.user != *user
        || old.ports != *ports
        || old.monitoring_command != *monitoring_command
        // Set when the process starts (rlimit, cgroup files).
        || old.limits != *limits;
    let effect = if !enabled {
        SpecEffect::Stop
    } else if !old.enabled {
        SpecEffect::Start
    } else if launch_changed {
        SpecEffect::Restart
    } else {
        SpecEffect::Keep
    };
    SpecChange {
        effect,
        renamed: old.name != *name,
        clears_disabled_reason: *enabled && !old.enabled,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec {
            name: "web".into(),
            command: "python3 -m http.server 8300".into(),
            working_directory: Some("/srv/web".into()),
            environment: BTreeMap::from([("MODE".into(), "prod".into())]),
            monitoring_command: Some("curl -f localhost:8300".into()),
            ports: vec![8300],
            user: Some("www".into()),
            enabled: true,
            allow_ports_outside_range: false,
            stop_signal: Default::default(),
            stop_grace_secs: None,
            reload_grace_secs: None,
            restart: Default::default(),
            monitoring: Default::default(),
            after: Vec::new(),
            limits: Default::default(),
        }
    }

    /// One change per field of an enabled service, and the effect it must have.
    #[test]
    fn each_field_of_an_enabled_service() {
        type Edit = fn(&mut ServiceSpec);
        let table: &[(&str, Edit, SpecEffect, bool)] = &[
            ("nothing", |_| {}, SpecEffect::Keep, false),
            ("name", |s| s.name = "site".into(), SpecEffect::Keep, true),
            (
                "allow_ports_outside_range",
                |s| s.allow_ports_outside_range = true,
                SpecEffect::Keep,
                false,
            ),
            (
                "command",
                |s| s.command = "./serve".into(),
                SpecEffect::Restart,
                false,
            ),
            (
                "working_directory",
                |s| s.working_directory = None,
                SpecEffect::Restart,
                false,
            ),
            (
                "environment value",
                |s| {
                    s.environment.insert("MODE".into(), "dev".into());
                },
                SpecEffect::Restart,
                false,
            ),
            (
                "environment key added",
                |s| {
                    s.environment.insert("DEBUG".into(), "1".into());
                },
                SpecEffect::Restart,
                false,
            ),
            (
                "monitoring_command",
                |s| s.monitoring_command = None,
                SpecEffect::Restart,
                false,
            ),
            ("ports", |s| s.ports.push(8301), SpecEffect::Restart, false),
            ("user", |s| s.user = None, SpecEffect::Restart, false),
            ("enabled", |s| s.enabled = false, SpecEffect::Stop, false),
            (
                "name and command",
                |s| {
                    s.name = "site".into();
                    s.command = "./serve".into();
                },
                SpecEffect::Restart,
                true,
            ),
            (
                "disabled and command",
                |s| {
                    s.enabled = false;
                    s.command = "./serve".into();
                },
                SpecEffect::Stop,
                false,
            ),
        ];
        for (field, edit, effect, renamed) in table {
            let old = spec();
            let mut new = spec();
            edit(&mut new);
            let change = classify(&old, &new);
            assert_eq!(change.effect, *effect, "changing {field}");
            assert_eq!(change.renamed, *renamed, "changing {field}");
            assert!(!change.clears_disabled_reason, "changing {field}");
        }
    }

    /// A disabled service starts when enabled (whatever else changed) and otherwise stays stopped.
    #[test]
    fn a_disabled_service_starts_only_when_enabled() {
        type Edit = fn(&mut ServiceSpec);
        let table: &[(&str, Edit, SpecEffect, bool)] = &[
            ("nothing", |_| {}, SpecEffect::Stop, false),
            (
                "command",
                |s| s.command = "./serve".into(),
                SpecEffect::Stop,
                false,
            ),
            ("enabled", |s| s.enabled = true, SpecEffect::Start, true),
            (
                "enabled and command",
                |s| {
                    s.enabled = true;
                    s.command = "./serve".into();
                },
                SpecEffect::Start,
                true,
            ),
        ];
        for (field, edit, effect, clears) in table {
            let old = ServiceSpec {
                enabled: false,
                ..spec()
            };
            let mut new = old.clone();
            edit(&mut new);
            let change = classify(&old, &new);
            assert_eq!(change.effect, *effect, "changing {field}");
            assert_eq!(change.clears_disabled_reason, *clears, "changing {field}");
            assert!(!change.renamed, "changing {field}");
        }
    }
}
