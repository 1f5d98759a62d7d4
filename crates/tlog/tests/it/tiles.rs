//! C2SP `tlog-tiles`: paths, which tiles a growth publishes, tile contents, proofs read from
//! stored tiles (and refused when a stored tile was edited), batch integration, and entry
//! bundles.

use std::cell::RefCell;
use std::collections::HashMap;

use countersign_tlog::bundle::{decode_entry_bundle, encode_entry_bundle};
use countersign_tlog::tile::{entry_bundle_for_leaf, entry_bundles_for_growth, tiles_for_growth};
use countersign_tlog::tiled::{integrate, TileSource, TiledTree};
use countersign_tlog::{
    empty_root, leaf_hash, node_hash, verify_consistency, verify_inclusion, EntryBundleId, Hash,
    MemoryLog, TileId, TlogError,
};

#[test]
fn tile_paths_follow_the_c2sp_encoding() {
    let cases = [
        (
            TileId {
                level: 0,
                index: 0,
                width: 256,
            },
            "tile/0/000",
        ),
        (
            TileId {
                level: 0,
                index: 1,
                width: 5,
            },
            "tile/0/001.p/5",
        ),
        (
            TileId {
                level: 1,
                index: 999,
                width: 256,
            },
            "tile/1/999",
        ),
        (
            TileId {
                level: 2,
                index: 1000,
                width: 1,
            },
            "tile/2/x001/000.p/1",
        ),
        (
            TileId {
                level: 0,
                index: 1_234_067,
                width: 256,
            },
            "tile/0/x001/x234/067",
        ),
        (
            TileId {
                level: 3,
                index: 1_234_067,
                width: 255,
            },
            "tile/3/x001/x234/067.p/255",
        ),
    ];
    for (tile, path) in cases {
        assert_eq!(tile.path(), path);
        assert_eq!(TileId::parse(path).unwrap(), tile, "{path}");
    }
    let bundles = [
        (
            EntryBundleId {
                index: 0,
                width: 256,
            },
            "tile/entries/000",
        ),
        (
            EntryBundleId {
                index: 1_234_067,
                width: 3,
            },
            "tile/entries/x001/x234/067.p/3",
        ),
    ];
    for (bundle, path) in bundles {
        assert_eq!(bundle.path(), path);
        assert_eq!(EntryBundleId::parse(path).unwrap(), bundle, "{path}");
    }
}

#[test]
fn malformed_tile_paths_are_refused_without_panicking() {
    for path in [
        "",
        "tile",
        "tile/",
        "tile/0",
        "tile/0/",
        "tile/0/1",
        "tile/0/01",
        "tile/0/0001",
        "tile/0/x000/001",
        "tile/0/x1/234",
        "tile/0/1234",
        "tile/0/001.p/0",
        "tile/0/001.p/00",
        "tile/0/001.p/+0",
        "tile/0/001.p/256",
        "tile/0/001.p/-1",
        "tile/0/001.p/",
        "tile/0/001.p/05",
        "tile/0/001.p",
        "tile/00/001",
        "tile/+0/001",
        "tile/64/001",
        "tile/255/001",
        "tile/256/001",
        "tile/-1/001",
        "tile/8/0/001",
        "tile/data/001",
        "tile/entries/001",
        "tile/0/001/",
        "/tile/0/001",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x001/x234/067\n",
    ] {
        assert!(
            matches!(TileId::parse(path), Err(TlogError::TilePath(_))),
            "{path:?}"
        );
    }
    for path in [
        "tile/entries/",
        "tile/entries/1",
        "tile/entries/001.p/0",
        "tile/entries/001.p/256",
        "tile/entries/x000/001",
        "tile/0/001",
        "tile/data/001",
        "tile/entries/001/extra",
    ] {
        assert!(
            matches!(EntryBundleId::parse(path), Err(TlogError::TilePath(_))),
            "{path:?}"
        );
    }
}

