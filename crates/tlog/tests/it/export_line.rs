//! An export line's leaf, parsed borrowed, is byte for byte the leaf of the same line parsed
//! as a `serde_json::Value` (`json_leaf`): over seeded random events with nested details,
//! escapes, unicode and numbers of every kind. What the old path refused is refused; a line
//! that repeats a key is refused too.

use countersign_tlog::export_range::{export_line_leaf, Problem};
use countersign_tlog::leaf::json_leaf;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Number, Value};

/// The leaf index and leaf of `line` by the `Value` path.
fn value_path(line: &str) -> Result<(u64, Vec<u8>), ()> {
    let value: Value = serde_json::from_str(line).map_err(|_| ())?;
    let index = value
        .as_object()
        .ok_or(())?
        .get("leaf_index")
        .and_then(Value::as_u64)
        .ok_or(())?;
    Ok((index, json_leaf(value)))
}

fn assert_same_leaf(line: &str) {
    let want = value_path(line).unwrap_or_else(|()| panic!("{line}"));
    let got = export_line_leaf(line.as_bytes()).unwrap_or_else(|p| panic!("{line}: {p}"));
    assert_eq!(
        (got.0, String::from_utf8(got.1).unwrap()),
        (want.0, String::from_utf8(want.1).unwrap()),
        "{line}"
    );
}

const CHARS: &[char] = &[
    'a',
    'b',
    'z',
    '0',
    ' ',
    '"',
    '\\',
    '/',
    '\n',
    '\t',
    '\u{0}',
    '\u{1f}',
    '\u{7f}',
    '\u{e9}',
    '\u{20ac}',
    '\u{2028}',
    '\u{e000}',
    '\u{fb33}',
    '\u{ffff}',
    '\u{1f602}',
    '\u{10ffff}',
];

fn random_string(rng: &mut StdRng) -> String {
    (0..rng.gen_range(0..8))
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())])
        .collect()
}

fn random_number(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..7) {
        0 => Value::from(rng.gen::<u64>()),
        1 => Value::from(rng.gen::<i64>()),
        2 => Value::from(rng.gen_range(-1000i64..1000)),
        3 => Value::from((1u64 << 53) + rng.gen_range(0..4)),
        4 => Value::Number(Number::from_f64(rng.gen_range(-1e3..1e3)).unwrap()),
        5 => Value::Number(
            Number::from_f64(rng.gen_range(1.0..10.0) * 10f64.powi(rng.gen_range(-30..30)))
                .unwrap(),
        ),
        _ => loop {
            if let Some(n) = Number::from_f64(f64::from_bits(rng.gen())) {
                break Value::Number(n);
            }
        },
    }
}

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth == 0 { 4 } else { 6 }) {
        0 => [Value::Null, Value::Bool(true), Value::Bool(false)][rng.gen_range(0..3)].clone(),
        1 => random_number(rng),
        2 | 3 => Value::String(random_string(rng)),
        4 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(random_object(rng, depth - 1)),
    }
}

fn random_object(rng: &mut StdRng, depth: u32) -> Map<String, Value> {
    (0..rng.gen_range(0..6))
        .map(|_| (random_string(rng), random_value(rng, depth)))
        .collect()
}

