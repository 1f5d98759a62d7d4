//! Policies: create, read, list, and update with optimistic concurrency (`generation`).

use countersign_domain::audit::actions;
use countersign_domain::policy::{validate_name, validate_notices, validate_rules};
use countersign_domain::{
    clock, ApprovalRule, AuditEvent, Category, NoticeSettings, Permission, Policy, PolicyId,
    Resource,
};
use countersign_store::error::constraints;
use countersign_store::{StoreError, Transaction};
use serde_json::json;

use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::paging::{listing, ListParams, Listing};
use crate::service::Service;

/// The body of `POST /api/v1/policies` (and, with a generation, of `PUT`).
#[derive(Debug, Clone)]
pub struct PolicyInput {
    pub name: String,
    pub requires_approval: bool,
    pub rules: Vec<ApprovalRule>,
    pub approval_timeout_secs: Option<i64>,
    /// Reminders and escalation (all optional).
    pub notices: NoticeSettings,
}

fn resource(id: PolicyId) -> Resource {
    Resource::new("policy", id)
}

impl Service {
    fn validate_policy_input(&self, input: &PolicyInput) -> ServiceResult<i64> {
        validate_name(&input.name)?;
        let timeout = input
            .approval_timeout_secs
            .unwrap_or(self.config.default_approval_timeout.as_secs() as i64);
        validate_rules(input.requires_approval, &input.rules, timeout)?;
        validate_notices(input.requires_approval, &input.notices)?;
        Ok(timeout)
    }

