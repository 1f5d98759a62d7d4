//! Human units: durations through `humantime` (`500ms`, `10s`, `5m`, `168h`, `90d`, `1h 30m`)
//! and sizes (`1MiB`, `512KiB`).

use std::time::Duration;

use crate::ConfigError;

/// Parse a duration with `humantime` (`10s`, `5m`, `168h`, `90d`, `1h 30m`); a bare integer
/// is seconds, as it always was.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("`{s}` is too long"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration (e.g. 10s, 5m, 168h, 90d): {e}"))
}

/// Parse a size: an integer with an optional unit `B`, `KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 1MiB, 512KiB)"))?;
    let mult: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "`{s}`: unknown unit `{other}` (B, KiB, MiB, GiB, KB, MB, GB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// A fallback poll interval (`COUNTERSIGN_EVENT_POLL`, `COUNTERSIGN_DELIVERY_POLL`): from
/// 10ms (tighter only spins the database) to 1h.
pub(crate) fn check_poll(name: &'static str, every: Duration) -> Result<(), ConfigError> {
    if every < Duration::from_millis(10) || every > Duration::from_secs(3600) {
        return Err(ConfigError::new(name, "must be between 10ms and 1h"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("168h"), Ok(Duration::from_secs(168 * 3600)));
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("42"), Ok(Duration::from_secs(42)));
        for bad in ["", "s", "10x", "-1s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    /// The `humantime` grammar the CLI shares: compound values and long unit names.
    #[test]
    fn durations_use_the_humantime_grammar() {
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2days"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_duration("15min"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        for bad in ["", "MiB", "1PiB", "1.5MiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn poll_intervals_are_bounded() {
        assert!(check_poll("P", Duration::from_millis(10)).is_ok());
        assert!(check_poll("P", Duration::from_secs(3600)).is_ok());
        let e = check_poll("P", Duration::from_millis(9)).unwrap_err();
        assert_eq!(e.to_string(), "P: must be between 10ms and 1h");
        assert!(check_poll("P", Duration::from_secs(3601)).is_err());
    }
}
