//! The streaming audit export: `GET /api/v1/audit/export?from=&to=[&category=&limit=&after=]`.
//!
//! [`Service::export_audit`] checks `audit.export`, validates the query (from and to required
//! RFC 3339 times, `to` after `from`, a window of at most
//! [`ServiceConfig::export_max_window`](crate::ServiceConfig), a known category, `limit`
//! 1..=[`MAX_EXPORT_LIMIT`], `after` an existing event id), fetches the first chunk (so an
//! unreachable database is still a clean 503), and answers an [`AuditExport`]: a stream of
//! NDJSON text chunks, one per chunk of rows read from the store's server-side cursor. Only
//! one chunk is in memory at a time, however many rows the export covers.
//!
//! Every export is itself audited with one `audit.exported` event (category `audit`, resource
//! `{type: "audit_export", id: <request id>}`, details `{from, to, category, rows, complete}`),
//! written in its own transaction once the stream ends:
//!
//! - **the stream ran out**: written before the stream reports its end, with `complete: true`
//!   (so a client that has read the whole body finds the event already stored). If that write
//!   fails the stream ends with an error, so the client sees a failed transfer;
//! - **the store failed mid-stream**: the stream yields the error (the HTTP body is aborted),
//!   and the event is written with `complete: false` and an error result;
//! - **the consumer dropped the stream** (the client went away): the stream's `Drop` spawns
//!   the write, with `complete: false`.
//!
//! `rows` counts the lines handed to the consumer (the HTTP server), not the rows read.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use countersign_domain::audit::actions;
use countersign_domain::{
    clock, Actor, AuditEvent, AuditResult, Category, EventId, Permission, Resource,
};
use countersign_store::{ExportFilter, ExportRow, StoreResult};
use countersign_tlog::leaf::LEAF_INDEX_FIELD;
use futures::stream::{BoxStream, Stream, StreamExt};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::caller::Caller;
use crate::error::{parse_id, ServiceError, ServiceResult};
use crate::service::Service;

/// The largest `limit` an export accepts.
pub const MAX_EXPORT_LIMIT: u64 = 10_000_000;
/// Rows fetched from the store per chunk (and so per body chunk).
pub const EXPORT_CHUNK_ROWS: u32 = 1000;

/// The export's query values exactly as the client sent them; [`Service::export_audit`]
/// validates them, naming the field in every refusal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub category: Option<String>,
    pub limit: Option<String>,
    pub after: Option<String>,
}

/// A validated export, ready to stream.
pub struct AuditExport {
    from: OffsetDateTime,
    to: OffsetDateTime,
    stream: ExportStream,
}

impl std::fmt::Debug for AuditExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditExport")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("sent", &self.stream.sent)
            .finish_non_exhaustive()
    }
}

impl AuditExport {
    /// `countersign-audit-<from>_to_<to>.ndjson`, the times in UTC with `:` replaced by `-`
    /// (`2026-05-20T00-00-00Z`) so the name is safe on every file system.
    pub fn filename(&self) -> String {
        format!(
            "countersign-audit-{}_to_{}.ndjson",
            filename_time(self.from),
            filename_time(self.to)
        )
    }

