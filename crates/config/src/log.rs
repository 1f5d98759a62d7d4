//! The transparency log's settings and keys.
//!
//! The signing key lives in a file, never in the database: `countersign-server log keygen`
//! writes it (mode 0600) and prints the verifier key. The scheduler signs checkpoints with it
//! (`COUNTERSIGN_LOG_SIGNING_KEY_FILE`; without it the log is not sequenced). The server
//! needs only the verifier key: `COUNTERSIGN_LOG_VERIFIER_KEY`, or, when that is unset,
//! derived from `COUNTERSIGN_LOG_SIGNING_KEY_FILE` (one host running both); when both are
//! set they must name the same key.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgAction, Args};
use countersign_service::tlog::{LogSigner, LogVerifier};
use secrecy::{ExposeSecret, SecretString};

use crate::units::parse_duration;
use crate::{parse_bool, ConfigError};

const SIGNING_KEY_FILE: &str = "COUNTERSIGN_LOG_SIGNING_KEY_FILE";
const VERIFIER_KEY: &str = "COUNTERSIGN_LOG_VERIFIER_KEY";

/// The server's log settings.
#[derive(Debug, Clone, Args)]
pub struct ServerLogArgs {
    /// The log's verifier key (`<origin>+<key id>+<base64 key>`), served at
    /// `/api/v1/log/key`; when unset, derived from the signing key file if one is given.
    #[arg(id = "log_verifier_key", long = "log-verifier-key", env = VERIFIER_KEY)]
    pub verifier_key: Option<String>,
    /// The log's signing key file (only its verifier key is used by the server).
    #[arg(id = "log_signing_key_file", long = "log-signing-key-file", env = SIGNING_KEY_FILE)]
    pub signing_key_file: Option<PathBuf>,
    /// Serve the log's checkpoint, key and hash tiles without a key (for external monitors).
    #[arg(id = "log_public", long = "log-public", env = "COUNTERSIGN_LOG_PUBLIC", default_value = "false", value_parser = parse_bool, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub public: bool,
}

impl ServerLogArgs {
    /// The verifier key the server serves and checks checkpoints with, if configured.
    pub fn verifier(&self) -> Result<Option<LogVerifier>, ConfigError> {
        let given = self
            .verifier_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .map(|k| {
                LogVerifier::new(k.trim())
                    .map_err(|e| ConfigError::new(VERIFIER_KEY, e.to_string()))
            })
            .transpose()?;
        let derived = self
            .signing_key_file
            .as_deref()
            .map(load_signer)
            .transpose()?
            .map(|s| s.verifier());
        match (given, derived) {
            (Some(g), Some(d)) if g.verifier_key() != d.verifier_key() => Err(ConfigError::new(
                VERIFIER_KEY,
                format!(
                    "is not the key of {SIGNING_KEY_FILE} (that key's verifier is {})",
                    d.verifier_key()
                ),
            )),
            (Some(g), _) => Ok(Some(g)),
            (None, d) => Ok(d),
        }
    }
}

/// The scheduler's log settings.
#[derive(Debug, Clone, Args)]
pub struct SchedulerLogArgs {
    /// The log's signing key file (`countersign-server log keygen`); without it the log is
    /// not sequenced.
    #[arg(id = "log_signing_key_file", long = "log-signing-key-file", env = SIGNING_KEY_FILE)]
    pub signing_key_file: Option<PathBuf>,
    /// Events sequenced per transaction, 1 to 100000.
    #[arg(
        id = "log_batch",
        long = "log-batch",
        env = "COUNTERSIGN_LOG_BATCH",
        default_value_t = 10_000
    )]
    pub batch: u32,
    /// Sign a checkpoint once this many leaves were added since the last one…
    #[arg(
        id = "log_checkpoint_leaves",
        long = "log-checkpoint-leaves",
        env = "COUNTERSIGN_LOG_CHECKPOINT_LEAVES",
        default_value_t = 10_000
    )]
    pub checkpoint_leaves: u64,
    /// …or once this long has passed since the last one (and the log grew).
    #[arg(id = "log_checkpoint_interval", long = "log-checkpoint-interval", env = "COUNTERSIGN_LOG_CHECKPOINT_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub checkpoint_interval: Duration,
    /// Leaves the self-check re-reads and compares per pass (a rolling window).
    #[arg(
        id = "log_self_check_leaves",
        long = "log-self-check-leaves",
        env = "COUNTERSIGN_LOG_SELF_CHECK_LEAVES",
        default_value_t = 10_000
    )]
    pub self_check_leaves: u64,
}

