//! Fixtures for the conformance suite: domain values with unique names, written through the
//! store traits only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use countersign_domain::{
    canonical, clock, Actor, ApiKey, ApprovalId, ApprovalRequest, ApprovalRule, ApprovalState,
    AuditEvent, Category, Job, JobId, JobStatus, KeyId, Permission, Policy, PolicyId, Principal,
    PrincipalId, PrincipalKind, PrincipalName, Resource, Role, RoleId, Subject, SubjectId, Vote,
    VoteDecision,
};
use time::{Duration, OffsetDateTime};

use crate::{Store, StoreError, Transaction};

/// The store under test, shared with spawned tasks.
pub type TestStore = Arc<dyn Store>;

/// A unique lower-case suffix (the ULID of a fresh id).
pub fn unique() -> String {
    PrincipalId::new().ulid().to_string().to_ascii_lowercase()
}

/// Now, at store precision.
pub fn now() -> OffsetDateTime {
    clock::now()
}

/// A fixed, whole-second instant: `2026-05-20T00:00:00Z + secs`.
pub fn at(secs: i64) -> OffsetDateTime {
    time::macros::datetime!(2026-05-20 00:00:00 UTC) + Duration::seconds(secs)
}

pub fn role_id(s: &str) -> RoleId {
    RoleId::parse(s).expect("a valid role slug")
}

pub async fn begin(store: &TestStore) -> Box<dyn Transaction> {
    store.begin().await.expect("begin")
}

pub async fn commit(tx: Box<dyn Transaction>) {
    tx.commit().await.expect("commit");
}

/// Assert that `r` is a unique violation on `constraint`.
#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>, constraint: &str) {
    match r {
        Err(StoreError::Conflict { constraint: c }) if c == constraint => {}
        other => panic!("expected Conflict {{ constraint: {constraint:?} }}, got {other:?}"),
    }
}

/// Assert that `r` is a foreign-key violation, on `constraint` when given.
#[track_caller]
pub fn assert_foreign_key<T: std::fmt::Debug>(r: Result<T, StoreError>, constraint: Option<&str>) {
    match r {
        Err(StoreError::ForeignKey { constraint: c })
            if constraint.is_none_or(|want| want == c) => {}
        other => panic!("expected ForeignKey {{ constraint: {constraint:?} }}, got {other:?}"),
    }
}

pub fn principal_named(name: &str, created_at: OffsetDateTime) -> Principal {
    Principal {
        id: PrincipalId::new(),
        name: PrincipalName::parse(name).expect("a valid principal name"),
        kind: PrincipalKind::User,
        disabled: false,
        created_at,
    }
}

pub fn principal(created_at: OffsetDateTime) -> Principal {
    principal_named(&format!("p-{}", unique()), created_at)
}

pub async fn create_principal(store: &TestStore) -> Principal {
    let p = principal(now());
    let mut tx = begin(store).await;
    tx.insert_principal(&p).await.expect("insert principal");
    commit(tx).await;
    p
}

/// A principal holding `roles`.
pub async fn create_principal_with(store: &TestStore, roles: &[&str]) -> Principal {
    let p = create_principal(store).await;
    let mut tx = begin(store).await;
    for r in roles {
        assert!(tx
            .assign_role(p.id, &role_id(r), Some("conformance"), now())
            .await
            .expect("assign role"));
    }
    commit(tx).await;
    p
}

pub fn api_key(principal: PrincipalId, created_at: OffsetDateTime) -> ApiKey {
    ApiKey {
        id: KeyId::new(),
        principal_id: principal,
        created_at,
        expires_at: Some(created_at + Duration::days(30)),
        revoked_at: None,
    }
}

/// A 32-byte secret hash distinct per `seed`.
pub fn secret_hash(seed: u8) -> Vec<u8> {
    (0..32u8)
        .map(|i| i.wrapping_mul(7).wrapping_add(seed))
        .collect()
}

pub fn role(id: &str, permissions: &[Permission], created_at: OffsetDateTime) -> Role {
    Role {
        id: role_id(id),
        description: format!("role {id}"),
        permissions: permissions.iter().copied().collect::<BTreeSet<_>>(),
        builtin: false,
        generation: 1,
        created_at,
        updated_at: created_at,
    }
}

/// A unique custom role slug.
pub fn role_slug(prefix: &str) -> String {
    format!("{prefix}-{}", unique())
}

pub async fn create_role(store: &TestStore, permissions: &[Permission]) -> Role {
    let r = role(&role_slug("r"), permissions, now());
    let mut tx = begin(store).await;
    tx.insert_role(&r).await.expect("insert role");
    commit(tx).await;
    r
}

pub fn rule(role: &str, count: u32) -> ApprovalRule {
    ApprovalRule {
        role: role_id(role),
        count,
    }
}

pub fn policy(rules: Vec<ApprovalRule>, created_at: OffsetDateTime) -> Policy {
    Policy {
        id: PolicyId::new(),
        name: format!("policy {}", unique()),
        requires_approval: !rules.is_empty(),
        rules,
        approval_timeout_secs: 3600,
        remind_after_secs: None,
        escalate_after_secs: None,
        escalate_to_role: None,
        generation: 1,
        created_at,
        updated_at: created_at,
    }
}

