//! LISTEN on `countersign_outbox`: each committed outbox message is announced by migration
//! 0006's trigger (`pg_notify` with the message's `seq`), and this stream turns the
//! announcements into wake-ups for the event stream and the scheduler's delivery loop.
//!
//! One listener holds one pooled connection. sqlx's `PgListener` reconnects by itself when
//! the connection drops; notifications sent while it was away are lost, so a reconnect is
//! itself answered with a wake-up (readers then read the table, which loses nothing). An error
//! (the pool closed, the database unreachable) ends the stream after yielding it; the caller
//! opens a new one when it wants to.

use countersign_sql::DriverResults;
use countersign_store::StoreResult;
use futures::stream::{self, BoxStream, StreamExt};
use sqlx::postgres::PgListener;
use sqlx::PgPool;

use crate::PgDialect;

/// The channel migration 0006's trigger notifies.
pub const OUTBOX_CHANNEL: &str = "countersign_outbox";

/// The state of a wake-up stream.
enum Listen {
    /// Not connected yet.
    Start(PgPool),
    /// Listening.
    On(Box<PgListener>),
    /// Ended after an error.
    Done,
}

/// A wake-up per notification on [`OUTBOX_CHANNEL`], and one after every reconnect.
pub fn outbox_wakeups(pool: PgPool) -> BoxStream<'static, StoreResult<()>> {
    stream::unfold(Listen::Start(pool), |state| async move {
        let mut listener = match state {
            Listen::Start(pool) => match connect(&pool).await {
                // Messages may have committed before LISTEN took effect: look once.
                Ok(listener) => return Some((Ok(()), Listen::On(Box::new(listener)))),
                Err(e) => return Some((Err(e), Listen::Done)),
            },
            Listen::On(listener) => listener,
            Listen::Done => return None,
        };
        // `None`: the connection was lost and will be re-established (LISTEN included) on
        // the next call; anything sent meanwhile is gone, so that too is a wake-up.
        match listener.try_recv().await {
            Ok(_) => Some((Ok(()), Listen::On(listener))),
            Err(e) => Some((Err(PgDialect::map_error(e)), Listen::Done)),
        }
    })
    .boxed()
}

async fn connect(pool: &PgPool) -> StoreResult<PgListener> {
    let mut listener = PgListener::connect_with(pool)
        .await
        .map_err(PgDialect::map_error)?;
    listener
        .listen(OUTBOX_CHANNEL)
        .await
        .map_err(PgDialect::map_error)?;
    Ok(listener)
}
