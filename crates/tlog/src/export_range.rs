//! Verifying an exported range offline: NDJSON lines, each an audit event with its
//! `leaf_index`, must be exactly the log's leaves `[first, last]` in the tree a checkpoint
//! names — no line edited, deleted, inserted, reordered or repeated, no gap — and the first line
//! that is not names its leaf index and what is wrong.
//!
//! - Lines must carry consecutive leaf indexes, in order. A break in the sequence (a deleted,
//!   repeated or moved line, a gap) is named where it happens.
//! - A range from leaf 0 to the checkpoint's size needs nothing else: the leaves recompute the
//!   root ([`RootBuilder`](crate::RootBuilder)'s compact range). An edited line is then detected
//!   but cannot be located.
//! - With the log's hash tiles ([`TileSource`], read only through [`TiledTree`], so every tile
//!   is authenticated against the checkpoint first), any range verifies: the tiles give the
//!   compact ranges either side ([`range`](crate::range)) and each leaf's hash in the log, so an
//!   edited or inserted line is named too.
//!
//! Streaming: memory holds one line, a compact range (logarithmic in the tree) and one tile's
//! leaf hashes, however long the export.

use std::fmt;
use std::io::BufRead;

use countersign_domain::canonical::BorrowedValue;

use crate::checkpoint::Checkpoint;
use crate::error::TlogError;
use crate::hash::{leaf_hash, Hash};
use crate::leaf::{write_borrowed_leaf, LEAF_INDEX_FIELD};
use crate::range::CompactRange;
use crate::tile::TILE_WIDTH;
use crate::tiled::{TileSource, TiledTree};

/// The range the caller expects, when it knows it (else the export's own first and last).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    pub first: Option<u64>,
    pub last: Option<u64>,
}

/// A verified range: the export is exactly the log's leaves `[first, last]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedRange {
    pub first: u64,
    pub last: u64,
    /// Lines read (one per leaf).
    pub lines: u64,
}

/// What is wrong with the first bad line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not a JSON object.
    NotAnEvent(String),
    /// No `leaf_index`, or one that is not a non-negative integer.
    NoLeafIndex,
    /// The line carries a later index: leaves `[expected, found)` are missing.
    Missing { found: u64 },
    /// The line carries an index already passed: a repeated or reordered line.
    OutOfOrder { found: u64 },
    /// The index is at or past the checkpoint's tree size.
    PastTheTree { size: u64 },
    /// The index is past the last leaf the caller expects.
    PastTheRange { last: u64 },
    /// The event is not the log's leaf at that index (edited, or another event put there).
    Differs,
    /// The export ends before the leaf it had to reach.
    EndsEarly { last: u64 },
    /// The export starts after the leaf it had to start at.
    StartsLate { first: u64 },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotAnEvent(why) => write!(f, "not a JSON event ({why})"),
            Problem::NoLeafIndex => write!(
                f,
                "no `{LEAF_INDEX_FIELD}` (an inserted line, or an event not yet sequenced)"
            ),
            Problem::Missing { found } => write!(
                f,
                "the line carries leaf {found}: the leaves from here to it are missing or moved \
                 (a deleted or reordered line, or a gap)"
            ),
            Problem::OutOfOrder { found } => write!(
                f,
                "the line carries leaf {found}, which was already passed (a repeated or reordered line)"
            ),
            Problem::PastTheTree { size } => {
                write!(f, "past the end of the checkpoint's tree of {size} leaves")
            }
            Problem::PastTheRange { last } => {
                write!(f, "past the expected last leaf {last} (an extra line)")
            }
            Problem::Differs => write!(
                f,
                "the event is not the log's leaf there (an edited or inserted line)"
            ),
            Problem::EndsEarly { last } => write!(
                f,
                "the export ends early: it must run through leaf {last}, the lines from here on are missing"
            ),
            Problem::StartsLate { first } => {
                write!(f, "the export starts at leaf {first}: the lines before it are missing")
            }
        }
    }
}

/// Why an export does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The export could not be read.
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
    /// The first line (1-based) that is not the log's leaf at its place. For a problem at the
    /// end, `line` is one past the last line.
    #[error("leaf {leaf_index} (line {line}): {problem}")]
    Leaf {
        line: u64,
        leaf_index: u64,
        problem: Problem,
    },
    /// Without tiles, the leaves of the whole tree do not recompute the checkpoint's root: some
    /// line was edited, but which one cannot be told.
    #[error(
        "leaves {first}..={last} do not hash to the checkpoint's root: an event was changed \
         (give the log's tiles to name the first one)"
    )]
    RootMismatch { first: u64, last: u64 },
    /// The export holds no line.
    #[error("the export holds no event")]
    Empty,
    /// Verifying this range needs the log's hash tiles.
    #[error("{0}")]
    NeedsTiles(String),
    /// The tiles are missing or do not authenticate against the checkpoint.
    #[error("tiles: {0}")]
    Tiles(#[source] TlogError),
}