#[test]
fn growth_publishes_new_and_wider_tiles() {
    let t = |level, index, width| TileId {
        level,
        index,
        width,
    };
    assert_eq!(tiles_for_growth(0, 0), vec![]);
    assert_eq!(tiles_for_growth(5, 5), vec![]);
    assert_eq!(tiles_for_growth(0, 1), vec![t(0, 0, 1)]);
    assert_eq!(tiles_for_growth(1, 2), vec![t(0, 0, 2)]);
    assert_eq!(tiles_for_growth(255, 256), vec![t(0, 0, 256), t(1, 0, 1)]);
    assert_eq!(
        tiles_for_growth(100, 700),
        vec![t(0, 0, 256), t(0, 1, 256), t(0, 2, 188), t(1, 0, 2)]
    );
    assert_eq!(
        tiles_for_growth(65_535, 65_536),
        vec![t(0, 255, 256), t(1, 0, 256), t(2, 0, 1)]
    );
    assert_eq!(
        entry_bundles_for_growth(100, 700),
        vec![
            EntryBundleId {
                index: 0,
                width: 256
            },
            EntryBundleId {
                index: 1,
                width: 256
            },
            EntryBundleId {
                index: 2,
                width: 188
            },
        ]
    );
    assert_eq!(
        entry_bundle_for_leaf(600, 700).unwrap(),
        EntryBundleId {
            index: 2,
            width: 188
        }
    );
    assert_eq!(
        entry_bundle_for_leaf(3, 700).unwrap(),
        EntryBundleId {
            index: 0,
            width: 256
        }
    );
    assert!(entry_bundle_for_leaf(700, 700).is_err());
}

fn leaves(n: u64) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
}

/// The root of a perfect subtree over `hashes`, the naive way.
fn perfect_root(hashes: &[Hash]) -> Hash {
    if hashes.len() == 1 {
        return hashes[0];
    }
    let (l, r) = hashes.split_at(hashes.len() / 2);
    node_hash(&perfect_root(l), &perfect_root(r))
}

#[test]
fn tile_contents_are_the_level_hashes() {
    let all = leaves(70_000);
    let log = MemoryLog::from_leaves(&all);
    let leaf_hashes: Vec<Hash> = all.iter().map(|l| leaf_hash(l)).collect();

    // Level 0: the leaf hashes themselves.
    let tile = log
        .tile_data(TileId {
            level: 0,
            index: 3,
            width: 256,
        })
        .unwrap();
    let want: Vec<u8> = leaf_hashes[768..1024].iter().flat_map(|h| h.0).collect();
    assert_eq!(tile, want);
    let partial = log
        .tile_data(TileId {
            level: 0,
            index: 273,
            width: 112,
        })
        .unwrap();
    let want: Vec<u8> = leaf_hashes[69_888..70_000]
        .iter()
        .flat_map(|h| h.0)
        .collect();
    assert_eq!(partial, want);

    // Level 1: the roots of each run of 256 leaves.
    let level1 = log
        .tile_data(TileId {
            level: 1,
            index: 0,
            width: 256,
        })
        .unwrap();
    for (i, chunk) in level1.chunks(32).enumerate() {
        let want = perfect_root(&leaf_hashes[i * 256..(i + 1) * 256]);
        assert_eq!(chunk, want.0, "level-1 hash {i}");
    }
    // Level 2: one hash per 65,536 leaves.
    let level2 = log
        .tile_data(TileId {
            level: 2,
            index: 0,
            width: 1,
        })
        .unwrap();
    assert_eq!(level2, perfect_root(&leaf_hashes[..65_536]).0);

    assert!(log
        .tile_data(TileId {
            level: 0,
            index: 274,
            width: 1
        })
        .is_err());
    assert!(log
        .tile_data(TileId {
            level: 2,
            index: 0,
            width: 2
        })
        .is_err());
}

/// Tiles in a map, as a store would keep them; it counts reads.
#[derive(Default)]
struct MapSource {
    tiles: HashMap<TileId, Vec<u8>>,
    reads: RefCell<usize>,
}

impl MapSource {
    /// Keep `tiles`, each replacing a narrower tile with the same coordinates (as a store
    /// keeps one row per tile and widens it).
    fn store(&mut self, tiles: Vec<(TileId, Vec<u8>)>) {
        for (t, d) in tiles {
            self.tiles
                .retain(|k, _| !(k.level == t.level && k.index == t.index));
            self.tiles.insert(t, d);
        }
    }
}

