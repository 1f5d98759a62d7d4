//! Canonical JSON (RFC 8785, JCS) and the payload digest.
//!
//! `payload_sha256` is the lower-case hex SHA-256 of the payload's canonical JSON, so two
//! payloads that differ only in key order or number spelling have the same digest, and an
//! auditor can recompute it from the exported trail.

use sha2::{Digest, Sha256};

/// Serialize `value` as RFC 8785 canonical JSON.
pub fn to_canonical_string(value: &serde_json::Value) -> String {
    // Serializing a `serde_json::Value` cannot fail: keys are strings and numbers are finite.
    serde_json_canonicalizer::to_string(value).expect("a JSON value always canonicalizes")
}

/// Lower-case hex SHA-256 of `value`'s canonical JSON.
pub fn payload_sha256(value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(to_canonical_string(value).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_and_normalises_numbers() {
        let a = json!({"b": 1, "a": {"z": [1, 2.0, "x"], "y": null}});
        assert_eq!(
            to_canonical_string(&a),
            r#"{"a":{"y":null,"z":[1,2,"x"]},"b":1}"#
        );
        // RFC 8785 §3.2.2.3 example values.
        assert_eq!(to_canonical_string(&json!(1e30)), "1e+30");
        assert_eq!(to_canonical_string(&json!("\u{20ac}")), "\"\u{20ac}\"");
    }

    #[test]
    fn digest_ignores_key_order_only() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":[true]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{ "b" : [true], "a" : 1.0 }"#).unwrap();
        assert_eq!(payload_sha256(&a), payload_sha256(&b));
        assert_eq!(
            payload_sha256(&json!({})),
            // sha256("{}")
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_ne!(
            payload_sha256(&a),
            payload_sha256(&json!({"a": 2, "b": [true]}))
        );
    }
}
