//! Timestamps as fixed-width UTC text: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
//!
//! Every timestamp column holds exactly this shape (a CHECK in the schema refuses any other),
//! at microsecond precision like PostgreSQL's `timestamptz`. Because the width is fixed and
//! the zone is always UTC, comparing the text compares the instants: keyset pagination,
//! range filters and `ORDER BY` all work on the column as it is, and the values stay readable
//! in a `sqlite3` shell.

use countersign_domain::clock::truncate_to_micros;
use countersign_store::decode::CorruptRow;
use countersign_store::{StoreError, StoreResult};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// The stored form of `t`: truncated to microseconds, in UTC.
pub(crate) fn encode(t: OffsetDateTime) -> String {
    // Formatting a UTC instant with this description cannot fail for years 0..=9999; for any
    // other year the text has a sign or a fifth digit, which the schema's CHECK refuses.
    truncate_to_micros(t)
        .format(FORMAT)
        .unwrap_or_else(|_| format!("{t}"))
}

/// Parse a stored timestamp of `column`.
pub(crate) fn decode(column: &'static str, value: &str) -> StoreResult<OffsetDateTime> {
    PrimitiveDateTime::parse(value, FORMAT)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|e| StoreError::other(CorruptRow::new(column, value, e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn round_trip_at_microseconds() {
        let t = datetime!(2026-05-20 01:02:03.456789 UTC);
        assert_eq!(encode(t), "2026-05-20T01:02:03.456789Z");
        assert_eq!(decode("t", &encode(t)).unwrap(), t);
        let whole = datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(encode(whole), "2026-01-01T00:00:00.000000Z");
    }

    #[test]
    fn truncates_and_normalises_to_utc() {
        let t = datetime!(2026-05-20 03:02:03.123456789 +02:00);
        assert_eq!(encode(t), "2026-05-20T01:02:03.123456Z");
    }

    #[test]
    fn text_order_is_time_order() {
        let a = datetime!(2026-05-20 09:59:59.999999 UTC);
        let b = datetime!(2026-05-20 10:00:00 UTC);
        let c = datetime!(2027-01-01 00:00:00.000001 UTC);
        assert!(encode(a) < encode(b) && encode(b) < encode(c));
        assert_eq!(encode(a).len(), encode(c).len());
    }

    #[test]
    fn other_shapes_are_corrupt() {
        for bad in ["2026-05-20 01:02:03", "2026-05-20T01:02:03Z", "x", ""] {
            assert!(decode("t", bad).is_err(), "{bad:?}");
        }
    }
}
