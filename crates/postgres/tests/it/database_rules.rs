//! Rules the PostgreSQL schema enforces by itself, checked with raw SQL that bypasses the
//! store: whatever code path writes (ours, an old process, a psql session), these hold.
//! Plus the PostgreSQL-only parts of `PgStore`: migrations, readiness and connection errors.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use countersign_domain::job::TRANSITIONS;
use countersign_domain::{ApprovalState, JobStatus, Permission, VoteDecision};
use countersign_postgres::{PgOptions, PgStore, MIGRATOR};
use countersign_store::conformance::fixtures::{self, TestStore, World};
use countersign_store::{Store, StoreError};
use sqlx::PgPool;

fn stores(pool: &PgPool) -> TestStore {
    Arc::new(PgStore::from_pool(pool.clone()))
}

/// The SQLSTATE and constraint name of a database error.
#[track_caller]
fn refusal<T: std::fmt::Debug>(r: Result<T, sqlx::Error>) -> (String, String) {
    match r {
        Err(sqlx::Error::Database(db)) => (
            db.code().map(|c| c.into_owned()).unwrap_or_default(),
            db.constraint().unwrap_or_default().to_owned(),
        ),
        other => panic!("expected a database error, got {other:?}"),
    }
}

/// Run `sql` in its own transaction (rolled back), answering its outcome.
async fn try_sql(pool: &PgPool, sql: &str, bind: &str) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(sql).bind(bind).execute(&mut *tx).await?;
    tx.rollback().await?;
    Ok(done.rows_affected())
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn audit_events_refuse_update_delete_and_truncate(pool: PgPool) {
    let store = stores(&pool);
    let e = fixtures::event(
        countersign_domain::Category::Auth,
        "auth.denied",
        fixtures::now(),
    );
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(std::slice::from_ref(&e)).await.unwrap();
    tx.commit().await.unwrap();
    let id = e.event_id.to_string();

    for sql in [
        "UPDATE audit_events SET action = 'tampered' WHERE event_id = $1",
        "UPDATE audit_events SET body = '{}'::json WHERE event_id = $1",
        "DELETE FROM audit_events WHERE event_id = $1",
    ] {
        assert_eq!(
            refusal(try_sql(&pool, sql, &id).await),
            ("42501".into(), "audit_events_append_only".into()),
            "{sql}"
        );
    }
    let truncate = sqlx::query("TRUNCATE audit_events").execute(&pool).await;
    assert_eq!(
        refusal(truncate),
        ("42501".into(), "audit_events_append_only".into())
    );
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.get_audit_event(e.event_id).await.unwrap(), Some(e));
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn jobs_accept_exactly_the_transition_table(pool: PgPool) {
    let store = stores(&pool);
    let w = fixtures::world(&store).await;
    let mut accepted = Vec::new();
    for from in JobStatus::ALL {
        for to in JobStatus::ALL {
            let job = w.create_job(&store, from).await;
            let sql = "UPDATE jobs SET status = $2, updated_at = now(), \
                 lease_expires_at = CASE WHEN $2 = 'running' THEN now() + interval '1 hour' END, \
                 claimed_by = CASE WHEN $2 = 'running' THEN requested_by ELSE claimed_by END \
                 WHERE id = $1";
            let mut tx = pool.begin().await.unwrap();
            let r = sqlx::query(sql)
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
                    ("23514".into(), "jobs_transition".into()),
                    "{from} -> {to}"
                );
            }
        }
    }
    accepted.sort_by_key(|(a, b)| (a.as_str(), b.as_str()));
    let mut want = TRANSITIONS.to_vec();
    want.sort_by_key(|(a, b)| (a.as_str(), b.as_str()));
    assert_eq!(accepted, want);
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn jobs_refuse_edits_of_immutable_columns(pool: PgPool) {
    let store = stores(&pool);
    let w = fixtures::world(&store).await;
    let job = w.create_job(&store, JobStatus::Pending).await;
    let other_subject = fixtures::create_subject(&store, w.policy.id).await;
    let id = job.id.to_string();
    for set in [
        "payload = '{\"domain\": \"evil.example.com\"}'",
        "payload = payload || '{\"extra\": 1}'",
        "payload_sha256 = repeat('0', 64)",
        "action = 'secret.rotate'",
        &format!("subject_id = '{}'", other_subject.id),
        "idempotency_key = 'new-key'",
        "created_at = created_at - interval '1 day'",
        // Even together with an allowed transition.
        "status = 'cancelled', payload = '{}'",
    ] {
        let sql = format!("UPDATE jobs SET {set} WHERE id = $1");
        assert_eq!(
            refusal(try_sql(&pool, &sql, &id).await),
            ("23514".into(), "jobs_immutable".into()),
            "{set}"
        );
    }
    // A running job always has a holder and a lease.
    let sql = "UPDATE jobs SET status = 'running' WHERE id = $1";
    assert_eq!(
        refusal(try_sql(&pool, sql, &id).await),
        ("23514".into(), "jobs_lease_consistent".into())
    );
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.get_job(job.id).await.unwrap(), Some(job));
}

