//! Verifying an exported range: every contiguous run of export lines verifies against the
//! checkpoint (with tiles; from leaf 0 to the size without), and each corruption is refused at
//! the first bad leaf. Leaf hashes read from tiles are the log's.

use std::collections::HashMap;

use countersign_tlog::export_range::{
    export_line_leaf, verify_export, Expected, ExportError, NoTiles, Problem, VerifiedRange,
};
use countersign_tlog::leaf::json_leaf;
use countersign_tlog::tiled::{integrate, TileSource, TiledTree};
use countersign_tlog::{empty_root, leaf_hash, Checkpoint, Hash, MemoryLog, TileId};
use serde_json::{json, Value};

struct Tiles(HashMap<TileId, Vec<u8>>);

impl TileSource for Tiles {
    fn read_tiles(
        &self,
        tiles: &[TileId],
    ) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
        tiles
            .iter()
            .map(|t| {
                self.0
                    .get(t)
                    .cloned()
                    .ok_or_else(|| format!("no tile {}", t.path()).into())
            })
            .collect()
    }
}

struct Log {
    events: Vec<Value>,
    checkpoint: Checkpoint,
    tiles: Tiles,
    memory: MemoryLog,
}

fn log(n: usize) -> Log {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({"schema": "countersign.audit.v1", "event_id": format!("evt_{i:04}"),
                   "action": "document.viewed", "details": {"n": i, "z": 1.0}})
        })
        .collect();
    let leaves: Vec<Vec<u8>> = events.iter().map(|e| json_leaf(e.clone())).collect();
    let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
    let grown = integrate(&NoTiles, 0, empty_root(), &hashes).unwrap();
    let memory = MemoryLog::from_leaves(&leaves);
    assert_eq!(grown.root, memory.root());
    Log {
        checkpoint: Checkpoint::new("example.org/log", n as u64, grown.root),
        tiles: Tiles(grown.tiles.into_iter().collect()),
        events,
        memory,
    }
}

fn export(log: &Log, indexes: impl IntoIterator<Item = usize>) -> String {
    let mut out = String::new();
    for i in indexes {
        let mut v = log.events[i].clone();
        v["leaf_index"] = json!(i);
        out.push_str(&serde_json::to_string(&v).unwrap());
        out.push('\n');
    }
    out
}

fn check(log: &Log, text: &str, tiles: bool) -> Result<VerifiedRange, ExportError> {
    if tiles {
        verify_export(
            text.as_bytes(),
            &log.checkpoint,
            Some(&log.tiles),
            Expected::default(),
        )
    } else {
        verify_export(
            text.as_bytes(),
            &log.checkpoint,
            None::<&NoTiles>,
            Expected::default(),
        )
    }
}

