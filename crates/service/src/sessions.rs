//! Console sessions: signing in with an API key, the caller a session stands for, signing
//! out, and each session's CSRF token.
//!
//! A session token is 256 random bits, handed to the browser once (as a cookie) and stored
//! only as its SHA-256, like a key's secret. A session acts through the key it was opened
//! with: every lookup reads that key, its principal and their roles afresh and passes the very
//! checks an API key passes ([`crate::auth::caller_of`]), so a session resolves to the same
//! [`Caller`] the key would, and every page reaches the same use cases with the same rules.
//!
//! Each lookup is a compare-and-set on the open session (`last_seen_at` moves forward only
//! while it is within the idle timeout); a session found idle is ended there and then, and
//! audited as `session.ended` with `details.reason = "idle"`. Signing in writes
//! `session.created`, signing out `session.ended` (`"signed_out"`); a refused sign-in is an
//! `auth.denied` event, written by the edge with its flood control like any other anonymous
//! refusal.
//!
//! The CSRF token of a session is derived from its token (SHA-256 under a fixed label), so it
//! is per session, needs no storage, and cannot be computed without the session's cookie.

use std::fmt;

use countersign_domain::audit::actions;
use countersign_domain::{
    clock, Actor, AuditEvent, Category, ConsoleSession, Resource, SessionEnd, SessionId,
};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::caller_of;
use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::jobs::release;
use crate::service::Service;

/// The label under which a session's CSRF token is derived from its token.
const CSRF_LABEL: &[u8] = b"countersign console csrf v1\0";

/// A session token: 64 lower-case hex characters (256 random bits). `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

impl SessionToken {
    /// A new random token: a session's, or the sign-in form's (whose CSRF token is derived
    /// from it the same way, before any session exists).
    pub fn mint() -> Self {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// A token as the browser sent it; `None` unless it has the minted form.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(text.to_owned()))
    }

    /// The token itself, for the cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// The CSRF token every form of this session carries.
    pub fn csrf_token(&self) -> String {
        let mut h = Sha256::new();
        h.update(CSRF_LABEL);
        h.update(self.0.as_bytes());
        hex::encode(h.finalize())
    }

    /// Whether `presented` is this session's CSRF token, compared in constant time.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(self.csrf_token().as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// A session just opened: the token (its only appearance), the session and its caller.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: SessionToken,
    pub session: ConsoleSession,
    pub caller: Caller,
}

fn session_resource(id: SessionId) -> Resource {
    Resource::new("session", id)
}

impl Service {
    /// Sign in to the console with an API key: a new session acting through that key.
    /// A key that does not authenticate is `Unauthenticated` (the edge audits the refusal).
    pub async fn sign_in(
        &self,
        api_key: &str,
        request_id: Option<String>,
    ) -> ServiceResult<SignedIn> {
        let caller = self
            .authenticate(api_key)
            .await?
            .with_request_id(request_id);
        let key_id = caller
            .key_id
            .ok_or_else(|| ServiceError::Internal("an authenticated key has no id".into()))?;
        let token = SessionToken::mint();
        let now = clock::now();
        let session = ConsoleSession {
            id: SessionId::new(),
            principal_id: caller.id(),
            key_id,
            created_at: now,
            last_seen_at: now,
            ended_at: None,
            end_reason: None,
        };
        let event = AuditEvent::new(
            Category::Auth,
            actions::SESSION_CREATED,
            caller.actor(),
            session_resource(session.id),
        )
        .request_id(caller.request_id())
        .details(json!({
            "principal_id": caller.id(),
            "principal_name": caller.principal.name.as_str(),
            "key_id": key_id,
            "idle_timeout_secs": self.config.session_idle_timeout.as_secs(),
        }));
        let mut tx = self.begin().await?;
        tx.insert_session(&session, &token.hash()).await?;
        self.commit_with(tx, std::slice::from_ref(&event)).await?;
        Ok(SignedIn {
            token,
            session,
            caller,
        })
    }

