//! Canonical JSON (RFC 8785, JCS) and the payload digest.
//!
//! [`write_canonical`] appends a value's canonical form to a caller's buffer, so a caller
//! canonicalizing many values (the transparency log's leaves, an offline verifier's million
//! lines) reuses one allocation. The rules, RFC 8785 §3.2:
//!
//! - no whitespace;
//! - object members sorted by their keys as UTF-16 code units (not UTF-8 bytes, which order
//!   U+E000..U+FFFF after the astral planes where UTF-16's surrogates come first);
//! - strings escape only `"`, `\` and U+0000..U+001F: `\b \t \n \f \r` in short form, the
//!   rest as `\u00xx` in lower-case hex; everything else, `/` and U+007F included, as it is;
//! - numbers as IEEE doubles written by ECMAScript's `Number.prototype.toString` (`ryu-js`):
//!   integers up to 2^53 in magnitude are exact doubles and are written as their digits,
//!   larger ones are rounded to the nearest double first (`2^53 + 1` is `9007199254740992`).
//!
//! `payload_sha256` is the lower-case hex SHA-256 of the payload's canonical JSON, so two
//! payloads that differ only in key order or number spelling have the same digest, and an
//! auditor can recompute it from the exported trail.
//!
//! Two representations are written by the same rules (this module's string, number, array,
//! member and key-order functions): a `serde_json::Value`, and a [`BorrowedValue`] parsed
//! from JSON text without copying its strings, for a caller canonicalizing a stream of
//! documents (see [`borrowed`]).

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

pub mod borrowed;

pub use borrowed::{BorrowedObject, BorrowedValue};

/// Serialize `value` as RFC 8785 canonical JSON.
pub fn to_canonical_string(value: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    write_canonical(value, &mut out);
    String::from_utf8(out).expect("canonical JSON of a JSON value is UTF-8")
}

/// Lower-case hex SHA-256 of `value`'s canonical JSON.
pub fn payload_sha256(value: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    write_canonical(value, &mut out);
    hex::encode(Sha256::digest(&out))
}

/// Append `value`'s RFC 8785 canonical JSON to `out`.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => write_array(items, out, write_canonical),
        Value::Object(members) => write_object(members, out),
    }
}

/// `[…]`: `items` in order, each written by `write_item`, comma-separated.
fn write_array<T>(items: &[T], out: &mut Vec<u8>, write_item: fn(&T, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_item(item, out);
    }
    out.push(b']');
}

/// The largest magnitude below which every integer is an exact IEEE double: 2^53.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// `n` as ECMAScript writes the double it stands for (exact integers as their digits).
fn write_number(n: &Number, out: &mut Vec<u8>) {
    let mut digits = itoa::Buffer::new();
    if let Some(u) = n.as_u64().filter(|&u| u <= MAX_EXACT_INTEGER) {
        out.extend_from_slice(digits.format(u).as_bytes());
    } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_EXACT_INTEGER) {
        out.extend_from_slice(digits.format(i).as_bytes());
    } else {
        // Without `arbitrary_precision` every number has an f64 form; with it, a number that
        // parsed as JSON has one too (out-of-range ones round to the nearest double).
        let f = n.as_f64().expect("a JSON number has a double form");
        out.extend_from_slice(ryu_js::Buffer::new().format(f).as_bytes());
    }
}

/// Whether byte `b` of a string's UTF-8 is written escaped: `"`, `\` and U+0000..U+001F.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether some byte of `bytes` is written escaped, tested eight bytes at a time: the word
/// `w` has a byte below `n` (n ≤ 0x80) exactly when `(w - n·0x0101…) & !w & 0x8080…` is not
/// zero; a byte equal to `"` or `\\` is a zero byte of `w` XOR that byte repeated.
fn any_needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH != 0;
    let escaped = |w: u64| {
        below(w, 0x20)
            || below(w ^ (ONES * u64::from(b'"')), 1)
            || below(w ^ (ONES * u64::from(b'\\')), 1)
    };
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    match bytes.len() {
        0..8 => bytes.iter().any(|&b| needs_escape(b)),
        // Whole words, then the last eight bytes (overlapping the last word read).
        len => (0..len - 7).step_by(8).any(|at| escaped(word(at))) || escaped(word(len - 8)),
    }
}

/// `s` quoted, escaping only what RFC 8785 escapes.
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if !any_needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0x0f)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn write_object(members: &Map<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    // A `Map` iterates in UTF-8 byte order (or, with serde_json's `preserve_order`, in
    // insertion order): that is already RFC 8785's order unless some key reaches past
    // U+E000, so sort only when it is not.
    if in_canonical_order(members.keys().map(String::as_str)) {
        write_members(members.iter(), write_canonical, out);
    } else {
        let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
        sorted.sort_unstable_by(|a, b| utf16_cmp(a.0, b.0));
        write_members(sorted.into_iter(), write_canonical, out);
    }
    out.push(b'}');
}

