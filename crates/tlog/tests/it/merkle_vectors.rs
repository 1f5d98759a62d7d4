//! The transparency-dev/merkle proof vectors (`testdata/merkle`): every happy path verifies and
//! is what this crate generates; every corrupted vector, and every further corruption this
//! test derives from the happy paths, is refused.

use std::path::{Path, PathBuf};

use countersign_tlog::hash::parse_hash;
use countersign_tlog::proof::decode_proof;
use countersign_tlog::{verify_consistency, verify_inclusion, Hash, MemoryLog, TlogError};
use serde::Deserialize;

/// The RFC 6962 test tree's leaves, which the vectors prove against.
fn rfc6962_leaves() -> Vec<Vec<u8>> {
    vec![
        vec![],
        vec![0x00],
        vec![0x10],
        vec![0x20, 0x21],
        vec![0x30, 0x31],
        vec![0x40, 0x41, 0x42, 0x43],
        (0x50..0x58).collect(),
        (0x60..0x70).collect(),
    ]
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionVector {
    leaf_idx: i64,
    tree_size: i64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyVector {
    size1: i64,
    size2: i64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

fn vectors<T: for<'de> Deserialize<'de>>(kind: &str) -> Vec<(PathBuf, T)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata/merkle")
        .join(kind);
    let mut out = Vec::new();
    for case in std::fs::read_dir(&dir).unwrap() {
        for file in std::fs::read_dir(case.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let v = serde_json::from_slice(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((path, v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Inclusion check over the wire form: a malformed hash or a negative size is a refusal too.
fn check_inclusion(
    index: i64,
    size: i64,
    root: &str,
    leaf: &str,
    proof: &[String],
) -> Result<(), TlogError> {
    let (Ok(index), Ok(size)) = (u64::try_from(index), u64::try_from(size)) else {
        return Err(TlogError::InvalidProof);
    };
    verify_inclusion(
        &parse_hash(leaf)?,
        index,
        size,
        &parse_hash(root)?,
        &decode_proof(proof)?,
    )
}

fn check_consistency(
    size1: i64,
    size2: i64,
    root1: &str,
    root2: &str,
    proof: &[String],
) -> Result<(), TlogError> {
    let (Ok(size1), Ok(size2)) = (u64::try_from(size1), u64::try_from(size2)) else {
        return Err(TlogError::InvalidProof);
    };
    verify_consistency(
        size1,
        size2,
        &parse_hash(root1)?,
        &parse_hash(root2)?,
        &decode_proof(proof)?,
    )
}

#[test]
fn inclusion_vectors_verify_or_are_refused_as_marked() {
    let all = vectors::<InclusionVector>("inclusion");
    assert!(all.len() >= 20, "fixtures missing: {}", all.len());
    let mut refused = 0;
    for (path, v) in &all {
        let got = check_inclusion(
            v.leaf_idx,
            v.tree_size,
            &v.root,
            &v.leaf_hash,
            v.proof.as_deref().unwrap_or_default(),
        );
        assert_eq!(
            got.is_err(),
            v.want_err,
            "{} ({}): {got:?}",
            path.display(),
            v.desc
        );
        refused += usize::from(v.want_err);
    }
    assert!(refused >= 15, "only {refused} corrupted vectors");
}

#[test]
fn consistency_vectors_verify_or_are_refused_as_marked() {
    let all = vectors::<ConsistencyVector>("consistency");
    assert!(all.len() >= 20, "fixtures missing: {}", all.len());
    for (path, v) in &all {
        let got = check_consistency(
            v.size1,
            v.size2,
            &v.root1,
            &v.root2,
            v.proof.as_deref().unwrap_or_default(),
        );
        assert_eq!(
            got.is_err(),
            v.want_err,
            "{} ({}): {got:?}",
            path.display(),
            v.desc
        );
    }
}

#[test]
fn the_crate_builds_the_vectors_roots_and_proofs() {
    let log = MemoryLog::from_leaves(rfc6962_leaves());
    for (path, v) in vectors::<InclusionVector>("inclusion") {
        if v.want_err {
            continue;
        }
        let (index, size) = (v.leaf_idx as u64, v.tree_size as u64);
        assert_eq!(
            log.root_at(size).unwrap(),
            parse_hash(&v.root).unwrap(),
            "{}",
            path.display()
        );
        assert_eq!(
            log.leaf_hash(index).unwrap(),
            parse_hash(&v.leaf_hash).unwrap()
        );
        let want = decode_proof(v.proof.as_deref().unwrap_or_default()).unwrap();
        assert_eq!(
            log.inclusion_proof(index, size).unwrap(),
            want,
            "{}",
            path.display()
        );
    }
    for (path, v) in vectors::<ConsistencyVector>("consistency") {
        if v.want_err {
            continue;
        }
        let (old, new) = (v.size1 as u64, v.size2 as u64);
        assert_eq!(log.root_at(old).unwrap(), parse_hash(&v.root1).unwrap());
        assert_eq!(log.root_at(new).unwrap(), parse_hash(&v.root2).unwrap());
        let want = decode_proof(v.proof.as_deref().unwrap_or_default()).unwrap();
        assert_eq!(
            log.consistency_proof(old, new).unwrap(),
            want,
            "{}",
            path.display()
        );
    }
}

/// Every way this test knows to spoil a proof's hashes.
fn corruptions(proof: &[Hash], roots: &[Hash]) -> Vec<(String, Vec<Hash>)> {
    let mut out = Vec::new();
    for i in 0..proof.len() {
        for bit in 0..256 {
            let mut p = proof.to_vec();
            p[i].0[bit / 8] ^= 1 << (bit % 8);
            out.push((format!("proof[{i}] bit {bit} flipped"), p));
        }
        let mut p = proof.to_vec();
        p.remove(i);
        out.push((format!("proof[{i}] removed"), p));
        let mut p = proof.to_vec();
        p.insert(i, Hash([0xab; 32]));
        out.push((format!("hash inserted before proof[{i}]"), p));
        let mut p = proof.to_vec();
        p.insert(i, p[i]);
        out.push((format!("proof[{i}] repeated"), p));
        for j in i + 1..proof.len() {
            if proof[i] != proof[j] {
                let mut p = proof.to_vec();
                p.swap(i, j);
                out.push((format!("proof[{i}] and proof[{j}] swapped"), p));
            }
        }
    }
    if !proof.is_empty() {
        out.push(("truncated to nothing".into(), Vec::new()));
    }
    let extras = [Hash([0; 32]), Hash([0xff; 32])]
        .into_iter()
        .chain(roots.iter().copied());
    for extra in extras {
        let mut p = proof.to_vec();
        p.push(extra);
        out.push((format!("{extra} appended"), p));
        let mut p = proof.to_vec();
        p.insert(0, extra);
        out.push((format!("{extra} prepended"), p));
    }
    out
}

/// Which side each proof hash joins on (true: the proof hash is the left child), from the leaf
/// up, for leaf `n` of the subtree of leaves `lo..hi`. A tree's root does not bind its size:
/// an honest proof also verifies at a wrong size whose path has the very same shape (leaf 0 of
/// 7 leaves and of 8), which only the signed checkpoint's size rules out. So a wrong size must
/// be refused exactly when its shape differs.
fn inclusion_shape(lo: u64, hi: u64, n: u64) -> Option<Vec<bool>> {
    if !(lo..hi).contains(&n) {
        return None;
    }
    if hi - lo == 1 {
        return Some(Vec::new());
    }
    let k = 1u64 << (hi - lo - 1).ilog2();
    let mut shape = if n < lo + k {
        inclusion_shape(lo, lo + k, n)?
    } else {
        inclusion_shape(lo + k, hi, n)?
    };
    shape.push(n >= lo + k);
    Some(shape)
}

/// The same for a consistency proof from `n` leaves within leaves `lo..hi`: `Some(true)` a
/// left hash, `Some(false)` a right hash, `None` the shared subtree's own hash.
fn consistency_shape(lo: u64, hi: u64, n: u64) -> Option<Vec<Option<bool>>> {
    if n == 0 || n > hi || n <= lo {
        return None;
    }
    if n == hi {
        return Some(if lo == 0 { Vec::new() } else { vec![None] });
    }
    let k = 1u64 << (hi - lo - 1).ilog2();
    let mut shape = if n <= lo + k {
        consistency_shape(lo, lo + k, n)?
    } else {
        consistency_shape(lo + k, hi, n)?
    };
    shape.push(Some(n > lo + k));
    Some(shape)
}

fn wrong_sizes(n: u64) -> Vec<u64> {
    let mut sizes = vec![
        0,
        1,
        n.wrapping_sub(1),
        n + 1,
        n * 2,
        n / 2,
        n ^ 1,
        n ^ 2,
        n ^ 4,
        u64::MAX,
        u64::MAX - 1,
        1 << 63,
    ];
    sizes.retain(|&s| s != n);
    sizes
}

#[test]
fn every_derived_corruption_of_an_inclusion_proof_is_refused() {
    let mut checked = 0;
    for (path, v) in vectors::<InclusionVector>("inclusion") {
        if v.want_err {
            continue;
        }
        let (index, size) = (v.leaf_idx as u64, v.tree_size as u64);
        let root = parse_hash(&v.root).unwrap();
        let leaf = parse_hash(&v.leaf_hash).unwrap();
        let proof = decode_proof(v.proof.as_deref().unwrap_or_default()).unwrap();
        verify_inclusion(&leaf, index, size, &root, &proof).unwrap();
        let ctx = path.display();

        for (what, bad) in corruptions(&proof, &[root, leaf]) {
            assert!(
                verify_inclusion(&leaf, index, size, &root, &bad).is_err(),
                "{ctx}: {what}"
            );
            checked += 1;
        }
        let shape = inclusion_shape(0, size, index);
        for bad_index in wrong_sizes(index) {
            assert!(
                verify_inclusion(&leaf, bad_index, size, &root, &proof).is_err(),
                "{ctx}: index {bad_index}"
            );
        }
        let mut same_shape = 0;
        for bad_size in wrong_sizes(size).into_iter().chain(1..64) {
            if bad_size == size {
                continue;
            }
            let got = verify_inclusion(&leaf, index, bad_size, &root, &proof);
            if inclusion_shape(0, bad_size, index) == shape {
                assert!(got.is_ok(), "{ctx}: size {bad_size} has the same shape");
                same_shape += 1;
            } else {
                assert!(got.is_err(), "{ctx}: size {bad_size}");
            }
        }
        assert!(same_shape < 64, "{ctx}: every size accepted");
        for bit in 0..256 {
            let mut bad_root = root;
            bad_root.0[bit / 8] ^= 1 << (bit % 8);
            assert!(verify_inclusion(&leaf, index, size, &bad_root, &proof).is_err());
            let mut bad_leaf = leaf;
            bad_leaf.0[bit / 8] ^= 1 << (bit % 8);
            assert!(verify_inclusion(&bad_leaf, index, size, &root, &proof).is_err());
        }
        if leaf != root {
            assert!(
                verify_inclusion(&root, index, size, &leaf, &proof).is_err(),
                "{ctx}: leaf and root swapped"
            );
        }
    }
    assert!(checked > 1000, "only {checked} corruptions");
}

#[test]
fn every_derived_corruption_of_a_consistency_proof_is_refused() {
    for (path, v) in vectors::<ConsistencyVector>("consistency") {
        if v.want_err {
            continue;
        }
        let (old, new) = (v.size1 as u64, v.size2 as u64);
        let root1 = parse_hash(&v.root1).unwrap();
        let root2 = parse_hash(&v.root2).unwrap();
        let proof = decode_proof(v.proof.as_deref().unwrap_or_default()).unwrap();
        verify_consistency(old, new, &root1, &root2, &proof).unwrap();
        let ctx = path.display();

        for (what, bad) in corruptions(&proof, &[root1, root2]) {
            assert!(
                verify_consistency(old, new, &root1, &root2, &bad).is_err(),
                "{ctx}: {what}"
            );
        }
        let shape = consistency_shape(0, new, old);
        for bad in wrong_sizes(old).into_iter().chain(0..64) {
            if bad == old {
                continue;
            }
            let got = verify_consistency(bad, new, &root1, &root2, &proof);
            if consistency_shape(0, new, bad) == shape {
                assert!(got.is_ok(), "{ctx}: old size {bad} has the same shape");
            } else {
                assert!(got.is_err(), "{ctx}: old size {bad}");
            }
        }
        for bad in wrong_sizes(new).into_iter().chain(0..64) {
            if bad == new {
                continue;
            }
            let got = verify_consistency(old, bad, &root1, &root2, &proof);
            if consistency_shape(0, bad, old) == shape {
                assert!(got.is_ok(), "{ctx}: new size {bad} has the same shape");
            } else {
                assert!(got.is_err(), "{ctx}: new size {bad}");
            }
        }
        if root1 != root2 {
            assert!(
                verify_consistency(old, new, &root2, &root1, &proof).is_err(),
                "{ctx}: roots swapped"
            );
        }
        for bit in 0..256 {
            let mut bad = root1;
            bad.0[bit / 8] ^= 1 << (bit % 8);
            assert!(verify_consistency(old, new, &bad, &root2, &proof).is_err());
            let mut bad = root2;
            bad.0[bit / 8] ^= 1 << (bit % 8);
            assert!(verify_consistency(old, new, &root1, &bad, &proof).is_err());
        }
    }
}

#[test]
fn malformed_hashes_in_a_proof_are_refused_before_verification() {
    let good = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
    for bad in [
        "",
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg",
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg==",
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQygA",
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        " XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg=",
        "V3JvbmdMZWFm",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ] {
        assert!(parse_hash(bad).is_err(), "{bad:?}");
        assert!(decode_proof(&[good, bad]).is_err(), "{bad:?}");
    }
    assert!(decode_proof(&[good]).is_ok());
}
