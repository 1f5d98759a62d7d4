//! The rules each backend's schema enforces by itself, checked with raw SQL that bypasses the
//! store — whatever code path writes (ours, an old process, a `psql` or `sqlite3` shell),
//! these hold — written once and run on every backend through [`RuleDb`].
//!
//! A backend's test crate implements [`RuleDb`] (how to run raw SQL, how its refusals read,
//! the few fragments of SQL that differ) and expands [`database_rules_tests!`](crate::database_rules_tests)
//! to get one test per rule.

use async_trait::async_trait;
use countersign_domain::job::TRANSITIONS;
use countersign_domain::{ApprovalState, Category, JobStatus, Permission, VoteDecision};
use countersign_store::conformance::fixtures::{self, TestStore};
use countersign_store::StoreError;

/// How a database refused a statement: its error code and the name of the rule (constraint
/// or trigger) that refused it.
pub type Refusal = (String, String);

/// A migrated database of one backend, reachable both through the store and with raw SQL.
#[async_trait]
pub trait RuleDb: Send + Sync {
    /// The store on this database.
    fn store(&self) -> TestStore;

    /// Run `sql` with `binds` as `$1`, `$2`, … in a write transaction of its own, committed
    /// when `commit` is set and rolled back otherwise: the rows affected, or the refusal
    /// (of the statement or of the commit).
    async fn exec(&self, sql: &str, binds: &[&str], commit: bool) -> Result<u64, Refusal>;

    /// The refusal this backend answers when the rule `name` is broken.
    fn refusal_for(&self, name: &str) -> Refusal;

    /// SQL for the current time, and for an hour from now, in the stored form.
    fn now(&self) -> &'static str;
    fn in_an_hour(&self) -> &'static str;

    /// A literal for the list of role names `roles` in a `roles` column.
    fn roles_literal(&self, roles: &[&str]) -> String;

    /// `TRUNCATE table` where the backend has it.
    fn truncate(&self, table: &str) -> Option<String>;

    /// A literal for the bytes `hex` (`00ff…`).
    fn bytes_literal(&self, hex: &str) -> String;

    /// Apply this build's migrations.
    async fn migrate(&self);

    /// How many migrations this build knows.
    fn known_migrations(&self) -> usize;

    /// The single integer `sql` answers.
    async fn count(&self, sql: &str) -> i64;

    /// Close the connections under the store.
    async fn close(&self);
}

/// Run `sql` with `binds` as `$1`, `$2`, … in `tx`, then commit (when `commit` is set) or
/// roll back: the statement's result, or the error of the statement or of the commit. The
/// body of a backend's [`RuleDb::exec`].
pub async fn exec_in<DB>(
    mut tx: sqlx::Transaction<'_, DB>,
    sql: &str,
    binds: &[&str],
    commit: bool,
) -> Result<DB::QueryResult, sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    let mut query = sqlx::query::<DB>(sql);
    for b in binds {
        query = query.bind(*b);
    }
    let done = query.execute(&mut *tx).await?;
    if commit {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(done)
}

/// Run `sql` (rolled back) and assert `db` refuses it with the rule `name`.
async fn assert_refused(db: &dyn RuleDb, sql: &str, binds: &[&str], name: &str) {
    let got = db.exec(sql, binds, false).await;
    assert_eq!(got, Err(db.refusal_for(name)), "{sql}");
}

/// Audit events are never updated or deleted, one by one or all at once.
pub async fn audit_events_refuse_tampering(db: &dyn RuleDb) {
    let store = db.store();
    let e = fixtures::event(Category::Auth, "auth.denied", fixtures::now());
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(std::slice::from_ref(&e)).await.unwrap();
    tx.commit().await.unwrap();
    let id = e.event_id.to_string();
    for sql in [
        "UPDATE audit_events SET action = 'tampered' WHERE event_id = $1",
        "UPDATE audit_events SET body = '{}' WHERE event_id = $1",
        "DELETE FROM audit_events WHERE event_id = $1",
        "DELETE FROM audit_events WHERE $1 IS NOT NULL",
    ] {
        assert_refused(db, sql, &[&id], "audit_events_append_only").await;
    }
    if let Some(sql) = db.truncate("audit_events") {
        assert_refused(db, &sql, &[], "audit_events_append_only").await;
    }
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.get_audit_event(e.event_id).await.unwrap(), Some(e));
}

