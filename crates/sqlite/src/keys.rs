//! [`KeyRepo`] on SQLite (`api_keys`). The one-query authentication read lives on the store
//! ([`crate::SqliteStore`]), outside any transaction.

use async_trait::async_trait;
use countersign_domain::{ApiKey, KeyId, PrincipalId};
use countersign_store::{KeyRepo, Page, PageRequest, StoreResult};
use sqlx::{QueryBuilder, Sqlite};
use time::OffsetDateTime;

use crate::error::map_sqlx;
use crate::rows::{KeyRow, KEY_COLUMNS};
use crate::sql::{cursor, push_page, Conditions};
use crate::timestamp::{encode, encode_opt};
use crate::tx::SqliteTransaction;

#[async_trait]
impl KeyRepo for SqliteTransaction {
    async fn insert_key(&mut self, key: &ApiKey, secret_hash: &[u8]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, principal_id, secret_hash, created_at, expires_at, \
             revoked_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.id.to_string())
        .bind(key.principal_id.to_string())
        .bind(secret_hash)
        .bind(encode(key.created_at))
        .bind(encode_opt(key.expires_at))
        .bind(encode_opt(key.revoked_at))
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
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {KEY_COLUMNS} FROM api_keys"));
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
        .bind(encode(at))
        .fetch_optional(self.conn())
        .await
        .map_err(map_sqlx)?
        .map(KeyRow::into_domain)
        .transpose()
    }
}
