//! OpenAPI schemas (feature `openapi`) of request values that are plain strings or maps in
//! Rust but validated by the server: a job action name and a subject's labels.

use std::borrow::Cow;

use utoipa::openapi::schema::{AdditionalProperties, Object, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// A job action: `^[a-z][a-z0-9_.-]{0,127}$`.
#[derive(Debug)]
pub struct ActionName;

impl PartialSchema for ActionName {
    fn schema() -> RefOr<Schema> {
        Object::builder()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some("^[a-z][a-z0-9_.-]{0,127}$"))
            .examples(["certificate.renew"])
            .into()
    }
}

impl ToSchema for ActionName {}

/// A subject's labels: at most 64; keys 1 to 63 characters without control characters,
/// values at most 256 characters.
#[derive(Debug)]
pub struct Labels;

impl PartialSchema for Labels {
    fn schema() -> RefOr<Schema> {
        let value = Object::builder()
            .schema_type(SchemaType::Type(Type::String))
            .max_length(Some(256))
            .build();
        // Keys: 1 to 63 bytes; printable ASCII keeps characters and bytes equal.
        let key = Object::builder()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some("^[\\x20-\\x7e]{1,63}$"))
            .build();
        Object::builder()
            .schema_type(SchemaType::Type(Type::Object))
            .max_properties(Some(64))
            .property_names(Some(key))
            .additional_properties(Some(AdditionalProperties::RefOr(value.into())))
            .into()
    }
}

impl ToSchema for Labels {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Labels")
    }
}
