//! Principals and role assignments.

use std::collections::HashSet;

use countersign_domain::{PrincipalName, RoleId};
use time::Duration;

use super::fixtures::*;
use super::walk_pages;
use crate::error::constraints;

/// Insert, then read back by id and by name; unknown ids and names are `None`.
pub async fn principals_insert_get_by_id_and_name(store: TestStore) {
    let mut p = principal(now());
    p.kind = countersign_domain::PrincipalKind::Service;
    let mut tx = begin(&store).await;
    tx.insert_principal(&p).await.unwrap();
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert_eq!(tx.get_principal(p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(
        tx.get_principal_by_name(&p.name).await.unwrap(),
        Some(p.clone())
    );
    let other = countersign_domain::PrincipalId::new();
    assert_eq!(tx.get_principal(other).await.unwrap(), None);
    let nobody = PrincipalName::parse(&format!("nobody-{}", unique())).unwrap();
    assert_eq!(tx.get_principal_by_name(&nobody).await.unwrap(), None);
}

/// A taken name is a conflict on `principals_name_key`.
pub async fn principals_name_conflict(store: TestStore) {
    let p = create_principal(&store).await;
    let mut twin = principal(now());
    twin.name = p.name.clone();
    let mut tx = begin(&store).await;
    assert_conflict(
        tx.insert_principal(&twin).await,
        constraints::PRINCIPALS_NAME,
    );
}

/// Every page in order, newest first by `(created_at, id)`, with ties on `created_at`, and no
/// duplicates or gaps, whatever the page size.
pub async fn principals_pagination(store: TestStore) {
    let mut all = Vec::new();
    let mut tx = begin(&store).await;
    for i in 0..11 {
        // Pairs share a timestamp, so the id breaks ties.
        let p = principal(at(i / 2));
        tx.insert_principal(&p).await.unwrap();
        all.push(p);
    }
    commit(tx).await;
    all.sort_by_key(|x| std::cmp::Reverse((x.created_at, x.id.to_string())));

    for limit in [1, 2, 3, 4, 11, 50] {
        let mut tx = begin(&store).await;
        let got = walk_pages!(limit, |page| tx.list_principals(&page));
        assert_eq!(got, all, "limit {limit}");
    }
}

/// Disabling is a compare-and-set: the second disable and an unknown id are `None`.
pub async fn principals_disable_is_compare_and_set(store: TestStore) {
    let p = create_principal(&store).await;
    let mut tx = begin(&store).await;
    let when = now();
    let disabled = tx
        .disable_principal(p.id, when)
        .await
        .unwrap()
        .expect("disabled");
    assert!(disabled.disabled);
    assert_eq!(disabled.id, p.id);
    assert_eq!(tx.disable_principal(p.id, when).await.unwrap(), None);
    assert_eq!(
        tx.disable_principal(countersign_domain::PrincipalId::new(), when)
            .await
            .unwrap(),
        None
    );
    commit(tx).await;
    let mut tx = begin(&store).await;
    assert!(tx.get_principal(p.id).await.unwrap().unwrap().disabled);
}

/// Assign and unassign roles; `roles_of` is sorted; missing roles and principals are
/// foreign-key violations.
pub async fn principals_role_assignment(store: TestStore) {
    let p = create_principal(&store).await;
    let mut tx = begin(&store).await;
    for r in ["worker", "admin", "auditor"] {
        assert!(tx
            .assign_role(p.id, &role_id(r), Some("prn_granter"), now())
            .await
            .unwrap());
    }
    assert!(!tx
        .assign_role(p.id, &role_id("admin"), None, now())
        .await
        .unwrap());
    assert_eq!(
        tx.roles_of(p.id).await.unwrap(),
        vec![role_id("admin"), role_id("auditor"), role_id("worker")]
    );
    assert!(tx.unassign_role(p.id, &role_id("auditor")).await.unwrap());
    assert!(!tx.unassign_role(p.id, &role_id("auditor")).await.unwrap());
    assert!(!tx.unassign_role(p.id, &role_id("requester")).await.unwrap());
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert_eq!(
        tx.roles_of(p.id).await.unwrap(),
        vec![role_id("admin"), role_id("worker")]
    );
    assert_eq!(
        tx.roles_of(countersign_domain::PrincipalId::new())
            .await
            .unwrap(),
        Vec::<RoleId>::new()
    );
    drop(tx);

    let mut tx = begin(&store).await;
    let missing = role_id(&role_slug("missing"));
    assert_foreign_key(tx.assign_role(p.id, &missing, None, now()).await, None);
    drop(tx);
    let mut tx = begin(&store).await;
    assert_foreign_key(
        tx.assign_role(
            countersign_domain::PrincipalId::new(),
            &role_id("admin"),
            None,
            now(),
        )
        .await,
        None,
    );
}

/// `roles_of_many` in one call (principals without roles absent); `active_principals_with_role`
/// skips disabled principals and sorts by name.
pub async fn principals_roles_of_many_and_active_holders(store: TestStore) {
    let custom = create_role(&store, &[countersign_domain::Permission::JobRead]).await;
    let mut tx = begin(&store).await;
    let mut holders = Vec::new();
    for name in ["carol", "alice", "bob", "dave"] {
        let p = principal_named(&format!("{name}-{}", unique()), now());
        tx.insert_principal(&p).await.unwrap();
        tx.assign_role(p.id, &custom.id, None, now()).await.unwrap();
        holders.push(p);
    }
    let loner = principal(now() + Duration::seconds(1));
    tx.insert_principal(&loner).await.unwrap();
    tx.assign_role(holders[0].id, &role_id("approver"), None, now())
        .await
        .unwrap();
    let dave = holders[3].clone();
    tx.disable_principal(dave.id, now()).await.unwrap().unwrap();
    commit(tx).await;

    let mut tx = begin(&store).await;
    let ids: Vec<_> = holders.iter().map(|p| p.id).chain([loner.id]).collect();
    let many = tx.roles_of_many(&ids).await.unwrap();
    assert_eq!(many.len(), 4, "the principal without roles is absent");
    assert!(!many.contains_key(&loner.id));
    let mut carol_roles = vec![role_id("approver"), custom.id.clone()];
    carol_roles.sort();
    assert_eq!(many[&holders[0].id], carol_roles);
    assert_eq!(many[&holders[1].id], vec![custom.id.clone()]);
    assert!(tx.roles_of_many(&[]).await.unwrap().is_empty());

    let active = tx.active_principals_with_role(&custom.id).await.unwrap();
    let names: Vec<_> = active.iter().map(|p| p.name.as_str().to_owned()).collect();
    let mut want: Vec<_> = holders[..3]
        .iter()
        .map(|p| p.name.as_str().to_owned())
        .collect();
    want.sort();
    assert_eq!(names, want);
    assert!(active.iter().all(|p| !p.disabled));
    let unique_ids: HashSet<_> = active.iter().map(|p| p.id).collect();
    assert_eq!(unique_ids.len(), 3);
}
