//! The crate against implementations that share none of its code: a naive recursive RFC 6962
//! (RFC 9162 §2.1) written here over `sha2`, and Python's `hashlib` run as a separate process.
//! Roots, inclusion proofs and consistency proofs must agree for every small size.

use std::io::Write;
use std::process::{Command, Stdio};

use countersign_tlog::{
    leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion, Hash, MemoryLog,
    RootBuilder,
};
use sha2::{Digest, Sha256};

fn naive_leaf(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn naive_node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]).
fn naive_root(leaves: &[Vec<u8>]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => naive_leaf(&leaves[0]),
        n => {
            let k = split(n);
            naive_node(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]).
fn naive_path(m: usize, leaves: &[Vec<u8>]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if n == 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = naive_path(m, &leaves[..k]);
        p.push(naive_root(&leaves[k..]));
        p
    } else {
        let mut p = naive_path(m - k, &leaves[k..]);
        p.push(naive_root(&leaves[..k]));
        p
    }
}

/// SUBPROOF(m, D[n], b).
fn naive_subproof(m: usize, leaves: &[Vec<u8>], b: bool) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if m == n {
        return if b {
            Vec::new()
        } else {
            vec![naive_root(leaves)]
        };
    }
    let k = split(n);
    if m <= k {
        let mut p = naive_subproof(m, &leaves[..k], b);
        p.push(naive_root(&leaves[k..]));
        p
    } else {
        let mut p = naive_subproof(m - k, &leaves[k..], false);
        p.push(naive_root(&leaves[..k]));
        p
    }
}

fn leaves(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{{\"event\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 7)).into_bytes())
        .collect()
}

fn hashes(p: &[[u8; 32]]) -> Vec<Hash> {
    p.iter().map(|h| Hash(*h)).collect()
}

#[test]
fn roots_agree_with_a_naive_recursive_implementation() {
    let all = leaves(300);
    let mut log = MemoryLog::new();
    let mut builder = RootBuilder::new();
    assert_eq!(log.root().0, naive_root(&[]));
    assert_eq!(builder.root().0, naive_root(&[]));
    for n in 1..=all.len() {
        log.append(&all[n - 1]);
        builder.push(leaf_hash(&all[n - 1]));
        let want = naive_root(&all[..n]);
        assert_eq!(log.root().0, want, "memory log, {n} leaves");
        assert_eq!(builder.root().0, want, "root builder, {n} leaves");
        let leaf_hashes: Vec<Hash> = all[..n].iter().map(|l| leaf_hash(l)).collect();
        assert_eq!(root_from_leaf_hashes(&leaf_hashes).0, want);
    }
    assert_eq!(builder.size(), 300);
}

#[test]
fn proofs_agree_with_a_naive_recursive_implementation() {
    let all = leaves(70);
    let log = MemoryLog::from_leaves(&all);
    for n in 1..=all.len() {
        let root = Hash(naive_root(&all[..n]));
        for m in 0..n {
            let want = hashes(&naive_path(m, &all[..n]));
            let got = log.inclusion_proof(m as u64, n as u64).unwrap();
            assert_eq!(got, want, "inclusion of {m} in {n}");
            verify_inclusion(&leaf_hash(&all[m]), m as u64, n as u64, &root, &got).unwrap();
        }
        for m in 1..=n {
            let want = hashes(&naive_subproof(m, &all[..n], true));
            let got = log.consistency_proof(m as u64, n as u64).unwrap();
            assert_eq!(got, want, "consistency {m} -> {n}");
            let old = Hash(naive_root(&all[..m]));
            verify_consistency(m as u64, n as u64, &old, &root, &got).unwrap();
            if m < n {
                // The other tree's root must not pass for this one.
                assert!(verify_consistency(m as u64, n as u64, &root, &old, &got).is_err());
            }
        }
        verify_consistency(0, n as u64, &Hash(naive_root(&[])), &root, &[]).unwrap();
        // From the empty tree: only the empty root, only with an empty proof.
        assert!(verify_consistency(0, n as u64, &root, &root, &[]).is_err());
        assert!(verify_consistency(0, n as u64, &Hash(naive_root(&[])), &root, &[root]).is_err());
    }
}

/// The root of `leaves` as Python's `hashlib` computes it (a separate implementation in a
/// separate process), or `None` when no `python3` is installed.
fn python_roots(leaves: &[Vec<u8>]) -> Option<Vec<String>> {
    let script = r#"
import hashlib, sys
items = sys.stdin.read().split("\n")[:-1]
leaves = [bytes.fromhex(x[1:]) for x in items]
def root(ls):
    if not ls:
        return hashlib.sha256(b"").digest()
    if len(ls) == 1:
        return hashlib.sha256(b"\x00" + ls[0]).digest()
    k = 1
    while k * 2 < len(ls):
        k *= 2
    return hashlib.sha256(b"\x01" + root(ls[:k]) + root(ls[k:])).digest()
for n in range(len(leaves) + 1):
    print(root(leaves[:n]).hex())
"#;
    let mut child = match Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("python3: {e}"),
    };
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in leaves {
            // A leading `x` so that the empty leaf is a non-empty line.
            writeln!(stdin, "x{}", hex(l)).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 failed");
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn roots_agree_with_python_hashlib() {
    let mut all = leaves(70);
    all.insert(0, Vec::new());
    let Some(want) = python_roots(&all) else {
        eprintln!("python3 is not installed: the hashlib cross-check did not run");
        return;
    };
    assert_eq!(want.len(), all.len() + 1);
    let mut log = MemoryLog::new();
    assert_eq!(hex(&log.root().0), want[0]);
    for (n, leaf) in all.iter().enumerate() {
        log.append(leaf);
        assert_eq!(hex(&log.root().0), want[n + 1], "{} leaves", n + 1);
    }
}
