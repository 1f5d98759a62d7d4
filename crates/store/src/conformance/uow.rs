//! The unit of work: rollback keeps nothing; readiness on a migrated store.

use super::fixtures::*;
use crate::PageRequest;

/// Dropping a transaction and rolling it back explicitly both discard its writes; a commit
/// keeps them.
pub async fn uow_rollback_discards_writes(store: TestStore) {
    let dropped = principal(now());
    {
        let mut tx = begin(&store).await;
        tx.insert_principal(&dropped).await.unwrap();
        // Visible inside its own transaction...
        assert_eq!(
            tx.get_principal(dropped.id).await.unwrap().as_ref(),
            Some(&dropped)
        );
    }
    let rolled_back = principal(now());
    let mut tx = begin(&store).await;
    tx.insert_principal(&rolled_back).await.unwrap();
    tx.rollback().await.unwrap();

    let kept = principal(now());
    let mut tx = begin(&store).await;
    tx.insert_principal(&kept).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = begin(&store).await;
    // ...but not after a drop or a rollback.
    assert_eq!(tx.get_principal(dropped.id).await.unwrap(), None);
    assert_eq!(tx.get_principal(rolled_back.id).await.unwrap(), None);
    assert_eq!(tx.get_principal(kept.id).await.unwrap(), Some(kept.clone()));
    let all = tx.list_principals(&PageRequest::first(10)).await.unwrap();
    assert_eq!(all.items, vec![kept]);
}

/// A freshly migrated store is ready and names its backend.
pub async fn uow_readiness_and_backend_name(store: TestStore) {
    store.readiness().await.expect("a migrated store is ready");
    let name = store.backend();
    assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase()));
}
