//! [`RoleRepo`]: `roles` and `role_permissions`.
//!
//! A role is read with its permissions in one query (a list subquery per row). Built-in roles
//! are seeded by the migration; the database refuses to delete them. `lock_role` appends the
//! dialect's row lock (none where the transaction already holds the write lock).

use async_trait::async_trait;
use countersign_domain::{Role, RoleId};
use countersign_store::{Page, PageRequest, RoleRepo, StoreResult};

use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::sql::{cursor, fill, Conn, Sql};
use crate::tx::{release, savepoint, SqlTransaction};

/// The columns [`role`] reads, for a query over `roles r`.
fn role_columns<D: Dialect>() -> String {
    let permissions = fill(
        D::ARRAY,
        &[
            ("expr", "rp.permission"),
            ("from", "role_permissions rp WHERE rp.role_id = r.id"),
            ("order", "rp.permission"),
        ],
    );
    format!(
        "r.id, r.description, r.builtin, r.generation, r.created_at, r.updated_at, \
         {permissions} AS permissions"
    )
}

fn role<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<Role> {
    Ok(Role {
        id: r.parse("roles.id")?,
        description: r.text("roles.description")?,
        permissions: r
            .list("role_permissions.permissions")?
            .into_iter()
            .collect(),
        builtin: r.get("roles.builtin")?,
        generation: r.get("roles.generation")?,
        created_at: r.time("roles.created_at")?,
        updated_at: r.time("roles.updated_at")?,
    })
}

async fn fetch_role<D: Dialect>(
    conn: &mut Conn<D>,
    id: &RoleId,
    lock: &str,
) -> StoreResult<Option<Role>> {
    Sql::<D>::new(format!(
        "SELECT {} FROM roles r WHERE r.id = $1{lock}",
        role_columns::<D>()
    ))
    .arg(id.as_str().to_owned())
    .fetch_optional(conn, role)
    .await
}

/// Write the permissions of `role` (which must have none stored) in one statement.
async fn insert_permissions<D: Dialect>(conn: &mut Conn<D>, role: &Role) -> StoreResult<()> {
    if role.permissions.is_empty() {
        return Ok(());
    }
    let mut q = Sql::<D>::new("INSERT INTO role_permissions (role_id, permission) SELECT ");
    q.bind(role.id.as_str().to_owned());
    let list = q.param(D::encode_list(
        role.permissions
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
    ));
    q.push(&format!(
        ", x.value FROM {}",
        fill(D::LIST_TABLE, &[("list", &list)])
    ));
    q.execute(conn).await?;
    Ok(())
}

async fn insert_role<D: Dialect>(conn: &mut Conn<D>, role: &Role) -> StoreResult<()> {
    Sql::<D>::new(
        "INSERT INTO roles (id, description, builtin, generation, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .arg(role.id.as_str().to_owned())
    .arg(role.description.clone())
    .arg(role.builtin)
    .arg(role.generation)
    .arg(D::encode_time(role.created_at))
    .arg(D::encode_time(role.updated_at))
    .execute(&mut *conn)
    .await?;
    insert_permissions::<D>(conn, role).await
}

async fn update_role<D: Dialect>(
    conn: &mut Conn<D>,
    role: &Role,
    expected_generation: i64,
) -> StoreResult<Option<Role>> {
    let updated = Sql::<D>::new(
        "UPDATE roles SET description = $2, generation = generation + 1, updated_at = $3 \
         WHERE id = $1 AND generation = $4",
    )
    .arg(role.id.as_str().to_owned())
    .arg(role.description.clone())
    .arg(D::encode_time(role.updated_at))
    .arg(expected_generation)
    .execute(&mut *conn)
    .await?;
    if updated == 0 {
        return Ok(None);
    }
    Sql::<D>::new("DELETE FROM role_permissions WHERE role_id = $1")
        .arg(role.id.as_str().to_owned())
        .execute(&mut *conn)
        .await?;
    insert_permissions::<D>(conn, role).await?;
    fetch_role::<D>(conn, &role.id, "").await
}

#[async_trait]
impl<D: Dialect> RoleRepo for SqlTransaction<D> {
    async fn insert_role(&mut self, role: &Role) -> StoreResult<()> {
        let conn = self.conn();
        savepoint::<D>(conn).await?;
        let result = insert_role::<D>(conn, role).await;
        release::<D, _>(conn, result).await
    }

    async fn get_role(&mut self, id: &RoleId) -> StoreResult<Option<Role>> {
        fetch_role::<D>(self.conn(), id, "").await
    }

    async fn lock_role(&mut self, id: &RoleId) -> StoreResult<Option<Role>> {
        fetch_role::<D>(self.conn(), id, D::FOR_UPDATE).await
    }

    async fn list_roles(&mut self, page: &PageRequest) -> StoreResult<Page<Role>> {
        let mut q = Sql::<D>::new(format!("SELECT {} FROM roles r", role_columns::<D>()));
        q.page("r.created_at", "r.id", page);
        let rows = q.fetch_all(self.conn(), role).await?;
        Ok(Page::from_rows(rows, page.limit, |r| {
            cursor(r.created_at, &r.id)
        }))
    }

    async fn missing_roles(&mut self, ids: &[RoleId]) -> StoreResult<Vec<RoleId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Sql::<D>::new("SELECT x.value FROM ");
        let list = q.param(D::encode_list(
            ids.iter().map(|r| r.as_str().to_owned()).collect(),
        ));
        q.push(&format!(
            "{} WHERE NOT EXISTS (SELECT 1 FROM roles r WHERE r.id = x.value) ORDER BY x.ord",
            fill(D::LIST_TABLE, &[("list", &list)])
        ));
        q.fetch_all(self.conn(), |r| r.parse("roles.value")).await
    }

    async fn update_role(
        &mut self,
        role: &Role,
        expected_generation: i64,
    ) -> StoreResult<Option<Role>> {
        let conn = self.conn();
        savepoint::<D>(conn).await?;
        let result = update_role::<D>(conn, role, expected_generation).await;
        release::<D, _>(conn, result).await
    }

    async fn delete_role(&mut self, id: &RoleId) -> StoreResult<bool> {
        let done = Sql::<D>::new("DELETE FROM roles WHERE id = $1 AND NOT builtin")
            .arg(id.as_str().to_owned())
            .execute(self.conn())
            .await?;
        Ok(done == 1)
    }
}
