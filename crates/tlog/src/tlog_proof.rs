//! C2SP `tlog-proof`: an offline-verifiable proof that an entry is in the log — the header
//! line, optional unauthenticated extra data, the entry's index, its inclusion proof one hash a
//! line, an empty line, and the signed checkpoint verbatim.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! index 73894
//! gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
//! B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
//!
//! example.com/fancylog
//! 109482
//! sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=
//!
//! — example.com/fancylog hI2DJw…
//! ```

use base64::prelude::*;

use crate::checkpoint::Checkpoint;
use crate::error::TlogError;
use crate::hash::{leaf_hash, parse_hash, Hash};
use crate::note::LogVerifier;
use crate::proof::verify_inclusion;

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A parsed `tlog-proof`. Nothing in it is trusted until [`TlogProof::verify`] says so, and
/// `extra` never is.
#[derive(Debug, Clone, PartialEq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    /// The entry's leaf index.
    pub index: u64,
    /// Its inclusion proof in the checkpoint's tree, from the leaf's sibling up.
    pub inclusion_proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    /// The text form.
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", BASE64_STANDARD.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.inclusion_proof {
            out.push_str(&format!("{h}\n"));
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parse the text form, exactly: the header first, a canonical decimal index, every proof
    /// line the base64 of 32 bytes, and a checkpoint after the empty line.
    pub fn parse(text: &[u8]) -> Result<Self, TlogError> {
        let bad = |why: &str| TlogError::Note(format!("tlog-proof: {why}"));
        let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8"))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line before the checkpoint"))?;
        if checkpoint.is_empty() {
            return Err(bad("no checkpoint"));
        }
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(bad("the first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or_else(|| bad("no index line"))?;
        let extra = match line.strip_prefix("extra ") {
            Some(b64) => {
                let data = BASE64_STANDARD
                    .decode(b64)
                    .map_err(|_| bad("extra is not base64"))?;
                line = lines.next().ok_or_else(|| bad("no index line"))?;
                Some(data)
            }
            None => None,
        };
        let digits = line
            .strip_prefix("index ")
            .ok_or_else(|| bad("no index line"))?;
        let index: u64 = digits.parse().map_err(|_| bad("malformed index"))?;
        if index.to_string() != digits {
            return Err(bad("index is not canonical decimal"));
        }
        let inclusion_proof = lines.map(parse_hash).collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            extra,
            index,
            inclusion_proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Verify that `leaf` is the entry at [`TlogProof::index`] of the log `verifier` names:
    /// the checkpoint is signed by its key for its origin, and the inclusion proof leads from
    /// the leaf to the checkpoint's root. Returns the checkpoint.
    pub fn verify(&self, verifier: &LogVerifier, leaf: &[u8]) -> Result<Checkpoint, TlogError> {
        let checkpoint = verifier.open_checkpoint(self.checkpoint.as_bytes())?;
        verify_inclusion(
            &leaf_hash(leaf),
            self.index,
            checkpoint.size,
            &checkpoint.root,
            &self.inclusion_proof,
        )?;
        Ok(checkpoint)
    }
}
