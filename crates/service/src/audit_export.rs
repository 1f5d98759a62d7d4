//! The streaming audit export: `GET /api/v1/audit/export?from=&to=[&category=&limit=&after=]`
//! (a time window), or `GET /api/v1/audit/export?first_leaf=&last_leaf=` (a range of the
//! transparency log's leaves).
//!
//! [`Service::export_audit`] checks `audit.export`, validates the query, fetches the first
//! chunk (so an unreachable database is still a clean 503), and answers an [`AuditExport`]: a
//! stream of NDJSON text chunks, one per chunk of rows read from the store's server-side
//! cursor. Only one chunk is in memory at a time, however many rows the export covers.
//!
//! - **A time window**: `from` and `to` required RFC 3339 times, `to` after `from`, a window
//!   of at most [`ServiceConfig::export_max_window`](crate::ServiceConfig), a known category,
//!   `limit` 1..=[`MAX_EXPORT_LIMIT`], `after` an existing event id. Every event in the
//!   window, in `(ts, event_id)` order. An event ingested late with its own older `ts` is
//!   sequenced after events newer than it, so a window's lines are not always one contiguous
//!   run of leaves.
//! - **A leaf range**: `first_leaf` and `last_leaf` (inclusive) required together, alone (no
//!   time, category, limit or after: the range holds every leaf in it), at most
//!   [`ServiceConfig::export_max_leaves`](crate::ServiceConfig) leaves; it also needs
//!   `log.read`. The leaves of the range that exist, in leaf order, each line with its
//!   `leaf_index`: exactly what `countersign audit verify export` checks against a checkpoint.
//!   Leaves past the log's end are not there yet and are not sent.
//!
//! Every export is itself audited with one `audit.exported` event (category `audit`, resource
//! `{type: "audit_export", id: <request id>}`, details `{from, to, category, rows, complete}`,
//! or `{first_leaf, last_leaf, rows, complete}` for a leaf range), written in its own
//! transaction once the stream ends:
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
use countersign_store::{ExportFilter, ExportRange, ExportRow, StoreResult};
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
    pub first_leaf: Option<String>,
    pub last_leaf: Option<String>,
}

/// A validated export, ready to stream.
pub struct AuditExport {
    range: ExportRange,
    stream: ExportStream,
}

impl std::fmt::Debug for AuditExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditExport")
            .field("range", &self.range)
            .field("sent", &self.stream.sent)
            .finish_non_exhaustive()
    }
}

impl AuditExport {
    /// `countersign-audit-<from>_to_<to>.ndjson`, the times in UTC with `:` replaced by `-`
    /// (`2026-05-20T00-00-00Z`) so the name is safe on every file system; for a leaf range
    /// `countersign-audit-leaves-<first>-<last>.ndjson`.
    pub fn filename(&self) -> String {
        match self.range {
            ExportRange::Window { from, to } => format!(
                "countersign-audit-{}_to_{}.ndjson",
                filename_time(from),
                filename_time(to)
            ),
            ExportRange::Leaves { first, last } => {
                format!("countersign-audit-leaves-{first}-{last}.ndjson")
            }
        }
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

/// A range as the log names it: `2026-05-20T00:00:00Z..2026-05-21T00:00:00Z`, `leaves 0..=99`.
fn describe(range: &ExportRange) -> String {
    match range {
        ExportRange::Window { from, to } => format!("{}..{}", rfc3339(*from), rfc3339(*to)),
        ExportRange::Leaves { first, last } => format!("leaves {first}..={last}"),
    }
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

/// A leaf index of a leaf-range export (a bigint in the store).
fn parse_leaf(field: &str, value: Option<&str>) -> ServiceResult<u64> {
    let value = value.ok_or_else(|| {
        ServiceError::invalid(format!(
            "{field}: required with {} (a leaf index; the range includes both ends)",
            if field == "first_leaf" {
                "last_leaf"
            } else {
                "first_leaf"
            }
        ))
    })?;
    match value.parse::<u64>() {
        Ok(n) if i64::try_from(n).is_ok() => Ok(n),
        _ => Err(ServiceError::invalid(format!(
            "{field}: `{value}` is not a leaf index (an integer from 0)"
        ))),
    }
}

/// The validated query, before the `after` event is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ValidParams {
    range: ExportRange,
    category: Option<Category>,
    limit: Option<u64>,
    after: Option<EventId>,
}

impl ExportParams {
    fn validate(&self, max_window: Duration, max_leaves: u64) -> ServiceResult<ValidParams> {
        if self.first_leaf.is_some() || self.last_leaf.is_some() {
            return self.validate_leaves(max_leaves);
        }
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
            range: ExportRange::Window { from, to },
            category,
            limit,
            after,
        })
    }

