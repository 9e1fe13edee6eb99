//! How `warden firewall jails …` shows things: the jail list as a table, one jail's settings with its
//! counters and recent failure lines, a pattern test line by line, and the presets.

use app::model::firewall::human_duration;
use serde_json::Value;
use time::OffsetDateTime;

use super::render::{self, paint, table, BAD, BOLD, DIM, GOOD, WARN};

/// A jail's source in words: `service web`, `file /var/log/auth.log`, `journal ssh.service`.
pub fn source_text(source: &Value) -> String {
    source
        .as_object()
        .and_then(|o| o.iter().next())
        .map(|(kind, what)| format!("{kind} {}", render::cell(what)))
        .unwrap_or_else(|| render::cell(source))
}

fn enabled_text(jail: &Value) -> String {
    if jail["enabled"].as_bool().unwrap_or(true) {
        paint(GOOD, "yes")
    } else {
        paint(DIM, "no")
    }
}

fn count(value: &Value) -> String {
    value.as_u64().unwrap_or(0).to_string()
}

fn secs(value: &Value) -> String {
    value
        .as_u64()
        .map(human_duration)
        .unwrap_or_else(|| render::cell(value))
}

/// The failing addresses as `203.0.113.7 (3)`, most failures first.
fn failing_text(jail: &Value, limit: usize) -> String {
    let failing = jail["failing"].as_array().cloned().unwrap_or_default();
    if failing.is_empty() {
        return "-".into();
    }
    let mut shown: Vec<String> = failing
        .iter()
        .take(limit)
        .map(|f| {
            format!(
                "{} ({})",
                render::cell(&f["address"]),
                count(&f["failures"])
            )
        })
        .collect();
    if failing.len() > limit {
        shown.push(format!("+{} more", failing.len() - limit));
    }
    shown.join(", ")
}

pub fn jails_table(jails: &Value) -> String {
    let list = jails.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return paint(
            DIM,
            "no jails (add one: warden firewall jails add --name sshd --journal ssh.service --preset sshd)",
        );
    }
    let rows = list
        .iter()
        .map(|j| {
            vec![
                render::cell(&j["name"]),
                enabled_text(j),
                source_text(&j["source"]),
                count(&j["lines"]),
                count(&j["matched"]),
                count(&j["bans"]),
                failing_text(j, 3),
            ]
        })
        .collect();
    let mut text = table(
        &[
            "NAME", "ENABLED", "SOURCE", "LINES", "MATCHED", "BANS", "FAILING",
        ],
        rows,
    );
    for j in &list {
        if let Some(problem) = j["source_problem"].as_str() {
            text.push_str(&format!(
                "\n{} {}",
                paint(WARN, &format!("{}:", render::cell(&j["name"]))),
                problem
            ));
        }
    }
    text
}

/// One jail: settings, counters, failing addresses, recent failure lines (times relative to `now`).
pub fn jail_text(j: &Value, now: OffsetDateTime) -> String {
    let increment = if j["increment"].as_bool().unwrap_or(true) {
        format!("doubles per repeat, up to {}", secs(&j["max_ban_secs"]))
    } else {
        "the same each time".into()
    };
    let mut lines = vec![
        paint(BOLD, &format!("Jail {}", render::cell(&j["name"]))),
        format!("  id            {}", render::cell(&j["id"])),
        format!("  enabled       {}", enabled_text(j)),
        format!("  source        {}", source_text(&j["source"])),
        format!("  preset        {}", render::cell(&j["preset"])),
        format!("  patterns      {}", render::cell(&j["patterns"])),
        format!(
            "  bans after    {} failures within {}",
            count(&j["max_failures"]),
            secs(&j["window_secs"])
        ),
        format!("  ban           {} ({increment})", secs(&j["ban_secs"])),
        format!("  ignore        {}", render::cell(&j["ignore"])),
        format!(
            "  since start   {} lines read, {} failures, {} bans",
            count(&j["lines"]),
            count(&j["matched"]),
            count(&j["bans"])
        ),
        format!("  failing       {}", failing_text(j, 10)),
    ];
    if let Some(problem) = j["source_problem"].as_str() {
        lines.push(format!("  {}", paint(BAD, problem)));
    }
    let recent = j["recent"].as_array().cloned().unwrap_or_default();
    if recent.is_empty() {
        lines.push(paint(DIM, "  no recent failure lines"));
    } else {
        lines.push(paint(BOLD, "Recent failures"));
        for r in &recent {
            lines.push(format!(
                "  {:<14} {:<16} {}",
                render::relative(r["at"].as_str().unwrap_or(""), now),
                render::cell(&r["address"]),
                render::cell(&r["line"])
            ));
        }
    }
    lines.join("\n")
}

/// A pattern test: each line marked with the address it names, then the count.
pub fn test_text(result: &Value) -> String {
    let lines = result["lines"].as_array().cloned().unwrap_or_default();
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| match l["address"].as_str() {
            Some(address) => format!(
                "{} {}",
                paint(GOOD, &format!("match {address:<15}")),
                render::cell(&l["line"])
            ),
            None => paint(
                DIM,
                &format!("      {:<15} {}", "", render::cell(&l["line"])),
            ),
        })
        .collect();
    out.push(format!(
        "{} of {} lines match",
        count(&result["matched"]),
        lines.len()
    ));
    out.join("\n")
}

pub fn presets_table(presets: &Value) -> String {
    let rows = presets
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                render::cell(&p["name"]),
                render::cell(&p["typical_source"]),
                render::cell(&p["description"]),
            ]
        })
        .collect();
    table(&["PRESET", "TYPICAL SOURCE", "WHAT IT MATCHES"], rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain(text: &str) -> String {
        anstream::adapter::strip_str(text).to_string()
    }

    #[test]
    fn the_list_shows_source_counters_and_failing_addresses() {
        let jails = json!([{
            "id": "1", "name": "sshd", "enabled": true, "source": {"journal": "ssh.service"},
            "lines": 120, "matched": 7, "bans": 1,
            "failing": [{"address": "203.0.113.7", "failures": 3}],
            "source_problem": "cannot start journalctl"
        }]);
        let text = plain(&jails_table(&jails));
        assert!(text.contains("journal ssh.service"), "{text}");
        assert!(text.contains("203.0.113.7 (3)"), "{text}");
        assert!(text.contains("120") && text.contains("MATCHED"), "{text}");
        assert!(text.contains("sshd: cannot start journalctl"), "{text}");
    }

    #[test]
    fn a_test_marks_the_matching_lines() {
        let result = json!({"matched": 1, "lines": [
            {"line": "Failed password for root from 203.0.113.7 port 22 ssh2", "address": "203.0.113.7", "pattern": 0},
            {"line": "Server listening", "address": null, "pattern": null}
        ]});
        let text = plain(&test_text(&result));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("match 203.0.113.7"), "{text}");
        assert!(!lines[1].contains("match"), "{text}");
        assert_eq!(lines[2], "1 of 2 lines match");
    }
}
