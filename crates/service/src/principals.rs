//! Principals and their role assignments: create, read, disable, assign, unassign, and the
//! operator's bootstrap path. (Keys live in [`crate::keys`], roles in [`crate::roles`].)
//!
//! Escalation guards, each refusing with nothing changed and auditing the refusal as
//! `auth.denied`:
//! - nobody grants a role they do not hold themselves (403 `forbidden`);
//! - the last *active* holder of `admin` cannot be disabled or lose `admin` (409 `conflict`).
//!   Both paths lock the `admin` role row first, so two concurrent attempts to remove the
//!   last two admins serialize and the second sees the first.
//!
//! Disabling is one-way and takes effect at once: authentication reads the principal afresh on
//! every request. Disabling twice is 409 `conflict`; unassigning a role the principal does not
//! hold is 404 `not_found`.

use countersign_domain::audit::actions;
use countersign_domain::role::builtin;
use countersign_domain::{
    clock, Actor, AuditEvent, Category, Permission, Principal, PrincipalId, PrincipalKind,
    PrincipalName, Resource, RoleId, SystemActor,
};
use countersign_store::error::constraints;
use countersign_store::{StoreError, Transaction};
use serde_json::json;
use time::OffsetDateTime;

use crate::auth::{DenyContext, MintedKey};
use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::escalation;
use crate::keys::key_created_event;
use crate::paging::{listing, ListParams, Listing};
use crate::service::Service;

pub use countersign_api::PrincipalView;

/// What the bootstrap command did.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub principal: Principal,
    pub created_principal: bool,
    pub minted: MintedKey,
}

pub(crate) fn principal_resource(id: PrincipalId) -> Resource {
    Resource::new("principal", id)
}

fn admin_role() -> RoleId {
    RoleId::parse(builtin::ADMIN).expect("`admin` is a valid role slug")
}

impl Service {
    /// Audit `err` as an `auth.denied` event by `caller` (in its own transaction) and hand it
    /// back, for refusals a use case decides after the permission check (escalation guards).
    pub(crate) async fn refuse(
        &self,
        caller: &Caller,
        permission: Permission,
        resource: Resource,
        err: ServiceError,
    ) -> ServiceError {
        self.audit_denied(
            DenyContext {
                caller: Some(caller),
                key_id: caller.key_id,
                permission: Some(permission),
                resource,
                request_id: caller.request_id(),
            },
            &err,
        )
        .await;
        err
    }

    /// `POST /api/v1/auth/principals`.
    pub async fn create_principal(
        &self,
        caller: &Caller,
        name: &str,
        kind: PrincipalKind,
    ) -> ServiceResult<PrincipalView> {
        self.require(
            caller,
            Permission::AuthPrincipalWrite,
            Resource::new("principal", "*"),
        )
        .await?;
        let name = PrincipalName::parse(name)?;
        let mut tx = self.begin().await?;
        let principal = Principal {
            id: PrincipalId::new(),
            name,
            kind,
            disabled: false,
            created_at: clock::now(),
        };
        insert_principal(&mut *tx, &principal).await?;
        let event = AuditEvent::new(
            Category::Auth,
            actions::PRINCIPAL_CREATED,
            caller.actor(),
            principal_resource(principal.id),
        )
        .allowed_by(Permission::AuthPrincipalWrite.as_str())
        .request_id(caller.request_id())
        .details(json!({"name": principal.name, "kind": principal.kind}));
        self.commit_with(tx, &[event]).await?;
        Ok(PrincipalView {
            principal,
            roles: Vec::new(),
        })
    }

    /// `GET /api/v1/auth/principals/{id}`.
    pub async fn get_principal(
        &self,
        caller: &Caller,
        id: PrincipalId,
    ) -> ServiceResult<PrincipalView> {
        self.require(
            caller,
            Permission::AuthPrincipalRead,
            principal_resource(id),
        )
        .await?;
        let mut tx = self.begin().await?;
        let principal = tx
            .get_principal(id)
            .await?
            .ok_or(ServiceError::NotFound("principal"))?;
        let roles = tx.roles_of(id).await?;
        tx.commit().await?;
        Ok(PrincipalView { principal, roles })
    }

    /// `GET /api/v1/auth/principals`.
    pub async fn list_principals(
        &self,
        caller: &Caller,
        params: &ListParams,
    ) -> ServiceResult<Listing<PrincipalView>> {
        self.require(
            caller,
            Permission::AuthPrincipalRead,
            Resource::new("principal", "*"),
        )
        .await?;
        let page = params.to_page()?;
        let mut tx = self.begin().await?;
        let principals = tx.list_principals(&page).await?;
        let ids: Vec<PrincipalId> = principals.items.iter().map(|p| p.id).collect();
        let mut roles = tx.roles_of_many(&ids).await?;
        tx.commit().await?;
        Ok(listing(principals).map(|p| PrincipalView {
            roles: roles.remove(&p.id).unwrap_or_default(),
            principal: p,
        }))
    }

