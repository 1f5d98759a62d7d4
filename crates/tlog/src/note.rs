//! C2SP `signed-note` with Ed25519, for checkpoints.
//!
//! - The verifier key is `<name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>`, the key
//!   id the first 4 bytes of `SHA-256(name || 0x0A || 0x01 || public key)`, big-endian.
//! - The signer key, kept in a file or secret and never in the database, is Go's
//!   `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte seed)>`.
//! - A log's key name is its origin: [`LogVerifier::open_checkpoint`] refuses a checkpoint
//!   whose origin is not the key's name.
//!
//! Parsing, signing and verifying notes is `signed_note`'s.

use std::fmt;

use base64::prelude::*;
use ed25519_dalek::{SigningKey, VerifyingKey};
use signed_note::{Note, Signer as _, StandardSigner, StandardVerifier, VerifierList};

use crate::checkpoint::Checkpoint;
use crate::error::TlogError;

/// The Ed25519 signature type byte.
pub const ALG_ED25519: u8 = 0x01;

/// The key id of an Ed25519 key named `name`: the first 4 bytes, big-endian, of
/// `SHA-256(name || 0x0A || 0x01 || public key)`.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut encoded = Vec::with_capacity(33);
    encoded.push(ALG_ED25519);
    encoded.extend_from_slice(public_key);
    signed_note::key_id(name, &encoded)
}

/// Whether `name` can name a key (and so a log): non-empty, no Unicode space, no `+`.
pub fn is_valid_name(name: &str) -> bool {
    signed_note::is_key_name_valid(name)
}

/// A log's signing key. `Debug` shows the name and key id, never the key.
#[derive(Clone)]
pub struct LogSigner {
    name: String,
    signer: StandardSigner,
    verifying_key: VerifyingKey,
}

impl fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id()))
            .finish_non_exhaustive()
    }
}

impl LogSigner {
    /// A new key for the log named `origin`, from the operating system's random source.
    /// Returns the signer and its secret key string (to be written to the key file).
    pub fn generate(origin: &str) -> Result<(Self, String), TlogError> {
        if !is_valid_name(origin) {
            return Err(TlogError::Key(format!(
                "`{origin}` cannot name a key: it must be non-empty, without spaces or `+`"
            )));
        }
        let (secret, _) = signed_note::generate_key(&mut rand::rngs::OsRng, origin);
        let signer = Self::from_secret(&secret)?;
        Ok((signer, secret))
    }

    /// The signer of a secret key string `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>`.
    pub fn from_secret(secret: &str) -> Result<Self, TlogError> {
        let secret = secret.trim_end_matches(['\n', '\r']);
        let signer =
            StandardSigner::new(secret).map_err(|e| TlogError::Key(format!("signer key: {e}")))?;
        // `StandardSigner` checked the format and the id; the seed is the fifth field (the
        // base64 may hold `+`, the fields before it may not).
        let seed_b64 = secret.splitn(5, '+').nth(4).unwrap_or_default();
        let encoded = BASE64_STANDARD
            .decode(seed_b64)
            .map_err(|e| TlogError::Key(format!("signer key: {e}")))?;
        let seed: [u8; 32] = encoded
            .get(1..)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| TlogError::Key("signer key: not a 32-byte Ed25519 seed".into()))?;
        let verifying_key = SigningKey::from_bytes(&seed).verifying_key();
        Ok(Self {
            name: signer.name().to_owned(),
            signer,
            verifying_key,
        })
    }

    /// The key's name: the log's origin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.signer.key_id()
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.verifying_key.to_bytes()
    }

    /// The verifier key string, `<name>+<id>+<base64(0x01 || public key)>`.
    pub fn verifier_key(&self) -> String {
        signed_note::new_ed25519_verifier_key(&self.name, &self.verifying_key)
    }

    /// The verifier for this key.
    pub fn verifier(&self) -> LogVerifier {
        LogVerifier::new(&self.verifier_key()).expect("a signer's own verifier key parses")
    }

    /// Sign `checkpoint` as a note. Its origin must be this key's name.
    pub fn sign_checkpoint(&self, checkpoint: &Checkpoint) -> Result<String, TlogError> {
        if checkpoint.origin != self.name {
            return Err(TlogError::Checkpoint(format!(
                "origin `{}` is not the key's name `{}`",
                checkpoint.origin, self.name
            )));
        }
        self.sign_text(&checkpoint.to_body()?)
    }

    /// Sign any note text (ending in a newline) with this key.
    pub fn sign_text(&self, text: &str) -> Result<String, TlogError> {
        let mut note =
            Note::new(text.as_bytes(), &[]).map_err(|e| TlogError::Note(e.to_string()))?;
        note.add_sigs(&[&self.signer])
            .map_err(|e| TlogError::Note(e.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|e| TlogError::Note(e.to_string()))
    }
}

