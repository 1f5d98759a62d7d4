//! Roles and their permissions.

use async_trait::async_trait;
use countersign_domain::{Role, RoleId};

use crate::error::StoreResult;
use crate::page::{Page, PageRequest};

#[async_trait]
pub trait RoleRepo {
    /// Insert a role with its permissions. A taken id is `Conflict { constraint: "roles_pkey" }`.
    async fn insert_role(&mut self, role: &Role) -> StoreResult<()>;

    async fn get_role(&mut self, id: &RoleId) -> StoreResult<Option<Role>>;

    /// Lock a role's row for the rest of the transaction (`SELECT … FOR UPDATE`), so checks
    /// such as "the last active admin" cannot race.
    async fn lock_role(&mut self, id: &RoleId) -> StoreResult<Option<Role>>;

    /// Roles newest first (built-ins share their creation time and sort by id).
    async fn list_roles(&mut self, page: &PageRequest) -> StoreResult<Page<Role>>;

    /// Which of `ids` do not exist.
    async fn missing_roles(&mut self, ids: &[RoleId]) -> StoreResult<Vec<RoleId>>;

    /// Compare-and-set on generation: replace the description and permissions of `role.id`
    /// if its stored generation is `expected_generation`; the stored generation becomes
    /// `expected_generation + 1` and `updated_at` becomes `role.updated_at`. `None` on a
    /// generation mismatch or a missing role.
    async fn update_role(
        &mut self,
        role: &Role,
        expected_generation: i64,
    ) -> StoreResult<Option<Role>>;

    /// Delete a non-built-in role (its assignments go with it). `Ok(false)` if it does not
    /// exist or is built-in. A role still named by a policy rule is `ForeignKey`.
    async fn delete_role(&mut self, id: &RoleId) -> StoreResult<bool>;
}
