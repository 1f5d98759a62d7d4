//! Keyset pagination.
//!
//! Every list is ordered newest first by `(created_at, id)` (audit events by `(ts, event_id)`)
//! and continues strictly after the last row of the previous page — no OFFSET, so a page costs
//! the same at row ten million as at row ten. The cursor is opaque to clients: the hex of
//! `v1|<unix micros>|<id>`.

use time::OffsetDateTime;

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page size.
pub const MAX_LIMIT: u32 = 500;

/// Where a page continues: strictly after this `(timestamp, id)` in the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub ts: OffsetDateTime,
    pub id: String,
}

/// A cursor that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor")]
pub struct CursorError;

impl Cursor {
    pub fn new(ts: OffsetDateTime, id: impl Into<String>) -> Self {
        Self { ts, id: id.into() }
    }

    /// The opaque string form handed to clients.
    pub fn encode(&self) -> String {
        let micros = self.ts.unix_timestamp_nanos() / 1_000;
        let raw = format!("v1|{micros}|{}", self.id);
        raw.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Parse a client-supplied cursor; anything malformed is a [`CursorError`].
    pub fn decode(s: &str) -> Result<Self, CursorError> {
        if s.is_empty() || s.len() % 2 != 0 || s.len() > 512 {
            return Err(CursorError);
        }
        let bytes: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(s.get(i..i + 2).ok_or(CursorError)?, 16).map_err(|_| CursorError)
            })
            .collect::<Result<_, _>>()?;
        let raw = String::from_utf8(bytes).map_err(|_| CursorError)?;
        let mut parts = raw.splitn(3, '|');
        if parts.next() != Some("v1") {
            return Err(CursorError);
        }
        let micros: i128 = parts
            .next()
            .and_then(|m| m.parse().ok())
            .ok_or(CursorError)?;
        let id = parts
            .next()
            .filter(|id| !id.is_empty())
            .ok_or(CursorError)?;
        let ts =
            OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).map_err(|_| CursorError)?;
        Ok(Self::new(ts, id))
    }
}

/// A page request: how many, and after which row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1..=500; validated by the caller.
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

impl PageRequest {
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }
}

/// One page of results and the cursor for the next, if there is more.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Build a page from up to `limit + 1` rows fetched in order: the extra row only tells
    /// that there is more. `key` gives a row's cursor.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Self {
        let limit = limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(&key) } else { None };
        Self { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let c = Cursor::new(
            time::macros::datetime!(2026-05-20 01:02:03.456789 UTC),
            "apr_01hx0000000000000000000000",
        );
        let s = c.encode();
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(Cursor::decode(&s).unwrap(), c);
    }

    #[test]
    fn bad_cursors() {
        for bad in ["", "zz", "abc", "7631", &"00".repeat(300)] {
            assert_eq!(Cursor::decode(bad), Err(CursorError), "{bad:?}");
        }
        let no_id: String = "v1|5|".bytes().map(|b| format!("{b:02x}")).collect();
        assert!(Cursor::decode(&no_id).is_err());
        let v2: String = "v2|5|x".bytes().map(|b| format!("{b:02x}")).collect();
        assert!(Cursor::decode(&v2).is_err());
    }

    #[test]
    fn page_from_rows() {
        let p = Page::from_rows(vec![1, 2, 3], 2, |n| {
            Cursor::new(OffsetDateTime::UNIX_EPOCH, n.to_string())
        });
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next.unwrap().id, "2");
        let p = Page::from_rows(vec![1, 2], 2, |n| {
            Cursor::new(OffsetDateTime::UNIX_EPOCH, n.to_string())
        });
        assert!(p.next.is_none());
    }
}