/// A source that has no tile: verify with the leaves alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTiles;

impl TileSource for NoTiles {
    fn read_tiles(
        &self,
        _tiles: &[crate::TileId],
    ) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
        Err("no tiles were given".into())
    }
}

/// The leaf index and leaf bytes of one export line (without its newline).
pub fn export_line_leaf(line: &[u8]) -> Result<(u64, Vec<u8>), Problem> {
    let mut leaf = Vec::new();
    let index = write_export_line_leaf(line, &mut leaf)?;
    Ok((index, leaf))
}

/// [`export_line_leaf`] with the leaf bytes appended to `leaf`, so a reader of many lines
/// reuses one buffer; the leaf index is returned.
///
/// The line is parsed borrowed (strings point into it, see [`BorrowedValue`]); an object that
/// repeats a key, at any depth, is not an event.
pub fn write_export_line_leaf(line: &[u8], leaf: &mut Vec<u8>) -> Result<u64, Problem> {
    let value = BorrowedValue::from_slice(line).map_err(|e| Problem::NotAnEvent(e.to_string()))?;
    let BorrowedValue::Object(mut event) = value else {
        return Err(Problem::NotAnEvent("not an object".into()));
    };
    let index = event
        .remove(LEAF_INDEX_FIELD)
        .and_then(|v| v.as_u64())
        .ok_or(Problem::NoLeafIndex)?;
    write_borrowed_leaf(event, leaf);
    Ok(index)
}

/// Verify, streaming, that the lines of `export` are exactly the log's leaves in the tree
/// `checkpoint` names (already verified against the log's key), from their first leaf index to
/// their last, and the range `expected` when given. `tiles`, when given, is the log's hash
/// tiles (not trusted: each is authenticated against the checkpoint).
pub fn verify_export<R: BufRead, S: TileSource>(
    mut export: R,
    checkpoint: &Checkpoint,
    tiles: Option<&S>,
    expected: Expected,
) -> Result<VerifiedRange, ExportError> {
    let mut check: Option<RangeCheck<'_, S>> = None;
    let mut buf = Vec::with_capacity(4096);
    let mut leaf = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    loop {
        buf.clear();
        if export.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let at = check.as_ref().map_or(0, |c| c.next);
        leaf.clear();
        let index =
            write_export_line_leaf(line, &mut leaf).map_err(|problem| ExportError::Leaf {
                line: line_no,
                leaf_index: check
                    .as_ref()
                    .map_or_else(|| expected.first.unwrap_or(0), |_| at),
                problem,
            })?;
        if check.is_none() {
            check = Some(RangeCheck::start(index, checkpoint, tiles, expected)?);
        }
        if let Some(c) = check.as_mut() {
            c.push(line_no, index, &leaf)?;
        }
    }
    let check = check.ok_or(ExportError::Empty)?;
    check.finish(line_no, expected)
}

/// The running state of [`verify_export`], for callers that read lines themselves.
pub struct RangeCheck<'a, S: TileSource> {
    checkpoint: &'a Checkpoint,
    tiles: Option<&'a S>,
    first: u64,
    /// The last leaf the caller expects, if it said.
    expected_last: Option<u64>,
    /// The leaf index the next line must carry.
    next: u64,
    range: CompactRange,
    /// The log's leaf hashes of the tile being read, `[tile_start, tile_start + len)`.
    tile_start: u64,
    tile_hashes: Vec<Hash>,
}

