//! Rules the SQLite schema enforces by itself, checked with raw SQL that bypasses the store:
//! whatever code path writes (ours, an old process, a `sqlite3` shell), these hold. Mirrors
//! `crates/postgres/tests/database_rules.rs`. Plus the SQLite-only parts of `SqliteStore`:
//! pragmas, migrations, readiness, in-memory databases and unavailable files.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use crate::support::TempDb;
use countersign_domain::job::TRANSITIONS;
use countersign_domain::{ApprovalState, Category, JobStatus, Permission, VoteDecision};
use countersign_sqlite::{SqliteOptions, SqliteStore, MIGRATOR};
use countersign_store::conformance::fixtures::{self, TestStore, World};
use countersign_store::{PageRequest, Store, StoreError};
use sqlx::SqlitePool;

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
#[track_caller]
fn refusal<T: std::fmt::Debug>(r: Result<T, sqlx::Error>) -> (String, String) {
    match r {
        Err(sqlx::Error::Database(db)) => {
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

/// Run `sql` in its own transaction (rolled back), answering its outcome.
async fn try_sql(pool: &SqlitePool, sql: &str, bind: &str) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let done = sqlx::query(sql).bind(bind).execute(&mut *tx).await?;
    tx.rollback().await?;
    Ok(done.rows_affected())
}

#[tokio::test]
async fn audit_events_refuse_update_and_delete() {
    let (_db, store, shared) = fresh().await;
    let e = fixtures::event(Category::Auth, "auth.denied", fixtures::now());
    let mut tx = shared.begin().await.unwrap();
    tx.append_audit(std::slice::from_ref(&e)).await.unwrap();
    tx.commit().await.unwrap();
    let id = e.event_id.to_string();

    for sql in [
        "UPDATE audit_events SET action = 'tampered' WHERE event_id = $1",
        "UPDATE audit_events SET body = '{}' WHERE event_id = $1",
        "DELETE FROM audit_events WHERE event_id = $1",
        // SQLite has no TRUNCATE; a DELETE of every row is refused row by row.
        "DELETE FROM audit_events WHERE $1 IS NOT NULL",
    ] {
        assert_eq!(
            refusal(try_sql(store.pool(), sql, &id).await),
            (TRIGGER.into(), "audit_events_append_only".into()),
            "{sql}"
        );
    }
    let mut tx = shared.begin().await.unwrap();
    assert_eq!(tx.get_audit_event(e.event_id).await.unwrap(), Some(e));
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
async fn jobs_accept_exactly_the_transition_table() {
    let (_db, store, shared) = fresh().await;
    let w = fixtures::world(&shared).await;
    let mut accepted = Vec::new();
    for from in JobStatus::ALL {
        for to in JobStatus::ALL {
            let job = w.create_job(&shared, from).await;
            let sql = format!(
                "UPDATE jobs SET status = $2, updated_at = {NOW}, \
                 lease_expires_at = CASE WHEN $2 = 'running' \
                     THEN strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '+1 hour') END, \
                 claimed_by = CASE WHEN $2 = 'running' THEN requested_by ELSE claimed_by END \
                 WHERE id = $1"
            );
            let mut tx = store.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
            let r = sqlx::query(&sql)
                .bind(job.id.to_string())
                .bind(to.as_str())
                .execute(&mut *tx)
                .await;
            if TRANSITIONS.contains(&(from, to)) {
                assert_eq!(r.expect("an allowed transition").rows_affected(), 1);
                tx.commit().await.unwrap();
                accepted.push((from, to));
            } else {
                assert_eq!(
                    refusal(r),
                    (TRIGGER.into(), "jobs_transition".into()),
                    "{from} -> {to}"
                );
            }
        }
    }
    assert_eq!(JobStatus::ALL.len() * JobStatus::ALL.len(), 36);
    accepted.sort_by_key(|(a, b)| (a.as_str(), b.as_str()));
    let mut want = TRANSITIONS.to_vec();
    want.sort_by_key(|(a, b)| (a.as_str(), b.as_str()));
    assert_eq!(accepted, want);
}

#[tokio::test]
async fn jobs_refuse_edits_of_immutable_columns() {
    let (_db, store, shared) = fresh().await;
    let w = fixtures::world(&shared).await;
    let job = w.create_job(&shared, JobStatus::Pending).await;
    let other_subject = fixtures::create_subject(&shared, w.policy.id).await;
    let id = job.id.to_string();
    for set in [
        "payload = '{\"domain\": \"evil.example.com\"}'",
        "payload = json_set(payload, '$.extra', 1)",
        "payload_sha256 = printf('%.64c', '0')",
        "action = 'secret.rotate'",
        &format!("subject_id = '{}'", other_subject.id),
        "idempotency_key = 'new-key'",
        "created_at = '2020-01-01T00:00:00.000000Z'",
        // Even together with an allowed transition.
        "status = 'cancelled', payload = '{}'",
    ] {
        let sql = format!("UPDATE jobs SET {set} WHERE id = $1");
        assert_eq!(
            refusal(try_sql(store.pool(), &sql, &id).await),
            (TRIGGER.into(), "jobs_immutable".into()),
            "{set}"
        );
    }
    // A running job always has a holder and a lease.
    let sql = "UPDATE jobs SET status = 'running' WHERE id = $1";
    assert_eq!(
        refusal(try_sql(store.pool(), sql, &id).await),
        (CHECK.into(), "jobs_lease_consistent".into())
    );
    let mut tx = shared.begin().await.unwrap();
    assert_eq!(tx.get_job(job.id).await.unwrap(), Some(job));
}

async fn approval_fixture(store: &TestStore) -> (World, countersign_domain::ApprovalRequest) {
    let w = fixtures::world(store).await;
    let (_, a) = w.create_approval(store).await;
    (w, a)
}

#[tokio::test]
async fn approvals_decision_consistency_and_terminal_states() {
    let (_db, store, shared) = fresh().await;
    let (_, a) = approval_fixture(&shared).await;
    let id = a.id.to_string();

    // A decision needs both who and when; a pending approval has neither.
    for set in [
        "state = 'approved'".to_owned(),
        format!("state = 'approved', decided_at = {NOW}"),
        "state = 'rejected', decided_by = 'prn_x'".to_owned(),
        format!("decided_at = {NOW}, decided_by = 'prn_x'"),
    ] {
        let sql = format!("UPDATE approvals SET {set} WHERE id = $1");
        assert_eq!(
            refusal(try_sql(store.pool(), &sql, &id).await),
            (CHECK.into(), "approvals_decision_consistent".into()),
            "{set}"
        );
    }
    // Only the decision ever changes.
    for set in [
        "rules = '[{\"role\": \"admin\", \"count\": 1}]'",
        "expires_at = '2099-01-01T00:00:00.000000Z'",
        "created_at = '2020-01-01T00:00:00.000000Z'",
    ] {
        let sql = format!("UPDATE approvals SET {set} WHERE id = $1");
        assert_eq!(
            refusal(try_sql(store.pool(), &sql, &id).await),
            (TRIGGER.into(), "approvals_immutable".into()),
            "{set}"
        );
    }

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
    // A decided approval never changes again.
    for set in [
        "state = 'pending', decided_at = NULL, decided_by = NULL".to_owned(),
        "state = 'approved'".to_owned(),
        "decided_by = 'prn_someone_else'".to_owned(),
        format!("decided_at = {NOW}"),
    ] {
        let sql = format!("UPDATE approvals SET {set} WHERE id = $1");
        assert_eq!(
            refusal(try_sql(store.pool(), &sql, &id).await),
            (TRIGGER.into(), "approvals_terminal".into()),
            "{set}"
        );
    }
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
async fn votes_are_append_only_and_only_on_pending() {
    let (_db, store, shared) = fresh().await;
    let (_, a) = approval_fixture(&shared).await;
    let voter = fixtures::create_principal_with(&shared, &["approver"]).await;
    let late = fixtures::create_principal_with(&shared, &["approver"]).await;
    let mut tx = shared.begin().await.unwrap();
    tx.insert_vote(
        a.id,
        &fixtures::vote(voter.id, VoteDecision::Approve, &["approver"]),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let id = a.id.to_string();
    for sql in [
        "UPDATE votes SET decision = 'reject' WHERE approval_id = $1",
        "UPDATE votes SET roles = '[\"admin\"]' WHERE approval_id = $1",
        "DELETE FROM votes WHERE approval_id = $1",
        "DELETE FROM votes WHERE $1 IS NOT NULL",
    ] {
        assert_eq!(
            refusal(try_sql(store.pool(), sql, &id).await),
            (TRIGGER.into(), "votes_append_only".into()),
            "{sql}"
        );
    }

    let mut tx = shared.begin().await.unwrap();
    tx.decide_approval(a.id, ApprovalState::Approved, "prn_x", fixtures::now())
        .await
        .unwrap();
    let r = tx
        .insert_vote(
            a.id,
            &fixtures::vote(late.id, VoteDecision::Approve, &["approver"]),
        )
        .await;
    match r {
        Err(StoreError::Check { constraint, .. }) => {
            assert_eq!(constraint, "votes_on_pending_only")
        }
        other => panic!("expected votes_on_pending_only, got {other:?}"),
    }
}

#[tokio::test]
async fn a_policy_requiring_approval_needs_rules_at_commit() {
    let (_db, store, shared) = fresh().await;
    let check = |r: Result<(), StoreError>| match r {
        Err(StoreError::Check { constraint, .. }) => {
            assert_eq!(constraint, "policies_rules_when_required")
        }
        other => panic!("expected policies_rules_when_required at commit, got {other:?}"),
    };

    // Inserted without rules: accepted by the statement, refused at commit.
    let mut bad = fixtures::policy(vec![], fixtures::now());
    bad.requires_approval = true;
    let mut tx = shared.begin().await.unwrap();
    tx.insert_policy(&bad).await.expect("deferred until commit");
    check(tx.commit().await);
    let mut tx = shared.begin().await.unwrap();
    assert_eq!(tx.get_policy(bad.id).await.unwrap(), None);
    drop(tx);

    // Edited to require approval without rules.
    let open = fixtures::create_policy(&shared, vec![]).await;
    let mut edit = open.clone();
    edit.requires_approval = true;
    let mut tx = shared.begin().await.unwrap();
    assert!(tx.update_policy(&edit, 1).await.unwrap().is_some());
    check(tx.commit().await);
    let mut tx = shared.begin().await.unwrap();
    assert_eq!(tx.get_policy(open.id).await.unwrap(), Some(open));
    drop(tx);

    // Its last rule deleted behind the store's back.
    let gated = fixtures::create_policy(&shared, vec![fixtures::rule("approver", 1)]).await;
    let mut tx = store.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("DELETE FROM policy_rules WHERE policy_id = $1")
        .bind(gated.id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let (code, _) = refusal(tx.commit().await);
    assert_eq!(code, FOREIGN_KEY, "the deferred key refuses the COMMIT");

    // Rules replaced in one transaction are fine.
    let mut edit = gated.clone();
    edit.rules = vec![fixtures::rule("admin", 2)];
    let mut tx = shared.begin().await.unwrap();
    assert!(tx.update_policy(&edit, 1).await.unwrap().is_some());
    tx.commit().await.unwrap();
    let mut tx = shared.begin().await.unwrap();
    let stored = tx.get_policy(gated.id).await.unwrap().unwrap();
    assert_eq!(stored.rules, edit.rules);
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
async fn role_permissions_accept_exactly_the_permission_strings() {
    let (_db, store, shared) = fresh().await;
    let role = fixtures::create_role(&shared, &[]).await;
    let mut tx = store.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    for p in Permission::ALL {
        sqlx::query("INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
            .bind(role.id.as_str())
            .bind(p.as_str())
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{p} refused: {e}"));
    }
    tx.commit().await.unwrap();
    for bad in [
        "root",
        "approval.approve ",
        "APPROVAL.APPROVE",
        "audit.delete",
        "",
    ] {
        let r = sqlx::query("INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
            .bind(role.id.as_str())
            .bind(bad)
            .execute(store.pool())
            .await;
        assert_eq!(
            refusal(r),
            (CHECK.into(), "role_permissions_permission_check".into()),
            "{bad:?} accepted"
        );
    }
    let mut tx = shared.begin().await.unwrap();
    let stored = tx.get_role(&role.id).await.unwrap().unwrap();
    assert_eq!(stored.permissions.len(), Permission::ALL.len());
}

#[tokio::test]
async fn builtin_roles_cannot_be_deleted_even_raw() {
    let (_db, store, _) = fresh().await;
    for (id, _, _) in countersign_domain::role::builtin_roles() {
        let r = sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(id.as_str())
            .execute(store.pool())
            .await;
        assert_eq!(
            refusal(r),
            (TRIGGER.into(), "roles_builtin_protected".into()),
            "{id}"
        );
    }
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
            refusal(try_sql(store.pool(), insert, bad).await),
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
            refusal(try_sql(store.pool(), sql, bad).await),
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
    assert_eq!(refusal(r).0, DATATYPE);
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
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    match store.readiness().await {
        Err(StoreError::Unavailable(m)) => assert_eq!(m, "schema not current"),
        other => panic!("an empty database is not ready: {other:?}"),
    }
    store.migrate().await.unwrap();
    store.readiness().await.unwrap();
    store.migrate().await.unwrap();
    store.readiness().await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(applied as usize, MIGRATOR.iter().count());
}

#[tokio::test]
async fn readiness_wants_every_known_migration() {
    let (_db, store, _) = fresh().await;
    store.readiness().await.unwrap();
    // A database a newer build migrated further is still current for this one: migrations
    // are backward-compatible, so old and new processes share it during a deploy.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', 1, x'00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.readiness().await.unwrap();
    // A database missing one of this build's migrations is not.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version < 99990101000000")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.readiness().await,
        Err(StoreError::Unavailable(m)) if m == "schema not current"
    ));
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
async fn a_closed_pool_is_unavailable() {
    let (_db, store, _) = fresh().await;
    store.pool().close().await;
    assert!(matches!(
        store.begin().await.err(),
        Some(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.readiness().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store
            .key_auth_record(countersign_domain::KeyId::new())
            .await,
        Err(StoreError::Unavailable(_))
    ));
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
