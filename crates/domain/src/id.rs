//! Prefixed, lower-case ULID identifiers.
//!
//! Each aggregate has its own newtype (`PrincipalId` is `prn_…`, `ApprovalId` is `apr_…`), so a
//! job id can never be passed where an approval id is expected, and parsing rejects the wrong
//! prefix. ULIDs sort by creation time, which the stores use for stable newest-first order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

/// An identifier that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected an id starting with `{expected}_`")]
    WrongPrefix { expected: &'static str },
    #[error("`{0}` is not a valid ULID")]
    BadUlid(String),
}

macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Ulid);

        impl $name {
            /// The prefix before the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Ulid::new())
            }

            /// Wrap an existing ULID.
            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }

            /// The ULID inside.
            pub fn ulid(&self) -> Ulid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0.to_string().to_ascii_lowercase())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_prefixed(s, $prefix).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

fn parse_prefixed(s: &str, prefix: &'static str) -> Result<Ulid, IdError> {
    let rest = s
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or(IdError::WrongPrefix { expected: prefix })?;
    // Canonical ids are lower case; accept exactly 26 Crockford base32 characters.
    if rest.len() != 26 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(IdError::BadUlid(s.to_owned()));
    }
    Ulid::from_string(&rest.to_ascii_uppercase()).map_err(|_| IdError::BadUlid(s.to_owned()))
}

prefixed_id!(
    /// A principal: a person or a service (`prn_…`).
    PrincipalId, "prn"
);
prefixed_id!(
    /// An API key (`key_…`).
    KeyId, "key"
);
prefixed_id!(
    /// A policy (`pol_…`).
    PolicyId, "pol"
);
prefixed_id!(
    /// A subject (`sub_…`).
    SubjectId, "sub"
);
prefixed_id!(
    /// A job (`job_…`).
    JobId, "job"
);
prefixed_id!(
    /// An approval request (`apr_…`).
    ApprovalId, "apr"
);
prefixed_id!(
    /// An audit event (`evt_…`).
    EventId, "evt"
);
prefixed_id!(
    /// A webhook (`whk_…`).
    WebhookId, "whk"
);
prefixed_id!(
    /// An outbox message (`msg_…`): the `webhook-id` of every delivery of it.
    MessageId, "msg"
);
prefixed_id!(
    /// One message's delivery to one webhook (`dlv_…`).
    DeliveryId, "dlv"
);
prefixed_id!(
    /// A console session (`ses_…`): a person signed in to the browser console.
    SessionId, "ses"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_lower_case() {
        let id = ApprovalId::new();
        let s = id.to_string();
        assert!(s.starts_with("apr_"));
        assert_eq!(s.len(), 30);
        assert_eq!(s, s.to_ascii_lowercase());
        assert_eq!(s.parse::<ApprovalId>().unwrap(), id);
    }

    #[test]
    fn rejects_wrong_prefix_and_garbage() {
        let job = JobId::new().to_string();
        assert_eq!(
            job.parse::<ApprovalId>(),
            Err(IdError::WrongPrefix { expected: "apr" })
        );
        assert!(matches!(
            "apr_notaulid".parse::<ApprovalId>(),
            Err(IdError::BadUlid(_))
        ));
        assert!(matches!(
            "apr_01arz3ndektsv4rrffq69g5fa√".parse::<ApprovalId>(),
            Err(IdError::BadUlid(_))
        ));
        assert!("apr01arz3ndektsv4rrffq69g5fav"
            .parse::<ApprovalId>()
            .is_err());
        assert!("".parse::<ApprovalId>().is_err());
    }

    #[test]
    fn serde_uses_the_string_form() {
        let id = PrincipalId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: PrincipalId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<PrincipalId>("\"key_01arz3ndektsv4rrffq69g5fav\"").is_err());
    }
}
