//! The INI dialect supervisord reads (Python's `configparser` as supervisord configures it): `[section]`
//! headers, `key = value` or `key: value`, keys case-insensitive, `;`/`#` comments on their own line and
//! after whitespace inside a line, values continued on indented lines. Hand-written rather than a crate
//! because the report needs each key's line number and Python's continuation and inline-comment rules.

/// One `key = value` with the line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: u32,
}

/// One `[section]` and its entries in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: u32,
    pub entries: Vec<Entry>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// A syntax error and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: u32,
    pub message: String,
}

fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if (b == b';' || b == b'#') && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return value[..i].trim_end();
        }
    }
    value
}

/// Parses the whole text.
pub fn parse(text: &str) -> Result<Vec<Section>, SyntaxError> {
    let mut sections: Vec<Section> = Vec::new();
    // Whether the previous line was an entry that an indented line may continue.
    let mut continuable = false;
    for (index, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continuable = false;
            continue;
        }
        if trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        let indented = raw.starts_with(|c: char| c.is_whitespace());
        if indented && continuable {
            if let Some(entry) = sections.last_mut().and_then(|s| s.entries.last_mut()) {
                let more = strip_inline_comment(trimmed);
                if !entry.value.is_empty() {
                    entry.value.push('\n');
                }
                entry.value.push_str(more);
                continue;
            }
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            let Some(name) = header.strip_suffix(']') else {
                return Err(SyntaxError {
                    line: line_no,
                    message: "a section header must end with ]".into(),
                });
            };
            let name = name.trim().to_string();
            if sections.iter().any(|s| s.name == name) {
                return Err(SyntaxError {
                    line: line_no,
                    message: format!("section [{name}] appears twice"),
                });
            }
            sections.push(Section {
                name,
                line: line_no,
                entries: Vec::new(),
            });
            continuable = false;
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err(SyntaxError {
                line: line_no,
                message: "a setting before the first [section]".into(),
            });
        };
        let split_at = trimmed.find(['=', ':']);
        let Some(at) = split_at else {
            return Err(SyntaxError {
                line: line_no,
                message: format!("expected key = value, found {trimmed:?}"),
            });
        };
        let key = trimmed[..at].trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(SyntaxError {
                line: line_no,
                message: "a setting without a key".into(),
            });
        }
        if section.get(&key).is_some() {
            return Err(SyntaxError {
                line: line_no,
                message: format!("{key} is set twice in [{}]", section.name),
            });
        }
        let value = strip_inline_comment(trimmed[at + 1..].trim()).to_string();
        section.entries.push(Entry {
            key,
            value,
            line: line_no,
        });
        continuable = true;
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_keys_comments_and_continuations() {
        let text = "; top comment\n[program:web]\nCommand = /bin/web --flag ; inline\ndirectory: /srv\nenvironment=A=\"1\",\n  B=\"2\"\n\n[include]\nfiles = a.conf b.conf\n";
        let sections = parse(text).unwrap_or_default();
        assert_eq!(sections.len(), 2);
        let web = &sections[0];
        assert_eq!(web.name, "program:web");
        assert_eq!(web.line, 2);
        let command = web.get("command").cloned();
        assert_eq!(
            command.as_ref().map(|e| e.value.as_str()),
            Some("/bin/web --flag")
        );
        assert_eq!(command.map(|e| e.line), Some(3));
        assert_eq!(web.get("directory").map(|e| e.value.as_str()), Some("/srv"));
        assert_eq!(
            web.get("environment").map(|e| e.value.as_str()),
            Some("A=\"1\",\nB=\"2\"")
        );
        assert_eq!(sections[1].get("files").map(|e| e.line), Some(9));
    }

    #[test]
    fn reports_errors_with_their_line() {
        let twice = parse("[a]\nx=1\nx=2\n");
        assert_eq!(twice.map_err(|e| e.line), Err(3));
        let orphan = parse("x=1\n");
        assert_eq!(orphan.map_err(|e| e.line), Err(1));
        let header = parse("[a\n");
        assert!(header.is_err());
        let no_value = parse("[a]\njust words\n");
        assert_eq!(no_value.map_err(|e| e.line), Err(2));
    }
}
