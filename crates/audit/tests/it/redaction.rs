//! Secrets wrapped in `Redacted` never reach an event, a log line or a file.

use countersign_audit::{AuditSink, EventBuilder, FileSink, FsyncPolicy, Redacted};
use countersign_domain::Category;
use serde::Serialize;

const SECRET: &str = "cs_key_01hx_5up3r-s3cr3t-v4lu3";

#[derive(Debug, Serialize)]
struct Rotation {
    key_id: &'static str,
    new_key: Redacted<String>,
}

fn secret_event() -> EventBuilder {
    EventBuilder::new(Category::Auth, "key.rotated")
        .user("u-1", Some("alice"))
        .resource("api_key", "key-7")
        .secret_detail("previous_key", Redacted(SECRET.to_owned()))
        .detail(
            "rotation",
            Rotation {
                key_id: "key-7",
                new_key: Redacted(SECRET.to_owned()),
            },
        )
}

#[test]
fn redacted_values_are_absent_from_every_rendering_of_the_event() {
    let builder = secret_event();
    assert!(!format!("{builder:?}").contains(SECRET));
    let event = builder.build().unwrap();
    let line = event.to_json_line();
    assert!(!line.contains(SECRET), "{line}");
    assert!(!serde_json::to_string_pretty(&event)
        .unwrap()
        .contains(SECRET));
    assert!(!format!("{event:?}").contains(SECRET));
    let details = event.details.as_ref().unwrap();
    assert_eq!(details["previous_key"], "[redacted]");
    assert_eq!(details["rotation"]["new_key"], "[redacted]");
    assert_eq!(details["rotation"]["key_id"], "key-7");
}

#[tokio::test]
async fn redacted_values_are_absent_from_the_file() {
    let dir = crate::support::TempDir::new("audit");
    let path = dir.join("audit.ndjson");
    let sink = FileSink::open(&path, FsyncPolicy::Always).await.unwrap();
    sink.write(&[secret_event().build().unwrap()])
        .await
        .unwrap();
    drop(sink);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[redacted]"));
    assert!(!text.contains(SECRET));
}
