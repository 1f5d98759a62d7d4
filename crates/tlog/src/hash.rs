//! RFC 6962 / RFC 9162 hashing: `leaf = SHA-256(0x00 || bytes)`, `node = SHA-256(0x01 || l ||
//! r)`, and the root of a tree of `n` leaves, computed in one pass with a compact range.

use base64::prelude::*;

use crate::error::TlogError;

/// A 32-byte SHA-256 hash; displays as standard base64.
pub use tlog_tiles::Hash;

/// Bytes in a hash.
pub const HASH_SIZE: usize = tlog_tiles::HASH_SIZE;

/// The leaf hash of `leaf`: `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    tlog_tiles::record_hash(leaf)
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    tlog_tiles::node_hash(*left, *right)
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    tlog_tiles::EMPTY_HASH
}

/// A hash from its standard base64 form; anything but 32 bytes is refused.
pub fn parse_hash(b64: &str) -> Result<Hash, TlogError> {
    let bytes = BASE64_STANDARD
        .decode(b64)
        .map_err(|e| TlogError::MalformedHash(format!("`{b64}`: {e}")))?;
    hash_from_bytes(&bytes)
}

/// A hash from raw bytes; anything but 32 bytes is refused.
pub fn hash_from_bytes(bytes: &[u8]) -> Result<Hash, TlogError> {
    let array: [u8; HASH_SIZE] = bytes.try_into().map_err(|_| {
        TlogError::MalformedHash(format!("{} bytes, expected {HASH_SIZE}", bytes.len()))
    })?;
    Ok(Hash(array))
}

/// The root of the tree whose leaf hashes are `leaf_hashes`, in order.
pub fn root_from_leaf_hashes(leaf_hashes: &[Hash]) -> Hash {
    let mut builder = RootBuilder::new();
    for h in leaf_hashes {
        builder.push(*h);
    }
    builder.root()
}

/// The root of a growing tree, one leaf hash at a time, in `O(log n)` memory: the roots of
/// the perfect subtrees that make up the tree so far (a compact range from 0).
///
/// This is what an offline verifier uses to recompute a checkpoint's root from an exported
/// range without holding it in memory.
#[derive(Debug, Clone, Default)]
pub struct RootBuilder {
    size: u64,
    /// Perfect subtree roots, largest (leftmost) first.
    stack: Vec<Hash>,
}

impl RootBuilder {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append one leaf hash.
    pub fn push(&mut self, leaf_hash: Hash) {
        self.stack.push(leaf_hash);
        self.size += 1;
        // Each trailing zero bit of the new size closes one more perfect subtree.
        let mut n = self.size;
        while n & 1 == 0 {
            let right = self.stack.pop().expect("a closed subtree has two halves");
            let left = self.stack.pop().expect("a closed subtree has two halves");
            self.stack.push(node_hash(&left, &right));
            n >>= 1;
        }
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root of the leaves so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |right, left| node_hash(left, &right))
    }
}
