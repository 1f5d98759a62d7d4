//! The escalation guard: nobody hands out more than they hold.
//!
//! One rule for every path that can widen someone's powers: putting permissions into a role
//! (create, edit, add-permission), granting a role to a principal, and minting a key for
//! another principal (a key carries every permission its owner holds). Each asks
//! [`guard`] with the permissions it would hand out; a refusal is 403 `forbidden`, audited by
//! the caller as `auth.denied` (`Service::refuse`).

use std::collections::BTreeSet;

use countersign_domain::{Permission, PrincipalId};
use countersign_store::Transaction;

use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};

/// The refusal if `wanted` holds a permission the caller lacks; `what` says what the caller
/// tried ("put permission(s) into role `x`", "grant role `x`", …).
pub(crate) fn guard(
    caller: &Caller,
    what: &str,
    wanted: impl IntoIterator<Item = Permission>,
) -> Option<ServiceError> {
    let lacking: BTreeSet<Permission> = wanted.into_iter().filter(|p| !caller.has(*p)).collect();
    (!lacking.is_empty()).then(|| {
        let names: Vec<String> = lacking.iter().map(|p| format!("`{p}`")).collect();
        ServiceError::Forbidden(format!(
            "escalation guard: you cannot {what}: you do not hold permission(s) {}",
            names.join(", ")
        ))
    })
}

/// Every permission `principal` holds now, through all of its roles, read inside `tx`.
pub(crate) async fn permissions_of(
    tx: &mut dyn Transaction,
    principal: PrincipalId,
) -> ServiceResult<BTreeSet<Permission>> {
    let mut held = BTreeSet::new();
    for role in tx.roles_of(principal).await? {
        if let Some(r) = tx.get_role(&role).await? {
            held.extend(r.permissions);
        }
    }
    Ok(held)
}
