//! [`ApprovalRepo`]: `approvals` (rules frozen as JSON) and `votes`.
//!
//! An approval is read in two queries: the approval row(s), then every vote of those
//! approvals in voting order (`seq`, the insertion order). `lock_approval` takes the dialect's
//! row lock first, so concurrent voters serialize before they read the votes. Deciding is a
//! compare-and-set on `state = 'pending'`; a trigger refuses any later change of a decided
//! approval.

use std::collections::HashMap;

use async_trait::async_trait;
use countersign_domain::{
    ApprovalId, ApprovalRequest, ApprovalState, JobId, PrincipalId, RoleId, Vote,
};
use countersign_store::{ApprovalFilter, ApprovalRepo, Page, PageRequest, StoreResult};
use time::OffsetDateTime;

use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::sql::{cursor, fill, Conn, Sql};
use crate::tx::SqlTransaction;

const APPROVAL_COLUMNS: &str = "id, job_id, subject_id, policy_id, requested_by, \
     state, rules, created_at, expires_at, decided_at, decided_by";

/// An approval without its votes.
fn approval<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<ApprovalRequest> {
    Ok(ApprovalRequest {
        id: r.parse("approvals.id")?,
        job_id: r.parse("approvals.job_id")?,
        subject_id: r.parse("approvals.subject_id")?,
        policy_id: r.parse("approvals.policy_id")?,
        requested_by: r.parse("approvals.requested_by")?,
        state: r.parse("approvals.state")?,
        rules: r.json("approvals.rules")?,
        votes: Vec::new(),
        created_at: r.time("approvals.created_at")?,
        expires_at: r.time("approvals.expires_at")?,
        decided_at: r.opt_time("approvals.decided_at")?,
        decided_by: r.opt_text("approvals.decided_by")?,
    })
}

/// A vote, keyed by its approval.
fn vote<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<(String, Vote)> {
    Ok((
        r.text("votes.approval_id")?,
        Vote {
            principal_id: r.parse("votes.principal_id")?,
            decision: r.parse("votes.decision")?,
            note: r.opt_text("votes.note")?,
            at: r.time("votes.at")?,
            roles: r.list("votes.roles")?,
        },
    ))
}

/// Attach their votes to approvals, in one query for all of them.
async fn with_votes<D: Dialect>(
    conn: &mut Conn<D>,
    mut approvals: Vec<ApprovalRequest>,
) -> StoreResult<Vec<ApprovalRequest>> {
    if approvals.is_empty() {
        return Ok(approvals);
    }
    let mut q =
        Sql::<D>::new("SELECT approval_id, principal_id, decision, note, roles, at FROM votes");
    let ids = q.param(D::encode_list(
        approvals.iter().map(|a| a.id.to_string()).collect(),
    ));
    q.push(&format!(
        " WHERE approval_id {} ORDER BY approval_id, seq",
        fill(D::IN_LIST, &[("list", &ids)])
    ));
    let mut votes: HashMap<String, Vec<Vote>> = HashMap::new();
    for (approval, v) in q.fetch_all(conn, vote).await? {
        votes.entry(approval).or_default().push(v);
    }
    for a in &mut approvals {
        a.votes = votes.remove(&a.id.to_string()).unwrap_or_default();
    }
    Ok(approvals)
}

async fn one<D: Dialect>(conn: &mut Conn<D>, q: Sql<D>) -> StoreResult<Option<ApprovalRequest>> {
    match q.fetch_optional(&mut *conn, approval).await? {
        None => Ok(None),
        Some(a) => Ok(with_votes::<D>(conn, vec![a]).await?.pop()),
    }
}

fn by_id<D: Dialect>(id: ApprovalId, lock: &str) -> Sql<D> {
    Sql::<D>::new(format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1{lock}"
    ))
    .arg(id.to_string())
}

