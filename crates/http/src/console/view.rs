//! How the console's templates show values: instants, time left, JSON, query strings.

use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An instant as people read it: `2026-05-20 14:03:07 UTC`.
pub fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An instant as RFC 3339, for `<time datetime>` and links.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// How long until `until`, coarsely (`2d 3h`, `3h 12m`, `4m`, `under a minute`), or `None`
/// once it has passed.
pub fn time_left(until: OffsetDateTime, now: OffsetDateTime) -> Option<String> {
    let secs = (until - now).whole_seconds();
    if secs <= 0 {
        return None;
    }
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    Some(if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        "under a minute".to_owned()
    })
}

/// A JSON value, indented.
pub fn pretty_json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// `value` percent-encoded for a query string (everything but unreserved characters).
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A query string from the pairs whose value is set (`a=1&b=x%20y`).
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", url_encode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Where a sign-in may send someone back to: a console page, never elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/ui/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn time_left_is_coarse_and_none_once_past() {
        let now = datetime!(2026-05-20 10:00:00 UTC);
        assert_eq!(
            time_left(now + time::Duration::hours(50), now).unwrap(),
            "2d 2h"
        );
        assert_eq!(
            time_left(now + time::Duration::minutes(75), now).unwrap(),
            "1h 15m"
        );
        assert_eq!(
            time_left(now + time::Duration::seconds(90), now).unwrap(),
            "1m"
        );
        assert_eq!(
            time_left(now + time::Duration::seconds(5), now).unwrap(),
            "under a minute"
        );
        assert_eq!(time_left(now, now), None);
        assert_eq!(when(now), "2026-05-20 10:00:00 UTC");
    }

    #[test]
    fn next_pages_stay_inside_the_console() {
        assert_eq!(
            safe_next(Some("/ui/approvals/apr_1")),
            "/ui/approvals/apr_1"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/ui/",
            "/api/v1/audit",
            "/ui\\x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/ui/", "{bad}");
        }
        assert_eq!(safe_next(None), "/ui/");
        assert_eq!(
            query(&[("a", Some("x y&")), ("b", None), ("c", Some(""))]),
            "a=x%20y%26"
        );
    }
}
