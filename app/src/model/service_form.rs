//! Pure helpers behind the service form (UI and tests): parsing the ports field and a pasted `.env`,
//! suggesting the next free port, turning field errors into per-field messages, and reading log lines.
//! No I/O and no reactive code here, so it runs the same in WASM and in unit tests.

use std::collections::{BTreeMap, BTreeSet};

use super::service_ports::ServicePortRange;
use super::FieldError;

/// Parses the ports field: numbers separated by commas or spaces. Every token must be a port number
/// (1-65535); range, uniqueness and conflicts are checked later by `validate_service`.
pub fn parse_ports(text: &str) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for token in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
    {
        match token.parse::<u32>() {
            Ok(n) if (1..=65_535).contains(&n) => ports.push(n as u16),
            Ok(n) => return Err(format!("{n} is not a port number (use 1-65535)")),
            Err(_) => return Err(format!("\"{token}\" is not a port number (use 1-65535)")),
        }
    }
    Ok(ports)
}

/// Parses an optional whole number of seconds: empty = `None` (Warden's default). The range is
/// checked later by `validate_service`.
pub fn parse_optional_secs(text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u64>()
        .map(Some)
        .map_err(|_| format!("\"{text}\" is not a whole number of seconds"))
}

/// Parses a list of service names separated by commas or spaces (the `after` field).
pub fn parse_names(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The lowest port of `range` (inclusive) that is neither reserved by a service nor already listed.
pub fn next_free_port(range: ServicePortRange, taken: &BTreeSet<u16>) -> Option<u16> {
    range.first_free_port(|port| taken.contains(&port))
}

/// One problem in a pasted `.env` text (1-based line number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    pub line: usize,
    pub message: String,
}

/// Parses `.env` text: `KEY=VALUE` lines, optionally prefixed by `export `; blank lines and `#` comments
/// are skipped; a value in matching single or double quotes is unquoted. Key validity is left to the
/// shared environment validation, so the form shows the same message the server would.
pub fn parse_dotenv(text: &str) -> Result<Vec<(String, String)>, Vec<DotenvError>> {
    let mut pairs = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, value)) = line.split_once('=') else {
            errors.push(DotenvError {
                line: i + 1,
                message: "expected KEY=VALUE".into(),
            });
            continue;
        };
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| {
                value
                    .strip_prefix(*q)
                    .and_then(|v| v.strip_suffix(*q))
                    .filter(|_| value.len() >= 2)
            })
            .unwrap_or(value);
        pairs.push((key.trim().to_string(), unquoted.to_string()));
    }
    if errors.is_empty() {
        Ok(pairs)
    } else {
        Err(errors)
    }
}

/// The form's fields: API field names like `ports[1]` or `environment.KEY` belong to `ports` and
/// `environment`.
pub fn form_field(api_field: &str) -> &str {
    let end = api_field.find(['[', '.']).unwrap_or(api_field.len());
    &api_field[..end]
}

/// Groups field errors by form field, joining several messages for one field (first one first).
pub fn errors_by_field(errors: &[FieldError]) -> BTreeMap<String, String> {
    let mut by_field: BTreeMap<String, String> = BTreeMap::new();
    for e in errors {
        let message = match e.field.split_once('.') {
            // Name the variable: "environment.1X" → "1X: variable names use …".
            Some(("environment", key)) => format!("{key}: {}", e.message),
            _ => e.message.clone(),
        };
        by_field
            .entry(form_field(&e.field).to_string())
            .and_modify(|m| {
                m.push_str("; ");
                m.push_str(&message);
            })
            .or_insert(message);
    }
    by_field
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    Out,
    Err,
    Warden,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Out => "out",
            LogStream::Err => "err",
            LogStream::Warden => "warden",
        }
    }
}

/// A service log line split into its parts: `2026-11-24T10:00:00.123Z out|err|warden <text>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: String,
    pub stream: LogStream,
    pub text: String,
}

/// Splits a log line; a line in another shape (e.g. cut by rotation) is kept whole as `warden` text.
pub fn parse_log_line(line: &str) -> LogLine {
    let mut parts = line.splitn(3, ' ');
    let at = parts.next().unwrap_or_default();
    let stream = match parts.next() {
        Some("out") => Some(LogStream::Out),
        Some("err") => Some(LogStream::Err),
        Some("warden") => Some(LogStream::Warden),
        _ => None,
    };
    match stream {
        Some(stream) if at.ends_with('Z') && at.contains('T') => LogLine {
            at: at.to_string(),
            stream,
            text: parts.next().unwrap_or_default().to_string(),
        },
        _ => LogLine {
            at: String::new(),
            stream: LogStream::Warden,
            text: line.to_string(),
        },
    }
}

