//! Reminder and escalation schedules of pending approval requests.

use countersign_domain::{ApprovalId, ReminderSchedule};
use time::Duration;

use super::fixtures::*;

/// A schedule reads back as written; one per request; only for a stored request.
pub async fn reminders_insert_get_and_one_per_request(store: TestStore) {
    let w = world(&store).await;
    let (_, approval) = w.create_approval(&store).await;
    let s = ReminderSchedule {
        approval_id: approval.id,
        remind_every_secs: Some(600),
        next_reminder_at: Some(approval.created_at + Duration::seconds(600)),
        reminders_sent: 0,
        escalate_to_role: Some(role_id("admin")),
        escalate_at: Some(approval.created_at + Duration::seconds(1800)),
        escalated_at: None,
    };
    let mut tx = begin(&store).await;
    tx.insert_reminder_schedule(&s).await.unwrap();
    assert_eq!(
        tx.get_reminder_schedule(approval.id).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        tx.get_reminder_schedule(ApprovalId::new()).await.unwrap(),
        None
    );
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert_conflict(
        tx.insert_reminder_schedule(&s).await,
        "approval_reminders_pkey",
    );
    drop(tx);
    let mut tx = begin(&store).await;
    let orphan = ReminderSchedule {
        approval_id: ApprovalId::new(),
        ..s
    };
    assert_foreign_key(tx.insert_reminder_schedule(&orphan).await, None);
}

/// The due query finds a due reminder or a due, unsent escalation (not one already sent, not
/// one not yet due); each is recorded once per due time by a compare-and-set; a retired
/// schedule is due no more.
pub async fn reminders_due_and_compare_and_set(store: TestStore) {
    let w = world(&store).await;
    let base = now();
    let mut schedules = Vec::new();
    for _ in 0..3 {
        let (_, a) = w
            .create_approval_at(&store, base - Duration::minutes(30))
            .await;
        schedules.push(ReminderSchedule {
            approval_id: a.id,
            remind_every_secs: Some(600),
            next_reminder_at: Some(base + Duration::minutes(5)),
            reminders_sent: 0,
            escalate_to_role: Some(role_id("admin")),
            escalate_at: Some(base + Duration::minutes(5)),
            escalated_at: None,
        });
    }
    // Reminder due; escalation due; both not due (later).
    schedules[0].next_reminder_at = Some(base - Duration::minutes(1));
    schedules[1].escalate_at = Some(base - Duration::minutes(1));
    let mut tx = begin(&store).await;
    for s in &schedules {
        tx.insert_reminder_schedule(s).await.unwrap();
    }
    commit(tx).await;

    let mut tx = begin(&store).await;
    let mut due: Vec<_> = tx
        .lock_due_reminders(base, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.approval_id)
        .collect();
    due.sort();
    let mut want = vec![schedules[0].approval_id, schedules[1].approval_id];
    want.sort();
    assert_eq!(due, want);
    assert_eq!(tx.lock_due_reminders(base, 1).await.unwrap().len(), 1);

    let first = &schedules[0];
    let was = first.next_reminder_at.unwrap();
    let next = base + Duration::minutes(9);
    assert!(!tx
        .advance_reminder(first.approval_id, was + Duration::seconds(1), Some(next))
        .await
        .unwrap());
    assert!(tx
        .advance_reminder(first.approval_id, was, Some(next))
        .await
        .unwrap());
    assert!(
        !tx.advance_reminder(first.approval_id, was, Some(next))
            .await
            .unwrap(),
        "one due time is sent once"
    );
    let got = tx
        .get_reminder_schedule(first.approval_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.next_reminder_at, Some(next));
    assert_eq!(got.reminders_sent, 1);

    let second = schedules[1].approval_id;
    assert!(tx.mark_escalated(second, base).await.unwrap());
    assert!(!tx.mark_escalated(second, base).await.unwrap(), "once");
    assert_eq!(
        tx.get_reminder_schedule(second)
            .await
            .unwrap()
            .unwrap()
            .escalated_at,
        Some(base)
    );
    assert!(tx.lock_due_reminders(base, 10).await.unwrap().is_empty());
    // Later the third comes due (with the others' next due times); retired, it is due no
    // more.
    let later = base + Duration::minutes(6);
    let third = schedules[2].approval_id;
    let due: Vec<_> = tx
        .lock_due_reminders(later, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.approval_id)
        .collect();
    assert!(due.contains(&third), "{due:?}");
    assert!(tx.retire_reminders(third).await.unwrap());
    assert!(!tx.retire_reminders(third).await.unwrap());
    let retired = tx.get_reminder_schedule(third).await.unwrap().unwrap();
    assert_eq!(
        (retired.next_reminder_at, retired.escalate_at),
        (None, None)
    );
    assert!(tx
        .lock_due_reminders(later + Duration::hours(1), 10)
        .await
        .unwrap()
        .iter()
        .all(|s| s.approval_id != third));
    // Retiring keeps an escalation already sent on record.
    assert!(tx.retire_reminders(second).await.unwrap());
    let kept = tx.get_reminder_schedule(second).await.unwrap().unwrap();
    assert_eq!(kept.escalated_at, Some(base));
    commit(tx).await;
}

/// Schedulers locking due schedules at once never get the same one.
pub async fn reminders_lock_due_skips_locked(store: TestStore) {
    let w = world(&store).await;
    let base = now();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (_, a) = w
            .create_approval_at(&store, base - Duration::minutes(30))
            .await;
        let mut tx = begin(&store).await;
        tx.insert_reminder_schedule(&ReminderSchedule {
            approval_id: a.id,
            remind_every_secs: Some(600),
            next_reminder_at: Some(base - Duration::minutes(1)),
            reminders_sent: 0,
            escalate_to_role: None,
            escalate_at: None,
            escalated_at: None,
        })
        .await
        .unwrap();
        commit(tx).await;
        ids.push(a.id);
    }
    let due = base - Duration::minutes(1);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let got = tx.lock_due_reminders(base, 1).await.expect("lock due");
                let mut sent = Vec::new();
                for s in &got {
                    if tx
                        .advance_reminder(s.approval_id, due, Some(base + Duration::minutes(9)))
                        .await
                        .unwrap()
                    {
                        sent.push(s.approval_id);
                    }
                }
                tx.commit().await.expect("commit");
                sent
            })
        })
        .collect();
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.unwrap());
    }
    let raw = sent.len();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), raw, "one due reminder sent by two schedulers");
    // Each sent once at most; whatever was left is still due.
    let mut tx = begin(&store).await;
    let left = tx.lock_due_reminders(base, 10).await.unwrap().len();
    assert_eq!(sent.len() + left, ids.len());
    for id in &ids {
        let s = tx.get_reminder_schedule(*id).await.unwrap().unwrap();
        assert!(s.reminders_sent <= 1, "sent twice");
    }
}
