//! API keys: metadata and the token format.
//!
//! A key is shown once as `cs_<key id>_<secret>`; the `cs_` prefix lets secret scanners find a
//! leaked key. The key id part lets the server look the key up by primary key (never a scan);
//! only a hash of the secret is stored.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::id::{KeyId, PrincipalId};

/// The prefix of every key token.
pub const TOKEN_PREFIX: &str = "cs_";

/// Key metadata; never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: KeyId,
    pub principal_id: PrincipalId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Whether a key can be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

impl ApiKey {
    /// The key's status at `now`; revocation wins over expiry, and a key expires at its
    /// `expires_at` instant.
    pub fn status_at(&self, now: OffsetDateTime) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }
}

/// A presented key token, split into its id and secret parts.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyToken {
    pub key_id: KeyId,
    secret: String,
}

impl ApiKeyToken {
    /// Build a token from its parts (the secret is base32/hex text without underscores).
    pub fn new(key_id: KeyId, secret: String) -> Self {
        Self { key_id, secret }
    }

    /// Parse `cs_key_<ulid>_<secret>`. Returns `None` for anything else.
    pub fn parse(token: &str) -> Option<Self> {
        let rest = token.strip_prefix(TOKEN_PREFIX)?;
        // `key_` + 26 ULID characters, then `_`, then the secret.
        let (id, secret) = rest.split_at_checked(4 + 26)?;
        let secret = secret.strip_prefix('_')?;
        if secret.len() < 16
            || secret.len() > 256
            || !secret.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        Some(Self {
            key_id: id.parse().ok()?,
            secret: secret.to_owned(),
        })
    }

    /// The secret part, for hashing.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The full token text, to show once at creation.
    pub fn expose(&self) -> String {
        format!("{TOKEN_PREFIX}{}_{}", self.key_id, self.secret)
    }
}

impl fmt::Debug for ApiKeyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyToken")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_revocation_wins_over_expiry() {
        let now = time::macros::datetime!(2026-05-20 00:00:00 UTC);
        let mut key = ApiKey {
            id: KeyId::new(),
            principal_id: PrincipalId::new(),
            created_at: now - time::Duration::days(1),
            expires_at: None,
            revoked_at: None,
        };
        assert_eq!(key.status_at(now), KeyStatus::Active);
        key.expires_at = Some(now);
        assert_eq!(key.status_at(now), KeyStatus::Expired);
        assert_eq!(
            key.status_at(now - time::Duration::SECOND),
            KeyStatus::Active
        );
        key.revoked_at = Some(now);
        assert_eq!(key.status_at(now), KeyStatus::Revoked);
        assert_eq!(serde_json::to_value(KeyStatus::Revoked).unwrap(), "revoked");
        assert_eq!(KeyStatus::Expired.as_str(), "expired");
    }

    #[test]
    fn token_round_trip() {
        let t = ApiKeyToken::new(KeyId::new(), "abcdefghijklmnopqrstuvwxyz012345".into());
        let s = t.expose();
        assert!(s.starts_with("cs_key_"));
        let back = ApiKeyToken::parse(&s).unwrap();
        assert_eq!(back, t);
        assert!(!format!("{back:?}").contains("abcdefgh"));
    }

    #[test]
    fn malformed_tokens() {
        let id = KeyId::new();
        for bad in [
            String::new(),
            "cs_".into(),
            format!("{id}_abcdefghijklmnop"),
            format!("cs_{id}"),
            format!("cs_{id}_short"),
            format!("cs_{id}_abcdefghijklmnop!"),
            format!("cs_{}_abcdefghijklmnopq", crate::id::JobId::new()),
            "cs_key_é".into(),
        ] {
            assert!(ApiKeyToken::parse(&bad).is_none(), "{bad:?} accepted");
        }
    }
}