/// `"key":value` pairs, comma-separated, in the order given (which must be canonical), each
/// value written by `write_value`; without the braces.
fn write_members<'a, K, V>(
    members: impl Iterator<Item = (&'a K, &'a V)>,
    write_value: fn(&V, &mut Vec<u8>),
    out: &mut Vec<u8>,
) where
    K: AsRef<str> + ?Sized + 'a,
    V: 'a,
{
    for (i, (key, value)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key.as_ref(), out);
        out.push(b':');
        write_value(value, out);
    }
}

/// Whether `keys` are strictly ascending as UTF-16 code units: in canonical order, none twice.
fn in_canonical_order<'a>(mut keys: impl Iterator<Item = &'a str>) -> bool {
    let Some(mut previous) = keys.next() else {
        return true;
    };
    keys.all(|key| {
        let ascending = utf16_cmp(previous, key) == Ordering::Less;
        previous = key;
        ascending
    })
}

/// `a` and `b` compared as sequences of UTF-16 code units, without encoding them.
///
/// Byte order of UTF-8 is code point order, and so is UTF-16 order except between a character
/// in U+E000..U+FFFF (lead byte 0xEE or 0xEF) and one at U+10000 or above (lead byte 0xF0 to
/// 0xF4, a surrogate pair in UTF-16, which sorts first). The first differing byte decides: it
/// is either a lead byte in both strings (same prefix, so the same character boundaries) or a
/// continuation byte inside two characters of the same length, where the orders agree.
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let Some(at) = a.iter().zip(b).position(|(x, y)| x != y) else {
        return a.len().cmp(&b.len());
    };
    let (x, y) = (a[at], b[at]);
    let private_use_or_later = |lead: u8| matches!(lead, 0xee | 0xef);
    if x >= 0xf0 && private_use_or_later(y) {
        Ordering::Less
    } else if y >= 0xf0 && private_use_or_later(x) {
        Ordering::Greater
    } else {
        x.cmp(&y)
    }
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

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+FB33 is after U+1F602 in UTF-8 and code point order, before it in UTF-16.
        let v = json!({"\u{fb33}": 1, "\u{1f602}": 2, "\u{e000}": 3, "\u{ffff}": 4, "z": 5});
        assert_eq!(
            to_canonical_string(&v),
            "{\"z\":5,\"\u{1f602}\":2,\"\u{e000}\":3,\"\u{fb33}\":1,\"\u{ffff}\":4}"
        );
        assert_eq!(utf16_cmp("\u{10000}", "\u{e000}"), Ordering::Less);
        assert_eq!(utf16_cmp("\u{d7ff}", "\u{10000}"), Ordering::Less);
        assert_eq!(utf16_cmp("ab", "a"), Ordering::Greater);
        assert_eq!(utf16_cmp("", ""), Ordering::Equal);
    }

    #[test]
    fn strings_escape_only_quote_backslash_and_controls() {
        let v = json!("\"\\/\u{8}\t\n\u{c}\r\u{0}\u{1f}\u{7f}\u{2028}");
        assert_eq!(
            to_canonical_string(&v),
            "\"\\\"\\\\/\\b\\t\\n\\f\\r\\u0000\\u001f\u{7f}\u{2028}\""
        );
    }

    #[test]
    fn the_word_test_finds_every_escaped_byte_at_every_place() {
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(any_needs_escape(&bytes), needs_escape(b), "{len} {at} {b}");
                }
            }
        }
        // Bytes just above the escaped ones, beside them.
        assert!(!any_needs_escape(b" !#[]^\x7f\x80\xff\xfe!!!!!!"));
    }

    #[test]
    fn integers_past_two_to_the_53_round_through_a_double() {
        let cases: [(Value, &str); 6] = [
            (json!(9_007_199_254_740_992_u64), "9007199254740992"),
            (json!(9_007_199_254_740_993_u64), "9007199254740992"),
            (json!(-9_007_199_254_740_993_i64), "-9007199254740992"),
            (json!(u64::MAX), "18446744073709552000"),
            (json!(i64::MIN), "-9223372036854776000"),
            (json!(-0.0), "0"),
        ];
        for (value, want) in cases {
            assert_eq!(to_canonical_string(&value), want, "{value}");
        }
    }

    #[test]
    fn writing_appends_to_the_buffer() {
        let mut out = b"x".to_vec();
        write_canonical(&json!({"b": [], "a": {}}), &mut out);
        write_canonical(&json!(null), &mut out);
        assert_eq!(out, br#"x{"a":{},"b":[]}null"#);
    }
}
