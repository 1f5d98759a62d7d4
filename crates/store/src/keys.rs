//! API keys. Only a hash of a key's secret is ever stored.

use std::collections::BTreeSet;

use async_trait::async_trait;
use countersign_domain::{ApiKey, KeyId, Permission, Principal, PrincipalId, RoleId};
use time::OffsetDateTime;

use crate::error::StoreResult;
use crate::page::{Page, PageRequest};

/// Everything authentication needs about a key, read in one go.
#[derive(Debug, Clone)]
pub struct KeyAuthRecord {
    pub key: ApiKey,
    /// The stored hash of the key's secret (SHA-256, 32 bytes).
    pub secret_hash: Vec<u8>,
    pub principal: Principal,
    /// The roles the principal holds now, sorted.
    pub roles: Vec<RoleId>,
    /// The union of those roles' permissions.
    pub permissions: BTreeSet<Permission>,
}

#[async_trait]
pub trait KeyRepo {
    /// Insert a key with the hash of its secret. A missing principal is `ForeignKey`.
    async fn insert_key(&mut self, key: &ApiKey, secret_hash: &[u8]) -> StoreResult<()>;

    async fn get_key(&mut self, id: KeyId) -> StoreResult<Option<ApiKey>>;

    /// Keys (never secrets), newest first, optionally of one principal.
    async fn list_keys(
        &mut self,
        principal: Option<PrincipalId>,
        page: &PageRequest,
    ) -> StoreResult<Page<ApiKey>>;

    /// Compare-and-set: revoke a key that is not yet revoked. `None` if it does not exist or
    /// was already revoked.
    async fn revoke_key(&mut self, id: KeyId, at: OffsetDateTime) -> StoreResult<Option<ApiKey>>;
}
