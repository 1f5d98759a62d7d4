//! Subjects.

use countersign_domain::{PolicyId, SubjectId};

use super::fixtures::*;
use super::walk_pages;
use crate::error::constraints;
use crate::SubjectFilter;

/// Insert and read back a subject with its labels.
pub async fn subjects_insert_get(store: TestStore) {
    let p = create_policy(&store, vec![]).await;
    let s = subject("certificate", p.id, now());
    let mut bare = subject("secret", p.id, now());
    bare.labels.clear();
    let mut tx = begin(&store).await;
    tx.insert_subject(&s).await.unwrap();
    tx.insert_subject(&bare).await.unwrap();
    commit(tx).await;
    let mut tx = begin(&store).await;
    assert_eq!(tx.get_subject(s.id).await.unwrap(), Some(s.clone()));
    assert_eq!(tx.get_subject(bare.id).await.unwrap(), Some(bare.clone()));
    assert_eq!(tx.get_subject(SubjectId::new()).await.unwrap(), None);
}

/// A taken `(kind, name)` is a conflict on `subjects_kind_name_key` (the same name under
/// another kind is fine); an unknown policy is a foreign-key violation.
pub async fn subjects_conflict_and_unknown_policy(store: TestStore) {
    let p = create_policy(&store, vec![]).await;
    let s = create_subject(&store, p.id).await;
    let mut twin = subject(&s.kind, p.id, now());
    twin.name = s.name.clone();
    let mut tx = begin(&store).await;
    assert_conflict(
        tx.insert_subject(&twin).await,
        constraints::SUBJECTS_KIND_NAME,
    );
    drop(tx);

    let mut cousin = subject("secret", p.id, now());
    cousin.name = s.name.clone();
    let mut tx = begin(&store).await;
    tx.insert_subject(&cousin).await.unwrap();
    commit(tx).await;

    let orphan = subject("certificate", PolicyId::new(), now());
    let mut tx = begin(&store).await;
    assert_foreign_key(tx.insert_subject(&orphan).await, None);
}

/// Subjects newest first, filtered by kind and/or policy, over every page.
pub async fn subjects_filter_and_pagination(store: TestStore) {
    let p1 = create_policy(&store, vec![]).await;
    let p2 = create_policy(&store, vec![]).await;
    let mut all = Vec::new();
    let mut tx = begin(&store).await;
    for i in 0..12 {
        let kind = if i % 3 == 0 { "secret" } else { "certificate" };
        let policy = if i % 2 == 0 { p1.id } else { p2.id };
        let s = subject(kind, policy, at(i / 4));
        tx.insert_subject(&s).await.unwrap();
        all.push(s);
    }
    commit(tx).await;
    all.sort_by_key(|x| std::cmp::Reverse((x.created_at, x.id.to_string())));

    let filters = [
        SubjectFilter::default(),
        SubjectFilter {
            kind: Some("secret".into()),
            policy_id: None,
        },
        SubjectFilter {
            kind: None,
            policy_id: Some(p2.id),
        },
        SubjectFilter {
            kind: Some("certificate".into()),
            policy_id: Some(p1.id),
        },
        SubjectFilter {
            kind: Some("deployment".into()),
            policy_id: None,
        },
    ];
    for filter in filters {
        let want: Vec<_> = all
            .iter()
            .filter(|s| filter.kind.as_ref().is_none_or(|k| *k == s.kind))
            .filter(|s| filter.policy_id.is_none_or(|p| p == s.policy_id))
            .cloned()
            .collect();
        for limit in [1, 2, 5, 50] {
            let mut tx = begin(&store).await;
            let got = walk_pages!(limit, |page| tx.list_subjects(&filter, &page));
            assert_eq!(got, want, "{filter:?} limit {limit}");
        }
    }
}
