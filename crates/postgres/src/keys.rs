//! [`KeyRepo`] on PostgreSQL (`api_keys`), and the one-query key authentication read.

use async_trait::async_trait;
use countersign_domain::{ApiKey, KeyId, PrincipalId};
use countersign_store::{KeyAuthRecord, KeyRepo, Page, PageRequest, StoreResult};
use sqlx::{PgExecutor, Postgres, QueryBuilder};
use time::OffsetDateTime;

use crate::error::map_sqlx;
use crate::rows::{KeyAuthRow, KeyRow, KEY_COLUMNS};
use crate::sql::{cursor, push_page, Conditions};
use crate::tx::PgTransaction;

/// The key, its principal, the principal's roles (sorted) and the union of their permissions
/// (sorted, distinct), in a single round trip: this runs on every authenticated request.
const KEY_AUTH_SQL: &str = "\
SELECT k.id, k.principal_id, k.secret_hash, k.created_at, k.expires_at, k.revoked_at,
       p.name AS principal_name, p.kind AS principal_kind, p.disabled AS principal_disabled,
       p.created_at AS principal_created_at,
       ARRAY(SELECT pr.role_id FROM principal_roles pr
             WHERE pr.principal_id = k.principal_id ORDER BY pr.role_id) AS roles,
       ARRAY(SELECT DISTINCT rp.permission
             FROM principal_roles pr JOIN role_permissions rp ON rp.role_id = pr.role_id
             WHERE pr.principal_id = k.principal_id ORDER BY rp.permission) AS permissions
FROM api_keys k JOIN principals p ON p.id = k.principal_id
WHERE k.id = $1";

/// Read everything authentication needs about key `id`.
pub(crate) async fn key_auth_record<'e>(
    executor: impl PgExecutor<'e>,
    id: KeyId,
) -> StoreResult<Option<KeyAuthRecord>> {
    sqlx::query_as::<_, KeyAuthRow>(KEY_AUTH_SQL)
        .bind(id.to_string())
        .fetch_optional(executor)
        .await
        .map_err(map_sqlx)?
        .map(KeyAuthRow::into_domain)
        .transpose()
}

#[async_trait]
impl KeyRepo for PgTransaction {
    async fn insert_key(&mut self, key: &ApiKey, secret_hash: &[u8]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, principal_id, secret_hash, created_at, expires_at, \
             revoked_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.id.to_string())
        .bind(key.principal_id.to_string())
        .bind(secret_hash)
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(key.revoked_at)
        .execute(self.conn())
        .await
        .map_err(map_sqlx)?;
        Ok(())
    }

    async fn get_key(&mut self, id: KeyId) -> StoreResult<Option<ApiKey>> {
        sqlx::query_as::<_, KeyRow>(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.conn())
            .await
            .map_err(map_sqlx)?
            .map(KeyRow::into_domain)
            .transpose()
    }

    async fn list_keys(
        &mut self,
        principal: Option<PrincipalId>,
        page: &PageRequest,
    ) -> StoreResult<Page<ApiKey>> {
        let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {KEY_COLUMNS} FROM api_keys"));
        let mut conditions = Conditions::default();
        if let Some(p) = principal {
            conditions.next(&mut qb);
            qb.push("principal_id = ").push_bind(p.to_string());
        }
        push_page(&mut qb, &mut conditions, "created_at", "id", page);
        let rows = qb
            .build_query_as::<KeyRow>()
            .fetch_all(self.conn())
            .await
            .map_err(map_sqlx)?
            .into_iter()
            .map(KeyRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page.limit, |k| {
            cursor(k.created_at, k.id)
        }))
    }

    async fn revoke_key(&mut self, id: KeyId, at: OffsetDateTime) -> StoreResult<Option<ApiKey>> {
        sqlx::query_as::<_, KeyRow>(&format!(
            "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
             RETURNING {KEY_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(at)
        .fetch_optional(self.conn())
        .await
        .map_err(map_sqlx)?
        .map(KeyRow::into_domain)
        .transpose()
    }
}