/// A job's status moves along the domain's transition table and nowhere else.
pub async fn jobs_accept_exactly_the_transition_table(db: &dyn RuleDb) {
    let store = db.store();
    let w = fixtures::world(&store).await;
    let sql = format!(
        "UPDATE jobs SET status = $2, updated_at = {now}, \
         lease_expires_at = CASE WHEN $2 = 'running' THEN {later} END, \
         claimed_by = CASE WHEN $2 = 'running' THEN requested_by ELSE claimed_by END \
         WHERE id = $1",
        now = db.now(),
        later = db.in_an_hour()
    );
    let mut accepted = Vec::new();
    for from in JobStatus::ALL {
        for to in JobStatus::ALL {
            let job = w.create_job(&store, from).await;
            let r = db
                .exec(&sql, &[&job.id.to_string(), to.as_str()], true)
                .await;
            if TRANSITIONS.contains(&(from, to)) {
                assert_eq!(r, Ok(1), "{from} -> {to}");
                accepted.push((from, to));
            } else {
                assert_eq!(r, Err(db.refusal_for("jobs_transition")), "{from} -> {to}");
            }
        }
    }
    accepted.sort_by_key(|(a, b)| (a.as_str(), b.as_str()));
    let mut want = TRANSITIONS.to_vec();
    want.sort_by_key(|(a, b)| (a.as_str(), b.as_str()));
    assert_eq!(accepted, want);
}

/// What a job asks for never changes once requested; a running job has a holder and a lease.
pub async fn jobs_refuse_edits_of_immutable_columns(db: &dyn RuleDb) {
    let store = db.store();
    let w = fixtures::world(&store).await;
    let job = w.create_job(&store, JobStatus::Pending).await;
    let other_subject = fixtures::create_subject(&store, w.policy.id).await;
    let id = job.id.to_string();
    let zeros = "0".repeat(64);
    for set in [
        "payload = '{\"domain\": \"evil.example.com\"}'".to_owned(),
        "payload = '{}'".to_owned(),
        format!("payload_sha256 = '{zeros}'"),
        "action = 'secret.rotate'".to_owned(),
        format!("subject_id = '{}'", other_subject.id),
        "idempotency_key = 'new-key'".to_owned(),
        "created_at = '2020-01-01T00:00:00.000000Z'".to_owned(),
        // Even together with an allowed transition.
        "status = 'cancelled', payload = '{}'".to_owned(),
    ] {
        let sql = format!("UPDATE jobs SET {set} WHERE id = $1");
        assert_refused(db, &sql, &[&id], "jobs_immutable").await;
    }
    let sql = "UPDATE jobs SET status = 'running' WHERE id = $1";
    assert_refused(db, sql, &[&id], "jobs_lease_consistent").await;
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.get_job(job.id).await.unwrap(), Some(job));
}

