//! The database location, with its password kept out of logs.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A database URL, held as a [`SecretString`] (zeroized on drop). `Debug` and `Display`
/// replace the password with `***`; only [`DatabaseUrl::expose`] gives the real string, for
/// the driver.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    /// The URL with its password, for the driver only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The scheme (`postgres`, `sqlite`), which picks the backend.
    pub fn scheme(&self) -> &str {
        self.expose().split_once(':').map(|(s, _)| s).unwrap_or("")
    }

    /// The backend the scheme names, if any.
    pub fn backend(&self) -> Option<crate::backend::Backend> {
        match self.scheme() {
            "postgres" | "postgresql" => Some(crate::backend::Backend::Postgres),
            "sqlite" => Some(crate::backend::Backend::Sqlite),
            _ => None,
        }
    }

    /// For a SQLite URL naming a file, that file's absolute path (relative paths are taken
    /// from the working directory); `None` for PostgreSQL and in-memory databases.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        let rest = self.expose().strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split_once('?').map_or(rest, |(p, _)| p);
        if path.is_empty() || path == ":memory:" || self.expose().contains("mode=memory") {
            return None;
        }
        let path = std::path::Path::new(path);
        Some(if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().ok()?.join(path)
        })
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let url = self.expose();
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_owned();
        };
        let (authority, tail) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        }
    }
}

impl PartialEq for DatabaseUrl {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for DatabaseUrl {}

/// For clap: any string is a URL here; the scheme is checked by `DatabaseArgs::url`.
pub fn parse_database_url(s: &str) -> Result<DatabaseUrl, String> {
    Ok(DatabaseUrl::new(s))
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let u = DatabaseUrl::new("postgres://app:s3cr3t@db:5432/countersign?sslmode=require");
        assert_eq!(u.scheme(), "postgres");
        assert!(!format!("{u:?}").contains("s3cr3t"));
        assert!(!format!("{u}").contains("s3cr3t"));
        assert_eq!(
            u.redacted(),
            "postgres://app:***@db:5432/countersign?sslmode=require"
        );
        assert!(u.expose().contains("s3cr3t"));
        assert_eq!(
            DatabaseUrl::new("sqlite://countersign.db?mode=rwc").backend(),
            Some(crate::backend::Backend::Sqlite)
        );
        assert_eq!(DatabaseUrl::new("sqlite::memory:").scheme(), "sqlite");
        assert_eq!(DatabaseUrl::new("mysql://x").backend(), None);
        assert_eq!(
            DatabaseUrl::new("sqlite:///var/lib/cs.db?mode=rwc").sqlite_path(),
            Some("/var/lib/cs.db".into())
        );
        assert_eq!(
            DatabaseUrl::new("sqlite://countersign.db?mode=rwc").sqlite_path(),
            Some(std::env::current_dir().unwrap().join("countersign.db"))
        );
        assert_eq!(DatabaseUrl::new("sqlite::memory:").sqlite_path(), None);
        assert_eq!(u.sqlite_path(), None);
        let no_pw = DatabaseUrl::new("postgres://postgres@127.0.0.1/x");
        assert_eq!(no_pw.redacted(), "postgres://postgres@127.0.0.1/x");
    }
}