impl SchedulerLogArgs {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=100_000).contains(&self.batch) {
            return Err(ConfigError::new(
                "COUNTERSIGN_LOG_BATCH",
                "must be between 1 and 100000",
            ));
        }
        if self.checkpoint_leaves == 0 {
            return Err(ConfigError::new(
                "COUNTERSIGN_LOG_CHECKPOINT_LEAVES",
                "must be at least 1",
            ));
        }
        if self.self_check_leaves == 0 {
            return Err(ConfigError::new(
                "COUNTERSIGN_LOG_SELF_CHECK_LEAVES",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The signing key, if a file is configured.
    pub fn signer(&self) -> Result<Option<LogSigner>, ConfigError> {
        self.signing_key_file
            .as_deref()
            .map(load_signer)
            .transpose()
    }
}

/// Read a signing key file (`PRIVATE+KEY+<origin>+<id>+<base64>`).
pub fn load_signer(path: &Path) -> Result<LogSigner, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            SIGNING_KEY_FILE,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let secret = SecretString::from(text);
    LogSigner::from_secret(secret.expose_secret().trim()).map_err(|e| {
        ConfigError::new(
            SIGNING_KEY_FILE,
            format!("{} does not hold a log signing key: {e}", path.display()),
        )
    })
}

/// Generate a signing key for the log named `origin`, write it to `out` (a new file, mode
/// 0600 on Unix; an existing file is never overwritten) and answer the verifier key.
pub fn keygen(origin: &str, out: &Path) -> Result<String, ConfigError> {
    let (signer, secret) =
        LogSigner::generate(origin).map_err(|e| ConfigError::new("--origin", e.to_string()))?;
    let secret = SecretString::from(secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(out).and_then(|mut f| {
        f.write_all(secret.expose_secret().as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    });
    written.map_err(|e| ConfigError::new("--out", format!("{}: {e}", out.display())))?;
    Ok(signer.verifier_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path in a fresh scratch directory of this test, removed with it.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "countersign-config-{name}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn keygen_writes_a_private_file_once_and_prints_its_verifier() {
        let dir = Scratch::new("keygen");
        let out = dir.0.join("log.key");
        let verifier = keygen("countersign.example/log", &out).unwrap();
        assert!(
            verifier.starts_with("countersign.example/log+"),
            "{verifier}"
        );
        let signer = load_signer(&out).unwrap();
        assert_eq!(signer.verifier_key(), verifier);
        assert_eq!(signer.name(), "countersign.example/log");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Never overwritten.
        let again = keygen("countersign.example/log", &out);
        assert_eq!(again.map_err(|e| e.setting), Err("--out"));
        assert_eq!(load_signer(&out).unwrap().verifier_key(), verifier);
        // A bad origin or a file that holds no key is refused, naming the setting.
        assert!(keygen("two words", &dir.0.join("other.key")).is_err());
        std::fs::write(dir.0.join("junk.key"), "not a key\n").unwrap();
        let junk = load_signer(&dir.0.join("junk.key")).unwrap_err();
        assert_eq!(junk.setting, SIGNING_KEY_FILE);
    }

    #[test]
    fn the_server_takes_the_verifier_key_or_derives_it_and_refuses_a_mismatch() {
        let dir = Scratch::new("verifier");
        let file = dir.0.join("log.key");
        let verifier = keygen("countersign.example/log", &file).unwrap();
        let other = keygen("countersign.example/log", &dir.0.join("other.key")).unwrap();
        let args = |key: Option<&str>, file: Option<&Path>| ServerLogArgs {
            verifier_key: key.map(str::to_owned),
            signing_key_file: file.map(Path::to_path_buf),
            public: false,
        };
        assert!(args(None, None).verifier().unwrap().is_none());
        let given = args(Some(&verifier), None).verifier().unwrap().unwrap();
        assert_eq!(given.verifier_key(), verifier);
        let derived = args(None, Some(&file)).verifier().unwrap().unwrap();
        assert_eq!(derived.verifier_key(), verifier);
        assert!(args(Some(&verifier), Some(&file)).verifier().is_ok());
        let mismatch = args(Some(&other), Some(&file)).verifier().unwrap_err();
        assert_eq!(mismatch.setting, VERIFIER_KEY);
        assert!(args(Some("not+a+key"), None).verifier().is_err());
    }
}
