//! Console sessions: a person signed in to the browser console with one of their API keys.
//!
//! A session is a server-side record; the browser holds only its token (a cookie), and the
//! store keeps only the token's hash. A session acts through the key it was opened with, so it
//! can never do more than that key, and it ends once: signed out, or idle past the timeout.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::id::{KeyId, PrincipalId, SessionId};
use crate::validation::ValidationError;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionEnd {
    /// The person signed out.
    SignedOut,
    /// No page was asked for within the idle timeout.
    Idle,
}

impl SessionEnd {
    pub const fn as_str(self) -> &'static str {
        match self {
            SessionEnd::SignedOut => "signed_out",
            SessionEnd::Idle => "idle",
        }
    }
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionEnd {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "signed_out" => Ok(SessionEnd::SignedOut),
            "idle" => Ok(SessionEnd::Idle),
            other => Err(ValidationError::new(
                "end_reason",
                format!("unknown session end `{other}` (signed_out, idle)"),
            )),
        }
    }
}

/// One console session (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id: SessionId,
    pub principal_id: PrincipalId,
    /// The key the person signed in with; the session acts through it.
    pub key_id: KeyId,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
    pub end_reason: Option<SessionEnd>,
}