    /// The NDJSON body: each item is one or more whole lines, each ending in `\n`.
    pub fn into_stream(self) -> ExportStream {
        self.stream
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn filename_time(t: OffsetDateTime) -> String {
    rfc3339(t).replace(':', "-")
}

/// A duration as an operator would read it: `90 days`, `1 hour`, `30 minutes`, `45 seconds`.
fn human(d: Duration) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match d.as_secs() {
        0 => format!("{} ms", d.as_millis()),
        s if s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s % 3_600 == 0 => plural(s / 3_600, "hour"),
        s if s % 60 == 0 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

fn parse_time(field: &str, value: Option<&str>) -> ServiceResult<OffsetDateTime> {
    let value = value.ok_or_else(|| {
        ServiceError::invalid(format!(
            "{field}: required (an RFC 3339 time such as 2026-05-20T00:00:00Z)"
        ))
    })?;
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .map_err(|_| {
            ServiceError::invalid(format!(
                "{field}: `{value}` is not an RFC 3339 time (such as 2026-05-20T00:00:00Z)"
            ))
        })
}

/// The validated query, before the `after` event is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ValidParams {
    from: OffsetDateTime,
    to: OffsetDateTime,
    category: Option<Category>,
    limit: Option<u64>,
    after: Option<EventId>,
}

impl ExportParams {
    fn validate(&self, max_window: Duration) -> ServiceResult<ValidParams> {
        let from = parse_time("from", self.from.as_deref())?;
        let to = parse_time("to", self.to.as_deref())?;
        if to <= from {
            return Err(ServiceError::invalid("to: must be after from"));
        }
        let window = time::Duration::try_from(max_window).unwrap_or(time::Duration::MAX);
        if to - from > window {
            return Err(ServiceError::invalid(format!(
                "to: the export window (to - from) is at most {} (COUNTERSIGN_EXPORT_MAX_WINDOW); \
                 split the export into several windows",
                human(max_window)
            )));
        }
        let category = self
            .category
            .as_deref()
            .map(str::parse::<Category>)
            .transpose()?;
        let limit = match self.limit.as_deref() {
            None => None,
            Some(raw) => match raw.parse::<u64>() {
                Ok(n) if (1..=MAX_EXPORT_LIMIT).contains(&n) => Some(n),
                _ => {
                    return Err(ServiceError::invalid(format!(
                        "limit: must be an integer between 1 and {MAX_EXPORT_LIMIT}"
                    )))
                }
            },
        };
        let after = self
            .after
            .as_deref()
            .map(|a| parse_id::<EventId>("after", a))
            .transpose()?;
        Ok(ValidParams {
            from,
            to,
            category,
            limit,
            after,
        })
    }
}

impl Service {
    /// `GET /api/v1/audit/export`: validate, open the export and fetch its first chunk. The
    /// `audit.exported` event is written when the returned stream ends or is dropped.
    pub async fn export_audit(
        &self,
        caller: &Caller,
        params: &ExportParams,
    ) -> ServiceResult<AuditExport> {
        self.require(caller, Permission::AuditExport, Resource::new("audit", "*"))
            .await?;
        let p = params.validate(self.config.export_max_window)?;
        let after = match p.after {
            None => None,
            Some(id) => {
                let mut tx = self.begin().await?;
                let event = tx.get_audit_event(id).await?;
                tx.commit().await?;
                let event = event.ok_or_else(|| {
                    ServiceError::invalid(format!("after: no audit event `{id}` is stored"))
                })?;
                Some((clock::truncate_to_micros(event.ts), id))
            }
        };
        let filter = ExportFilter {
            from: p.from,
            to: p.to,
            category: p.category,
            after,
            limit: p.limit,
        };
        let mut rows = self.store.export_audit(filter, EXPORT_CHUNK_ROWS);
        // Fetch the first chunk now: a database that cannot be reached answers 503 before any
        // header is sent, and an export that never started is not audited as one.
        let first = match rows.next().await {
            None => None,
            Some(chunk) => Some(chunk?),
        };
        let audit = ExportAudit {
            service: self.clone(),
            actor: caller.actor(),
            request_id: caller.request_id().map(str::to_owned),
            export_id: caller.request_id().map(str::to_owned).unwrap_or_else(|| {
                format!(
                    "exp_{}",
                    EventId::new().ulid().to_string().to_ascii_lowercase()
                )
            }),
            details: json!({
                "from": rfc3339(p.from),
                "to": rfc3339(p.to),
                "category": p.category.map(Category::as_str),
            }),
            limit: p.limit,
            after: p.after,
        };
        tracing::info!(
            request.id = audit.request_id.as_deref().unwrap_or("-"),
            principal.id = %caller.id(),
            export.from = %rfc3339(p.from),
            export.to = %rfc3339(p.to),
            "audit export started"
        );
        Ok(AuditExport {
            from: p.from,
            to: p.to,
            stream: ExportStream {
                rows,
                first,
                state: State::Streaming,
                audit: Some(audit),
                sent: 0,
            },
        })
    }
}

/// How an export ended, for its `audit.exported` event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ending {
    /// Every row was handed over.
    Complete,
    /// The consumer dropped the stream before its end.
    Abandoned,
    /// The store failed; the contract code of the error.
    StoreFailed(&'static str),
}

/// What the `audit.exported` event needs, captured when the export starts.
struct ExportAudit {
    service: Service,
    actor: Actor,
    request_id: Option<String>,
    export_id: String,
    /// `{from, to, category}`; `rows` and `complete` are added at the end.
    details: Value,
    limit: Option<u64>,
    after: Option<EventId>,
}

impl ExportAudit {
    fn event(&self, rows: u64, ending: &Ending) -> AuditEvent {
        let mut details = self.details.clone();
        details["rows"] = json!(rows);
        details["complete"] = json!(*ending == Ending::Complete);
        if let Some(limit) = self.limit {
            details["limit"] = json!(limit);
        }
        if let Some(after) = self.after {
            details["after"] = json!(after);
        }
        let result = match ending {
            Ending::Complete => AuditResult::Ok,
            Ending::Abandoned => AuditResult::Error {
                kind: "client_disconnected".to_owned(),
                message: format!("the client went away after {rows} rows"),
            },
            Ending::StoreFailed(code) => AuditResult::Error {
                kind: (*code).to_owned(),
                message: format!("the export stopped after {rows} rows: the database failed"),
            },
        };
        AuditEvent::new(
            Category::Audit,
            actions::AUDIT_EXPORTED,
            self.actor.clone(),
            Resource::new("audit_export", &self.export_id),
        )
        .allowed_by(Permission::AuditExport.as_str())
        .request_id(self.request_id.as_deref())
        .result(result)
        .details(details)
    }

    /// Write the event in its own transaction, logging a failure.
    async fn write(self, rows: u64, ending: Ending) -> ServiceResult<()> {
        let event = self.event(rows, &ending);
        let written = async {
            let tx = self.service.begin().await?;
            self.service
                .commit_with(tx, std::slice::from_ref(&event))
                .await
        }
        .await;
        let request_id = self.request_id.as_deref().unwrap_or("-");
        match &written {
            Ok(()) => tracing::info!(
                request.id = request_id,
                export.rows = rows,
                export.complete = ending == Ending::Complete,
                "audit export ended"
            ),
            Err(e) => tracing::error!(
                request.id = request_id,
                export.rows = rows,
                error = %e,
                audit.action = actions::AUDIT_EXPORTED,
                "could not audit an export"
            ),
        }
        written
    }

    /// Write the event on a task of its own: it outlives whoever dropped the stream.
    fn spawn(
        self,
        rows: u64,
        ending: Ending,
    ) -> Option<tokio::task::JoinHandle<ServiceResult<()>>> {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => Some(handle.spawn(self.write(rows, ending))),
            Err(_) => {
                tracing::error!(
                    request.id = self.request_id.as_deref().unwrap_or("-"),
                    export.rows = rows,
                    audit.action = actions::AUDIT_EXPORTED,
                    "could not audit an export: no async runtime to write on"
                );
                None
            }
        }
    }
}

/// Where the stream is.
enum State {
    /// Handing out chunks.
    Streaming,
    /// The rows ran out; waiting for the `audit.exported` write before ending.
    Finishing(tokio::task::JoinHandle<ServiceResult<()>>),
    /// Ended.
    Done,
}

/// The NDJSON body of an export; see the [module docs](self).
pub struct ExportStream {
    rows: BoxStream<'static, StoreResult<Vec<ExportRow>>>,
    /// The chunk fetched before the stream was handed out.
    first: Option<Vec<ExportRow>>,
    state: State,
    /// The pending self-audit; taken exactly once, by whichever ending comes first.
    audit: Option<ExportAudit>,
    /// Rows handed to the consumer so far.
    sent: u64,
}

impl std::fmt::Debug for ExportStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportStream")
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl ExportStream {
    /// Rows handed to the consumer so far.
    pub fn rows_sent(&self) -> u64 {
        self.sent
    }
}

/// The NDJSON lines of `chunk`: each event's stored text as it is, with `"leaf_index": n`
/// added as its last member once the event is sequenced (the leaf itself excludes it).
fn lines(chunk: &[ExportRow]) -> String {
    let len = chunk.iter().map(|r| r.line.len() + 24).sum();
    let mut out = String::with_capacity(len);
    for row in chunk {
        match (row.leaf_index, row.line.trim_end().strip_suffix('}')) {
            (Some(index), Some(open)) => {
                out.push_str(open);
                let _ = write!(out, ",\"{LEAF_INDEX_FIELD}\":{index}}}");
            }
            _ => out.push_str(&row.line),
        }
        out.push('\n');
    }
    out
}

impl Stream for ExportStream {
    type Item = ServiceResult<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Finishing(write) => {
                    let written = ready!(Pin::new(write).poll(cx));
                    this.state = State::Done;
                    return Poll::Ready(match written {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(Err(e)),
                        Err(join) => Some(Err(ServiceError::Internal(Box::new(join)))),
                    });
                }
                State::Streaming => {}
            }
            let next = match this.first.take() {
                Some(chunk) => Some(Ok(chunk)),
                None => ready!(this.rows.poll_next_unpin(cx)),
            };
            match next {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    this.sent += chunk.len() as u64;
                    return Poll::Ready(Some(Ok(lines(&chunk))));
                }
                Some(Err(e)) => {
                    let e = ServiceError::from(e);
                    tracing::error!(
                        error = %e,
                        error.source = ?std::error::Error::source(&e),
                        export.rows = this.sent,
                        "audit export failed mid-stream; ending the body with an error"
                    );
                    this.state = State::Done;
                    if let Some(audit) = this.audit.take() {
                        audit.spawn(this.sent, Ending::StoreFailed(e.code()));
                    }
                    return Poll::Ready(Some(Err(e)));
                }
                None => match this.audit.take() {
                    Some(audit) => match audit.spawn(this.sent, Ending::Complete) {
                        Some(write) => this.state = State::Finishing(write),
                        None => this.state = State::Done,
                    },
                    None => this.state = State::Done,
                },
            }
        }
    }
}

