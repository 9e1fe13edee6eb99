//! Presets: one-click inbound accept rules for well-known functions (SSH, web, mail, databases, ...).
//!
//! Opening a preset adds its rules (each annotated `preset:<name> <title>`); closing it removes the
//! rules of the rule set that carry that annotation prefix ([`preset_rule_ids`]). FTP opens the
//! control port 21 only: passive data ports need a fixed passive range configured in the FTP server,
//! which the admin then opens with an ordinary rule.

use serde::{Deserialize, Serialize};

use crate::model::{Action, Direction, IpVersion, Protocol, RuleInput};
use crate::ruleset::RuleSet;

/// Annotation prefix marking rules added by a preset.
pub const PRESET_ANNOTATION_PREFIX: &str = "preset:";

/// A preset: a named group of inbound accept rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preset {
    /// Slug used in `POST /api/v1/firewall/presets/{name}`.
    pub name: String,
    /// Short display title.
    pub title: String,
    /// One sentence for the UI.
    pub description: String,
    /// The rules it adds (no id/position), in order.
    pub rules: Vec<RuleInput>,
}

struct Def {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    rules: &'static [(Protocol, &'static [&'static str])],
}

const DEFS: &[Def] = &[
    Def {
        name: "ssh",
        title: "SSH",
        description: "Remote shell and file transfer (SSH/SFTP) on TCP 22.",
        rules: &[(Protocol::Tcp, &["22"])],
    },
    Def {
        name: "http",
        title: "HTTP",
        description: "Plain web traffic on TCP 80.",
        rules: &[(Protocol::Tcp, &["80"])],
    },
    Def {
        name: "https",
        title: "HTTPS",
        description: "Encrypted web traffic on 443: TCP, and UDP for HTTP/3 (QUIC).",
        rules: &[(Protocol::Any, &["443"])],
    },
    Def {
        name: "smtp",
        title: "SMTP / submission",
        description: "Mail delivery (25) and mail submission (465 SMTPS, 587 submission) on TCP.",
        rules: &[(Protocol::Tcp, &["25", "465", "587"])],
    },
    Def {
        name: "imap",
        title: "IMAP / IMAPS",
        description: "Mailbox access over IMAP (143) and IMAPS (993) on TCP.",
        rules: &[(Protocol::Tcp, &["143", "993"])],
    },
    Def {
        name: "pop3",
        title: "POP3 / POP3S",
        description: "Mailbox download over POP3 (110) and POP3S (995) on TCP.",
        rules: &[(Protocol::Tcp, &["110", "995"])],
    },
    Def {
        name: "ftp",
        title: "FTP",
        description:
            "FTP control connections on TCP 21 (open the server's passive port range separately).",
        rules: &[(Protocol::Tcp, &["21"])],
    },
    Def {
        name: "postgresql",
        title: "PostgreSQL",
        description: "PostgreSQL database on TCP 5432.",
        rules: &[(Protocol::Tcp, &["5432"])],
    },
    Def {
        name: "mysql",
        title: "MySQL / MariaDB",
        description: "MySQL or MariaDB database on TCP 3306.",
        rules: &[(Protocol::Tcp, &["3306"])],
    },
    Def {
        name: "redis",
        title: "Redis",
        description: "Redis on TCP 6379 (Redis has weak authentication: prefer restricting hosts).",
        rules: &[(Protocol::Tcp, &["6379"])],
    },
    Def {
        name: "mongodb",
        title: "MongoDB",
        description: "MongoDB on TCP 27017.",
        rules: &[(Protocol::Tcp, &["27017"])],
    },
    Def {
        name: "memcached",
        title: "Memcached",
        description:
            "Memcached on TCP 11211 (UDP stays closed: it is abused for amplification attacks).",
        rules: &[(Protocol::Tcp, &["11211"])],
    },
    Def {
        name: "mattermost",
        title: "Mattermost",
        description: "Mattermost web and API on TCP 8065.",
        rules: &[(Protocol::Tcp, &["8065"])],
    },
    Def {
        name: "service-range",
        title: "Service range 8300–8499",
        description: "Every service port (8300–8499, TCP and UDP) reachable from outside.",
        rules: &[(Protocol::Any, &["8300:8499"])],
    },
];

/// The annotation of the rules a preset adds.
pub fn preset_annotation(name: &str, title: &str) -> String {
    format!("{PRESET_ANNOTATION_PREFIX}{name} {title}")
}

fn build(def: &Def) -> Preset {
    Preset {
        name: def.name.to_string(),
        title: def.title.to_string(),
        description: def.description.to_string(),
        rules: def
            .rules
            .iter()
            .map(|(protocol, ports)| RuleInput {
                position: None,
                enabled: Some(true),
                protocol: Some(*protocol),
                action: Some(Action::Accept),
                direction: Some(Direction::In),
                hosts: Some(Vec::new()),
                ports: Some(ports.iter().map(|p| p.to_string()).collect()),
                ip_version: Some(IpVersion::Any),
                annotation: Some(preset_annotation(def.name, def.title)),
            })
            .collect(),
    }
}

/// Every preset, in display order.
pub fn presets() -> Vec<Preset> {
    DEFS.iter().map(build).collect()
}

/// The preset with this slug.
pub fn preset(name: &str) -> Option<Preset> {
    DEFS.iter().find(|d| d.name == name).map(build)
}

/// Ids of the rules in `rules` that the preset `name` added (annotation `preset:<name>` or
/// `preset:<name> ...`): the rules to delete to close it.
pub fn preset_rule_ids(rules: &RuleSet, name: &str) -> Vec<String> {
    let tag = format!("{PRESET_ANNOTATION_PREFIX}{name}");
    rules
        .rules
        .iter()
        .filter(|r| {
            r.annotation
                .strip_prefix(&tag)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        })
        .map(|r| r.id.clone())
        .collect()
}

/// Whether preset `name` is open: it has rules in the set and all of them are enabled.
pub fn preset_is_open(rules: &RuleSet, name: &str) -> bool {
    let ids = preset_rule_ids(rules, name);
    !ids.is_empty()
        && ids
            .iter()
            .all(|id| rules.get(id).is_some_and(|r| r.enabled))
}
