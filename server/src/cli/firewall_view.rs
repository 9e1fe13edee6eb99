//! How `warden firewall …` shows things: the status, the rules, bans and presets as tables.

use serde_json::Value;

use super::render::{self, paint, table, BAD, BOLD, DIM, GOOD, WARN};

pub fn status_text(s: &Value) -> String {
    let yes_no = |v: &Value, good: bool| {
        let on = v.as_bool().unwrap_or(false);
        let style = if on == good { GOOD } else { BAD };
        paint(style, if on { "yes" } else { "no" })
    };
    let mut lines = vec![
        format!("{}", paint(BOLD, "Firewall")),
        format!("  active            {}", yes_no(&s["active"], true)),
        format!(
            "  applied revision  {}",
            render::cell(&s["applied_revision"])
        ),
        format!("  saved revision    {}", render::cell(&s["saved_revision"])),
        format!("  drift             {}", yes_no(&s["drift"], false)),
        format!(
            "  inbound policy    {}",
            render::cell(&s["default_inbound_policy"])
        ),
        format!("  anti-lockout      {}", render::cell(&s["anti_lockout"])),
        format!(
            "  admin port / SSH  {} / {}",
            render::cell(&s["admin_port"]),
            render::cell(&s["ssh_ports"])
        ),
    ];
    if s["default_guard"].as_bool() == Some(true) {
        lines.push(format!(
            "  {}",
            paint(
                WARN,
                "the default guard is live (service range closed from outside)"
            )
        ));
    }
    if let Some(secs) = s["pending"]["seconds_left"].as_u64() {
        lines.push(format!(
            "  {}",
            paint(
                WARN,
                &format!("an apply is pending: rolls back in {secs} s unless confirmed")
            )
        ));
    }
    if let Some(reason) = s["fallback"].as_str() {
        lines.push(format!("  {}", paint(BAD, reason)));
    }
    if s["capability"]["available"].as_bool() == Some(false) {
        lines.push(format!(
            "  {}",
            paint(
                DIM,
                &format!(
                    "read-only here: {}",
                    render::cell(&s["capability"]["reason"])
                )
            )
        ));
    }
    lines.join("\n")
}

pub fn rules_table(rules: &Value) -> String {
    let rows: Vec<Vec<String>> = rules
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let action = r["action"].as_str().unwrap_or("?");
            let style = match action {
                "accept" => GOOD,
                _ => BAD,
            };
            let enabled = r["enabled"].as_bool().unwrap_or(true);
            vec![
                render::cell(&r["position"]),
                render::cell(&r["id"]),
                if enabled {
                    paint(style, action)
                } else {
                    paint(DIM, &format!("{action} (off)"))
                },
                render::cell(&r["protocol"]),
                render::cell(&r["direction"]),
                render::cell(&r["hosts"]),
                render::cell(&r["ports"]),
                render::cell(&r["ip_version"]),
                render::cell(&r["packets"]),
                render::cell(&r["annotation"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        return paint(
            DIM,
            "no rules: warden firewall add --port 443 --protocol tcp",
        );
    }
    table(
        &[
            "POS", "ID", "ACTION", "PROTO", "DIR", "HOSTS", "PORTS", "IP", "PACKETS", "NOTE",
        ],
        rows,
    )
}

pub fn bans_table(bans: &Value) -> String {
    let rows: Vec<Vec<String>> = bans
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            vec![
                render::cell(&b["address"]),
                b["seconds_left"]
                    .as_u64()
                    .map(app::model::firewall::human_duration)
                    .unwrap_or_else(|| "-".into()),
                render::cell(&b["reason"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        return paint(DIM, "no bans");
    }
    table(&["ADDRESS", "LEFT", "REASON"], rows)
}

pub fn presets_table(presets: &Value) -> String {
    let rows = presets
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                render::cell(&p["name"]),
                if p["open"].as_bool() == Some(true) {
                    paint(GOOD, "open")
                } else {
                    paint(DIM, "closed")
                },
                render::cell(&p["title"]),
            ]
        })
        .collect();
    table(&["NAME", "STATE", "TITLE"], rows)
}
