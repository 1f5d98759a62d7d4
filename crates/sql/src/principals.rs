//! [`PrincipalRepo`]: `principals` and `principal_roles`.

use std::collections::HashMap;

use async_trait::async_trait;
use countersign_domain::{Principal, PrincipalId, PrincipalName, RoleId};
use countersign_store::decode::CorruptRow;
use countersign_store::{Page, PageRequest, PrincipalRepo, StoreError, StoreResult};
use time::OffsetDateTime;

use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::sql::{cursor, fill, Sql};
use crate::tx::SqlTransaction;

/// The columns [`principal`] reads.
pub(crate) const PRINCIPAL_COLUMNS: &str = "id, name, kind, disabled, created_at";

/// A principal from its row.
pub(crate) fn principal<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<Principal> {
    let name = r.text("principals.name")?;
    Ok(Principal {
        id: r.parse("principals.id")?,
        name: PrincipalName::parse(&name)
            .map_err(|e| StoreError::other(CorruptRow::new("principals.name", &name, e)))?,
        kind: r.parse("principals.kind")?,
        disabled: r.get("principals.disabled")?,
        created_at: r.time("principals.created_at")?,
    })
}

#[async_trait]
impl<D: Dialect> PrincipalRepo for SqlTransaction<D> {
    async fn insert_principal(&mut self, p: &Principal) -> StoreResult<()> {
        Sql::<D>::new(
            "INSERT INTO principals (id, name, kind, disabled, disabled_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .arg(p.id.to_string())
        .arg(p.name.as_str().to_owned())
        .arg(p.kind.as_str().to_owned())
        .arg(p.disabled)
        .arg(p.disabled.then(|| D::encode_time(p.created_at)))
        .arg(D::encode_time(p.created_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn get_principal(&mut self, id: PrincipalId) -> StoreResult<Option<Principal>> {
        Sql::<D>::new(format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE id = $1"
        ))
        .arg(id.to_string())
        .fetch_optional(self.conn(), principal)
        .await
    }

    async fn get_principal_by_name(
        &mut self,
        name: &PrincipalName,
    ) -> StoreResult<Option<Principal>> {
        Sql::<D>::new(format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE name = $1"
        ))
        .arg(name.as_str().to_owned())
        .fetch_optional(self.conn(), principal)
        .await
    }

    async fn list_principals(&mut self, page: &PageRequest) -> StoreResult<Page<Principal>> {
        let mut q = Sql::<D>::new(format!("SELECT {PRINCIPAL_COLUMNS} FROM principals"));
        q.page("created_at", "id", page);
        let rows = q.fetch_all(self.conn(), principal).await?;
        Ok(Page::from_rows(rows, page.limit, |p| {
            cursor(p.created_at, p.id)
        }))
    }

    async fn disable_principal(
        &mut self,
        id: PrincipalId,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Principal>> {
        Sql::<D>::new(format!(
            "UPDATE principals SET disabled = true, disabled_at = $2 \
             WHERE id = $1 AND NOT disabled RETURNING {PRINCIPAL_COLUMNS}"
        ))
        .arg(id.to_string())
        .arg(D::encode_time(at))
        .fetch_optional(self.conn(), principal)
        .await
    }

    async fn assign_role(
        &mut self,
        principal: PrincipalId,
        role: &RoleId,
        granted_by: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = Sql::<D>::new(
            "INSERT INTO principal_roles (principal_id, role_id, granted_by, granted_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (principal_id, role_id) DO NOTHING",
        )
        .arg(principal.to_string())
        .arg(role.as_str().to_owned())
        .arg(granted_by.map(str::to_owned))
        .arg(D::encode_time(at))
        .execute(self.conn())
        .await?;
        Ok(done == 1)
    }

    async fn unassign_role(&mut self, principal: PrincipalId, role: &RoleId) -> StoreResult<bool> {
        let done =
            Sql::<D>::new("DELETE FROM principal_roles WHERE principal_id = $1 AND role_id = $2")
                .arg(principal.to_string())
                .arg(role.as_str().to_owned())
                .execute(self.conn())
                .await?;
        Ok(done == 1)
    }

    async fn roles_of(&mut self, principal: PrincipalId) -> StoreResult<Vec<RoleId>> {
        Sql::<D>::new(
            "SELECT role_id FROM principal_roles WHERE principal_id = $1 ORDER BY role_id",
        )
        .arg(principal.to_string())
        .fetch_all(self.conn(), |r| r.parse("principal_roles.role_id"))
        .await
    }

    async fn roles_of_many(
        &mut self,
        principals: &[PrincipalId],
    ) -> StoreResult<HashMap<PrincipalId, Vec<RoleId>>> {
        if principals.is_empty() {
            return Ok(HashMap::new());
        }
        let mut q = Sql::<D>::new("SELECT principal_id, role_id FROM principal_roles");
        let ids = q.param(D::encode_list(
            principals.iter().map(ToString::to_string).collect(),
        ));
        q.push(&format!(
            " WHERE principal_id {} ORDER BY principal_id, role_id",
            fill(D::IN_LIST, &[("list", &ids)])
        ));
        let rows: Vec<(PrincipalId, RoleId)> = q
            .fetch_all(self.conn(), |r| {
                Ok((
                    r.parse("principal_roles.principal_id")?,
                    r.parse("principal_roles.role_id")?,
                ))
            })
            .await?;
        let mut out: HashMap<PrincipalId, Vec<RoleId>> = HashMap::new();
        for (p, role) in rows {
            out.entry(p).or_default().push(role);
        }
        Ok(out)
    }

    async fn active_principals_with_role(&mut self, role: &RoleId) -> StoreResult<Vec<Principal>> {
        Sql::<D>::new(
            "SELECT p.id, p.name, p.kind, p.disabled, p.created_at \
             FROM principals p JOIN principal_roles pr ON pr.principal_id = p.id \
             WHERE pr.role_id = $1 AND NOT p.disabled ORDER BY p.name",
        )
        .arg(role.as_str().to_owned())
        .fetch_all(self.conn(), principal)
        .await
    }
}
