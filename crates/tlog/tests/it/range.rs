//! Range proofs: a run of leaves verifies against the checkpoint's root exactly when it is the
//! log's content there; every edit, deletion, insertion, duplicate, reorder or shift is
//! refused. Proofs from stored tiles equal those from memory.

use countersign_tlog::range::{decompose, verify_range, CompactRange, RangeProof};
use countersign_tlog::tiled::{integrate, TileSource, TiledTree};
use countersign_tlog::{empty_root, leaf_hash, Hash, MemoryLog, TileId};

fn leaves(n: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
        .collect()
}

#[test]
fn decompositions_tile_the_range_with_aligned_blocks() {
    for begin in 0..70u64 {
        for end in begin..70 {
            let blocks = decompose(begin, end);
            let mut pos = begin;
            for (level, index) in &blocks {
                assert_eq!(index << level, pos, "[{begin}, {end})");
                pos += 1 << level;
            }
            assert_eq!(pos, end);
            // At most two blocks per level: the compact range is minimal.
            for level in 0..8u8 {
                assert!(blocks.iter().filter(|(l, _)| *l == level).count() <= 2);
            }
        }
    }
    assert_eq!(decompose(0, 6), vec![(2, 0), (1, 2)]);
    assert_eq!(decompose(3, 13), vec![(0, 3), (2, 1), (2, 2), (0, 12)]);
}

#[test]
fn compact_ranges_compose_to_the_root() {
    let all = leaves(40);
    let mut log = MemoryLog::new();
    for h in &all {
        log.append_leaf_hash(*h);
    }
    for size in 0..=40u64 {
        for split in 0..=size {
            let mut left = CompactRange::new(0);
            all[..split as usize].iter().for_each(|h| left.push(*h));
            let mut right = CompactRange::new(split);
            all[split as usize..size as usize]
                .iter()
                .for_each(|h| right.push(*h));
            left.append(&right).unwrap();
            assert_eq!(
                left.root().unwrap(),
                log.root_at(size).unwrap(),
                "{split} | {size}"
            );
        }
    }
    assert!(CompactRange::new(3).root().is_err());
    let mut gap = CompactRange::new(0);
    gap.push(all[0]);
    assert!(gap.append(&CompactRange::new(2)).is_err());
}

#[test]
fn a_range_verifies_exactly_when_it_is_the_log_s_content() {
    let all = leaves(33);
    let mut log = MemoryLog::new();
    for h in &all {
        log.append_leaf_hash(*h);
    }
    let mut refused = 0usize;
    for size in 1..=33u64 {
        let root = log.root_at(size).unwrap();
        for start in 0..=size {
            for end in start..=size {
                let proof = log.range_proof(start, end, size).unwrap();
                let run = &all[start as usize..end as usize];
                assert_eq!(
                    verify_range(start, run.iter().copied(), size, &root, &proof).unwrap(),
                    end
                );
                let check = |s: u64, hashes: Vec<Hash>| {
                    verify_range(s, hashes, size, &root, &proof).is_err()
                };
                let mut bad: Vec<(String, u64, Vec<Hash>)> = Vec::new();
                for i in 0..run.len() {
                    let mut edited = run.to_vec();
                    edited[i].0[7] ^= 0x10;
                    bad.push((format!("leaf {i} edited"), start, edited));
                    let mut deleted = run.to_vec();
                    deleted.remove(i);
                    bad.push((format!("leaf {i} deleted"), start, deleted));
                    let mut repeated = run.to_vec();
                    repeated.insert(i, run[i]);
                    bad.push((format!("leaf {i} repeated"), start, repeated));
                    let mut inserted = run.to_vec();
                    inserted.insert(i, leaf_hash(b"forged"));
                    bad.push((format!("leaf inserted before {i}"), start, inserted));
                    if i + 1 < run.len() {
                        let mut swapped = run.to_vec();
                        swapped.swap(i, i + 1);
                        bad.push((format!("leaves {i} and {} swapped", i + 1), start, swapped));
                    }
                }
                let mut appended = run.to_vec();
                appended.push(leaf_hash(b"forged"));
                bad.push(("leaf appended".into(), start, appended));
                if start > 0 {
                    bad.push(("start - 1".into(), start - 1, run.to_vec()));
                }
                bad.push(("start + 1".into(), start + 1, run.to_vec()));
                for (what, s, hashes) in bad {
                    assert!(check(s, hashes), "[{start}, {end}) of {size}: {what}");
                    refused += 1;
                }
                // The proof's own hashes: each bit-flip, and each one dropped or added.
                for side in 0..2 {
                    let hashes = if side == 0 { &proof.left } else { &proof.right };
                    for i in 0..hashes.len() {
                        let mut p = proof.clone();
                        let target = if side == 0 { &mut p.left } else { &mut p.right };
                        target[i].0[31] ^= 1;
                        assert!(verify_range(start, run.iter().copied(), size, &root, &p).is_err());
                        let mut p = proof.clone();
                        let target = if side == 0 { &mut p.left } else { &mut p.right };
                        target.remove(i);
                        assert!(verify_range(start, run.iter().copied(), size, &root, &p).is_err());
                    }
                    let mut p = proof.clone();
                    let target = if side == 0 { &mut p.left } else { &mut p.right };
                    target.push(root);
                    assert!(verify_range(start, run.iter().copied(), size, &root, &p).is_err());
                }
                if size > 1 {
                    let other_root = log.root_at(size - 1).unwrap();
                    assert!(
                        verify_range(start, run.iter().copied(), size, &other_root, &proof)
                            .is_err()
                    );
                }
            }
        }
    }
    assert!(refused > 10_000, "{refused}");
    // The whole log needs no proof at all.
    let root = log.root_at(33).unwrap();
    verify_range(0, all.iter().copied(), 33, &root, &RangeProof::default()).unwrap();
}

struct Tiles(std::collections::HashMap<TileId, Vec<u8>>);

impl TileSource for Tiles {
    fn read_tiles(
        &self,
        tiles: &[TileId],
    ) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
        tiles
            .iter()
            .map(|t| self.0.get(t).cloned().ok_or_else(|| t.path().into()))
            .collect()
    }
}

#[test]
fn range_proofs_from_tiles_equal_those_from_memory() {
    let all = leaves(1_000);
    let mut log = MemoryLog::new();
    for h in &all {
        log.append_leaf_hash(*h);
    }
    let out = integrate(&Tiles(Default::default()), 0, empty_root(), &all).unwrap();
    let tiles = Tiles(out.tiles.into_iter().collect());
    let tree = TiledTree::new(&tiles, 1_000, out.root);
    for (start, end) in [
        (0, 1_000),
        (0, 1),
        (1, 2),
        (255, 513),
        (300, 1_000),
        (999, 1_000),
        (7, 7),
    ] {
        let proof = tree.range_proof(start, end).unwrap();
        assert_eq!(
            proof,
            log.range_proof(start, end, 1_000).unwrap(),
            "[{start}, {end})"
        );
        let run = all[start as usize..end as usize].iter().copied();
        assert_eq!(
            verify_range(start, run, 1_000, &out.root, &proof).unwrap(),
            end
        );
    }
    assert!(tree.range_proof(5, 4).is_err());
    assert!(tree.range_proof(0, 1_001).is_err());
}
