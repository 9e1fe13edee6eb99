//! The systemd unit file syntax (systemd.syntax(7)): `[Section]`, `Key=Value` (a key may repeat; an
//! empty value resets list settings), `#`/`;` comment lines, a trailing backslash continuing the line;
//! and the unit specifiers (`%n`, `%i`, `%%`…) a value may hold.

/// One assignment with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: u32,
}

/// A syntax error and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: u32,
    pub message: String,
}

/// Parses a unit file into its assignments, in order.
pub fn parse(text: &str) -> Result<Vec<Assignment>, SyntaxError> {
    let mut out = Vec::new();
    let mut section: Option<String> = None;
    let mut pending: Option<(String, u32)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let trimmed = raw.trim();
        if let Some((mut buffer, start)) = pending.take() {
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                pending = Some((buffer, start));
                continue;
            }
            if let Some(more) = trimmed.strip_suffix('\\') {
                buffer.push(' ');
                buffer.push_str(more.trim());
                pending = Some((buffer, start));
                continue;
            }
            buffer.push(' ');
            buffer.push_str(trimmed);
            out.push(assignment(&section, &buffer, start)?);
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            let Some(name) = header.strip_suffix(']') else {
                return Err(SyntaxError {
                    line: line_no,
                    message: "a section header must end with ]".into(),
                });
            };
            section = Some(name.to_string());
            continue;
        }
        if let Some(start) = trimmed.strip_suffix('\\') {
            pending = Some((start.trim_end().to_string(), line_no));
            continue;
        }
        out.push(assignment(&section, trimmed, line_no)?);
    }
    if let Some((buffer, start)) = pending {
        out.push(assignment(&section, &buffer, start)?);
    }
    Ok(out)
}

fn assignment(section: &Option<String>, text: &str, line: u32) -> Result<Assignment, SyntaxError> {
    let Some(section) = section else {
        return Err(SyntaxError {
            line,
            message: "a setting before the first [section]".into(),
        });
    };
    let Some((key, value)) = text.split_once('=') else {
        return Err(SyntaxError {
            line,
            message: format!("expected Key=Value, found {text:?}"),
        });
    };
    Ok(Assignment {
        section: section.clone(),
        key: key.trim().to_string(),
        value: value.trim().to_string(),
        line,
    })
}

/// What the specifiers of one unit stand for.
pub struct UnitNames {
    /// `redis-server.service` / `getty@tty1.service`.
    pub full: String,
    /// The part before `@` (or before `.service`).
    pub prefix: String,
    /// The part between `@` and `.service` (empty without one).
    pub instance: String,
    /// `User=`, when set.
    pub user: Option<String>,
}

/// Replaces the specifiers of systemd.unit(5) "Specifiers" that have a fixed meaning for a system unit;
/// the rest (host-specific ones such as `%H` or `%b`) are an error naming them.
pub fn expand_specifiers(value: &str, names: &UnitNames) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err("a lone % at the end (write %% for a percent sign)".into());
        };
        let text = match spec {
            '%' => "%".to_string(),
            'n' => names.full.clone(),
            'N' => names.full.trim_end_matches(".service").to_string(),
            'p' => names.prefix.clone(),
            'P' => names.prefix.clone(),
            'i' | 'I' => names.instance.clone(),
            'j' | 'J' => names
                .prefix
                .rsplit('-')
                .next()
                .unwrap_or_default()
                .to_string(),
            't' => "/run".to_string(),
            'S' => "/var/lib".to_string(),
            'C' => "/var/cache".to_string(),
            'L' => "/var/log".to_string(),
            'E' => "/etc".to_string(),
            'T' => "/tmp".to_string(),
            'V' => "/var/tmp".to_string(),
            'u' => match &names.user {
                Some(u) => u.clone(),
                None => "root".to_string(),
            },
            other => {
                return Err(format!(
                    "the specifier %{other} depends on the host and is not expanded by the import"
                ))
            }
        };
        out.push_str(&text);
    }
    Ok(out)
}

/// The values of systemd's space-separated, quotable lists (`Environment=`, `After=`).
pub fn split_quoted_list(value: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) if c == '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                started = true;
            }
            None if c.is_whitespace() => {
                if started {
                    items.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            None => {
                current.push(c);
                started = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unbalanced quotes in {value:?}"));
    }
    if started {
        items.push(current);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_assignments_continuations_and_comments() {
        let text = "# c\n[Unit]\nAfter=network.target\n[Service]\nExecStart=/bin/a \\\n  --b \\\n# skipped\n  --c\nEnvironment=\"A=1 2\" B=3\n";
        let parsed = parse(text).unwrap_or_default();
        let keys: Vec<&str> = parsed.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, vec!["After", "ExecStart", "Environment"]);
        assert_eq!(parsed[1].value, "/bin/a --b --c");
        assert_eq!(parsed[1].line, 5);
        assert_eq!(parsed[1].section, "Service");
        assert_eq!(
            split_quoted_list(&parsed[2].value).unwrap_or_default(),
            vec!["A=1 2".to_string(), "B=3".to_string()]
        );
        assert!(parse("Key=1\n").is_err());
        assert!(parse("[Service]\nno equals\n").is_err());
    }

    #[test]
    fn specifiers_expand_or_are_refused() {
        let names = UnitNames {
            full: "getty@tty1.service".into(),
            prefix: "getty".into(),
            instance: "tty1".into(),
            user: Some("app".into()),
        };
        assert_eq!(
            expand_specifiers("/sbin/agetty %i %n 100%% %u %t", &names),
            Ok("/sbin/agetty tty1 getty@tty1.service 100% app /run".into())
        );
        assert!(expand_specifiers("%H", &names).is_err());
    }
}
