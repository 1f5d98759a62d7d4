//! The transparency log's storage: the queue of events waiting to be sequenced, the leaves
//! (event → leaf index), the hash tiles, the sequenced tree's head and the signed checkpoints.
//!
//! Hashes travel as raw bytes; what they mean (RFC 6962 leaf and node hashes, C2SP tiles) is
//! the `countersign-tlog` crate's business, not the store's. The sequencer does one batch in
//! one transaction: [`LogRepo::lead_log`], read the head, take the first queued events
//! ([`LogRepo::log_queue`]: positions, ids and the leaf hashes their writers stored), read the
//! bodies of any queued without a hash ([`LogRepo::log_events`]), append their leaves, store
//! the grown tiles, advance the head, drop the queued rows, maybe add a checkpoint, commit.
//! Every append stores each event's leaf hash beside it (`AuditEvent::leaf_hash`), and the
//! database's queue trigger copies it into the queue in the same transaction. Leaves,
//! checkpoints and full tiles are append-only in the database.

use async_trait::async_trait;
use countersign_domain::{AuditEvent, EventId};
use time::OffsetDateTime;

use crate::error::StoreResult;

/// The tree the sequencer has built: its size and root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    pub size: u64,
    pub root: [u8; 32],
}

/// A stored hash tile: `width` hashes of level `level`, starting at hash `256 · index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTile {
    pub level: u8,
    pub index: u64,
    pub width: u32,
    /// `32 · width` bytes.
    pub hashes: Vec<u8>,
}

/// A signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: [u8; 32],
    /// The C2SP signed note, exactly as served.
    pub note: String,
    pub created_at: OffsetDateTime,
}

/// An event waiting in the log's queue: its position there (positions grow in the order
/// events are queued; a transaction that commits late holds lower positions than events
/// queued and committed after it) and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedEvent {
    pub position: u64,
    pub event_id: EventId,
    /// Its leaf hash as its writer computed it ([`AuditEvent::leaf_hash`]); `None` for an event
    /// stored without one (before the column existed), whose body the sequencer hashes itself.
    pub leaf_hash: Option<[u8; 32]>,
}

/// A sequenced event: its leaf index and the event as stored now.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafEvent {
    pub index: u64,
    pub event: AuditEvent,
}

#[async_trait]
pub trait LogRepo {
    /// Take the sequencer's turn for this transaction: `true` when no other transaction can
    /// sequence until this one ends (held to commit or rollback), `false` when another one
    /// holds the turn now. Never waits.
    async fn lead_log(&mut self) -> StoreResult<bool>;

    /// The sequenced tree, locked for update.
    async fn log_head(&mut self) -> StoreResult<LogHead>;

    /// Move the head from `old_size` to `head`; `false` (nothing written) when the stored
    /// size is no longer `old_size`.
    async fn advance_log_head(
        &mut self,
        old_size: u64,
        head: &LogHead,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// Up to `limit` events waiting to be sequenced, in the order they were queued: their
    /// queue positions and ids.
    async fn log_queue(&mut self, limit: u32) -> StoreResult<Vec<QueuedEvent>>;

    /// The stored events with these ids, in the order asked (an id not stored is left out).
    async fn log_events(&mut self, ids: &[EventId]) -> StoreResult<Vec<AuditEvent>>;

    /// Events waiting to be sequenced, counted.
    async fn pending_log_count(&mut self) -> StoreResult<u64>;

    /// Remove these events from the queue (they have just been sequenced), by position.
    async fn remove_pending_log_events(&mut self, events: &[QueuedEvent]) -> StoreResult<()>;

    /// Record `events` as leaves `first_index`, `first_index + 1`, …, in order.
    async fn append_log_leaves(&mut self, first_index: u64, events: &[EventId]) -> StoreResult<()>;

    /// Store tiles that are new or wider than the stored ones (a stored tile only grows).
    async fn put_log_tiles(&mut self, tiles: &[StoredTile]) -> StoreResult<()>;

    /// The stored tiles at these `(level, index)` coordinates, each at its stored width; the
    /// missing ones are left out.
    async fn log_tiles(&mut self, coordinates: &[(u8, u64)]) -> StoreResult<Vec<StoredTile>>;

    /// The leaf index of an event, once sequenced.
    async fn log_leaf_index(&mut self, event: EventId) -> StoreResult<Option<u64>>;

    /// The events at leaf indexes `start..end` (those stored), in index order.
    async fn log_leaf_events(&mut self, start: u64, end: u64) -> StoreResult<Vec<LeafEvent>>;

    /// Store a signed checkpoint.
    async fn insert_log_checkpoint(&mut self, checkpoint: &StoredCheckpoint) -> StoreResult<()>;

    /// The checkpoint of the largest tree.
    async fn latest_log_checkpoint(&mut self) -> StoreResult<Option<StoredCheckpoint>>;

    /// The checkpoint of the tree of `size` leaves, if one was signed.
    async fn log_checkpoint_at(&mut self, size: u64) -> StoreResult<Option<StoredCheckpoint>>;
}