    /// The caller an open console session stands for, marking it seen now. A session idle
    /// past `COUNTERSIGN_SESSION_IDLE_TIMEOUT` is ended (audited) and refused; an unknown or
    /// ended one is refused; so is one whose key or principal would be refused.
    pub async fn session_caller(
        &self,
        token: &SessionToken,
        request_id: Option<String>,
    ) -> ServiceResult<(Caller, ConsoleSession)> {
        let hash = token.hash();
        let now = clock::now();
        let idle = time::Duration::try_from(self.config.session_idle_timeout)
            .unwrap_or(time::Duration::MAX);
        let idle_since = now.checked_sub(idle).unwrap_or(now);
        let mut tx = self.begin().await?;
        if let Some(session) = tx.touch_session(&hash, now, idle_since).await? {
            tx.commit().await?;
            let record = self
                .store
                .key_auth_record(session.key_id)
                .await?
                .ok_or(ServiceError::Unauthenticated("unknown API key"))?;
            let caller = caller_of(record)?.with_request_id(request_id);
            return Ok((caller, session));
        }
        let Some(ended) = tx.end_session(&hash, now, SessionEnd::Idle).await? else {
            release(tx).await;
            return Err(ServiceError::Unauthenticated(
                "unknown or ended console session",
            ));
        };
        let actor = match tx.get_principal(ended.principal_id).await? {
            Some(p) => Actor::principal(&p, Some(ended.key_id)),
            None => Actor::anonymous(),
        };
        let event = ended_event(&ended, actor, request_id.as_deref());
        self.commit_with(tx, std::slice::from_ref(&event)).await?;
        Err(ServiceError::Unauthenticated("console session expired"))
    }

    /// Sign out: end `caller`'s session `token` at once. Signing out of a session that has
    /// already ended changes nothing.
    pub async fn sign_out(&self, caller: &Caller, token: &SessionToken) -> ServiceResult<()> {
        let mut tx = self.begin().await?;
        match tx
            .end_session(&token.hash(), clock::now(), SessionEnd::SignedOut)
            .await?
        {
            Some(ended) if ended.principal_id == caller.id() => {
                let event = ended_event(&ended, caller.actor(), caller.request_id());
                self.commit_with(tx, std::slice::from_ref(&event)).await
            }
            Some(_) => {
                release(tx).await;
                Err(ServiceError::Forbidden(
                    "the session belongs to another principal".into(),
                ))
            }
            None => {
                release(tx).await;
                Ok(())
            }
        }
    }
}

fn ended_event(session: &ConsoleSession, actor: Actor, request_id: Option<&str>) -> AuditEvent {
    AuditEvent::new(
        Category::Auth,
        actions::SESSION_ENDED,
        actor,
        session_resource(session.id),
    )
    .request_id(request_id)
    .details(json!({
        "principal_id": session.principal_id,
        "key_id": session.key_id,
        "reason": session.end_reason.map(SessionEnd::as_str),
        "created_at": session.created_at.format(&time::format_description::well_known::Rfc3339).ok(),
        "last_seen_at": session.last_seen_at.format(&time::format_description::well_known::Rfc3339).ok(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_minted_form() {
        let t = SessionToken::mint();
        assert_eq!(SessionToken::parse(t.expose()), Some(t.clone()));
        assert!(SessionToken::parse("").is_none());
        assert!(SessionToken::parse(&t.expose().to_uppercase()).is_none());
        assert!(SessionToken::parse(&t.expose()[1..]).is_none());
        assert_ne!(SessionToken::mint(), t);
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn csrf_tokens_are_per_session_and_checked_exactly() {
        let (a, b) = (SessionToken::mint(), SessionToken::mint());
        assert!(a.csrf_matches(&a.csrf_token()));
        assert!(!a.csrf_matches(&b.csrf_token()));
        assert!(!a.csrf_matches(""));
        assert!(!a.csrf_matches(&a.csrf_token()[1..]));
        assert_ne!(a.csrf_token(), a.expose());
    }
}
