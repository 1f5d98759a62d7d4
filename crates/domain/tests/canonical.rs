//! The canonical writer against the reference RFC 8785 implementation
//! (`serde_json_canonicalizer`): the RFC's and its reference suite's vectors, then seeded random
//! JSON — nested values, keys across the planes (U+E000..U+FFFF beside astral characters, where
//! UTF-8 and UTF-16 orders differ), control characters, doubles at the formatting boundaries and
//! integers past 2^53 — written both ways and compared byte for byte. The borrowed path
//! (`BorrowedValue`, parsed from text) is checked the same way, from compact, spaced and
//! fully escaped texts of the same values, and refuses a repeated key where a `Value` keeps
//! the last.

use std::cmp::Ordering;

use countersign_domain::canonical::{
    payload_sha256, to_canonical_string, utf16_cmp, write_canonical, BorrowedValue,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

fn reference(value: &Value) -> String {
    serde_json_canonicalizer::to_string(value).unwrap()
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Our writer and the reference agree on `value`, through every entry point.
fn assert_same(value: &Value) {
    let want = reference(value);
    assert_eq!(to_canonical_string(value), want, "{value:?}");
    let mut out = b"prefix".to_vec();
    write_canonical(value, &mut out);
    assert_eq!(&out[6..], want.as_bytes(), "{value:?}");
    assert_eq!(
        payload_sha256(value),
        hex::encode(Sha256::digest(want.as_bytes()))
    );
}

/// The canonical form of `text` parsed borrowed.
fn borrowed(text: &str) -> String {
    let value =
        BorrowedValue::from_slice(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
    let mut out = b"prefix".to_vec();
    value.write_canonical(&mut out);
    String::from_utf8(out[6..].to_vec()).unwrap()
}

/// `text` parsed borrowed has the reference's canonical form of `text` parsed as a `Value`.
fn assert_same_text(text: &str) {
    let want = reference(&parse(text));
    assert_eq!(borrowed(text), want, "{text}");
}

/// `value`'s JSON text with every string character but ASCII letters and digits written as a
/// `\uXXXX` escape (astral characters as surrogate pairs) and whitespace around the tokens:
/// text another serializer could have written.
fn escaped_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => escaped_string(s, out),
        Value::Array(items) => {
            out.push_str(" [ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(" ,\n");
                }
                escaped_text(item, out);
            }
            out.push_str(" ] ");
        }
        Value::Object(members) => {
            out.push_str("{\t");
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                escaped_string(key, out);
                out.push_str(" : ");
                escaped_text(item, out);
            }
            out.push_str("\r\n}");
        }
        other => out.push_str(&other.to_string()),
    }
}

fn escaped_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if c == '/' {
            out.push_str(r"\/");
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!(r"\u{unit:04X}"));
            }
        }
    }
    out.push('"');
}

#[test]
fn reference_suite_vectors() {
    // Inputs and outputs of the RFC 8785 reference implementation's test data.
    let vectors: [(&str, &str); 6] = [
        (
            "[\n  56,\n  {\n    \"d\": true,\n    \"10\": null,\n    \"1\": [ ]\n  }\n]",
            r#"[56,{"1":[],"10":null,"d":true}]"#,
        ),
        (
            "{\n  \"peach\": \"This sorting order\",\n  \"p\u{e9}ch\u{e9}\": \"is wrong according to French\",\n  \"p\u{ea}che\": \"but canonicalization MUST\",\n  \"sin\":   \"ingnore locale\"\n}\n",
            "{\"peach\":\"This sorting order\",\"p\u{e9}ch\u{e9}\":\"is wrong according to French\",\"p\u{ea}che\":\"but canonicalization MUST\",\"sin\":\"ingnore locale\"}",
        ),
        (
            "{\n  \"1\": {\"f\": {\"f\": \"hi\",\"F\": 5} ,\"\\n\": 56.0},\n  \"10\": { },\n  \"\": \"empty\",\n  \"a\": { },\n  \"111\": [ { } ],\n  \"A\": { }\n}",
            r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}"#,
        ),
        (
            "{\n  \"Unnormalized Unicode\":\"\\u1e0d\\u0307\"\n}\n",
            "{\"Unnormalized Unicode\":\"\u{1e0d}\u{307}\"}",
        ),
        (
            "{\n  \"numbers\": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],\n  \"escaping\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n  \"literals\": [null, true, false]\n}",
            "{\"escaping\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\",\"literals\":[null,true,false],\"numbers\":[1e+30,4.5,333333333.3333333,0.002,1e-27]}",
        ),
        (
            "{\n  \"\\u20ac\": \"Euro Sign\",\n  \"1\": \"One\",\n  \"\\u0080\": \"Control\\u007f\",\n  \"\\ud83d\\ude02\": \"Smiley\",\n  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\",\n  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n  \"</script>\": \"Browser Challenge\"\n}\n",
            "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f602}\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}",
        ),
    ];
    for (input, want) in vectors {
        let value = parse(input);
        assert_eq!(to_canonical_string(&value), want, "{input}");
        assert_same(&value);
        assert_eq!(borrowed(input), want, "{input}");
    }
}