impl<S: TileSource> fmt::Debug for RangeCheck<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RangeCheck")
            .field("first", &self.first)
            .field("next", &self.next)
            .field("tiles", &self.tiles.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a, S: TileSource> RangeCheck<'a, S> {
    /// Start a range at leaf `first` (the first line's index).
    pub fn start(
        first: u64,
        checkpoint: &'a Checkpoint,
        tiles: Option<&'a S>,
        expected: Expected,
    ) -> Result<Self, ExportError> {
        if let Some(want) = expected.first {
            if first > want {
                return Err(ExportError::Leaf {
                    line: 1,
                    leaf_index: want,
                    problem: Problem::StartsLate { first },
                });
            }
            if first < want {
                return Err(ExportError::Leaf {
                    line: 1,
                    leaf_index: first,
                    problem: Problem::OutOfOrder { found: first },
                });
            }
        }
        if first >= checkpoint.size {
            return Err(ExportError::Leaf {
                line: 1,
                leaf_index: first,
                problem: Problem::PastTheTree {
                    size: checkpoint.size,
                },
            });
        }
        let range = match tiles {
            None if first != 0 => {
                return Err(ExportError::NeedsTiles(format!(
                    "the export starts at leaf {first}: a range that does not start at leaf 0 \
                     needs the log's hash tiles"
                )))
            }
            None => CompactRange::new(0),
            Some(tiles) => {
                let tree = TiledTree::new(tiles, checkpoint.size, checkpoint.root);
                let proof = tree.range_proof(first, first).map_err(ExportError::Tiles)?;
                CompactRange::from_hashes(0, first, &proof.left).map_err(ExportError::Tiles)?
            }
        };
        Ok(Self {
            checkpoint,
            tiles,
            first,
            expected_last: expected.last,
            next: first,
            range,
            tile_start: 0,
            tile_hashes: Vec::new(),
        })
    }

    /// Take line `line` (1-based), which carries leaf `index` and the leaf bytes `leaf`.
    pub fn push(&mut self, line: u64, index: u64, leaf: &[u8]) -> Result<(), ExportError> {
        let bad = |leaf_index, problem| ExportError::Leaf {
            line,
            leaf_index,
            problem,
        };
        let expected = self.next;
        if index > expected {
            return Err(bad(expected, Problem::Missing { found: index }));
        }
        if index < expected {
            return Err(bad(expected, Problem::OutOfOrder { found: index }));
        }
        if index >= self.checkpoint.size {
            return Err(bad(
                index,
                Problem::PastTheTree {
                    size: self.checkpoint.size,
                },
            ));
        }
        if let Some(last) = self.expected_last.filter(|&last| index > last) {
            return Err(bad(index, Problem::PastTheRange { last }));
        }
        let hash = leaf_hash(leaf);
        if let Some(tiles) = self.tiles {
            if *self.log_leaf_hash(tiles, index)? != hash {
                return Err(bad(index, Problem::Differs));
            }
        }
        self.range.push(hash);
        self.next = index + 1;
        Ok(())
    }

    /// The log's hash of leaf `index`, reading (and authenticating) its tile when needed. A
    /// tree is made per tile so that no more than one tile's hashes stay in memory.
    fn log_leaf_hash(&mut self, tiles: &S, index: u64) -> Result<&Hash, ExportError> {
        let in_tile = index.checked_sub(self.tile_start);
        let offset = match in_tile {
            Some(o) if o < self.tile_hashes.len() as u64 => o,
            _ => {
                let start = index - index % u64::from(TILE_WIDTH);
                let end = (start + u64::from(TILE_WIDTH)).min(self.checkpoint.size);
                let tree = TiledTree::new(tiles, self.checkpoint.size, self.checkpoint.root);
                self.tile_hashes = tree.leaf_hashes(start, end).map_err(ExportError::Tiles)?;
                self.tile_start = start;
                index - start
            }
        };
        Ok(&self.tile_hashes[usize::try_from(offset).expect("within one tile")])
    }

    /// After the last line (`lines` read): the range must reach `expected.last` (or, without
    /// tiles, the tree's end) and, with what lies either side of it, recompute the root.
    pub fn finish(self, lines: u64, expected: Expected) -> Result<VerifiedRange, ExportError> {
        let size = self.checkpoint.size;
        let end = self.next;
        let must_reach = match (expected.last, self.tiles) {
            (Some(last), _) => Some(last),
            (None, None) => Some(size - 1),
            (None, Some(_)) => None,
        };
        if let Some(last) = must_reach {
            if end <= last {
                return Err(ExportError::Leaf {
                    line: lines + 1,
                    leaf_index: end,
                    problem: Problem::EndsEarly { last },
                });
            }
        }
        let mut range = self.range;
        let root = match self.tiles {
            None => range.root(),
            Some(tiles) => {
                let tree = TiledTree::new(tiles, size, self.checkpoint.root);
                let proof = tree.range_proof(end, end).map_err(ExportError::Tiles)?;
                CompactRange::from_hashes(end, size, &proof.right)
                    .and_then(|right| range.append(&right))
                    .and_then(|()| range.root())
            }
        };
        if root.ok() != Some(self.checkpoint.root) {
            return Err(ExportError::RootMismatch {
                first: self.first,
                last: end - 1,
            });
        }
        Ok(VerifiedRange {
            first: self.first,
            last: end - 1,
            lines,
        })
    }
}
