//! A JSON value borrowed from its text, canonicalized by the same rules as a `Value`.
//!
//! A verifier canonicalizing a million export lines spends most of its time building owned
//! values: a `String` per string and key, a map node per member. [`BorrowedValue::from_slice`]
//! parses with serde_json's own parser (the same grammar, number parsing, nesting limit and
//! error messages as `serde_json::from_slice::<Value>`) into a small tree whose strings borrow
//! the text unless they hold an escape, and whose objects are vectors of members, sorted by
//! key as UTF-16 code units once, when the object is parsed.
//!
//! Unlike a `Value`, which keeps the last of two members with the same key, an object that
//! repeats a key is refused: its canonical form would depend on which one a reader keeps
//! (RFC 8785 requires I-JSON, which has no duplicate keys).
//!
//! [`BorrowedValue::write_canonical`] appends the canonical form through the parent module's
//! writers: the string escaping, number formatting and key order are written once, for both.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Number;

use super::{
    in_canonical_order, utf16_cmp, write_array, write_members, write_number, write_string,
};

/// A JSON value whose strings borrow the text it was parsed from (unless they hold an escape).
#[derive(Debug, Clone, PartialEq)]
pub enum BorrowedValue<'a> {
    Null,
    Bool(bool),
    /// The number as `serde_json` parses it (`u64`, `i64` or `f64`), exactly as in a `Value`.
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<BorrowedValue<'a>>),
    Object(BorrowedObject<'a>),
}

/// An object's members, sorted by key as UTF-16 code units, no key twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BorrowedObject<'a> {
    members: Vec<(Cow<'a, str>, BorrowedValue<'a>)>,
}

impl<'a> BorrowedValue<'a> {
    /// Parse one JSON document (surrounding whitespace allowed). Invalid JSON, and an object
    /// that repeats a key at any depth, are refused.
    pub fn from_slice(text: &'a [u8]) -> Result<Self, serde_json::Error> {
        // One check of the whole text, rather than serde_json's check of each string.
        let text = std::str::from_utf8(text).map_err(de::Error::custom)?;
        Self::from_str(text)
    }

    /// [`from_slice`](Self::from_slice) for text already known to be UTF-8.
    #[allow(clippy::should_implement_trait)] // borrows `text`, which `FromStr` cannot
    pub fn from_str(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Append this value's RFC 8785 canonical JSON to `out`.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            BorrowedValue::Null => out.extend_from_slice(b"null"),
            BorrowedValue::Bool(true) => out.extend_from_slice(b"true"),
            BorrowedValue::Bool(false) => out.extend_from_slice(b"false"),
            BorrowedValue::Number(n) => write_number(n, out),
            BorrowedValue::String(s) => write_string(s, out),
            BorrowedValue::Array(items) => write_array(items, out, Self::write_canonical),
            BorrowedValue::Object(object) => object.write_canonical(out),
        }
    }

    /// The number as a `u64`, when it is one (as `Value::as_u64`).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            BorrowedValue::Number(n) => n.as_u64(),
            _ => None,
        }
    }
}

impl<'a> BorrowedObject<'a> {
    /// Members in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &BorrowedValue<'a>)> {
        self.members.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.members.binary_search_by(|(k, _)| utf16_cmp(k, key))
    }

    /// The value of member `key`.
    pub fn get(&self, key: &str) -> Option<&BorrowedValue<'a>> {
        let at = self.position(key).ok()?;
        Some(&self.members[at].1)
    }

    /// Take member `key` out of the object.
    pub fn remove(&mut self, key: &str) -> Option<BorrowedValue<'a>> {
        let at = self.position(key).ok()?;
        Some(self.members.remove(at).1)
    }

    /// Append this object's RFC 8785 canonical JSON to `out`.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        write_members(
            self.members.iter().map(|(k, v)| (k, v)),
            BorrowedValue::write_canonical,
            out,
        );
        out.push(b'}');
    }
}

