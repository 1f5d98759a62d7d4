//! Where the server is and which key to use: flag, then environment (both through clap),
//! then the config file, then the default URL. The key never prints: [`ApiKey`]'s `Debug`
//! is redacted and nothing else formats it.
//!
//! The config file holds two `key = "value"` lines (a TOML subset):
//!
//! ```toml
//! # ~/.config/countersign/config.toml
//! url = "https://countersign.internal.example"
//! api_key = "cs_key_..._..."
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// The URL used when no flag, variable or file names one.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// An API key (`cs_<key id>_<secret>`). Only [`ApiKey::expose`] gives the text, for the
/// `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The secret, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// What the file said; either may be absent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileConfig {
    pub url: Option<String>,
    pub api_key: Option<ApiKey>,
}

/// The settings a command runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's base URL without a trailing `/` (a path prefix is kept).
    pub url: String,
    pub key: Option<ApiKey>,
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
    key: Option<String>,
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
        .filter(|k| !k.trim().is_empty())
        .map(ApiKey::new)
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

/// Parse `url = "…"` and `api_key = "…"` lines; `#` starts a comment. Anything else is an
/// error naming its line, so a typo never silently falls back to a default.
pub fn parse(text: &str) -> Result<FileConfig, String> {
    let mut out = FileConfig::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let lineno = n + 1;
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!("line {lineno}: expected `name = \"value\"`"));
        };
        let value = parse_value(value.trim()).map_err(|e| format!("line {lineno}: {e}"))?;
        match name.trim() {
            "url" => out.url = Some(value),
            "api_key" => out.api_key = Some(ApiKey::new(value)),
            other => {
                return Err(format!(
                    "line {lineno}: unknown setting `{other}` (expected `url` or `api_key`)"
                ))
            }
        }
    }
    Ok(out)
}

/// A TOML basic (`"…"`, with `\"` and `\\` escapes) or literal (`'…'`) string, optionally
/// followed by a comment.
fn parse_value(v: &str) -> Result<String, String> {
    let mut chars = v.chars();
    let quote = chars.next().ok_or("missing value")?;
    if quote != '"' && quote != '\'' {
        return Err("the value must be quoted".to_owned());
    }
    let mut out = String::new();
    let mut rest = None;
    while let Some(c) = chars.next() {
        match c {
            '\\' if quote == '"' => match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                other => return Err(format!("unsupported escape `\\{}`", other.unwrap_or(' '))),
            },
            c if c == quote => {
                rest = Some(chars.as_str());
                break;
            }
            c => out.push(c),
        }
    }
    let rest = rest.ok_or("unterminated string")?.trim();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(format!("unexpected `{rest}` after the value"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_keys_comments_and_quotes() {
        let c = parse("# mine\n\nurl = \"http://h:1/\"  # prod\napi_key='cs_a_b'\n").unwrap();
        assert_eq!(c.url.as_deref(), Some("http://h:1/"));
        assert_eq!(c.api_key.unwrap().expose(), "cs_a_b");
        let c = parse(r#"api_key = "a\"b\\c""#).unwrap();
        assert_eq!(c.api_key.unwrap().expose(), "a\"b\\c");
    }

    #[test]
    fn rejects_typos_and_junk_with_the_line() {
        assert_eq!(
            parse("apikey = \"x\"").unwrap_err(),
            "line 1: unknown setting `apikey` (expected `url` or `api_key`)"
        );
        assert!(parse("\nurl = http://x")
            .unwrap_err()
            .starts_with("line 2: the value must be quoted"));
        assert!(parse("url = \"x").unwrap_err().contains("unterminated"));
        assert!(parse("url = \"x\" y")
            .unwrap_err()
            .contains("unexpected `y`"));
        assert!(parse("[server]")
            .unwrap_err()
            .contains("expected `name = \"value\"`"));
    }

    #[test]
    fn the_key_never_prints() {
        let k = ApiKey::new("cs_key_01_secretsecret");
        assert_eq!(format!("{k:?}"), "ApiKey(***)");
        let s = Settings {
            url: "http://x".into(),
            key: Some(k),
        };
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn flag_or_env_beats_the_file_and_the_default_comes_last() {
        let dir =
            std::env::temp_dir().join(format!("countersign-cli-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, "url = \"http://file:1\"\napi_key = \"cs_file\"\n").unwrap();
        let s = resolve(None, None, Some(&path)).unwrap();
        assert_eq!(
            (s.url.as_str(), s.key.unwrap().expose()),
            ("http://file:1", "cs_file")
        );
        let s = resolve(
            Some("http://flag:2/".into()),
            Some("cs_flag".into()),
            Some(&path),
        )
        .unwrap();
        assert_eq!(
            (s.url.as_str(), s.key.unwrap().expose()),
            ("http://flag:2", "cs_flag")
        );
        std::fs::write(&path, "").unwrap();
        let s = resolve(None, None, Some(&path)).unwrap();
        assert_eq!((s.url.as_str(), s.key), (DEFAULT_URL, None));
        assert!(resolve(None, None, Some(&dir.join("missing.toml"))).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
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
