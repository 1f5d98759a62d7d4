//! Range proofs: that a run of leaves `[start, end)` is exactly the log's content there — no
//! leaf edited, dropped, added, repeated or moved — against a checkpoint's size and root.
//!
//! A proof is two compact ranges (the perfect subtrees that tile a range, largest aligned block
//! first): the subtree hashes of `[0, start)` and of `[end, size)`. The verifier appends the
//! leaves' hashes between them and folds the whole into the root, streaming, in memory
//! logarithmic in the size. When `start` is 0 and `end` is the size the proof is empty: the
//! leaves alone recompute the root.

use tlog_tiles::HashReader;

use crate::error::TlogError;
use crate::hash::{empty_root, node_hash, Hash};
use crate::proof::reader_error;

/// The compact ranges either side of a run of leaves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RangeProof {
    /// The subtree hashes of `[0, start)`, left to right.
    pub left: Vec<Hash>,
    /// The subtree hashes of `[end, size)`, left to right.
    pub right: Vec<Hash>,
}

/// The perfect subtrees `(level, index)` that tile `[begin, end)`: greedily the largest aligned
/// block at each position, so the left part grows and the right part shrinks.
pub fn decompose(begin: u64, end: u64) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    let mut pos = begin;
    while pos < end {
        let mut level = if pos == 0 { 63 } else { pos.trailing_zeros() };
        while level > 0 && (1u64 << level) > end - pos {
            level -= 1;
        }
        out.push((level as u8, pos >> level));
        pos += 1 << level;
    }
    out
}

/// A compact range `[begin, end)`: the hashes of the perfect subtrees that tile it.
#[derive(Debug, Clone)]
pub struct CompactRange {
    begin: u64,
    end: u64,
    /// `(level, hash)`, left to right.
    hashes: Vec<(u8, Hash)>,
}

impl CompactRange {
    /// The empty range at `begin`.
    pub fn new(begin: u64) -> Self {
        Self {
            begin,
            end: begin,
            hashes: Vec::new(),
        }
    }

    /// The range `[begin, end)` from its subtree hashes (as [`decompose`] lays them out).
    pub fn from_hashes(begin: u64, end: u64, hashes: &[Hash]) -> Result<Self, TlogError> {
        let layout = decompose(begin, end);
        if layout.len() != hashes.len() {
            return Err(TlogError::InvalidProof);
        }
        let mut range = Self::new(begin);
        for ((level, _), h) in layout.iter().zip(hashes) {
            range.push_subtree(*level, *h)?;
        }
        Ok(range)
    }

    /// First leaf index.
    pub fn begin(&self) -> u64 {
        self.begin
    }

    /// One past the last leaf index.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Append one leaf hash.
    pub fn push(&mut self, leaf_hash: Hash) {
        self.push_subtree(0, leaf_hash)
            .expect("a leaf is always aligned to the range's end");
    }

    /// Append the root of the perfect subtree of `2^level` leaves starting at the range's end.
    pub fn push_subtree(&mut self, level: u8, hash: Hash) -> Result<(), TlogError> {
        let size = 1u64
            .checked_shl(u32::from(level))
            .ok_or(TlogError::InvalidProof)?;
        if self.end % size != 0 {
            return Err(TlogError::InvalidProof);
        }
        let mut index = self.end >> level;
        self.end = self.end.checked_add(size).ok_or(TlogError::InvalidProof)?;
        let (mut level, mut hash) = (level, hash);
        // A right child whose left sibling lies inside the range merges with it.
        while index & 1 == 1 && ((index - 1) << level) >= self.begin {
            match self.hashes.pop() {
                Some((l, left)) if l == level => {
                    hash = node_hash(&left, &hash);
                    index >>= 1;
                    level += 1;
                }
                _ => return Err(TlogError::InvalidProof),
            }
        }
        self.hashes.push((level, hash));
        Ok(())
    }

    /// Append the adjacent range `other` (which must begin where this one ends).
    pub fn append(&mut self, other: &CompactRange) -> Result<(), TlogError> {
        if other.begin != self.end {
            return Err(TlogError::InvalidProof);
        }
        for (level, hash) in &other.hashes {
            self.push_subtree(*level, *hash)?;
        }
        Ok(())
    }

    /// The subtree hashes, left to right.
    pub fn hashes(&self) -> Vec<Hash> {
        self.hashes.iter().map(|(_, h)| *h).collect()
    }

    /// The root of the tree `[0, end)`; only a range that begins at 0 has one.
    pub fn root(&self) -> Result<Hash, TlogError> {
        if self.begin != 0 {
            return Err(TlogError::InvalidProof);
        }
        let mut iter = self.hashes.iter().rev();
        let Some((_, last)) = iter.next() else {
            return Ok(empty_root());
        };
        Ok(iter.fold(*last, |right, (_, left)| node_hash(left, &right)))
    }
}

/// The range proof for leaves `[start, end)` in the tree of `size` leaves, from `reader`.
pub fn range_proof<R: HashReader>(
    reader: &R,
    start: u64,
    end: u64,
    size: u64,
) -> Result<RangeProof, TlogError> {
    if start > end || end > size {
        return Err(TlogError::SizeOutOfRange {
            size: end,
            reason: "a range needs start <= end <= size",
        });
    }
    let read = |begin, end| -> Result<Vec<Hash>, TlogError> {
        let indexes: Vec<u64> = decompose(begin, end)
            .into_iter()
            .map(|(level, index)| tlog_tiles::stored_hash_index(level, index))
            .collect();
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        reader.read_hashes(&indexes).map_err(reader_error)
    };
    Ok(RangeProof {
        left: read(0, start)?,
        right: read(end, size)?,
    })
}

/// Check that `leaf_hashes`, in order, are exactly the leaves from `start` on of the tree of
/// `size` leaves with root `root`, and that they run to the end the proof was made for.
/// Returns the index one past the last leaf.
pub fn verify_range(
    start: u64,
    leaf_hashes: impl IntoIterator<Item = Hash>,
    size: u64,
    root: &Hash,
    proof: &RangeProof,
) -> Result<u64, TlogError> {
    if start > size {
        return Err(TlogError::SizeOutOfRange {
            size: start,
            reason: "the range starts past the end of the tree",
        });
    }
    let mut range = CompactRange::from_hashes(0, start, &proof.left)?;
    for h in leaf_hashes {
        if range.end() >= size {
            return Err(TlogError::InvalidProof);
        }
        range.push(h);
    }
    let end = range.end();
    range.append(&CompactRange::from_hashes(end, size, &proof.right)?)?;
    if range.root()? != *root {
        return Err(TlogError::InvalidProof);
    }
    Ok(end)
}
