//! Renderer tests: golden JSON batch and text for a representative rule set (regenerate with
//! `UPDATE_GOLDEN=1`), and — as root, inside a throwaway namespace — `nft -c` accepting the batch,
//! the text, and random valid rule sets (proptest).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::rule;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use warden_firewall::{
    render_ruleset, Action, ApplyContext, Ban, Direction, FirewallConfig, IpVersion, Policy,
    Protocol, Rule, RuleSet,
};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The representative rule set of the golden files.
pub fn representative() -> (RuleSet, FirewallConfig, ApplyContext) {
    let rules = RuleSet::new(vec![
        rule("ssh-admins", |r| {
            r.protocol = Protocol::Tcp;
            r.ports = strings(&["22"]);
            r.hosts = strings(&["198.51.100.0/24", "2001:db8:100::/48"]);
            r.annotation = "admins".into();
        }),
        rule("web", |r| {
            r.ports = strings(&["80", "443"]);
            r.annotation = "web, HTTP/3 too".into();
        }),
        rule("backup", |r| {
            r.protocol = Protocol::Tcp;
            r.ports = strings(&["8300:8310"]);
            r.hosts = strings(&["backup.example.org", "198.51.100.9"]);
            r.annotation = "backup service".into();
        }),
        rule("block-net", |r| {
            r.action = Action::Drop;
            r.hosts = strings(&["203.0.113.0/24"]);
            r.ip_version = IpVersion::V4;
        }),
        rule("rej-udp6", |r| {
            r.protocol = Protocol::Udp;
            r.action = Action::Reject;
            r.ports = strings(&["5000-5010", "6000"]);
            r.ip_version = IpVersion::V6;
        }),
        rule("rej-any", |r| {
            r.action = Action::Reject;
            r.ports = strings(&["8399"]);
        }),
        rule("off", |r| {
            r.enabled = false;
            r.ports = strings(&["9999"]);
        }),
        rule("no-smtp-out", |r| {
            r.protocol = Protocol::Tcp;
            r.action = Action::Reject;
            r.direction = Direction::Out;
            r.hosts = strings(&["192.0.2.200"]);
            r.ports = strings(&["25"]);
            r.annotation = "say \"no\" to spam".into();
        }),
    ]);
    let config = FirewallConfig {
        default_inbound_policy: Policy::Drop,
        admin_port: 8080,
        anti_lockout: vec![
            "198.51.100.7".parse().unwrap(),
            "2001:db8::7".parse().unwrap(),
        ],
        ..FirewallConfig::default()
    };
    let mut resolved = BTreeMap::new();
    resolved.insert(
        "backup.example.org".to_string(),
        vec![
            "203.0.113.10".parse::<IpAddr>().unwrap(),
            "2001:db8:5::10".parse().unwrap(),
        ],
    );
    let context = ApplyContext {
        resolved_hosts: resolved,
        bans: vec![
            Ban {
                network: "203.0.113.99".parse().unwrap(),
                expires_in_secs: Some(600),
            },
            Ban {
                network: "2001:db8:bad::/64".parse().unwrap(),
                expires_in_secs: Some(300),
            },
        ],
    };
    (rules, config, context)
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    if actual != expected {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
        panic!(
            "{} differs from line {}: got {:?}, expected {:?} (run with UPDATE_GOLDEN=1 to accept)",
            path.display(),
            line + 1,
            actual.lines().nth(line),
            expected.lines().nth(line)
        );
    }
}

