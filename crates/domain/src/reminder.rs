//! Reminders and escalation of pending approval requests: what is due, and when next.
//!
//! A request made under a policy with `remind_after_secs` or `escalate_after_secs` gets a
//! [`ReminderSchedule`] when it is made: the policy's settings are frozen then, like its
//! rules, so a later policy change does not move the reminders of requests already waiting.
//! The scheduler sends an `approval.reminder` each time `next_reminder_at` comes while the
//! request is pending, then moves it on by `remind_every_secs` ([`next_reminder`]); and one
//! `approval.escalated` when `escalate_at` comes, setting `escalated_at`. Nothing is due at
//! or after the request's own expiry.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::id::ApprovalId;
use crate::policy::NoticeSettings;
use crate::role::RoleId;

/// When a pending request's next reminder and its escalation are due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderSchedule {
    pub approval_id: ApprovalId,
    /// The reminder interval; `None`: no reminders.
    pub remind_every_secs: Option<i64>,
    /// When the next reminder is due; `None`: no more.
    pub next_reminder_at: Option<OffsetDateTime>,
    /// Reminders sent so far.
    pub reminders_sent: i32,
    /// The role whose holders an escalation names; `None`: no escalation.
    pub escalate_to_role: Option<RoleId>,
    /// When the escalation is due; `None`: never (or no longer).
    pub escalate_at: Option<OffsetDateTime>,
    /// When the escalation was sent.
    pub escalated_at: Option<OffsetDateTime>,
}

impl ReminderSchedule {
    /// The schedule of a request made at `created_at` and expiring at `expires_at` under a
    /// policy's `settings`; `None` when nothing could ever be due before it expires.
    pub fn for_request(
        approval_id: ApprovalId,
        created_at: OffsetDateTime,
        expires_at: OffsetDateTime,
        settings: &NoticeSettings,
    ) -> Option<Self> {
        let before_expiry = |secs: i64| {
            let at = created_at + Duration::seconds(secs);
            (at < expires_at).then_some(at)
        };
        let next_reminder_at = settings.remind_after_secs.and_then(before_expiry);
        let escalate_at = settings.escalate_after_secs.and_then(before_expiry);
        if next_reminder_at.is_none() && escalate_at.is_none() {
            return None;
        }
        Some(Self {
            approval_id,
            remind_every_secs: next_reminder_at.and(settings.remind_after_secs),
            next_reminder_at,
            reminders_sent: 0,
            escalate_to_role: escalate_at.and(settings.escalate_to_role.clone()),
            escalate_at,
            escalated_at: None,
        })
    }

    /// Whether a reminder is due at `now`.
    pub fn reminder_due(&self, now: OffsetDateTime) -> bool {
        self.next_reminder_at.is_some_and(|at| at <= now)
    }

    /// Whether the escalation is due at `now` (and not yet sent).
    pub fn escalation_due(&self, now: OffsetDateTime) -> bool {
        self.escalated_at.is_none() && self.escalate_at.is_some_and(|at| at <= now)
    }
}

/// The reminder due after the one due at `due`, sent at `now`: `every_secs` later, or — when
/// the scheduler was away so long that this too has passed — `every_secs` after `now`, so
/// missed reminders collapse into the one just sent instead of arriving in a burst.
pub fn next_reminder(due: OffsetDateTime, every_secs: i64, now: OffsetDateTime) -> OffsetDateTime {
    let every = Duration::seconds(every_secs.max(1));
    let next = due + every;
    if next > now {
        next
    } else {
        now + every
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn settings(remind: Option<i64>, escalate: Option<i64>) -> NoticeSettings {
        NoticeSettings {
            remind_after_secs: remind,
            escalate_after_secs: escalate,
            escalate_to_role: escalate.map(|_| RoleId::parse("oncall").unwrap()),
        }
    }

    const T0: OffsetDateTime = datetime!(2026-05-20 10:00:00 UTC);

    #[test]
    fn a_schedule_is_frozen_from_the_policy() {
        let id = ApprovalId::new();
        let s = ReminderSchedule::for_request(
            id,
            T0,
            T0 + Duration::hours(24),
            &settings(Some(3600), Some(7200)),
        )
        .unwrap();
        assert_eq!(s.next_reminder_at, Some(T0 + Duration::hours(1)));
        assert_eq!(s.remind_every_secs, Some(3600));
        assert_eq!(s.escalate_at, Some(T0 + Duration::hours(2)));
        assert_eq!(s.escalate_to_role.as_ref().unwrap().as_str(), "oncall");
        assert!(!s.reminder_due(T0 + Duration::minutes(59)));
        assert!(s.reminder_due(T0 + Duration::hours(1)));
        assert!(!s.escalation_due(T0 + Duration::hours(1)));
        assert!(s.escalation_due(T0 + Duration::hours(2)));
        let mut sent = s.clone();
        sent.escalated_at = Some(T0 + Duration::hours(2));
        assert!(!sent.escalation_due(T0 + Duration::hours(3)), "only once");
    }

    #[test]
    fn nothing_is_scheduled_at_or_after_expiry() {
        let id = ApprovalId::new();
        let expires = T0 + Duration::hours(1);
        assert_eq!(
            ReminderSchedule::for_request(id, T0, expires, &settings(None, None)),
            None
        );
        assert_eq!(
            ReminderSchedule::for_request(id, T0, expires, &settings(Some(3600), Some(7200))),
            None
        );
        let only_reminders =
            ReminderSchedule::for_request(id, T0, expires, &settings(Some(600), Some(3600)))
                .unwrap();
        assert_eq!(only_reminders.escalate_at, None);
        assert_eq!(only_reminders.escalate_to_role, None);
        assert_eq!(only_reminders.remind_every_secs, Some(600));
    }

    #[test]
    fn reminders_repeat_and_collapse_when_missed() {
        let due = T0;
        assert_eq!(
            next_reminder(due, 600, due + Duration::seconds(5)),
            due + Duration::seconds(600)
        );
        // Three intervals missed: the next one is a whole interval after this send.
        let late = due + Duration::seconds(1900);
        assert_eq!(next_reminder(due, 600, late), late + Duration::seconds(600));
        // Exactly on the next due time: it is already due, so it moves past now.
        let on = due + Duration::seconds(600);
        assert_eq!(next_reminder(due, 600, on), on + Duration::seconds(600));
    }
}
