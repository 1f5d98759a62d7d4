//! Flood control for anonymous refusals, per client address.
//!
//! Every refused unauthenticated request is audited, but an address that keeps sending bad
//! keys must not grow the trail without bound. Per address and per window (a minute unless
//! configured otherwise, starting at the address's first refusal):
//!
//! - the first [`HttpConfig::anon_deny_audit_per_min`] refusals are audited one by one;
//! - further refusals are only counted, and written as **one** `auth.denied` summary event
//!   with `details.count` when the window has rolled — on the next refusal from any address,
//!   or at the latest by [`DenyFlood::flush_due`];
//! - past [`HttpConfig::anon_rate_limit_per_min`] refusals the answer is 429 `rate_limited`
//!   with `Retry-After` (those are counted in the summary too).
//!
//! A request without a known peer address (a router driven without `ConnectInfo`) counts as
//! one unknown address.
//!
//! [`HttpConfig::anon_deny_audit_per_min`]: crate::HttpConfig::anon_deny_audit_per_min
//! [`HttpConfig::anon_rate_limit_per_min`]: crate::HttpConfig::anon_rate_limit_per_min

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use countersign_service::auth::DeniedSummary;
use countersign_service::Service;
use time::OffsetDateTime;

/// What to do with one anonymous refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Audit it as its own `auth.denied` event and answer 401.
    Audit,
    /// Count it into the window's summary and answer 401.
    Count,
    /// Count it and answer 429 with `Retry-After` (whole seconds).
    Limit { retry_after: u64 },
}

#[derive(Debug)]
struct Window {
    started: Instant,
    first: OffsetDateTime,
    last: OffsetDateTime,
    refusals: u64,
    counted: u64,
    limited: u64,
}

/// The per-address windows.
#[derive(Debug)]
pub struct DenyFlood {
    audit_per_window: u64,
    limit_per_window: u64,
    window: Duration,
    windows: Mutex<HashMap<String, Window>>,
}

impl DenyFlood {
    pub fn new(audit_per_window: u32, limit_per_window: u32, window: Duration) -> Self {
        Self {
            audit_per_window: u64::from(audit_per_window),
            limit_per_window: u64::from(limit_per_window),
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Record one refusal from `client` and decide how to answer it. Answers the summaries of
    /// every window (of any address) that has rolled, to be written now.
    pub fn refuse(&self, client: &str) -> (Verdict, Vec<DeniedSummary>) {
        let now = Instant::now();
        let wall = countersign_domain::clock::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let due = self.take_rolled(&mut windows, now);
        let w = windows.entry(client.to_owned()).or_insert_with(|| Window {
            started: now,
            first: wall,
            last: wall,
            refusals: 0,
            counted: 0,
            limited: 0,
        });
        w.refusals += 1;
        w.last = wall;
        let verdict = if w.refusals <= self.audit_per_window {
            Verdict::Audit
        } else if w.refusals <= self.limit_per_window {
            w.counted += 1;
            Verdict::Count
        } else {
            w.counted += 1;
            w.limited += 1;
            let left = self.window.saturating_sub(now - w.started);
            Verdict::Limit {
                retry_after: left.as_secs_f64().ceil().max(1.0) as u64,
            }
        };
        (verdict, due)
    }

    /// Take the summaries of every rolled window (and forget those windows).
    pub fn flush_due(&self) -> Vec<DeniedSummary> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        self.take_rolled(&mut windows, Instant::now())
    }

    fn take_rolled(
        &self,
        windows: &mut HashMap<String, Window>,
        now: Instant,
    ) -> Vec<DeniedSummary> {
        let mut due = Vec::new();
        windows.retain(|client, w| {
            if now.duration_since(w.started) < self.window {
                return true;
            }
            if w.counted > 0 {
                due.push(DeniedSummary {
                    client: client.clone(),
                    count: w.counted,
                    rate_limited: w.limited,
                    first: w.first,
                    last: w.last,
                });
            }
            false
        });
        due
    }
}

/// Write `summaries` as `auth.denied` summary events.
pub async fn write(service: &Service, summaries: Vec<DeniedSummary>) {
    for s in summaries {
        service.audit_denied_summary(&s).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_limits_past_the_rate() {
        let flood = DenyFlood::new(2, 4, Duration::from_secs(3600));
        let verdicts: Vec<Verdict> = (0..6).map(|_| flood.refuse("10.0.0.1").0).collect();
        assert_eq!(
            &verdicts[..4],
            [
                Verdict::Audit,
                Verdict::Audit,
                Verdict::Count,
                Verdict::Count
            ]
        );
        for v in &verdicts[4..] {
            assert!(
                matches!(v, Verdict::Limit { retry_after } if *retry_after >= 1),
                "{v:?}"
            );
        }
        // Another address has its own window.
        assert_eq!(flood.refuse("10.0.0.2").0, Verdict::Audit);
        // Nothing has rolled yet.
        assert!(flood.flush_due().is_empty());
    }

    #[test]
    fn a_rolled_window_is_summarised_once() {
        let flood = DenyFlood::new(1, 100, Duration::ZERO);
        // A zero-length window rolls at once: each refusal starts a new one.
        let (v, due) = flood.refuse("a");
        assert_eq!(v, Verdict::Audit);
        assert!(due.is_empty());
        let flood = DenyFlood::new(1, 100, Duration::from_millis(50));
        for _ in 0..4 {
            flood.refuse("a");
        }
        std::thread::sleep(Duration::from_millis(60));
        let due = flood.flush_due();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].client.as_str(), due[0].count), ("a", 3));
        assert!(flood.flush_due().is_empty(), "flushed once");
    }
}
