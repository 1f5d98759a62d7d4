//! [`JobRepo`]: `jobs`.
//!
//! Every status change is one compare-and-set `UPDATE … WHERE id = $1 AND status = $from
//! RETURNING …`; the `jobs_guard_update` trigger additionally refuses any move outside the
//! transition table and any edit of the immutable columns (payload, action, …).
//!
//! Claims take the oldest pending job in a subquery with the dialect's `SKIP_LOCKED` (`FOR
//! UPDATE SKIP LOCKED` on PostgreSQL, so concurrent workers each lock a different row; nothing
//! on SQLite, whose transaction already holds the single write lock). The lease reaper locks
//! expired leases the same way, so scheduler replicas split the work.

use async_trait::async_trait;
use countersign_domain::{Job, JobId, JobStatus, PrincipalId};
use countersign_store::{JobFilter, JobRepo, Page, PageRequest, StoreError, StoreResult};
use time::OffsetDateTime;

use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::sql::{cursor, fill, Sql};
use crate::tx::SqlTransaction;

const JOB_COLUMNS: &str = "id, subject_id, action, payload, payload_sha256, status, \
     requested_by, idempotency_key, attempts, claimed_by, lease_expires_at, result_message, \
     created_at, updated_at";

fn job<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<Job> {
    Ok(Job {
        id: r.parse("jobs.id")?,
        subject_id: r.parse("jobs.subject_id")?,
        action: r.text("jobs.action")?,
        payload: r.json("jobs.payload")?,
        payload_sha256: r.text("jobs.payload_sha256")?,
        status: r.parse("jobs.status")?,
        requested_by: r.parse("jobs.requested_by")?,
        attempts: r.get("jobs.attempts")?,
        claimed_by: r.parse_opt("jobs.claimed_by")?,
        lease_expires_at: r.opt_time("jobs.lease_expires_at")?,
        result_message: r.opt_text("jobs.result_message")?,
        created_at: r.time("jobs.created_at")?,
        updated_at: r.time("jobs.updated_at")?,
        idempotency_key: r.opt_text("jobs.idempotency_key")?,
    })
}