#[test]
fn output_chain_only_with_enabled_outbound_rules() {
    let render = |rules: Vec<Rule>| {
        render_ruleset(
            &RuleSet::new(rules),
            &FirewallConfig::default(),
            &ApplyContext::default(),
        )
        .unwrap()
        .text
    };
    let inbound = rule("web", |r| r.ports = strings(&["80"]));
    let outbound = |enabled: bool| {
        rule("no-smtp", |r| {
            r.direction = Direction::Out;
            r.enabled = enabled;
            r.ports = strings(&["25"]);
            r.action = Action::Drop;
        })
    };
    // No outbound rule: nothing would ever be refused on the way out, so no hook on that path.
    let text = render(vec![inbound.clone()]);
    assert!(!text.contains("chain output {"), "{text}");
    assert!(
        text.contains("chain output_raw {"),
        "loopback stays untracked: {text}"
    );
    let text = render(vec![inbound.clone(), outbound(false)]);
    assert!(
        !text.contains("chain output {"),
        "a disabled rule is inert: {text}"
    );
    let text = render(vec![inbound, outbound(true)]);
    let output = &text[text.find("chain output {").expect("output chain")..];
    let first_rule = output.lines().nth(2).unwrap_or_default().trim();
    assert_eq!(first_rule, "oif \"lo\" accept", "loopback first: {output}");
    assert!(
        output.contains("th dport 25 meta l4proto { tcp, udp } counter drop"),
        "{output}"
    );
}

#[test]
fn golden_batch_and_text() {
    let (rules, config, context) = representative();
    let rendered = render_ruleset(&rules, &config, &context).unwrap();
    golden(
        "ruleset.json",
        &(serde_json::to_string_pretty(&rendered.batch).unwrap() + "\n"),
    );
    golden("ruleset.nft", &rendered.text);
}

#[test]
fn batch_replaces_only_warden_table_atomically() {
    let (rules, config, context) = representative();
    let batch = render_ruleset(&rules, &config, &context).unwrap().batch;
    let commands = batch["nftables"].as_array().unwrap();
    let table = serde_json::json!({"family": "inet", "name": "warden"});
    assert_eq!(commands[0], serde_json::json!({"add": {"table": table}}));
    assert_eq!(commands[1], serde_json::json!({"delete": {"table": table}}));
    assert_eq!(commands[2], serde_json::json!({"add": {"table": table}}));
    let text = batch.to_string();
    assert!(!text.contains("flush"), "never flushes");
    for command in commands {
        let (_, object) = command.as_object().unwrap().iter().next().unwrap();
        let (_, body) = object.as_object().unwrap().iter().next().unwrap();
        assert_eq!(body["family"], "inet");
        let table = body.get("table").unwrap_or(&body["name"]);
        assert_eq!(table, "warden");
    }
}

#[test]
fn unresolved_hostname_names_the_host() {
    let (rules, config, mut context) = representative();
    context.resolved_hosts.clear();
    let err = render_ruleset(&rules, &config, &context).unwrap_err();
    assert!(err.to_string().contains("backup.example.org"), "{err}");
    let fields = err.field_errors(&rules);
    assert_eq!(fields[0].field, "rules[2].hosts[0]");
}

#[cfg(feature = "nft")]
mod kernel {
    use super::*;
    use crate::common::{require_root_netns, NsBackend};
    use proptest::prelude::*;
    use warden_testkit::Netns;

    #[test]
    fn nft_check_accepts_golden_batch_and_text() {
        if !require_root_netns() {
            return;
        }
        let ns = Netns::new("chk");
        let backend = ns.backend();
        let (rules, config, context) = representative();
        let rendered = render_ruleset(&rules, &config, &context).unwrap();
        backend
            .check(&rendered)
            .expect("nft -c -j accepts the batch");
        backend
            .check_text(&rendered)
            .expect("nft -c -f accepts the text");
        // Applying the batch and the text gives the same kernel table.
        backend.apply(&rendered).expect("apply batch");
        let from_batch = backend.fingerprint().unwrap().unwrap();
        backend.delete_table().unwrap();
        assert_eq!(backend.fingerprint().unwrap(), None);
        let script_ns = Netns::new("chk2");
        let status = std::process::Command::new("ip")
            .args(["netns", "exec", &script_ns.name, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(rendered.nft_script().as_bytes())?;
                child.wait()
            })
            .unwrap();
        assert!(status.success());
        let from_text = script_ns.backend().fingerprint().unwrap().unwrap();
        assert_eq!(
            from_batch, from_text,
            "text and batch install the same table"
        );
    }

