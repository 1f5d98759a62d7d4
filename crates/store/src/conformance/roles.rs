//! Roles, their permissions and the built-in set.

use countersign_domain::{role::builtin_roles, Permission};
use time::Duration;

use super::fixtures::*;
use super::walk_pages;
use crate::error::constraints;
use crate::PageRequest;

/// The migrations seed exactly `countersign_domain::role::builtin_roles()`: same ids,
/// descriptions and permissions, flagged built-in, at generation 1.
pub async fn roles_builtins_seeded(store: TestStore) {
    let mut tx = begin(&store).await;
    let listed = tx.list_roles(&PageRequest::first(500)).await.unwrap();
    assert!(listed.next.is_none());
    let builtins = builtin_roles();
    assert_eq!(
        listed.items.len(),
        builtins.len(),
        "a fresh store holds only the built-ins"
    );
    for (id, description, permissions) in builtins {
        let role = tx
            .get_role(&id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} missing"));
        assert!(role.builtin, "{id}");
        assert_eq!(role.description, description, "{id}");
        assert_eq!(role.permissions, permissions, "{id}");
        assert_eq!(role.generation, 1, "{id}");
        assert!(listed.items.contains(&role));
    }
    let admin = tx.get_role(&role_id("admin")).await.unwrap().unwrap();
    assert_eq!(admin.permissions.len(), Permission::ALL.len());
}