    /// `POST /api/v1/policies`.
    pub async fn create_policy(
        &self,
        caller: &Caller,
        input: PolicyInput,
    ) -> ServiceResult<Policy> {
        self.require(
            caller,
            Permission::PolicyWrite,
            Resource::new("policy", "*"),
        )
        .await?;
        let timeout = self.validate_policy_input(&input)?;
        let now = clock::now();
        let policy = Policy {
            id: PolicyId::new(),
            name: input.name,
            requires_approval: input.requires_approval,
            rules: input.rules,
            approval_timeout_secs: timeout,
            remind_after_secs: input.notices.remind_after_secs,
            escalate_after_secs: input.notices.escalate_after_secs,
            escalate_to_role: input.notices.escalate_to_role,
            generation: 1,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.begin().await?;
        check_roles_exist(&mut *tx, &policy.rules).await?;
        check_escalation_role_exists(&mut *tx, &policy.notices()).await?;
        tx.insert_policy(&policy)
            .await
            .map_err(|e| map_write_error(e, &policy.name))?;
        let event = AuditEvent::new(
            Category::Config,
            actions::POLICY_CREATED,
            caller.actor(),
            resource(policy.id),
        )
        .allowed_by(Permission::PolicyWrite.as_str())
        .request_id(caller.request_id())
        .generations(None, policy.generation)
        .details(settings(&policy));
        self.commit_with(tx, &[event]).await?;
        Ok(policy)
    }

    /// `GET /api/v1/policies/{id}`.
    pub async fn get_policy(&self, caller: &Caller, id: PolicyId) -> ServiceResult<Policy> {
        self.require(caller, Permission::PolicyRead, resource(id))
            .await?;
        let mut tx = self.begin().await?;
        let policy = tx
            .get_policy(id)
            .await?
            .ok_or(ServiceError::NotFound("policy"))?;
        tx.commit().await?;
        Ok(policy)
    }

    /// `GET /api/v1/policies`.
    pub async fn list_policies(
        &self,
        caller: &Caller,
        params: &ListParams,
    ) -> ServiceResult<Listing<Policy>> {
        self.require(caller, Permission::PolicyRead, Resource::new("policy", "*"))
            .await?;
        let page = params.to_page()?;
        let mut tx = self.begin().await?;
        let policies = tx.list_policies(&page).await?;
        tx.commit().await?;
        Ok(listing(policies))
    }

    /// `PUT /api/v1/policies/{id}`: the full body plus the generation it was read at.
    pub async fn update_policy(
        &self,
        caller: &Caller,
        id: PolicyId,
        input: PolicyInput,
        generation: i64,
    ) -> ServiceResult<Policy> {
        self.require(caller, Permission::PolicyWrite, resource(id))
            .await?;
        let timeout = self.validate_policy_input(&input)?;
        let mut tx = self.begin().await?;
        let current = tx
            .get_policy(id)
            .await?
            .ok_or(ServiceError::NotFound("policy"))?;
        if current.generation != generation {
            return Err(ServiceError::GenerationMismatch {
                current: current.generation,
            });
        }
        check_roles_exist(&mut *tx, &input.rules).await?;
        check_escalation_role_exists(&mut *tx, &input.notices).await?;
        let wanted = Policy {
            id,
            name: input.name,
            requires_approval: input.requires_approval,
            rules: input.rules,
            approval_timeout_secs: timeout,
            remind_after_secs: input.notices.remind_after_secs,
            escalate_after_secs: input.notices.escalate_after_secs,
            escalate_to_role: input.notices.escalate_to_role,
            generation: generation + 1,
            created_at: current.created_at,
            updated_at: clock::now(),
        };
        let updated = tx
            .update_policy(&wanted, generation)
            .await
            .map_err(|e| map_write_error(e, &wanted.name))?
            .ok_or(ServiceError::GenerationMismatch {
                current: generation + 1,
            })?;
        let event = AuditEvent::new(
            Category::Config,
            actions::POLICY_UPDATED,
            caller.actor(),
            resource(id),
        )
        .allowed_by(Permission::PolicyWrite.as_str())
        .request_id(caller.request_id())
        .generations(Some(generation), updated.generation)
        .details(json!({
            "previous": settings(&current),
            "new": settings(&updated),
        }));
        self.commit_with(tx, &[event]).await?;
        Ok(updated)
    }
}

/// A policy's settings as its audit events record them (reminder and escalation settings only
/// when set).
fn settings(policy: &Policy) -> serde_json::Value {
    let mut v = json!({
        "name": policy.name,
        "requires_approval": policy.requires_approval,
        "rules": policy.rules,
        "approval_timeout_secs": policy.approval_timeout_secs,
    });
    if let Some(secs) = policy.remind_after_secs {
        v["remind_after_secs"] = json!(secs);
    }
    if let (Some(secs), Some(role)) = (policy.escalate_after_secs, &policy.escalate_to_role) {
        v["escalate_after_secs"] = json!(secs);
        v["escalate_to_role"] = json!(role);
    }
    v
}

/// The escalation's role must exist (400 naming it, like a rule's role).
async fn check_escalation_role_exists(
    tx: &mut dyn Transaction,
    notices: &NoticeSettings,
) -> ServiceResult<()> {
    let Some(role) = &notices.escalate_to_role else {
        return Ok(());
    };
    if !tx
        .missing_roles(std::slice::from_ref(role))
        .await?
        .is_empty()
    {
        return Err(ServiceError::invalid(format!(
            "escalate_to_role: role `{role}` does not exist"
        )));
    }
    Ok(())
}

async fn check_roles_exist(tx: &mut dyn Transaction, rules: &[ApprovalRule]) -> ServiceResult<()> {
    let roles: Vec<_> = rules.iter().map(|r| r.role.clone()).collect();
    let missing = tx.missing_roles(&roles).await?;
    if let Some(role) = missing.first() {
        let i = rules.iter().position(|r| &r.role == role).unwrap_or(0);
        return Err(ServiceError::invalid(format!(
            "rules[{i}].role: role `{role}` does not exist"
        )));
    }
    Ok(())
}

fn map_write_error(e: StoreError, name: &str) -> ServiceError {
    match e {
        StoreError::Conflict { ref constraint } if constraint == constraints::POLICIES_NAME => {
            ServiceError::Conflict(format!("a policy named `{name}` already exists"))
        }
        StoreError::ForeignKey { ref constraint }
            if constraint == constraints::POLICIES_ESCALATE_TO_ROLE_FK =>
        {
            ServiceError::invalid("escalate_to_role: the role does not exist")
        }
        StoreError::ForeignKey { .. } => {
            ServiceError::invalid("rules: a rule names a role that does not exist")
        }
        other => other.into(),
    }
}
