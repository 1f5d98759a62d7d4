//! C2SP `tlog-tiles` coordinates at height 8 and their paths.
//!
//! A hash tile `tile/<L>/<N>[.p/<W>]` holds `W` consecutive hashes of level `8·L` of the tree,
//! starting at hash `256·N`; an entry bundle `tile/entries/<N>[.p/<W>]` holds leaves `256·N ..
//! 256·N + W`. `N` is written in groups of three digits, all but the last prefixed with `x`
//! (`1234067` → `x001/x234/067`); `.p/<W>` marks a partial tile (`W` < 256).
//!
//! The path grammar is `tlog_tiles`' (Go's `sumdb/tlog`, which also names the height): this
//! module maps between the two forms and refuses, before handing a path over, the inputs that
//! crate would panic on.

use tlog_tiles::Tile;

use crate::error::TlogError;

/// The tile height every Countersign log uses.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile, leaves in a full entry bundle.
pub const TILE_WIDTH: u32 = 1 << TILE_HEIGHT;
/// Highest tile level (the crate's limit; 8·63 levels is far past any tree).
const MAX_LEVEL: u8 = 63;

/// A hash tile: level `level`, index `index` within it, holding `width` hashes (1..=256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub level: u8,
    pub index: u64,
    pub width: u32,
}

/// An entry bundle: leaves `256·index ..` `256·index + width` (width 1..=256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryBundleId {
    pub index: u64,
    pub width: u32,
}

impl TileId {
    /// The C2SP path, `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let go = self.to_go().path();
        format!("tile/{}", strip_go_prefix(&go))
    }

    /// Parse a C2SP hash tile path, `tile/<L>/<N>[.p/<W>]`.
    pub fn parse(path: &str) -> Result<Self, TlogError> {
        let bad = || TlogError::TilePath(path.to_owned());
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (level, _) = rest.split_once('/').ok_or_else(bad)?;
        if level == "entries" || !level.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if level.parse::<u8>().map_or(true, |l| l > MAX_LEVEL) {
            return Err(bad());
        }
        let tile = parse_go(&format!("tile/{TILE_HEIGHT}/{rest}"), path)?;
        Ok(Self {
            level: tile.level(),
            index: tile.level_index(),
            width: tile.width(),
        })
    }

    /// Whether the tile holds all 256 hashes (full tiles never change).
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The entry bundle with the same coordinates (level 0 only).
    pub fn entry_bundle(&self) -> Option<EntryBundleId> {
        (self.level == 0).then_some(EntryBundleId {
            index: self.index,
            width: self.width,
        })
    }

    pub(crate) fn to_go(self) -> Tile {
        Tile::new(TILE_HEIGHT, self.level, self.index, self.width, false)
    }

    pub(crate) fn from_go(tile: &Tile) -> Self {
        Self {
            level: tile.level(),
            index: tile.level_index(),
            width: tile.width(),
        }
    }
}

impl EntryBundleId {
    /// The C2SP path, `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let go = Tile::new(TILE_HEIGHT, 0, self.index, self.width, true).path();
        let rest = strip_go_prefix(&go);
        let rest = rest
            .strip_prefix("data/")
            .expect("a data tile path names `data`");
        format!("tile/entries/{rest}")
    }

    /// Parse a C2SP entry bundle path, `tile/entries/<N>[.p/<W>]`.
    pub fn parse(path: &str) -> Result<Self, TlogError> {
        let rest = path
            .strip_prefix("tile/entries/")
            .ok_or_else(|| TlogError::TilePath(path.to_owned()))?;
        let tile = parse_go(&format!("tile/{TILE_HEIGHT}/data/{rest}"), path)?;
        Ok(Self {
            index: tile.level_index(),
            width: tile.width(),
        })
    }

    /// Index of the first leaf in the bundle.
    pub fn first_leaf(&self) -> u64 {
        self.index << TILE_HEIGHT
    }

    /// Whether the bundle holds all 256 leaves (full bundles never change).
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }
}

/// The hash tiles to publish when the tree grows from `old_size` to `new_size` leaves: every
/// tile that is new or wider, lowest level first. None when the sizes are equal.
pub fn tiles_for_growth(old_size: u64, new_size: u64) -> Vec<TileId> {
    if new_size <= old_size {
        return Vec::new();
    }
    Tile::new_tiles(TILE_HEIGHT, old_size, new_size)
        .iter()
        .map(TileId::from_go)
        .collect()
}

/// The entry bundles to publish when the tree grows from `old_size` to `new_size` leaves.
pub fn entry_bundles_for_growth(old_size: u64, new_size: u64) -> Vec<EntryBundleId> {
    tiles_for_growth(old_size, new_size)
        .iter()
        .filter_map(TileId::entry_bundle)
        .collect()
}

/// The entry bundle that holds leaf `index` in a tree of `size` leaves.
pub fn entry_bundle_for_leaf(index: u64, size: u64) -> Result<EntryBundleId, TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let bundle = index >> TILE_HEIGHT;
    let width = (size - (bundle << TILE_HEIGHT)).min(u64::from(TILE_WIDTH));
    Ok(EntryBundleId {
        index: bundle,
        width: u32::try_from(width).expect("at most 256"),
    })
}

fn strip_go_prefix(go: &str) -> &str {
    go.strip_prefix(format!("tile/{TILE_HEIGHT}/").as_str())
        .expect("tlog_tiles paths start with tile/<height>/")
}

/// Parse a Go-form path, refusing first what `Tile::new` would assert on (width 0).
fn parse_go(go: &str, original: &str) -> Result<Tile, TlogError> {
    let bad = || TlogError::TilePath(original.to_owned());
    if let Some((_, width)) = go.rsplit_once(".p/") {
        if !width.bytes().all(|b| b.is_ascii_digit())
            || width.parse::<u32>().map_or(true, |w| w == 0)
        {
            return Err(bad());
        }
    }
    Tile::from_path(go).map_err(|_| bad())
}
