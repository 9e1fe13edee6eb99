//! The value syntax of supervisord's configuration: Python `%`-formatting with supervisord's names
//! (`%(program_name)s`, `%(ENV_X)s`, `%(here)s`, `%(process_num)02d`…) and the `KEY="value",KEY2=v`
//! environment lists.

use std::collections::BTreeMap;

use super::HostFacts;

pub struct Expansion<'a> {
    pub program: &'a str,
    pub here: String,
    pub host: &'a HostFacts,
}

/// Python `%`-formatting as supervisord applies it to a value.
pub fn expand(value: &str, ex: &Expansion<'_>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
            continue;
        }
        let Some(inner) = after.strip_prefix('(') else {
            return Err(format!(
                "a lone % in {value:?} (write %% for a percent sign)"
            ));
        };
        let Some(close) = inner.find(')') else {
            return Err(format!("an unclosed %( in {value:?}"));
        };
        let name = &inner[..close];
        let spec_and_rest = &inner[close + 1..];
        let conv_at = spec_and_rest
            .find(|c: char| c.is_ascii_alphabetic())
            .ok_or_else(|| format!("%({name}) has no conversion (s or d) in {value:?}"))?;
        let spec = &spec_and_rest[..conv_at];
        let conversion = &spec_and_rest[conv_at..conv_at + 1];
        let text = if let Some(var) = name.strip_prefix("ENV_") {
            ex.host.environment.get(var).cloned().ok_or_else(|| {
                format!("%(ENV_{var})s: {var} is not set in the importing environment")
            })?
        } else {
            match name {
                "program_name" | "group_name" => ex.program.to_string(),
                "process_num" => "0".to_string(),
                "numprocs" => "1".to_string(),
                "here" => ex.here.clone(),
                "host_node_name" => ex.host.hostname.clone(),
                other => return Err(format!("%({other}) is not a supervisord expansion")),
            }
        };
        match conversion {
            "s" => out.push_str(&text),
            "d" => {
                let number: i64 = text
                    .parse()
                    .map_err(|_| format!("%({name})d needs a number, {name} is {text:?}"))?;
                let width: usize = spec.trim_start_matches('0').parse().unwrap_or(0);
                if spec.starts_with('0') {
                    out.push_str(&format!("{number:0width$}"));
                } else {
                    out.push_str(&format!("{number:width$}"));
                }
            }
            other => return Err(format!("%({name}){other} is not a supported conversion")),
        }
        rest = &spec_and_rest[conv_at + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// supervisord's `KEY="value",KEY2=value2` environment syntax.
pub fn parse_environment(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == ',' => parts.push(std::mem::take(&mut current)),
            None => current.push(c),
        }
    }
    if quote.is_some() {
        return Err("unbalanced quotes in environment".into());
    }
    parts.push(current);
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!("{part:?} is not KEY=value"));
        };
        env.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts {
        HostFacts {
            environment: [("LOGLEVEL".to_string(), "debug".to_string())].into(),
            hostname: "box".into(),
        }
    }

    #[test]
    fn expansion_follows_python_formatting() {
        let host = facts();
        let ex = Expansion {
            program: "web",
            here: "/etc/supervisor".into(),
            host: &host,
        };
        assert_eq!(
            expand("/usr/bin/example --loglevel=%(ENV_LOGLEVEL)s", &ex),
            Ok("/usr/bin/example --loglevel=debug".into())
        );
        assert_eq!(
            expand("%(program_name)s_%(process_num)02d", &ex),
            Ok("web_00".into())
        );
        assert_eq!(
            expand("%(here)s/x 100%%", &ex),
            Ok("/etc/supervisor/x 100%".into())
        );
        assert_eq!(expand("%(host_node_name)s", &ex), Ok("box".into()));
        assert!(expand("%(ENV_MISSING)s", &ex).is_err());
        assert!(expand("%(nope)s", &ex).is_err());
        assert!(expand("50% off", &ex).is_err());
    }

    #[test]
    fn environment_pairs_are_unquoted() {
        let env = parse_environment("A=\"1\",B=\"2\"").unwrap_or_default();
        assert_eq!(env.get("A").map(String::as_str), Some("1"));
        assert_eq!(env.get("B").map(String::as_str), Some("2"));
        let env = parse_environment("PATH=\"/a,b\",\nHOME='/h'").unwrap_or_default();
        assert_eq!(env.get("PATH").map(String::as_str), Some("/a,b"));
        assert_eq!(env.get("HOME").map(String::as_str), Some("/h"));
        assert!(parse_environment("A=\"1").is_err());
        assert!(parse_environment("JUSTAKEY").is_err());
    }
}
