//! [`LogRepo`]: the transparency log's tables (`log_pending`, `log_leaves`, `log_tiles`,
//! `log_state`, `log_checkpoints`).
//!
//! Bulk writes take one statement per batch: leaves are one `INSERT … SELECT` over the list
//! of event ids bound once (`unnest` on PostgreSQL, `json_each` on SQLite), numbered with
//! `ROW_NUMBER()`; the queue is emptied with one `DELETE` of the batch's positions (the
//! integer primary key, [`Dialect::INT_IN_LIST`], a third of the cost of deleting by event
//! id); tiles are multi-row upserts that only ever widen a tile (the database refuses
//! anything else). The sequencer's turn is the dialect's [`Dialect::LOG_LEAD`].
//!
//! The batch itself is read from the queue alone ([`LogRepo::log_queue`]: positions, ids and
//! the leaf hashes the writers stored, copied there by the queue trigger); bodies are read
//! ([`LogRepo::log_events`]) only for events queued without a hash.

use async_trait::async_trait;
use countersign_domain::{AuditEvent, EventId};
use countersign_store::{
    LeafEvent, LogHead, LogRepo, QueuedEvent, StoreError, StoreResult, StoredCheckpoint, StoredTile,
};
use time::OffsetDateTime;

use crate::audit::event;
use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::sql::{fill, Sql};
use crate::tx::SqlTransaction;

/// The most tiles one upsert carries (4 parameters each).
const TILE_CHUNK: usize = 1000;
/// The most tile coordinates one read asks for (2 parameters each).
const READ_CHUNK: usize = 500;

fn to_i64(column: &'static str, value: u64) -> StoreResult<i64> {
    i64::try_from(value)
        .map_err(|_| StoreError::Other(format!("{column}: {value} too large").into()))
}

fn to_u64(column: &'static str, value: i64) -> StoreResult<u64> {
    u64::try_from(value)
        .map_err(|_| StoreError::Other(format!("{column}: {value} is negative").into()))
}

fn hash32(column: &'static str, bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
    bytes.try_into().map_err(|b: Vec<u8>| {
        StoreError::Other(format!("{column}: {} bytes, not 32", b.len()).into())
    })
}

fn tile<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<StoredTile> {
    let level: i32 = r.get("log_tiles.level")?;
    let index: i64 = r.get("log_tiles.idx")?;
    let width: i32 = r.get("log_tiles.width")?;
    Ok(StoredTile {
        level: u8::try_from(level)
            .map_err(|_| StoreError::Other(format!("log_tiles.level: {level}").into()))?,
        index: to_u64("log_tiles.idx", index)?,
        width: u32::try_from(width)
            .map_err(|_| StoreError::Other(format!("log_tiles.width: {width}").into()))?,
        hashes: r.get("log_tiles.hashes")?,
    })
}

fn checkpoint<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: to_u64(
            "log_checkpoints.tree_size",
            r.get("log_checkpoints.tree_size")?,
        )?,
        root: hash32("log_checkpoints.root", r.get("log_checkpoints.root")?)?,
        note: r.text("log_checkpoints.note")?,
        created_at: r.time("log_checkpoints.created_at")?,
    })
}

fn queued<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<QueuedEvent> {
    let leaf_hash: Option<Vec<u8>> = r.get("log_pending.leaf_hash")?;
    Ok(QueuedEvent {
        position: to_u64("log_pending.seq", r.get("log_pending.seq")?)?,
        event_id: r.parse("log_pending.event_id")?,
        leaf_hash: leaf_hash
            .map(|h| hash32("log_pending.leaf_hash", h))
            .transpose()?,
    })
}

const CHECKPOINT_COLUMNS: &str = "tree_size, root, note, created_at";

#[async_trait]
impl<D: Dialect> LogRepo for SqlTransaction<D> {
    async fn lead_log(&mut self) -> StoreResult<bool> {
        Sql::<D>::new(D::LOG_LEAD)
            .fetch_optional(self.conn(), |r| r.get::<bool>("log.lead"))
            .await
            .map(|lead| lead.unwrap_or(false))
    }

