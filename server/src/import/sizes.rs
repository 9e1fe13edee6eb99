//! The size and duration spellings of the imported formats: `260M` / `1G` (PM2's `max_memory_restart`,
//! systemd's `MemoryMax=`, both in powers of 1024) and systemd time spans (`5s`, `1min 30s`, `infinity`,
//! a bare number of seconds).

use std::time::Duration;

/// What a size or duration setting said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount<T> {
    Value(T),
    /// `infinity` (or systemd's `0` for a stop timeout).
    Unlimited,
}

/// A byte size: a number with an optional `K`, `M`, `G` or `T` suffix (powers of 1024, `B`/`iB`
/// tolerated), or `infinity`.
pub fn parse_bytes(text: &str) -> Result<Amount<u64>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("infinity") {
        return Ok(Amount::Unlimited);
    }
    let lower = t.to_ascii_lowercase();
    let trimmed = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, shift) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 40),
        _ => (trimmed, 0),
    };
    let number: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("{t:?} is not a size (use e.g. 512M or 2G)"))?;
    number
        .checked_mul(1u64 << shift)
        .map(Amount::Value)
        .ok_or_else(|| format!("{t:?} is too large"))
}

/// A systemd time span (systemd.time(7)): `infinity`, a bare number of seconds, or units such as
/// `1min 30s`, `500ms`, `2h`.
pub fn parse_timespan(text: &str) -> Result<Amount<Duration>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("infinity") {
        return Ok(Amount::Unlimited);
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Amount::Value(Duration::from_secs(secs)));
    }
    humantime::parse_duration(t)
        .map(Amount::Value)
        .map_err(|e| format!("{t:?} is not a time span ({e})"))
}

/// Whole seconds, rounded up (a stop grace is never shortened).
pub fn whole_seconds_up(d: Duration) -> u64 {
    let secs = d.as_secs();
    if d.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_powers_of_1024() {
        assert_eq!(parse_bytes("260M"), Ok(Amount::Value(260 << 20)));
        assert_eq!(parse_bytes("1G"), Ok(Amount::Value(1 << 30)));
        assert_eq!(parse_bytes("8g"), Ok(Amount::Value(8 << 30)));
        assert_eq!(parse_bytes("1MB"), Ok(Amount::Value(1 << 20)));
        assert_eq!(parse_bytes("512KiB"), Ok(Amount::Value(512 << 10)));
        assert_eq!(parse_bytes("4096"), Ok(Amount::Value(4096)));
        assert_eq!(parse_bytes("infinity"), Ok(Amount::Unlimited));
        assert!(parse_bytes("50%").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }

    #[test]
    fn time_spans_follow_systemd() {
        assert_eq!(
            parse_timespan("5"),
            Ok(Amount::Value(Duration::from_secs(5)))
        );
        assert_eq!(
            parse_timespan("5s"),
            Ok(Amount::Value(Duration::from_secs(5)))
        );
        assert_eq!(
            parse_timespan("1min 30s"),
            Ok(Amount::Value(Duration::from_secs(90)))
        );
        assert_eq!(parse_timespan("infinity"), Ok(Amount::Unlimited));
        assert!(parse_timespan("soon").is_err());
        assert_eq!(whole_seconds_up(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds_up(Duration::from_secs(3)), 3);
    }
}
