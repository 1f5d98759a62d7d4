//! The database location, with its password kept out of logs.

use std::fmt;

/// A database URL. `Debug` and `Display` replace the password with `***`; only
/// [`DatabaseUrl::expose`] gives the real string, for the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The scheme (`postgres`, `sqlite`), which picks the backend.
    pub fn scheme(&self) -> &str {
        self.0.split_once(':').map(|(s, _)| s).unwrap_or("")
    }

    /// The backend the scheme names, if any.
    pub fn backend(&self) -> Option<crate::backend::Backend> {
        match self.scheme() {
            "postgres" | "postgresql" => Some(crate::backend::Backend::Postgres),
            "sqlite" => Some(crate::backend::Backend::Sqlite),
            _ => None,
        }
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let (authority, tail) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
                None => self.0.clone(),
            },
            None => self.0.clone(),
        }
    }
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
        let no_pw = DatabaseUrl::new("postgres://postgres@127.0.0.1/x");
        assert_eq!(no_pw.redacted(), "postgres://postgres@127.0.0.1/x");
    }
}