impl Drop for ExportStream {
    fn drop(&mut self) {
        if let Some(audit) = self.audit.take() {
            tracing::warn!(
                request.id = audit.request_id.as_deref().unwrap_or("-"),
                export.rows = self.sent,
                "audit export abandoned before its end (the client went away); auditing a partial export"
            );
            audit.spawn(self.sent, Ending::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(from: &str, to: &str) -> ExportParams {
        ExportParams {
            from: Some(from.into()),
            to: Some(to.into()),
            ..ExportParams::default()
        }
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn validation_names_the_field() {
        let bad = |p: ExportParams| match p.validate(90 * DAY) {
            Err(ServiceError::Invalid(m)) => m,
            other => panic!("expected invalid, got {other:?}"),
        };
        assert!(bad(ExportParams::default()).starts_with("from: required"));
        assert!(bad(ExportParams {
            to: None,
            ..params("2026-05-20T00:00:00Z", "x")
        })
        .starts_with("to: required"));
        assert!(bad(params("yesterday", "2026-05-20T00:00:00Z")).starts_with("from:"));
        assert!(bad(params("2026-05-20T00:00:00Z", "2026-05-20T00:00:00Z"))
            .contains("must be after from"));
        assert!(bad(params("2026-01-01T00:00:00Z", "2026-05-20T00:00:00Z")).contains("90 days"));
        let mut p = params("2026-05-20T00:00:00Z", "2026-05-21T00:00:00Z");
        p.category = Some("misc".into());
        assert!(bad(p.clone()).starts_with("category:"));
        p.category = Some("auth".into());
        for l in ["0", "10000001", "-1", "ten"] {
            p.limit = Some(l.into());
            assert!(bad(p.clone()).starts_with("limit:"), "{l}");
        }
        p.limit = Some("10000000".into());
        p.after = Some("apr_01hx0000000000000000000000".into());
        assert!(bad(p.clone()).starts_with("after:"));
        p.after = None;
        let ok = p.validate(90 * DAY).unwrap();
        assert_eq!(ok.category, Some(Category::Auth));
        assert_eq!(ok.limit, Some(MAX_EXPORT_LIMIT));
    }

    #[test]
    fn window_edges_and_offsets() {
        // Exactly the maximum is allowed; offsets are normalised to UTC.
        let p = params("2026-05-20T02:00:00+02:00", "2026-05-21T00:00:00Z");
        let ok = p.validate(DAY).unwrap();
        assert_eq!(ok.from.offset(), time::UtcOffset::UTC);
        assert!(params("2026-05-20T00:00:00Z", "2026-05-21T00:00:01Z")
            .validate(DAY)
            .is_err());
        assert_eq!(human(Duration::from_secs(3 * 3600)), "3 hours");
        assert_eq!(human(Duration::from_secs(90)), "90 seconds");
        assert_eq!(human(DAY), "1 day");
    }

    #[test]
    fn filenames_are_safe() {
        let t = time::macros::datetime!(2026-05-20 00:00:00 UTC);
        assert_eq!(filename_time(t), "2026-05-20T00-00-00Z");
    }
}