/// A duration in words for the uptime column, coarse on purpose (it changes at most once a minute):
/// "under a minute", "12 min", "3 h 5 min", "2 d 4 h".
pub fn coarse_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (days, hours, mins) = (secs / 86_400, (secs / 3600) % 24, (secs / 60) % 60);
    if secs < 60 {
        "under a minute".into()
    } else if secs < 3600 {
        format!("{mins} min")
    } else if days == 0 {
        format!("{hours} h {mins} min")
    } else {
        format!("{days} d {hours} h")
    }
}

/// Parses `2026-11-24T10:00:00.123Z` (what the server writes) into milliseconds since the Unix epoch.
pub fn rfc3339_utc_millis(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let millis: i64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_names_fields() {
        assert_eq!(parse_optional_secs(" "), Ok(None));
        assert_eq!(parse_optional_secs(" 30 "), Ok(Some(30)));
        assert!(parse_optional_secs("3.5").is_err());
        assert!(parse_optional_secs("-1").is_err());
        assert_eq!(
            parse_names("db, cache  queue"),
            vec!["db", "cache", "queue"]
        );
        assert!(parse_names(" , ").is_empty());
    }

    #[test]
    fn ports_field() {
        assert_eq!(parse_ports(""), Ok(vec![]));
        assert_eq!(parse_ports("8300, 8301 8302"), Ok(vec![8300, 8301, 8302]));
        assert!(parse_ports("70000").unwrap_err().contains("70000"));
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("http").unwrap_err().contains("http"));
    }

    #[test]
    fn next_port() {
        let taken = BTreeSet::from([8300, 8301, 8303]);
        assert_eq!(
            next_free_port(ServicePortRange::DEFAULT, &taken),
            Some(8302)
        );
        let two = ServicePortRange::new(8300, 8301).unwrap();
        assert_eq!(next_free_port(two, &taken), None);
    }

    #[test]
    fn dotenv() {
        let text = "# comment\n\nexport A=1\nB = \"two words\"\nC='x'\nD=\nE=a=b\n";
        assert_eq!(
            parse_dotenv(text).unwrap(),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into()),
                ("D".into(), "".into()),
                ("E".into(), "a=b".into()),
            ]
        );
        let err = parse_dotenv("A=1\nnot a pair\n").unwrap_err();
        assert_eq!(err[0].line, 2);
        assert_eq!(
            parse_dotenv("Q=\"").unwrap(),
            vec![("Q".into(), "\"".into())]
        );
    }

    #[test]
    fn field_errors_group_by_form_field() {
        let errors = vec![
            FieldError::new("ports[0]", "a"),
            FieldError::new("ports[2]", "b"),
            FieldError::new("environment.1X", "bad"),
            FieldError::new("name", "n"),
        ];
        let m = errors_by_field(&errors);
        assert_eq!(m["ports"], "a; b");
        assert_eq!(m["environment"], "1X: bad");
        assert_eq!(m["name"], "n");
    }

    #[test]
    fn log_lines() {
        let l = parse_log_line("2026-11-24T10:00:00.123Z err boom: it broke");
        assert_eq!(l.stream, LogStream::Err);
        assert_eq!(l.text, "boom: it broke");
        assert_eq!(l.at, "2026-11-24T10:00:00.123Z");
        let odd = parse_log_line("garbage line");
        assert_eq!(odd.stream, LogStream::Warden);
        assert_eq!(odd.text, "garbage line");
        assert_eq!(parse_log_line("2026-11-24T10:00:00.123Z out").text, "");
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(coarse_duration(5), "under a minute");
        assert_eq!(coarse_duration(125), "2 min");
        assert_eq!(coarse_duration(3 * 3600 + 5 * 60), "3 h 5 min");
        assert_eq!(coarse_duration(2 * 86_400 + 4 * 3600), "2 d 4 h");
        assert_eq!(rfc3339_utc_millis("1970-01-01T00:00:01.500Z"), Some(1500));
        assert_eq!(
            rfc3339_utc_millis("2026-11-24T10:00:00.123Z"),
            Some(1_795_514_400_123)
        );
        assert_eq!(rfc3339_utc_millis("yesterday"), None);
    }
}
