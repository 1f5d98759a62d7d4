//! The live event stream's reads: broadcast outbox messages in stream order, read outside any
//! transaction, and the wake-ups a backend can push when new messages commit.
//!
//! Stream order is `(xact, seq)`: the writing transaction's position, then the message's
//! sequence number. A backend answers only messages that are *settled* — no transaction that
//! could still commit a message before them is running — so the set of messages before any
//! position a reader has reached never grows: resuming after a message loses nothing and
//! repeats nothing. (On a backend whose writers take turns, `seq` alone is commit order and
//! every visible message is settled.)

use countersign_domain::MessageId;

/// A place in the stream: just after the message at `(xact, seq)`. The default is before
/// every message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamPosition {
    /// The writing transaction's position (0 where writers take turns).
    pub xact: i64,
    pub seq: i64,
}

/// One broadcast outbox message, as the stream sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMessage {
    pub position: StreamPosition,
    pub id: MessageId,
    /// The event type (`approval.requested`, …).
    pub event: String,
    /// The standard body `{"type", "timestamp", "data"}`, exactly as webhooks receive it.
    pub body: String,
}

/// One read of the stream after a position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamBatch {
    /// Settled messages after the position, in stream order (at most the limit asked for).
    pub messages: Vec<StreamMessage>,
    /// Committed messages follow that are not settled yet (an older transaction is still
    /// running): read again shortly, they will not be announced again.
    pub held_back: bool,
}
