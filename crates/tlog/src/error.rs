//! [`TlogError`], the one error of this crate.

/// An error from a `tlog` function: a proof or signature that does not verify, or malformed
/// input (a hash, a path, a bundle, a checkpoint, a key).
#[derive(Debug, thiserror::Error)]
pub enum TlogError {
    /// The proof does not prove what it claims.
    #[error("invalid proof")]
    InvalidProof,
    /// Not the base64 of 32 bytes.
    #[error("malformed hash: {0}")]
    MalformedHash(String),
    /// A leaf index at or past the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// An older tree larger than the newer one, or a size past what is stored.
    #[error("tree size {size} is out of range: {reason}")]
    SizeOutOfRange { size: u64, reason: &'static str },
    /// Not a C2SP tile path.
    #[error("malformed tile path `{0}`")]
    TilePath(String),
    /// An entry bundle that does not decode, or a leaf too large for one.
    #[error("malformed entry bundle: {0}")]
    EntryBundle(String),
    /// Not a C2SP checkpoint.
    #[error("malformed checkpoint: {0}")]
    Checkpoint(String),
    /// A signer or verifier key that does not parse.
    #[error("malformed key: {0}")]
    Key(String),
    /// A signed note that is malformed or not signed by the expected key.
    #[error("note does not verify: {0}")]
    Note(String),
    /// Stored tiles that do not hash to the trusted root, or a tile the source did not give.
    #[error("tiles: {0}")]
    Tiles(String),
    /// The tile source failed.
    #[error("tile source: {0}")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync>),
}
