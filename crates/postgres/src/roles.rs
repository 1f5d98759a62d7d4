//! [`RoleRepo`] on PostgreSQL: `roles` and `role_permissions`.
//!
//! A role is read with its permissions in one query (an `ARRAY(…)` subquery per row).
//! Built-in roles are seeded by the migration; the database refuses to delete them.

use async_trait::async_trait;
use countersign_domain::{Role, RoleId};
use countersign_store::{Page, PageRequest, RoleRepo, StoreResult};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use crate::error::map_sqlx;
use crate::rows::{parse, RoleRow, ROLE_COLUMNS};
use crate::sql::{cursor, push_page, Conditions};
use crate::tx::PgTransaction;

async fn fetch_role(conn: &mut PgConnection, id: &RoleId, lock: bool) -> StoreResult<Option<Role>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as::<_, RoleRow>(&format!(
        "SELECT {ROLE_COLUMNS} FROM roles r WHERE r.id = $1{lock}"
    ))
    .bind(id.as_str())
    .fetch_optional(conn)
    .await
    .map_err(map_sqlx)?
    .map(RoleRow::into_domain)
    .transpose()
}

/// Write the permissions of `role` (which must have none stored) in one statement.
async fn insert_permissions(conn: &mut PgConnection, role: &Role) -> StoreResult<()> {
    if role.permissions.is_empty() {
        return Ok(());
    }
    let permissions: Vec<&str> = role.permissions.iter().map(|p| p.as_str()).collect();
    sqlx::query("INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::text[])")
        .bind(role.id.as_str())
        .bind(&permissions)
        .execute(conn)
        .await
        .map_err(map_sqlx)?;
    Ok(())
}

#[async_trait]
impl RoleRepo for PgTransaction {
    async fn insert_role(&mut self, role: &Role) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO roles (id, description, builtin, generation, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(role.id.as_str())
        .bind(&role.description)
        .bind(role.builtin)
        .bind(role.generation)
        .bind(role.created_at)
        .bind(role.updated_at)
        .execute(self.conn())
        .await
        .map_err(map_sqlx)?;
        insert_permissions(self.conn(), role).await
    }

    async fn get_role(&mut self, id: &RoleId) -> StoreResult<Option<Role>> {
        fetch_role(self.conn(), id, false).await
    }

    async fn lock_role(&mut self, id: &RoleId) -> StoreResult<Option<Role>> {
        fetch_role(self.conn(), id, true).await
    }

    async fn list_roles(&mut self, page: &PageRequest) -> StoreResult<Page<Role>> {
        let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {ROLE_COLUMNS} FROM roles r"));
        push_page(
            &mut qb,
            &mut Conditions::default(),
            "r.created_at",
            "r.id",
            page,
        );
        let rows = qb
            .build_query_as::<RoleRow>()
            .fetch_all(self.conn())
            .await
            .map_err(map_sqlx)?
            .into_iter()
            .map(RoleRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page.limit, |r| {
            cursor(r.created_at, &r.id)
        }))
    }

    async fn missing_roles(&mut self, ids: &[RoleId]) -> StoreResult<Vec<RoleId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(RoleId::as_str).collect();
        let missing: Vec<String> = sqlx::query_scalar(
            "SELECT x.id FROM unnest($1::text[]) WITH ORDINALITY AS x (id, n) \
             WHERE NOT EXISTS (SELECT 1 FROM roles r WHERE r.id = x.id) ORDER BY x.n",
        )
        .bind(&ids)
        .fetch_all(self.conn())
        .await
        .map_err(map_sqlx)?;
        missing.iter().map(|r| parse("roles.id", r)).collect()
    }

    async fn update_role(
        &mut self,
        role: &Role,
        expected_generation: i64,
    ) -> StoreResult<Option<Role>> {
        let updated = sqlx::query(
            "UPDATE roles SET description = $2, generation = generation + 1, updated_at = $3 \
             WHERE id = $1 AND generation = $4",
        )
        .bind(role.id.as_str())
        .bind(&role.description)
        .bind(role.updated_at)
        .bind(expected_generation)
        .execute(self.conn())
        .await
        .map_err(map_sqlx)?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM role_permissions WHERE role_id = $1")
            .bind(role.id.as_str())
            .execute(self.conn())
            .await
            .map_err(map_sqlx)?;
        insert_permissions(self.conn(), role).await?;
        fetch_role(self.conn(), &role.id, false).await
    }

    async fn delete_role(&mut self, id: &RoleId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM roles WHERE id = $1 AND NOT builtin")
            .bind(id.as_str())
            .execute(self.conn())
            .await
            .map_err(map_sqlx)?;
        Ok(done.rows_affected() == 1)
    }
}
