//! API keys: mint (shown once), list (never a secret or a hash), revoke, and the operator's
//! command-line `keys list` / `keys revoke` for when nobody can reach the API.
//!
//! Revocation takes effect at once: authentication reads the key afresh on every request, so
//! the next request with a revoked key is 401 (and audited as `auth.denied`). Revoking a key
//! that is already revoked is 409 `conflict` (the key exists, so 404 would mislead); an
//! unknown key is 404.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use countersign_domain::audit::actions;
use countersign_domain::{
    clock, Actor, ApiKey, AuditEvent, Category, KeyId, Permission, PrincipalId, PrincipalName,
    Resource, SystemActor,
};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::auth::MintedKey;
use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::escalation;
use crate::jobs::release;
use crate::paging::{listing, ListParams, Listing};
use crate::principals::principal_resource;
use crate::service::Service;

/// The audit action of the operator's `keys list` (an out-of-band read of who holds keys).
pub const KEY_LISTED: &str = "key.listed";

pub use countersign_domain::KeyStatus;

pub use countersign_api::KeyView;

/// One line of the operator's `keys list`.
#[derive(Debug, Clone)]
pub struct OperatorKeyRow {
    pub key: KeyView,
    pub principal_name: Option<PrincipalName>,
}

fn key_resource(id: KeyId) -> Resource {
    Resource::new("key", id)
}

fn rfc3339(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| t.format(&Rfc3339).ok())
}

/// The `key.created` event: who created it (the actor), for whom (the owner's id and name in
/// `details`), the key's id and expiry — never its secret.
pub(crate) fn key_created_event(
    actor: Actor,
    minted: &MintedKey,
    owner: &PrincipalName,
    request_id: Option<&str>,
) -> AuditEvent {
    AuditEvent::new(
        Category::Auth,
        actions::KEY_CREATED,
        actor,
        key_resource(minted.key.id),
    )
    .allowed_by(Permission::AuthKeyCreate.as_str())
    .request_id(request_id)
    .details(json!({
        "principal_id": minted.key.principal_id,
        "principal_name": owner,
        "expires_at": rfc3339(minted.key.expires_at),
    }))
}

fn key_revoked_event(actor: Actor, key: &ApiKey, request_id: Option<&str>) -> AuditEvent {
    AuditEvent::new(
        Category::Auth,
        actions::KEY_REVOKED,
        actor,
        key_resource(key.id),
    )
    .allowed_by(Permission::AuthKeyRevoke.as_str())
    .request_id(request_id)
    .details(json!({
        "principal_id": key.principal_id,
        "revoked_at": rfc3339(key.revoked_at),
    }))
}

impl Service {
    /// `POST /api/v1/auth/principals/{id}/keys`: mint a key; the token is shown once.
    ///
    /// A key carries every permission of its owner, so minting one for *another* principal
    /// passes the escalation guard: the caller must hold every permission that principal
    /// holds (else 403 `forbidden`, audited as `auth.denied`).
    pub async fn create_key(
        &self,
        caller: &Caller,
        principal: PrincipalId,
        expires_at: Option<OffsetDateTime>,
    ) -> ServiceResult<MintedKey> {
        let permission = Permission::AuthKeyCreate;
        self.require(caller, permission, principal_resource(principal))
            .await?;
        let mut tx = self.begin().await?;
        let target = tx
            .get_principal(principal)
            .await?
            .ok_or(ServiceError::NotFound("principal"))?;
        if target.disabled {
            return Err(ServiceError::Conflict(
                "the principal is disabled; it cannot get new keys".into(),
            ));
        }
        if principal != caller.id() {
            let held = escalation::permissions_of(&mut *tx, principal).await?;
            if let Some(err) = escalation::guard(
                caller,
                &format!("create a key for principal `{}`", target.name),
                held,
            ) {
                release(tx).await;
                return Err(self
                    .refuse(caller, permission, principal_resource(principal), err)
                    .await);
            }
        }
        let (minted, hash) = Service::new_key(principal, expires_at)?;
        tx.insert_key(&minted.key, &hash).await?;
        let event = key_created_event(caller.actor(), &minted, &target.name, caller.request_id());
        self.commit_with(tx, &[event]).await?;
        Ok(minted)
    }

