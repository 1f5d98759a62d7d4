//! Entry bundles (C2SP `tlog-tiles`): each leaf as a 2-byte big-endian length and its bytes,
//! one after the other, at most 256 leaves.

use crate::error::TlogError;
use crate::tile::TILE_WIDTH;

/// Largest leaf an entry bundle can hold.
pub const MAX_LEAF_LEN: usize = u16::MAX as usize;

// Every audit event the domain accepts fits in an entry bundle.
const _: () = assert!(countersign_domain::audit::MAX_EVENT_BYTES <= MAX_LEAF_LEN);

/// Encode `leaves` as an entry bundle. A leaf over 65,535 bytes, or more than 256 leaves, is
/// refused.
pub fn encode_entry_bundle<L: AsRef<[u8]>>(leaves: &[L]) -> Result<Vec<u8>, TlogError> {
    if leaves.len() > TILE_WIDTH as usize {
        return Err(TlogError::EntryBundle(format!(
            "{} leaves, at most {TILE_WIDTH}",
            leaves.len()
        )));
    }
    let total: usize = leaves.iter().map(|l| 2 + l.as_ref().len()).sum();
    let mut out = Vec::with_capacity(total);
    for (i, leaf) in leaves.iter().enumerate() {
        let leaf = leaf.as_ref();
        let len = u16::try_from(leaf.len()).map_err(|_| {
            TlogError::EntryBundle(format!(
                "leaf {i} is {} bytes, at most {MAX_LEAF_LEN}",
                leaf.len()
            ))
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(leaf);
    }
    Ok(out)
}

/// Decode an entry bundle into its leaves. A truncated length or leaf, or more than 256
/// leaves, is refused.
pub fn decode_entry_bundle(bundle: &[u8]) -> Result<Vec<Vec<u8>>, TlogError> {
    let mut leaves = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        if leaves.len() == TILE_WIDTH as usize {
            return Err(TlogError::EntryBundle(format!(
                "more than {TILE_WIDTH} leaves"
            )));
        }
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err(TlogError::EntryBundle(format!(
                "truncated length of leaf {}",
                leaves.len()
            )));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(TlogError::EntryBundle(format!(
                "leaf {} needs {len} bytes, {} left",
                leaves.len(),
                tail.len()
            )));
        }
        let (leaf, tail) = tail.split_at(len);
        leaves.push(leaf.to_vec());
        rest = tail;
    }
    Ok(leaves)
}
