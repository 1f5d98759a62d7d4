//! [`SqlDb`]: the sqlx capabilities the shared repositories need of a driver, in one trait.
//!
//! Generic code over `sqlx::Database` normally repeats long bounds (`for<'c> &'c mut
//! Connection: Executor<'c>`, `for<'q> Arguments<'q>: IntoArguments<'q>`, `String: Encode +
//! Type`, …) on every function. Rust only carries a trait's *supertraits* into generic code, so
//! each capability here is a small trait with a blanket impl, and [`SqlDb`] lists them as
//! supertraits: a function bounded by `DB: SqlDb` may bind and read every column type the
//! schema uses, and run a [`crate::Sql`] on a connection, with no further bounds.

use futures::future::BoxFuture;
use sqlx::database::HasStatementCache;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::{
    Arguments, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type,
};

/// A value the driver can bind as a query parameter.
pub trait Bind<T>: Database {
    /// Add `value` to `args`.
    fn add(args: &mut <Self as Database>::Arguments<'_>, value: T) -> Result<(), BoxDynError>;
}

impl<DB: Database, T> Bind<T> for DB
where
    T: for<'q> Encode<'q, DB> + Type<DB> + Send + 'static,
{
    fn add(args: &mut <DB as Database>::Arguments<'_>, value: T) -> Result<(), BoxDynError> {
        args.add(value)
    }
}

/// A value the driver can read from a named column.
pub trait Get<T>: Database {
    /// Read column `column` of `row`.
    fn get(row: &<Self as Database>::Row, column: &str) -> Result<T, sqlx::Error>;
}

impl<DB: Database, T> Get<T> for DB
where
    T: for<'r> Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<<DB as Database>::Row>,
{
    fn get(row: &<DB as Database>::Row, column: &str) -> Result<T, sqlx::Error> {
        row.try_get(column)
    }
}

/// A deferred bind: applied to fresh arguments when the statement runs.
pub type BindFn<DB> =
    Box<dyn for<'a> FnOnce(&mut <DB as Database>::Arguments<'a>) -> Result<(), BoxDynError> + Send>;

/// A statement ready to run: its text, its deferred binds, and whether the driver should keep
/// it prepared (not for texts that vary with their data, such as multi-row inserts).
pub struct Statement<DB: Database> {
    pub text: String,
    pub binds: Vec<BindFn<DB>>,
    pub persistent: bool,
}

/// Running a statement (its text and deferred binds) on a connection.
pub trait Run: Database {
    /// Execute a statement; its result (rows affected).
    fn run<'c>(
        conn: &'c mut <Self as Database>::Connection,
        stmt: Statement<Self>,
    ) -> BoxFuture<'c, Result<<Self as Database>::QueryResult, sqlx::Error>>;

    /// Fetch every row of a query.
    fn rows<'c>(
        conn: &'c mut <Self as Database>::Connection,
        stmt: Statement<Self>,
    ) -> BoxFuture<'c, Result<Vec<<Self as Database>::Row>, sqlx::Error>>;

    /// Apply every pending migration of `migrator`.
    fn migrate<'a>(
        pool: &'a Pool<Self>,
        migrator: &'static Migrator,
    ) -> BoxFuture<'a, Result<(), MigrateError>>;
}

fn arguments<'a, DB: Database>(
    binds: Vec<BindFn<DB>>,
) -> Result<<DB as Database>::Arguments<'a>, sqlx::Error> {
    let mut args = <DB as Database>::Arguments::default();
    for bind in binds {
        bind(&mut args).map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}

impl<DB: Database + HasStatementCache> Run for DB
where
    <DB as Database>::Connection: Migrate,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
{
    fn run<'c>(
        conn: &'c mut <DB as Database>::Connection,
        stmt: Statement<DB>,
    ) -> BoxFuture<'c, Result<<DB as Database>::QueryResult, sqlx::Error>> {
        Box::pin(async move {
            let args = arguments::<DB>(stmt.binds)?;
            sqlx::query_with(&stmt.text, args)
                .persistent(stmt.persistent)
                .execute(conn)
                .await
        })
    }

    fn rows<'c>(
        conn: &'c mut <DB as Database>::Connection,
        stmt: Statement<DB>,
    ) -> BoxFuture<'c, Result<Vec<<DB as Database>::Row>, sqlx::Error>> {
        Box::pin(async move {
            let args = arguments::<DB>(stmt.binds)?;
            sqlx::query_with(&stmt.text, args)
                .persistent(stmt.persistent)
                .fetch_all(conn)
                .await
        })
    }

    fn migrate<'a>(
        pool: &'a Pool<DB>,
        migrator: &'static Migrator,
    ) -> BoxFuture<'a, Result<(), MigrateError>> {
        Box::pin(migrator.run(pool))
    }
}

/// Declare [`SqlDb`] with its capabilities listed once, and implement it for every driver
/// that has them all.
macro_rules! sql_db {
    ($($capability:path),+ $(,)?) => {
        /// Every capability the shared repositories need of a driver: run statements, bind and
        /// read text, booleans, integers and bytes (each also optional where the schema allows
        /// NULL).
        pub trait SqlDb: Run $(+ $capability)+ {}

        impl<DB> SqlDb for DB where DB: Run $(+ $capability)+ {}
    };
}

sql_db!(
    Bind<String>,
    Bind<Option<String>>,
    Bind<bool>,
    Bind<i32>,
    Bind<Option<i32>>,
    Bind<i64>,
    Bind<Option<i64>>,
    Bind<Vec<u8>>,
    Get<String>,
    Get<Option<String>>,
    Get<bool>,
    Get<i32>,
    Get<Option<i32>>,
    Get<i64>,
    Get<Option<i64>>,
    Get<Vec<u8>>,
    Get<Option<Vec<u8>>>,
);

impl<DB: Database> std::fmt::Debug for Statement<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statement")
            .field("text", &self.text)
            .field("binds", &self.binds.len())
            .finish()
    }
}
