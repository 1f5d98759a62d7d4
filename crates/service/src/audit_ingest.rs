//! Batch ingestion of events from embedding services: `POST /api/v1/audit/events`.
//!
//! A batch is NDJSON (one `countersign.audit.v1` event per line; blank lines are ignored) or
//! a JSON array of events. Every event must parse as an [`AuditEvent`] (unknown fields
//! refused) and pass [`AuditEvent::validate`]. The batch is all or nothing: the first bad
//! event answers 400 `invalid_request` naming its line (NDJSON, 1-based, counting blank
//! lines, so it matches an editor) or its index (JSON array, 0-based), and nothing is written.
//!
//! A batch holds at most [`MAX_INGEST_EVENTS`] events; a larger one is refused with 400
//! `invalid_request` (not 413: the body may be small, and the fix is to split the batch, which
//! the message says). The byte limit is the HTTP layer's.
//!
//! The server overwrites `ingested_by` with the caller's principal id and truncates `ts` to
//! the microsecond (the store's precision, so the stored body and its order key agree) before
//! it validates the event, so the size rule holds for the event as stored: its RFC 8785
//! canonical JSON (its transparency-log leaf) is at most
//! [`MAX_EVENT_BYTES`](countersign_domain::audit::MAX_EVENT_BYTES);
//! everything else — actor, resource, authorization — is kept as sent. All events go to the
//! store in one `append_audit` call in one transaction (multi-row inserts); an `event_id`
//! already stored, or repeated within the batch, is a no-op counted in `duplicates`.

use countersign_domain::{clock, AuditEvent, Permission, Resource};
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::Deserializer;

use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::metrics;
use crate::service::Service;

/// The most events one request may carry.
pub const MAX_INGEST_EVENTS: usize = 1000;

/// How a batch is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestFormat {
    /// `application/x-ndjson`: one event per line.
    Ndjson,
    /// `application/json`: an array of events.
    JsonArray,
}

pub use countersign_api::IngestOutcome;

impl Service {
    /// `POST /api/v1/audit/events`: parse, validate and store a batch, atomically.
    pub async fn ingest_audit(
        &self,
        caller: &Caller,
        format: IngestFormat,
        body: &[u8],
    ) -> ServiceResult<IngestOutcome> {
        self.require(caller, Permission::AuditWrite, Resource::new("audit", "*"))
            .await?;
        let events = parse_batch(format, body, &caller.id().to_string())?;
        if events.is_empty() {
            return Ok(IngestOutcome::default());
        }
        let mut tx = self.begin().await?;
        let appended = match tx.append_audit(&events).await {
            Ok(a) => a,
            Err(e) => {
                metrics::audit_writes(events.len(), false);
                return Err(e.into());
            }
        };
        if let Err(e) = tx.commit().await {
            metrics::audit_writes(events.len(), false);
            return Err(e.into());
        }
        metrics::audit_writes(appended.inserted as usize, true);
        tracing::debug!(
            principal.id = %caller.id(),
            audit.accepted = appended.inserted,
            audit.duplicates = appended.duplicates,
            "audit batch ingested"
        );
        Ok(IngestOutcome {
            accepted: appended.inserted,
            duplicates: appended.duplicates,
        })
    }
}

/// Parse, stamp (see [`stamp`]) and validate a whole batch; the first bad event is a 400
/// naming its place.
pub fn parse_batch(
    format: IngestFormat,
    body: &[u8],
    ingested_by: &str,
) -> ServiceResult<Vec<AuditEvent>> {
    match format {
        IngestFormat::Ndjson => parse_ndjson(body, ingested_by),
        IngestFormat::JsonArray => parse_array(body, ingested_by),
    }
}

/// Set what the server decides on an ingested event, before it is validated (the size
/// limit is the stored event's): `ingested_by`, and `ts` at the store's precision.
fn stamp(event: &mut AuditEvent, ingested_by: &str) {
    event.ingested_by = Some(ingested_by.to_owned());
    event.ts = clock::truncate_to_micros(event.ts);
}

