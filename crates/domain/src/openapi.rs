//! OpenAPI schemas (the `openapi` feature) for the types whose JSON form is a validated
//! string and so cannot be derived: the prefixed ids, role slugs, principal names,
//! permissions and the audit event's `schema` tag. Every other type derives `ToSchema`
//! beside its definition.

use std::borrow::Cow;

use utoipa::openapi::schema::{Object, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::audit::{SchemaV1, SCHEMA_V1};
use crate::id::{
    ApprovalId, DeliveryId, EventId, JobId, KeyId, MessageId, PolicyId, PrincipalId, SubjectId,
    WebhookId,
};
use crate::permission::Permission;
use crate::principal::PrincipalName;
use crate::role::RoleId;

/// A string schema with a pattern, a description and an example.
fn string(pattern: &str, description: &str, example: &str) -> RefOr<Schema> {
    Object::builder()
        .schema_type(SchemaType::Type(Type::String))
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([example])
        .into()
}

macro_rules! id_schema {
    ($($name:ident),* $(,)?) => {$(
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                // Lower-case Crockford base32; a ULID's first character is at most 7.
                string(
                    concat!("^", stringify_prefix!($name), "_[0-7][0-9a-hjkmnp-tv-z]{25}$"),
                    concat!("A prefixed, lower-case ULID (`", stringify_prefix!($name), "_…`)."),
                    concat!(stringify_prefix!($name), "_01jd8z8z8z8z8z8z8z8z8z8z8z"),
                )
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    )*};
}

macro_rules! stringify_prefix {
    (PrincipalId) => {
        "prn"
    };
    (KeyId) => {
        "key"
    };
    (PolicyId) => {
        "pol"
    };
    (SubjectId) => {
        "sub"
    };
    (JobId) => {
        "job"
    };
    (ApprovalId) => {
        "apr"
    };
    (EventId) => {
        "evt"
    };
    (WebhookId) => {
        "whk"
    };
    (MessageId) => {
        "msg"
    };
    (DeliveryId) => {
        "dlv"
    };
}

id_schema!(
    PrincipalId,
    KeyId,
    PolicyId,
    SubjectId,
    JobId,
    ApprovalId,
    EventId,
    WebhookId,
    MessageId,
    DeliveryId
);

impl PartialSchema for RoleId {
    fn schema() -> RefOr<Schema> {
        string(
            "^[a-z0-9][a-z0-9-]{0,62}$",
            "A role slug.",
            "security-approver",
        )
    }
}

impl ToSchema for RoleId {}

impl PartialSchema for PrincipalName {
    fn schema() -> RefOr<Schema> {
        string(
            "^[a-z0-9][a-z0-9._-]{0,63}$",
            "A unique principal name.",
            "alice",
        )
    }
}

impl ToSchema for PrincipalName {}

impl PartialSchema for Permission {
    fn schema() -> RefOr<Schema> {
        Object::builder()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(Permission::ALL.iter().map(|p| p.as_str())))
            .description(Some("One thing a role may allow."))
            .into()
    }
}

impl ToSchema for Permission {}

impl PartialSchema for SchemaV1 {
    fn schema() -> RefOr<Schema> {
        Object::builder()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some([SCHEMA_V1]))
            .description(Some("The audit event schema tag."))
            .into()
    }
}

impl ToSchema for SchemaV1 {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AuditSchema")
    }
}
