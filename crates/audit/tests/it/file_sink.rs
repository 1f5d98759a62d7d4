//! The NDJSON file sink: restarts, torn lines, fsync policies, concurrent batches.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{events, numbers, TempDir};
use countersign_audit::{AuditSink, FileSink, FsyncPolicy, Recorder, RecorderConfig, SinkError};
use countersign_domain::AuditEvent;

fn read_lines(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "file must end with a newline"
    );
    text.lines().map(str::to_owned).collect()
}

fn parse_all(lines: &[String]) -> Vec<AuditEvent> {
    lines
        .iter()
        .map(|l| serde_json::from_str::<AuditEvent>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test]
async fn appends_across_a_restart_without_losing_or_reordering() {
    let dir = TempDir::new("audit");
    let path = dir.join("audit.ndjson");
    let written = events(0..5);

    let sink = FileSink::open(&path, FsyncPolicy::Always).await.unwrap();
    assert_eq!(sink.name(), "file");
    sink.write(&written[0..2]).await.unwrap();
    sink.write(&written[2..3]).await.unwrap();
    sink.write(&[]).await.unwrap();
    drop(sink);

    // "Restart": the same path, opened again.
    let sink = FileSink::open(&path, FsyncPolicy::Always).await.unwrap();
    sink.write(&written[3..5]).await.unwrap();
    drop(sink);

    let lines = read_lines(&path);
    assert_eq!(lines.len(), 5);
    assert_eq!(parse_all(&lines), written);
    // Each line is exactly the event's wire form.
    assert_eq!(lines[0], written[0].to_json_line());
}

#[tokio::test]
async fn a_torn_last_line_does_not_corrupt_later_lines() {
    let dir = TempDir::new("audit");
    let path = dir.join("audit.ndjson");
    let written = events(0..3);

    let sink = FileSink::open(&path, FsyncPolicy::Always).await.unwrap();
    sink.write(&written[0..1]).await.unwrap();
    drop(sink);

    // A crash in the middle of a write: half a line, no newline.
    let torn = &written[1].to_json_line()[..40];
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn.as_bytes())
        .unwrap();

    let sink = FileSink::open(&path, FsyncPolicy::Never).await.unwrap();
    sink.write(&written[1..2]).await.unwrap();
    drop(sink);
    // A clean reopen adds nothing.
    let sink = FileSink::open(&path, FsyncPolicy::Never).await.unwrap();
    sink.write(&written[2..3]).await.unwrap();
    drop(sink);

    let lines = read_lines(&path);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(lines[1], torn);
    assert!(serde_json::from_str::<AuditEvent>(&lines[1]).is_err());
    let good: Vec<String> = [0, 2, 3].iter().map(|&i| lines[i].clone()).collect();
    assert_eq!(parse_all(&good), written);
}

#[tokio::test]
async fn interval_and_never_policies_write_every_line() {
    let dir = TempDir::new("audit");
    for (i, policy) in [
        FsyncPolicy::Never,
        FsyncPolicy::Interval(Duration::from_millis(5)),
        FsyncPolicy::Interval(Duration::ZERO),
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.join(&format!("audit-{i}.ndjson"));
        let sink = FileSink::open(&path, policy).await.unwrap().named("custom");
        assert_eq!(sink.name(), "custom");
        assert_eq!(sink.policy(), policy);
        assert_eq!(sink.path(), path);
        let written = events(0..10);
        for chunk in written.chunks(3) {
            sink.write(chunk).await.unwrap();
        }
        sink.sync().await.unwrap();
        drop(sink);
        assert_eq!(parse_all(&read_lines(&path)), written);
    }
}

#[tokio::test]
async fn concurrent_batches_never_interleave() {
    let dir = TempDir::new("audit");
    let path = dir.join("audit.ndjson");
    let sink = Arc::new(FileSink::open(&path, FsyncPolicy::Never).await.unwrap());
    let mut tasks = Vec::new();
    for t in 0..10 {
        let sink = sink.clone();
        tasks.push(tokio::spawn(async move {
            sink.write(&events(t * 5..t * 5 + 5)).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    drop(sink);
    let got = numbers(&parse_all(&read_lines(&path)));
    assert_eq!(got.len(), 50);
    // Each batch of five is contiguous and in order.
    for chunk in got.chunks(5) {
        assert_eq!(chunk[0] % 5, 0);
        assert_eq!(chunk, (chunk[0]..chunk[0] + 5).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_missing_directory_is_an_io_error() {
    let dir = TempDir::new("audit");
    let err = FileSink::open(dir.join("missing/audit.ndjson"), FsyncPolicy::Always)
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Io(_)), "{err:?}");
}

#[tokio::test]
async fn a_recorder_over_a_file_sink_survives_a_restart() {
    let dir = TempDir::new("audit");
    let path = dir.join("audit.ndjson");
    for round in 0..2 {
        let sink = FileSink::open(&path, FsyncPolicy::Always).await.unwrap();
        let recorder = Recorder::new(RecorderConfig::builder().batch_size(3).build(), sink);
        for e in events(round * 10..round * 10 + 7) {
            recorder.record(e).await.unwrap();
        }
        recorder.shutdown().await.unwrap();
    }
    let got = numbers(&parse_all(&read_lines(&path)));
    let want: Vec<usize> = (0..7).chain(10..17).collect();
    assert_eq!(got, want);
}
