//! [`Sql`]: a statement built from text and binds, `$n` placeholders numbered as they come,
//! plus the shared `WHERE … AND …` chain and keyset pagination.
//!
//! Every list reads `limit + 1` rows newest first and continues strictly after the cursor:
//! `(created_at, id) < ($ts, $id) ORDER BY created_at DESC, id DESC LIMIT $n` — no OFFSET,
//! so each page is one index range scan whatever its depth. Both engines accept `$n`.

use std::fmt::Write as _;

use countersign_store::{Cursor, PageRequest, StoreResult};
use sqlx::Database;
use time::OffsetDateTime;

use crate::cols::Cols;
use crate::db::{Bind, BindFn, Run, Statement};
use crate::dialect::Dialect;

/// The connection a transaction runs on.
pub type Conn<D> = <<D as Dialect>::DB as Database>::Connection;

/// A statement under construction.
pub struct Sql<D: Dialect> {
    text: String,
    binds: Vec<BindFn<D::DB>>,
    persistent: bool,
    any_condition: bool,
}

impl<D: Dialect> Sql<D> {
    /// Start from `text`, which may already hold `$1…` placeholders for [`Sql::arg`]s.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            binds: Vec::new(),
            persistent: true,
            any_condition: false,
        }
    }

    /// Do not keep this statement prepared: its text varies with its data.
    pub fn once(mut self) -> Self {
        self.persistent = false;
        self
    }

    /// Append text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Add the value of the next placeholder, already written in the text.
    pub fn arg<T>(mut self, value: T) -> Self
    where
        D::DB: Bind<T>,
        T: Send + 'static,
    {
        self.param(value);
        self
    }

    /// Add a value and answer its placeholder (`$n`), for the caller to write.
    pub fn param<T>(&mut self, value: T) -> String
    where
        D::DB: Bind<T>,
        T: Send + 'static,
    {
        self.binds
            .push(Box::new(move |args| <D::DB as Bind<T>>::add(args, value)));
        format!("${}", self.binds.len())
    }

    /// Add a value and write its placeholder.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        D::DB: Bind<T>,
        T: Send + 'static,
    {
        let p = self.param(value);
        self.text.push_str(&p);
        self
    }

    /// Start a condition: write ` WHERE ` before the first and ` AND ` before the rest.
    pub fn and(&mut self) -> &mut Self {
        self.text.push_str(if self.any_condition {
            " AND "
        } else {
            " WHERE "
        });
        self.any_condition = true;
        self
    }

    /// Write the keyset condition (when the page continues a cursor), the newest-first order
    /// and the `LIMIT limit + 1` of a page over columns `ts_col` and `id_col`.
    pub fn page(&mut self, ts_col: &str, id_col: &str, page: &PageRequest) -> &mut Self {
        if let Some(after) = &page.after {
            self.and();
            let _ = write!(self.text, "({ts_col}, {id_col}) < (");
            self.bind(D::encode_time(after.ts)).push(", ");
            self.bind(after.id.clone()).push(")");
        }
        let _ = write!(self.text, " ORDER BY {ts_col} DESC, {id_col} DESC LIMIT ");
        self.bind(i64::from(page.limit) + 1)
    }

    fn statement(self) -> Statement<D::DB> {
        Statement {
            text: self.text,
            binds: self.binds,
            persistent: self.persistent,
        }
    }

    /// Run the statement; the number of rows it changed.
    pub async fn execute(self, conn: &mut Conn<D>) -> StoreResult<u64> {
        let done = <D::DB as Run>::run(conn, self.statement())
            .await
            .map_err(D::map_error)?;
        Ok(D::rows_affected(&done))
    }

    /// Every row, each decoded by `decode`.
    pub async fn fetch_all<T>(
        self,
        conn: &mut Conn<D>,
        decode: impl Fn(&Cols<'_, D>) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let rows = <D::DB as Run>::rows(conn, self.statement())
            .await
            .map_err(D::map_error)?;
        rows.iter().map(|row| decode(&Cols::new(row))).collect()
    }

    /// The first row, if any, decoded by `decode`.
    pub async fn fetch_optional<T>(
        self,
        conn: &mut Conn<D>,
        decode: impl Fn(&Cols<'_, D>) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        Ok(self.fetch_all(conn, decode).await?.into_iter().next())
    }
}

/// The cursor of a row in a `(created_at, id)`-ordered list.
pub(crate) fn cursor(ts: OffsetDateTime, id: impl ToString) -> Cursor {
    Cursor::new(ts, id.to_string())
}

impl<D: Dialect> std::fmt::Debug for Sql<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sql")
            .field("text", &self.text)
            .field("binds", &self.binds.len())
            .finish()
    }
}

/// A dialect's fragment template with each `{name}` replaced by its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn fill_replaces_every_named_slot() {
        assert_eq!(
            fill(
                "ARRAY(SELECT {expr} FROM {from} ORDER BY {expr})",
                &[("expr", "r.id"), ("from", "roles r")]
            ),
            "ARRAY(SELECT r.id FROM roles r ORDER BY r.id)"
        );
        assert_eq!(fill("= ANY({list})", &[("list", "$3")]), "= ANY($3)");
        assert_eq!(fill("{other}", &[("list", "$1")]), "{other}");
    }
}
