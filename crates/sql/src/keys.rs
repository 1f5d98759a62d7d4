//! [`KeyRepo`]: `api_keys`, and the one-query read key authentication runs on every request.

use std::collections::BTreeSet;

use async_trait::async_trait;
use countersign_domain::{ApiKey, KeyId, Permission, PrincipalId};
use countersign_store::{KeyAuthRecord, KeyRepo, Page, PageRequest, StoreResult};
use time::OffsetDateTime;

use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::principals::principal;
use crate::sql::{cursor, fill, Conn, Sql};
use crate::tx::SqlTransaction;

/// The columns [`key`] reads.
const KEY_COLUMNS: &str = "id, principal_id, created_at, expires_at, revoked_at";

fn key<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: r.parse("api_keys.id")?,
        principal_id: r.parse("api_keys.principal_id")?,
        created_at: r.time("api_keys.created_at")?,
        expires_at: r.opt_time("api_keys.expires_at")?,
        revoked_at: r.opt_time("api_keys.revoked_at")?,
    })
}

/// The statement of [`key_auth_record`] on dialect `D` (one parameter: the key id). Public so
/// the benchmark's raw baseline runs exactly the store's statement.
pub fn key_auth_sql<D: Dialect>() -> String {
    let roles = fill(
        D::ARRAY,
        &[
            ("expr", "pr.role_id"),
            (
                "from",
                "principal_roles pr WHERE pr.principal_id = k.principal_id",
            ),
            ("order", "pr.role_id"),
        ],
    );
    let permissions = fill(
        D::ARRAY,
        &[
            ("expr", "DISTINCT rp.permission"),
            (
                "from",
                "principal_roles pr JOIN role_permissions rp ON rp.role_id = pr.role_id \
         WHERE pr.principal_id = k.principal_id",
            ),
            ("order", "rp.permission"),
        ],
    );
    format!(
        "SELECT k.id, k.principal_id, k.secret_hash, k.created_at, k.expires_at, k.revoked_at, \
         p.name AS principal_name, p.kind AS principal_kind, \
         p.disabled AS principal_disabled, p.created_at AS principal_created_at, \
         {roles} AS roles, {permissions} AS permissions \
         FROM api_keys k JOIN principals p ON p.id = k.principal_id WHERE k.id = $1"
    )
}

/// Read everything authentication needs about key `id`: the key, its principal, the
/// principal's roles (sorted) and the union of their permissions (sorted, distinct), in a
/// single round trip.
pub(crate) async fn key_auth_record<D: Dialect>(
    conn: &mut Conn<D>,
    id: KeyId,
) -> StoreResult<Option<KeyAuthRecord>> {
    Sql::<D>::new(key_auth_sql::<D>())
        .arg(id.to_string())
        .fetch_optional(conn, |r| {
            let permissions: Vec<Permission> = r.list("role_permissions.permissions")?;
            Ok(KeyAuthRecord {
                key: key(r)?,
                secret_hash: r.get("api_keys.secret_hash")?,
                principal: principal(&r.prefixed("principal_"))?,
                roles: r.list("principal_roles.roles")?,
                permissions: permissions.into_iter().collect::<BTreeSet<_>>(),
            })
        })
        .await
}

#[async_trait]
impl<D: Dialect> KeyRepo for SqlTransaction<D> {
    async fn insert_key(&mut self, key: &ApiKey, secret_hash: &[u8]) -> StoreResult<()> {
        Sql::<D>::new(
            "INSERT INTO api_keys (id, principal_id, secret_hash, created_at, expires_at, \
             revoked_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .arg(key.id.to_string())
        .arg(key.principal_id.to_string())
        .arg(secret_hash.to_vec())
        .arg(D::encode_time(key.created_at))
        .arg(key.expires_at.map(D::encode_time))
        .arg(key.revoked_at.map(D::encode_time))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn get_key(&mut self, id: KeyId) -> StoreResult<Option<ApiKey>> {
        Sql::<D>::new(format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"))
            .arg(id.to_string())
            .fetch_optional(self.conn(), key)
            .await
    }

    async fn list_keys(
        &mut self,
        principal: Option<PrincipalId>,
        page: &PageRequest,
    ) -> StoreResult<Page<ApiKey>> {
        let mut q = Sql::<D>::new(format!("SELECT {KEY_COLUMNS} FROM api_keys"));
        if let Some(p) = principal {
            q.and().push("principal_id = ").bind(p.to_string());
        }
        q.page("created_at", "id", page);
        let rows = q.fetch_all(self.conn(), key).await?;
        Ok(Page::from_rows(rows, page.limit, |k| {
            cursor(k.created_at, k.id)
        }))
    }

    async fn revoke_key(&mut self, id: KeyId, at: OffsetDateTime) -> StoreResult<Option<ApiKey>> {
        Sql::<D>::new(format!(
            "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
             RETURNING {KEY_COLUMNS}"
        ))
        .arg(id.to_string())
        .arg(D::encode_time(at))
        .fetch_optional(self.conn(), key)
        .await
    }
}