    /// `POST /api/v1/auth/principals/{id}/disable`: from now on every key of the principal is
    /// refused (401). The last active admin cannot be disabled (409, audited as a denial).
    pub async fn disable_principal(
        &self,
        caller: &Caller,
        id: PrincipalId,
    ) -> ServiceResult<PrincipalView> {
        let permission = Permission::AuthPrincipalWrite;
        self.require(caller, permission, principal_resource(id))
            .await?;
        let mut tx = self.begin().await?;
        let admin = admin_role();
        // Serialize every "could this remove the last admin?" decision on the admin row.
        tx.lock_role(&admin).await?;
        let target = tx
            .get_principal(id)
            .await?
            .ok_or(ServiceError::NotFound("principal"))?;
        if target.disabled {
            return Err(ServiceError::Conflict(format!(
                "principal `{}` is already disabled",
                target.name
            )));
        }
        let roles = tx.roles_of(id).await?;
        if roles.contains(&admin) && !another_active_admin(&mut *tx, id).await? {
            drop(tx);
            let err = ServiceError::Conflict(format!(
                "`{}` is the last active admin and cannot be disabled; make another principal admin first",
                target.name
            ));
            return Err(self
                .refuse(caller, permission, principal_resource(id), err)
                .await);
        }
        let principal = tx
            .disable_principal(id, clock::now())
            .await?
            .ok_or_else(|| {
                ServiceError::Conflict(format!("principal `{}` is already disabled", target.name))
            })?;
        let event = AuditEvent::new(
            Category::Auth,
            actions::PRINCIPAL_DISABLED,
            caller.actor(),
            principal_resource(id),
        )
        .allowed_by(permission.as_str())
        .request_id(caller.request_id())
        .details(json!({"name": principal.name, "roles": roles}));
        self.commit_with(tx, &[event]).await?;
        Ok(PrincipalView { principal, roles })
    }

    /// `POST /api/v1/auth/principals/{id}/roles`: assign a role the caller holds, or whose
    /// permissions the caller holds every one of.
    pub async fn assign_role(
        &self,
        caller: &Caller,
        principal: PrincipalId,
        role: &RoleId,
    ) -> ServiceResult<PrincipalView> {
        let permission = Permission::AuthRoleAssign;
        self.require(caller, permission, principal_resource(principal))
            .await?;
        let mut tx = self.begin().await?;
        let Some(granted) = tx.get_role(role).await? else {
            return Err(ServiceError::invalid(format!(
                "role: role `{role}` does not exist"
            )));
        };
        let target = tx
            .get_principal(principal)
            .await?
            .ok_or(ServiceError::NotFound("principal"))?;
        // Escalation guard: a role may be granted only by someone who holds every permission
        // it grants — nobody hands out more than they have.
        if let Some(err) = escalation::guard(
            caller,
            &format!("grant role `{role}`"),
            granted.permissions.iter().copied(),
        ) {
            drop(tx);
            return Err(self
                .refuse(caller, permission, principal_resource(principal), err)
                .await);
        }
        let added = tx
            .assign_role(
                principal,
                role,
                Some(&caller.id().to_string()),
                clock::now(),
            )
            .await?;
        let roles = tx.roles_of(principal).await?;
        let events = if added {
            vec![AuditEvent::new(
                Category::Auth,
                actions::ROLE_ASSIGNED,
                caller.actor(),
                principal_resource(principal),
            )
            .allowed_by(permission.as_str())
            .request_id(caller.request_id())
            .details(json!({"role": role}))]
        } else {
            Vec::new()
        };
        self.commit_with(tx, &events).await?;
        Ok(PrincipalView {
            principal: target,
            roles,
        })
    }

    /// `DELETE /api/v1/auth/principals/{id}/roles/{role}`: take a role away. Votes already
    /// cast keep the roles their voter held; new votes see the change at once. The last active
    /// admin cannot lose `admin` (409, audited as a denial).
    pub async fn unassign_role(
        &self,
        caller: &Caller,
        principal: PrincipalId,
        role: &RoleId,
    ) -> ServiceResult<PrincipalView> {
        let permission = Permission::AuthRoleRevoke;
        self.require(caller, permission, principal_resource(principal))
            .await?;
        let mut tx = self.begin().await?;
        let admin = admin_role();
        if *role == admin {
            tx.lock_role(&admin).await?;
        }
        let target = tx
            .get_principal(principal)
            .await?
            .ok_or(ServiceError::NotFound("principal"))?;
        if tx.get_role(role).await?.is_none() {
            return Err(ServiceError::NotFound("role"));
        }
        let held = tx.roles_of(principal).await?;
        if !held.contains(role) {
            return Err(ServiceError::NotFound("role assignment"));
        }
        if *role == admin && !target.disabled && !another_active_admin(&mut *tx, principal).await? {
            drop(tx);
            let err = ServiceError::Conflict(format!(
                "`{}` is the last active admin and cannot lose the admin role; make another principal admin first",
                target.name
            ));
            return Err(self
                .refuse(caller, permission, principal_resource(principal), err)
                .await);
        }
        if !tx.unassign_role(principal, role).await? {
            return Err(ServiceError::NotFound("role assignment"));
        }
        let roles = tx.roles_of(principal).await?;
        let event = AuditEvent::new(
            Category::Auth,
            actions::ROLE_UNASSIGNED,
            caller.actor(),
            principal_resource(principal),
        )
        .allowed_by(permission.as_str())
        .request_id(caller.request_id())
        .details(json!({"role": role}));
        self.commit_with(tx, &[event]).await?;
        Ok(PrincipalView {
            principal: target,
            roles,
        })
    }

