//! A log kept as C2SP hash tiles: proofs read from stored tiles, and [`integrate`], which
//! appends leaves and returns the tiles to store.
//!
//! Every tile read is authenticated against the trusted root before a hash in it is used, so a
//! tile edited in storage is caught, not served as proof. The reader that does it,
//! `AuthReader`, follows `tlog_tiles`' `TileHashReader` (Go's `sumdb/tlog` `TileHashReader`)
//! with one difference: that reader starts authenticating lower tiles against their parents at
//! the position given by the number of tree-hash *indexes*, not tree-hash *tiles*; when several
//! tree-hash indexes share a tile (as they do at height 8 for most sizes) the first lower tiles
//! are never checked. `tiles::an_edited_stored_tile_is_caught_not_served` shows it.

use std::cell::RefCell;
use std::collections::HashMap;

use tlog_tiles::{HashReader, Tile, TileReader};

use crate::error::TlogError;
use crate::hash::Hash;
use crate::proof;
use crate::tile::{tiles_for_growth, TileId, TILE_HEIGHT};

/// Where stored hash tiles come from (a database, a directory, a tile server).
pub trait TileSource {
    /// The bytes of each tile asked for, in order: `32 · width` bytes each. A tile the source
    /// does not have is an error.
    fn read_tiles(
        &self,
        tiles: &[TileId],
    ) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>>;
}

/// A tree of `size` leaves with a trusted `root`, read from a [`TileSource`].
pub struct TiledTree<'a, S: TileSource> {
    size: u64,
    root: Hash,
    reader: Adapter<'a, S>,
}

impl<S: TileSource> std::fmt::Debug for TiledTree<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TiledTree")
            .field("size", &self.size)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl<'a, S: TileSource> TiledTree<'a, S> {
    /// The tree of `size` leaves whose root is `root` (from a verified checkpoint).
    pub fn new(source: &'a S, size: u64, root: Hash) -> Self {
        Self {
            size,
            root,
            reader: Adapter::new(source),
        }
    }

    /// The inclusion proof of leaf `index`.
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>, TlogError> {
        if index >= self.size {
            return Err(TlogError::IndexOutOfRange {
                index,
                size: self.size,
            });
        }
        self.with_reader(|r| proof::inclusion_proof(r, self.size, index))
    }

    /// The consistency proof from the tree of `old_size` leaves to this one.
    pub fn consistency_proof(&self, old_size: u64) -> Result<Vec<Hash>, TlogError> {
        if old_size > self.size {
            return Err(TlogError::SizeOutOfRange {
                size: old_size,
                reason: "the old tree is larger than the new one",
            });
        }
        if old_size == 0 || old_size == self.size {
            return Ok(Vec::new());
        }
        self.with_reader(|r| proof::consistency_proof(r, old_size, self.size))
    }

    /// The root of the first `size` leaves of this tree.
    pub fn root_at(&self, size: u64) -> Result<Hash, TlogError> {
        if size > self.size {
            return Err(TlogError::SizeOutOfRange {
                size,
                reason: "past the end of the tree",
            });
        }
        if size == self.size {
            return Ok(self.root);
        }
        self.with_reader(|r| proof::tree_root(r, size))
    }

    /// The range proof for leaves `[start, end)` of this tree.
    pub fn range_proof(&self, start: u64, end: u64) -> Result<crate::range::RangeProof, TlogError> {
        if start > end || end > self.size {
            return Err(TlogError::SizeOutOfRange {
                size: end,
                reason: "a range needs start <= end <= size",
            });
        }
        if start == 0 && end == self.size {
            return Ok(crate::range::RangeProof::default());
        }
        self.with_reader(|r| crate::range::range_proof(r, start, end, self.size))
    }

    /// The leaf hashes of leaves `[start, end)`, authenticated against the root, read in one
    /// pass (an offline verifier reads a tile's worth at a time).
    pub fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, TlogError> {
        if start > end || end > self.size {
            return Err(TlogError::SizeOutOfRange {
                size: end,
                reason: "leaves need start <= end <= size",
            });
        }
        if start == end {
            return Ok(Vec::new());
        }
        let indexes: Vec<u64> = (start..end)
            .map(|i| tlog_tiles::stored_hash_index(0, i))
            .collect();
        self.with_reader(|r| r.read_hashes(&indexes).map_err(proof::reader_error))
    }

    /// The leaf hash at `index`, authenticated against the root.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, TlogError> {
        if index >= self.size {
            return Err(TlogError::IndexOutOfRange {
                index,
                size: self.size,
            });
        }
        let hashes = self.with_reader(|r| {
            r.read_hashes(&[tlog_tiles::stored_hash_index(0, index)])
                .map_err(proof::reader_error)
        })?;
        Ok(hashes[0])
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&AuthReader<'_, Adapter<'_, S>>) -> Result<T, TlogError>,
    ) -> Result<T, TlogError> {
        if self.size == 0 {
            return Err(TlogError::SizeOutOfRange {
                size: 0,
                reason: "the empty tree has no tiles",
            });
        }
        let reader = AuthReader {
            size: self.size,
            root: self.root,
            tiles: &self.reader,
        };
        let out = f(&reader);
        self.reader.take_error().map_or(out, Err)
    }
}

