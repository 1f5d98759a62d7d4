//! `countersign approvals watch`: follow `GET /api/v1/events/stream` and print each event as it
//! happens — one line of text, or (`--output json`, or `--json`) the event's JSON body, one per
//! line — optionally running a command per event (`--exec`), with the event's JSON on its
//! stdin and `COUNTERSIGN_EVENT_TYPE` / `COUNTERSIGN_EVENT_ID` in its environment.
//!
//! The stream is parsed by `eventsource-stream`. When the connection drops (the server
//! restarts, a proxy cuts it, nothing — not even the server's keep-alive comment — arrives
//! for [`IDLE`]), watch reconnects with `Last-Event-ID` set to the last event it handled, so
//! nothing is missed and nothing handled twice; it waits a little longer after each failed
//! attempt (up to [`MAX_BACKOFF`]). A refusal (401, 403, 400) is final. `--exec` runs one
//! command at a time, in order; a command that fails is reported on stderr and watching goes
//! on.

use std::process::Stdio;
use std::time::Duration;

use clap::{Args, ValueEnum};
use eventsource_stream::Eventsource;
use futures::stream::{self, StreamExt};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::commands::Ctx;
use crate::error::CliError;

/// Without a byte (the server sends a comment every 15 s) for this long, the connection is
/// taken as dead and opened again.
pub const IDLE: Duration = Duration::from_secs(45);
/// The longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
const PATH: &str = "/api/v1/events/stream";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// One line per event: time, type, approval, state, action, subject, requester, who can
    /// still vote.
    Text,
    /// The event's JSON body (`{"type", "timestamp", "data"}`), one per line.
    Json,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only these event types, comma-separated (e.g. `approval.requested,approval.approved`).
    #[arg(long, value_delimiter = ',', value_name = "TYPE,…")]
    pub events: Vec<String>,
    /// `text` or `json` (`--json` means `json` too).
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// Run CMD (with `sh -c`) for each event: the event's JSON on its stdin, its type in
    /// COUNTERSIGN_EVENT_TYPE and its id in COUNTERSIGN_EVENT_ID.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Start just after this event (`msg_…`, a previous event's id) instead of now.
    #[arg(long, value_name = "EVENT_ID")]
    pub after: Option<String>,
    /// Exit after this many events (those the --events filter lets through).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

/// One event as received.
struct Received {
    id: String,
    kind: String,
    data: String,
}

/// Why a connection ended.
enum Ended {
    /// `--count` events were handled.
    Done,
    /// The connection broke or went quiet: connect again.
    Lost(String),
}

pub async fn run(ctx: &Ctx, a: WatchArgs) -> Result<(), CliError> {
    let output = if ctx.json { Output::Json } else { a.output };
    let mut last = a.after.clone();
    let mut handled = 0u64;
    let mut backoff = Duration::from_secs(1);
    let mut connected_once = false;
    loop {
        let resp = match open(ctx, last.as_deref()).await {
            Ok(resp) => resp,
            // A server that was never reached is a configuration problem: say so at once.
            Err(e @ CliError::Unreachable { .. }) if connected_once => {
                eprintln!("watch: {e}; retrying in {}s", backoff.as_secs());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(e) => return Err(e),
        };
        eprintln!(
            "watch: connected to {}; waiting for events",
            ctx.client.base_url()
        );
        connected_once = true;
        backoff = Duration::from_secs(1);
        match follow(resp, &a, output, &mut last, &mut handled).await? {
            Ended::Done => return Ok(()),
            Ended::Lost(why) => eprintln!("watch: connection lost ({why}); reconnecting"),
        }
    }
}

async fn open(ctx: &Ctx, last: Option<&str>) -> Result<reqwest::Response, CliError> {
    let headers: Vec<(&'static str, String)> = last
        .map(|id| ("last-event-id", id.to_owned()))
        .into_iter()
        .collect();
    ctx.client
        .stream_with(PATH, "text/event-stream", &headers)
        .await
}

/// Handle the events of one connection until it ends.
async fn follow(
    resp: reqwest::Response,
    a: &WatchArgs,
    output: Output,
    last: &mut Option<String>,
    handled: &mut u64,
) -> Result<Ended, CliError> {
    // The body's bytes, ending with an error when nothing arrives for IDLE.
    let bytes = stream::unfold(resp.bytes_stream(), |mut body| async move {
        match tokio::time::timeout(IDLE, body.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), body)),
            Ok(Some(Err(e))) => Some((Err(crate::client::error_chain(&e)), body)),
            Ok(None) => None,
            Err(_) => Some((
                Err(format!("nothing received for {}s", IDLE.as_secs())),
                body,
            )),
        }
    });
    let mut events = Box::pin(bytes.eventsource());
    while let Some(next) = events.next().await {
        let event = match next {
            Ok(e) => e,
            Err(e) => return Ok(Ended::Lost(e.to_string())),
        };
        let received = Received {
            id: event.id,
            kind: event.event,
            data: event.data,
        };
        if !received.id.is_empty() {
            *last = Some(received.id.clone());
        }
        if !a.events.is_empty() && !a.events.contains(&received.kind) {
            continue;
        }
        handle(&received, a, output).await?;
        *handled += 1;
        if a.count.is_some_and(|n| *handled >= n) {
            return Ok(Ended::Done);
        }
    }
    Ok(Ended::Lost("the server closed the stream".into()))
}

