//! [`SqliteStore`]: the pool, its pragmas, migrations, readiness, key authentication and the
//! audit export.
//!
//! # Durability and concurrency settings
//!
//! Every connection the store opens runs with:
//! - `journal_mode = WAL`: readers (key authentication, exports, readiness) never block the
//!   writer and the writer never blocks them; each read sees one committed snapshot.
//! - `synchronous = FULL`: every COMMIT is fsynced to the WAL before it returns, so a
//!   committed approval, vote or audit event survives a power loss or OS crash — the same
//!   promise PostgreSQL's default (`synchronous_commit = on`) makes. (`NORMAL` would be faster
//!   but may lose the last commits on power loss; an audit trail should not.)
//! - `foreign_keys = ON`, and a busy timeout (default 5 s): a writer waits that long for the
//!   write lock held by another connection — of this pool, or of another process (a server
//!   and a scheduler sharing one file) — before the store answers `Unavailable`.
//!
//! Read-write transactions begin with `BEGIN IMMEDIATE` (see [`crate::tx`]); the crate docs
//! explain why that makes `lock_*` and `FOR UPDATE SKIP LOCKED` semantics hold.
//!
//! An in-memory database (`sqlite::memory:`) lives only as long as its pool and is shared
//! through SQLite's shared cache, which locks whole tables; the store therefore keeps it on
//! one connection, which every call takes in turn: fine for a demo or a quick test, but a
//! caller holding a transaction (or an unfinished export) makes every other call wait.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use countersign_domain::KeyId;
use countersign_store::{
    ExportFilter, ExportRow, KeyAuthRecord, Store, StoreError, StoreResult, Transaction,
};
use futures::stream::{self, BoxStream, StreamExt};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::error::{map_migrate, map_sqlx};
use crate::rows::{parse, AuditRow};
use crate::timestamp;
use crate::tx::SqliteTransaction;

/// The embedded migrations (`migrations/sqlite` at the workspace root).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Connection pool settings for [`SqliteStore::connect_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The most connections the pool opens (default 8). Writers take turns on SQLite's one
    /// write lock whatever this is; more connections let reads (authentication, exports) run
    /// beside a writer. An in-memory database always uses one.
    pub max_connections: u32,
    /// How long a statement waits for a lock another connection holds (SQLite's busy
    /// timeout, default 5 s) before the store answers `StoreError::Unavailable`.
    pub busy_timeout: Duration,
    /// How long a caller waits for a free pooled connection (default 5 s) before the store
    /// answers `StoreError::Unavailable`.
    pub acquire_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The SQLite backend: a cheap-to-clone handle on a connection pool over one database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Connect with [`SqliteOptions::default`]. `url` is `sqlite://path/to/file.db` (add
    /// `?mode=rwc` to create the file when missing) or `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        Self::connect_with(url, SqliteOptions::default()).await
    }

    /// Connect with explicit options. The first connection is opened now, so a missing file
    /// (without `mode=rwc`) or an unwritable directory fails here (`Unavailable`, or `Other`
    /// for a malformed URL).
    pub async fn connect_with(
        url: &str,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let connect = SqliteConnectOptions::from_str(url).map_err(map_sqlx)?;
        Self::connect_with_options(connect, is_memory(url), options).await
    }

    /// Connect to the database file at `path`, creating it when missing.
    pub async fn open(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::connect_with_options(connect, false, options).await
    }

    async fn connect_with_options(
        connect: SqliteConnectOptions,
        in_memory: bool,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let mut connect = connect
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout)
            .synchronous(SqliteSynchronous::Full);
        let mut pool = SqlitePoolOptions::new().acquire_timeout(options.acquire_timeout);
        if in_memory {
            // The database lives as long as one connection does: keep exactly one, forever.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        } else {
            connect = connect.journal_mode(SqliteJournalMode::Wal);
            pool = pool.max_connections(options.max_connections.max(1));
        }
        let pool = pool.connect_with(connect).await.map_err(map_sqlx)?;
        Ok(Self { pool })
    }

    /// Wrap an existing pool. The caller is responsible for its settings: WAL, a busy
    /// timeout and `foreign_keys = ON` (sqlx's default) are what this store assumes.
    pub fn from_pool(pool: SqlitePool) -> SqliteStore {
        Self { pool }
    }

    /// The pool underneath.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Apply every pending migration of [`MIGRATOR`]. Run it from one process (the server)
    /// before others open the file.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(map_migrate)
    }
}

/// Whether a URL names an in-memory database.
fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The migration versions embedded in this build.
fn known_migrations() -> impl Iterator<Item = i64> {
    MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
}

/// The key, its principal, the principal's roles (sorted) and the union of their permissions
/// (sorted, distinct), in one query.
const KEY_AUTH_SQL: &str = "\
SELECT k.id, k.principal_id, k.secret_hash, k.created_at, k.expires_at, k.revoked_at,
       p.name AS principal_name, p.kind AS principal_kind, p.disabled AS principal_disabled,
       p.created_at AS principal_created_at,
       (SELECT json_group_array(pr.role_id ORDER BY pr.role_id) FROM principal_roles pr
        WHERE pr.principal_id = k.principal_id) AS roles,
       (SELECT json_group_array(DISTINCT rp.permission ORDER BY rp.permission)
        FROM principal_roles pr JOIN role_permissions rp ON rp.role_id = pr.role_id
        WHERE pr.principal_id = k.principal_id) AS permissions