/// A log's verifier key.
#[derive(Clone)]
pub struct LogVerifier {
    name: String,
    key_id: u32,
    public_key: [u8; 32],
    verifier: StandardVerifier,
}

impl fmt::Debug for LogVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogVerifier")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl LogVerifier {
    /// Parse a verifier key string, `<name>+<8 hex id>+<base64(0x01 || public key)>`; the id
    /// must be the key's.
    pub fn new(verifier_key: &str) -> Result<Self, TlogError> {
        let verifier_key = verifier_key.trim_end_matches(['\n', '\r']);
        let verifier = StandardVerifier::new(verifier_key)
            .map_err(|e| TlogError::Key(format!("verifier key: {e}")))?;
        let mut parts = verifier_key.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TlogError::Key("verifier key: expected name+id+key".into()));
        };
        let key_id = u32::from_str_radix(id, 16)
            .map_err(|e| TlogError::Key(format!("verifier key id: {e}")))?;
        let encoded = BASE64_STANDARD
            .decode(key)
            .map_err(|e| TlogError::Key(format!("verifier key: {e}")))?;
        let public_key: [u8; 32] = encoded
            .get(1..)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| TlogError::Key("verifier key: not a 32-byte Ed25519 key".into()))?;
        Ok(Self {
            name: name.to_owned(),
            key_id,
            verifier,
            public_key,
        })
    }

    /// The key's name: the log's origin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The verifier key string.
    pub fn verifier_key(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64_STANDARD.encode([&[ALG_ED25519][..], &self.public_key].concat())
        )
    }

    /// Verify a signed note: it must parse exactly and carry exactly one signature by this
    /// key, a valid one. Signatures by other keys are ignored. Returns the text.
    ///
    /// `signed_note` (like Go's `sumdb/note`) verifies only the first signature per key and
    /// skips repeats; C2SP says every signature by a known key must be verified, so a second
    /// one is refused here rather than left unchecked.
    pub fn open(&self, note: &[u8]) -> Result<String, TlogError> {
        let parsed = Note::from_bytes(note).map_err(|e| TlogError::Note(e.to_string()))?;
        let text = std::str::from_utf8(note).map_err(|e| TlogError::Note(e.to_string()))?;
        let (_, signatures) = text
            .rsplit_once("\n\n")
            .ok_or_else(|| TlogError::Note("no signature block".into()))?;
        let ours = signatures
            .lines()
            .filter_map(|line| signed_note::Signature::from_bytes(line.as_bytes()).ok())
            .filter(|sig| sig.name() == self.name && sig.id() == self.key_id)
            .count();
        if ours > 1 {
            return Err(TlogError::Note(format!(
                "{ours} signatures by the log's key, expected one"
            )));
        }
        let known = VerifierList::new(vec![Box::new(self.verifier.clone())]);
        parsed
            .verify(&known)
            .map_err(|e| TlogError::Note(e.to_string()))?;
        String::from_utf8(parsed.text().to_vec()).map_err(|e| TlogError::Note(e.to_string()))
    }

    /// Verify a signed checkpoint and parse it; its origin must be this key's name.
    pub fn open_checkpoint(&self, note: &[u8]) -> Result<Checkpoint, TlogError> {
        let text = self.open(note)?;
        let checkpoint = Checkpoint::parse_body(text.as_bytes())?;
        if checkpoint.origin != self.name {
            return Err(TlogError::Checkpoint(format!(
                "origin `{}` is not the key's name `{}`",
                checkpoint.origin, self.name
            )));
        }
        Ok(checkpoint)
    }
}
