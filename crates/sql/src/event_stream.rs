//! The live event stream's reads over `outbox_messages`, outside any transaction (see
//! `countersign_store::events`): stream order is `(xact_id, seq)`, and a message is answered
//! only once it is settled, `xact_id` below the dialect's [`Dialect::XACT_HORIZON`].
//!
//! The batch read does not filter on the horizon: it reads the next rows in stream order with
//! the horizon beside them and keeps the settled prefix. Rows past the horizon sort after every
//! settled row (their transactions began after every settled one's), so the prefix is exactly
//! the settled rows, and seeing unsettled ones tells the reader to look again soon.

use countersign_domain::MessageId;
use countersign_store::{StoreResult, StreamBatch, StreamMessage, StreamPosition};

use crate::dialect::Dialect;
use crate::sql::{Conn, Sql};

/// Up to `limit` settled broadcast messages after `after`, in stream order.
pub(crate) async fn stream_messages<D: Dialect>(
    conn: &mut Conn<D>,
    after: StreamPosition,
    limit: u32,
) -> StoreResult<StreamBatch> {
    let rows = Sql::<D>::new(format!(
        "SELECT xact_id, seq, id, event, body, {} AS horizon FROM outbox_messages \
         WHERE (xact_id, seq) > ($1, $2) AND webhook_id IS NULL \
         ORDER BY xact_id, seq LIMIT $3",
        D::XACT_HORIZON
    ))
    .arg(after.xact)
    .arg(after.seq)
    .arg(i64::from(limit))
    .fetch_all(conn, |r| {
        let horizon: i64 = r.get("outbox_messages.horizon")?;
        let message = StreamMessage {
            position: StreamPosition {
                xact: r.get("outbox_messages.xact_id")?,
                seq: r.get("outbox_messages.seq")?,
            },
            id: r.parse("outbox_messages.id")?,
            event: r.text("outbox_messages.event")?,
            body: r.text("outbox_messages.body")?,
        };
        Ok((message, horizon))
    })
    .await?;
    let mut batch = StreamBatch::default();
    for (message, horizon) in rows {
        if message.position.xact >= horizon {
            batch.held_back = true;
            break;
        }
        batch.messages.push(message);
    }
    Ok(batch)
}

/// The position of message `id`.
pub(crate) async fn stream_position<D: Dialect>(
    conn: &mut Conn<D>,
    id: MessageId,
) -> StoreResult<Option<StreamPosition>> {
    Sql::<D>::new("SELECT xact_id, seq FROM outbox_messages WHERE id = $1")
        .arg(id.to_string())
        .fetch_optional(conn, position)
        .await
}

/// The position of the last settled message (the start if there is none).
pub(crate) async fn stream_head<D: Dialect>(conn: &mut Conn<D>) -> StoreResult<StreamPosition> {
    Ok(Sql::<D>::new(format!(
        "SELECT xact_id, seq FROM outbox_messages WHERE xact_id < {} \
         ORDER BY xact_id DESC, seq DESC LIMIT 1",
        D::XACT_HORIZON
    ))
    .fetch_optional(conn, position)
    .await?
    .unwrap_or_default())
}

fn position<D: Dialect>(r: &crate::Cols<'_, D>) -> StoreResult<StreamPosition> {
    Ok(StreamPosition {
        xact: r.get("outbox_messages.xact_id")?,
        seq: r.get("outbox_messages.seq")?,
    })
}