fn too_many(n: usize) -> ServiceError {
    ServiceError::invalid(format!(
        "a batch holds at most {MAX_INGEST_EVENTS} events (this one has {n}); split it"
    ))
}

/// serde_json's message without its trailing ` at line L column C`.
fn bare_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

fn parse_ndjson(body: &[u8], ingested_by: &str) -> ServiceResult<Vec<AuditEvent>> {
    let is_blank = |l: &&[u8]| l.iter().all(u8::is_ascii_whitespace);
    let count = body.split(|b| *b == b'\n').filter(|l| !is_blank(l)).count();
    if count > MAX_INGEST_EVENTS {
        return Err(too_many(count));
    }
    let mut events = Vec::with_capacity(count);
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        if is_blank(&line) {
            continue;
        }
        let n = i + 1;
        let mut event: AuditEvent = serde_json::from_slice(line).map_err(|e| {
            ServiceError::invalid(format!(
                "line {n}, column {}: {}",
                e.column(),
                bare_message(&e)
            ))
        })?;
        stamp(&mut event, ingested_by);
        event
            .validate()
            .map_err(|e| ServiceError::invalid(format!("line {n}: {e}")))?;
        events.push(event);
    }
    Ok(events)
}

/// Deserializes a JSON array of events, remembering the index of the element that failed
/// and stopping after [`MAX_INGEST_EVENTS`] + 1 elements.
struct Batch<'a> {
    failed_at: &'a mut Option<usize>,
}

impl<'de> DeserializeSeed<'de> for Batch<'_> {
    type Value = Vec<AuditEvent>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Batch<'_> {
    type Value = Vec<AuditEvent>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of countersign.audit.v1 events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut events = Vec::new();
        loop {
            if events.len() == MAX_INGEST_EVENTS {
                // One more element is one too many; no need to parse the rest.
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(serde::de::Error::custom(too_many_marker()));
                }
                return Ok(events);
            }
            match seq.next_element::<AuditEvent>() {
                Ok(Some(e)) => events.push(e),
                Ok(None) => return Ok(events),
                Err(e) => {
                    *self.failed_at = Some(events.len());
                    return Err(e);
                }
            }
        }
    }
}

fn too_many_marker() -> String {
    format!("more than {MAX_INGEST_EVENTS} events")
}

