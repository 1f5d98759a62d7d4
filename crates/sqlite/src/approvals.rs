//! [`ApprovalRepo`] on SQLite: `approvals` (rules frozen as JSON) and `votes`.
//!
//! An approval is read in two queries: the approval row(s), then every vote of those
//! approvals in voting order (`seq`, the insertion order). `lock_approval` and
//! `lock_due_approvals` are plain reads: the transaction already holds SQLite's write lock
//! (`BEGIN IMMEDIATE`), so concurrent voters and reapers serialize at `begin` and each sees
//! the previous one's committed votes and decisions; no approval is handed to two reapers.
//! Deciding is a compare-and-set on `state = 'pending'`; the `approvals_guard_update`
//! trigger refuses any later change of a decided approval.

use std::collections::HashMap;

use async_trait::async_trait;
use countersign_domain::{ApprovalId, ApprovalRequest, ApprovalState, JobId, Vote};
use countersign_store::{ApprovalFilter, ApprovalRepo, Page, PageRequest, StoreError, StoreResult};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use time::OffsetDateTime;

use crate::error::map_sqlx;
use crate::rows::{ApprovalRow, VoteRow, APPROVAL_COLUMNS, VOTE_COLUMNS};
use crate::sql::{cursor, json_array, push_page, Conditions};
use crate::timestamp::{decode, encode, encode_opt};
use crate::tx::SqliteTransaction;

/// Attach their votes to approval rows, in one query for all of them.
async fn with_votes(
    conn: &mut SqliteConnection,
    rows: Vec<ApprovalRow>,
) -> StoreResult<Vec<ApprovalRequest>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let vote_rows = sqlx::query_as::<_, VoteRow>(&format!(
        "SELECT {VOTE_COLUMNS} FROM votes WHERE approval_id IN (SELECT value FROM json_each($1)) \
         ORDER BY approval_id, seq"
    ))
    .bind(json_array(rows.iter().map(|r| r.id.as_str())))
    .fetch_all(conn)
    .await
    .map_err(map_sqlx)?;
    let mut votes: HashMap<String, Vec<Vote>> = HashMap::new();
    for v in vote_rows {
        let approval = v.approval_id.clone();
        votes.entry(approval).or_default().push(v.into_domain()?);
    }
    rows.into_iter()
        .map(|r| {
            let v = votes.remove(&r.id).unwrap_or_default();
            r.into_domain(v)
        })
        .collect()
}

async fn one(
    conn: &mut SqliteConnection,
    row: Option<ApprovalRow>,
) -> StoreResult<Option<ApprovalRequest>> {
    match row {
        None => Ok(None),
        Some(row) => Ok(with_votes(conn, vec![row]).await?.pop()),
    }
}

