//! The leaf of an audit event: the RFC 8785 canonical JSON of the event exactly as `GET
//! /api/v1/audit/{event_id}` serves it. An export line carries `leaf_index` beside the event;
//! the leaf excludes it.

use countersign_domain::audit::AuditEvent;
use countersign_domain::canonical::{write_canonical, BorrowedObject};

/// An event parsed borrowed from its JSON text, for [`write_borrowed_leaf`]: a repeated key
/// is refused.
pub use countersign_domain::canonical::BorrowedValue;

use crate::hash::Hash;

/// The member an export line adds to a sequenced event, not part of its leaf.
pub const LEAF_INDEX_FIELD: &str = "leaf_index";

/// The leaf bytes of `event`.
pub fn event_leaf(event: &AuditEvent) -> Vec<u8> {
    event.canonical()
}

/// The leaf bytes of an event as JSON (an API answer or an export line): its canonical JSON,
/// without `leaf_index`. Whatever else the object holds is hashed as it is, so a changed,
/// added or removed member changes the leaf.
pub fn json_leaf(event: serde_json::Value) -> Vec<u8> {
    let mut leaf = Vec::with_capacity(512);
    write_json_leaf(event, &mut leaf);
    leaf
}

/// [`json_leaf`], appended to `out`: a caller computing many leaves reuses one buffer.
pub fn write_json_leaf(mut event: serde_json::Value, out: &mut Vec<u8>) {
    if let Some(object) = event.as_object_mut() {
        object.remove(LEAF_INDEX_FIELD);
    }
    write_canonical(&event, out);
}

/// [`write_json_leaf`] for an event parsed borrowed from its text (an export line, see
/// [`BorrowedObject`]): the same bytes, without building an owned value.
pub fn write_borrowed_leaf(mut event: BorrowedObject<'_>, out: &mut Vec<u8>) {
    event.remove(LEAF_INDEX_FIELD);
    event.write_canonical(out);
}

/// The leaf hash of `event` ([`AuditEvent::leaf_hash`], the one stores keep beside it).
pub fn event_leaf_hash(event: &AuditEvent) -> Hash {
    Hash(event.leaf_hash())
}