    fn arb_host() -> impl Strategy<Value = String> {
        prop_oneof![
            (any::<[u8; 4]>(), 0u8..=32)
                .prop_map(|(a, l)| format!("{}.{}.{}.{}/{l}", a[0], a[1], a[2], a[3])),
            any::<[u8; 4]>().prop_map(|a| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])),
            (any::<u128>(), 0u8..=128)
                .prop_map(|(a, l)| format!("{}/{l}", std::net::Ipv6Addr::from(a))),
            any::<u128>().prop_map(|a| std::net::Ipv6Addr::from(a).to_string()),
            Just("host.example.org".to_string()),
        ]
    }

    fn arb_port() -> impl Strategy<Value = String> {
        prop_oneof![
            (1u16..=65535).prop_map(|p| p.to_string()),
            (1u16..=65535, 0u16..2000).prop_map(|(a, d)| format!("{a}:{}", a.saturating_add(d))),
            (1u16..=65535, 0u16..2000).prop_map(|(a, d)| format!("{a}-{}", a.saturating_add(d))),
            Just("0:65535".to_string()),
        ]
    }

    fn arb_rule(index: usize) -> impl Strategy<Value = Rule> {
        (
            any::<bool>(),
            prop_oneof![
                Just(Protocol::Tcp),
                Just(Protocol::Udp),
                Just(Protocol::Any)
            ],
            prop_oneof![
                Just(Action::Accept),
                Just(Action::Drop),
                Just(Action::Reject)
            ],
            prop_oneof![Just(Direction::In), Just(Direction::Out)],
            prop_oneof![
                Just(IpVersion::V4),
                Just(IpVersion::V6),
                Just(IpVersion::Any)
            ],
            proptest::collection::vec(arb_host(), 0..6),
            proptest::collection::vec(arb_port(), 0..5),
            "[ -~]{0,40}",
        )
            .prop_map(
                move |(enabled, protocol, action, direction, ip_version, hosts, ports, note)| {
                    let hosts = hosts
                        .into_iter()
                        .filter(|h| match ip_version {
                            IpVersion::V4 => !h.contains(':'),
                            IpVersion::V6 => h.contains(':') || h.contains("example"),
                            IpVersion::Any => true,
                        })
                        .collect();
                    Rule {
                        id: format!("r{index}"),
                        position: 0,
                        enabled,
                        protocol,
                        action,
                        direction,
                        hosts,
                        ports,
                        ip_version,
                        annotation: note,
                    }
                },
            )
    }

    fn arb_ruleset() -> impl Strategy<Value = (RuleSet, FirewallConfig)> {
        (
            proptest::collection::vec(any::<u8>(), 0..8),
            any::<bool>(),
            any::<u16>(),
        )
            .prop_flat_map(|(seeds, drop_policy, admin)| {
                let rules: Vec<_> = (0..seeds.len()).map(arb_rule).collect();
                (rules, Just(drop_policy), Just(admin))
            })
            .prop_map(|(rules, drop_policy, admin)| {
                let config = FirewallConfig {
                    default_inbound_policy: if drop_policy {
                        Policy::Drop
                    } else {
                        Policy::Accept
                    },
                    admin_port: admin,
                    anti_lockout: vec!["192.0.2.9".parse().unwrap()],
                    ..FirewallConfig::default()
                };
                (RuleSet::new(rules), config)
            })
    }

    #[test]
    fn random_valid_rulesets_pass_nft_check() {
        if !require_root_netns() {
            return;
        }
        let ns = Netns::new("prop");
        let backend = ns.backend();
        let mut resolved = BTreeMap::new();
        resolved.insert(
            "host.example.org".to_string(),
            vec![
                "203.0.113.5".parse::<IpAddr>().unwrap(),
                "2001:db8::5".parse().unwrap(),
            ],
        );
        let context = ApplyContext {
            resolved_hosts: resolved,
            bans: vec![Ban {
                network: "2001:db8:66::/64".parse().unwrap(),
                expires_in_secs: Some(60),
            }],
        };
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 64,
            ..ProptestConfig::default()
        });
        runner
            .run(&arb_ruleset(), |(rules, config)| {
                let rendered = render_ruleset(&rules, &config, &context)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                backend
                    .check(&rendered)
                    .map_err(|e| TestCaseError::fail(format!("{e}\n{}", rendered.text)))?;
                Ok(())
            })
            .unwrap();
    }
}