async fn fetch_approval(
    conn: &mut SqliteConnection,
    id: ApprovalId,
) -> StoreResult<Option<ApprovalRequest>> {
    let row = sqlx::query_as::<_, ApprovalRow>(&format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    one(conn, row).await
}

#[async_trait]
impl ApprovalRepo for SqliteTransaction {
    async fn insert_approval(&mut self, approval: &ApprovalRequest) -> StoreResult<()> {
        let rules = serde_json::to_string(&approval.rules).map_err(StoreError::other)?;
        sqlx::query(
            "INSERT INTO approvals (id, job_id, subject_id, policy_id, requested_by, state, \
             rules, created_at, expires_at, decided_at, decided_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(approval.id.to_string())
        .bind(approval.job_id.to_string())
        .bind(approval.subject_id.to_string())
        .bind(approval.policy_id.to_string())
        .bind(approval.requested_by.to_string())
        .bind(approval.state.as_str())
        .bind(rules)
        .bind(encode(approval.created_at))
        .bind(encode(approval.expires_at))
        .bind(encode_opt(approval.decided_at))
        .bind(approval.decided_by.as_deref())
        .execute(self.conn())
        .await
        .map_err(map_sqlx)?;
        Ok(())
    }

    async fn get_approval(&mut self, id: ApprovalId) -> StoreResult<Option<ApprovalRequest>> {
        fetch_approval(self.conn(), id).await
    }

    async fn lock_approval(&mut self, id: ApprovalId) -> StoreResult<Option<ApprovalRequest>> {
        // The write lock is already held (see the module docs).
        fetch_approval(self.conn(), id).await
    }

    async fn approval_for_job(&mut self, job: JobId) -> StoreResult<Option<ApprovalRequest>> {
        let conn = self.conn();
        let row = sqlx::query_as::<_, ApprovalRow>(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE job_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(job.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx)?;
        one(conn, row).await
    }

    async fn list_approvals(
        &mut self,
        filter: &ApprovalFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ApprovalRequest>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {APPROVAL_COLUMNS} FROM approvals"));
        let mut conditions = Conditions::default();
        if let Some(state) = filter.state {
            conditions.next(&mut qb);
            match (state, filter.as_of) {
                (ApprovalState::Pending, Some(now)) => {
                    qb.push("(state = 'pending' AND expires_at > ")
                        .push_bind(encode(now))
                        .push(")");
                }
                (ApprovalState::Expired, Some(now)) => {
                    qb.push("(state = 'expired' OR (state = 'pending' AND expires_at <= ")
                        .push_bind(encode(now))
                        .push("))");
                }
                _ => {
                    qb.push("state = ").push_bind(state.as_str());
                }
            }
        }
        if let Some(subject) = filter.subject_id {
            conditions.next(&mut qb);
            qb.push("subject_id = ").push_bind(subject.to_string());
        }
        if let Some(requester) = filter.requested_by {
            conditions.next(&mut qb);
            qb.push("requested_by = ").push_bind(requester.to_string());
        }
        push_page(&mut qb, &mut conditions, "created_at", "id", page);
        let conn = self.conn();
        let rows = qb
            .build_query_as::<ApprovalRow>()
            .fetch_all(&mut *conn)
            .await
            .map_err(map_sqlx)?;
        // Page the rows first, so votes are loaded only for the approvals on this page.
        let keyed = rows
            .into_iter()
            .map(|r| Ok((decode("approvals.created_at", &r.created_at)?, r)))
            .collect::<StoreResult<Vec<_>>>()?;
        let page = Page::from_rows(keyed, page.limit, |(ts, r)| cursor(*ts, &r.id));
        let rows = page.items.into_iter().map(|(_, r)| r).collect();
        Ok(Page {
            items: with_votes(conn, rows).await?,
            next: page.next,
        })
    }

    async fn insert_vote(&mut self, approval: ApprovalId, vote: &Vote) -> StoreResult<()> {
        let roles = json_array(vote.roles.iter().map(|r| r.as_str()));
        sqlx::query(
            "INSERT INTO votes (approval_id, principal_id, decision, note, roles, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(approval.to_string())
        .bind(vote.principal_id.to_string())
        .bind(vote.decision.as_str())
        .bind(vote.note.as_deref())
        .bind(roles)
        .bind(encode(vote.at))
        .execute(self.conn())
        .await
        .map_err(map_sqlx)?;
        Ok(())
    }

    async fn decide_approval(
        &mut self,
        id: ApprovalId,
        state: ApprovalState,
        decided_by: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE approvals SET state = $2, decided_by = $3, decided_at = $4 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id.to_string())
        .bind(state.as_str())
        .bind(decided_by)
        .bind(encode(at))
        .execute(self.conn())
        .await
        .map_err(map_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn lock_due_approvals(
        &mut self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ApprovalRequest>> {
        let conn = self.conn();
        let rows = sqlx::query_as::<_, ApprovalRow>(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE state = 'pending' AND expires_at <= $1 \
             ORDER BY expires_at, id LIMIT $2"
        ))
        .bind(encode(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_sqlx)?;
        with_votes(conn, rows).await
    }
}