/// Insert, get, lock; a taken id is a conflict on `roles_pkey`; a role without permissions
/// reads back with none.
pub async fn roles_insert_get_lock_and_conflict(store: TestStore) {
    let r = role(
        &role_slug("security"),
        &[
            Permission::ApprovalApprove,
            Permission::ApprovalRead,
            Permission::AuditExport,
        ],
        now(),
    );
    let empty = role(&role_slug("empty"), &[], now());
    let mut tx = begin(&store).await;
    tx.insert_role(&r).await.unwrap();
    tx.insert_role(&empty).await.unwrap();
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert_eq!(tx.get_role(&r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(tx.lock_role(&r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(tx.get_role(&empty.id).await.unwrap(), Some(empty.clone()));
    let ghost = role_id(&role_slug("ghost"));
    assert_eq!(tx.get_role(&ghost).await.unwrap(), None);
    assert_eq!(tx.lock_role(&ghost).await.unwrap(), None);
    drop(tx);

    let mut tx = begin(&store).await;
    let mut twin = role(r.id.as_str(), &[Permission::JobRead], now());
    twin.description = "twin".into();
    assert_conflict(tx.insert_role(&twin).await, constraints::ROLES_PKEY);
    drop(tx);
    let mut tx = begin(&store).await;
    let builtin_twin = role("admin", &[], now());
    assert_conflict(tx.insert_role(&builtin_twin).await, constraints::ROLES_PKEY);
}

/// Roles newest first by `(created_at, id)` over every page (built-ins included).
pub async fn roles_pagination(store: TestStore) {
    let mut tx = begin(&store).await;
    for i in 0..7 {
        let r = role(
            &role_slug(&format!("pg{i}")),
            &[Permission::JobRead],
            at(i / 3),
        );
        tx.insert_role(&r).await.unwrap();
    }
    commit(tx).await;
    let mut tx = begin(&store).await;
    let mut all = tx.list_roles(&PageRequest::first(500)).await.unwrap().items;
    assert_eq!(all.len(), 7 + builtin_roles().len());
    let listed = all.clone();
    all.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    assert_eq!(listed, all, "newest first, ties by id descending");
    for limit in [1, 2, 5] {
        assert_eq!(
            walk_pages!(limit, |page| tx.list_roles(&page)),
            all,
            "limit {limit}"
        );
    }
}

/// `missing_roles` names exactly the ids that do not exist.
pub async fn roles_missing_roles(store: TestStore) {
    let r = create_role(&store, &[Permission::JobRead]).await;
    let ghost1 = role_id(&role_slug("ghost"));
    let ghost2 = role_id(&role_slug("phantom"));
    let mut tx = begin(&store).await;
    let mut missing = tx
        .missing_roles(&[
            role_id("admin"),
            ghost1.clone(),
            r.id.clone(),
            ghost2.clone(),
        ])
        .await
        .unwrap();
    missing.sort();
    let mut want = vec![ghost1, ghost2];
    want.sort();
    assert_eq!(missing, want);
    assert!(tx
        .missing_roles(&[r.id.clone(), role_id("worker")])
        .await
        .unwrap()
        .is_empty());
    assert!(tx.missing_roles(&[]).await.unwrap().is_empty());
}

/// `update_role` is a compare-and-set on generation: it replaces description and
/// permissions and bumps the generation; a stale generation or missing role is `None`.
pub async fn roles_update_generation_cas(store: TestStore) {
    let r = create_role(&store, &[Permission::JobRead, Permission::JobClaim]).await;
    let mut edit = r.clone();
    edit.description = "edited".into();
    edit.permissions = [Permission::AuditRead, Permission::JobRead]
        .into_iter()
        .collect();
    edit.updated_at = r.updated_at + Duration::seconds(30);

    let mut tx = begin(&store).await;
    assert_eq!(
        tx.update_role(&edit, 7).await.unwrap(),
        None,
        "wrong generation"
    );
    let updated = tx.update_role(&edit, 1).await.unwrap().expect("updated");
    assert_eq!(updated.generation, 2);
    assert_eq!(updated.description, "edited");
    assert_eq!(updated.permissions, edit.permissions);
    assert_eq!(updated.updated_at, edit.updated_at);
    assert_eq!(updated.created_at, r.created_at);
    assert_eq!(
        tx.update_role(&edit, 1).await.unwrap(),
        None,
        "stale generation"
    );
    let mut ghost = edit.clone();
    ghost.id = role_id(&role_slug("ghost"));
    assert_eq!(
        tx.update_role(&ghost, 1).await.unwrap(),
        None,
        "missing role"
    );
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert_eq!(tx.get_role(&r.id).await.unwrap(), Some(updated.clone()));
    let mut none = updated.clone();
    none.permissions.clear();
    let emptied = tx.update_role(&none, 2).await.unwrap().unwrap();
    assert!(emptied.permissions.is_empty());
    assert_eq!(emptied.generation, 3);
}

/// Deleting: a custom role goes with its assignments; built-in and unknown roles are
/// `false`; a role named by a policy rule is a foreign-key violation on
/// `policy_rules_role_id_fkey`.
pub async fn roles_delete(store: TestStore) {
    let doomed = create_role(&store, &[Permission::JobRead]).await;
    let holder = create_principal_with(&store, &[doomed.id.as_str(), "worker"]).await;
    let used = create_role(&store, &[Permission::ApprovalApprove]).await;
    create_policy(&store, vec![rule(used.id.as_str(), 1)]).await;

    let mut tx = begin(&store).await;
    assert!(tx.delete_role(&doomed.id).await.unwrap());
    assert!(!tx.delete_role(&doomed.id).await.unwrap());
    assert!(
        !tx.delete_role(&role_id("admin")).await.unwrap(),
        "built-in"
    );
    assert!(!tx.delete_role(&role_id(&role_slug("ghost"))).await.unwrap());
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert_eq!(tx.get_role(&doomed.id).await.unwrap(), None);
    assert_eq!(
        tx.roles_of(holder.id).await.unwrap(),
        vec![role_id("worker")]
    );
    assert!(tx.get_role(&role_id("admin")).await.unwrap().is_some());
    assert_foreign_key(
        tx.delete_role(&used.id).await,
        Some(constraints::POLICY_RULES_ROLE_FK),
    );
    drop(tx);
    let mut tx = begin(&store).await;
    assert!(tx.get_role(&used.id).await.unwrap().is_some());
}
