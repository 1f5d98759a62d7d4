//! The transparency log's cryptographic core: everything the sequencer, the API and the offline
//! verifier compute, with no storage, runtime or HTTP.
//!
//! - [`hash`] — RFC 6962 / RFC 9162 leaf and node hashes, tree roots ([`RootBuilder`]).
//! - [`proof`] — inclusion and consistency proofs: verification, and generation from any
//!   [`HashReader`].
//! - [`range`] — range proofs: a run of leaves is exactly the log's content there.
//! - [`memory`] — [`MemoryLog`], a whole log's stored hashes in memory (tests, offline checks).
//! - [`tile`] — C2SP `tlog-tiles` coordinates (height 8) and their index paths.
//! - [`bundle`] — entry bundles: each leaf as a 2-byte big-endian length and its bytes.
//! - [`tiled`] — proofs from stored tiles, authenticated against a root, and
//!   [`integrate`](tiled::integrate): append leaves to a tiled log and get the tiles to store.
//! - [`checkpoint`] — the C2SP `tlog-checkpoint` body.
//! - [`note`] — C2SP `signed-note` with Ed25519: signer and verifier keys, signing and opening
//!   checkpoints.
//! - [`tlog_proof`] — C2SP `tlog-proof`: index, inclusion proof and signed checkpoint in one
//!   text, verified offline with only the verifier key.
//! - [`leaf`] — the leaf of an audit event: its RFC 8785 canonical JSON.
//! - [`export_range`] — an exported range verified offline, streaming: its lines are exactly
//!   the log's leaves `[first, last]`, or the first one that is not is named.
//!
//! Hashing, proofs and tiles are those of `tlog_tiles` (a port of Go's `sumdb/tlog`); notes are
//! `signed_note`'s. This crate fixes the parameters the contract chooses (tile height 8, Ed25519,
//! origin = key name), uses C2SP's tile paths, and adds what they leave out.

pub mod bundle;
pub mod checkpoint;
pub mod error;
pub mod export_range;
pub mod hash;
pub mod leaf;
pub mod memory;
pub mod note;
pub mod proof;
pub mod range;
pub mod tile;
pub mod tiled;
pub mod tlog_proof;

pub use checkpoint::Checkpoint;
pub use error::TlogError;
pub use hash::{empty_root, leaf_hash, node_hash, root_from_leaf_hashes, Hash, RootBuilder};
pub use memory::MemoryLog;
pub use note::{LogSigner, LogVerifier};
pub use proof::{verify_consistency, verify_inclusion};
pub use tile::{EntryBundleId, TileId, TILE_HEIGHT, TILE_WIDTH};
pub use tlog_proof::TlogProof;
pub use tlog_tiles::HashReader;