    async fn log_head(&mut self) -> StoreResult<LogHead> {
        let head = Sql::<D>::new(format!(
            "SELECT tree_size, root FROM log_state WHERE id = 1{}",
            D::FOR_UPDATE
        ))
        .fetch_optional(self.conn(), |r| {
            Ok(LogHead {
                size: to_u64("log_state.tree_size", r.get("log_state.tree_size")?)?,
                root: hash32("log_state.root", r.get("log_state.root")?)?,
            })
        })
        .await?;
        head.ok_or_else(|| StoreError::Other("log_state has no row (migration 0004)".into()))
    }

    async fn advance_log_head(
        &mut self,
        old_size: u64,
        head: &LogHead,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let changed = Sql::<D>::new(
            "UPDATE log_state SET tree_size = $1, root = $2, updated_at = $3 \
             WHERE id = 1 AND tree_size = $4",
        )
        .arg(to_i64("log_state.tree_size", head.size)?)
        .arg(head.root.to_vec())
        .arg(D::encode_time(at))
        .arg(to_i64("log_state.tree_size", old_size)?)
        .execute(self.conn())
        .await?;
        Ok(changed == 1)
    }

    async fn log_queue(&mut self, limit: u32) -> StoreResult<Vec<QueuedEvent>> {
        Sql::<D>::new("SELECT seq, event_id, leaf_hash FROM log_pending ORDER BY seq LIMIT $1")
            .arg(i64::from(limit))
            .fetch_all(self.conn(), queued)
            .await
    }

    async fn log_events(&mut self, ids: &[EventId]) -> StoreResult<Vec<AuditEvent>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Sql::<D>::new(
            "SELECT event_id, CAST(body AS TEXT) AS body FROM audit_events WHERE event_id ",
        );
        let list = q.param(D::encode_list(
            ids.iter().map(ToString::to_string).collect(),
        ));
        q.push(&fill(D::IN_LIST, &[("list", &list)]));
        let mut found: std::collections::HashMap<EventId, AuditEvent> = q
            .once()
            .fetch_all(self.conn(), |r| {
                let e = event(
                    &r.text("audit_events.event_id")?,
                    &r.text("audit_events.body")?,
                )?;
                Ok((e.event_id, e))
            })
            .await?
            .into_iter()
            .collect();
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    async fn pending_log_count(&mut self) -> StoreResult<u64> {
        let n: i64 = Sql::<D>::new("SELECT COUNT(*) AS n FROM log_pending")
            .fetch_optional(self.conn(), |r| r.get("log_pending.n"))
            .await?
            .unwrap_or(0);
        to_u64("log_pending.n", n)
    }