FROM api_keys k JOIN principals p ON p.id = k.principal_id
WHERE k.id = ?";

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_sqlx)?;
        Ok(Box::new(SqliteTransaction::new(tx)))
    }

    async fn key_auth_record(&self, id: KeyId) -> StoreResult<Option<KeyAuthRecord>> {
        sqlx::query_as::<_, crate::rows::KeyAuthRow>(KEY_AUTH_SQL)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx)?
            .map(crate::rows::KeyAuthRow::into_domain)
            .transpose()
    }

    async fn readiness(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(map_sqlx)?;
        sqlx::query("SELECT 1")
            .execute(&mut *conn)
            .await
            .map_err(map_sqlx)?;
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| match map_sqlx(e) {
                    unavailable @ StoreError::Unavailable(_) => unavailable,
                    // No migrations table at all.
                    _ => StoreError::Unavailable("schema not current".into()),
                })?;
        // Every migration of this build must be applied. Migrations are append-only and
        // backward-compatible, so a database a newer build migrated further is current too.
        if known_migrations().all(|v| applied.contains(&v)) {
            Ok(())
        } else {
            Err(StoreError::Unavailable("schema not current".into()))
        }
    }

    async fn pending_approvals_by_policy(&self) -> StoreResult<Vec<(String, u64)>> {
        crate::gauges::pending_approvals_by_policy(&self.pool).await
    }

    fn export_audit(
        &self,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>> {
        let chunk = u64::from(chunk_size.max(1));
        let start = Export::Start {
            pool: self.pool.clone(),
            filter,
        };
        stream::try_unfold(start, move |state| async move {
            let (mut tx, mut cursor) = match state {
                Export::Start { pool, filter } => {
                    // A deferred read transaction: its first SELECT pins one WAL snapshot,
                    // which every later chunk reads too.
                    let tx = pool.begin().await.map_err(map_sqlx)?;
                    let cursor = ExportCursor {
                        remaining: filter.limit,
                        after: filter
                            .after
                            .map(|(ts, id)| (timestamp::encode(ts), id.to_string())),
                        filter,
                    };
                    (tx, cursor)
                }
                Export::Open { tx, cursor } => (tx, cursor),
                Export::Done => return Ok(None),
            };
            let want = cursor.remaining.map_or(chunk, |r| r.min(chunk));
            if want == 0 {
                tx.commit().await.map_err(map_sqlx)?;
                return Ok(None);
            }
            let mut qb = cursor.query(want);
            let rows: Vec<AuditRow> = qb
                .build_query_as()
                .persistent(false)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            let fetched = rows.len() as u64;
            let next = if fetched < want {
                // Exhausted: end the snapshot now rather than after one more read that could
                // only find nothing.
                tx.commit().await.map_err(map_sqlx)?;
                Export::Done
            } else {
                if let Some(last) = rows.last() {
                    cursor.after = Some((last.ts.clone(), last.event_id.clone()));
                }
                cursor.remaining = cursor.remaining.map(|r| r - fetched);
                Export::Open { tx, cursor }
            };
            if rows.is_empty() {
                return Ok(None);
            }
            let rows = rows
                .into_iter()
                .map(|r| {
                    Ok(ExportRow {
                        ts: timestamp::decode("audit_events.ts", &r.ts)?,
                        event_id: parse("audit_events.event_id", &r.event_id)?,
                        line: r.body,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Some((rows, next)))
        })
        .boxed()
    }
}

/// The state of an export stream.
enum Export {
    /// Not started: the pool to take a connection from, and what to export.
    Start {
        pool: SqlitePool,
        filter: ExportFilter,
    },
    /// The snapshot transaction, and where the next chunk starts.
    Open {
        tx: sqlx::Transaction<'static, Sqlite>,
        cursor: ExportCursor,
    },
    /// Every row was sent and the transaction committed.
    Done,
}

/// Where an export stands: the window, the rows still allowed, and the stored `(ts,
/// event_id)` of the last row sent.
struct ExportCursor {
    filter: ExportFilter,
    remaining: Option<u64>,
    after: Option<(String, String)>,
}

impl ExportCursor {
    /// The next chunk: `(ts, event_id) > after` within the window, oldest first.
    fn query(&self, limit: u64) -> QueryBuilder<'static, Sqlite> {
        let mut qb =
            QueryBuilder::<Sqlite>::new("SELECT ts, event_id, body FROM audit_events WHERE ts >= ");
        qb.push_bind(timestamp::encode(self.filter.from))
            .push(" AND ts < ")
            .push_bind(timestamp::encode(self.filter.to));
        if let Some(category) = self.filter.category {
            qb.push(" AND category = ").push_bind(category.as_str());
        }
        if let Some((ts, id)) = &self.after {
            qb.push(" AND (ts, event_id) > (")
                .push_bind(ts.clone())
                .push(", ")
                .push_bind(id.clone())
                .push(")");
        }
        qb.push(" ORDER BY ts, event_id LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        qb
    }
}