#[test]
fn an_export_line_is_its_event_leaf_and_index() {
    let line = br#"{"b": 1.0, "leaf_index": 7, "a": "x"}"#;
    let (index, leaf) = export_line_leaf(line).unwrap();
    assert_eq!((index, leaf.as_slice()), (7, &br#"{"a":"x","b":1}"#[..]));
    assert_eq!(
        export_line_leaf(br#"{"a": 1}"#).unwrap_err(),
        Problem::NoLeafIndex
    );
    assert_eq!(
        export_line_leaf(br#"{"leaf_index": -1}"#).unwrap_err(),
        Problem::NoLeafIndex
    );
    assert!(matches!(
        export_line_leaf(b"[1]"),
        Err(Problem::NotAnEvent(_))
    ));
}

#[test]
fn tiles_serve_the_logs_leaf_hashes() {
    let l = log(700);
    let tree = TiledTree::new(&l.tiles, 700, l.checkpoint.root);
    for (start, end) in [(0u64, 256u64), (250, 270), (512, 700), (699, 700), (5, 5)] {
        let want: Vec<Hash> = (start..end)
            .map(|i| l.memory.leaf_hash(i).unwrap())
            .collect();
        assert_eq!(tree.leaf_hashes(start, end).unwrap(), want);
    }
    assert!(tree.leaf_hashes(10, 701).is_err());
    assert!(tree.leaf_hashes(11, 10).is_err());
}

#[test]
fn every_contiguous_range_verifies_with_tiles_and_the_whole_without() {
    let l = log(300);
    let whole = export(&l, 0..300);
    for tiles in [false, true] {
        let got = check(&l, &whole, tiles).unwrap();
        assert_eq!(
            got,
            VerifiedRange {
                first: 0,
                last: 299,
                lines: 300
            }
        );
    }
    for (first, end) in [
        (0, 1),
        (1, 2),
        (17, 255),
        (255, 257),
        (256, 300),
        (299, 300),
    ] {
        let got = check(&l, &export(&l, first..end), true).unwrap();
        assert_eq!((got.first, got.last), (first as u64, end as u64 - 1));
        // Without tiles only the whole tree verifies.
        assert!(check(&l, &export(&l, first..end), false).is_err());
    }
    assert!(matches!(check(&l, "", true), Err(ExportError::Empty)));
}

#[test]
fn each_corruption_is_refused_at_the_first_bad_leaf() {
    let l = log(300);
    let at = |text: &str, tiles: bool| match check(&l, text, tiles) {
        Err(ExportError::Leaf {
            line, leaf_index, ..
        }) => (line, leaf_index),
        other => panic!("expected a bad leaf, got {other:?}"),
    };
    let mut edited: Vec<String> = export(&l, 0..300).lines().map(str::to_owned).collect();
    edited[123] = edited[123].replace("evt_0123", "evt_9999");
    let edited = edited.join("\n");
    assert_eq!(at(&edited, true), (124, 123));
    assert!(matches!(
        check(&l, &edited, false),
        Err(ExportError::RootMismatch {
            first: 0,
            last: 299
        })
    ));
    let deleted = export(&l, (0..300).filter(|&i| i != 40));
    assert_eq!(at(&deleted, false), (41, 40));
    let repeated = export(
        &l,
        (0..300).flat_map(|i| if i == 9 { vec![9, 9] } else { vec![i] }),
    );
    assert_eq!(at(&repeated, true), (11, 10));
    let swapped = export(
        &l,
        (0..300).map(|i| match i {
            200 => 201,
            201 => 200,
            i => i,
        }),
    );
    assert_eq!(at(&swapped, false), (201, 200));
    let past =
        export(&l, 290..300) + &export(&l, 0..1).replace("\"leaf_index\":0", "\"leaf_index\":300");
    assert_eq!(at(&past, true), (11, 300));
    let short = export(&l, 0..299);
    assert_eq!(at(&short, false), (300, 299));
    // Stated bounds: a range that starts late, or runs past the last leaf expected.
    let part = export(&l, 10..20);
    let bounded = |first, last| {
        verify_export(
            part.as_bytes(),
            &l.checkpoint,
            Some(&l.tiles),
            Expected { first, last },
        )
    };
    bounded(Some(10), Some(19)).unwrap();
    assert!(matches!(
        bounded(Some(9), None),
        Err(ExportError::Leaf {
            leaf_index: 9,
            problem: Problem::StartsLate { first: 10 },
            ..
        })
    ));
    assert!(matches!(
        bounded(None, Some(15)),
        Err(ExportError::Leaf {
            leaf_index: 16,
            problem: Problem::PastTheRange { last: 15 },
            ..
        })
    ));
    assert!(matches!(
        bounded(None, Some(25)),
        Err(ExportError::Leaf {
            leaf_index: 20,
            problem: Problem::EndsEarly { last: 25 },
            ..
        })
    ));
}

#[test]
fn a_tile_edited_in_storage_is_refused_not_used() {
    let mut l = log(300);
    let tile = TileId {
        level: 0,
        index: 0,
        width: 256,
    };
    l.tiles.0.get_mut(&tile).unwrap()[5 * 32] ^= 1;
    let part = export(&l, 3..10);
    assert!(matches!(check(&l, &part, true), Err(ExportError::Tiles(_))));
}
