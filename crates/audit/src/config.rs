//! [`RecorderConfig`]: strict or async, queue and batch sizes, from code or the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `COUNTERSIGN_AUDIT_STRICT` | `1`, `true`, `yes` or `on` (any case) → strict; anything else → async | async |
//! | `COUNTERSIGN_AUDIT_QUEUE_CAPACITY` | async queue length, in events | 10000 |
//! | `COUNTERSIGN_AUDIT_BATCH_SIZE` | most events per write | 100 |
//! | `COUNTERSIGN_AUDIT_FLUSH_INTERVAL_MS` | longest wait before a partial batch is written | 1000 |
//! | `COUNTERSIGN_AUDIT_SERVICE` | the service actor's id (`audit.loss` events) | the executable's name |
//!
//! A number that does not parse (or is 0) is ignored with a warning and the default applies:
//! a typo in the environment must not stop a service from starting, and the recorder still
//! audits.

use std::time::Duration;

use countersign_domain::{Actor, ActorKind};

use crate::retry::RetryPolicy;

/// Env var: strict mode.
pub const ENV_STRICT: &str = "COUNTERSIGN_AUDIT_STRICT";
/// Env var: queue capacity.
pub const ENV_QUEUE_CAPACITY: &str = "COUNTERSIGN_AUDIT_QUEUE_CAPACITY";
/// Env var: batch size.
pub const ENV_BATCH_SIZE: &str = "COUNTERSIGN_AUDIT_BATCH_SIZE";
/// Env var: flush interval in milliseconds.
pub const ENV_FLUSH_INTERVAL_MS: &str = "COUNTERSIGN_AUDIT_FLUSH_INTERVAL_MS";
/// Env var: the service actor's id.
pub const ENV_SERVICE: &str = "COUNTERSIGN_AUDIT_SERVICE";

/// How the recorder hands events to its sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `record` writes through the sink and returns its error: the caller can refuse its
    /// action when the event cannot be stored.
    Strict,
    /// `record` enqueues and returns at once; a background task writes batches. Events that
    /// cannot be queued or written are counted and reported by an `audit.loss` event.
    #[default]
    Async,
}

/// The recorder's settings; see the [module docs](self) for the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Strict or async.
    pub mode: Mode,
    /// Async mode: events the queue holds before `record` drops. At least 1.
    pub queue_capacity: usize,
    /// Async mode: most events per sink write. At least 1.
    pub batch_size: usize,
    /// Async mode: longest time an event waits for a batch to fill. Above zero.
    pub flush_interval: Duration,
    /// Retries of a failed sink write (both modes; only retryable errors are retried).
    pub retry: RetryPolicy,
    /// The actor of the events the recorder writes itself (`audit.loss`).
    pub service_actor: Actor,
}

/// Default queue capacity.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// Default batch size.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// Default flush interval.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Async,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            batch_size: DEFAULT_BATCH_SIZE,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            retry: RetryPolicy::default(),
            service_actor: service_actor(&default_service_name()),
        }
    }
}

/// `{kind: "service", id}`.
pub fn service_actor(id: &str) -> Actor {
    Actor {
        kind: ActorKind::Service,
        id: id.to_owned(),
        name: None,
        key_id: None,
    }
}

/// The executable's file name, else `unknown-service`.
fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-service".to_owned())
}

/// Whether a `COUNTERSIGN_AUDIT_STRICT` value means strict: `1`, `true`, `yes` or `on` (any
/// case), the booleans every Countersign setting accepts.
pub fn parse_strict(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

impl RecorderConfig {
    /// Defaults, overridden by the `COUNTERSIGN_AUDIT_*` environment variables.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (for tests, or
    /// another configuration source).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut config = Self {
            mode: if parse_strict(lookup(ENV_STRICT).as_deref()) {
                Mode::Strict
            } else {
                Mode::Async
            },
            ..Self::default()
        };
        let number = |name: &str| -> Option<u64> {
            let raw = lookup(name)?;
            match raw.trim().parse::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    tracing::warn!(
                        variable = name,
                        value = %raw,
                        "ignoring an invalid audit setting (expected a positive integer)"
                    );
                    None
                }
            }
        };
        if let Some(n) = number(ENV_QUEUE_CAPACITY) {
            config.queue_capacity = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = number(ENV_BATCH_SIZE) {
            config.batch_size = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(ms) = number(ENV_FLUSH_INTERVAL_MS) {
            config.flush_interval = Duration::from_millis(ms);
        }
        if let Some(id) = lookup(ENV_SERVICE).map(|s| s.trim().to_owned()) {
            if !id.is_empty() {
                config.service_actor = service_actor(&id);
            }
        }
        config
    }

    /// A builder starting from the defaults.
    pub fn builder() -> RecorderConfigBuilder {
        RecorderConfigBuilder {
            config: Self::default(),
        }
    }

    /// A builder starting from this configuration (e.g. `from_env().into_builder()`).
    pub fn into_builder(self) -> RecorderConfigBuilder {
        RecorderConfigBuilder { config: self }
    }

    /// Whether the mode is strict.
    pub fn is_strict(&self) -> bool {
        self.mode == Mode::Strict
    }

    /// The same configuration with every number in range.
    pub(crate) fn normalized(mut self) -> Self {
        self.queue_capacity = self.queue_capacity.max(1);
        self.batch_size = self.batch_size.max(1);
        if self.flush_interval.is_zero() {
            self.flush_interval = Duration::from_millis(1);
        }
        self
    }
}

