//! [`PolicyRepo`]: `policies` and their ordered `policy_rules`.
//!
//! A policy is read with its rules in one query (a JSON array in position order). The rule
//! "requires approval ⇒ at least one rule" is a deferred constraint, checked at commit.
//! Inserts and updates run inside the dialect's savepoint, so a refused rule leaves no
//! half-written policy behind.

use async_trait::async_trait;
use countersign_domain::{ApprovalRule, Policy, PolicyId};
use countersign_store::{Page, PageRequest, PolicyRepo, StoreResult};

use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::sql::{cursor, fill, Conn, Sql};
use crate::tx::{release, savepoint, SqlTransaction};

/// The columns [`policy`] reads, for a query over `policies p`.
fn policy_columns<D: Dialect>() -> String {
    let rules = fill(
        D::JSON_OBJECTS,
        &[
            ("fields", "'role', pr.role_id, 'count', pr.count"),
            ("from", "policy_rules pr WHERE pr.policy_id = p.id"),
            ("order", "pr.position"),
        ],
    );
    format!(
        "p.id, p.name, p.requires_approval, p.approval_timeout_secs, p.remind_after_secs, \
         p.escalate_after_secs, p.escalate_to_role, p.generation, p.created_at, p.updated_at, \
         {rules} AS rules"
    )
}

fn policy<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<Policy> {
    Ok(Policy {
        id: r.parse("policies.id")?,
        name: r.text("policies.name")?,
        requires_approval: r.get("policies.requires_approval")?,
        rules: r.json::<Vec<ApprovalRule>>("policy_rules.rules")?,
        approval_timeout_secs: r.get("policies.approval_timeout_secs")?,
        remind_after_secs: r.get("policies.remind_after_secs")?,
        escalate_after_secs: r.get("policies.escalate_after_secs")?,
        escalate_to_role: r.parse_opt("policies.escalate_to_role")?,
        generation: r.get("policies.generation")?,
        created_at: r.time("policies.created_at")?,
        updated_at: r.time("policies.updated_at")?,
    })
}

async fn fetch_policy<D: Dialect>(conn: &mut Conn<D>, id: PolicyId) -> StoreResult<Option<Policy>> {
    Sql::<D>::new(format!(
        "SELECT {} FROM policies p WHERE p.id = $1",
        policy_columns::<D>()
    ))
    .arg(id.to_string())
    .fetch_optional(conn, policy)
    .await
}

/// Write the rules of `policy` (which must have none stored) in one statement.
async fn insert_rules<D: Dialect>(conn: &mut Conn<D>, policy: &Policy) -> StoreResult<()> {
    if policy.rules.is_empty() {
        return Ok(());
    }
    let mut q =
        Sql::<D>::new("INSERT INTO policy_rules (policy_id, position, role_id, count) VALUES ");
    for (i, rule) in policy.rules.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push("(").bind(policy.id.to_string()).push(", ");
        q.bind(i32::try_from(i).unwrap_or(i32::MAX)).push(", ");
        q.bind(rule.role.as_str().to_owned()).push(", ");
        q.bind(i32::try_from(rule.count).unwrap_or(i32::MAX))
            .push(")");
    }
    q.once().execute(conn).await?;
    Ok(())
}

async fn insert_policy<D: Dialect>(conn: &mut Conn<D>, policy: &Policy) -> StoreResult<()> {
    Sql::<D>::new(
        "INSERT INTO policies (id, name, requires_approval, approval_timeout_secs, \
         generation, created_at, updated_at, remind_after_secs, escalate_after_secs, \
         escalate_to_role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .arg(policy.id.to_string())
    .arg(policy.name.clone())
    .arg(policy.requires_approval)
    .arg(policy.approval_timeout_secs)
    .arg(policy.generation)
    .arg(D::encode_time(policy.created_at))
    .arg(D::encode_time(policy.updated_at))
    .arg(policy.remind_after_secs)
    .arg(policy.escalate_after_secs)
    .arg(escalate_to_role(policy))
    .execute(&mut *conn)
    .await?;
    insert_rules::<D>(conn, policy).await
}

fn escalate_to_role(policy: &Policy) -> Option<String> {
    policy
        .escalate_to_role
        .as_ref()
        .map(|r| r.as_str().to_owned())
}

async fn update_policy<D: Dialect>(
    conn: &mut Conn<D>,
    policy: &Policy,
    expected_generation: i64,
) -> StoreResult<Option<Policy>> {
    let updated = Sql::<D>::new(
        "UPDATE policies SET name = $2, requires_approval = $3, approval_timeout_secs = $4, \
         generation = generation + 1, updated_at = $5, remind_after_secs = $7, \
         escalate_after_secs = $8, escalate_to_role = $9 WHERE id = $1 AND generation = $6",
    )
    .arg(policy.id.to_string())
    .arg(policy.name.clone())
    .arg(policy.requires_approval)
    .arg(policy.approval_timeout_secs)
    .arg(D::encode_time(policy.updated_at))
    .arg(expected_generation)
    .arg(policy.remind_after_secs)
    .arg(policy.escalate_after_secs)
    .arg(escalate_to_role(policy))
    .execute(&mut *conn)
    .await?;
    if updated == 0 {
        return Ok(None);
    }
    Sql::<D>::new("DELETE FROM policy_rules WHERE policy_id = $1")
        .arg(policy.id.to_string())
        .execute(&mut *conn)
        .await?;
    insert_rules::<D>(conn, policy).await?;
    fetch_policy::<D>(conn, policy.id).await
}

#[async_trait]
impl<D: Dialect> PolicyRepo for SqlTransaction<D> {
    async fn insert_policy(&mut self, policy: &Policy) -> StoreResult<()> {
        let conn = self.conn();
        savepoint::<D>(conn).await?;
        let result = insert_policy::<D>(conn, policy).await;
        release::<D, _>(conn, result).await
    }

    async fn get_policy(&mut self, id: PolicyId) -> StoreResult<Option<Policy>> {
        fetch_policy::<D>(self.conn(), id).await
    }

    async fn list_policies(&mut self, page: &PageRequest) -> StoreResult<Page<Policy>> {
        let mut q = Sql::<D>::new(format!("SELECT {} FROM policies p", policy_columns::<D>()));
        q.page("p.created_at", "p.id", page);
        let rows = q.fetch_all(self.conn(), policy).await?;
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
        savepoint::<D>(conn).await?;
        let result = update_policy::<D>(conn, policy, expected_generation).await;
        release::<D, _>(conn, result).await
    }
}
