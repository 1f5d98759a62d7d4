//! Inclusion and consistency proofs (RFC 6962 §2.1.1–2.1.2, RFC 9162 §2.1.3–2.1.4): verifying
//! them, generating them from any [`HashReader`], and their base64 wire form.
//!
//! A verifier trusts nothing in a proof: every hash must be exactly 32 bytes, the proof must
//! have exactly the length its sizes call for, and the root it implies must be the one given.

use base64::prelude::*;
use tlog_tiles::HashReader;

use crate::error::TlogError;
use crate::hash::{empty_root, parse_hash, Hash};

/// Longest proof of any tree of at most 2^64 leaves (one hash per level, plus one).
const MAX_PROOF_LEN: usize = 65;

/// Check that `proof` shows the leaf with hash `leaf_hash` at `index` in the tree of `size`
/// leaves whose root is `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    root: &Hash,
    proof: &[Hash],
) -> Result<(), TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(TlogError::InvalidProof);
    }
    tlog_tiles::check_record(&proof.to_vec(), size, *root, index, *leaf_hash)
        .map_err(|_| TlogError::InvalidProof)
}

/// Check that `proof` shows the tree of `old_size` leaves with root `old_root` is a prefix of
/// the tree of `new_size` leaves with root `new_root`.
///
/// The empty tree is a prefix of every tree: its proof is empty and its root `SHA-256("")`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), TlogError> {
    if old_size > new_size {
        return Err(TlogError::SizeOutOfRange {
            size: old_size,
            reason: "the old tree is larger than the new one",
        });
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(TlogError::InvalidProof);
    }
    if old_size == 0 {
        return if proof.is_empty() && *old_root == empty_root() {
            Ok(())
        } else {
            Err(TlogError::InvalidProof)
        };
    }
    tlog_tiles::check_tree(&proof.to_vec(), new_size, *new_root, old_size, *old_root)
        .map_err(|_| TlogError::InvalidProof)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, from `reader`'s hashes.
pub fn inclusion_proof<R: HashReader>(
    reader: &R,
    size: u64,
    index: u64,
) -> Result<Vec<Hash>, TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    tlog_tiles::prove_record(size, index, reader).map_err(reader_error)
}

/// The consistency proof from the tree of `old_size` leaves to the tree of `new_size` leaves,
/// from `reader`'s hashes. Empty when `old_size` is 0 or equals `new_size`.
pub fn consistency_proof<R: HashReader>(
    reader: &R,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, TlogError> {
    if old_size > new_size {
        return Err(TlogError::SizeOutOfRange {
            size: old_size,
            reason: "the old tree is larger than the new one",
        });
    }
    if old_size == 0 {
        return Ok(Vec::new());
    }
    tlog_tiles::prove_tree(new_size, old_size, reader).map_err(reader_error)
}

/// The root of the tree of `size` leaves, from `reader`'s hashes.
pub fn tree_root<R: HashReader>(reader: &R, size: u64) -> Result<Hash, TlogError> {
    tlog_tiles::tree_hash(size, reader).map_err(reader_error)
}

/// A proof as the API sends it: each hash in standard base64.
pub fn encode_proof(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(|h| BASE64_STANDARD.encode(h.0)).collect()
}

/// A proof from its wire form; a hash that is not the base64 of 32 bytes is refused.
pub fn decode_proof<S: AsRef<str>>(proof: &[S]) -> Result<Vec<Hash>, TlogError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(TlogError::InvalidProof);
    }
    proof.iter().map(|s| parse_hash(s.as_ref())).collect()
}

pub(crate) fn reader_error(e: tlog_tiles::Error) -> TlogError {
    match e {
        tlog_tiles::Error::InconsistentTile => {
            TlogError::Tiles("stored tiles do not hash to the trusted root".into())
        }
        tlog_tiles::Error::IndexesNotInTree => TlogError::SizeOutOfRange {
            size: 0,
            reason: "a hash past the end of the stored tree was needed",
        },
        other => TlogError::Tiles(other.to_string()),
    }
}
