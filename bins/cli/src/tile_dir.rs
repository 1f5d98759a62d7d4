//! [`TileDir`]: a transparency log's hash tiles read from a directory laid out by the C2SP
//! `tlog-tiles` paths (`<dir>/tile/<L>/<N>[.p/<W>]`), as `countersign log fetch` writes it.
//!
//! Nothing read here is trusted: the tlog crate authenticates every tile against a signed
//! checkpoint before it uses a hash from it. A partial tile that is not there is served from
//! the full tile or a wider partial one with the same coordinates (its first hashes are the
//! same, since a level's hashes never change once written), so one directory fetched at a later
//! size still serves an earlier checkpoint.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use countersign_tlog::hash::HASH_SIZE;
use countersign_tlog::tiled::TileSource;
use countersign_tlog::{TileId, TILE_WIDTH};

type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Hash tiles under a directory.
#[derive(Debug, Clone)]
pub struct TileDir {
    root: PathBuf,
}

impl TileDir {
    /// The tiles under `root` (which holds `tile/`).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    /// Where `tile` is stored.
    pub fn path_of(&self, tile: &TileId) -> PathBuf {
        self.root.join(tile.path())
    }

    fn read_one(&self, tile: &TileId) -> Result<Vec<u8>, SourceError> {
        let want = tile.width as usize * HASH_SIZE;
        for candidate in self.candidates(tile)? {
            match std::fs::read(&candidate) {
                Ok(mut data) if data.len() >= want => {
                    data.truncate(want);
                    return Ok(data);
                }
                Ok(data) => {
                    return Err(format!(
                        "{} has {} bytes, expected at least {want}",
                        candidate.display(),
                        data.len()
                    )
                    .into())
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", candidate.display()).into()),
            }
        }
        Err(format!(
            "no tile {} under {} (fill it with `countersign log fetch --out {}`)",
            tile.path(),
            self.root.display(),
            self.root.display()
        )
        .into())
    }

    /// The files that can serve `tile`: its own path, then the full tile, then the wider
    /// partial tiles present.
    fn candidates(&self, tile: &TileId) -> Result<Vec<PathBuf>, SourceError> {
        let mut out = vec![self.path_of(tile)];
        if tile.is_full() {
            return Ok(out);
        }
        let full = TileId {
            width: TILE_WIDTH,
            ..*tile
        };
        let full_path = self.path_of(&full);
        out.push(full_path.clone());
        let partial_dir = PathBuf::from(format!("{}.p", full_path.display()));
        let entries = match std::fs::read_dir(&partial_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(format!("{}: {e}", partial_dir.display()).into()),
        };
        let mut wider: Vec<u32> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&w| w > tile.width && w < TILE_WIDTH)
            .collect();
        wider.sort_unstable();
        out.extend(wider.into_iter().map(|w| partial_dir.join(w.to_string())));
        Ok(out)
    }
}

impl TileSource for TileDir {
    fn read_tiles(&self, tiles: &[TileId]) -> Result<Vec<Vec<u8>>, SourceError> {
        tiles.iter().map(|t| self.read_one(t)).collect()
    }
}