#[test]
fn rfc_8785_number_vectors() {
    // RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical form.
    let vectors: [(u64, &str); 23] = [
        (0x0000_0000_0000_0000, "0"),
        (0x8000_0000_0000_0000, "0"),
        (0x0000_0000_0000_0001, "5e-324"),
        (0x8000_0000_0000_0001, "-5e-324"),
        (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
        (0xffef_ffff_ffff_ffff, "-1.7976931348623157e+308"),
        (0x4340_0000_0000_0000, "9007199254740992"),
        (0xc340_0000_0000_0000, "-9007199254740992"),
        (0x4430_0000_0000_0000, "295147905179352830000"),
        (0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22"),
        (0x44b5_2d02_c7e1_4af6, "1e+23"),
        (0x44b5_2d02_c7e1_4af7, "1.0000000000000001e+23"),
        (0x444b_1ae4_d6e2_ef4e, "999999999999999700000"),
        (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
        (0x444b_1ae4_d6e2_ef50, "1e+21"),
        (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
        (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
        (0x41b3_de43_5555_5553, "333333333.3333332"),
        (0x41b3_de43_5555_5554, "333333333.33333325"),
        (0x41b3_de43_5555_5555, "333333333.3333333"),
        (0x41b3_de43_5555_5556, "333333333.3333334"),
        (0x41b3_de43_5555_5557, "333333333.33333343"),
        (0xbecb_f647_612f_3696, "-0.0000033333333333333333"),
    ];
    for (bits, want) in vectors {
        let value = Value::Number(Number::from_f64(f64::from_bits(bits)).unwrap());
        assert_eq!(to_canonical_string(&value), want, "{bits:#018x}");
        assert_same(&value);
        // The same number as JSON text (an integer-valued double parses as an integer).
        assert_same(&parse(&format!("[{want}]")));
        assert_same_text(&format!("[{want}]"));
        assert_same_text(&value.to_string());
    }
}

#[test]
fn integers_and_number_spellings_match_the_reference() {
    let two53 = 1u64 << 53;
    let mut texts: Vec<String> = [
        "0",
        "-0",
        "-0.0",
        "0e10",
        "1E400",
        "-1e-400",
        "1e21",
        "1e20",
        "123456789012345678901",
        "999999999999999999999",
        "1.5e300",
        "5e-324",
        "2.5e-324",
        "1.0",
        "100e-2",
        "0.1",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "1e-7",
        "1e-6",
        "0.0000001",
        "123e-20",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for delta in 0..4 {
        texts.push((two53 - 2 + delta).to_string());
        texts.push(format!("-{}", two53 - 2 + delta));
    }
    for text in texts {
        // Numbers serde_json refuses (out of range) are not values at all.
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            assert_same(&value);
            assert_same_text(&text);
            assert_same_text(&format!("{{\"n\": [ {text} ]}}"));
        } else {
            assert!(
                BorrowedValue::from_slice(text.as_bytes()).is_err(),
                "{text}"
            );
        }
    }
    for v in [u64::MAX, u64::MAX - 1, two53, two53 + 1, two53 + 2, 1 << 63] {
        assert_same(&Value::from(v));
    }
    for v in [i64::MIN, i64::MIN + 1, -(1i64 << 53) - 1, -(1i64 << 53), -1] {
        assert_same(&Value::from(v));
    }
}

/// Characters that matter to RFC 8785: controls, the escaped ASCII, DEL, both sides of the
/// surrogate gap, the private use area and specials, and the astral planes.
const SPECIAL_CHARS: &[char] = &[
    '\u{0}',
    '\u{1}',
    '\u{8}',
    '\t',
    '\n',
    '\u{b}',
    '\u{c}',
    '\r',
    '\u{1f}',
    ' ',
    '"',
    '\\',
    '/',
    'A',
    'a',
    'z',
    '~',
    '\u{7f}',
    '\u{80}',
    '\u{ff}',
    '\u{20ac}',
    '\u{2028}',
    '\u{d7ff}',
    '\u{e000}',
    '\u{f8ff}',
    '\u{fb33}',
    '\u{fdd0}',
    '\u{fffd}',
    '\u{ffff}',
    '\u{10000}',
    '\u{1f602}',
    '\u{2a6d6}',
    '\u{e0001}',
    '\u{10ffff}',
];

fn random_char(rng: &mut StdRng) -> char {
    match rng.gen_range(0..10) {
        0..=3 => SPECIAL_CHARS[rng.gen_range(0..SPECIAL_CHARS.len())],
        4..=6 => char::from(rng.gen_range(b'a'..=b'e')),
        7 => char::from_u32(rng.gen_range(0xe000..=0xffff)).unwrap(),
        8 => char::from_u32(rng.gen_range(0x1_0000..=0x10_ffff)).unwrap(),
        _ => loop {
            if let Some(c) = char::from_u32(rng.gen_range(0..=0x10_ffff)) {
                break c;
            }
        },
    }
}

fn random_string(rng: &mut StdRng) -> String {
    let len = rng.gen_range(0..6);
    (0..len).map(|_| random_char(rng)).collect()
}

/// Doubles at the edges of the formatting rules, and random bit patterns.
fn random_double(rng: &mut StdRng) -> f64 {
    const EDGES: &[f64] = &[
        0.0,
        -0.0,
        1e21,
        1e-6,
        1e-7,
        9.999_999_999_999_999e20,
        1.000_000_000_000_000_1e21,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        5e-324,
        -5e-324,
        0.1,
        0.2,
        0.3,
        1.0 / 3.0,
        9_007_199_254_740_992.0,
        9_007_199_254_740_994.0,
        4.5,
        1e300,
        123_456.789,
    ];
    match rng.gen_range(0..4) {
        0 => EDGES[rng.gen_range(0..EDGES.len())],
        1 => loop {
            let f = f64::from_bits(rng.gen());
            if f.is_finite() {
                break f;
            }
        },
        2 => rng.gen_range(-1e6..1e6),
        // Around the decimal/exponent boundaries, 1e-7 and 1e21.
        _ => {
            let exponent = if rng.gen() {
                rng.gen_range(-9..-4)
            } else {
                rng.gen_range(19..23)
            };
            let sign = if rng.gen() { -1.0 } else { 1.0 };
            sign * rng.gen_range(1.0..10.0) * 10f64.powi(exponent)
        }
    }
}

fn random_number(rng: &mut StdRng) -> Value {
    let two53 = 1u64 << 53;
    match rng.gen_range(0..6) {
        0 => Value::from(rng.gen::<u64>()),
        1 => Value::from(rng.gen::<i64>()),
        2 => Value::from(rng.gen_range(two53 - 4..two53 + 4)),
        3 => Value::from(rng.gen_range(-(two53 as i64) - 4..-(two53 as i64) + 4)),
        4 => Value::from(rng.gen_range(-1000i64..1000)),
        _ => Value::Number(Number::from_f64(random_double(rng)).unwrap()),
    }
}

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    let leaf_only = depth == 0;
    match rng.gen_range(0..if leaf_only { 4 } else { 6 }) {
        0 => match rng.gen_range(0..3) {
            0 => Value::Null,
            1 => Value::Bool(true),
            _ => Value::Bool(false),
        },
        1 => random_number(rng),
        2 | 3 => Value::String(random_string(rng)),
        4 => {
            let len = rng.gen_range(0..5);
            Value::Array((0..len).map(|_| random_value(rng, depth - 1)).collect())
        }
        _ => {
            let len = rng.gen_range(0..8);
            let mut members = Map::new();
            for _ in 0..len {
                members.insert(random_string(rng), random_value(rng, depth - 1));
            }
            Value::Object(members)
        }
    }
}

#[test]
fn random_values_match_the_reference() {
    let mut rng = StdRng::seed_from_u64(8785);
    for _ in 0..20_000 {
        let value = random_value(&mut rng, 4);
        assert_same(&value);
        // The same value after a round trip through its text (numbers re-parsed).
        let text = serde_json::to_string(&value).unwrap();
        assert_same(&parse(&text));
        // The same texts parsed borrowed: compact, spaced, every string escaped.
        assert_same_text(&text);
        assert_same_text(&serde_json::to_string_pretty(&value).unwrap());
        let mut escaped = String::new();
        escaped_text(&value, &mut escaped);
        assert_same_text(&escaped);
    }
}

#[test]
fn the_borrowed_path_refuses_what_serde_json_refuses() {
    let texts = [
        "",
        "{",
        "[1,]",
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        "{'a':1}",
        "{1:1}",
        "01",
        "-",
        "1.",
        ".5",
        "+1",
        "1e",
        "NaN",
        "Infinity",
        "1e400",
        "-1e400",
        r#""\x""#,
        r#""\ud800""#,
        r#""\udc00x""#,
        "\"a\u{1}b\"",
        "\"tab\there\"",
        "{} {}",
        "nul",
        r#"["unterminated]"#,
    ];
    for text in texts {
        assert!(serde_json::from_str::<Value>(text).is_err(), "{text:?}");
        assert!(
            BorrowedValue::from_slice(text.as_bytes()).is_err(),
            "{text:?}"
        );
    }
    // Invalid UTF-8 inside a string.
    assert!(serde_json::from_slice::<Value>(b"\"\xff\"").is_err());
    assert!(BorrowedValue::from_slice(b"\"\xff\"").is_err());
    // Nesting past serde_json's limit of 128, and just within it.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(serde_json::from_str::<Value>(&deep).is_err());
    assert!(BorrowedValue::from_slice(deep.as_bytes()).is_err());
    assert_same_text(&format!("{}{}", "[".repeat(100), "]".repeat(100)));
}

#[test]
fn a_repeated_key_is_refused_where_a_value_keeps_the_last() {
    let texts = [
        r#"{"a":1,"a":1}"#,
        r#"{"a":1,"b":2,"a":3}"#,
        r#"{"\u0061":1,"a":2}"#,
        "{\"\\ud83d\\ude02\":1,\"\u{1f602}\":2}",
        r#"{"ok":{"k":[],"k":{}}}"#,
        r#"[0,[{"x":null,"y":0,"x":true}]]"#,
        r#"{"leaf_index":1,"leaf_index":2}"#,
    ];
    for text in texts {
        assert!(serde_json::from_str::<Value>(text).is_ok(), "{text}");
        let err = BorrowedValue::from_slice(text.as_bytes()).unwrap_err();
        assert!(
            err.to_string().starts_with("duplicate key `"),
            "{text}: {err}"
        );
    }
    // Random objects with one key written twice, escaped the first time.
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..2_000 {
        let value = random_value(&mut rng, 2);
        let key = random_string(&mut rng);
        let mut first = String::new();
        escaped_string(&key, &mut first);
        let second = serde_json::to_string(&key).unwrap();
        let text = format!(
            "{{{first}:{value},\"other\":{value},{second}:0}}",
            value = serde_json::to_string(&value).unwrap()
        );
        let err = BorrowedValue::from_slice(text.as_bytes()).unwrap_err();
        assert!(
            err.to_string().starts_with("duplicate key `"),
            "{text}: {err}"
        );
    }
}

#[test]
fn utf16_order_is_the_order_of_encoded_units() {
    let mut rng = StdRng::seed_from_u64(16);
    for _ in 0..100_000 {
        let a = random_string(&mut rng);
        let b = if rng.gen_range(0..4) == 0 {
            // A shared prefix, so the comparison reaches past the first character.
            format!(
                "{}{}",
                a.chars().take(2).collect::<String>(),
                random_string(&mut rng)
            )
        } else {
            random_string(&mut rng)
        };
        let want = a.encode_utf16().cmp(b.encode_utf16());
        assert_eq!(utf16_cmp(&a, &b), want, "{a:?} {b:?}");
        assert_eq!(utf16_cmp(&b, &a), want.reverse(), "{a:?} {b:?}");
    }
    assert_eq!(utf16_cmp("\u{10ffff}", "\u{e000}"), Ordering::Less);
}
