//! Roles: create, read, list, edit (optimistic concurrency on `generation`), delete, and adding
//! or removing one permission.
//!
//! Rules, each refusing with nothing changed:
//! - **Built-in roles are fixed.** They cannot be edited, deleted or have permissions added or
//!   removed (409 `conflict`): other code and every operator rely on what `admin`, `approver`
//!   and the rest mean, and `admin` must always hold every permission.
//! - **Escalation guard.** Nobody puts into a role (on create, edit, or add-permission) a
//!   permission they do not hold themselves (403 `forbidden`, audited as `auth.denied`).
//!   Keeping or removing a permission the caller lacks is allowed.
//! - **Roles in use by policies stay.** Deleting a role that a policy rule names is 409
//!   `conflict` (the database's foreign key decides, so no race can slip through).
//!
//! Creating a role does not assign it to anyone — not even its creator, who would otherwise
//! become eligible for every approval rule naming it. The creator can grant it because it
//! holds every permission the role grants (see `Service::assign_role`).
//!
//! Every change bumps `generation` by one and is audited `role.updated` with
//! `previous_generation`/`new_generation`. Adding a permission the role already has, and
//! removing one it lacks, change nothing: the former answers the role as it is (200), the
//! latter 404.

use std::collections::BTreeSet;

use countersign_domain::audit::actions;
use countersign_domain::{clock, AuditEvent, Category, Permission, Resource, Role, RoleId};
use countersign_store::error::constraints;
use countersign_store::StoreError;
use serde_json::json;

use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::escalation;
use crate::paging::{listing, ListParams, Listing};
use crate::service::Service;

/// The longest role description (the database's limit too).
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// The body of `POST /api/v1/auth/roles`.
#[derive(Debug, Clone)]
pub struct NewRole {
    pub id: RoleId,
    pub description: String,
    pub permissions: BTreeSet<Permission>,
}

/// The body of `PUT /api/v1/auth/roles/{id}`: the full role plus the generation it was read at.
#[derive(Debug, Clone)]
pub struct RoleEdit {
    pub description: String,
    pub permissions: BTreeSet<Permission>,
    pub generation: i64,
}

fn resource(id: &RoleId) -> Resource {
    Resource::new("role", id)
}

fn validate_description(description: &str) -> ServiceResult<()> {
    countersign_domain::text::validate_free_text(
        "description",
        description,
        MAX_DESCRIPTION_CHARS,
    )?;
    Ok(())
}

fn builtin_refusal(id: &RoleId, what: &str) -> ServiceError {
    ServiceError::Conflict(format!("`{id}` is a built-in role: it cannot be {what}"))
}

fn names(ps: impl IntoIterator<Item = Permission>) -> Vec<&'static str> {
    ps.into_iter().map(Permission::as_str).collect()
}

/// The escalation guard's refusal if `wanted` holds a permission the caller lacks.
fn escalation(
    caller: &Caller,
    role: &RoleId,
    wanted: impl IntoIterator<Item = Permission>,
) -> Option<ServiceError> {
    escalation::guard(
        caller,
        &format!("put permission(s) into role `{role}`"),
        wanted,
    )
}

