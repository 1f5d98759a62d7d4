//! [`SessionRepo`]: `console_sessions`. Sessions are found by the hash of their token (a
//! unique index); activity and the end are compare-and-sets on an open session, so a session
//! that has ended, or has been idle too long, is never brought back.

use async_trait::async_trait;
use countersign_domain::{ConsoleSession, SessionEnd};
use countersign_store::{SessionRepo, StoreResult};
use time::OffsetDateTime;

use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::sql::Sql;
use crate::tx::SqlTransaction;

/// The columns [`session`] reads.
const SESSION_COLUMNS: &str =
    "id, principal_id, key_id, created_at, last_seen_at, ended_at, end_reason";

fn session<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<ConsoleSession> {
    Ok(ConsoleSession {
        id: r.parse("console_sessions.id")?,
        principal_id: r.parse("console_sessions.principal_id")?,
        key_id: r.parse("console_sessions.key_id")?,
        created_at: r.time("console_sessions.created_at")?,
        last_seen_at: r.time("console_sessions.last_seen_at")?,
        ended_at: r.opt_time("console_sessions.ended_at")?,
        end_reason: r.parse_opt("console_sessions.end_reason")?,
    })
}

#[async_trait]
impl<D: Dialect> SessionRepo for SqlTransaction<D> {
    async fn insert_session(&mut self, s: &ConsoleSession, token_hash: &[u8]) -> StoreResult<()> {
        Sql::<D>::new(
            "INSERT INTO console_sessions (id, token_hash, principal_id, key_id, created_at, \
             last_seen_at, ended_at, end_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .arg(s.id.to_string())
        .arg(token_hash.to_vec())
        .arg(s.principal_id.to_string())
        .arg(s.key_id.to_string())
        .arg(D::encode_time(s.created_at))
        .arg(D::encode_time(s.last_seen_at))
        .arg(s.ended_at.map(D::encode_time))
        .arg(s.end_reason.map(|r| r.as_str().to_owned()))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn touch_session(
        &mut self,
        token_hash: &[u8],
        now: OffsetDateTime,
        idle_since: OffsetDateTime,
    ) -> StoreResult<Option<ConsoleSession>> {
        Sql::<D>::new(format!(
            "UPDATE console_sessions SET last_seen_at = $2 \
             WHERE token_hash = $1 AND ended_at IS NULL AND last_seen_at > $3 \
             RETURNING {SESSION_COLUMNS}"
        ))
        .arg(token_hash.to_vec())
        .arg(D::encode_time(now))
        .arg(D::encode_time(idle_since))
        .fetch_optional(self.conn(), session)
        .await
    }

    async fn end_session(
        &mut self,
        token_hash: &[u8],
        at: OffsetDateTime,
        reason: SessionEnd,
    ) -> StoreResult<Option<ConsoleSession>> {
        // `GREATEST`-free: an end is never recorded before the last activity the row holds.
        Sql::<D>::new(format!(
            "UPDATE console_sessions SET ended_at = $2, end_reason = $3 \
             WHERE token_hash = $1 AND ended_at IS NULL RETURNING {SESSION_COLUMNS}"
        ))
        .arg(token_hash.to_vec())
        .arg(D::encode_time(at))
        .arg(reason.as_str().to_owned())
        .fetch_optional(self.conn(), session)
        .await
    }
}