    async fn remove_pending_log_events(&mut self, events: &[QueuedEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut q = Sql::<D>::new("DELETE FROM log_pending WHERE seq ");
        let list = q.param(D::encode_list(
            events.iter().map(|e| e.position.to_string()).collect(),
        ));
        q.push(&fill(D::INT_IN_LIST, &[("list", &list)]));
        let removed = q.once().execute(self.conn()).await?;
        if removed != events.len() as u64 {
            return Err(StoreError::Other(
                format!("{removed} of {} queued events removed", events.len()).into(),
            ));
        }
        Ok(())
    }

    async fn append_log_leaves(&mut self, first_index: u64, events: &[EventId]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut q = Sql::<D>::new("INSERT INTO log_leaves (leaf_index, event_id) SELECT ");
        q.bind(to_i64("log_leaves.leaf_index", first_index)?);
        let list = q.param(D::encode_list(
            events.iter().map(ToString::to_string).collect(),
        ));
        q.push(&format!(
            " + ROW_NUMBER() OVER (ORDER BY x.ord) - 1, x.value FROM {}",
            fill(D::LIST_TABLE, &[("list", &list)])
        ));
        let inserted = q.once().execute(self.conn()).await?;
        if inserted != events.len() as u64 {
            return Err(StoreError::Other(
                format!("{inserted} of {} leaves stored", events.len()).into(),
            ));
        }
        Ok(())
    }

    async fn put_log_tiles(&mut self, tiles: &[StoredTile]) -> StoreResult<()> {
        for chunk in tiles.chunks(TILE_CHUNK) {
            let mut q = Sql::<D>::new("INSERT INTO log_tiles (level, idx, width, hashes) VALUES ");
            for (i, t) in chunk.iter().enumerate() {
                q.push(if i == 0 { "(" } else { ", (" });
                q.bind(i32::from(t.level)).push(", ");
                q.bind(to_i64("log_tiles.idx", t.index)?).push(", ");
                q.bind(i32::try_from(t.width).unwrap_or(i32::MAX))
                    .push(", ");
                q.bind(t.hashes.clone()).push(")");
            }
            q.push(
                " ON CONFLICT (level, idx) DO UPDATE SET width = excluded.width, \
                 hashes = excluded.hashes WHERE log_tiles.width < excluded.width",
            );
            q.once().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn log_tiles(&mut self, coordinates: &[(u8, u64)]) -> StoreResult<Vec<StoredTile>> {
        let mut out = Vec::with_capacity(coordinates.len());
        for chunk in coordinates.chunks(READ_CHUNK) {
            let mut q = Sql::<D>::new("SELECT level, idx, width, hashes FROM log_tiles WHERE ");
            for (i, (level, index)) in chunk.iter().enumerate() {
                q.push(if i == 0 { "(level = " } else { " OR (level = " });
                q.bind(i32::from(*level)).push(" AND idx = ");
                q.bind(to_i64("log_tiles.idx", *index)?).push(")");
            }
            out.extend(q.once().fetch_all(self.conn(), tile).await?);
        }
        Ok(out)
    }

    async fn log_leaf_index(&mut self, event_id: EventId) -> StoreResult<Option<u64>> {
        let index: Option<i64> =
            Sql::<D>::new("SELECT leaf_index FROM log_leaves WHERE event_id = $1")
                .arg(event_id.to_string())
                .fetch_optional(self.conn(), |r| r.get("log_leaves.leaf_index"))
                .await?;
        index
            .map(|i| to_u64("log_leaves.leaf_index", i))
            .transpose()
    }

    async fn log_leaf_events(&mut self, start: u64, end: u64) -> StoreResult<Vec<LeafEvent>> {
        if end <= start {
            return Ok(Vec::new());
        }
        Sql::<D>::new(
            "SELECT l.leaf_index, a.event_id, CAST(a.body AS TEXT) AS body FROM log_leaves l \
             JOIN audit_events a ON a.event_id = l.event_id \
             WHERE l.leaf_index >= $1 AND l.leaf_index < $2 ORDER BY l.leaf_index",
        )
        .arg(to_i64("log_leaves.leaf_index", start)?)
        .arg(to_i64("log_leaves.leaf_index", end)?)
        .fetch_all(self.conn(), |r| {
            Ok(LeafEvent {
                index: to_u64("log_leaves.leaf_index", r.get("log_leaves.leaf_index")?)?,
                event: event(
                    &r.text("audit_events.event_id")?,
                    &r.text("audit_events.body")?,
                )?,
            })
        })
        .await
    }

    async fn insert_log_checkpoint(&mut self, checkpoint: &StoredCheckpoint) -> StoreResult<()> {
        Sql::<D>::new(
            "INSERT INTO log_checkpoints (tree_size, root, note, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .arg(to_i64("log_checkpoints.tree_size", checkpoint.size)?)
        .arg(checkpoint.root.to_vec())
        .arg(checkpoint.note.clone())
        .arg(D::encode_time(checkpoint.created_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn latest_log_checkpoint(&mut self) -> StoreResult<Option<StoredCheckpoint>> {
        Sql::<D>::new(format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1"
        ))
        .fetch_optional(self.conn(), checkpoint)
        .await
    }

    async fn log_checkpoint_at(&mut self, size: u64) -> StoreResult<Option<StoredCheckpoint>> {
        Sql::<D>::new(format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM log_checkpoints WHERE tree_size = $1"
        ))
        .arg(to_i64("log_checkpoints.tree_size", size)?)
        .fetch_optional(self.conn(), checkpoint)
        .await
    }
}