async fn handle(e: &Received, a: &WatchArgs, output: Output) -> Result<(), CliError> {
    let body: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
    match output {
        Output::Json => println!("{}", e.data),
        Output::Text => println!("{}", line(&e.kind, &body)),
    }
    if let Some(cmd) = &a.exec {
        exec(cmd, e).await?;
    }
    Ok(())
}

/// One line of text: `TIME  TYPE  APPROVAL  STATE  ACTION  SUBJECT  by REQUESTER  [waiting on …]`.
fn line(kind: &str, body: &Value) -> String {
    let d = &body["data"];
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    // A job event names the job first (it may carry its approval too), others the approval.
    let job_first = kind.starts_with("job.");
    let pick = |field: &str, job_field: &str| {
        let (own, job) = (d[field].as_str(), d["job"][job_field].as_str());
        if job_first {
            job.or(own)
        } else {
            own.or(job)
        }
    };
    let (id, state, action) = (
        pick("id", "id"),
        pick("state", "status"),
        pick("action", "action"),
    );
    let subject = match (d["subject"]["kind"].as_str(), d["subject"]["name"].as_str()) {
        (Some(kind), Some(name)) => format!("{kind}/{name}"),
        _ => "-".to_owned(),
    };
    let mut out = format!(
        "{}  {kind:<19}  {}  {:<9}  {}  {subject}  by {}",
        text(&body["timestamp"]),
        id.unwrap_or("-"),
        state.unwrap_or("-"),
        action.unwrap_or("-"),
        text(&d["requester"]["name"]),
    );
    let waiting: Vec<&str> = d["waiting_on"]
        .as_array()
        .map(|w| w.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !waiting.is_empty() {
        out.push_str(&format!("  waiting on {}", waiting.join(", ")));
    }
    out
}

/// Run `cmd` with the event on stdin; a failure to start it is an error, a non-zero exit a
/// warning.
async fn exec(cmd: &str, e: &Received) -> Result<(), CliError> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("COUNTERSIGN_EVENT_TYPE", &e.kind)
        .env("COUNTERSIGN_EVENT_ID", &e.id)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|err| CliError::Usage(format!("--exec: cannot run `sh -c {cmd}`: {err}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin closes the pipe early: not an error.
        let _ = stdin.write_all(e.data.as_bytes()).await;
        let _ = stdin.write_all(b"\n").await;
    }
    let status = child.wait().await?;
    if !status.success() {
        eprintln!("watch: --exec for {} ({}) exited {status}", e.id, e.kind);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_line_names_the_approval_its_people_and_who_can_still_vote() {
        let body = json!({
            "type": "approval.requested",
            "timestamp": "2026-12-01T05:40:11Z",
            "data": {
                "id": "apr_01", "state": "pending", "action": "certificate.renew",
                "subject": {"id": "sub_1", "kind": "certificate", "name": "api.example.com"},
                "requester": {"id": "prn_1", "name": "bob"},
                "waiting_on": ["carol", "dave"]
            }
        });
        assert_eq!(
            line("approval.requested", &body),
            "2026-12-01T05:40:11Z  approval.requested   apr_01  pending    certificate.renew  \
             certificate/api.example.com  by bob  waiting on carol, dave"
        );
        let job = json!({"type": "job.completed", "timestamp": "t", "data": {
            "job": {"id": "job_1", "status": "succeeded", "action": "deploy"},
            "subject": null, "requester": {"name": "wendy"}, "waiting_on": []
        }});
        assert_eq!(
            line("job.completed", &job),
            "t  job.completed        job_1  succeeded  deploy  -  by wendy"
        );
    }
}