fn parse_array(body: &[u8], ingested_by: &str) -> ServiceResult<Vec<AuditEvent>> {
    let mut failed_at = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Batch {
        failed_at: &mut failed_at,
    }
    .deserialize(&mut de)
    .and_then(|events| de.end().map(|()| events));
    let mut events = parsed.map_err(|e| {
        let message = bare_message(&e);
        match failed_at {
            Some(i) => ServiceError::invalid(format!(
                "event at index {i} (line {}, column {}): {message}",
                e.line(),
                e.column()
            )),
            None if message == too_many_marker() => ServiceError::invalid(format!(
                "a batch holds at most {MAX_INGEST_EVENTS} events; split it"
            )),
            None => ServiceError::invalid(format!(
                "invalid JSON array (line {}, column {}): {message}",
                e.line(),
                e.column()
            )),
        }
    })?;
    for (i, event) in events.iter_mut().enumerate() {
        stamp(event, ingested_by);
        event
            .validate()
            .map_err(|e| ServiceError::invalid(format!("event at index {i}: {e}")))?;
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_domain::{Actor, Category};

    const BY: &str = "prn_01hx0000000000000000000000";

    fn line(action: &str) -> String {
        AuditEvent::new(
            Category::Access,
            action,
            Actor::anonymous(),
            Resource::new("doc", "d-1"),
        )
        .to_json_line()
    }

    fn message(r: ServiceResult<Vec<AuditEvent>>) -> String {
        match r {
            Err(ServiceError::Invalid(m)) => m,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn ndjson_names_the_line() {
        let ok = format!("{}\n\n{}\r\n", line("doc.read"), line("doc.write"));
        assert_eq!(parse_ndjson(ok.as_bytes(), BY).unwrap().len(), 2);
        let bad = format!("{}\n\n{{\"schema\": 1}}\n", line("doc.read"));
        assert!(message(parse_ndjson(bad.as_bytes(), BY)).starts_with("line 3, column"));
        let invalid = format!("{}\n{}\n", line("doc.read"), line("Doc Read"));
        assert_eq!(
            message(parse_ndjson(invalid.as_bytes(), BY)),
            "line 2: action: must be 1 to 128 characters of [a-z0-9._-]"
        );
        assert!(parse_ndjson(b"", BY).unwrap().is_empty());
    }

    #[test]
    fn arrays_name_the_index() {
        let ok = format!("[{}, {}]", line("doc.read"), line("doc.write"));
        assert_eq!(parse_array(ok.as_bytes(), BY).unwrap().len(), 2);
        let bad = format!("[{}, {{\"surprise\": 1}}]", line("doc.read"));
        let m = message(parse_array(bad.as_bytes(), BY));
        assert!(m.starts_with("event at index 1 (line 1, column"), "{m}");
        let invalid = format!("[{}, {}]", line("doc.read"), line("Doc Read"));
        assert!(
            message(parse_array(invalid.as_bytes(), BY)).starts_with("event at index 1: action")
        );
        assert!(message(parse_array(b"{}", BY)).starts_with("invalid JSON array"));
        assert!(message(parse_array(b"[] trailing", BY)).starts_with("invalid JSON array"));
    }

    #[test]
    fn counts_are_limited() {
        let one = line("doc.read");
        let many = vec![one.as_str(); MAX_INGEST_EVENTS + 1];
        assert!(message(parse_ndjson(many.join("\n").as_bytes(), BY)).contains("at most 1000"));
        assert!(
            message(parse_array(format!("[{}]", many.join(",")).as_bytes(), BY))
                .contains("at most 1000")
        );
        let enough = &many[..MAX_INGEST_EVENTS];
        assert_eq!(
            parse_array(format!("[{}]", enough.join(",")).as_bytes(), BY)
                .unwrap()
                .len(),
            MAX_INGEST_EVENTS
        );
    }

    /// An event of `pad` bytes of details text.
    fn padded(pad: usize) -> AuditEvent {
        AuditEvent::new(
            Category::Access,
            "doc.read",
            Actor::anonymous(),
            Resource::new("doc", "d-1"),
        )
        .details(serde_json::json!({"note": "x".repeat(pad)}))
    }

    #[test]
    fn an_event_over_the_leaf_limit_is_refused_by_its_line_as_stored() {
        use countersign_domain::audit::MAX_EVENT_BYTES;
        // The largest event that fits once `ingested_by` is set, and one byte more.
        // One event, its details varied: a fresh event's timestamp may print shorter.
        let base = padded(0);
        let with = |pad: usize| {
            base.clone()
                .details(serde_json::json!({"note": "x".repeat(pad)}))
        };
        let mut fits = base.clone();
        stamp(&mut fits, BY);
        let pad = MAX_EVENT_BYTES - fits.canonical_len();
        let mut largest = with(pad);
        stamp(&mut largest, BY);
        assert_eq!(largest.canonical_len(), MAX_EVENT_BYTES);
        let body = format!(
            "{}\n{}\n",
            with(pad).to_json_line(),
            with(pad + 1).to_json_line()
        );
        let m = message(parse_ndjson(body.as_bytes(), BY));
        assert!(m.starts_with("line 2: event: "), "{m}");
        assert!(m.contains("65536 bytes"), "{m}");
        // Without the server's `ingested_by` it would have fitted: the limit is the stored
        // event's.
        assert!(with(pad + 1).validate().is_ok());
        let array = format!("[{}]", with(pad + 1).to_json_line());
        assert!(message(parse_array(array.as_bytes(), BY)).starts_with("event at index 0: event: "));
    }
}