/// A decision has both who and when; only the decision changes; a decided approval never
/// changes again.
pub async fn approvals_decision_consistency_and_terminal_states(db: &dyn RuleDb) {
    let store = db.store();
    let w = fixtures::world(&store).await;
    let (_, a) = w.create_approval(&store).await;
    let id = a.id.to_string();
    let now = db.now();
    for set in [
        "state = 'approved'".to_owned(),
        format!("state = 'approved', decided_at = {now}"),
        "state = 'rejected', decided_by = 'prn_x'".to_owned(),
        format!("decided_at = {now}, decided_by = 'prn_x'"),
    ] {
        let sql = format!("UPDATE approvals SET {set} WHERE id = $1");
        assert_refused(db, &sql, &[&id], "approvals_decision_consistent").await;
    }
    for set in [
        "rules = '[{\"role\": \"admin\", \"count\": 1}]'",
        "expires_at = '2099-01-01T00:00:00.000000Z'",
        "created_at = '2020-01-01T00:00:00.000000Z'",
    ] {
        let sql = format!("UPDATE approvals SET {set} WHERE id = $1");
        assert_refused(db, &sql, &[&id], "approvals_immutable").await;
    }
    let mut tx = store.begin().await.unwrap();
    let decided = tx
        .decide_approval(
            a.id,
            ApprovalState::Rejected,
            "prn_decider",
            fixtures::now(),
        )
        .await
        .unwrap();
    assert!(decided);
    tx.commit().await.unwrap();
    for set in [
        "state = 'pending', decided_at = NULL, decided_by = NULL".to_owned(),
        "state = 'approved'".to_owned(),
        "decided_by = 'prn_someone_else'".to_owned(),
        format!("decided_at = {now}"),
    ] {
        let sql = format!("UPDATE approvals SET {set} WHERE id = $1");
        assert_refused(db, &sql, &[&id], "approvals_terminal").await;
    }
}

/// Votes are never changed or removed, and are cast only on a pending approval.
pub async fn votes_are_append_only_and_only_on_pending(db: &dyn RuleDb) {
    let store = db.store();
    let w = fixtures::world(&store).await;
    let (_, a) = w.create_approval(&store).await;
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
        "UPDATE votes SET decision = 'reject' WHERE approval_id = $1".to_owned(),
        format!(
            "UPDATE votes SET roles = {} WHERE approval_id = $1",
            db.roles_literal(&["admin"])
        ),
        "DELETE FROM votes WHERE approval_id = $1".to_owned(),
        "DELETE FROM votes WHERE $1 IS NOT NULL".to_owned(),
    ] {
        assert_refused(db, &sql, &[&id], "votes_append_only").await;
    }
    if let Some(sql) = db.truncate("votes") {
        assert_refused(db, &sql, &[], "votes_append_only").await;
    }

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

/// A policy that requires approval has rules when its transaction commits, however it got
/// there.
pub async fn a_policy_requiring_approval_needs_rules_at_commit(db: &dyn RuleDb) {
    let store = db.store();
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
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.get_policy(open.id).await.unwrap(), Some(open));
    drop(tx);

    // Its last rule deleted behind the store's back: refused at commit.
    let gated = fixtures::create_policy(&store, vec![fixtures::rule("approver", 1)]).await;
    let sql = "DELETE FROM policy_rules WHERE policy_id = $1";
    let r = db.exec(sql, &[&gated.id.to_string()], true).await;
    assert_eq!(r, Err(db.refusal_for("policies_rules_when_required")));

    // Rules replaced in one transaction are fine.
    let mut edit = gated.clone();
    edit.rules = vec![fixtures::rule("admin", 2)];
    let mut tx = store.begin().await.unwrap();
    assert!(tx.update_policy(&edit, 1).await.unwrap().is_some());
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let stored = tx.get_policy(gated.id).await.unwrap().unwrap();
    assert_eq!(stored.rules, edit.rules);
}

/// A role's permissions are exactly the domain's permission strings.
pub async fn role_permissions_accept_exactly_the_permission_strings(db: &dyn RuleDb) {
    let store = db.store();
    let role = fixtures::create_role(&store, &[]).await;
    let sql = "INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)";
    for p in Permission::ALL {
        let r = db.exec(sql, &[role.id.as_str(), p.as_str()], true).await;
        assert_eq!(r, Ok(1), "{p} refused");
    }
    for bad in [
        "root",
        "approval.approve ",
        "APPROVAL.APPROVE",
        "audit.delete",
        "",
    ] {
        let r = db.exec(sql, &[role.id.as_str(), bad], true).await;
        assert_eq!(
            r,
            Err(db.refusal_for("role_permissions_permission_check")),
            "{bad:?} accepted"
        );
    }
    let mut tx = store.begin().await.unwrap();
    let stored = tx.get_role(&role.id).await.unwrap().unwrap();
    assert_eq!(stored.permissions.len(), Permission::ALL.len());
}

