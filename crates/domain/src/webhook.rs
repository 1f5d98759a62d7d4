//! Webhooks: where notifications go, which events they carry, and how deliveries retry.
//!
//! A change that announces an event writes an outbox message in its own transaction; the
//! scheduler turns each message into one [`Delivery`] per matching [`Webhook`] and sends it,
//! retrying on [`DEFAULT_RETRY_SCHEDULE`] (or the configured one) until it is delivered, the
//! webhook answers 410 (disabled) or the schedule runs out (`failed`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::audit::actions;
use crate::id::{DeliveryId, MessageId, WebhookId};
use crate::validation::ValidationError;

macro_rules! webhook_events {
    ($($variant:ident => $s:literal),* $(,)?) => {
        /// An event type a webhook can subscribe to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum WebhookEvent {
            $($variant),*
        }

        impl WebhookEvent {
            /// Every event type, in contract order.
            pub const ALL: &'static [WebhookEvent] = &[$(WebhookEvent::$variant),*];

            /// The contract string, e.g. `approval.requested`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(WebhookEvent::$variant => $s),*
                }
            }
        }

        impl FromStr for WebhookEvent {
            type Err = ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok(WebhookEvent::$variant),)*
                    other => Err(ValidationError::new(
                        "events",
                        format!("unknown event type `{other}`"),
                    )),
                }
            }
        }
    };
}

webhook_events! {
    ApprovalRequested => "approval.requested",
    ApprovalVoted => "approval.voted",
    ApprovalApproved => "approval.approved",
    ApprovalRejected => "approval.rejected",
    ApprovalExpired => "approval.expired",
    ApprovalCancelled => "approval.cancelled",
    ApprovalReminder => "approval.reminder",
    ApprovalEscalated => "approval.escalated",
    JobCompleted => "job.completed",
    LogTamperDetected => "log.tamper_detected",
}

/// The event type of a test send (`POST /api/v1/webhooks/{id}/test`); it reaches only the
/// webhook it was sent to, whatever that webhook subscribes to.
pub const TEST_EVENT: &str = "webhook.test";

impl WebhookEvent {
    /// The notification an audit action announces, if any. A bypassed approval is decided
    /// `approved` at once, so it announces `approval.approved`.
    pub fn for_audit_action(action: &str) -> Option<WebhookEvent> {
        Some(match action {
            actions::APPROVAL_REQUESTED => WebhookEvent::ApprovalRequested,
            actions::APPROVAL_VOTED => WebhookEvent::ApprovalVoted,
            actions::APPROVAL_APPROVED | actions::APPROVAL_BYPASSED => {
                WebhookEvent::ApprovalApproved
            }
            actions::APPROVAL_REJECTED => WebhookEvent::ApprovalRejected,
            actions::APPROVAL_EXPIRED => WebhookEvent::ApprovalExpired,
            actions::APPROVAL_CANCELLED => WebhookEvent::ApprovalCancelled,
            actions::APPROVAL_REMINDER => WebhookEvent::ApprovalReminder,
            actions::APPROVAL_ESCALATED => WebhookEvent::ApprovalEscalated,
            actions::JOB_COMPLETED => WebhookEvent::JobCompleted,
            actions::LOG_TAMPER_DETECTED => WebhookEvent::LogTamperDetected,
            _ => return None,
        })
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WebhookEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WebhookEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// `{"type", "timestamp", "data"}`.
    #[default]
    Standard,
    /// A Slack incoming-webhook body (`text` and `blocks`).
    Slack,
}

impl WebhookFormat {
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Standard => "standard",
            WebhookFormat::Slack => "slack",
        }
    }
}

impl FromStr for WebhookFormat {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(WebhookFormat::Standard),
            "slack" => Ok(WebhookFormat::Slack),
            other => Err(ValidationError::new(
                "format",
                format!("unknown format `{other}` (standard, slack)"),
            )),
        }
    }
}

/// A webhook, without its secret (which never leaves the store but to sign).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    /// The event types it receives; `None`: all of them.
    pub events: Option<Vec<WebhookEvent>>,
    pub format: WebhookFormat,
    pub description: Option<String>,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
}

impl Webhook {
    /// Whether this webhook receives `event` (an event type's string).
    pub fn wants(&self, event: &str) -> bool {
        match &self.events {
            None => true,
            Some(list) => list.iter().any(|e| e.as_str() == event),
        }
    }
}

