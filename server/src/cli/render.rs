//! Human output of the command line: aligned tables without borders, colours (written through
//! `anstream`, which drops them when stdout is not a terminal or `NO_COLOR` is set) and relative times.
//! `--json` bypasses all of this and prints the API's JSON.

use anstyle::{AnsiColor, Style};
use comfy_table::{presets, ContentArrangement, Table};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Green, for what is fine.
pub const GOOD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
/// Yellow, for what needs a look.
pub const WARN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
/// Red, for what is broken.
pub const BAD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
/// Dim, for what is off or absent.
pub const DIM: Style = Style::new().dimmed();
/// Bold, for headings.
pub const BOLD: Style = Style::new().bold();

/// `text` in `style`.
pub fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// A borderless table with a bold header row, columns aligned.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.iter().map(|h| paint(BOLD, h)));
    for row in rows {
        table.add_row(row);
    }
    table
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A service state, coloured by what it means.
pub fn state(state: &str) -> String {
    let style = match state {
        "running" => GOOD,
        "starting" | "stopping" | "backoff" => WARN,
        "disabled" => BAD,
        _ => DIM,
    };
    paint(style, state)
}

/// A JSON value as a table cell: strings bare, `null` as `-`, lists joined with commas.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// "3 min ago" / "in 40 s" for an RFC 3339 time, relative to `now`; the text as given if it is not one.
pub fn relative(at: &str, now: OffsetDateTime) -> String {
    let Ok(then) = OffsetDateTime::parse(at, &Rfc3339) else {
        return at.to_string();
    };
    let secs = (now - then).whole_seconds();
    let span = app::model::firewall::human_duration(secs.unsigned_abs());
    if secs >= 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// Bytes as "12.3 MiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn relative_times_read_naturally() {
        let now = datetime!(2026-12-02 12:00:00 UTC);
        assert_eq!(relative("2026-12-02T11:57:00Z", now), "3 min 0 s ago");
        assert_eq!(relative("2026-12-02T12:00:40Z", now), "in 40 s");
        assert_eq!(relative("2026-12-02T09:30:00.123Z", now), "2 h 29 min ago");
        assert_eq!(relative("not a time", now), "not a time");
    }

    #[test]
    fn cells_and_sizes() {
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(cell(&serde_json::json!(["80", "443"])), "80,443");
        assert_eq!(cell(&serde_json::json!(8300)), "8300");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 + 300 * 1024), "3.3 MiB");
    }

    #[test]
    fn tables_align_columns_without_borders() {
        let text = table(
            &["NAME", "STATE"],
            vec![
                vec!["web".into(), "running".into()],
                vec!["a-long-name".into(), "stopped".into()],
            ],
        );
        let plain = anstream::adapter::strip_str(&text).to_string();
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(lines.len(), 3, "{plain}");
        let column = |l: &str| {
            l.find("running")
                .or_else(|| l.find("stopped"))
                .or_else(|| l.find("STATE"))
        };
        assert_eq!(column(lines[0]), column(lines[1]));
        assert_eq!(column(lines[1]), column(lines[2]));
    }
}
