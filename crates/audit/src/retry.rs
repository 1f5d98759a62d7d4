//! [`RetryPolicy`]: bounded attempts with exponential backoff and jitter.
//!
//! The delay before retry `n` (1-based) is `initial_backoff * 2^(n-1)`, capped at
//! `max_backoff`, then jittered to a uniformly random value in `[delay/2, delay]` ("equal
//! jitter"), so many clients recovering from the same outage do not retry in lock-step.
//! The randomness comes from the standard library's per-process random hash keys: good
//! enough to spread retries, and no extra dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::SinkError;

/// How often and how patiently to retry a failed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included; `1` means no retry. Values below 1 count as 1.
    pub max_attempts: u32,
    /// The delay before the first retry (before jitter).
    pub initial_backoff: Duration,
    /// The longest delay between two attempts (before jitter).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, 100 ms then 200 ms (jittered), never more than 2 s apart.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub const fn none() -> Self {
        Self {
            max_attempts: 1,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }

    /// `attempts` attempts with the given initial and maximum backoff.
    pub const fn new(attempts: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self {
            max_attempts: attempts,
            initial_backoff,
            max_backoff,
        }
    }

    /// The attempt count, at least 1.
    pub fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }

    /// The un-jittered delay before retry number `retry` (1 = the first retry).
    pub fn base_delay(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff)
    }

    /// The jittered delay before retry number `retry`: uniform in `[base/2, base]`.
    pub fn delay(&self, retry: u32) -> Duration {
        jitter(self.base_delay(retry))
    }

    /// Run `op` until it succeeds, fails with a non-retryable error, or the attempts run out
    /// (then the last error, wrapped in [`SinkError::RetriesExhausted`] when more than one
    /// attempt was made).
    pub(crate) async fn run<F, Fut>(&self, mut op: F) -> Result<(), SinkError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), SinkError>>,
    {
        let attempts = self.attempts();
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(()) => return Ok(()),
                Err(e) if !e.is_retryable() => return Err(e),
                Err(e) if attempt >= attempts => {
                    return Err(if attempts > 1 {
                        SinkError::RetriesExhausted {
                            attempts,
                            last: Box::new(e),
                        }
                    } else {
                        e
                    });
                }
                Err(e) => {
                    tracing::debug!(attempt, error = %e, "audit write failed; retrying");
                    tokio::time::sleep(self.delay(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// A uniformly random duration in `[d/2, d]`.
pub(crate) fn jitter(d: Duration) -> Duration {
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if nanos < 2 {
        return d;
    }
    let half = nanos / 2;
    let span = nanos - half;
    Duration::from_nanos(half + random_u64() % (span + 1))
}

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::new(10, Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(p.base_delay(1), Duration::from_millis(100));
        assert_eq!(p.base_delay(2), Duration::from_millis(200));
        assert_eq!(p.base_delay(3), Duration::from_millis(400));
        assert_eq!(p.base_delay(5), Duration::from_secs(1));
        assert_eq!(p.base_delay(200), Duration::from_secs(1));
        for n in 1..8 {
            let d = p.delay(n);
            assert!(d <= p.base_delay(n) && d >= p.base_delay(n) / 2, "{d:?}");
        }
        assert_eq!(RetryPolicy::none().attempts(), 1);
        assert_eq!(
            RetryPolicy::new(0, Duration::ZERO, Duration::ZERO).attempts(),
            1
        );
    }

    #[tokio::test]
    async fn run_retries_only_retryable_errors() {
        let p = RetryPolicy::new(3, Duration::from_millis(1), Duration::from_millis(2));
        let calls = AtomicU32::new(0);
        let r = p
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(SinkError::Unavailable("down".into()))
            })
            .await;
        assert!(matches!(
            r,
            Err(SinkError::RetriesExhausted { attempts: 3, .. })
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let r = p
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(SinkError::Rejected {
                    status: Some(400),
                    message: "no".into(),
                })
            })
            .await;
        assert!(matches!(r, Err(SinkError::Rejected { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        calls.store(0, Ordering::SeqCst);
        let r = p
            .run(|| async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(SinkError::Unavailable("blip".into()))
                } else {
                    Ok(())
                }
            })
            .await;
        assert!(r.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
