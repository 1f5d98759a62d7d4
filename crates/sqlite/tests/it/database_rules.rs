//! Rules the SQLite schema enforces by itself: the shared suite
//! (`countersign_testkit::database_rules`) with raw SQL on SQLite, and the rules only SQLite
//! needs (timestamp and identifier shapes, `STRICT` types, savepoints, one pending approval
//! per job). Plus the SQLite-only parts of `SqliteStore`: pragmas, migrations, readiness,
//! in-memory databases and unavailable files.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use countersign_domain::{ApprovalState, Category, JobStatus};
use countersign_sqlite::{SqliteOptions, SqliteStore, MIGRATOR};
use countersign_store::conformance::fixtures::{self, TestStore};
use countersign_store::{PageRequest, Store, StoreError};
use countersign_testkit::database_rules::{self, Refusal, RuleDb};
use sqlx::SqlitePool;

use crate::support::TempDb;

/// SQLite's extended result codes for a refused write.
const CHECK: &str = "275";
const FOREIGN_KEY: &str = "787";
const TRIGGER: &str = "1811";
const DATATYPE: &str = "3091";

/// `strftime` for "now" in the stored timestamp form (`…SS.ffffffZ`).
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')";

/// A migrated store on a temp file (keep the guard alive as long as the store).
async fn fresh() -> (TempDb, SqliteStore, TestStore) {
    let db = TempDb::new();
    let store = db.store().await;
    let shared: TestStore = Arc::new(store.clone());
    (db, store, shared)
}

/// The extended result code and the constraint name of a database error: the name a
/// trigger raised (`RAISE(ABORT, '<name>: …')`) or a named CHECK.
fn refusal(e: sqlx::Error) -> Refusal {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = db.message();
            let name = message
                .strip_prefix("CHECK constraint failed: ")
                .or_else(|| message.split_once(": ").map(|(name, _)| name))
                .unwrap_or(message)
                .to_owned();
            (code, name)
        }
        other => panic!("expected a database error, got {other:?}"),
    }
}

/// The outcome of `r` as a refusal, for the SQLite-only rules below.
#[track_caller]
fn refused<T: std::fmt::Debug>(r: Result<T, sqlx::Error>) -> Refusal {
    match r {
        Err(e) => refusal(e),
        Ok(v) => panic!("expected a database error, got {v:?}"),
    }
}

/// Run `sql` in its own transaction (rolled back), answering its outcome.
async fn try_sql(pool: &SqlitePool, sql: &str, bind: &str) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let done = sqlx::query(sql).bind(bind).execute(&mut *tx).await?;
    tx.rollback().await?;
    Ok(done.rows_affected())
}

/// A migrated SQLite file for the shared rules.
struct SqliteRules {
    store: SqliteStore,
    _db: TempDb,
}

impl SqliteRules {
    /// A fresh file of its own, opened with the store's real settings (the empty database
    /// sqlx makes for the test is not used; sqlx removes it).
    async fn fresh(unused: SqlitePool) -> Self {
        unused.close().await;
        let (db, store, _) = fresh().await;
        Self { store, _db: db }
    }

    /// A fresh file, not migrated.
    async fn empty() -> Self {
        let db = TempDb::new();
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        Self { store, _db: db }
    }
}

#[async_trait]
impl RuleDb for SqliteRules {
    fn store(&self) -> TestStore {
        Arc::new(self.store.clone())
    }

    async fn exec(&self, sql: &str, binds: &[&str], commit: bool) -> Result<u64, Refusal> {
        let tx = self.store.pool().begin_with("BEGIN IMMEDIATE");
        let tx = tx.await.map_err(refusal)?;
        let done = database_rules::exec_in(tx, sql, binds, commit).await;
        done.map(|d| d.rows_affected()).map_err(refusal)
    }

    fn refusal_for(&self, name: &str) -> Refusal {
        match name {
            // Table CHECKs.
            "jobs_lease_consistent"
            | "approvals_decision_consistent"
            | "role_permissions_permission_check" => (CHECK.into(), name.into()),
            // A deferred foreign key from the policy to its first rule refuses the COMMIT.
            "policies_rules_when_required" => {
                (FOREIGN_KEY.into(), "FOREIGN KEY constraint failed".into())
            }
            // Triggers (`RAISE(ABORT, '<name>: …')`).
            _ => (TRIGGER.into(), name.into()),
        }
    }