impl<'de> Deserialize<'de> for BorrowedValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = BorrowedValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Number(n.into()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Self::Value, E> {
        // As a `Value` does: a double that is not finite (never parsed from JSON) is null.
        Ok(Number::from_f64(f).map_or(BorrowedValue::Null, BorrowedValue::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(BorrowedValue::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(BorrowedValue::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(BorrowedValue::String(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        BorrowedValue::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(BorrowedValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members: Vec<(Cow<'de, str>, BorrowedValue<'de>)> = Vec::with_capacity(8);
        while let Some(key) = map.next_key_seed(KeySeed)? {
            members.push((key, map.next_value()?));
        }
        let keys_ascend = |m: &[(Cow<'de, str>, BorrowedValue<'de>)]| {
            in_canonical_order(m.iter().map(|(k, _)| k.as_ref()))
        };
        if !keys_ascend(&members) {
            members.sort_unstable_by(|a, b| utf16_cmp(&a.0, &b.0));
            if !keys_ascend(&members) {
                let twice = members
                    .windows(2)
                    .find(|pair| pair[0].0 == pair[1].0)
                    .map_or("", |pair| pair[0].0.as_ref());
                return Err(de::Error::custom(format_args!("duplicate key `{twice}`")));
            }
        }
        Ok(BorrowedValue::Object(BorrowedObject { members }))
    }
}

/// A member's key, borrowed from the text unless it holds an escape.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        let mut out = Vec::new();
        BorrowedValue::from_slice(text.as_bytes())
            .unwrap()
            .write_canonical(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_borrow_the_text_unless_escaped() {
        let text = br#"{"plain": "abc", "esc\u0061ped": "a\nb"}"#;
        let BorrowedValue::Object(object) = BorrowedValue::from_slice(text).unwrap() else {
            panic!("an object");
        };
        let kinds: Vec<(bool, bool)> = object
            .members
            .iter()
            .map(|(k, v)| {
                let BorrowedValue::String(v) = v else {
                    panic!("a string")
                };
                (matches!(k, Cow::Borrowed(_)), matches!(v, Cow::Borrowed(_)))
            })
            .collect();
        // Sorted: "escaped" before "plain".
        assert_eq!(kinds, [(false, false), (true, true)]);
        assert_eq!(
            object.get("escaped"),
            Some(&BorrowedValue::String("a\nb".into()))
        );
    }

    #[test]
    fn members_are_sorted_found_and_removed() {
        let text = br#"{"b": 1, "leaf_index": 7, "a": [true, null, {"z": 0, "y": -0}]}"#;
        let BorrowedValue::Object(mut object) = BorrowedValue::from_slice(text).unwrap() else {
            panic!("an object");
        };
        assert_eq!(object.len(), 3);
        assert_eq!(
            object.remove("leaf_index").and_then(|v| v.as_u64()),
            Some(7)
        );
        assert_eq!(object.remove("leaf_index"), None);
        let mut out = Vec::new();
        object.write_canonical(&mut out);
        assert_eq!(out, br#"{"a":[true,null,{"y":0,"z":0}],"b":1}"#);
        assert_eq!(
            canonical(" [1.0, 1e2, \"\u{20ac}\"] "),
            "[1,100,\"\u{20ac}\"]"
        );
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth() {
        for text in [
            r#"{"a": 1, "a": 1}"#,
            r#"{"a": 1, "b": 2, "a": 3}"#,
            r#"{"x": [{"k": 1, "\u006b": 2}]}"#,
        ] {
            let err = BorrowedValue::from_slice(text.as_bytes()).unwrap_err();
            assert!(
                err.to_string().starts_with("duplicate key"),
                "{text}: {err}"
            );
        }
        // The same key in two objects is not a repeat.
        assert_eq!(canonical(r#"[{"a":1},{"a":2}]"#), r#"[{"a":1},{"a":2}]"#);
    }
}