async fn approval_fixture(store: &TestStore) -> (World, countersign_domain::ApprovalRequest) {
    let w = fixtures::world(store).await;
    let (_, a) = w.create_approval(store).await;
    (w, a)
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn approvals_decision_consistency_and_terminal_states(pool: PgPool) {
    let store = stores(&pool);
    let (_, a) = approval_fixture(&store).await;
    let id = a.id.to_string();

    // A decision needs both who and when; a pending approval has neither.
    for set in [
        "state = 'approved'",
        "state = 'approved', decided_at = now()",
        "state = 'rejected', decided_by = 'prn_x'",
        "decided_at = now(), decided_by = 'prn_x'",
    ] {
        let sql = format!("UPDATE approvals SET {set} WHERE id = $1");
        assert_eq!(
            refusal(try_sql(&pool, &sql, &id).await),
            ("23514".into(), "approvals_decision_consistent".into()),
            "{set}"
        );
    }
    // Only the decision ever changes.
    for set in [
        "rules = '[{\"role\": \"admin\", \"count\": 1}]'",
        "expires_at = expires_at + interval '1 day'",
        "created_at = created_at - interval '1 second'",
    ] {
        let sql = format!("UPDATE approvals SET {set} WHERE id = $1");
        let (code, constraint) = refusal(try_sql(&pool, &sql, &id).await);
        assert_eq!(
            (code.as_str(), constraint.as_str()),
            ("23514", "approvals_immutable"),
            "{set}"
        );
    }

    let mut tx = store.begin().await.unwrap();
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
        "state = 'pending', decided_at = NULL, decided_by = NULL",
        "state = 'approved'",
        "decided_by = 'prn_someone_else'",
        "decided_at = now()",
    ] {
        let sql = format!("UPDATE approvals SET {set} WHERE id = $1");
        assert_eq!(
            refusal(try_sql(&pool, &sql, &id).await),
            ("23514".into(), "approvals_terminal".into()),
            "{set}"
        );
    }
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn votes_are_append_only_and_only_on_pending(pool: PgPool) {
    let store = stores(&pool);
    let (_, a) = approval_fixture(&store).await;
    let voter = fixtures::create_principal_with(&store, &["approver"]).await;
    let late = fixtures::create_principal_with(&store, &["approver"]).await;
    let mut tx = store.begin().await.unwrap();
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
        "UPDATE votes SET roles = '{admin}' WHERE approval_id = $1",
        "DELETE FROM votes WHERE approval_id = $1",
    ] {
        assert_eq!(
            refusal(try_sql(&pool, sql, &id).await),
            ("23514".into(), "votes_append_only".into()),
            "{sql}"
        );
    }
    assert_eq!(
        refusal(sqlx::query("TRUNCATE votes").execute(&pool).await),
        ("23514".into(), "votes_append_only".into())
    );

    let mut tx = store.begin().await.unwrap();
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

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn a_policy_requiring_approval_needs_rules_at_commit(pool: PgPool) {
    let store = stores(&pool);
    let check = |r: Result<(), StoreError>| match r {
        Err(StoreError::Check { constraint, .. }) => {
            assert_eq!(constraint, "policies_rules_when_required")
        }
        other => panic!("expected policies_rules_when_required at commit, got {other:?}"),
    };

    // Inserted without rules: accepted by the statement, refused at commit.
    let mut bad = fixtures::policy(vec![], fixtures::now());
    bad.requires_approval = true;
    let mut tx = store.begin().await.unwrap();
    tx.insert_policy(&bad).await.expect("deferred until commit");
    check(tx.commit().await);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.get_policy(bad.id).await.unwrap(), None);
    drop(tx);

    // Edited to require approval without rules.
    let open = fixtures::create_policy(&store, vec![]).await;
    let mut edit = open.clone();
    edit.requires_approval = true;
    let mut tx = store.begin().await.unwrap();
    assert!(tx.update_policy(&edit, 1).await.unwrap().is_some());
    check(tx.commit().await);

    // Its last rule deleted behind the store's back.
    let gated = fixtures::create_policy(&store, vec![fixtures::rule("approver", 1)]).await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("DELETE FROM policy_rules WHERE policy_id = $1")
        .bind(gated.id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let (code, constraint) = refusal(tx.commit().await);
    assert_eq!(
        (code.as_str(), constraint.as_str()),
        ("23514", "policies_rules_when_required")
    );

    // Rules replaced in one transaction are fine.
    let mut edit = gated.clone();
    edit.rules = vec![fixtures::rule("admin", 2)];
    let mut tx = store.begin().await.unwrap();
    assert!(tx.update_policy(&edit, 1).await.unwrap().is_some());
    tx.commit().await.unwrap();
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn role_permissions_accept_exactly_the_permission_strings(pool: PgPool) {
    let store = stores(&pool);
    let role = fixtures::create_role(&store, &[]).await;
    let mut tx = pool.begin().await.unwrap();
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
            .execute(&pool)
            .await;
        let (code, _) = refusal(r);
        assert_eq!(code, "23514", "{bad:?} accepted");
    }
    let mut tx = store.begin().await.unwrap();
    let stored = tx.get_role(&role.id).await.unwrap().unwrap();
    assert_eq!(stored.permissions.len(), Permission::ALL.len());
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn builtin_roles_cannot_be_deleted_even_raw(pool: PgPool) {
    for (id, _, _) in countersign_domain::role::builtin_roles() {
        let r = sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(id.as_str())
            .execute(&pool)
            .await;
        assert_eq!(
            refusal(r),
            ("23514".into(), "roles_builtin_protected".into()),
            "{id}"
        );
    }
}

#[sqlx::test(migrations = false)]
async fn migrate_is_idempotent_and_makes_the_store_ready(pool: PgPool) {
    let store = PgStore::from_pool(pool);
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

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn readiness_wants_every_known_migration(pool: PgPool) {
    let store = PgStore::from_pool(pool.clone());
    store.readiness().await.unwrap();
    // A database a newer build migrated further is still current for this one: migrations
    // are backward-compatible, so old and new processes share it during a deploy.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', true, '\\x00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    store.readiness().await.unwrap();
    // A database missing this build's migrations is not.
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        store.readiness().await,
        Err(StoreError::Unavailable(m)) if m == "schema not current"
    ));
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let options = PgOptions {
        max_connections: 1,
        acquire_timeout: StdDuration::from_secs(2),
    };
    // Port 1 on loopback: nothing listens there.
    match PgStore::connect_with("postgres://postgres@127.0.0.1:1/postgres", options).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn a_closed_pool_is_unavailable(pool: PgPool) {
    let store = PgStore::from_pool(pool.clone());
    pool.close().await;
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
async fn connect_with_applies_the_pool_options() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let options = PgOptions {
        max_connections: 3,
        acquire_timeout: StdDuration::from_secs(3),
    };
    let store = PgStore::connect_with(&url, options).await.unwrap();
    assert_eq!(store.pool().options().get_max_connections(), 3);
    assert_eq!(
        store.pool().options().get_acquire_timeout(),
        StdDuration::from_secs(3)
    );
    assert_eq!(store.backend(), "postgres");
    let _ = PgOptions::default();
}