    /// A leaf range: both ends, nothing else, at most `max_leaves` leaves.
    fn validate_leaves(&self, max_leaves: u64) -> ServiceResult<ValidParams> {
        for (field, given) in [
            ("from", &self.from),
            ("to", &self.to),
            ("category", &self.category),
            ("limit", &self.limit),
            ("after", &self.after),
        ] {
            if given.is_some() {
                return Err(ServiceError::invalid(format!(
                    "{field}: not with first_leaf and last_leaf: an export covers either a time \
                     window (from, to) or a range of leaves, and a range of leaves holds every \
                     leaf in it"
                )));
            }
        }
        let first = parse_leaf("first_leaf", self.first_leaf.as_deref())?;
        let last = parse_leaf("last_leaf", self.last_leaf.as_deref())?;
        if last < first {
            return Err(ServiceError::invalid(
                "last_leaf: must be at least first_leaf (the range includes both ends)",
            ));
        }
        if last - first >= max_leaves {
            return Err(ServiceError::invalid(format!(
                "last_leaf: a leaf range covers at most {max_leaves} leaves \
                 (COUNTERSIGN_EXPORT_MAX_LEAVES); split the export into several ranges"
            )));
        }
        Ok(ValidParams {
            range: ExportRange::Leaves { first, last },
            category: None,
            limit: None,
            after: None,
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
        let p = params.validate(self.config.export_max_window, self.config.export_max_leaves)?;
        if let ExportRange::Leaves { .. } = p.range {
            // A range of the log's leaves is a read of the log too.
            self.require(caller, Permission::LogRead, Resource::new("log", "leaves"))
                .await?;
        }
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
            range: p.range,
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
            details: match p.range {
                ExportRange::Window { from, to } => json!({
                    "from": rfc3339(from),
                    "to": rfc3339(to),
                    "category": p.category.map(Category::as_str),
                }),
                ExportRange::Leaves { first, last } => json!({
                    "first_leaf": first,
                    "last_leaf": last,
                }),
            },
            limit: p.limit,
            after: p.after,
        };
        tracing::info!(
            request.id = audit.request_id.as_deref().unwrap_or("-"),
            principal.id = %caller.id(),
            export.range = %describe(&p.range),
            "audit export started"
        );
        Ok(AuditExport {
            range: p.range,
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
    /// `{from, to, category}` or `{first_leaf, last_leaf}`; `rows` and `complete` are added
    /// at the end.
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
    const MAX_LEAVES: u64 = 1000;

    fn leaves(first: Option<&str>, last: Option<&str>) -> ExportParams {
        ExportParams {
            first_leaf: first.map(str::to_owned),
            last_leaf: last.map(str::to_owned),
            ..ExportParams::default()
        }
    }

    #[test]
    fn a_leaf_range_stands_alone_and_is_capped() {
        let bad = |p: ExportParams| match p.validate(90 * DAY, MAX_LEAVES) {
            Err(ServiceError::Invalid(m)) => m,
            other => panic!("expected invalid, got {other:?}"),
        };
        let ok = leaves(Some("0"), Some("999"))
            .validate(90 * DAY, MAX_LEAVES)
            .unwrap();
        assert_eq!(
            ok.range,
            ExportRange::Leaves {
                first: 0,
                last: 999
            }
        );
        let one = leaves(Some("7"), Some("7"))
            .validate(90 * DAY, MAX_LEAVES)
            .unwrap();
        assert_eq!(one.range, ExportRange::Leaves { first: 7, last: 7 });
        assert!(bad(leaves(Some("0"), Some("1000"))).contains("at most 1000 leaves"));
        assert!(bad(leaves(Some("5"), Some("4"))).starts_with("last_leaf: must be at least"));
        assert!(bad(leaves(Some("5"), None)).starts_with("last_leaf: required"));
        assert!(bad(leaves(None, Some("5"))).starts_with("first_leaf: required"));
        for n in ["-1", "x", "1.5", "9223372036854775808"] {
            assert!(
                bad(leaves(Some(n), Some("5"))).starts_with("first_leaf:"),
                "{n}"
            );
        }
        let mut mixed = leaves(Some("0"), Some("5"));
        mixed.from = Some("2026-05-20T00:00:00Z".into());
        assert!(bad(mixed.clone()).starts_with("from: not with first_leaf"));
        mixed.from = None;
        mixed.limit = Some("3".into());
        assert!(bad(mixed.clone()).starts_with("limit: not with first_leaf"));
        mixed.limit = None;
        mixed.category = Some("auth".into());
        assert!(bad(mixed).starts_with("category: not with first_leaf"));
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |p: ExportParams| match p.validate(90 * DAY, MAX_LEAVES) {
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
        let ok = p.validate(90 * DAY, MAX_LEAVES).unwrap();
        assert_eq!(ok.category, Some(Category::Auth));
        assert_eq!(ok.limit, Some(MAX_EXPORT_LIMIT));
    }

    #[test]
    fn window_edges_and_offsets() {
        // Exactly the maximum is allowed; offsets are normalised to UTC.
        let p = params("2026-05-20T02:00:00+02:00", "2026-05-21T00:00:00Z");
        let ok = p.validate(DAY, MAX_LEAVES).unwrap();
        let ExportRange::Window { from, .. } = ok.range else {
            panic!("a window: {ok:?}")
        };
        assert_eq!(from.offset(), time::UtcOffset::UTC);
        assert!(params("2026-05-20T00:00:00Z", "2026-05-21T00:00:01Z")
            .validate(DAY, MAX_LEAVES)
            .is_err());
        assert_eq!(human(Duration::from_secs(3 * 3600)), "3 hours");
        assert_eq!(human(Duration::from_secs(90)), "90 seconds");
        assert_eq!(human(DAY), "1 day");
    }

    #[test]
    fn filenames_are_safe() {
        let t = time::macros::datetime!(2026-05-20 00:00:00 UTC);
        assert_eq!(filename_time(t), "2026-05-20T00-00-00Z");
        assert_eq!(
            describe(&ExportRange::Leaves { first: 3, last: 9 }),
            "leaves 3..=9"
        );
    }
}