pub async fn create_policy(store: &TestStore, rules: Vec<ApprovalRule>) -> Policy {
    let p = policy(rules, now());
    let mut tx = begin(store).await;
    tx.insert_policy(&p).await.expect("insert policy");
    commit(tx).await;
    p
}

pub fn subject(kind: &str, policy: PolicyId, created_at: OffsetDateTime) -> Subject {
    let mut labels = BTreeMap::new();
    labels.insert("env".to_owned(), "prod".to_owned());
    labels.insert("team".to_owned(), "platform".to_owned());
    Subject {
        id: SubjectId::new(),
        kind: kind.to_owned(),
        name: format!("{}.example.com", unique()),
        policy_id: policy,
        labels,
        created_at,
    }
}

pub async fn create_subject(store: &TestStore, policy: PolicyId) -> Subject {
    let s = subject("certificate", policy, now());
    let mut tx = begin(store).await;
    tx.insert_subject(&s).await.expect("insert subject");
    commit(tx).await;
    s
}

pub fn job(
    subject: SubjectId,
    requested_by: PrincipalId,
    status: JobStatus,
    created_at: OffsetDateTime,
) -> Job {
    let payload = serde_json::json!({"domain": "api.example.com", "days": 90, "nested": {"b": [1, 2.5, "x"], "a": null}});
    Job {
        id: JobId::new(),
        subject_id: subject,
        action: "certificate.renew".to_owned(),
        payload_sha256: canonical::payload_sha256(&payload),
        payload,
        status,
        requested_by,
        attempts: 0,
        claimed_by: None,
        lease_expires_at: None,
        result_message: None,
        created_at,
        updated_at: created_at,
        idempotency_key: None,
    }
}

/// Everything a job needs: a requester, a policy without approval and a subject.
#[derive(Debug, Clone)]
pub struct World {
    pub requester: Principal,
    pub policy: Policy,
    pub subject: Subject,
}

pub async fn world(store: &TestStore) -> World {
    let requester = create_principal_with(store, &["requester"]).await;
    let policy = create_policy(store, vec![rule("approver", 1)]).await;
    let subject = create_subject(store, policy.id).await;
    World {
        requester,
        policy,
        subject,
    }
}

impl World {
    pub fn job(&self, status: JobStatus, created_at: OffsetDateTime) -> Job {
        job(self.subject.id, self.requester.id, status, created_at)
    }

    /// Insert and commit a job in `status` (a running job gets a holder and a lease).
    pub async fn create_job(&self, store: &TestStore, status: JobStatus) -> Job {
        let mut j = self.job(status, now());
        if status == JobStatus::Running {
            j.claimed_by = Some(self.requester.id);
            j.lease_expires_at = Some(now() + Duration::minutes(5));
            j.attempts = 1;
        }
        let mut tx = begin(store).await;
        tx.insert_job(&j).await.expect("insert job");
        commit(tx).await;
        j
    }

    pub fn approval(&self, job: &Job, created_at: OffsetDateTime) -> ApprovalRequest {
        ApprovalRequest {
            id: ApprovalId::new(),
            job_id: job.id,
            subject_id: self.subject.id,
            policy_id: self.policy.id,
            requested_by: self.requester.id,
            state: ApprovalState::Pending,
            rules: vec![rule("approver", 2), rule("admin", 1)],
            votes: Vec::new(),
            created_at,
            expires_at: created_at + Duration::hours(1),
            decided_at: None,
            decided_by: None,
        }
    }

    /// Insert and commit an awaiting job and its pending approval.
    pub async fn create_approval(&self, store: &TestStore) -> (Job, ApprovalRequest) {
        self.create_approval_at(store, now()).await
    }

    pub async fn create_approval_at(
        &self,
        store: &TestStore,
        created_at: OffsetDateTime,
    ) -> (Job, ApprovalRequest) {
        let j = self.job(JobStatus::AwaitingApproval, created_at);
        let a = self.approval(&j, created_at);
        let mut tx = begin(store).await;
        tx.insert_job(&j).await.expect("insert job");
        tx.insert_approval(&a).await.expect("insert approval");
        commit(tx).await;
        (j, a)
    }
}

pub fn vote(principal: PrincipalId, decision: VoteDecision, roles: &[&str]) -> Vote {
    Vote {
        principal_id: principal,
        decision,
        note: Some(format!("note by {principal}")),
        at: now(),
        roles: roles.iter().map(|r| role_id(r)).collect(),
    }
}

/// An audit event at `ts` in `category`.
pub fn event(category: Category, action: &str, ts: OffsetDateTime) -> AuditEvent {
    AuditEvent::new(
        category,
        action,
        Actor {
            kind: countersign_domain::ActorKind::User,
            id: PrincipalId::new().to_string(),
            name: Some("alice".to_owned()),
            key_id: Some(KeyId::new().to_string()),
        },
        Resource::new("job", JobId::new()),
    )
    .at(ts)
}
