//! [`PrincipalRepo`] on SQLite: `principals` and `principal_roles`.

use std::collections::HashMap;

use async_trait::async_trait;
use countersign_domain::{Principal, PrincipalId, PrincipalName, RoleId};
use countersign_store::{Page, PageRequest, PrincipalRepo, StoreResult};
use sqlx::{QueryBuilder, Sqlite};
use time::OffsetDateTime;

use crate::error::map_sqlx;
use crate::rows::{parse, PrincipalRow, PRINCIPAL_COLUMNS};
use crate::sql::{cursor, json_array, push_page, Conditions};
use crate::timestamp::encode;
use crate::tx::SqliteTransaction;

#[async_trait]
impl PrincipalRepo for SqliteTransaction {
    async fn insert_principal(&mut self, principal: &Principal) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO principals (id, name, kind, disabled, disabled_at, created_at) \
             VALUES ($1, $2, $3, $4, CASE WHEN $4 THEN $5 END, $5)",
        )
        .bind(principal.id.to_string())
        .bind(principal.name.as_str())
        .bind(principal.kind.as_str())
        .bind(principal.disabled)
        .bind(encode(principal.created_at))
        .execute(self.conn())
        .await
        .map_err(map_sqlx)?;
        Ok(())
    }

    async fn get_principal(&mut self, id: PrincipalId) -> StoreResult<Option<Principal>> {
        sqlx::query_as::<_, PrincipalRow>(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(self.conn())
        .await
        .map_err(map_sqlx)?
        .map(PrincipalRow::into_domain)
        .transpose()
    }

    async fn get_principal_by_name(
        &mut self,
        name: &PrincipalName,
    ) -> StoreResult<Option<Principal>> {
        sqlx::query_as::<_, PrincipalRow>(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE name = $1"
        ))
        .bind(name.as_str())
        .fetch_optional(self.conn())
        .await
        .map_err(map_sqlx)?
        .map(PrincipalRow::into_domain)
        .transpose()
    }

    async fn list_principals(&mut self, page: &PageRequest) -> StoreResult<Page<Principal>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {PRINCIPAL_COLUMNS} FROM principals"));
        push_page(
            &mut qb,
            &mut Conditions::default(),
            "created_at",
            "id",
            page,
        );
        let rows = qb
            .build_query_as::<PrincipalRow>()
            .fetch_all(self.conn())
            .await
            .map_err(map_sqlx)?
            .into_iter()
            .map(PrincipalRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page.limit, |p| {
            cursor(p.created_at, p.id)
        }))
    }

    async fn disable_principal(
        &mut self,
        id: PrincipalId,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Principal>> {
        sqlx::query_as::<_, PrincipalRow>(&format!(
            "UPDATE principals SET disabled = 1, disabled_at = $2 \
             WHERE id = $1 AND NOT disabled RETURNING {PRINCIPAL_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(encode(at))
        .fetch_optional(self.conn())
        .await
        .map_err(map_sqlx)?
        .map(PrincipalRow::into_domain)
        .transpose()
    }

    async fn assign_role(
        &mut self,
        principal: PrincipalId,
        role: &RoleId,
        granted_by: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO principal_roles (principal_id, role_id, granted_by, granted_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (principal_id, role_id) DO NOTHING",
        )
        .bind(principal.to_string())
        .bind(role.as_str())
        .bind(granted_by)
        .bind(encode(at))
        .execute(self.conn())
        .await
        .map_err(map_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn unassign_role(&mut self, principal: PrincipalId, role: &RoleId) -> StoreResult<bool> {
        let done =
            sqlx::query("DELETE FROM principal_roles WHERE principal_id = $1 AND role_id = $2")
                .bind(principal.to_string())
                .bind(role.as_str())
                .execute(self.conn())
                .await
                .map_err(map_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn roles_of(&mut self, principal: PrincipalId) -> StoreResult<Vec<RoleId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT role_id FROM principal_roles WHERE principal_id = $1 ORDER BY role_id",
        )
        .bind(principal.to_string())
        .fetch_all(self.conn())
        .await
        .map_err(map_sqlx)?;
        ids.iter()
            .map(|r| parse("principal_roles.role_id", r))
            .collect()
    }

    async fn roles_of_many(
        &mut self,
        principals: &[PrincipalId],
    ) -> StoreResult<HashMap<PrincipalId, Vec<RoleId>>> {
        if principals.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<String> = principals.iter().map(ToString::to_string).collect();
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT principal_id, role_id FROM principal_roles \
             WHERE principal_id IN (SELECT value FROM json_each($1)) \
             ORDER BY principal_id, role_id",
        )
        .bind(json_array(ids.iter().map(String::as_str)))
        .fetch_all(self.conn())
        .await
        .map_err(map_sqlx)?;
        let mut out: HashMap<PrincipalId, Vec<RoleId>> = HashMap::new();
        for (p, role) in rows {
            out.entry(parse("principal_roles.principal_id", &p)?)
                .or_default()
                .push(parse("principal_roles.role_id", &role)?);
        }
        Ok(out)
    }

    async fn active_principals_with_role(&mut self, role: &RoleId) -> StoreResult<Vec<Principal>> {
        sqlx::query_as::<_, PrincipalRow>(
            "SELECT p.id, p.name, p.kind, p.disabled, p.created_at \
             FROM principals p JOIN principal_roles pr ON pr.principal_id = p.id \
             WHERE pr.role_id = $1 AND NOT p.disabled ORDER BY p.name",
        )
        .bind(role.as_str())
        .fetch_all(self.conn())
        .await
        .map_err(map_sqlx)?
        .into_iter()
        .map(PrincipalRow::into_domain)
        .collect()
    }
}
