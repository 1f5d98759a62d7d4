//! Principals and the roles assigned to them.

use std::collections::HashMap;

use async_trait::async_trait;
use countersign_domain::{Principal, PrincipalId, PrincipalName, RoleId};
use time::OffsetDateTime;

use crate::error::StoreResult;
use crate::page::{Page, PageRequest};

#[async_trait]
pub trait PrincipalRepo {
    /// Insert a principal. A taken name is `Conflict { constraint: "principals_name_key" }`.
    async fn insert_principal(&mut self, principal: &Principal) -> StoreResult<()>;

    async fn get_principal(&mut self, id: PrincipalId) -> StoreResult<Option<Principal>>;

    async fn get_principal_by_name(
        &mut self,
        name: &PrincipalName,
    ) -> StoreResult<Option<Principal>>;

    /// Newest first.
    async fn list_principals(&mut self, page: &PageRequest) -> StoreResult<Page<Principal>>;

    /// Compare-and-set: disable a principal that is still enabled. `None` if it does not exist
    /// or was already disabled.
    async fn disable_principal(
        &mut self,
        id: PrincipalId,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Principal>>;

    /// Assign a role. `Ok(false)` if the principal already held it. A missing principal or
    /// role is `ForeignKey`.
    async fn assign_role(
        &mut self,
        principal: PrincipalId,
        role: &RoleId,
        granted_by: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// Remove a role assignment. `Ok(false)` if the principal did not hold it.
    async fn unassign_role(&mut self, principal: PrincipalId, role: &RoleId) -> StoreResult<bool>;

    /// The roles a principal holds, sorted by id.
    async fn roles_of(&mut self, principal: PrincipalId) -> StoreResult<Vec<RoleId>>;

    /// The roles of many principals at once (one query), each list sorted by id. Principals
    /// holding no role are absent from the map.
    async fn roles_of_many(
        &mut self,
        principals: &[PrincipalId],
    ) -> StoreResult<HashMap<PrincipalId, Vec<RoleId>>>;

    /// Enabled principals holding `role`, sorted by name.
    async fn active_principals_with_role(&mut self, role: &RoleId) -> StoreResult<Vec<Principal>>;
}
