//! Timestamps at store precision.
//!
//! Stores keep microseconds (PostgreSQL `timestamptz`), so every timestamp the domain mints
//! is truncated to the microsecond: a value read back equals the value written.

use time::OffsetDateTime;

/// The current UTC time, truncated to whole microseconds.
pub fn now() -> OffsetDateTime {
    truncate_to_micros(OffsetDateTime::now_utc())
}

/// Drop sub-microsecond precision and normalise to UTC.
pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000)
        .expect("a truncated nanosecond stays in range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_to_micros_and_utc() {
        let t = time::macros::datetime!(2026-05-20 10:00:00.123_456_789 +02:00);
        let u = truncate_to_micros(t);
        assert_eq!(u.nanosecond(), 123_456_000);
        assert_eq!(u.offset(), time::UtcOffset::UTC);
        assert_eq!(u, t - time::Duration::nanoseconds(789));
        assert_eq!(now().nanosecond() % 1_000, 0);
    }
}