/// What [`integrate`] produced: the new tree and the tiles to store for it.
#[derive(Debug, Clone)]
pub struct Integration {
    /// Leaves in the new tree.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// Every hash tile that is new or wider, with its bytes (see [`tiles_for_growth`]).
    pub tiles: Vec<(TileId, Vec<u8>)>,
}

/// Append `leaf_hashes` to the tree of `old_size` leaves with root `old_root`, whose tiles
/// `source` holds; return the new size, root and tiles. The old tiles are authenticated
/// against `old_root` before they are built on.
pub fn integrate<S: TileSource>(
    source: &S,
    old_size: u64,
    old_root: Hash,
    leaf_hashes: &[Hash],
) -> Result<Integration, TlogError> {
    let adapter = Adapter::new(source);
    let old = (old_size > 0).then_some(AuthReader {
        size: old_size,
        root: old_root,
        tiles: &adapter,
    });
    let overlay = Overlay {
        old: old.as_ref(),
        base: tlog_tiles::stored_hash_index(0, old_size),
        new: RefCell::new(Vec::new()),
    };
    let result = (|| {
        for (i, h) in leaf_hashes.iter().enumerate() {
            let n = old_size + i as u64;
            let stored = tlog_tiles::stored_hashes_for_record_hash(n, *h, &overlay)
                .map_err(proof::reader_error)?;
            overlay.new.borrow_mut().extend(stored);
        }
        let size = old_size + leaf_hashes.len() as u64;
        let root = if size == 0 {
            crate::hash::empty_root()
        } else {
            proof::tree_root(&overlay, size)?
        };
        let tiles = tiles_for_growth(old_size, size)
            .into_iter()
            .map(|t| {
                let data = t.to_go().read_data(&overlay).map_err(proof::reader_error)?;
                Ok((t, data))
            })
            .collect::<Result<Vec<_>, TlogError>>()?;
        Ok(Integration { size, root, tiles })
    })();
    adapter.take_error().map_or(result, Err)
}

/// Old hashes from authenticated tiles, new ones from memory.
struct Overlay<'a, 'b, R: TileReader> {
    old: Option<&'a AuthReader<'b, R>>,
    /// Stored-hash index of the first new hash.
    base: u64,
    new: RefCell<Vec<Hash>>,
}

impl<R: TileReader> HashReader for Overlay<'_, '_, R> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let old_indexes: Vec<u64> = indexes.iter().copied().filter(|&i| i < self.base).collect();
        let old_hashes = match (self.old, old_indexes.is_empty()) {
            (_, true) => Vec::new(),
            (Some(old), false) => old.read_hashes(&old_indexes)?,
            (None, false) => return Err(tlog_tiles::Error::IndexesNotInTree),
        };
        let new = self.new.borrow();
        let mut old_iter = old_hashes.into_iter();
        indexes
            .iter()
            .map(|&i| {
                if i < self.base {
                    old_iter.next().ok_or(tlog_tiles::Error::BadMath)
                } else {
                    usize::try_from(i - self.base)
                        .ok()
                        .and_then(|j| new.get(j).copied())
                        .ok_or(tlog_tiles::Error::IndexesNotInTree)
                }
            })
            .collect()
    }
}

/// A [`HashReader`] over the tiles of the tree of `size` (≥ 1) leaves with root `root`: every
/// tile it reads is authenticated — the tiles holding the tree hash's subtrees by recomputing
/// the root, every lower tile by its hash in its (already authenticated) parent — before any
/// hash in it is returned.
pub(crate) struct AuthReader<'a, R: TileReader> {
    size: u64,
    root: Hash,
    tiles: &'a R,
}

