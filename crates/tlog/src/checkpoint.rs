//! The C2SP `tlog-checkpoint` body: the origin line, the tree size in decimal, the root hash in
//! base64, then optional non-empty extension lines, each ending in a newline.
//!
//! ```text
//! countersign.example/log
//! 923748
//! nND/nri//U0xuHUrYSy0HtMeal2vzD9V4k/BO79C+QeI=
//! ```

use crate::error::TlogError;
use crate::hash::Hash;

/// A checkpoint: the log's origin, a tree size and that tree's root.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Extension lines, without their newlines; none may be empty.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint with no extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The body, every line ending in a newline. Refuses an empty origin, or a line that
    /// is empty or holds a newline.
    pub fn to_body(&self) -> Result<String, TlogError> {
        if self.origin.contains('\n') {
            return Err(TlogError::Checkpoint("the origin holds a newline".into()));
        }
        let mut extension = String::new();
        for line in &self.extensions {
            if line.contains('\n') {
                return Err(TlogError::Checkpoint(
                    "an extension line holds a newline".into(),
                ));
            }
            extension.push_str(line);
            extension.push('\n');
        }
        let inner = tlog_tiles::Checkpoint::new(&self.origin, self.size, self.root, &extension)
            .map_err(|_| TlogError::Checkpoint("empty origin or extension line".into()))?;
        String::from_utf8(inner.to_bytes()).map_err(|_| TlogError::Checkpoint("not UTF-8".into()))
    }

    /// Parse a body, exactly: nothing before the origin, nothing after the last newline, a
    /// size in canonical decimal, a root of exactly 32 bytes.
    pub fn parse_body(body: &[u8]) -> Result<Self, TlogError> {
        let inner = tlog_tiles::Checkpoint::from_bytes(body)
            .map_err(|e| TlogError::Checkpoint(e.to_string()))?;
        let extensions = inner
            .extension()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        Ok(Self {
            origin: inner.origin().to_owned(),
            size: inner.size(),
            root: *inner.hash(),
            extensions,
        })
    }
}
