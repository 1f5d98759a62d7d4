//! Policies and their ordered rules.

use countersign_domain::{Permission, Policy, PolicyId};
use time::Duration;

use super::fixtures::*;
use super::walk_pages;
use crate::error::constraints;
use crate::StoreError;

/// Insert and read back a policy with its rules in order; one without approval has none.
pub async fn policies_insert_get_with_ordered_rules(store: TestStore) {
    let security = create_role(&store, &[Permission::ApprovalApprove]).await;
    let rules = vec![
        rule("approver", 2),
        rule(security.id.as_str(), 1),
        rule("admin", 3),
    ];
    let gated = policy(rules, now());
    let open = policy(vec![], now());
    let mut tx = begin(&store).await;
    tx.insert_policy(&gated).await.unwrap();
    tx.insert_policy(&open).await.unwrap();
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert_eq!(tx.get_policy(gated.id).await.unwrap(), Some(gated.clone()));
    assert_eq!(tx.get_policy(open.id).await.unwrap(), Some(open.clone()));
    assert_eq!(tx.get_policy(PolicyId::new()).await.unwrap(), None);
}

/// A taken name is a conflict on `policies_name_key`.
pub async fn policies_name_conflict(store: TestStore) {
    let p = create_policy(&store, vec![rule("approver", 1)]).await;
    let mut twin = policy(vec![], now());
    twin.name = p.name.clone();
    let mut tx = begin(&store).await;
    assert_conflict(tx.insert_policy(&twin).await, constraints::POLICIES_NAME);
}

/// A rule naming a missing role is a foreign-key violation on `policy_rules_role_id_fkey`.
pub async fn policies_unknown_role_is_foreign_key(store: TestStore) {
    let p = policy(
        vec![rule("approver", 1), rule(&role_slug("ghost"), 1)],
        now(),
    );
    let mut tx = begin(&store).await;
    assert_foreign_key(
        tx.insert_policy(&p).await,
        Some(constraints::POLICY_RULES_ROLE_FK),
    );
}

/// Policies newest first over every page.
pub async fn policies_pagination(store: TestStore) {
    let mut all = Vec::new();
    let mut tx = begin(&store).await;
    for i in 0..8 {
        let rules = if i % 2 == 0 {
            vec![rule("approver", 1)]
        } else {
            vec![]
        };
        let p = policy(rules, at(i / 3));
        tx.insert_policy(&p).await.unwrap();
        all.push(p);
    }
    commit(tx).await;
    all.sort_by_key(|x| std::cmp::Reverse((x.created_at, x.id.to_string())));
    for limit in [1, 3, 8, 9] {
        let mut tx = begin(&store).await;
        assert_eq!(
            walk_pages!(limit, |page| tx.list_policies(&page)),
            all,
            "limit {limit}"
        );
    }
}

/// `update_policy` is a compare-and-set on generation; it replaces name, flag, rules and
/// timeout and bumps the generation; a stale generation or missing policy is `None`.
pub async fn policies_update_generation_cas(store: TestStore) {
    let p = create_policy(&store, vec![rule("approver", 1), rule("admin", 1)]).await;
    let mut edit = p.clone();
    edit.name = format!("renamed {}", unique());
    edit.rules = vec![rule("auditor", 2), rule("approver", 1)];
    edit.approval_timeout_secs = 120;
    edit.updated_at = p.updated_at + Duration::minutes(1);

    let mut tx = begin(&store).await;
    assert_eq!(
        tx.update_policy(&edit, 2).await.unwrap(),
        None,
        "wrong generation"
    );
    let updated = tx.update_policy(&edit, 1).await.unwrap().expect("updated");
    let mut want = edit.clone();
    want.generation = 2;
    assert_eq!(updated, want);
    assert_eq!(
        tx.update_policy(&edit, 1).await.unwrap(),
        None,
        "stale generation"
    );
    let mut ghost = edit.clone();
    ghost.id = PolicyId::new();
    assert_eq!(
        tx.update_policy(&ghost, 1).await.unwrap(),
        None,
        "missing policy"
    );
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert_eq!(tx.get_policy(p.id).await.unwrap(), Some(want.clone()));
    // Dropping approval and every rule is one edit too.
    let mut open = want.clone();
    open.requires_approval = false;
    open.rules.clear();
    let opened = tx.update_policy(&open, 2).await.unwrap().unwrap();
    assert!(opened.rules.is_empty() && !opened.requires_approval);
    assert_eq!(opened.generation, 3);
    commit(tx).await;

    // A name taken by another policy is a conflict.
    let other = create_policy(&store, vec![]).await;
    let mut tx = begin(&store).await;
    let mut clash = opened.clone();
    clash.name = other.name.clone();
    assert_conflict(
        tx.update_policy(&clash, 3).await,
        constraints::POLICIES_NAME,
    );
}

/// Reminder and escalation settings read back as written and change with an update; the
/// database itself refuses an out-of-range delay, a half-given escalation, settings on a
/// policy that requires no approval, and an escalation to a role that does not exist.
pub async fn policies_reminder_settings_and_their_checks(store: TestStore) {
    let mut p = policy(vec![rule("approver", 1)], now());
    p.remind_after_secs = Some(3600);
    p.escalate_after_secs = Some(86_400);
    p.escalate_to_role = Some(role_id("admin"));
    let mut tx = begin(&store).await;
    tx.insert_policy(&p).await.unwrap();
    assert_eq!(tx.get_policy(p.id).await.unwrap().as_ref(), Some(&p));
    let mut changed = p.clone();
    changed.remind_after_secs = None;
    changed.escalate_after_secs = Some(60);
    changed.escalate_to_role = Some(role_id("approver"));
    changed.generation = 2;
    changed.updated_at = now();
    let updated = tx.update_policy(&changed, 1).await.unwrap();
    assert_eq!(updated.as_ref(), Some(&changed));
    commit(tx).await;

    let refused = |edit: fn(&mut Policy)| {
        let mut bad = policy(vec![rule("approver", 1)], now());
        edit(&mut bad);
        bad
    };
    for (bad, constraint) in [
        (
            refused(|p| p.remind_after_secs = Some(0)),
            "policies_remind_after_secs_check",
        ),
        (
            refused(|p| p.escalate_after_secs = Some(31_622_401)),
            "policies_escalate_after_secs_check",
        ),
        (
            refused(|p| p.escalate_after_secs = Some(60)),
            "policies_escalation_pair_check",
        ),
        (
            refused(|p| {
                p.requires_approval = false;
                p.rules.clear();
                p.remind_after_secs = Some(60);
            }),
            "policies_notices_need_approval_check",
        ),
    ] {
        let mut tx = begin(&store).await;
        match tx.insert_policy(&bad).await {
            Err(StoreError::Check { constraint: c, .. }) if c == constraint => {}
            other => panic!("expected Check {{ {constraint} }}, got {other:?}"),
        }
    }
    let mut ghost = policy(vec![rule("approver", 1)], now());
    ghost.escalate_after_secs = Some(60);
    ghost.escalate_to_role = Some(role_id(&role_slug("ghost")));
    let mut tx = begin(&store).await;
    assert_foreign_key(
        tx.insert_policy(&ghost).await,
        Some(constraints::POLICIES_ESCALATE_TO_ROLE_FK),
    );
}
