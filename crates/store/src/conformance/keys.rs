//! API keys and the authentication read.

use std::collections::BTreeSet;

use countersign_domain::{KeyId, Permission, PrincipalId};
use time::Duration;

use super::fixtures::*;
use super::walk_pages;

/// Insert and read back a key (never its secret); a missing principal is a foreign-key
/// violation.
pub async fn keys_insert_get_and_foreign_key(store: TestStore) {
    let p = create_principal(&store).await;
    let mut k = api_key(p.id, now());
    k.expires_at = None;
    let mut tx = begin(&store).await;
    tx.insert_key(&k, &secret_hash(1)).await.unwrap();
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert_eq!(tx.get_key(k.id).await.unwrap(), Some(k.clone()));
    assert_eq!(tx.get_key(KeyId::new()).await.unwrap(), None);
    let orphan = api_key(PrincipalId::new(), now());
    assert_foreign_key(tx.insert_key(&orphan, &secret_hash(2)).await, None);
}

/// Keys newest first, all or one principal's, over every page.
pub async fn keys_list_filter_and_pagination(store: TestStore) {
    let alice = create_principal(&store).await;
    let bob = create_principal(&store).await;
    let mut all = Vec::new();
    let mut tx = begin(&store).await;
    for i in 0..9 {
        let owner = if i % 3 == 0 { bob.id } else { alice.id };
        let k = api_key(owner, at(i / 2));
        tx.insert_key(&k, &secret_hash(i as u8)).await.unwrap();
        all.push(k);
    }
    commit(tx).await;
    all.sort_by_key(|x| std::cmp::Reverse((x.created_at, x.id.to_string())));
    let alices: Vec<_> = all
        .iter()
        .filter(|k| k.principal_id == alice.id)
        .cloned()
        .collect();

    for limit in [1, 2, 4, 100] {
        let mut tx = begin(&store).await;
        assert_eq!(walk_pages!(limit, |page| tx.list_keys(None, &page)), all);
        assert_eq!(
            walk_pages!(limit, |page| tx.list_keys(Some(alice.id), &page)),
            alices
        );
    }
    let mut tx = begin(&store).await;
    let nobody = tx
        .list_keys(Some(PrincipalId::new()), &crate::PageRequest::first(10))
        .await
        .unwrap();
    assert!(nobody.items.is_empty() && nobody.next.is_none());
}

/// Revocation is a compare-and-set: a second revoke and an unknown key are `None`.
pub async fn keys_revoke_is_compare_and_set(store: TestStore) {
    let p = create_principal(&store).await;
    let k = api_key(p.id, now());
    let mut tx = begin(&store).await;
    tx.insert_key(&k, &secret_hash(3)).await.unwrap();
    let when = now() + Duration::seconds(5);
    let revoked = tx.revoke_key(k.id, when).await.unwrap().expect("revoked");
    assert_eq!(revoked.revoked_at, Some(when));
    assert_eq!(revoked.id, k.id);
    assert_eq!(
        tx.revoke_key(k.id, when + Duration::seconds(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(tx.revoke_key(KeyId::new(), when).await.unwrap(), None);
    commit(tx).await;
    let mut tx = begin(&store).await;
    assert_eq!(
        tx.get_key(k.id).await.unwrap().unwrap().revoked_at,
        Some(when)
    );
}

/// `key_auth_record`: the key, its hash, its principal, the principal's roles (sorted) and the
/// union of their permissions; unknown keys are `None`; revocation and role changes show.
pub async fn keys_auth_record(store: TestStore) {
    let custom = create_role(&store, &[Permission::AuditExport, Permission::JobRead]).await;
    let p = create_principal_with(&store, &["worker", "requester"]).await;
    // Fixtures are committed before the transaction below opens: a backend with a single
    // writer (SQLite) cannot begin a second read-write transaction while one task holds one.
    let bare = create_principal(&store).await;
    let mut tx = begin(&store).await;
    tx.assign_role(p.id, &custom.id, None, now()).await.unwrap();
    let k = api_key(p.id, now());
    tx.insert_key(&k, &secret_hash(9)).await.unwrap();
    let bare_key = api_key(bare.id, now());
    tx.insert_key(&bare_key, &secret_hash(10)).await.unwrap();
    commit(tx).await;

    let rec = store
        .key_auth_record(k.id)
        .await
        .unwrap()
        .expect("a record");
    assert_eq!(rec.key, k);
    assert_eq!(rec.secret_hash, secret_hash(9));
    assert_eq!(rec.principal, p);
    let mut roles = vec![role_id("requester"), role_id("worker"), custom.id.clone()];
    roles.sort();
    assert_eq!(rec.roles, roles);
    let builtins = countersign_domain::role::builtin_roles();
    let perms_of = |id: &str| {
        builtins
            .iter()
            .find(|(r, _, _)| r.as_str() == id)
            .map(|(_, _, p)| p.clone())
            .unwrap()
    };
    let mut want: BTreeSet<Permission> = perms_of("worker");
    want.extend(perms_of("requester"));
    want.extend([Permission::AuditExport, Permission::JobRead]);
    assert_eq!(rec.permissions, want);

    let rec = store.key_auth_record(bare_key.id).await.unwrap().unwrap();
    assert!(rec.roles.is_empty() && rec.permissions.is_empty());
    assert_eq!(
        store
            .key_auth_record(KeyId::new())
            .await
            .unwrap()
            .map(|r| r.key),
        None
    );

    // Changes show on the next read: the record is never cached by the store.
    let mut tx = begin(&store).await;
    tx.unassign_role(p.id, &role_id("worker")).await.unwrap();
    tx.revoke_key(k.id, now()).await.unwrap().unwrap();
    tx.disable_principal(p.id, now()).await.unwrap().unwrap();
    commit(tx).await;
    let rec = store.key_auth_record(k.id).await.unwrap().unwrap();
    assert!(rec.key.revoked_at.is_some());
    assert!(rec.principal.disabled);
    assert!(!rec.roles.contains(&role_id("worker")));
    assert!(!rec.permissions.contains(&Permission::JobClaim));
    assert!(rec.permissions.contains(&Permission::JobRead));
}
