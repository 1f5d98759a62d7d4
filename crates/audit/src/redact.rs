//! [`Redacted`]: a wrapper that never shows its value.
//!
//! Wrap anything secret (an API key, a password, a token, a payload field marked secret) in
//! `Redacted` as soon as it enters the program. Its `Debug`, `Display` and `Serialize` all
//! write `[redacted]`, so neither a log line, an error message nor an audit event can leak it
//! by accident; the value comes out only through the explicit [`Redacted::expose`] or
//! [`Redacted::into_inner`], which are easy to grep for.
//!
//! `Deserialize` is transparent (it reads the inner value), so secrets can be loaded from
//! configuration straight into a `Redacted`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a redacted value prints and serializes as.
pub const REDACTED: &str = "[redacted]";

/// A value that is never printed nor serialized: see the [module docs](self).
#[derive(Clone, Copy, Default)]
pub struct Redacted<T>(pub T);

impl<T> Redacted<T> {
    /// Wrap a value.
    pub const fn new(value: T) -> Self {
        Redacted(value)
    }

    /// The secret itself; every call site is a place where it may leak, so keep them few.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwrap the secret.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Self {
        Redacted(value)
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> Serialize for Redacted<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Redacted<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Redacted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_the_value() {
        let r = Redacted("hunter2".to_owned());
        assert_eq!(format!("{r:?}"), "[redacted]");
        assert_eq!(format!("{r:#?}"), "[redacted]");
        assert_eq!(r.to_string(), "[redacted]");
        assert_eq!(serde_json::to_string(&r).unwrap(), r#""[redacted]""#);
        assert_eq!(
            serde_json::to_value(serde_json::json!({ "k": serde_json::to_value(&r).unwrap() }))
                .unwrap()
                .to_string(),
            r#"{"k":"[redacted]"}"#
        );
        assert_eq!(r.expose(), "hunter2");
    }

    #[test]
    fn nested_in_a_struct() {
        #[derive(Debug, Serialize)]
        struct Config {
            url: String,
            key: Redacted<String>,
        }
        let c = Config {
            url: "http://x".into(),
            key: Redacted("cs_key_secret".into()),
        };
        assert!(!format!("{c:?}").contains("cs_key_secret"));
        assert!(!serde_json::to_string(&c).unwrap().contains("cs_key_secret"));
    }

    #[test]
    fn deserializes_transparently() {
        let r: Redacted<String> = serde_json::from_str(r#""s3cret""#).unwrap();
        assert_eq!(r.into_inner(), "s3cret");
    }
}
