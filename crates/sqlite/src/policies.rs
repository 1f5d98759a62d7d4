//! [`PolicyRepo`] on SQLite: `policies` and their ordered `policy_rules`.
//!
//! A policy is read with its rules in one query (a `json_group_array` in position order).
//! The rule "requires approval ⇒ at least one rule" is a deferred foreign key from the policy
//! to its first rule, checked at COMMIT (see the schema). Inserts and updates run inside a
//! savepoint, so a refused rule leaves no half-written policy behind.

use async_trait::async_trait;
use countersign_domain::{Policy, PolicyId};
use countersign_store::{Page, PageRequest, PolicyRepo, StoreResult};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::error::map_sqlx;
use crate::rows::{PolicyRow, POLICY_COLUMNS};
use crate::sql::{cursor, push_page, Conditions, Savepoint};
use crate::timestamp::encode;
use crate::tx::SqliteTransaction;

async fn fetch_policy(conn: &mut SqliteConnection, id: PolicyId) -> StoreResult<Option<Policy>> {
    sqlx::query_as::<_, PolicyRow>(&format!(
        "SELECT {POLICY_COLUMNS} FROM policies p WHERE p.id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(conn)
    .await
    .map_err(map_sqlx)?
    .map(PolicyRow::into_domain)
    .transpose()
}

/// Write the rules of `policy` (which must have none stored) in one statement.
async fn insert_rules(conn: &mut SqliteConnection, policy: &Policy) -> StoreResult<()> {
    if policy.rules.is_empty() {
        return Ok(());
    }
    let mut qb = QueryBuilder::<Sqlite>::new(
        "INSERT INTO policy_rules (policy_id, position, role_id, count) ",
    );
    let id = policy.id.to_string();
    qb.push_values(policy.rules.iter().enumerate(), |mut row, (i, rule)| {
        row.push_bind(id.clone())
            .push_bind(i64::try_from(i).unwrap_or(i64::MAX))
            .push_bind(rule.role.as_str().to_owned())
            .push_bind(i64::from(rule.count));
    });
    qb.build()
        .persistent(false)
        .execute(conn)
        .await
        .map_err(map_sqlx)?;
    Ok(())
}

async fn insert_policy(conn: &mut SqliteConnection, policy: &Policy) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO policies (id, name, requires_approval, approval_timeout_secs, \
         generation, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(policy.id.to_string())
    .bind(&policy.name)
    .bind(policy.requires_approval)
    .bind(policy.approval_timeout_secs)
    .bind(policy.generation)
    .bind(encode(policy.created_at))
    .bind(encode(policy.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    insert_rules(conn, policy).await
}

async fn update_policy(
    conn: &mut SqliteConnection,
    policy: &Policy,
    expected_generation: i64,
) -> StoreResult<Option<Policy>> {
    let updated = sqlx::query(
        "UPDATE policies SET name = $2, requires_approval = $3, approval_timeout_secs = $4, \
         generation = generation + 1, updated_at = $5 WHERE id = $1 AND generation = $6",
    )
    .bind(policy.id.to_string())
    .bind(&policy.name)
    .bind(policy.requires_approval)
    .bind(policy.approval_timeout_secs)
    .bind(encode(policy.updated_at))
    .bind(expected_generation)
    .execute(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    sqlx::query("DELETE FROM policy_rules WHERE policy_id = $1")
        .bind(policy.id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    insert_rules(conn, policy).await?;
    fetch_policy(conn, policy.id).await
}

#[async_trait]
impl PolicyRepo for SqliteTransaction {
    async fn insert_policy(&mut self, policy: &Policy) -> StoreResult<()> {
        let conn = self.conn();
        let op = Savepoint::start(conn).await?;
        let result = insert_policy(conn, policy).await;
        op.finish(conn, result).await
    }

    async fn get_policy(&mut self, id: PolicyId) -> StoreResult<Option<Policy>> {
        fetch_policy(self.conn(), id).await
    }

    async fn list_policies(&mut self, page: &PageRequest) -> StoreResult<Page<Policy>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {POLICY_COLUMNS} FROM policies p"));
        push_page(
            &mut qb,
            &mut Conditions::default(),
            "p.created_at",
            "p.id",
            page,
        );
        let rows = qb
            .build_query_as::<PolicyRow>()
            .fetch_all(self.conn())
            .await
            .map_err(map_sqlx)?
            .into_iter()
            .map(PolicyRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page.limit, |p| {
            cursor(p.created_at, p.id)
        }))
    }

    async fn update_policy(
        &mut self,
        policy: &Policy,
        expected_generation: i64,
    ) -> StoreResult<Option<Policy>> {
        let conn = self.conn();
        let op = Savepoint::start(conn).await?;
        let result = update_policy(conn, policy, expected_generation).await;
        op.finish(conn, result).await
    }
}