/// The longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;

/// A webhook URL: `http://` or `https://`, a host, no whitespace or control characters.
pub fn validate_url(url: &str) -> Result<(), ValidationError> {
    let err = |m: &str| Err(ValidationError::new("url", m.to_owned()));
    if url.len() > MAX_URL_LEN {
        return err("at most 2048 bytes");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return err("must not contain whitespace or control characters");
    }
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return err("must be an http:// or https:// URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return err("must name a host");
    }
    if let Some(port) = host_port.rsplit_once("]:").map(|(_, p)| p).or_else(|| {
        (!host_port.starts_with('['))
            .then(|| host_port.split_once(':').map(|(_, p)| p))
            .flatten()
    }) {
        if port.parse::<u16>().is_err() {
            return err("has an invalid port");
        }
    }
    Ok(())
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not yet delivered; an attempt is due at `next_attempt_at` (or out, under a lease).
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// The retry schedule ran out, or the webhook answered 410.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| ValidationError::new("status", format!("unknown status `{s}`")))
    }
}

/// One message's delivery to one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub message_id: MessageId,
    pub webhook_id: WebhookId,
    pub event: String,
    pub status: DeliveryStatus,
    /// Attempts started (an attempt counts from the moment it is claimed).
    pub attempts: i32,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// The retry delays after each failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h,
/// 24 h (then the delivery is `failed`).
pub const DEFAULT_RETRY_SCHEDULE: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// The delay before the next attempt after `attempts` failed ones, or `None` when the
/// schedule has run out and the delivery is `failed`. Attempt 1 failing waits `schedule[0]`.
pub fn retry_delay(schedule: &[Duration], attempts: i32) -> Option<Duration> {
    let i = usize::try_from(attempts).ok()?.checked_sub(1)?;
    schedule.get(i).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip() {
        for e in WebhookEvent::ALL {
            assert_eq!(e.as_str().parse::<WebhookEvent>().unwrap(), *e);
        }
        assert!("approval.nope".parse::<WebhookEvent>().is_err());
        assert!(TEST_EVENT.parse::<WebhookEvent>().is_err());
    }

    #[test]
    fn audit_actions_map_to_the_spec_list() {
        assert_eq!(
            WebhookEvent::for_audit_action("approval.bypassed"),
            Some(WebhookEvent::ApprovalApproved)
        );
        assert_eq!(
            WebhookEvent::for_audit_action("job.completed"),
            Some(WebhookEvent::JobCompleted)
        );
        assert_eq!(
            WebhookEvent::for_audit_action("approval.escalated"),
            Some(WebhookEvent::ApprovalEscalated)
        );
        assert_eq!(WebhookEvent::for_audit_action("job.claimed"), None);
        assert_eq!(WebhookEvent::for_audit_action("role.created"), None);
    }

    #[test]
    fn urls() {
        for ok in [
            "https://hooks.slack.com/services/T/B/x",
            "http://127.0.0.1:8080/hook",
            "HTTPS://Example.com",
            "http://[::1]:9000/x?y=1",
            "https://user@host/x",
        ] {
            assert!(validate_url(ok).is_ok(), "{ok} refused");
        }
        for bad in [
            "",
            "ftp://example.com",
            "https://",
            "https:///path",
            "http://:80/",
            "example.com",
            "https://exa mple.com",
            "http://host:99999/",
            "http://host:x/",
            "javascript:alert(1)",
        ] {
            assert!(validate_url(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_schedule_runs_out() {
        let s = DEFAULT_RETRY_SCHEDULE;
        assert_eq!(retry_delay(&s, 1), Some(Duration::from_secs(5)));
        assert_eq!(retry_delay(&s, 9), Some(Duration::from_secs(24 * 3600)));
        assert_eq!(retry_delay(&s, 10), None);
        assert_eq!(retry_delay(&s, 0), None);
        assert_eq!(retry_delay(&[], 1), None);
    }

    #[test]
    fn a_webhook_without_a_list_wants_everything() {
        let mut w = Webhook {
            id: WebhookId::new(),
            url: "https://x".into(),
            events: None,
            format: WebhookFormat::Standard,
            description: None,
            disabled: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert!(w.wants("approval.voted"));
        w.events = Some(vec![WebhookEvent::ApprovalRequested]);
        assert!(w.wants("approval.requested"));
        assert!(!w.wants("approval.voted"));
    }
}