    fn now(&self) -> &'static str {
        NOW
    }

    fn in_an_hour(&self) -> &'static str {
        "strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '+1 hour')"
    }

    fn roles_literal(&self, roles: &[&str]) -> String {
        let quoted: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
        format!("'[{}]'", quoted.join(","))
    }

    fn truncate(&self, _table: &str) -> Option<String> {
        None
    }

    fn bytes_literal(&self, hex: &str) -> String {
        format!("x'{hex}'")
    }

    async fn migrate(&self) {
        self.store.migrate().await.expect("migrate");
    }

    fn known_migrations(&self) -> usize {
        MIGRATOR.iter().count()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.store.pool())
            .await
            .unwrap()
    }

    async fn close(&self) {
        self.store.pool().close().await;
    }
}

countersign_testkit::database_rules_tests! {
    #[sqlx::test(migrations = false)]
    |pool: SqlitePool| SqliteRules::fresh(pool).await
}

#[tokio::test]
async fn audit_bodies_are_kept_byte_for_byte() {
    let (_db, store, shared) = fresh().await;
    let e = fixtures::event(Category::Config, "policy.updated", fixtures::now())
        .details(serde_json::json!({"z": 1, "a": "\u{e9}\u{1f510} \"q\" \\"}));
    let mut tx = shared.begin().await.unwrap();
    tx.append_audit(std::slice::from_ref(&e)).await.unwrap();
    tx.commit().await.unwrap();
    let body: String = sqlx::query_scalar("SELECT body FROM audit_events WHERE event_id = $1")
        .bind(e.event_id.to_string())
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(body, e.to_json_line());
}

#[tokio::test]
async fn a_failed_multi_statement_write_leaves_nothing_behind() {
    let (_db, _store, shared) = fresh().await;
    // The policy row is written, then its rules are refused: the savepoint takes the policy
    // back too, even though the transaction goes on and commits.
    let ghost = fixtures::role_slug("ghost");
    let p = fixtures::policy(vec![fixtures::rule(&ghost, 1)], fixtures::now());
    let mut tx = shared.begin().await.unwrap();
    assert!(matches!(
        tx.insert_policy(&p).await,
        Err(StoreError::ForeignKey { ref constraint }) if constraint == "policy_rules_role_id_fkey"
    ));
    assert_eq!(tx.get_policy(p.id).await.unwrap(), None);
    tx.commit().await.unwrap();
    let mut tx = shared.begin().await.unwrap();
    assert_eq!(tx.get_policy(p.id).await.unwrap(), None);
}

#[tokio::test]
async fn columns_hold_only_their_shapes() {
    let (_db, store, shared) = fresh().await;
    let p = fixtures::create_principal(&shared).await;
    // Timestamps are fixed-width UTC text at microseconds, so text order is time order.
    let stored: String = sqlx::query_scalar("SELECT created_at FROM principals WHERE id = $1")
        .bind(p.id.to_string())
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), "2026-05-20T00:00:00.000000Z".len());
    assert!(
        stored.ends_with('Z') && stored.as_bytes()[10] == b'T',
        "{stored}"
    );
    let insert = "INSERT INTO principals (id, name, kind, created_at) \
                  VALUES ('prn_00000000000000000000000000', 'raw', 'user', $1)";
    for bad in [
        "2026-05-20 00:00:00",
        "2026-05-20T00:00:00Z",
        "2026-05-20T00:00:00.000000+02:00",
    ] {
        assert_eq!(
            refused(try_sql(store.pool(), insert, bad).await),
            (CHECK.into(), "principals_created_at_check".into()),
            "{bad}"
        );
    }
    // Identifiers keep their shape; STRICT tables refuse the wrong type.
    let sql = "INSERT INTO principals (id, name, kind, created_at) \
               VALUES ($1, 'raw', 'user', '2026-05-20T00:00:00.000000Z')";
    for bad in [
        "prn_short",
        "key_00000000000000000000000000",
        "prn_0000000000000000000000000Z",
    ] {
        assert_eq!(
            refused(try_sql(store.pool(), sql, bad).await),
            (CHECK.into(), "principals_id_check".into()),
            "{bad}"
        );
    }
    let w = fixtures::world(&shared).await;
    let job = w.create_job(&shared, JobStatus::Pending).await;
    let r = try_sql(
        store.pool(),
        "UPDATE jobs SET attempts = 'many' WHERE id = $1",
        &job.id.to_string(),
    )
    .await;
    assert_eq!(refused(r).0, DATATYPE);
}

