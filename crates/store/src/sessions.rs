//! Console sessions. Only the SHA-256 of a session token is ever stored.

use async_trait::async_trait;
use countersign_domain::{ConsoleSession, SessionEnd};
use time::OffsetDateTime;

use crate::error::StoreResult;

#[async_trait]
pub trait SessionRepo {
    /// Insert an open session with the hash of its token. A missing principal or key is
    /// `ForeignKey`.
    async fn insert_session(
        &mut self,
        session: &ConsoleSession,
        token_hash: &[u8],
    ) -> StoreResult<()>;

    /// Compare-and-set: the open session whose token hashes to `token_hash`, if it was last
    /// seen after `idle_since`, now seen at `now`. `None` if there is none, it has ended, or
    /// it has been idle since `idle_since` or longer.
    async fn touch_session(
        &mut self,
        token_hash: &[u8],
        now: OffsetDateTime,
        idle_since: OffsetDateTime,
    ) -> StoreResult<Option<ConsoleSession>>;

    /// Compare-and-set: end the open session whose token hashes to `token_hash`. `None` if
    /// there is none or it has already ended.
    async fn end_session(
        &mut self,
        token_hash: &[u8],
        at: OffsetDateTime,
        reason: SessionEnd,
    ) -> StoreResult<Option<ConsoleSession>>;
}
