//! [`Cols`]: reading one result row's columns as domain values.
//!
//! Every read names its column as `table.column` (the label a corrupt-row error reports); the
//! row's column is the part after the dot, behind an optional prefix for joined rows
//! (`principal_name` read as `principals.name` with prefix `principal_`). A stored value that
//! does not parse is a `CorruptRow` inside `StoreError::Other`.

use std::fmt::Display;
use std::str::FromStr;

use countersign_store::decode::{parse, parse_all};
use countersign_store::StoreResult;
use serde::de::DeserializeOwned;
use sqlx::Database;
use time::OffsetDateTime;

use crate::db::Get;
use crate::dialect::Dialect;

/// One row of a result, read column by column.
pub struct Cols<'r, D: Dialect> {
    row: &'r <D::DB as Database>::Row,
    prefix: &'static str,
}

impl<'r, D: Dialect> Cols<'r, D> {
    pub(crate) fn new(row: &'r <D::DB as Database>::Row) -> Self {
        Self { row, prefix: "" }
    }

    /// The same row, reading every column with `prefix` in front of its name.
    pub fn prefixed(&self, prefix: &'static str) -> Self {
        Self {
            row: self.row,
            prefix,
        }
    }

    /// Read the column a `table.column` label names, as the driver type `T`.
    pub fn get<T>(&self, label: &'static str) -> StoreResult<T>
    where
        D::DB: Get<T>,
    {
        let column = label.rsplit('.').next().unwrap_or(label);
        let got = if self.prefix.is_empty() {
            <D::DB as Get<T>>::get(self.row, column)
        } else {
            <D::DB as Get<T>>::get(self.row, &format!("{}{column}", self.prefix))
        };
        got.map_err(D::map_error)
    }

    /// A text column.
    pub fn text(&self, label: &'static str) -> StoreResult<String> {
        self.get(label)
    }

    /// A nullable text column.
    pub fn opt_text(&self, label: &'static str) -> StoreResult<Option<String>> {
        self.get(label)
    }

    /// A text column parsed into a domain type.
    pub fn parse<T>(&self, label: &'static str) -> StoreResult<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        parse(label, &self.text(label)?)
    }

    /// A nullable text column parsed into a domain type.
    pub fn parse_opt<T>(&self, label: &'static str) -> StoreResult<Option<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.opt_text(label)?.map(|v| parse(label, &v)).transpose()
    }

    /// A timestamp column.
    pub fn time(&self, label: &'static str) -> StoreResult<OffsetDateTime> {
        D::decode_time(label, self.get(label)?)
    }

    /// A nullable timestamp column.
    pub fn opt_time(&self, label: &'static str) -> StoreResult<Option<OffsetDateTime>> {
        let value: Option<D::Time> = self.get(label)?;
        value.map(|v| D::decode_time(label, v)).transpose()
    }

    /// A JSON column.
    pub fn json<T: DeserializeOwned>(&self, label: &'static str) -> StoreResult<T> {
        D::decode_json(label, self.get(label)?)
    }

    /// A list-of-strings column, each parsed into a domain type.
    pub fn list<T>(&self, label: &'static str) -> StoreResult<Vec<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        parse_all(label, &D::decode_list(label, self.get(label)?)?)
    }
}

impl<D: Dialect> std::fmt::Debug for Cols<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cols")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}