impl TileSource for MapSource {
    fn read_tiles(
        &self,
        tiles: &[TileId],
    ) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
        *self.reads.borrow_mut() += 1;
        tiles
            .iter()
            .map(|t| {
                self.tiles
                    .get(t)
                    .cloned()
                    .ok_or_else(|| format!("no tile {}", t.path()).into())
            })
            .collect()
    }
}

#[test]
fn integrating_in_batches_builds_the_same_tree_and_tiles() {
    let all = leaves(1_500);
    let reference = MemoryLog::from_leaves(&all);
    let mut source = MapSource::default();
    let (mut size, mut root) = (0u64, empty_root());
    // Uneven batches, across tile boundaries and a full level-1 hash.
    for batch in [1usize, 2, 253, 1, 300, 467, 0, 1, 475].iter().copied() {
        let start = usize::try_from(size).unwrap();
        let batch_hashes: Vec<Hash> = all[start..start + batch]
            .iter()
            .map(|l| leaf_hash(l))
            .collect();
        let out = integrate(&source, size, root, &batch_hashes).unwrap();
        assert_eq!(out.size, size + batch as u64);
        assert_eq!(
            out.root,
            reference.root_at(out.size).unwrap(),
            "size {}",
            out.size
        );
        assert_eq!(
            out.tiles.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            tiles_for_growth(size, out.size)
        );
        for (t, data) in &out.tiles {
            assert_eq!(*data, reference.tile_data(*t).unwrap(), "{}", t.path());
        }
        source.store(out.tiles);
        (size, root) = (out.size, out.root);
    }
    assert_eq!(size, 1_500);

    // Proofs from the stored tiles are the reference's, and verify.
    let tree = TiledTree::new(&source, size, root);
    for index in [0, 1, 255, 256, 1_023, 1_499] {
        let proof = tree.inclusion_proof(index).unwrap();
        assert_eq!(proof, reference.inclusion_proof(index, size).unwrap());
        verify_inclusion(&leaf_hash(&all[index as usize]), index, size, &root, &proof).unwrap();
        assert_eq!(
            tree.leaf_hash(index).unwrap(),
            leaf_hash(&all[index as usize])
        );
    }
    for old in [1, 3, 256, 257, 1_024, 1_499, 1_500] {
        let proof = tree.consistency_proof(old).unwrap();
        assert_eq!(proof, reference.consistency_proof(old, size).unwrap());
        let old_root = tree.root_at(old).unwrap();
        assert_eq!(old_root, reference.root_at(old).unwrap());
        verify_consistency(old, size, &old_root, &root, &proof).unwrap();
    }
    assert!(tree.inclusion_proof(size).is_err());
    assert!(tree.consistency_proof(size + 1).is_err());
}

