//! Hash tiles from the store, for the `countersign-tlog` computations that read them.
//!
//! The tlog crate reads tiles synchronously through a [`TileSource`]; the store is async. So a
//! computation runs against the tiles fetched so far ([`FetchedTiles`]), notes the ones it
//! asked for and did not get, and [`with_store_tiles`] fetches those in one query and runs it
//! again. A proof or an integration needs a handful of tiles (about two per level), so this
//! ends after two or three rounds. A stored tile wider than asked is served cut to the width
//! asked: tiles only grow, so its first hashes are those of the narrower tile.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use countersign_store::{StoredTile, Transaction};
use countersign_tlog::tiled::TileSource;
use countersign_tlog::{TileId, TlogError};

use crate::error::ServiceResult;

/// Rounds of fetching before giving up (far more than any tree needs).
const MAX_ROUNDS: usize = 16;

/// A tile the computation asked for that the store does not have.
#[derive(Debug, thiserror::Error)]
#[error("log tile {0} is not stored")]
pub(crate) struct MissingTile(String);

/// The tiles fetched so far, by `(level, index)`, at their stored width.
#[derive(Debug, Default)]
pub(crate) struct FetchedTiles {
    tiles: HashMap<(u8, u64), Vec<u8>>,
    /// Coordinates the store was asked for and does not hold.
    absent: BTreeSet<(u8, u64)>,
    /// Coordinates asked for in the last round and not fetched yet.
    wanted: RefCell<BTreeSet<(u8, u64)>>,
}

impl FetchedTiles {
    fn add(&mut self, tiles: Vec<StoredTile>) {
        for t in tiles {
            self.tiles.insert((t.level, t.index), t.hashes);
        }
    }

    fn take_wanted(&self) -> Vec<(u8, u64)> {
        std::mem::take(&mut *self.wanted.borrow_mut())
            .into_iter()
            .collect()
    }
}

impl TileSource for FetchedTiles {
    fn read_tiles(
        &self,
        tiles: &[TileId],
    ) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
        let mut out = Vec::with_capacity(tiles.len());
        let mut missing = None;
        for t in tiles {
            let key = (t.level, t.index);
            let len = t.width as usize * 32;
            match self.tiles.get(&key) {
                Some(bytes) if bytes.len() >= len => out.push(bytes[..len].to_vec()),
                Some(_) => missing = Some(t.path()),
                None if self.absent.contains(&key) => missing = Some(t.path()),
                None => {
                    self.wanted.borrow_mut().insert(key);
                    missing = Some(t.path());
                }
            }
        }
        match missing {
            None => Ok(out),
            Some(path) => Err(Box::new(MissingTile(path))),
        }
    }
}

/// Run `compute` against the tiles `tx` holds, starting from the tiles at `prefetch`,
/// fetching what it asks for until it has run with everything it asked for. Its own answer
/// (a proof, or why there is none) is returned as it is.
pub(crate) async fn with_store_tiles<T>(
    tx: &mut dyn Transaction,
    prefetch: &[(u8, u64)],
    mut compute: impl FnMut(&FetchedTiles) -> Result<T, TlogError>,
) -> ServiceResult<Result<T, TlogError>> {
    let mut fetched = FetchedTiles::default();
    let mut ask: Vec<(u8, u64)> = prefetch.to_vec();
    for _ in 0..MAX_ROUNDS {
        if !ask.is_empty() {
            let tiles = tx.log_tiles(&ask).await?;
            for key in &ask {
                if !tiles.iter().any(|t| (t.level, t.index) == *key) {
                    fetched.absent.insert(*key);
                }
            }
            fetched.add(tiles);
        }
        let result = compute(&fetched);
        ask = fetched.take_wanted();
        if ask.is_empty() {
            return Ok(result);
        }
    }
    Ok(Err(TlogError::Tiles(
        "the tiles asked for kept changing".into(),
    )))
}

/// The tiles on the right edge of a tree of `size` leaves, at every level: what appending to
/// it or proving in it reads first.
pub(crate) fn edge_tiles(size: u64) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    let mut level = 0u8;
    let mut n = size;
    while n > 0 {
        let last = (n - 1) >> 8;
        out.push((level, last));
        if last > 0 {
            out.push((level, last - 1));
        }
        n >>= 8;
        level += 1;
    }
    out
}
