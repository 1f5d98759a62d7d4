//! The reminder and escalation schedules of pending approval requests.
//!
//! A schedule is written with its request (in the same transaction) and read back by the
//! scheduler, which locks the due ones, sends what is due and moves each due time on with a
//! compare-and-set: a reminder is sent once per due time however many schedulers run.

use async_trait::async_trait;
use countersign_domain::{ApprovalId, ReminderSchedule};
use time::OffsetDateTime;

use crate::error::StoreResult;

#[async_trait]
pub trait ReminderRepo {
    /// Write the schedule of a request. A second one for one request is
    /// `Conflict { constraint: "approval_reminders_pkey" }`; an unknown request is a
    /// `ForeignKey`.
    async fn insert_reminder_schedule(&mut self, schedule: &ReminderSchedule) -> StoreResult<()>;

    async fn get_reminder_schedule(
        &mut self,
        approval: ApprovalId,
    ) -> StoreResult<Option<ReminderSchedule>>;

    /// Lock up to `limit` schedules with a reminder due or an escalation due and not yet sent
    /// at `now`, oldest request first, skipping rows another transaction holds (so scheduler
    /// replicas share the work). The request's state is not looked at: the caller decides.
    async fn lock_due_reminders(
        &mut self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ReminderSchedule>>;

    /// Compare-and-set: record a reminder sent for the due time `due`, moving the next one to
    /// `next` (`None`: no more) and counting it. `false` if the stored due time is no longer
    /// `due` (someone sent it already).
    async fn advance_reminder(
        &mut self,
        approval: ApprovalId,
        due: OffsetDateTime,
        next: Option<OffsetDateTime>,
    ) -> StoreResult<bool>;

    /// Compare-and-set: record the escalation sent at `at`; `false` if it was already.
    async fn mark_escalated(
        &mut self,
        approval: ApprovalId,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// End a schedule whose request is over: nothing more is due (an escalation already sent
    /// stays recorded). `false` if there was nothing left to end.
    async fn retire_reminders(&mut self, approval: ApprovalId) -> StoreResult<bool>;
}
