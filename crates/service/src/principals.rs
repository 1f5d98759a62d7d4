//! Principals, their keys and their roles: creation, assignment and the bootstrap path.
//!
//! Escalation guard: nobody grants a role they do not hold themselves.

use countersign_domain::audit::actions;
use countersign_domain::{
    clock, Actor, AuditEvent, Category, Permission, Principal, PrincipalId, PrincipalKind,
    PrincipalName, Resource, RoleId, SystemActor,
};
use countersign_store::error::constraints;
use countersign_store::{StoreError, Transaction};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::auth::MintedKey;
use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::paging::{ListParams, Listing};
use crate::service::Service;

/// A principal with the roles it holds.
#[derive(Debug, Clone, Serialize)]
pub struct PrincipalView {
    #[serde(flatten)]
    pub principal: Principal,
    pub roles: Vec<RoleId>,
}

/// What the bootstrap command did.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub principal: Principal,
    pub created_principal: bool,
    pub minted: MintedKey,
}

fn principal_resource(id: PrincipalId) -> Resource {
    Resource::new("principal", id)
}

impl Service {
    /// `POST /api/v1/auth/principals`.
    pub async fn create_principal(
        &self,
        caller: &Caller,
        name: &str,
        kind: PrincipalKind,
    ) -> ServiceResult<PrincipalView> {
        self.require(caller, Permission::AuthPrincipalWrite, Resource::new("principal", "*"))
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
    pub async fn get_principal(&self, caller: &Caller, id: PrincipalId) -> ServiceResult<PrincipalView> {
        self.require(caller, Permission::AuthPrincipalRead, principal_resource(id))
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
        self.require(caller, Permission::AuthPrincipalRead, Resource::new("principal", "*"))
            .await?;
        let page = params.to_page()?;
        let mut tx = self.begin().await?;
        let principals = tx.list_principals(&page).await?;
        let ids: Vec<PrincipalId> = principals.items.iter().map(|p| p.id).collect();
        let mut roles = tx.roles_of_many(&ids).await?;
        tx.commit().await?;
        Ok(Listing::from(principals).map(|p| PrincipalView {
            roles: roles.remove(&p.id).unwrap_or_default(),
            principal: p,
        }))
    }

    /// `POST /api/v1/auth/principals/{id}/keys`: mint a key; the token is shown once.
    pub async fn create_key(
        &self,
        caller: &Caller,
        principal: PrincipalId,
        expires_at: Option<OffsetDateTime>,
    ) -> ServiceResult<MintedKey> {
        self.require(caller, Permission::AuthKeyCreate, principal_resource(principal))
            .await?;
        if expires_at.is_some_and(|e| e <= clock::now()) {
            return Err(ServiceError::invalid("expires_at: must be in the future"));
        }
        let mut tx = self.begin().await?;
        let target = tx
            .get_principal(principal)
            .await?
            .ok_or(ServiceError::NotFound("principal"))?;
        if target.disabled {
            return Err(ServiceError::Conflict(
                "the principal is disabled; it cannot get new keys".into(),
            ));
        }
        let (minted, hash) = Service::new_key(principal, expires_at);
        tx.insert_key(&minted.key, &hash).await?;
        let event = key_created_event(caller.actor(), &minted, caller.request_id());
        self.commit_with(tx, &[event]).await?;
        Ok(minted)
    }

    /// `POST /api/v1/auth/principals/{id}/roles`: assign a role the caller holds itself.
    pub async fn assign_role(
        &self,
        caller: &Caller,
        principal: PrincipalId,
        role: &RoleId,
    ) -> ServiceResult<PrincipalView> {
        self.require(caller, Permission::AuthRoleAssign, principal_resource(principal))
            .await?;
        if !caller.roles.contains(role) {
            let err = ServiceError::Forbidden(format!(
                "escalation guard: you cannot grant role `{role}`, which you do not hold"
            ));
            self.audit_denied(
                crate::auth::DenyContext {
                    caller: Some(caller),
                    key_id: caller.key_id,
                    permission: Some(Permission::AuthRoleAssign),
                    resource: principal_resource(principal),
                    request_id: caller.request_id(),
                },
                &err,
            )
            .await;
            return Err(err);
        }
        let mut tx = self.begin().await?;
        let target = tx
            .get_principal(principal)
            .await?
            .ok_or(ServiceError::NotFound("principal"))?;
        if tx.get_role(role).await?.is_none() {
            return Err(ServiceError::invalid(format!("role: role `{role}` does not exist")));
        }
        let added = tx
            .assign_role(principal, role, Some(&caller.id().to_string()), clock::now())
            .await?;
        let roles = tx.roles_of(principal).await?;
        let events = if added {
            vec![AuditEvent::new(
                Category::Auth,
                actions::ROLE_ASSIGNED,
                caller.actor(),
                principal_resource(principal),
            )
            .allowed_by(Permission::AuthRoleAssign.as_str())
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
        let actor = Actor::system(SystemActor::Bootstrap);
        let mut tx = self.begin().await?;
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
                insert_principal(&mut *tx, &p).await?;
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
                return Err(ServiceError::invalid(format!("role: role `{role}` does not exist")));
            }
            if tx.assign_role(principal.id, role, Some(actor.id.as_str()), clock::now()).await? {
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
        let (minted, hash) = Service::new_key(principal.id, expires_at);
        tx.insert_key(&minted.key, &hash).await?;
        events.push(key_created_event(actor, &minted, None));
        self.commit_with(tx, &events).await?;
        Ok(Bootstrapped {
            principal,
            created_principal,
            minted,
        })
    }
}

async fn insert_principal(tx: &mut dyn Transaction, p: &Principal) -> ServiceResult<()> {
    tx.insert_principal(p).await.map_err(|e| match e {
        StoreError::Conflict { ref constraint } if constraint == constraints::PRINCIPALS_NAME => {
            ServiceError::Conflict(format!("a principal named `{}` already exists", p.name))
        }
        other => other.into(),
    })
}

fn key_created_event(actor: Actor, minted: &MintedKey, request_id: Option<&str>) -> AuditEvent {
    AuditEvent::new(
        Category::Auth,
        actions::KEY_CREATED,
        actor,
        Resource::new("key", minted.key.id),
    )
    .allowed_by(Permission::AuthKeyCreate.as_str())
    .request_id(request_id)
    .details(json!({
        "principal_id": minted.key.principal_id,
        "expires_at": minted.key.expires_at.map(|t| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()),
    }))
}