    /// `GET /api/v1/auth/keys[?principal_id=]`: newest first, never a secret or a hash.
    pub async fn list_keys(
        &self,
        caller: &Caller,
        principal: Option<PrincipalId>,
        params: &ListParams,
    ) -> ServiceResult<Listing<KeyView>> {
        self.require(caller, Permission::AuthKeyRead, Resource::new("key", "*"))
            .await?;
        let page = params.to_page()?;
        let mut tx = self.begin().await?;
        let keys = tx.list_keys(principal, &page).await?;
        tx.commit().await?;
        let now = clock::now();
        Ok(listing(keys).map(|k| KeyView::at(k, now)))
    }

    /// `DELETE /api/v1/auth/keys/{id}`: revoke at once. Already revoked → 409.
    pub async fn revoke_key(&self, caller: &Caller, id: KeyId) -> ServiceResult<KeyView> {
        self.require(caller, Permission::AuthKeyRevoke, key_resource(id))
            .await?;
        let mut tx = self.begin().await?;
        let key = revoke_in(&mut *tx, id).await?;
        let event = key_revoked_event(caller.actor(), &key, caller.request_id());
        self.commit_with(tx, &[event]).await?;
        Ok(KeyView::at(key, clock::now()))
    }

    /// `countersign-server keys revoke KEY_ID`: the same, by the operator at the command line
    /// (actor `system:bootstrap`), for when nobody can use the API.
    pub async fn operator_revoke_key(&self, id: KeyId) -> ServiceResult<KeyView> {
        let mut tx = self.begin().await?;
        let key = revoke_in(&mut *tx, id).await?;
        let event = key_revoked_event(Actor::system(SystemActor::Bootstrap), &key, None);
        self.commit_with(tx, &[event]).await?;
        Ok(KeyView::at(key, clock::now()))
    }

    /// `countersign-server keys list [--principal NAME]`: every key (never a secret), newest
    /// first, with its owner's name. The read is audited (`key.listed`, category `access`,
    /// actor `system:bootstrap`) because it bypasses the API's permission checks.
    pub async fn operator_list_keys(
        &self,
        principal: Option<&str>,
    ) -> ServiceResult<Vec<OperatorKeyRow>> {
        let mut tx = self.begin().await?;
        let owner = match principal {
            None => None,
            Some(name) => {
                let name = PrincipalName::parse(name)?;
                Some(
                    tx.get_principal_by_name(&name)
                        .await?
                        .ok_or(ServiceError::NotFound("principal"))?,
                )
            }
        };
        let mut keys = Vec::new();
        let mut page = ListParams {
            limit: Some(countersign_store::page::MAX_LIMIT),
            cursor: None,
        }
        .to_page()?;
        loop {
            let chunk = tx.list_keys(owner.as_ref().map(|p| p.id), &page).await?;
            keys.extend(chunk.items);
            match chunk.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let mut names: HashMap<PrincipalId, Option<PrincipalName>> = HashMap::new();
        if let Some(p) = &owner {
            names.insert(p.id, Some(p.name.clone()));
        }
        for k in &keys {
            if let Entry::Vacant(slot) = names.entry(k.principal_id) {
                slot.insert(tx.get_principal(k.principal_id).await?.map(|p| p.name));
            }
        }
        let event = AuditEvent::new(
            Category::Access,
            KEY_LISTED,
            Actor::system(SystemActor::Bootstrap),
            Resource::new("key", "*"),
        )
        .details(json!({
            "principal": owner.as_ref().map(|p| p.name.as_str()),
            "rows": keys.len(),
        }));
        self.commit_with(tx, &[event]).await?;
        let now = clock::now();
        Ok(keys
            .into_iter()
            .map(|k| OperatorKeyRow {
                principal_name: names.get(&k.principal_id).cloned().flatten(),
                key: KeyView::at(k, now),
            })
            .collect())
    }
}

/// Revoke `id` inside `tx`: 404 when unknown, 409 when already revoked.
async fn revoke_in(
    tx: &mut dyn countersign_store::Transaction,
    id: KeyId,
) -> ServiceResult<ApiKey> {
    let current = tx.get_key(id).await?.ok_or(ServiceError::NotFound("key"))?;
    if current.revoked_at.is_some() {
        return Err(ServiceError::Conflict(format!(
            "key `{id}` is already revoked"
        )));
    }
    tx.revoke_key(id, clock::now())
        .await?
        .ok_or_else(|| ServiceError::Conflict(format!("key `{id}` is already revoked")))
}
