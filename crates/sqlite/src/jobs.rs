//! [`JobRepo`] on SQLite: `jobs`.
//!
//! Every status change is one compare-and-set `UPDATE … WHERE id = ? AND status = ?
//! RETURNING …`; the `jobs_guard_update` trigger additionally refuses any move outside the
//! transition table and any edit of the immutable columns (payload, action, …).
//!
//! Claims and the lease reaper: PostgreSQL uses `FOR UPDATE SKIP LOCKED` so concurrent
//! workers lock different rows. Here the transaction already holds SQLite's single write lock
//! (`BEGIN IMMEDIATE`), so `claim_job` picks the oldest pending job and moves it in one
//! `UPDATE … WHERE id = (SELECT … LIMIT 1)`, and `lock_expired_leases` is a plain read: no
//! other transaction can touch those rows until this one ends, and the next claimer or reaper
//! (which waited for the lock) sees the committed result. A job is never handed out twice.

use async_trait::async_trait;
use countersign_domain::{Job, JobId, JobStatus, PrincipalId};
use countersign_store::{JobFilter, JobRepo, Page, PageRequest, StoreError, StoreResult};
use sqlx::{QueryBuilder, Sqlite};
use time::OffsetDateTime;

use crate::error::map_sqlx;
use crate::rows::{JobRow, JOB_COLUMNS};
use crate::sql::{cursor, json_array, push_page, Conditions};
use crate::timestamp::{encode, encode_opt};
use crate::tx::SqliteTransaction;

fn into_jobs(rows: Vec<JobRow>) -> StoreResult<Vec<Job>> {
    rows.into_iter().map(JobRow::into_domain).collect()
}

#[async_trait]
impl JobRepo for SqliteTransaction {
    async fn insert_job(&mut self, job: &Job) -> StoreResult<()> {
        let payload = serde_json::to_string(&job.payload).map_err(StoreError::other)?;
        sqlx::query(
            "INSERT INTO jobs (id, subject_id, action, payload, payload_sha256, status, \
             requested_by, idempotency_key, attempts, claimed_by, lease_expires_at, \
             result_message, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(job.id.to_string())
        .bind(job.subject_id.to_string())
        .bind(&job.action)
        .bind(payload)
        .bind(&job.payload_sha256)
        .bind(job.status.as_str())
        .bind(job.requested_by.to_string())
        .bind(job.idempotency_key.as_deref())
        .bind(job.attempts)
        .bind(job.claimed_by.map(|p| p.to_string()))
        .bind(encode_opt(job.lease_expires_at))
        .bind(job.result_message.as_deref())
        .bind(encode(job.created_at))
        .bind(encode(job.updated_at))
        .execute(self.conn())
        .await
        .map_err(map_sqlx)?;
        Ok(())
    }

    async fn get_job(&mut self, id: JobId) -> StoreResult<Option<Job>> {
        sqlx::query_as::<_, JobRow>(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.conn())
            .await
            .map_err(map_sqlx)?
            .map(JobRow::into_domain)
            .transpose()
    }

    async fn get_jobs(&mut self, ids: &[JobId]) -> StoreResult<Vec<Job>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One bound parameter however many ids: a JSON array unpacked by json_each.
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let ids = json_array(ids.iter().map(String::as_str));
        let rows = sqlx::query_as::<_, JobRow>(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id IN (SELECT value FROM json_each($1))"
        ))
        .bind(ids)
        .fetch_all(self.conn())
        .await
        .map_err(map_sqlx)?;
        into_jobs(rows)
    }

    async fn lock_job(&mut self, id: JobId) -> StoreResult<Option<Job>> {
        // The write lock is already held (see the module docs).
        self.get_job(id).await
    }

    async fn find_job_by_idempotency_key(
        &mut self,
        requested_by: PrincipalId,
        key: &str,
    ) -> StoreResult<Option<Job>> {
        sqlx::query_as::<_, JobRow>(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE requested_by = $1 AND idempotency_key = $2"
        ))
        .bind(requested_by.to_string())
        .bind(key)
        .fetch_optional(self.conn())
        .await
        .map_err(map_sqlx)?
        .map(JobRow::into_domain)
        .transpose()
    }

    async fn list_jobs(
        &mut self,
        filter: &JobFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Job>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {JOB_COLUMNS} FROM jobs"));
        let mut conditions = Conditions::default();
        if let Some(subject) = filter.subject_id {
            conditions.next(&mut qb);
            qb.push("subject_id = ").push_bind(subject.to_string());
        }
        if let Some(status) = filter.status {
            conditions.next(&mut qb);
            qb.push("status = ").push_bind(status.as_str());
        }
        push_page(&mut qb, &mut conditions, "created_at", "id", page);
        let rows = qb
            .build_query_as::<JobRow>()
            .fetch_all(self.conn())
            .await
            .map_err(map_sqlx)?;
        Ok(Page::from_rows(into_jobs(rows)?, page.limit, |j| {
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
        sqlx::query_as::<_, JobRow>(&format!(
            "UPDATE jobs SET status = $3, updated_at = $4, \
             result_message = COALESCE($5, result_message), \
             lease_expires_at = CASE WHEN $3 = 'running' THEN lease_expires_at END, \
             claimed_by = CASE WHEN $3 = 'pending' THEN NULL ELSE claimed_by END \
             WHERE id = $1 AND status = $2 RETURNING {JOB_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(encode(at))
        .bind(message)
        .fetch_optional(self.conn())
        .await
        .map_err(map_sqlx)?
        .map(JobRow::into_domain)
        .transpose()
    }

    async fn claim_job(
        &mut self,
        actions: Option<&[String]>,
        worker: PrincipalId,
        lease_until: OffsetDateTime,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Job>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new("UPDATE jobs SET status = 'running', claimed_by = ");
        qb.push_bind(worker.to_string())
            .push(", lease_expires_at = ")
            .push_bind(encode(lease_until))
            .push(", attempts = attempts + 1, updated_at = ")
            .push_bind(encode(at))
            .push(
                " WHERE status = 'pending' AND id = (SELECT id FROM jobs WHERE status = 'pending'",
            );
        if let Some(actions) = actions {
            qb.push(" AND action IN (SELECT value FROM json_each(")
                .push_bind(json_array(actions.iter().map(String::as_str)))
                .push("))");
        }
        qb.push(" ORDER BY created_at, id LIMIT 1) RETURNING ")
            .push(JOB_COLUMNS);
        qb.build_query_as::<JobRow>()
            .fetch_optional(self.conn())
            .await
            .map_err(map_sqlx)?
            .map(JobRow::into_domain)
            .transpose()
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
        sqlx::query_as::<_, JobRow>(&format!(
            "UPDATE jobs SET status = $3, updated_at = $4, lease_expires_at = NULL, \
             result_message = COALESCE($5, result_message) \
             WHERE id = $1 AND status = 'running' AND claimed_by = $2 RETURNING {JOB_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(worker.to_string())
        .bind(outcome.as_str())
        .bind(encode(at))
        .bind(message)
        .fetch_optional(self.conn())
        .await
        .map_err(map_sqlx)?
        .map(JobRow::into_domain)
        .transpose()
    }

    async fn lock_expired_leases(
        &mut self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query_as::<_, JobRow>(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'running' AND lease_expires_at < $1 \
             ORDER BY lease_expires_at, id LIMIT $2"
        ))
        .bind(encode(now))
        .bind(i64::from(limit))
        .fetch_all(self.conn())
        .await
        .map_err(map_sqlx)?;
        into_jobs(rows)
    }
}
