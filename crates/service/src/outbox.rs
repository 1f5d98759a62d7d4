//! The notification outbox: every audit event that announces a notification (the spec's list,
//! [`WebhookEvent::for_audit_action`]) writes an outbox message through the transaction that
//! makes the change, inside [`Service::commit_with`]. No use case writes messages by hand, so
//! a new use case that audits `approval.*` notifies too, and a message exists exactly when
//! its change committed.
//!
//! The body is built here, once, as the contract's standard body
//! `{"type", "timestamp", "data"}`: `data` is the approval as `GET /api/v1/approvals/{id}`
//! shows it (as of this transaction) plus `subject`, `requester`, `waiting_on` and
//! `console_url`; `job.completed` adds the `job` (and has no approval fields when the job
//! needed none).

use std::collections::HashMap;

use countersign_api::ApprovalView;
use countersign_domain::{
    clock, ApprovalId, ApprovalRequest, AuditEvent, Job, JobId, MessageId, WebhookEvent,
};
use countersign_store::{NewMessage, Transaction};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::eligibility::waiting_on;
use crate::error::{ServiceError, ServiceResult};
use crate::service::Service;

/// `t` in RFC 3339, as every timestamp in a message's data.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The standard body of a message: `{"type", "timestamp", "data"}`.
pub(crate) fn standard_body(
    event: &str,
    at: OffsetDateTime,
    data: &Value,
) -> ServiceResult<String> {
    serde_json::to_string(&json!({"type": event, "timestamp": rfc3339(at), "data": data}))
        .map_err(|e| ServiceError::Internal(Box::new(e)))
}

/// The outbox message announcing `event` as `kind`, with `data` as its body's `data`.
fn new_message(
    kind: WebhookEvent,
    event: &AuditEvent,
    ordering_key: String,
    data: &Value,
) -> ServiceResult<NewMessage> {
    // An escalation names the escalation role's holders as `waiting_on`.
    let escalated = crate::reminders::escalated_data(event, data);
    let data = escalated.as_ref().unwrap_or(data);
    Ok(NewMessage {
        id: MessageId::new(),
        event: kind.as_str().to_owned(),
        ordering_key,
        webhook_id: None,
        body: standard_body(kind.as_str(), event.ts, data)?,
        created_at: clock::now(),
    })
}

impl Service {
    /// Write one outbox message through `tx` for each event in `events` that announces a
    /// notification. Called by `commit_with` before the audit events are appended.
    pub(crate) async fn write_outbox(
        &self,
        tx: &mut dyn Transaction,
        events: &[AuditEvent],
    ) -> ServiceResult<()> {
        // One change often announces several events about one resource (a deciding vote is
        // `approval.voted` and `approval.approved`): their data is the same as of this
        // transaction, so it is read and built once per resource.
        let mut built: HashMap<(&str, &str), (String, Value)> = HashMap::new();
        for event in events {
            let Some(kind) = WebhookEvent::for_audit_action(&event.action) else {
                continue;
            };
            let resource = (event.resource.kind.as_str(), event.resource.id.as_str());
            if let Some((ordering_key, data)) = built.get(&resource) {
                let message = new_message(kind, event, ordering_key.clone(), data)?;
                tx.insert_message(&message).await?;
                continue;
            }
            let (ordering_key, data) = match event.resource.kind.as_str() {
                "approval" => {
                    let Ok(id) = event.resource.id.parse::<ApprovalId>() else {
                        continue;
                    };
                    let Some(approval) = tx.get_approval(id).await? else {
                        continue;
                    };
                    let job = self.job_of(tx, approval.job_id).await?;
                    (
                        id.to_string(),
                        self.approval_data(tx, approval, &job, None).await?,
                    )
                }
                "job" => {
                    let Ok(id) = event.resource.id.parse::<JobId>() else {
                        continue;
                    };
                    let job = self.job_of(tx, id).await?;
                    match tx.approval_for_job(id).await? {
                        Some(approval) => (
                            approval.id.to_string(),
                            self.approval_data(tx, approval, &job, Some(&job)).await?,
                        ),
                        None => (id.to_string(), self.job_data(tx, &job).await?),
                    }
                }
                // `log.tamper_detected`: the self-check's findings, as audited.
                "log_leaf" => (
                    "log".to_owned(),
                    Value::Object(event.details.clone().unwrap_or_default()),
                ),
                _ => continue,
            };
            let message = new_message(kind, event, ordering_key.clone(), &data)?;
            tx.insert_message(&message).await?;
            built.insert(resource, (ordering_key, data));
        }
        Ok(())
    }

    async fn job_of(&self, tx: &mut dyn Transaction, id: JobId) -> ServiceResult<Job> {
        tx.get_job(id)
            .await?
            .ok_or_else(|| ServiceError::Internal("a notification's job is missing".into()))
    }

    /// The approval view plus `subject`, `requester`, `waiting_on`, `console_url` (and `job`).
    async fn approval_data(
        &self,
        tx: &mut dyn Transaction,
        approval: ApprovalRequest,
        job: &Job,
        with_job: Option<&Job>,
    ) -> ServiceResult<Value> {
        let now = clock::now();
        let waiting = waiting_on(tx, &approval.clone().as_of(now)).await?;
        let console_url = self.config.public_url.as_deref().map(|base| {
            format!(
                "{}/ui/approvals/{}",
                base.trim_end_matches('/'),
                approval.id
            )
        });
        let requested_by = approval.requested_by;
        let view = ApprovalView::new(approval, job, now);
        let mut data = match serde_json::to_value(&view) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(ServiceError::Internal(
                    "an approval view is not an object".into(),
                ))
            }
        };
        self.add_people(tx, &mut data, job, requested_by).await?;
        data.insert("waiting_on".into(), json!(waiting));
        data.insert("console_url".into(), json!(console_url));
        if let Some(job) = with_job {
            data.insert("job".into(), json!(job));
        }
        Ok(Value::Object(data))
    }

    /// `job.completed` for a job that needed no approval: the job, its subject and requester.
    async fn job_data(&self, tx: &mut dyn Transaction, job: &Job) -> ServiceResult<Value> {
        let mut data = Map::new();
        data.insert("job".into(), json!(job));
        self.add_people(tx, &mut data, job, job.requested_by)
            .await?;
        data.insert("waiting_on".into(), json!([]));
        data.insert("console_url".into(), Value::Null);
        Ok(Value::Object(data))
    }

    async fn add_people(
        &self,
        tx: &mut dyn Transaction,
        data: &mut Map<String, Value>,
        job: &Job,
        requester: countersign_domain::PrincipalId,
    ) -> ServiceResult<()> {
        let subject = tx.get_subject(job.subject_id).await?;
        data.insert(
            "subject".into(),
            subject.map_or(
                Value::Null,
                |s| json!({"id": s.id, "kind": s.kind, "name": s.name}),
            ),
        );
        let person = tx.get_principal(requester).await?;
        data.insert(
            "requester".into(),
            person.map_or(Value::Null, |p| json!({"id": p.id, "name": p.name})),
        );
        Ok(())
    }
}
