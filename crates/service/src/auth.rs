//! API-key authentication, key minting, `whoami`, and auditing refusals.
//!
//! Keys are `cs_<key id>_<secret>`. The key id part finds the key by primary key (never a
//! scan); the secret is compared as a SHA-256 hash in constant time. A key's secret is 256
//! random bits, so a fast hash is the right tool (a password hash would only slow every
//! request). Disabled principals and revoked or expired keys are refused at once: every
//! request reads the key afresh, so there is no cache to outlive a revoke.

use countersign_domain::audit::actions;
use countersign_domain::{
    clock, Actor, ApiKey, ApiKeyToken, AuditEvent, AuditResult, Authorization, Category, KeyId,
    KeyStatus, Permission, Resource,
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use countersign_store::KeyAuthRecord;

use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::service::Service;

pub use countersign_api::{WhoAmI, WhoAmIPrincipal};

/// A freshly minted key: the only moment its secret exists outside the caller's hands.
#[derive(Debug, Clone)]
pub struct MintedKey {
    pub key: ApiKey,
    pub token: ApiKeyToken,
}

/// SHA-256 of a key secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new key id and 256-bit secret (64 lower-case hex characters).
pub fn mint_token() -> ApiKeyToken {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    ApiKeyToken::new(KeyId::new(), hex::encode(bytes))
}

/// Where a refusal happened, for the `auth.denied` event.
#[derive(Debug, Clone)]
pub struct DenyContext<'a> {
    /// The caller, when authentication succeeded.
    pub caller: Option<&'a Caller>,
    /// The key id the request presented, when it could be parsed.
    pub key_id: Option<KeyId>,
    pub permission: Option<Permission>,
    pub resource: Resource,
    pub request_id: Option<&'a str>,
}

/// Anonymous refusals from one client address that were counted rather than audited one by
/// one (flood control at the edge): written as one `auth.denied` event with `details.count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedSummary {
    /// The client address (`unknown` when the edge does not know it).
    pub client: String,
    /// How many refusals the summary stands for.
    pub count: u64,
    /// How many of them were answered 429 `rate_limited`.
    pub rate_limited: u64,
    pub first: OffsetDateTime,
    pub last: OffsetDateTime,
}