impl Service {
    /// `POST /api/v1/auth/roles`.
    pub async fn create_role(&self, caller: &Caller, input: NewRole) -> ServiceResult<Role> {
        let permission = Permission::AuthRoleCreate;
        self.require(caller, permission, resource(&input.id))
            .await?;
        validate_description(&input.description)?;
        if let Some(err) = escalation(caller, &input.id, input.permissions.iter().copied()) {
            return Err(self
                .refuse(caller, permission, resource(&input.id), err)
                .await);
        }
        let now = clock::now();
        let role = Role {
            id: input.id,
            description: input.description,
            permissions: input.permissions,
            builtin: false,
            generation: 1,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.begin().await?;
        tx.insert_role(&role).await.map_err(|e| match e {
            StoreError::Conflict { ref constraint } if constraint == constraints::ROLES_PKEY => {
                ServiceError::Conflict(format!("a role `{}` already exists", role.id))
            }
            other => other.into(),
        })?;
        let events = [AuditEvent::new(
            Category::Auth,
            actions::ROLE_CREATED,
            caller.actor(),
            resource(&role.id),
        )
        .allowed_by(permission.as_str())
        .request_id(caller.request_id())
        .generations(None, role.generation)
        .details(json!({
            "description": role.description,
            "permissions": role.permissions,
        }))];
        self.commit_with(tx, &events).await?;
        Ok(role)
    }

    /// `GET /api/v1/auth/roles/{id}`.
    pub async fn get_role(&self, caller: &Caller, id: &RoleId) -> ServiceResult<Role> {
        self.require(caller, Permission::AuthRoleRead, resource(id))
            .await?;
        let mut tx = self.begin().await?;
        let role = tx
            .get_role(id)
            .await?
            .ok_or(ServiceError::NotFound("role"))?;
        tx.commit().await?;
        Ok(role)
    }

    /// `GET /api/v1/auth/roles`: newest first; the built-ins (oldest) last.
    pub async fn list_roles(
        &self,
        caller: &Caller,
        params: &ListParams,
    ) -> ServiceResult<Listing<Role>> {
        self.require(caller, Permission::AuthRoleRead, Resource::new("role", "*"))
            .await?;
        let page = params.to_page()?;
        let mut tx = self.begin().await?;
        let roles = tx.list_roles(&page).await?;
        tx.commit().await?;
        Ok(listing(roles))
    }

    /// `PUT /api/v1/auth/roles/{id}`: replace description and permissions if the role is still
    /// at `generation` (else 409 `generation_mismatch`).
    pub async fn update_role(
        &self,
        caller: &Caller,
        id: &RoleId,
        edit: RoleEdit,
    ) -> ServiceResult<Role> {
        let permission = Permission::AuthRoleEdit;
        self.require(caller, permission, resource(id)).await?;
        validate_description(&edit.description)?;
        let mut tx = self.begin().await?;
        let current = lock_custom_role(&mut *tx, id, "edited").await?;
        if let Some(err) = escalation(
            caller,
            id,
            edit.permissions.difference(&current.permissions).copied(),
        ) {
            drop(tx);
            return Err(self.refuse(caller, permission, resource(id), err).await);
        }
        if current.generation != edit.generation {
            return Err(ServiceError::GenerationMismatch {
                current: current.generation,
            });
        }
        let wanted = Role {
            description: edit.description,
            permissions: edit.permissions,
            ..current.clone()
        };
        self.save_role(tx, caller, permission, &current, wanted)
            .await
    }

    /// `POST /api/v1/auth/roles/{id}/permissions`: add one permission (the caller must hold it).
    pub async fn add_role_permission(
        &self,
        caller: &Caller,
        id: &RoleId,
        added: Permission,
    ) -> ServiceResult<Role> {
        let permission = Permission::AuthRoleEdit;
        self.require(caller, permission, resource(id)).await?;
        let mut tx = self.begin().await?;
        let current = lock_custom_role(&mut *tx, id, "given permissions").await?;
        if let Some(err) = escalation(caller, id, [added]) {
            drop(tx);
            return Err(self.refuse(caller, permission, resource(id), err).await);
        }
        if current.permissions.contains(&added) {
            tx.commit().await?;
            return Ok(current);
        }
        let mut wanted = current.clone();
        wanted.permissions.insert(added);
        self.save_role(tx, caller, permission, &current, wanted)
            .await
    }

    /// `DELETE /api/v1/auth/roles/{id}/permissions/{perm}`: remove one permission; 404 when the
    /// role does not have it.
    pub async fn remove_role_permission(
        &self,
        caller: &Caller,
        id: &RoleId,
        removed: Permission,
    ) -> ServiceResult<Role> {
        let permission = Permission::AuthRoleEdit;
        self.require(caller, permission, resource(id)).await?;
        let mut tx = self.begin().await?;
        let current = lock_custom_role(&mut *tx, id, "stripped of permissions").await?;
        if !current.permissions.contains(&removed) {
            return Err(ServiceError::NotFound("permission in this role"));
        }
        let mut wanted = current.clone();
        wanted.permissions.remove(&removed);
        self.save_role(tx, caller, permission, &current, wanted)
            .await
    }

    /// `DELETE /api/v1/auth/roles/{id}`: built-ins and roles a policy rule names stay (409).
    /// The role's assignments go with it; votes already cast keep the role name they recorded.
    pub async fn delete_role(&self, caller: &Caller, id: &RoleId) -> ServiceResult<()> {
        let permission = Permission::AuthRoleDelete;
        self.require(caller, permission, resource(id)).await?;
        let mut tx = self.begin().await?;
        let current = lock_custom_role(&mut *tx, id, "deleted").await?;
        let holders: Vec<String> = tx
            .active_principals_with_role(id)
            .await?
            .into_iter()
            .map(|p| p.id.to_string())
            .collect();
        let deleted = tx.delete_role(id).await.map_err(|e| match e {
            StoreError::ForeignKey { ref constraint }
                if constraint == constraints::POLICIES_ESCALATE_TO_ROLE_FK =>
            {
                ServiceError::Conflict(format!(
                    "role `{id}` is named by a policy's escalation; change those policies before deleting it"
                ))
            }
            StoreError::ForeignKey { .. } => ServiceError::Conflict(format!(
                "role `{id}` is named by a policy rule; change those policies before deleting it"
            )),
            other => other.into(),
        })?;
        if !deleted {
            return Err(ServiceError::NotFound("role"));
        }
        let event = AuditEvent::new(
            Category::Auth,
            actions::ROLE_DELETED,
            caller.actor(),
            resource(id),
        )
        .allowed_by(permission.as_str())
        .request_id(caller.request_id())
        .details(json!({
            "description": current.description,
            "permissions": current.permissions,
            "generation": current.generation,
            "active_holders": holders,
        }));
        self.commit_with(tx, &[event]).await?;
        Ok(())
    }

    /// Compare-and-set `wanted` over `current`'s generation (stamping `updated_at`), audit
    /// `role.updated`, and commit.
    async fn save_role(
        &self,
        mut tx: Box<dyn countersign_store::Transaction>,
        caller: &Caller,
        permission: Permission,
        current: &Role,
        mut wanted: Role,
    ) -> ServiceResult<Role> {
        let generation = current.generation;
        wanted.generation = generation + 1;
        wanted.updated_at = clock::now();
        let updated =
            tx.update_role(&wanted, generation)
                .await?
                .ok_or(ServiceError::GenerationMismatch {
                    current: generation + 1,
                })?;
        let event = role_updated(caller, permission, current, &updated);
        self.commit_with(tx, &[event]).await?;
        Ok(updated)
    }
}

/// Lock role `id` for the rest of the transaction; 404 when missing, 409 when built in (it
/// cannot be `what`).
async fn lock_custom_role(
    tx: &mut dyn countersign_store::Transaction,
    id: &RoleId,
    what: &str,
) -> ServiceResult<Role> {
    let role = tx
        .lock_role(id)
        .await?
        .ok_or(ServiceError::NotFound("role"))?;
    if role.builtin {
        return Err(builtin_refusal(id, what));
    }
    Ok(role)
}

/// The `role.updated` event: generations, and the role before and after.
fn role_updated(
    caller: &Caller,
    permission: Permission,
    before: &Role,
    after: &Role,
) -> AuditEvent {
    AuditEvent::new(
        Category::Auth,
        actions::ROLE_UPDATED,
        caller.actor(),
        resource(&after.id),
    )
    .allowed_by(permission.as_str())
    .request_id(caller.request_id())
    .generations(Some(before.generation), after.generation)
    .details(json!({
        "previous": {"description": before.description, "permissions": before.permissions},
        "new": {"description": after.description, "permissions": after.permissions},
        "added": names(after.permissions.difference(&before.permissions).copied()),
        "removed": names(before.permissions.difference(&after.permissions).copied()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        assert!(validate_description("").is_ok());
        assert!(validate_description("Security reviewers.\nSecond line\tok").is_ok());
        assert!(validate_description(&"é".repeat(MAX_DESCRIPTION_CHARS)).is_ok());
        assert!(validate_description(&"x".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
        assert!(validate_description("bell\u{7}").is_err());
    }
}