#[async_trait]
impl<D: Dialect> ApprovalRepo for SqlTransaction<D> {
    async fn insert_approval(&mut self, a: &ApprovalRequest) -> StoreResult<()> {
        Sql::<D>::new(
            "INSERT INTO approvals (id, job_id, subject_id, policy_id, requested_by, state, \
             rules, created_at, expires_at, decided_at, decided_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .arg(a.id.to_string())
        .arg(a.job_id.to_string())
        .arg(a.subject_id.to_string())
        .arg(a.policy_id.to_string())
        .arg(a.requested_by.to_string())
        .arg(a.state.as_str().to_owned())
        .arg(D::encode_json(&a.rules)?)
        .arg(D::encode_time(a.created_at))
        .arg(D::encode_time(a.expires_at))
        .arg(a.decided_at.map(D::encode_time))
        .arg(a.decided_by.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn get_approval(&mut self, id: ApprovalId) -> StoreResult<Option<ApprovalRequest>> {
        one::<D>(self.conn(), by_id(id, "")).await
    }

    async fn lock_approval(&mut self, id: ApprovalId) -> StoreResult<Option<ApprovalRequest>> {
        one::<D>(self.conn(), by_id(id, D::FOR_UPDATE)).await
    }

    async fn approval_for_job(&mut self, job: JobId) -> StoreResult<Option<ApprovalRequest>> {
        let q = Sql::<D>::new(format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE job_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .arg(job.to_string());
        one::<D>(self.conn(), q).await
    }

    async fn list_approvals(
        &mut self,
        filter: &ApprovalFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ApprovalRequest>> {
        let mut q = Sql::<D>::new(format!("SELECT {APPROVAL_COLUMNS} FROM approvals"));
        // Read as of `as_of`, a pending request past its deadline is already expired.
        match (filter.state, filter.as_of) {
            (None, _) => {}
            (Some(ApprovalState::Pending), Some(now)) => {
                q.and()
                    .push("(state = 'pending' AND expires_at > ")
                    .bind(D::encode_time(now))
                    .push(")");
            }
            (Some(ApprovalState::Expired), Some(now)) => {
                q.and()
                    .push("(state = 'expired' OR (state = 'pending' AND expires_at <= ")
                    .bind(D::encode_time(now))
                    .push("))");
            }
            (Some(state), _) => {
                q.and().push("state = ").bind(state.as_str().to_owned());
            }
        }
        if let Some(subject) = filter.subject_id {
            q.and().push("subject_id = ").bind(subject.to_string());
        }
        if let Some(requester) = filter.requested_by {
            q.and().push("requested_by = ").bind(requester.to_string());
        }
        q.page("created_at", "id", page);
        let conn = self.conn();
        let rows = q.fetch_all(&mut *conn, approval).await?;
        // Page the rows first, so votes are loaded only for the approvals on this page.
        let page = Page::from_rows(rows, page.limit, |a| cursor(a.created_at, a.id));
        Ok(Page {
            items: with_votes::<D>(conn, page.items).await?,
            next: page.next,
        })
    }

    async fn insert_vote(&mut self, approval: ApprovalId, vote: &Vote) -> StoreResult<()> {
        Sql::<D>::new(
            "INSERT INTO votes (approval_id, principal_id, decision, note, roles, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .arg(approval.to_string())
        .arg(vote.principal_id.to_string())
        .arg(vote.decision.as_str().to_owned())
        .arg(vote.note.clone())
        .arg(D::encode_list(
            vote.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        ))
        .arg(D::encode_time(vote.at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn decide_approval(
        &mut self,
        id: ApprovalId,
        state: ApprovalState,
        decided_by: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = Sql::<D>::new(
            "UPDATE approvals SET state = $2, decided_by = $3, decided_at = $4 \
             WHERE id = $1 AND state = 'pending'",
        )
        .arg(id.to_string())
        .arg(state.as_str().to_owned())
        .arg(decided_by.to_owned())
        .arg(D::encode_time(at))
        .execute(self.conn())
        .await?;
        Ok(done == 1)
    }

    async fn list_awaiting_vote(
        &mut self,
        principal: PrincipalId,
        roles: &[RoleId],
        as_of: OffsetDateTime,
        page: &PageRequest,
    ) -> StoreResult<Page<ApprovalRequest>> {
        if roles.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        // Newest first along `approvals_by_state`; each row is kept or skipped by the vote's
        // primary key and the rules' few elements, so a page costs about `limit` index steps
        // when most pending requests are the caller's to decide.
        let mut q = Sql::<D>::new(format!("SELECT {APPROVAL_COLUMNS} FROM approvals"));
        q.and()
            .push("state = 'pending' AND expires_at > ")
            .bind(D::encode_time(as_of));
        q.and().push("requested_by <> ").bind(principal.to_string());
        q.and()
            .push(
                "NOT EXISTS (SELECT 1 FROM votes v WHERE v.approval_id = approvals.id \
                 AND v.principal_id = ",
            )
            .bind(principal.to_string())
            .push(")");
        let list = q.param(D::encode_list(
            roles.iter().map(|r| r.as_str().to_owned()).collect(),
        ));
        let rule_roles = fill(D::JSON_FIELDS, &[("field", "role"), ("column", "rules")]);
        q.and().push(&format!(
            "EXISTS (SELECT 1 FROM {rule_roles} WHERE j.value {})",
            fill(D::IN_LIST, &[("list", &list)])
        ));
        q.page("created_at", "id", page);
        let conn = self.conn();
        let rows = q.fetch_all(&mut *conn, approval).await?;
        let page = Page::from_rows(rows, page.limit, |a| cursor(a.created_at, a.id));
        Ok(Page {
            items: with_votes::<D>(conn, page.items).await?,
            next: page.next,
        })
    }

    async fn lock_due_approvals(
        &mut self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ApprovalRequest>> {
        let conn = self.conn();
        let rows = Sql::<D>::new(format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE state = 'pending' AND expires_at <= $1 \
             ORDER BY expires_at, id LIMIT $2{}",
            D::SKIP_LOCKED
        ))
        .arg(D::encode_time(now))
        .arg(i64::from(limit))
        .fetch_all(&mut *conn, approval)
        .await?;
        with_votes::<D>(conn, rows).await
    }
}