#[async_trait]
impl<D: Dialect> JobRepo for SqlTransaction<D> {
    async fn insert_job(&mut self, job: &Job) -> StoreResult<()> {
        Sql::<D>::new(
            "INSERT INTO jobs (id, subject_id, action, payload, payload_sha256, status, \
             requested_by, idempotency_key, attempts, claimed_by, lease_expires_at, \
             result_message, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .arg(job.id.to_string())
        .arg(job.subject_id.to_string())
        .arg(job.action.clone())
        .arg(D::encode_json(&job.payload)?)
        .arg(job.payload_sha256.clone())
        .arg(job.status.as_str().to_owned())
        .arg(job.requested_by.to_string())
        .arg(job.idempotency_key.clone())
        .arg(job.attempts)
        .arg(job.claimed_by.map(|p| p.to_string()))
        .arg(job.lease_expires_at.map(D::encode_time))
        .arg(job.result_message.clone())
        .arg(D::encode_time(job.created_at))
        .arg(D::encode_time(job.updated_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn get_job(&mut self, id: JobId) -> StoreResult<Option<Job>> {
        Sql::<D>::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .arg(id.to_string())
            .fetch_optional(self.conn(), job)
            .await
    }

    async fn get_jobs(&mut self, ids: &[JobId]) -> StoreResult<Vec<Job>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One bound parameter however many ids.
        let mut q = Sql::<D>::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id "));
        let list = q.param(D::encode_list(
            ids.iter().map(ToString::to_string).collect(),
        ));
        q.push(&fill(D::IN_LIST, &[("list", &list)]));
        q.fetch_all(self.conn(), job).await
    }

    async fn lock_job(&mut self, id: JobId) -> StoreResult<Option<Job>> {
        Sql::<D>::new(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1{}",
            D::FOR_UPDATE
        ))
        .arg(id.to_string())
        .fetch_optional(self.conn(), job)
        .await
    }

    async fn find_job_by_idempotency_key(
        &mut self,
        requested_by: PrincipalId,
        key: &str,
    ) -> StoreResult<Option<Job>> {
        Sql::<D>::new(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE requested_by = $1 AND idempotency_key = $2"
        ))
        .arg(requested_by.to_string())
        .arg(key.to_owned())
        .fetch_optional(self.conn(), job)
        .await
    }

    async fn list_jobs(
        &mut self,
        filter: &JobFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Job>> {
        let mut q = Sql::<D>::new(format!("SELECT {JOB_COLUMNS} FROM jobs"));
        if let Some(subject) = filter.subject_id {
            q.and().push("subject_id = ").bind(subject.to_string());
        }
        if let Some(status) = filter.status {
            q.and().push("status = ").bind(status.as_str().to_owned());
        }
        q.page("created_at", "id", page);
        let rows = q.fetch_all(self.conn(), job).await?;
        Ok(Page::from_rows(rows, page.limit, |j| {
            cursor(j.created_at, j.id)
        }))
    }

    async fn transition_job(
        &mut self,
        id: JobId,
        from: JobStatus,
        to: JobStatus,
        message: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Job>> {
        Sql::<D>::new(format!(
            "UPDATE jobs SET status = $3, updated_at = $4, \
             result_message = COALESCE($5, result_message), \
             lease_expires_at = CASE WHEN $3 = 'running' THEN lease_expires_at END, \
             claimed_by = CASE WHEN $3 = 'pending' THEN NULL ELSE claimed_by END \
             WHERE id = $1 AND status = $2 RETURNING {JOB_COLUMNS}"
        ))
        .arg(id.to_string())
        .arg(from.as_str().to_owned())
        .arg(to.as_str().to_owned())
        .arg(D::encode_time(at))
        .arg(message.map(str::to_owned))
        .fetch_optional(self.conn(), job)
        .await
    }

    async fn claim_job(
        &mut self,
        actions: Option<&[String]>,
        worker: PrincipalId,
        lease_until: OffsetDateTime,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Job>> {
        let mut q = Sql::<D>::new("UPDATE jobs SET status = 'running', claimed_by = ");
        q.bind(worker.to_string()).push(", lease_expires_at = ");
        q.bind(D::encode_time(lease_until))
            .push(", attempts = attempts + 1, updated_at = ");
        q.bind(D::encode_time(at)).push(
            " WHERE status = 'pending' AND id = (SELECT id FROM jobs WHERE status = 'pending'",
        );
        if let Some(actions) = actions {
            let list = q.param(D::encode_list(actions.to_vec()));
            q.push(&format!(
                " AND action {}",
                fill(D::IN_LIST, &[("list", &list)])
            ));
        }
        q.push(&format!(
            " ORDER BY created_at, id LIMIT 1{}) RETURNING {JOB_COLUMNS}",
            D::SKIP_LOCKED
        ));
        q.fetch_optional(self.conn(), job).await
    }

    async fn complete_job(
        &mut self,
        id: JobId,
        worker: PrincipalId,
        outcome: JobStatus,
        message: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Job>> {
        if !matches!(outcome, JobStatus::Succeeded | JobStatus::Failed) {
            return Err(StoreError::Check {
                constraint: "jobs_transition".into(),
                message: format!("`{outcome}` is not a completion outcome"),
            });
        }
        Sql::<D>::new(format!(
            "UPDATE jobs SET status = $3, updated_at = $4, lease_expires_at = NULL, \
             result_message = COALESCE($5, result_message) \
             WHERE id = $1 AND status = 'running' AND claimed_by = $2 RETURNING {JOB_COLUMNS}"
        ))
        .arg(id.to_string())
        .arg(worker.to_string())
        .arg(outcome.as_str().to_owned())
        .arg(D::encode_time(at))
        .arg(message.map(str::to_owned))
        .fetch_optional(self.conn(), job)
        .await
    }

    async fn lock_expired_leases(
        &mut self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<Job>> {
        Sql::<D>::new(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'running' AND lease_expires_at < $1 \
             ORDER BY lease_expires_at, id LIMIT $2{}",
            D::SKIP_LOCKED
        ))
        .arg(D::encode_time(now))
        .arg(i64::from(limit))
        .fetch_all(self.conn(), job)
        .await
    }
}