impl<R: TileReader> HashReader for AuthReader<'_, R> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        use tlog_tiles::Error::{BadMath, InconsistentTile, IndexesNotInTree};
        let h = TILE_HEIGHT;
        let mut order: HashMap<Tile, usize> = HashMap::new();
        let mut tiles: Vec<Tile> = Vec::new();

        // The tiles holding the tree hash's subtrees: authenticated by recomputing the root.
        let stx = tlog_tiles::sub_tree_index(0, self.size, Vec::new());
        let mut stx_order = Vec::with_capacity(stx.len());
        for &x in &stx {
            let tile = Tile::from_index(h, x).parent(0, self.size).ok_or(BadMath)?;
            let j = *order.entry(tile).or_insert_with(|| {
                tiles.push(tile);
                tiles.len() - 1
            });
            stx_order.push(j);
        }
        let root_tiles = tiles.len();

        // The tiles holding the requested hashes, each after the parents that authenticate it.
        let end = tlog_tiles::stored_hash_index(0, self.size);
        let mut index_order = Vec::with_capacity(indexes.len());
        for &x in indexes {
            if x >= end {
                return Err(IndexesNotInTree);
            }
            let tile = Tile::from_index(h, x);
            let mut k = 0u8;
            let mut at = loop {
                let p = tile.parent(k, self.size).ok_or(BadMath)?;
                if let Some(&j) = order.get(&p) {
                    break j;
                }
                k = k.checked_add(1).ok_or(BadMath)?;
            };
            for kk in (0..k).rev() {
                let p = tile.parent(kk, self.size).ok_or(BadMath)?;
                if p.width() != 1 << h {
                    // Only a full tile has a parent tile.
                    return Err(BadMath);
                }
                order.insert(p, tiles.len());
                at = tiles.len();
                tiles.push(p);
            }
            index_order.push(at);
        }

        let data = self.tiles.read_tiles(&tiles)?;
        if data.len() != tiles.len()
            || tiles
                .iter()
                .zip(&data)
                .any(|(t, d)| d.len() != t.width() as usize * crate::hash::HASH_SIZE)
        {
            return Err(BadMath);
        }

        let last = stx.len().checked_sub(1).ok_or(BadMath)?;
        let mut th = tiles[stx_order[last]].hash_at_index(&data[stx_order[last]], stx[last])?;
        for i in (0..last).rev() {
            let left = tiles[stx_order[i]].hash_at_index(&data[stx_order[i]], stx[i])?;
            th = tlog_tiles::node_hash(left, th);
        }
        if th != self.root {
            return Err(InconsistentTile);
        }
        // Every other tile against its parent, parents first.
        for i in root_tiles..tiles.len() {
            let tile = tiles[i];
            let p = tile.parent(1, self.size).ok_or(BadMath)?;
            let j = *order.get(&p).ok_or(BadMath)?;
            let index = tlog_tiles::stored_hash_index(p.level() * p.height(), tile.level_index());
            if p.hash_at_index(&data[j], index)? != Tile::subtree_hash(&data[i]) {
                return Err(InconsistentTile);
            }
        }

        indexes
            .iter()
            .zip(index_order)
            .map(|(&x, j)| tiles[j].hash_at_index(&data[j], x))
            .collect()
    }
}

/// `tlog_tiles`' `TileReader` over a [`TileSource`]: caches tiles for the adapter's life and
/// keeps the source's error, which `tlog_tiles`' error type cannot carry.
pub(crate) struct Adapter<'a, S: TileSource> {
    source: &'a S,
    cache: RefCell<HashMap<TileId, Vec<u8>>>,
    error: RefCell<Option<TlogError>>,
}

impl<'a, S: TileSource> Adapter<'a, S> {
    fn new(source: &'a S) -> Self {
        Self {
            source,
            cache: RefCell::new(HashMap::new()),
            error: RefCell::new(None),
        }
    }

    fn take_error(&self) -> Option<TlogError> {
        self.error.borrow_mut().take()
    }
}

impl<S: TileSource> TileReader for Adapter<'_, S> {
    fn height(&self) -> u8 {
        TILE_HEIGHT
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        let ids: Vec<TileId> = tiles.iter().map(TileId::from_go).collect();
        let missing: Vec<TileId> = {
            let cache = self.cache.borrow();
            ids.iter()
                .copied()
                .filter(|t| !cache.contains_key(t))
                .collect()
        };
        if !missing.is_empty() {
            let data = match self.source.read_tiles(&missing) {
                Ok(data) if data.len() == missing.len() => data,
                Ok(data) => {
                    *self.error.borrow_mut() = Some(TlogError::Tiles(format!(
                        "asked for {} tiles, got {}",
                        missing.len(),
                        data.len()
                    )));
                    return Err(tlog_tiles::Error::BadMath);
                }
                Err(e) => {
                    *self.error.borrow_mut() = Some(TlogError::Source(e));
                    return Err(tlog_tiles::Error::InvalidTile);
                }
            };
            let mut cache = self.cache.borrow_mut();
            for (t, d) in missing.into_iter().zip(data) {
                if d.len() != t.width as usize * crate::hash::HASH_SIZE {
                    *self.error.borrow_mut() = Some(TlogError::Tiles(format!(
                        "{} has {} bytes, expected {}",
                        t.path(),
                        d.len(),
                        t.width as usize * crate::hash::HASH_SIZE
                    )));
                    return Err(tlog_tiles::Error::InvalidTile);
                }
                cache.insert(t, d);
            }
        }
        let cache = self.cache.borrow();
        Ok(ids.iter().map(|t| cache[t].clone()).collect())
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}