#[test]
fn an_edited_stored_tile_is_caught_not_served() {
    let all = leaves(600);
    let reference = MemoryLog::from_leaves(&all);
    let mut source = MapSource::default();
    let hashes: Vec<Hash> = all.iter().map(|l| leaf_hash(l)).collect();
    let out = integrate(&source, 0, empty_root(), &hashes).unwrap();
    let root = out.root;
    source.store(out.tiles);

    let next = [leaf_hash(b"next")];
    let honest_next = integrate(&source, 600, root, &next).unwrap();
    // The tiles that hold the root's subtrees: 1/000.p/2 ([0, 512)) and 0/002.p/88.
    let root_tiles = [
        TileId {
            level: 1,
            index: 0,
            width: 2,
        },
        TileId {
            level: 0,
            index: 2,
            width: 88,
        },
    ];

    // Every tile, and a byte anywhere in it: proofs must refuse, never return a wrong answer.
    let mut ids: Vec<TileId> = source.tiles.keys().copied().collect();
    ids.sort();
    assert_eq!(ids.len(), 4);
    for id in ids {
        for byte in [0usize, 31, 32, 100] {
            let original = source.tiles[&id].clone();
            if byte >= original.len() {
                continue;
            }
            source.tiles.get_mut(&id).unwrap()[byte] ^= 0x01;
            let tree = TiledTree::new(&source, 600, root);
            // The proof for a leaf whose hashes come from the edited tile must fail.
            let leaf = if id.level == 0 {
                id.index * 256 + (byte as u64 / 32)
            } else {
                0
            };
            let got = tree.inclusion_proof(leaf);
            assert!(
                matches!(got, Err(TlogError::Tiles(_))),
                "{} byte {byte}: {got:?}",
                id.path()
            );
            // Building on an edited tile is refused; a lower full tile is not read at all.
            let more = integrate(&source, 600, root, &next);
            if root_tiles.contains(&id) {
                assert!(
                    more.is_err(),
                    "{} byte {byte}: built on an edited tile",
                    id.path()
                );
            } else {
                let more = more.unwrap();
                assert_eq!(
                    (more.root, more.tiles),
                    (honest_next.root, honest_next.tiles.clone())
                );
            }
            source.tiles.insert(id, original);
        }
    }
    // Unedited, the same reads answer.
    let tree = TiledTree::new(&source, 600, root);
    assert_eq!(
        tree.inclusion_proof(599).unwrap(),
        reference.inclusion_proof(599, 600).unwrap()
    );

    // A wrong trusted root refuses every tile.
    let mut wrong = root;
    wrong.0[0] ^= 1;
    assert!(TiledTree::new(&source, 600, wrong)
        .inclusion_proof(5)
        .is_err());
    assert!(integrate(&source, 600, wrong, &[leaf_hash(b"x")]).is_err());
}

#[test]
fn a_missing_or_short_tile_is_an_error() {
    let all = leaves(300);
    let hashes: Vec<Hash> = all.iter().map(|l| leaf_hash(l)).collect();
    let mut source = MapSource::default();
    let out = integrate(&source, 0, empty_root(), &hashes).unwrap();
    let root = out.root;
    source.store(out.tiles);

    let partial = TileId {
        level: 0,
        index: 1,
        width: 44,
    };
    let kept = source.tiles.remove(&partial).unwrap();
    let got = TiledTree::new(&source, 300, root).inclusion_proof(299);
    assert!(matches!(got, Err(TlogError::Source(_))), "{got:?}");

    source.tiles.insert(partial, kept[..32 * 43].to_vec());
    let got = TiledTree::new(&source, 300, root).inclusion_proof(299);
    assert!(matches!(got, Err(TlogError::Tiles(_))), "{got:?}");
}

#[test]
fn entry_bundles_round_trip_and_refuse_truncation() {
    let leaves: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"a".to_vec(),
        vec![0x42; 300],
        vec![0; 65_535],
    ];
    let bundle = encode_entry_bundle(&leaves).unwrap();
    assert_eq!(&bundle[..5], &[0, 0, 0, 1, b'a']);
    assert_eq!(&bundle[5..7], &[0x01, 0x2c]);
    assert_eq!(
        bundle.len(),
        leaves.iter().map(|l| 2 + l.len()).sum::<usize>()
    );
    assert_eq!(decode_entry_bundle(&bundle).unwrap(), leaves);
    assert_eq!(decode_entry_bundle(&[]).unwrap(), Vec::<Vec<u8>>::new());

    for cut in 1..bundle.len() {
        let got = decode_entry_bundle(&bundle[..cut]);
        // A cut right after a whole leaf is a shorter, well-formed bundle.
        let boundary = [2usize, 5, 307].contains(&cut);
        assert_eq!(got.is_ok(), boundary, "cut at {cut}");
    }
    let mut extended = bundle.clone();
    extended.push(0);
    assert!(decode_entry_bundle(&extended).is_err());

    assert!(encode_entry_bundle(&[vec![0u8; 65_536]]).is_err());
    let full: Vec<Vec<u8>> = (0..256).map(|i: u32| i.to_be_bytes().to_vec()).collect();
    let full_bundle = encode_entry_bundle(&full).unwrap();
    assert_eq!(decode_entry_bundle(&full_bundle).unwrap(), full);
    assert!(encode_entry_bundle(&[full.clone(), vec![vec![1]]].concat()).is_err());
    let mut over = full_bundle.clone();
    over.extend_from_slice(&[0, 0]);
    assert!(decode_entry_bundle(&over).is_err());
}
