//! Decoding stored values into domain types, shared by every backend.
//!
//! Backends read plain column values and parse them into the domain's validated types here.
//! A stored value that no longer parses (which the schema's CHECKs should make impossible) is
//! a [`CorruptRow`] inside [`StoreError::Other`].

use std::fmt::Display;
use std::str::FromStr;

use crate::error::{StoreError, StoreResult};

/// A stored value that does not parse as its domain type.
#[derive(Debug, thiserror::Error)]
#[error("stored {column} value {value:?} is invalid: {reason}")]
pub struct CorruptRow {
    column: &'static str,
    value: String,
    reason: String,
}

impl CorruptRow {
    pub fn new(column: &'static str, value: &str, reason: impl Display) -> Self {
        Self {
            column,
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// Parse a stored string into a domain type.
pub fn parse<T>(column: &'static str, value: &str) -> StoreResult<T>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .parse()
        .map_err(|e: T::Err| StoreError::other(CorruptRow::new(column, value, e)))
}

/// Parse an optional stored string.
pub fn parse_opt<T>(column: &'static str, value: Option<&str>) -> StoreResult<Option<T>>
where
    T: FromStr,
    T::Err: Display,
{
    value.map(|v| parse(column, v)).transpose()
}

/// Parse every stored string of a list.
pub fn parse_all<T>(column: &'static str, values: &[String]) -> StoreResult<Vec<T>>
where
    T: FromStr,
    T::Err: Display,
{
    values.iter().map(|v| parse(column, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_domain::JobStatus;

    #[test]
    fn parses_or_names_the_column() {
        assert_eq!(
            parse::<JobStatus>("jobs.status", "pending").unwrap(),
            JobStatus::Pending
        );
        let err = parse::<JobStatus>("jobs.status", "done").unwrap_err();
        assert!(err.to_string().contains("jobs.status"), "{err}");
        assert_eq!(parse_opt::<JobStatus>("c", None).unwrap(), None);
        assert_eq!(
            parse_all::<JobStatus>("c", &["running".into(), "failed".into()]).unwrap(),
            vec![JobStatus::Running, JobStatus::Failed]
        );
        assert!(parse_all::<JobStatus>("c", &["running".into(), "x".into()]).is_err());
    }
}
