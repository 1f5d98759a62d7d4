//! Transparency log wire types: an event's inclusion proof and a consistency proof, as JSON.
//! (The checkpoint, the key, tiles and the `tlog-proof` text are served as the C2SP formats
//! themselves.)

use serde::{Deserialize, Serialize};

/// `GET /api/v1/audit/{event_id}/proof`: the event's leaf index, its inclusion proof in the
/// tree of `tree_size` leaves, and that tree's signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Base64 hashes, from the leaf's sibling up.
    pub inclusion_proof: Vec<String>,
    /// The C2SP signed note of the tree of `tree_size` leaves.
    pub checkpoint: String,
}

/// `GET /api/v1/log/consistency?old=M&new=N`: the proof that the tree of `new` leaves extends
/// the tree of `old` leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyProof {
    pub old: u64,
    pub new: u64,
    /// Base64 hashes (RFC 6962 order).
    pub proof: Vec<String>,
}
