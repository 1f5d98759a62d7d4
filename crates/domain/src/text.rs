//! The one rule every piece of text obeys: no NUL character (`\u0000`).
//!
//! PostgreSQL cannot store NUL in `text` or `jsonb` at all, and SQLite would store it and
//! truncate it in places; either way a NUL is never meaningful in Countersign's input. Every
//! string a client sends — JSON bodies (keys and values, at any depth), query parameters,
//! ingested audit events — is checked against this rule where it enters, so the answer is the
//! same 400 `invalid_request` naming the field on every backend.
//!
//! Free text a person writes (a vote's note, a cancel reason, a completion message, a role's
//! description) obeys one more rule, [`validate_free_text`]: bounded length and no control
//! characters except line breaks and tabs.

use serde_json::Value;

use crate::validation::ValidationError;

const MESSAGE: &str = "must not contain a NUL character (\\u0000)";

/// `Err` naming `field` when `value` contains a NUL character.
pub fn reject_nul(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.contains('\0') {
        return Err(ValidationError::new(field, MESSAGE));
    }
    Ok(())
}

/// `Err` naming `field` when `value` is longer than `max_chars` characters or holds a control
/// character (Unicode `Cc`: U+0000–U+001F, U+007F–U+009F) other than tab, line feed and
/// carriage return. The OpenAPI document states the same rule as the pattern
/// `^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$`.
pub fn validate_free_text(
    field: &str,
    value: &str,
    max_chars: usize,
) -> Result<(), ValidationError> {
    if value.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ValidationError::new(
            field,
            "must not contain control characters other than tabs and line breaks",
        ));
    }
    Ok(())
}

/// `Err` naming the path (`payload.a[2].b`; `root` is the name of the whole value, empty for
/// a body) of the first string or object key in `value` that contains a NUL character.
pub fn reject_nul_in_json(root: &str, value: &Value) -> Result<(), ValidationError> {
    match find(value, root.to_owned()) {
        Some(path) => Err(ValidationError::new(
            if path.is_empty() { "body" } else { &path },
            MESSAGE,
        )),
        None => Ok(()),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn find(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(s) if s.contains('\0') => Some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find(v, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                // Name the key readably: the NUL itself would not survive a log line.
                Some(join(&path, &k.replace('\0', "\\u0000")))
            } else {
                find(v, join(&path, k))
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_nul_in_values_and_keys_at_any_depth() {
        assert!(reject_nul_in_json("", &json!({"a": ["x", {"b": "ok"}]})).is_ok());
        let e = reject_nul_in_json("", &json!({"a": ["x", {"b": "o\u{0}k"}]})).unwrap_err();
        assert_eq!(e.field, "a[1].b");
        let e = reject_nul_in_json("", &json!({"payload": {"k\u{0}": 1}})).unwrap_err();
        assert_eq!(e.field, "payload.k\\u0000");
        let e = reject_nul_in_json("details", &json!({"n": "\u{0}"})).unwrap_err();
        assert_eq!(e.field, "details.n");
        let e = reject_nul_in_json("", &json!("\u{0}")).unwrap_err();
        assert_eq!(e.field, "body");
        assert_eq!(reject_nul("actor", "a\u{0}").unwrap_err().field, "actor");
        assert!(reject_nul("actor", "alice").is_ok());
    }

    #[test]
    fn free_text_keeps_line_breaks_and_refuses_other_control_characters() {
        assert!(validate_free_text("note", "two\tlines\r\nhere é", 20).is_ok());
        for bad in [
            "\u{0}",
            "\u{7}",
            "\u{b}",
            "\u{1b}[31m",
            "\u{7f}",
            "\u{84}",
            "\u{9f}",
        ] {
            let e = validate_free_text("reason", bad, 20).unwrap_err();
            assert_eq!(e.field, "reason", "{bad:?}");
        }
        // U+00A0 (no-break space) is past the C1 block: allowed.
        assert!(validate_free_text("note", "\u{a0}", 20).is_ok());
        assert!(validate_free_text("note", &"é".repeat(3), 3).is_ok());
        let e = validate_free_text("note", &"é".repeat(4), 3).unwrap_err();
        assert_eq!(e.message, "must be at most 3 characters");
    }
}
