//! Failure patterns of a jail: a regular expression with a `<HOST>` placeholder (or a named group
//! `(?P<host>…)`) compiled into a [`Matcher`] that finds the offending address in a log line.
//!
//! Patterns use the `regex` crate's syntax, which matches in time linear in the line (no
//! backreferences, no look-around), so a pathological pattern cannot stall a jail; compiled programs
//! are bounded in size ([`MAX_COMPILED_BYTES`]). `<HOST>` becomes a capture of an IPv4 or IPv6 address
//! (also `::ffff:`-mapped and `[bracketed]`); the capture must parse as an address or the line does not
//! count. Host names are not accepted: a jail never resolves names.

use std::net::IpAddr;

use regex::{Regex, RegexBuilder};

use super::super::FieldError;
use super::presets;

/// The placeholder a pattern names the address with.
pub const HOST_PLACEHOLDER: &str = "<HOST>";
/// Most patterns per jail (its preset's not counted).
pub const MAX_PATTERNS: usize = 32;
/// Longest pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// Upper bound of one compiled pattern (and of its lazy DFA cache).
pub const MAX_COMPILED_BYTES: usize = 1 << 20;
/// Lines are looked at up to this many bytes (longer ones are cut: a flood of huge lines costs
/// at most this much matching per line).
pub const MAX_LINE_BYTES: usize = 4096;

/// What `<HOST>` expands to: an IPv4 address, or an IPv6 address (which may end in an IPv4 part),
/// optionally in brackets.
const HOST_REGEX: &str = r"\[?(?P<host>(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3})|(?:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*[0-9A-Fa-f]))\]?";

/// Compiled failure patterns: a line is a failure when one of them matches it and names an address.
#[derive(Debug, Clone)]
pub struct Matcher {
    patterns: Vec<Regex>,
}

/// A matched failure: the address, and which pattern matched (index into the preset's patterns
/// followed by the jail's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub address: IpAddr,
    pub pattern: usize,
}

/// The checks of one pattern that need no compiling (empty, too long, not one `<HOST>` or `host`
/// capture); the error is a sentence for the field. [`compile_pattern`] runs them first.
pub fn precheck_pattern(pattern: &str) -> Result<(), String> {
    if pattern.trim().is_empty() {
        return Err("a pattern must not be empty".into());
    }
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!("at most {MAX_PATTERN_BYTES} bytes"));
    }
    let placeholders = pattern.matches(HOST_PLACEHOLDER).count();
    if placeholders > 1 {
        return Err(format!("{HOST_PLACEHOLDER} may appear only once"));
    }
    if placeholders == 0 && !pattern.contains("?P<host>") && !pattern.contains("?<host>") {
        return Err(no_capture());
    }
    Ok(())
}

fn no_capture() -> String {
    format!("the pattern must capture the address: put {HOST_PLACEHOLDER} where the address is")
}

/// Compiles one pattern; the error is a sentence for the field.
pub fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    precheck_pattern(pattern)?;
    let expanded = pattern.replace(HOST_PLACEHOLDER, HOST_REGEX);
    let regex = RegexBuilder::new(&expanded)
        .size_limit(MAX_COMPILED_BYTES)
        .dfa_size_limit(MAX_COMPILED_BYTES)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => {
                "the pattern is too large once compiled: simplify it".to_string()
            }
            other => format!("not a valid regular expression: {other}"),
        })?;
    if !regex.capture_names().any(|n| n == Some("host")) {
        return Err(no_capture());
    }
    Ok(regex)
}

/// The address a `host` capture names, if it is one.
fn parse_host(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok().map(|a| a.to_canonical())
}

impl Matcher {
    /// The preset's patterns (if any) followed by `patterns`. Errors name the field (`preset`,
    /// `patterns[i]`); no preset and no pattern is an error too.
    pub fn compile(preset: Option<&str>, patterns: &[String]) -> Result<Matcher, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut compiled = Vec::new();
        if let Some(name) = preset {
            match presets::find(name) {
                Some(p) => {
                    for pattern in p.patterns {
                        match compile_pattern(pattern) {
                            Ok(r) => compiled.push(r),
                            Err(e) => errors
                                .push(FieldError::new("preset", format!("preset {name}: {e}"))),
                        }
                    }
                }
                None => errors.push(super::validate::unknown_preset(name)),
            }
        }
        if patterns.len() > MAX_PATTERNS {
            errors.push(FieldError::new(
                "patterns",
                format!("at most {MAX_PATTERNS} patterns"),
            ));
        }
        for (i, pattern) in patterns.iter().enumerate().take(MAX_PATTERNS) {
            match compile_pattern(pattern) {
                Ok(r) => compiled.push(r),
                Err(e) => errors.push(FieldError::new(format!("patterns[{i}]"), e)),
            }
        }
        if errors.is_empty() && compiled.is_empty() {
            errors.push(super::validate::no_patterns());
        }
        if errors.is_empty() {
            Ok(Matcher { patterns: compiled })
        } else {
            Err(errors)
        }
    }

    /// The failure `line` reports, if it is one: the first pattern that matches and captures an
    /// address. Trailing whitespace is ignored; only the first [`MAX_LINE_BYTES`] bytes are looked at.
    pub fn find(&self, line: &str) -> Option<Hit> {
        let line = truncate(line.trim_end(), MAX_LINE_BYTES);
        self.patterns.iter().enumerate().find_map(|(i, regex)| {
            let caps = regex.captures(line)?;
            let address = parse_host(caps.name("host")?.as_str())?;
            Some(Hit {
                address,
                pattern: i,
            })
        })
    }

    /// How many patterns it holds.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether it holds no pattern.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
