//! [`MemoryLog`]: a whole log's stored hashes in memory, in Go `sumdb/tlog`'s stored-hash order.
//! It answers roots, proofs and tiles for every size up to its own; the tests, the offline
//! verifier and small tools use it where a database is not at hand.

use tlog_tiles::{HashReader, Tile};

use crate::error::TlogError;
use crate::hash::{leaf_hash, Hash};
use crate::proof;
use crate::tile::{TileId, TILE_HEIGHT};

/// Every stored hash of a log of [`MemoryLog::size`] leaves.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    size: u64,
    hashes: Vec<Hash>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A log of these leaves, in order.
    pub fn from_leaves<L: AsRef<[u8]>>(leaves: impl IntoIterator<Item = L>) -> Self {
        let mut log = Self::new();
        for leaf in leaves {
            log.append(leaf.as_ref());
        }
        log
    }

    /// Append a leaf; returns its index.
    pub fn append(&mut self, leaf: &[u8]) -> u64 {
        self.append_leaf_hash(leaf_hash(leaf))
    }

    /// Append a leaf by its leaf hash; returns its index.
    pub fn append_leaf_hash(&mut self, hash: Hash) -> u64 {
        let index = self.size;
        let new = tlog_tiles::stored_hashes_for_record_hash(index, hash, self)
            .expect("a memory log holds every earlier hash");
        self.hashes.extend(new);
        self.size += 1;
        index
    }

    /// Leaves in the log.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, TlogError> {
        self.check_size(size)?;
        proof::tree_root(self, size)
    }

    /// The root of the whole log.
    pub fn root(&self) -> Hash {
        proof::tree_root(self, self.size).expect("a memory log holds every hash")
    }

    /// The leaf hash at `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, TlogError> {
        if index >= self.size {
            return Err(TlogError::IndexOutOfRange {
                index,
                size: self.size,
            });
        }
        Ok(self.hashes[to_usize(tlog_tiles::stored_hash_index(0, index))])
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TlogError> {
        self.check_size(size)?;
        proof::inclusion_proof(self, size, index)
    }

    /// The consistency proof from the first `old_size` leaves to the first `new_size`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, TlogError> {
        self.check_size(new_size)?;
        proof::consistency_proof(self, old_size, new_size)
    }

    /// The range proof for leaves `[start, end)` in the tree of the first `size` leaves.
    pub fn range_proof(
        &self,
        start: u64,
        end: u64,
        size: u64,
    ) -> Result<crate::range::RangeProof, TlogError> {
        self.check_size(size)?;
        crate::range::range_proof(self, start, end, size)
    }

    /// The bytes of hash tile `tile` (32 bytes per hash), if the log is large enough to hold it.
    pub fn tile_data(&self, tile: TileId) -> Result<Vec<u8>, TlogError> {
        let last = (tile.index << TILE_HEIGHT) + u64::from(tile.width);
        let needed = u64::from(TILE_HEIGHT)
            .checked_mul(u64::from(tile.level))
            .and_then(|shift| u32::try_from(shift).ok())
            .and_then(|shift| last.checked_shl(shift))
            .ok_or_else(|| TlogError::TilePath(tile.path()))?;
        self.check_size(needed)?;
        Tile::new(TILE_HEIGHT, tile.level, tile.index, tile.width, false)
            .read_data(self)
            .map_err(proof::reader_error)
    }

    fn check_size(&self, size: u64) -> Result<(), TlogError> {
        if size > self.size {
            return Err(TlogError::SizeOutOfRange {
                size,
                reason: "past the end of the log",
            });
        }
        Ok(())
    }
}

impl HashReader for MemoryLog {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.hashes.get(i).copied())
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

fn to_usize(i: u64) -> usize {
    usize::try_from(i).expect("a memory log fits in memory")
}
