//! A PostgreSQL database made for one test — for tests that hand a URL to a process, where
//! `#[sqlx::test]` (a pool in the same process) does not fit — dropped, with force, on drop.

use sqlx::{Connection, PgConnection};

use crate::names::unique;

/// The server for test databases: `DATABASE_URL` from the environment, else the workspace's
/// `.env` (as `#[sqlx::test]` finds it), else the documented local default.
pub fn admin_url() -> String {
    dotenvy::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced by `db` (a query string is kept).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    format!("{base}/{db}{query}")
}

/// `url` logging in as `user` (no password: the test cluster trusts local connections).
pub fn with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with ://");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}@{host}")
}

/// A fresh, empty database on the [`admin_url`] server, dropped when this is dropped.
#[derive(Debug)]
pub struct PgDatabase {
    /// The URL of the server's maintenance database it was made from.
    pub admin: String,
    pub name: String,
    /// The URL of this database.
    pub url: String,
}

impl PgDatabase {
    /// A database named `countersign_test_…`.
    pub async fn create() -> Self {
        Self::create_named(unique("countersign_test")).await
    }

    /// A database named `name` (unique to the caller).
    pub async fn create_named(name: String) -> Self {
        let admin = admin_url();
        execute(&admin, &format!(r#"CREATE DATABASE "{name}""#)).await;
        let url = with_database(&admin, &name);
        Self { admin, name, url }
    }

    /// [`create`](Self::create) for a test without a runtime.
    pub fn create_blocking() -> Self {
        on_own_runtime(Self::create)
    }

    /// Run `sql` (one or more statements) on this database as the `DATABASE_URL` user.
    pub async fn execute(&self, sql: &str) {
        execute(&self.url, sql).await;
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        let dropped = on_own_runtime(|| async move {
            let mut conn = PgConnection::connect(&admin).await?;
            sqlx::raw_sql(&sql).execute(&mut conn).await?;
            conn.close().await
        });
        if let Err(dropped) = dropped {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

async fn execute(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
}

/// Run the future `make` makes to completion on a runtime of its own, on a thread of its own: callable from
/// inside another runtime (and from `Drop`) as well as outside one.
fn on_own_runtime<M, F>(make: M) -> F::Output
where
    M: FnOnce() -> F + Send + 'static,
    F: std::future::Future,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(make())
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "t"),
            "postgres://u@h:5432/t?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t"), "postgres://h/t");
        assert_eq!(
            with_database("postgres://u:p@db/app?sslmode=disable", "x"),
            "postgres://u:p@db/x?sslmode=disable"
        );
        assert_eq!(
            with_user("postgres://postgres@h:5432/db", "app"),
            "postgres://app@h:5432/db"
        );
    }
}
