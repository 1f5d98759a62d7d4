//! `--from`/`--to` values: RFC 3339 (`2026-05-20T00:00:00Z`), a UTC date (`2026-05-20`),
//! `now`, or a time before now (`now-7d`, `-90m`, `-1h30m`: a `humantime` duration, the same
//! grammar as the configuration's durations). Sent as RFC 3339 UTC.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

/// Parse a time argument against `now`.
pub fn parse(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    let ago = s.strip_prefix("now-").or_else(|| s.strip_prefix('-'));
    if let Some(span) = ago {
        return Ok(now - duration(span).ok_or_else(|| bad(s))?);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.to_offset(UtcOffset::UTC));
    }
    if let Ok(d) = Date::parse(s, format_description!("[year]-[month]-[day]")) {
        return Ok(d.midnight().assume_utc());
    }
    Err(bad(s))
}

/// A clap value parser: the time as RFC 3339 UTC text.
pub fn clap_parse(s: &str) -> Result<String, String> {
    parse(s, OffsetDateTime::now_utc()).map(format)
}

/// RFC 3339 in UTC.
pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

fn bad(s: &str) -> String {
    format!("`{s}` is not a time: use RFC 3339 (2026-05-20T00:00:00Z), a date (2026-05-20), `now`, or `now-7d`")
}

fn duration(span: &str) -> Option<Duration> {
    let d = humantime::parse_duration(span).ok()?;
    Duration::try_from(d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn every_form() {
        let now = datetime!(2026-05-20 12:00:00 UTC);
        assert_eq!(parse("now", now).unwrap(), now);
        assert_eq!(
            parse("now-7d", now).unwrap(),
            datetime!(2026-05-13 12:00:00 UTC)
        );
        assert_eq!(
            parse("-90m", now).unwrap(),
            datetime!(2026-05-20 10:30:00 UTC)
        );
        assert_eq!(
            parse("2026-05-01", now).unwrap(),
            datetime!(2026-05-01 00:00:00 UTC)
        );
        assert_eq!(
            parse("2026-05-01T02:00:00+02:00", now).unwrap(),
            datetime!(2026-05-01 00:00:00 UTC)
        );
        assert_eq!(
            format(parse("2026-05-01T02:00:00+02:00", now).unwrap()),
            "2026-05-01T00:00:00Z"
        );
        assert_eq!(
            parse("-1h30m", now).unwrap(),
            datetime!(2026-05-20 10:30:00 UTC)
        );
        assert_eq!(
            parse("now-2weeks", now).unwrap(),
            datetime!(2026-05-06 12:00:00 UTC)
        );
        for bad in ["yesterday", "-7x", "now-", "2026-13-01", "-d"] {
            assert!(
                parse(bad, now).unwrap_err().contains("is not a time"),
                "{bad}"
            );
        }
    }
}
