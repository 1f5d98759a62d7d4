//! The runtime role `grant_runtime` sets up: it cannot lift the audit trail's protection,
//! and the whole store works through it.
//!
//! Each test migrates a fresh database as the owner (`#[sqlx::test]` connects as the
//! `DATABASE_URL` user), grants the runtime role on it, and reconnects as that role. Roles
//! are cluster-wide: the role's name is fixed for this test binary and re-granting is
//! idempotent, so the tests share it.

use std::sync::Arc;

use countersign_postgres::{grant_runtime, role_posture, PgStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

const RUNTIME_ROLE: &str = "countersign_test_runtime";

/// Grant the runtime role on `owner`'s database and answer a pool that logs in as it.
async fn as_runtime_role(owner: &PgPool) -> PgPool {
    grant_runtime(owner, RUNTIME_ROLE)
        .await
        .expect("grant the runtime role");
    let options: PgConnectOptions = owner.connect_options().as_ref().clone();
    PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options.username(RUNTIME_ROLE))
        .await
        .expect("log in as the runtime role")
}

/// The store, as the runtime role, on a migrated database.
async fn runtime_store(owner: PgPool) -> countersign_store::conformance::TestStore {
    Arc::new(PgStore::from_pool(as_runtime_role(&owner).await))
}

// Every repository operation the service uses, as the runtime role.
mod conformance_as_runtime_role {
    use super::*;

    countersign_store::conformance_tests! {
        #[sqlx::test(migrations = "../../migrations/postgres")]
        |pool: sqlx::PgPool| runtime_store(pool).await
    }
}

/// The statement `sql` run as the runtime role fails with `permission denied` or
/// `must be owner` (anything else, including success, fails the test).
async fn refused(pool: &PgPool, sql: &str) {
    match sqlx::raw_sql(sql).execute(pool).await {
        Ok(_) => panic!("the runtime role could run `{sql}`"),
        Err(sqlx::Error::Database(e)) => {
            let code = e.code().unwrap_or_default().into_owned();
            // 42501 insufficient_privilege (also "must be owner of table").
            assert_eq!(code, "42501", "`{sql}`: {e}");
        }
        Err(e) => panic!("`{sql}`: unexpected error {e}"),
    }
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn the_runtime_role_cannot_lift_the_audit_protection(owner: PgPool) {
    let app = as_runtime_role(&owner).await;
    for sql in [
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_events_no_update ON audit_events",
        "DROP TRIGGER audit_events_no_truncate ON audit_events",
        "SET session_replication_role = replica",
        "UPDATE votes SET note = 'x'",
        "DELETE FROM votes",
        "DROP TABLE audit_events",
        "DELETE FROM _sqlx_migrations",
        "UPDATE log_leaves SET leaf_index = leaf_index + 1",
        "DELETE FROM log_leaves",
        "TRUNCATE log_leaves",
        "UPDATE log_checkpoints SET note = 'x'",
        "DELETE FROM log_checkpoints",
        "DELETE FROM log_tiles",
        "DELETE FROM log_state",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_log_queue",
    ] {
        refused(&app, sql).await;
    }
    // It can still read (appending is covered by the conformance suite above).
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&app)
        .await
        .unwrap();
    assert_eq!(n, 0);
    // And the triggers are all still there and enabled.
    let enabled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass \
         AND NOT tgisinternal AND tgenabled = 'O'",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    // No update, no truncate, and the transparency log's queue.
    assert_eq!(enabled, 3);
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn posture_tells_the_owner_from_the_runtime_role(owner: PgPool) {
    let p = role_posture(&owner).await.unwrap();
    assert!(p.is_unsafe(), "{p:?}");
    assert!(p.owns_audit_table, "{p:?}");
    let app = as_runtime_role(&owner).await;
    let p = role_posture(&app).await.unwrap();
    assert_eq!(p.role, RUNTIME_ROLE);
    assert!(
        !p.superuser && !p.owns_audit_table && !p.is_unsafe(),
        "{p:?}"
    );
    // Through the store trait too.
    use countersign_store::Store;
    let posture = PgStore::from_pool(app).role_posture().await.unwrap();
    assert_eq!(posture.map(|p| p.is_unsafe()), Some(false));
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn grant_runtime_is_idempotent_and_refuses_unsafe_roles(owner: PgPool) {
    let first = grant_runtime(&owner, RUNTIME_ROLE).await.unwrap();
    let second = grant_runtime(&owner, RUNTIME_ROLE).await.unwrap();
    assert_eq!(first, second);
    let me: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&owner)
        .await
        .unwrap();
    let err = grant_runtime(&owner, &me).await.unwrap_err().to_string();
    assert!(err.contains("cannot be the runtime role"), "{err}");
    let err = grant_runtime(&owner, "Robert'); DROP TABLE votes; --")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a role name"), "{err}");
}