    /// The operator's bootstrap path (`countersign-server keys create`): create the principal
    /// if needed, give it `role`, and mint a key. Audited with the actor `system:bootstrap`:
    /// whoever can run the server binary against the database is trusted to do this.
    pub async fn bootstrap_key(
        &self,
        name: &str,
        kind: PrincipalKind,
        role: Option<&RoleId>,
        expires_at: Option<OffsetDateTime>,
    ) -> ServiceResult<Bootstrapped> {
        let name = PrincipalName::parse(name)?;
        let mut tx = self.begin().await?;
        let (done, events) = bootstrap_in(&mut *tx, name, kind, role, expires_at).await?;
        self.commit_with(tx, &events).await?;
        Ok(done)
    }

    /// First start: when no enabled principal holds `admin`, create one (named `admin`, or
    /// `admin-2`, … when that name is taken) with a key, and answer it; otherwise `None`.
    /// The admin role row is locked first, so servers starting together mint one admin.
    pub async fn bootstrap_first_admin(&self) -> ServiceResult<Option<Bootstrapped>> {
        let admin = admin_role();
        let mut tx = self.begin().await?;
        tx.lock_role(&admin).await?;
        if !tx.active_principals_with_role(&admin).await?.is_empty() {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut name = PrincipalName::parse("admin")?;
        for n in 2.. {
            match tx.get_principal_by_name(&name).await? {
                Some(p) if !p.disabled => break,
                None => break,
                Some(_) => name = PrincipalName::parse(&format!("admin-{n}"))?,
            }
        }
        let (done, events) =
            bootstrap_in(&mut *tx, name, PrincipalKind::User, Some(&admin), None).await?;
        self.commit_with(tx, &events).await?;
        Ok(Some(done))
    }
}

/// Create `name` if needed, give it `role`, mint a key — inside `tx`, audited by
/// `system:bootstrap`. Answers what was done and the events to commit with it.
async fn bootstrap_in(
    tx: &mut dyn Transaction,
    name: PrincipalName,
    kind: PrincipalKind,
    role: Option<&RoleId>,
    expires_at: Option<OffsetDateTime>,
) -> ServiceResult<(Bootstrapped, Vec<AuditEvent>)> {
    let actor = Actor::system(SystemActor::Bootstrap);
    let mut events = Vec::new();
    let (principal, created_principal) = match tx.get_principal_by_name(&name).await? {
        Some(p) => (p, false),
        None => {
            let p = Principal {
                id: PrincipalId::new(),
                name,
                kind,
                disabled: false,
                created_at: clock::now(),
            };
            insert_principal(tx, &p).await?;
            events.push(
                AuditEvent::new(
                    Category::Auth,
                    actions::PRINCIPAL_CREATED,
                    actor.clone(),
                    principal_resource(p.id),
                )
                .details(json!({"name": p.name, "kind": p.kind})),
            );
            (p, true)
        }
    };
    if principal.disabled {
        return Err(ServiceError::Conflict(format!(
            "principal `{}` is disabled",
            principal.name
        )));
    }
    if let Some(role) = role {
        if tx.get_role(role).await?.is_none() {
            return Err(ServiceError::invalid(format!(
                "role: role `{role}` does not exist"
            )));
        }
        if tx
            .assign_role(principal.id, role, Some(actor.id.as_str()), clock::now())
            .await?
        {
            events.push(
                AuditEvent::new(
                    Category::Auth,
                    actions::ROLE_ASSIGNED,
                    actor.clone(),
                    principal_resource(principal.id),
                )
                .details(json!({"role": role})),
            );
        }
    }
    let (minted, hash) = Service::new_key(principal.id, expires_at)?;
    tx.insert_key(&minted.key, &hash).await?;
    events.push(key_created_event(actor, &minted, &principal.name, None));
    Ok((
        Bootstrapped {
            principal,
            created_principal,
            minted,
        },
        events,
    ))
}

/// Whether an enabled principal other than `except` holds `admin`. Call with the admin role
/// row locked.
async fn another_active_admin(
    tx: &mut dyn Transaction,
    except: PrincipalId,
) -> ServiceResult<bool> {
    Ok(tx
        .active_principals_with_role(&admin_role())
        .await?
        .iter()
        .any(|p| p.id != except))
}

async fn insert_principal(tx: &mut dyn Transaction, p: &Principal) -> ServiceResult<()> {
    tx.insert_principal(p).await.map_err(|e| match e {
        StoreError::Conflict { ref constraint } if constraint == constraints::PRINCIPALS_NAME => {
            ServiceError::Conflict(format!("a principal named `{}` already exists", p.name))
        }
        other => other.into(),
    })
}
