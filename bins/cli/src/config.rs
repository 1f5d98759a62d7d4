//! Where the server is and which key to use: flag, then environment (both through clap),
//! then the config file, then the default URL. The key is a [`SecretString`]: its `Debug` is
//! redacted and only the `Authorization` header exposes it.
//!
//! The config file is TOML (parsed by `toml`); unknown settings are refused so a typo never
//! silently falls back to a default:
//!
//! ```toml
//! # ~/.config/countersign/config.toml
//! url = "https://countersign.internal.example"
//! api_key = "cs_key_..._..."
//! ```

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::CliError;

/// The URL used when no flag, variable or file names one.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// What the file said; either may be absent.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub url: Option<String>,
    pub api_key: Option<SecretString>,
}

/// The settings a command runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's base URL without a trailing `/` (a path prefix is kept).
    pub url: String,
    pub key: Option<SecretString>,
}

/// The default config path: `$XDG_CONFIG_HOME/countersign/config.toml`, else
/// `$HOME/.config/countersign/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("countersign").join("config.toml"))
}

/// Resolve the settings. `url` and `key` come from clap (flag, else environment); the file
/// fills what they leave empty. An explicit `--config` must exist; the default path may not.
pub fn resolve(
    url: Option<String>,
    key: Option<SecretString>,
    config: Option<&Path>,
) -> Result<Settings, CliError> {
    let file = match config {
        Some(path) => load(path)?,
        None => match default_path() {
            Some(path) if path.exists() => load(&path)?,
            _ => FileConfig::default(),
        },
    };
    let url = url
        .filter(|u| !u.trim().is_empty())
        .or(file.url)
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let key = key
        .filter(|k| !k.expose_secret().trim().is_empty())
        .or(file.api_key);
    Ok(Settings {
        url: normalize_url(&url)?,
        key,
    })
}

/// Check the scheme and drop a trailing `/`.
pub fn normalize_url(url: &str) -> Result<String, CliError> {
    let url = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(CliError::Usage(format!(
            "server URL `{url}` must start with http:// or https://"
        )));
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() {
        return Err(CliError::Usage(format!(
            "server URL `{url}` must start with http:// or https://"
        )));
    }
    if rest.contains(['?', '#']) {
        return Err(CliError::Usage(format!(
            "server URL `{url}` must not have a query or fragment"
        )));
    }
    Ok(url.to_owned())
}

/// Read and parse a config file; warns on stderr when a file holding a key is readable by
/// others.
pub fn load(path: &Path) -> Result<FileConfig, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read config file {}: {e}", path.display())))?;
    let parsed = parse(&text)
        .map_err(|e| CliError::Usage(format!("config file {}: {e}", path.display())))?;
    if parsed.api_key.is_some() {
        warn_if_shared(path);
    }
    Ok(parsed)
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: {} holds an API key and is readable by others; run `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

/// Parse the file as TOML; an error names the line and column.
pub fn parse(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_valid_toml_with_both_keys() {
        let c = parse("# mine\n\nurl = \"http://h:1/\"  # prod\napi_key='cs_a_b'\n").unwrap();
        assert_eq!(c.url.as_deref(), Some("http://h:1/"));
        assert_eq!(c.api_key.unwrap().expose_secret(), "cs_a_b");
        let c = parse(r#"api_key = "a\"b\\c""#).unwrap();
        assert_eq!(c.api_key.unwrap().expose_secret(), "a\"b\\c");
        // What the old line parser refused: escapes, multi-line and unicode-escaped strings.
        let c = parse("url = \"http://h\\u003a1\"\napi_key = \"\"\"\ncs_x\"\"\"\n").unwrap();
        assert_eq!(c.url.as_deref(), Some("http://h:1"));
        assert_eq!(c.api_key.unwrap().expose_secret(), "cs_x");
    }

    #[test]
    fn rejects_typos_and_junk_with_the_line() {
        let e = parse("apikey = \"x\"").unwrap_err();
        assert!(e.contains("line 1") && e.contains("apikey"), "{e}");
        assert!(parse("\nurl = http://x").unwrap_err().contains("line 2"));
        assert!(parse("url = \"x").is_err());
        assert!(parse("url = 3").is_err());
    }

    #[test]
    fn the_key_never_prints() {
        let s = Settings {
            url: "http://x".into(),
            key: Some(SecretString::from("cs_key_01_secretsecret")),
        };
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn flag_or_env_beats_the_file_and_the_default_comes_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "url = \"http://file:1\"\napi_key = \"cs_file\"\n").unwrap();
        let s = resolve(None, None, Some(&path)).unwrap();
        assert_eq!(
            (s.url.as_str(), s.key.unwrap().expose_secret()),
            ("http://file:1", "cs_file")
        );
        let s = resolve(
            Some("http://flag:2/".into()),
            Some(SecretString::from("cs_flag")),
            Some(&path),
        )
        .unwrap();
        assert_eq!(
            (s.url.as_str(), s.key.unwrap().expose_secret()),
            ("http://flag:2", "cs_flag")
        );
        std::fs::write(&path, "").unwrap();
        let s = resolve(None, None, Some(&path)).unwrap();
        assert_eq!((s.url.as_str(), s.key.is_none()), (DEFAULT_URL, true));
        assert!(resolve(None, None, Some(&dir.path().join("missing.toml"))).is_err());
    }

    #[test]
    fn urls_need_a_scheme() {
        assert_eq!(
            normalize_url("https://h/prefix/").unwrap(),
            "https://h/prefix"
        );
        assert!(normalize_url("localhost:8080").is_err());
        assert!(normalize_url("ftp://h").is_err());
        assert!(normalize_url("http://h?x=1").is_err());
    }
}