#[tokio::test]
async fn a_decided_approval_frees_the_jobs_pending_slot() {
    let (_db, store, shared) = fresh().await;
    let w = fixtures::world(&shared).await;
    let (_, a) = w.create_approval(&shared).await;
    let id = a.id.to_string();
    let mut tx = shared.begin().await.unwrap();
    assert!(tx
        .decide_approval(
            a.id,
            ApprovalState::Rejected,
            "prn_decider",
            fixtures::now()
        )
        .await
        .unwrap());
    tx.commit().await.unwrap();
    // Decided, it no longer holds the job's one pending slot; a second pending copy does.
    let copy = "INSERT INTO approvals (id, job_id, subject_id, policy_id, requested_by, state, \
                rules, created_at, expires_at) \
                SELECT $1, job_id, subject_id, policy_id, requested_by, 'pending', rules, \
                created_at, expires_at FROM approvals WHERE id = $2";
    let mut tx = store.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    for (n, want_ok) in [(1, true), (2, false)] {
        let r = sqlx::query(copy)
            .bind(format!("apr_{}{n}", "0".repeat(25)))
            .bind(&id)
            .execute(&mut *tx)
            .await;
        if want_ok {
            assert_eq!(r.unwrap().rows_affected(), 1);
        } else {
            match r {
                Err(sqlx::Error::Database(db)) => assert_eq!(
                    (db.code().unwrap_or_default().as_ref(), db.message()),
                    ("2067", "UNIQUE constraint failed: approvals.job_id")
                ),
                other => panic!("expected a unique violation, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn connect_applies_the_pragmas_and_options() {
    let db = TempDb::new();
    let options = SqliteOptions {
        max_connections: 3,
        busy_timeout: StdDuration::from_millis(1500),
        acquire_timeout: StdDuration::from_secs(3),
    };
    let store = SqliteStore::connect_with(&db.url(), options).await.unwrap();
    let pool = store.pool();
    assert_eq!(pool.options().get_max_connections(), 3);
    assert_eq!(
        pool.options().get_acquire_timeout(),
        StdDuration::from_secs(3)
    );
    let mut conn = pool.acquire().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(sync, 2, "FULL");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(fk, 1);
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(busy, 1500);
    assert_eq!(store.backend(), "sqlite");
    assert_eq!(
        SqliteOptions::default().busy_timeout,
        StdDuration::from_secs(5)
    );
}

#[tokio::test]
async fn migrate_is_idempotent_and_makes_the_store_ready() {
    database_rules::migrate_is_idempotent_and_makes_the_store_ready(&SqliteRules::empty().await)
        .await;
}

#[tokio::test]
async fn an_in_memory_database_works_on_one_connection() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.pool().options().get_max_connections(), 1);
    store.migrate().await.unwrap();
    store.readiness().await.unwrap();
    let shared: TestStore = Arc::new(store.clone());
    let p = fixtures::create_principal(&shared).await;
    let mut tx = shared.begin().await.unwrap();
    assert_eq!(tx.get_principal(p.id).await.unwrap(), Some(p));
    drop(tx);
    // Two in-memory stores are two databases.
    let other = SqliteStore::connect("sqlite::memory:").await.unwrap();
    other.migrate().await.unwrap();
    let other: TestStore = Arc::new(other);
    let mut tx = other.begin().await.unwrap();
    assert!(tx
        .list_principals(&PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn a_missing_or_unwritable_file_is_unavailable() {
    let db = TempDb::new();
    // Without `mode=rwc` a missing file is not created.
    let url = format!("sqlite://{}", db.path().display());
    match SqliteStore::connect(&url).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(!db.path().exists());
    match SqliteStore::connect("sqlite:///nonexistent-dir/countersign/x.db?mode=rwc").await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    match SqliteStore::connect("sqlite://x.db?mode=bogus").await {
        Err(StoreError::Other(_)) => {}
        other => panic!("a malformed URL is Other, got {other:?}"),
    }
}

#[tokio::test]
async fn a_writer_waits_for_the_lock_then_gives_up_as_unavailable() {
    let db = TempDb::new();
    let options = SqliteOptions {
        busy_timeout: StdDuration::from_millis(200),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::connect_with(&db.url(), options).await.unwrap();
    store.migrate().await.unwrap();
    let holder = store.begin().await.unwrap();
    match store.begin().await {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("locked"), "{m}"),
        other => panic!(
            "expected Unavailable while the write lock is held, got {:?}",
            other.err()
        ),
    }
    // Readers are not blocked by the writer (WAL).
    store.readiness().await.unwrap();
    drop(holder);
    store.begin().await.expect("the lock is free again");
}
