//! The leaf of an audit event: the RFC 8785 canonical JSON of the event as the API serves it,
//! the same from the typed event, from an API answer and from an export line with its
//! `leaf_index`; any change to the event changes it.

use countersign_domain::audit::AuditEvent;
use countersign_tlog::leaf::{event_leaf, event_leaf_hash, json_leaf};
use countersign_tlog::leaf_hash;
use serde_json::{json, Value};

/// An event as `GET /api/v1/audit/{event_id}` serves it, members in wire order.
fn served() -> Value {
    json!({
        "schema": "countersign.audit.v1",
        "event_id": "evt_01hzy3k6m5n7p8q9r0s1t2v3w4",
        "ts": "2026-01-02T03:04:05.123456Z",
        "category": "lifecycle",
        "action": "approval.approved",
        "actor": {"kind": "user", "id": "prn_01hzy3k6m5n7p8q9r0s1t2v3w5", "name": "alice"},
        "resource": {"type": "approval", "id": "apr_01hzy3k6m5n7p8q9r0s1t2v3w6"},
        "authorization": {"decision": "allow", "permission": "approval.approve", "policy": "rbac"},
        "result": {"outcome": "ok"},
        "request_id": "req-1",
        "previous_generation": 3,
        "new_generation": 4,
        "details": {"zeta": 1.0, "alpha": "\u{20ac}", "list": [2, 1]}
    })
}

#[test]
fn the_leaf_is_the_canonical_json_of_the_served_event() {
    let event: AuditEvent = serde_json::from_value(served()).unwrap();
    let leaf = String::from_utf8(event_leaf(&event)).unwrap();
    // Members sorted by code unit, no whitespace, numbers in shortest form.
    assert_eq!(
        leaf,
        concat!(
            r#"{"action":"approval.approved","#,
            r#""actor":{"id":"prn_01hzy3k6m5n7p8q9r0s1t2v3w5","kind":"user","name":"alice"},"#,
            r#""authorization":{"decision":"allow","permission":"approval.approve","policy":"rbac"},"#,
            r#""category":"lifecycle","#,
            r#""details":{"alpha":"€","list":[2,1],"zeta":1},"#,
            r#""event_id":"evt_01hzy3k6m5n7p8q9r0s1t2v3w4","#,
            r#""new_generation":4,"previous_generation":3,"#,
            r#""request_id":"req-1","#,
            r#""resource":{"id":"apr_01hzy3k6m5n7p8q9r0s1t2v3w6","type":"approval"},"#,
            r#""result":{"outcome":"ok"},"#,
            r#""schema":"countersign.audit.v1","#,
            r#""ts":"2026-01-02T03:04:05.123456Z"}"#
        )
    );
    assert_eq!(event_leaf_hash(&event), leaf_hash(leaf.as_bytes()));
}

#[test]
fn the_typed_event_the_api_answer_and_the_export_line_share_one_leaf() {
    let event: AuditEvent = serde_json::from_value(served()).unwrap();
    let leaf = event_leaf(&event);
    // The API answer as bytes on the wire, members in wire order.
    let answer: Value = serde_json::from_str(&event.to_json_line()).unwrap();
    assert_eq!(json_leaf(answer), leaf);
    // An export line: `leaf_index` added, members in another order, whitespace.
    let mut line = served();
    line["leaf_index"] = json!(41);
    let text = serde_json::to_string_pretty(&line).unwrap();
    assert_eq!(json_leaf(serde_json::from_str(&text).unwrap()), leaf);
}

#[test]
fn any_change_to_the_event_changes_its_leaf() {
    let base = json_leaf(served());
    let edits: Vec<(&str, Value)> = vec![
        ("/action", json!("approval.rejected")),
        ("/ts", json!("2026-01-02T03:04:05.123457Z")),
        ("/actor/name", json!("mallory")),
        ("/resource/id", json!("apr_01hzy3k6m5n7p8q9r0s1t2v3w7")),
        ("/authorization/decision", json!("deny")),
        ("/new_generation", json!(5)),
        ("/details/zeta", json!(2)),
        ("/details/list/0", json!(1)),
    ];
    for (pointer, value) in edits {
        let mut edited = served();
        *edited.pointer_mut(pointer).unwrap() = value;
        assert_ne!(json_leaf(edited), base, "{pointer}");
    }
    let mut removed = served();
    removed.as_object_mut().unwrap().remove("request_id");
    assert_ne!(json_leaf(removed), base);
    let mut added = served();
    added["ingested_by"] = json!("prn_x");
    assert_ne!(json_leaf(added), base);
}
