//! [`RoleRepo`] on SQLite: `roles` and `role_permissions`.
//!
//! A role is read with its permissions in one query (a `json_group_array` subquery per row).
//! Built-in roles are seeded by the migration; the database refuses to delete them.
//! `lock_role` is a plain read: the transaction already holds SQLite's write lock (see the
//! crate docs), which is what "the last active admin" checks need.

use async_trait::async_trait;
use countersign_domain::{Role, RoleId};
use countersign_store::{Page, PageRequest, RoleRepo, StoreResult};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::error::map_sqlx;
use crate::rows::{parse, RoleRow, ROLE_COLUMNS};
use crate::sql::{cursor, json_array, push_page, Conditions, Savepoint};
use crate::timestamp::encode;
use crate::tx::SqliteTransaction;

async fn fetch_role(conn: &mut SqliteConnection, id: &RoleId) -> StoreResult<Option<Role>> {
    sqlx::query_as::<_, RoleRow>(&format!(
        "SELECT {ROLE_COLUMNS} FROM roles r WHERE r.id = $1"
    ))
    .bind(id.as_str())
    .fetch_optional(conn)
    .await
    .map_err(map_sqlx)?
    .map(RoleRow::into_domain)
    .transpose()
}

/// Write the permissions of `role` (which must have none stored) in one statement.
async fn insert_permissions(conn: &mut SqliteConnection, role: &Role) -> StoreResult<()> {
    if role.permissions.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO role_permissions (role_id, permission) \
         SELECT $1, value FROM json_each($2)",
    )
    .bind(role.id.as_str())
    .bind(json_array(role.permissions.iter().map(|p| p.as_str())))
    .execute(conn)
    .await
    .map_err(map_sqlx)?;
    Ok(())
}

async fn insert_role(conn: &mut SqliteConnection, role: &Role) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO roles (id, description, builtin, generation, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(role.id.as_str())
    .bind(&role.description)
    .bind(role.builtin)
    .bind(role.generation)
    .bind(encode(role.created_at))
    .bind(encode(role.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    insert_permissions(conn, role).await
}

async fn update_role(
    conn: &mut SqliteConnection,
    role: &Role,
    expected_generation: i64,
) -> StoreResult<Option<Role>> {
    let updated = sqlx::query(
        "UPDATE roles SET description = $2, generation = generation + 1, updated_at = $3 \
         WHERE id = $1 AND generation = $4",
    )
    .bind(role.id.as_str())
    .bind(&role.description)
    .bind(encode(role.updated_at))
    .bind(expected_generation)
    .execute(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    sqlx::query("DELETE FROM role_permissions WHERE role_id = $1")
        .bind(role.id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    insert_permissions(conn, role).await?;
    fetch_role(conn, &role.id).await
}

#[async_trait]
impl RoleRepo for SqliteTransaction {
    async fn insert_role(&mut self, role: &Role) -> StoreResult<()> {
        let conn = self.conn();
        let op = Savepoint::start(conn).await?;
        let result = insert_role(conn, role).await;
        op.finish(conn, result).await
    }

    async fn get_role(&mut self, id: &RoleId) -> StoreResult<Option<Role>> {
        fetch_role(self.conn(), id).await
    }

    async fn lock_role(&mut self, id: &RoleId) -> StoreResult<Option<Role>> {
        fetch_role(self.conn(), id).await
    }

    async fn list_roles(&mut self, page: &PageRequest) -> StoreResult<Page<Role>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {ROLE_COLUMNS} FROM roles r"));
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
        let missing: Vec<String> = sqlx::query_scalar(
            "SELECT x.value FROM json_each($1) AS x \
             WHERE NOT EXISTS (SELECT 1 FROM roles r WHERE r.id = x.value) ORDER BY x.key",
        )
        .bind(json_array(ids.iter().map(RoleId::as_str)))
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
        let conn = self.conn();
        let op = Savepoint::start(conn).await?;
        let result = update_role(conn, role, expected_generation).await;
        op.finish(conn, result).await
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
