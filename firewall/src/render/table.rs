//! The table as nft sees it: the chain type (base chains with their hook, priority and policy;
//! regular chains reached by `jump`) and [`assemble`], which writes the ban sets and the chains into
//! one JSON batch (add/delete/add table, then sets, chains and rules in order) and the equivalent text.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::statements::NftRule;
use super::{ban_key, RenderedRuleset, BAN_SET_V4, BAN_SET_V6, TABLE_FAMILY, TABLE_NAME};
use crate::model::{Ban, Family};

pub(super) struct Chain {
    pub(super) name: &'static str,
    /// The hook of a base chain; `None` for a regular chain (reached by `jump` only).
    pub(super) hook: Option<&'static str>,
    /// Hook priority: [`RAW_PRIORITY`] (before conntrack) or 0 (filter). Base chains only.
    pub(super) priority: i32,
    /// Base chains only.
    pub(super) policy: &'static str,
    pub(super) rules: Vec<NftRule>,
}

impl Chain {
    /// A regular chain (no hook, no policy: a packet that matches nothing returns to the caller).
    pub(super) fn regular(name: &'static str, rules: Vec<NftRule>) -> Chain {
        Chain {
            name,
            hook: None,
            priority: 0,
            policy: "",
            rules,
        }
    }
}

/// The `raw` hook priority: before connection tracking (-200).
pub(super) const RAW_PRIORITY: i32 = -300;

fn priority_text(priority: i32) -> String {
    if priority == RAW_PRIORITY {
        "raw".to_string()
    } else {
        priority.to_string()
    }
}

/// The batch and text of the whole table: the ban sets (with `bans`), then `chains`.
pub(super) fn assemble(bans: &[Ban], chains: &[Chain]) -> RenderedRuleset {
    let sets = [
        (BAN_SET_V4, "ipv4_addr", Family::Ipv4),
        (BAN_SET_V6, "ipv6_addr", Family::Ipv6),
    ];

    let table = json!({"family": TABLE_FAMILY, "name": TABLE_NAME});
    let mut commands = vec![
        json!({"add": {"table": table}}),
        json!({"delete": {"table": table}}),
        json!({"add": {"table": table}}),
    ];
    let mut text = format!("table {TABLE_FAMILY} {TABLE_NAME} {{\n");
    for (name, kind, family) in sets {
        let bans: Vec<&Ban> = bans
            .iter()
            .filter(|b| b.network.family() == family)
            .collect();
        let mut set = json!({
            "family": TABLE_FAMILY, "table": TABLE_NAME, "name": name,
            "type": kind, "flags": ["timeout"],
        });
        let _ = writeln!(text, "\tset {name} {{\n\t\ttype {kind}\n\t\tflags timeout");
        if !bans.is_empty() {
            let (elems, texts): (Vec<Value>, Vec<String>) =
                bans.iter().map(|b| ban_element(b)).unzip();
            set["elem"] = Value::Array(elems);
            let _ = writeln!(text, "\t\telements = {{ {} }}", texts.join(", "));
        }
        text.push_str("\t}\n\n");
        commands.push(json!({"add": {"set": set}}));
    }
    for (index, chain) in chains.iter().enumerate() {
        match chain.hook {
            Some(hook) => {
                commands.push(json!({"add": {"chain": {
                    "family": TABLE_FAMILY, "table": TABLE_NAME, "name": chain.name,
                    "type": "filter", "hook": hook, "prio": chain.priority, "policy": chain.policy,
                }}}));
                let _ = writeln!(
                    text,
                    "\tchain {} {{\n\t\ttype filter hook {} priority {}; policy {};",
                    chain.name,
                    hook,
                    priority_text(chain.priority),
                    chain.policy
                );
            }
            None => {
                commands.push(json!({"add": {"chain": {
                    "family": TABLE_FAMILY, "table": TABLE_NAME, "name": chain.name,
                }}}));
                let _ = writeln!(text, "\tchain {} {{", chain.name);
            }
        }
        for nft_rule in &chain.rules {
            for note in &nft_rule.notes {
                let _ = writeln!(text, "\t\t# {note}");
            }
            if nft_rule.pieces.is_empty() {
                continue;
            }
            let texts: Vec<&str> = nft_rule.pieces.iter().map(|p| p.text.as_str()).collect();
            let mut line = texts.join(" ");
            let mut object = json!({
                "family": TABLE_FAMILY, "table": TABLE_NAME, "chain": chain.name,
                "expr": nft_rule.pieces.iter().map(|p| p.json.clone()).collect::<Vec<_>>(),
            });
            if let Some(comment) = &nft_rule.comment {
                object["comment"] = json!(comment);
                let _ = write!(line, " comment \"{comment}\"");
            }
            let _ = writeln!(text, "\t\t{line}");
            commands.push(json!({"add": {"rule": object}}));
        }
        text.push_str("\t}\n");
        if index + 1 < chains.len() {
            text.push('\n');
        }
    }
    text.push_str("}\n");
    RenderedRuleset {
        batch: json!({ "nftables": commands }),
        text,
    }
}

fn ban_element(ban: &Ban) -> (Value, String) {
    let key = ban_key(&ban.network);
    let (value, text) = (json!(key.to_string()), key.to_string());
    match ban.expires_in_secs {
        Some(secs) => {
            let secs = u32::try_from(secs).unwrap_or(u32::MAX);
            (
                json!({"elem": {"val": value, "timeout": secs}}),
                format!("{text} timeout {secs}s"),
            )
        }
        None => (value, text),
    }
}