/// An event-shaped line: the event's members in wire order, random details, `leaf_index` at
/// a random place (last, as the export writes it, or elsewhere).
fn random_line(rng: &mut StdRng, index: u64) -> String {
    let mut members: Vec<(String, Value)> = vec![
        ("schema".into(), json!("countersign.audit.v1")),
        ("event_id".into(), json!(format!("evt_{index:026}"))),
        ("ts".into(), json!("2026-01-02T03:04:05.123456Z")),
        ("action".into(), json!(random_string(rng))),
        (
            "actor".into(),
            json!({"kind": "user", "id": random_string(rng)}),
        ),
        ("details".into(), Value::Object(random_object(rng, 3))),
    ];
    for _ in 0..rng.gen_range(0..3) {
        let key = random_string(rng);
        if key != "leaf_index" && members.iter().all(|(k, _)| *k != key) {
            members.push((key, random_value(rng, 2)));
        }
    }
    let at = if rng.gen() {
        members.len()
    } else {
        rng.gen_range(0..=members.len())
    };
    members.insert(at, ("leaf_index".into(), json!(index)));
    let parts: Vec<String> = members
        .iter()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                serde_json::to_string(k).unwrap(),
                serde_json::to_string(v).unwrap()
            )
        })
        .collect();
    if rng.gen_range(0..4) == 0 {
        format!("{{ {} }}", parts.join(" , "))
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[test]
fn random_event_lines_have_the_value_paths_leaf() {
    let mut rng = StdRng::seed_from_u64(6962);
    for i in 0..5_000u64 {
        let index = rng.gen_range(0..=i * 1000);
        assert_same_leaf(&random_line(&mut rng, index));
    }
}

#[test]
fn escapes_unicode_and_numbers_have_the_value_paths_leaf() {
    let lines = [
        r#"{"leaf_index":0}"#,
        r#"{"leaf_index":18446744073709551615,"a":1}"#,
        r#"{"a":"\"\\\/\b\f\n\r\t\u0000\u001F\u007f","leaf_index":1}"#,
        r#"{"\u00e9t\u00e9":"\u20ac","\ud83d\ude02":"\uFB33","\uE000":0,"leaf_index":2}"#,
        "{\"\u{e9}t\u{e9}\":\"\u{20ac}\",\"\u{1f602}\":\"\u{fb33}\",\"\u{e000}\":0,\"leaf_index\":2}",
        r#"{"leaf_\u0069ndex":3,"x":"y"}"#,
        r#"{"n":[0,-0,-0.0,1.0,1e2,1E+2,-1e-7,1e21,1e-6,123456789012345678901,-9223372036854775809],"leaf_index":4}"#,
        r#"{"n":[9007199254740993,-9007199254740993,18446744073709551616,5e-324,1.7976931348623157e308],"leaf_index":5}"#,
        r#"{"n":[0.1,0.2,0.30000000000000004,333333333.33333329,4.50,2e-3,1e-27],"leaf_index":6}"#,
        r#"{"deep":[[[[{"b":[{"d":1,"c":2}],"a":{}}]]]],"e":[],"leaf_index":7}"#,
        " \t{ \"leaf_index\" : 8 , \"a\" : [ 1 , { } ] }\r ",
        r#"{"":"","leaf_index":9," ":" "}"#,
    ];
    for line in lines {
        assert_same_leaf(line);
    }
}

#[test]
fn what_the_value_path_refuses_stays_refused() {
    let not_events = [
        "",
        "   ",
        "[1]",
        "7",
        r#""leaf_index""#,
        "null",
        r#"{"leaf_index":1"#,
        r#"{"leaf_index":1,}"#,
        r#"{"leaf_index":1} x"#,
        r#"{"leaf_index":1}{"leaf_index":2}"#,
        r#"{"leaf_index":1,"a":"\q"}"#,
        r#"{"leaf_index":1,"a":1e400}"#,
        "{\"leaf_index\":1,\"a\":\"\u{1}\"}",
    ];
    for line in not_events {
        assert!(value_path(line).is_err(), "{line}");
        assert!(
            matches!(
                export_line_leaf(line.as_bytes()),
                Err(Problem::NotAnEvent(_))
            ),
            "{line}"
        );
    }
    let no_index = [
        r#"{}"#,
        r#"{"a":1}"#,
        r#"{"leaf_index":-1}"#,
        r#"{"leaf_index":-0}"#,
        r#"{"leaf_index":7.0}"#,
        r#"{"leaf_index":7e0}"#,
        r#"{"leaf_index":18446744073709551616}"#,
        r#"{"leaf_index":"7"}"#,
        r#"{"leaf_index":null}"#,
        r#"{"leaf_index":[7]}"#,
        r#"{"x":{"leaf_index":7}}"#,
        r#"{"Leaf_index":7}"#,
    ];
    for line in no_index {
        assert!(value_path(line).is_err(), "{line}");
        assert_eq!(
            export_line_leaf(line.as_bytes()),
            Err(Problem::NoLeafIndex),
            "{line}"
        );
    }
}

#[test]
fn a_line_that_repeats_a_key_is_not_an_event() {
    // The `Value` path kept the last of two members with one key, so an edited member could
    // hide behind a second copy of the original; the leaf would depend on which one a reader
    // keeps.
    let lines = [
        r#"{"action":"approval.rejected","action":"approval.approved","leaf_index":0}"#,
        r#"{"leaf_index":0,"leaf_index":1}"#,
        r#"{"leaf_index":0,"leaf_\u0069ndex":0}"#,
        r#"{"leaf_index":0,"details":{"a":1,"b":{"c":[{"d":1,"d":1}]}}}"#,
        r#"{"\ud83d\ude02":1,"leaf_index":0,"😂":2}"#,
    ];
    for line in lines {
        match export_line_leaf(line.as_bytes()) {
            Err(Problem::NotAnEvent(why)) => {
                assert!(why.starts_with("duplicate key `"), "{line}: {why}")
            }
            other => panic!("{line}: {other:?}"),
        }
    }
}