/// The built-in roles stay, even against a raw `DELETE`.
pub async fn builtin_roles_cannot_be_deleted_even_raw(db: &dyn RuleDb) {
    for (id, _, _) in countersign_domain::role::builtin_roles() {
        let sql = "DELETE FROM roles WHERE id = $1";
        assert_refused(db, sql, &[id.as_str()], "roles_builtin_protected").await;
    }
}

/// On a database never migrated: not ready until migrated; migrating twice is harmless.
/// (Each backend calls this from a test of its own, on an empty database.)
pub async fn migrate_is_idempotent_and_makes_the_store_ready(db: &dyn RuleDb) {
    let store = db.store();
    match store.readiness().await {
        Err(StoreError::Unavailable(m)) => assert_eq!(m, "schema not current"),
        other => panic!("an empty database is not ready: {other:?}"),
    }
    db.migrate().await;
    store.readiness().await.unwrap();
    db.migrate().await;
    store.readiness().await.unwrap();
    let applied = db.count("SELECT count(*) FROM _sqlx_migrations").await;
    assert_eq!(applied as usize, db.known_migrations());
}

/// Ready means every migration this build knows is applied; later ones (a newer build's,
/// backward-compatible by rule, shared during a deploy) do not matter.
pub async fn readiness_wants_every_known_migration(db: &dyn RuleDb) {
    let store = db.store();
    store.readiness().await.unwrap();
    let future = format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', true, {}, 0)",
        db.bytes_literal("00")
    );
    assert_eq!(db.exec(&future, &[], true).await, Ok(1));
    store.readiness().await.unwrap();
    let sql = "DELETE FROM _sqlx_migrations WHERE version < 99990101000000";
    assert!(db.exec(sql, &[], true).await.unwrap() > 0);
    assert!(matches!(
        store.readiness().await,
        Err(StoreError::Unavailable(m)) if m == "schema not current"
    ));
}

/// With its connections closed, the store answers `Unavailable` everywhere.
pub async fn a_closed_store_is_unavailable(db: &dyn RuleDb) {
    let store = db.store();
    db.close().await;
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

/// One test per rule above, each on a database `make` gives (a [`RuleDb`]):
///
/// ```ignore
/// countersign_testkit::database_rules_tests! {
///     #[sqlx::test(migrations = "../../migrations/postgres")]
///     |pool: sqlx::PgPool| PgRules(pool)
/// }
/// ```
#[macro_export]
macro_rules! database_rules_tests {
    (#[$attr:meta] |$arg:ident : $ty:ty| $make:expr) => {
        $crate::database_rules_tests! { @tests [$attr] [$arg : $ty] [$make] ;
            audit_events_refuse_tampering,
            jobs_accept_exactly_the_transition_table,
            jobs_refuse_edits_of_immutable_columns,
            approvals_decision_consistency_and_terminal_states,
            votes_are_append_only_and_only_on_pending,
            a_policy_requiring_approval_needs_rules_at_commit,
            role_permissions_accept_exactly_the_permission_strings,
            builtin_roles_cannot_be_deleted_even_raw,
            readiness_wants_every_known_migration,
            a_closed_store_is_unavailable,
        }
    };
    (@tests [$attr:meta] [$arg:ident : $ty:ty] [$make:expr] ; $($name:ident),* $(,)?) => {
        $(
            #[$attr]
            async fn $name($arg: $ty) {
                let db = $make;
                $crate::database_rules::$name(&db).await;
            }
        )*
    };
}