impl Service {
    /// Authenticate an `Authorization: Bearer` token.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Caller> {
        let parsed =
            ApiKeyToken::parse(token).ok_or(ServiceError::Unauthenticated("malformed API key"))?;
        let record = self
            .store
            .key_auth_record(parsed.key_id)
            .await?
            .ok_or(ServiceError::Unauthenticated("unknown API key"))?;
        let presented = hash_secret(parsed.secret());
        if !bool::from(presented.as_slice().ct_eq(record.secret_hash.as_slice())) {
            return Err(ServiceError::Unauthenticated("unknown API key"));
        }
        caller_of(record)
    }

    /// `whoami`: the caller as the server sees it. Needs no permission beyond a valid key.
    pub fn whoami(&self, caller: &Caller) -> WhoAmI {
        WhoAmI {
            principal: WhoAmIPrincipal {
                id: caller.principal.id.to_string(),
                name: caller.principal.name.to_string(),
                kind: caller.principal.kind.as_str().to_owned(),
            },
            key_id: caller.key_id,
            roles: caller.roles.iter().map(ToString::to_string).collect(),
            permissions: caller
                .permissions
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
        }
    }

    /// Check `permission`, auditing a refusal. Use cases call this first.
    pub(crate) async fn require(
        &self,
        caller: &Caller,
        permission: Permission,
        resource: Resource,
    ) -> ServiceResult<()> {
        if caller.has(permission) {
            return Ok(());
        }
        let err = ServiceError::Forbidden(format!("missing permission `{permission}`"));
        self.audit_denied(
            DenyContext {
                caller: Some(caller),
                key_id: caller.key_id,
                permission: Some(permission),
                resource,
                request_id: caller.request_id(),
            },
            &err,
        )
        .await;
        Err(err)
    }

    /// Write an `auth.denied` event for a refused request (401 or 403), in its own
    /// transaction. A failure to audit is logged, never hidden behind a different answer.
    pub async fn audit_denied(&self, ctx: DenyContext<'_>, err: &ServiceError) {
        let actor = match ctx.caller {
            Some(c) => c.actor(),
            None => {
                let mut a = Actor::anonymous();
                a.key_id = ctx.key_id.map(|k| k.to_string());
                a
            }
        };
        let permission = ctx.permission.map(|p| p.as_str());
        let event = AuditEvent::new(Category::Auth, actions::AUTH_DENIED, actor, ctx.resource)
            .authorization(Authorization::deny(permission, err.to_string()))
            .result(AuditResult::Error {
                kind: err.code().to_owned(),
                message: err.to_string(),
            })
            .request_id(ctx.request_id);
        let write = async {
            let tx = self.begin().await?;
            self.commit_with(tx, std::slice::from_ref(&event)).await
        };
        if let Err(e) = write.await {
            tracing::error!(error = %e, audit.action = actions::AUTH_DENIED, "could not audit a refusal");
        }
    }

    /// Write one `auth.denied` summary event for `summary` (actor anonymous, resource the
    /// client address). A failure to audit is logged.
    pub async fn audit_denied_summary(&self, summary: &DeniedSummary) {
        let err = ServiceError::Unauthenticated("repeated anonymous refusals");
        let event = AuditEvent::new(
            Category::Auth,
            actions::AUTH_DENIED,
            Actor::anonymous(),
            Resource::new("client", &summary.client),
        )
        .authorization(Authorization::deny(
            None,
            format!(
                "{} anonymous refusals counted, not audited one by one",
                summary.count
            ),
        ))
        .result(AuditResult::Error {
            kind: err.code().to_owned(),
            message: err.to_string(),
        })
        .details(serde_json::json!({
            "summary": true,
            "count": summary.count,
            "rate_limited": summary.rate_limited,
            "client": summary.client,
            "first_at": summary.first.format(&time::format_description::well_known::Rfc3339).ok(),
            "last_at": summary.last.format(&time::format_description::well_known::Rfc3339).ok(),
        }));
        let write = async {
            let tx = self.begin().await?;
            self.commit_with(tx, std::slice::from_ref(&event)).await
        };
        if let Err(e) = write.await {
            tracing::error!(error = %e, audit.action = actions::AUTH_DENIED, "could not audit a refusal summary");
        }
    }

    /// Mint a key for an existing principal inside `tx`-less code paths (bootstrap, admin).
    /// A new key for `principal`; an `expires_at` not in the future is refused (400), for
    /// every path that mints keys (API and operator bootstrap alike).
    pub(crate) fn new_key(
        principal: countersign_domain::PrincipalId,
        expires_at: Option<OffsetDateTime>,
    ) -> ServiceResult<(MintedKey, [u8; 32])> {
        if expires_at.is_some_and(|e| e <= clock::now()) {
            return Err(ServiceError::invalid("expires_at: must be in the future"));
        }
        let token = mint_token();
        let hash = hash_secret(token.secret());
        let key = ApiKey {
            id: token.key_id,
            principal_id: principal,
            created_at: clock::now(),
            expires_at: expires_at.map(clock::truncate_to_micros),
            revoked_at: None,
        };
        Ok((MintedKey { key, token }, hash))
    }
}

/// The caller a key stands for, once its secret has been verified: refused when the key is
/// revoked or expired or its principal disabled. API keys and console sessions (which act
/// through the key they were opened with) both pass here.
pub(crate) fn caller_of(record: KeyAuthRecord) -> ServiceResult<Caller> {
    match record.key.status_at(clock::now()) {
        KeyStatus::Active => {}
        KeyStatus::Revoked => return Err(ServiceError::Unauthenticated("revoked API key")),
        KeyStatus::Expired => return Err(ServiceError::Unauthenticated("expired API key")),
    }
    if record.principal.disabled {
        return Err(ServiceError::Unauthenticated("disabled principal"));
    }
    Ok(Caller {
        principal: record.principal,
        key_id: Some(record.key.id),
        roles: record.roles,
        permissions: record.permissions,
        request_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_parse_and_hash() {
        let t = mint_token();
        let text = t.expose();
        assert!(text.starts_with("cs_key_"));
        let back = ApiKeyToken::parse(&text).unwrap();
        assert_eq!(back.key_id, t.key_id);
        assert_eq!(hash_secret(back.secret()), hash_secret(t.secret()));
        assert_ne!(mint_token().secret(), t.secret());
    }
}