/// Builds a [`RecorderConfig`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RecorderConfigBuilder {
    config: RecorderConfig,
}

impl RecorderConfigBuilder {
    /// Strict (`true`) or async (`false`).
    pub fn strict(mut self, strict: bool) -> Self {
        self.config.mode = if strict { Mode::Strict } else { Mode::Async };
        self
    }

    /// The mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.config.mode = mode;
        self
    }

    /// Async queue capacity (at least 1).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.config.queue_capacity = capacity;
        self
    }

    /// Most events per write (at least 1).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.config.batch_size = size;
        self
    }

    /// Longest wait before a partial batch is written (above zero).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.config.flush_interval = interval;
        self
    }

    /// Retries of failed writes.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.config.retry = retry;
        self
    }

    /// The actor of the recorder's own events.
    pub fn service_actor(mut self, actor: Actor) -> Self {
        self.config.service_actor = actor;
        self
    }

    /// The actor of the recorder's own events: `{kind: "service", id}`.
    pub fn service(self, id: &str) -> Self {
        self.service_actor(service_actor(id))
    }

    /// The configuration, with numbers clamped into range.
    pub fn build(self) -> RecorderConfig {
        self.config.normalized()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> RecorderConfig {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RecorderConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn strict_values() {
        for v in [
            "1", "true", "TRUE", "True", "yes", "YES", " yes ", "on", "ON",
        ] {
            assert!(parse_strict(Some(v)), "{v}");
        }
        for v in ["0", "false", "no", "", "off", "2", "y"] {
            assert!(!parse_strict(Some(v)), "{v}");
        }
        assert!(!parse_strict(None));
        assert_eq!(from(&[(ENV_STRICT, "Yes")]).mode, Mode::Strict);
        assert_eq!(from(&[(ENV_STRICT, "off")]).mode, Mode::Async);
        assert_eq!(from(&[]).mode, Mode::Async);
    }

    #[test]
    fn numbers_and_service() {
        let c = from(&[
            (ENV_QUEUE_CAPACITY, "50"),
            (ENV_BATCH_SIZE, "7"),
            (ENV_FLUSH_INTERVAL_MS, "250"),
            (ENV_SERVICE, "billing"),
        ]);
        assert_eq!(c.queue_capacity, 50);
        assert_eq!(c.batch_size, 7);
        assert_eq!(c.flush_interval, Duration::from_millis(250));
        assert_eq!(c.service_actor, service_actor("billing"));

        let c = from(&[
            (ENV_QUEUE_CAPACITY, "lots"),
            (ENV_BATCH_SIZE, "0"),
            (ENV_FLUSH_INTERVAL_MS, "-1"),
        ]);
        assert_eq!(c.queue_capacity, DEFAULT_QUEUE_CAPACITY);
        assert_eq!(c.batch_size, DEFAULT_BATCH_SIZE);
        assert_eq!(c.flush_interval, DEFAULT_FLUSH_INTERVAL);
        assert_eq!(c.service_actor.kind, ActorKind::Service);
        assert!(!c.service_actor.id.is_empty());
    }

    #[test]
    fn builder_clamps() {
        let c = RecorderConfig::builder()
            .strict(true)
            .queue_capacity(0)
            .batch_size(0)
            .flush_interval(Duration::ZERO)
            .service("svc")
            .retry(RetryPolicy::none())
            .build();
        assert!(c.is_strict());
        assert_eq!(c.queue_capacity, 1);
        assert_eq!(c.batch_size, 1);
        assert!(!c.flush_interval.is_zero());
        assert_eq!(c.service_actor.id, "svc");
        assert_eq!(c.retry, RetryPolicy::none());
        let c = from(&[(ENV_STRICT, "1")])
            .into_builder()
            .mode(Mode::Async)
            .build();
        assert_eq!(c.mode, Mode::Async);
    }
}
