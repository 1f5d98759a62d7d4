//! [`ReminderRepo`]: `approval_reminders`, one row per request whose policy reminds or
//! escalates.
//!
//! The due query locks only schedule rows, with the dialect's `SKIP_LOCKED` (PostgreSQL:
//! `FOR UPDATE SKIP LOCKED`; SQLite: nothing, the write lock taken at `BEGIN` makes schedulers
//! take turns); each of its two arms has a partial index. Sending is recorded by a
//! compare-and-set on the due time it sent, so one due time is sent once.

use async_trait::async_trait;
use countersign_domain::{ApprovalId, ReminderSchedule};
use countersign_store::{ReminderRepo, StoreResult};
use time::OffsetDateTime;

use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::sql::Sql;
use crate::tx::SqlTransaction;

const SCHEDULE_COLUMNS: &str = "approval_id, remind_every_secs, next_reminder_at, \
     reminders_sent, escalate_to_role, escalate_at, escalated_at";

fn schedule<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<ReminderSchedule> {
    Ok(ReminderSchedule {
        approval_id: r.parse("approval_reminders.approval_id")?,
        remind_every_secs: r.get("approval_reminders.remind_every_secs")?,
        next_reminder_at: r.opt_time("approval_reminders.next_reminder_at")?,
        reminders_sent: r.get("approval_reminders.reminders_sent")?,
        escalate_to_role: r.parse_opt("approval_reminders.escalate_to_role")?,
        escalate_at: r.opt_time("approval_reminders.escalate_at")?,
        escalated_at: r.opt_time("approval_reminders.escalated_at")?,
    })
}

#[async_trait]
impl<D: Dialect> ReminderRepo for SqlTransaction<D> {
    async fn insert_reminder_schedule(&mut self, s: &ReminderSchedule) -> StoreResult<()> {
        Sql::<D>::new(format!(
            "INSERT INTO approval_reminders ({SCHEDULE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .arg(s.approval_id.to_string())
        .arg(s.remind_every_secs)
        .arg(s.next_reminder_at.map(D::encode_time))
        .arg(s.reminders_sent)
        .arg(s.escalate_to_role.as_ref().map(|r| r.as_str().to_owned()))
        .arg(s.escalate_at.map(D::encode_time))
        .arg(s.escalated_at.map(D::encode_time))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn get_reminder_schedule(
        &mut self,
        approval: ApprovalId,
    ) -> StoreResult<Option<ReminderSchedule>> {
        Sql::<D>::new(format!(
            "SELECT {SCHEDULE_COLUMNS} FROM approval_reminders WHERE approval_id = $1"
        ))
        .arg(approval.to_string())
        .fetch_optional(self.conn(), schedule)
        .await
    }

    async fn lock_due_reminders(
        &mut self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ReminderSchedule>> {
        Sql::<D>::new(format!(
            "SELECT {SCHEDULE_COLUMNS} FROM approval_reminders \
             WHERE (next_reminder_at IS NOT NULL AND next_reminder_at <= $1) \
             OR (escalate_at IS NOT NULL AND escalated_at IS NULL AND escalate_at <= $1) \
             ORDER BY approval_id LIMIT $2{}",
            D::SKIP_LOCKED
        ))
        .arg(D::encode_time(now))
        .arg(i64::from(limit))
        .fetch_all(self.conn(), schedule)
        .await
    }

    async fn advance_reminder(
        &mut self,
        approval: ApprovalId,
        due: OffsetDateTime,
        next: Option<OffsetDateTime>,
    ) -> StoreResult<bool> {
        let n = Sql::<D>::new(
            "UPDATE approval_reminders SET next_reminder_at = $3, \
             reminders_sent = reminders_sent + 1 \
             WHERE approval_id = $1 AND next_reminder_at = $2",
        )
        .arg(approval.to_string())
        .arg(D::encode_time(due))
        .arg(next.map(D::encode_time))
        .execute(self.conn())
        .await?;
        Ok(n == 1)
    }

    async fn mark_escalated(
        &mut self,
        approval: ApprovalId,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let n = Sql::<D>::new(
            "UPDATE approval_reminders SET escalated_at = $2 \
             WHERE approval_id = $1 AND escalate_at IS NOT NULL AND escalated_at IS NULL",
        )
        .arg(approval.to_string())
        .arg(D::encode_time(at))
        .execute(self.conn())
        .await?;
        Ok(n == 1)
    }

    async fn retire_reminders(&mut self, approval: ApprovalId) -> StoreResult<bool> {
        let n = Sql::<D>::new(
            "UPDATE approval_reminders SET next_reminder_at = NULL, \
             escalate_at = CASE WHEN escalated_at IS NULL THEN NULL ELSE escalate_at END \
             WHERE approval_id = $1 \
             AND (next_reminder_at IS NOT NULL OR (escalate_at IS NOT NULL AND escalated_at IS NULL))",
        )
        .arg(approval.to_string())
        .execute(self.conn())
        .await?;
        Ok(n == 1)
    }
}
