//! Subjects: the things operations act on, each bound to a policy.

use std::collections::BTreeMap;

use countersign_domain::audit::actions;
use countersign_domain::subject::{validate_kind, validate_labels, validate_name};
use countersign_domain::{
    clock, AuditEvent, Category, Permission, PolicyId, Resource, Subject, SubjectId,
};
use countersign_store::error::constraints;
use countersign_store::{StoreError, SubjectFilter};
use serde_json::json;

use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::paging::{listing, ListParams, Listing};
use crate::service::Service;

/// The body of `POST /api/v1/subjects`.
#[derive(Debug, Clone)]
pub struct SubjectInput {
    pub kind: String,
    pub name: String,
    pub policy_id: PolicyId,
    pub labels: BTreeMap<String, String>,
}

impl Service {
    /// `POST /api/v1/subjects`.
    pub async fn create_subject(
        &self,
        caller: &Caller,
        input: SubjectInput,
    ) -> ServiceResult<Subject> {
        self.require(
            caller,
            Permission::SubjectWrite,
            Resource::new("subject", "*"),
        )
        .await?;
        validate_kind(&input.kind)?;
        validate_name(&input.name)?;
        validate_labels(&input.labels)?;
        let subject = Subject {
            id: SubjectId::new(),
            kind: input.kind,
            name: input.name,
            policy_id: input.policy_id,
            labels: input.labels,
            created_at: clock::now(),
        };
        let mut tx = self.begin().await?;
        if tx.get_policy(subject.policy_id).await?.is_none() {
            return Err(ServiceError::invalid(format!(
                "policy_id: policy `{}` does not exist",
                subject.policy_id
            )));
        }
        tx.insert_subject(&subject).await.map_err(|e| match e {
            StoreError::Conflict { ref constraint }
                if constraint == constraints::SUBJECTS_KIND_NAME =>
            {
                ServiceError::Conflict(format!(
                    "a subject of kind `{}` named `{}` already exists",
                    subject.kind, subject.name
                ))
            }
            StoreError::ForeignKey { .. } => {
                ServiceError::invalid("policy_id: the policy does not exist")
            }
            other => other.into(),
        })?;
        let event = AuditEvent::new(
            Category::Config,
            actions::SUBJECT_CREATED,
            caller.actor(),
            Resource::new("subject", subject.id),
        )
        .allowed_by(Permission::SubjectWrite.as_str())
        .request_id(caller.request_id())
        .details(
            json!({"kind": subject.kind, "name": subject.name, "policy_id": subject.policy_id}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok(subject)
    }

    /// `GET /api/v1/subjects/{id}`.
    pub async fn get_subject(&self, caller: &Caller, id: SubjectId) -> ServiceResult<Subject> {
        self.require(
            caller,
            Permission::SubjectRead,
            Resource::new("subject", id),
        )
        .await?;
        let mut tx = self.begin().await?;
        let subject = tx
            .get_subject(id)
            .await?
            .ok_or(ServiceError::NotFound("subject"))?;
        tx.commit().await?;
        Ok(subject)
    }

    /// `GET /api/v1/subjects[?kind=&policy_id=]`.
    pub async fn list_subjects(
        &self,
        caller: &Caller,
        filter: &SubjectFilter,
        params: &ListParams,
    ) -> ServiceResult<Listing<Subject>> {
        self.require(
            caller,
            Permission::SubjectRead,
            Resource::new("subject", "*"),
        )
        .await?;
        if let Some(kind) = &filter.kind {
            validate_kind(kind)?;
        }
        let page = params.to_page()?;
        let mut tx = self.begin().await?;
        let subjects = tx.list_subjects(filter, &page).await?;
        tx.commit().await?;
        Ok(listing(subjects))
    }
}
