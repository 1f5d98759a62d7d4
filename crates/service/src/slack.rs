//! The Slack format of a notification: a Slack incoming-webhook body rendered from the
//! standard body, in one place.
//!
//! The outbox keeps one body per message, the standard `{"type", "timestamp", "data"}`; a
//! webhook whose format is `slack` is sent [`render`]'s output instead, built at send time
//! from that same body, and signed over exactly what is sent. The Slack body has `text` (the
//! fallback shown in notifications and by clients without Block Kit) and `blocks`: a section
//! with the headline and a link to the approval (`console_url`, when
//! `COUNTERSIGN_PUBLIC_URL` is set), and a section of mrkdwn fields — subject, action,
//! requester, state, what remains (the quorum still needed), who can still vote
//! (`waiting_on`) and the expiry. Every value from the data is escaped for mrkdwn (`&`, `<`,
//! `>`), so a subject name cannot forge a link or a mention.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Slack's limit on one field's text is 2000 characters; stay under it.
const MAX_FIELD_CHARS: usize = 1900;
/// Slack's limit on a section's text is 3000 characters.
const MAX_TEXT_CHARS: usize = 2900;
/// The most names a field lists before it says how many more there are.
const MAX_NAMES: usize = 20;

/// The Slack incoming-webhook body for a standard body (its JSON text), as JSON text.
pub fn render(standard_body: &str) -> Result<String, serde_json::Error> {
    let body: Value = serde_json::from_str(standard_body)?;
    serde_json::to_string(&message(&body))
}

/// The Slack message (`text` and `blocks`) for a standard body.
pub fn message(body: &Value) -> Value {
    let event = body["type"].as_str().unwrap_or("notification");
    let data = &body["data"];
    let headline = headline(event, data);
    let subject = subject(data);
    let action = data["action"]
        .as_str()
        .or_else(|| data["job"]["action"].as_str());
    let requester = data["requester"]["name"].as_str();
    let waiting: Vec<&str> = data["waiting_on"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let console_url = data["console_url"].as_str();

    // The fallback: one line with the same facts, plain text.
    let mut text = format!("Countersign: {headline}");
    if let Some(a) = action {
        text.push_str(&format!(": {a}"));
    }
    if let Some(s) = &subject {
        text.push_str(&format!(" on {s}"));
    }
    if let Some(r) = requester {
        text.push_str(&format!(", requested by {r}"));
    }
    if !waiting.is_empty() {
        text.push_str(&format!("; waiting on {}", names(&waiting)));
    }
    if let Some(url) = console_url {
        text.push_str(&format!(" ({url})"));
    }

    let mut intro = format!("*{}*", escape(&headline));
    if let (Some(a), Some(s)) = (action, &subject) {
        intro.push_str(&format!(": `{}` on {}", escape(a), escape(s)));
    }
    if let Some(url) = console_url {
        intro.push_str(&format!("\n<{}|Open in Countersign>", link(url)));
    }
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(&intro, MAX_TEXT_CHARS)},
    })];
    let fields = fields(event, data, subject.as_deref(), action, requester, &waiting);
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    json!({"text": clip(&escape(&text), MAX_TEXT_CHARS), "blocks": blocks})
}

/// What happened, in a few words.
fn headline(event: &str, data: &Value) -> String {
    match event {
        "approval.requested" => "Approval requested".to_owned(),
        "approval.voted" => "A vote was cast".to_owned(),
        "approval.approved" => "Approved".to_owned(),
        "approval.rejected" => "Rejected".to_owned(),
        "approval.expired" => "Expired without a decision".to_owned(),
        "approval.cancelled" => "Request cancelled".to_owned(),
        "approval.reminder" => "Reminder: still waiting for approval".to_owned(),
        "approval.escalated" => match data["escalated_to"].as_str() {
            Some(role) => format!("Escalated to {role}: still waiting for approval"),
            None => "Escalated: still waiting for approval".to_owned(),
        },
        "job.completed" => match data["job"]["status"].as_str() {
            Some(status) => format!("Job {status}"),
            None => "Job completed".to_owned(),
        },
        "webhook.test" => "Test message: this webhook is wired up".to_owned(),
        other => other.to_owned(),
    }
}

/// `kind name` of the subject, when the data names one.
fn subject(data: &Value) -> Option<String> {
    let s = &data["subject"];
    match (s["kind"].as_str(), s["name"].as_str()) {
        (Some(kind), Some(name)) => Some(format!("{kind} {name}")),
        (None, Some(name)) => Some(name.to_owned()),
        _ => None,
    }
}

/// The mrkdwn fields of the second section (at most ten, Slack's limit).
fn fields(
    event: &str,
    data: &Value,
    subject: Option<&str>,
    action: Option<&str>,
    requester: Option<&str>,
    waiting: &[&str],
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut add = |label: &str, value: String| {
        let text = format!("*{label}*\n{value}");
        out.push(json!({"type": "mrkdwn", "text": clip(&text, MAX_FIELD_CHARS)}));
    };
    if let Some(s) = subject {
        add("Subject", escape(s));
    }
    if let Some(a) = action {
        add("Action", format!("`{}`", escape(a)));
    }
    if let Some(r) = requester {
        add("Requester", escape(r));
    }
    let is_approval = data["state"].is_string();
    if is_approval {
        add("State", escape(data["state"].as_str().unwrap_or_default()));
        let remaining = remaining(&data["remaining"]);
        add("Remaining", escape(&remaining));
        let who = if waiting.is_empty() {
            "nobody".to_owned()
        } else {
            escape(&names(waiting))
        };
        let label = if event == "approval.escalated" {
            "Escalated to"
        } else {
            "Waiting on"
        };
        add(label, who);
        if let Some(expires) = data["expires_at"].as_str() {
            add("Expires", date(expires));
        }
    }
    if event == "job.completed" {
        if let Some(status) = data["job"]["status"].as_str() {
            add("Outcome", escape(status));
        }
        if let Some(message) = data["job"]["result_message"].as_str() {
            add("Message", escape(message));
        }
    }
    out.truncate(10);
    out
}

/// The quorum still needed: `security × 1, platform × 2`, or `nothing` when met.
fn remaining(rules: &Value) -> String {
    let parts: Vec<String> = rules
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    Some(format!(
                        "{} × {}",
                        r["role"].as_str()?,
                        r["count"].as_u64()?
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(", ")
    }
}

/// `a, b, c`, or the first [`MAX_NAMES`] and how many more.
fn names(names: &[&str]) -> String {
    if names.len() <= MAX_NAMES {
        return names.join(", ");
    }
    format!(
        "{} and {} more",
        names[..MAX_NAMES].join(", "),
        names.len() - MAX_NAMES
    )
}

/// An RFC 3339 instant as a Slack date, which each reader sees in their own time zone; the
/// instant itself is the fallback.
fn date(rfc3339: &str) -> String {
    match OffsetDateTime::parse(rfc3339, &Rfc3339) {
        Ok(t) => format!(
            "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
            t.unix_timestamp(),
            escape(rfc3339)
        ),
        Err(_) => escape(rfc3339),
    }
}

/// Escape text for mrkdwn: `&`, `<` and `>` are control characters there.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A URL inside `<url|label>`: escaped, and with `|` percent-encoded so it cannot end the URL.
fn link(url: &str) -> String {
    escape(url).replace('|', "%7C")
}

/// At most `max` characters, ending in `…` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A standard body as the outbox writes it for an approval event.
    fn approval_body(event: &str, state: &str, waiting: &[&str]) -> Value {
        json!({
            "type": event,
            "timestamp": "2026-05-20T10:00:00Z",
            "data": {
                "id": "apr_01hzzzzzzzzzzzzzzzzzzzzzzz",
                "state": state,
                "action": "certificate.renew",
                "rules": [{"role": "security", "count": 1}, {"role": "platform", "count": 2}],
                "remaining": if state == "pending" {
                    json!([{"role": "platform", "count": 2}])
                } else {
                    json!([])
                },
                "expires_at": "2026-05-21T10:00:00Z",
                "subject": {"id": "sub_x", "kind": "certificate", "name": "api.example.com"},
                "requester": {"id": "prn_x", "name": "rita"},
                "waiting_on": waiting,
                "console_url": "https://countersign.example.com/ui/approvals/apr_01hzzzzzzzzzzzzzzzzzzzzzzz",
            }
        })
    }

    /// Every block is a section with mrkdwn text or at most ten mrkdwn fields, within Slack's
    /// limits; answers the text of every block and field, joined.
    fn check_shape(m: &Value) -> String {
        let text = m["text"].as_str().expect("text");
        assert!(!text.is_empty() && text.chars().count() <= 3000);
        let blocks = m["blocks"].as_array().expect("blocks");
        assert!(!blocks.is_empty() && blocks.len() <= 50);
        let mut all = String::new();
        for b in blocks {
            assert_eq!(b["type"], "section", "{b}");
            if let Some(t) = b.get("text") {
                assert_eq!(t["type"], "mrkdwn");
                let t = t["text"].as_str().unwrap();
                assert!(t.chars().count() <= 3000);
                all.push_str(t);
                all.push('\n');
            }
            if let Some(fields) = b.get("fields") {
                let fields = fields.as_array().unwrap();
                assert!(!fields.is_empty() && fields.len() <= 10);
                for f in fields {
                    assert_eq!(f["type"], "mrkdwn");
                    let t = f["text"].as_str().unwrap();
                    assert!(t.chars().count() <= 2000);
                    all.push_str(t);
                    all.push('\n');
                }
            }
        }
        all
    }

    fn field<'a>(m: &'a Value, label: &str) -> Option<&'a str> {
        let prefix = format!("*{label}*\n");
        m["blocks"].as_array()?.iter().find_map(|b| {
            b["fields"]
                .as_array()?
                .iter()
                .find_map(|f| f["text"].as_str()?.strip_prefix(prefix.as_str()))
        })
    }

    #[test]
    fn a_request_names_subject_action_requester_quorum_voters_expiry_and_link() {
        let m = message(&approval_body(
            "approval.requested",
            "pending",
            &["carol", "dave"],
        ));
        let all = check_shape(&m);
        assert!(all
            .contains("*Approval requested*: `certificate.renew` on certificate api.example.com"));
        assert!(all.contains(
            "<https://countersign.example.com/ui/approvals/apr_01hzzzzzzzzzzzzzzzzzzzzzzz|Open in Countersign>"
        ));
        assert_eq!(field(&m, "Subject"), Some("certificate api.example.com"));
        assert_eq!(field(&m, "Action"), Some("`certificate.renew`"));
        assert_eq!(field(&m, "Requester"), Some("rita"));
        assert_eq!(field(&m, "State"), Some("pending"));
        assert_eq!(field(&m, "Remaining"), Some("platform × 2"));
        assert_eq!(field(&m, "Waiting on"), Some("carol, dave"));
        let t = OffsetDateTime::parse("2026-05-21T10:00:00Z", &Rfc3339).unwrap();
        assert_eq!(
            field(&m, "Expires"),
            Some(
                format!(
                    "<!date^{}^{{date_short_pretty}} {{time}}|2026-05-21T10:00:00Z>",
                    t.unix_timestamp()
                )
                .as_str()
            )
        );
        let text = m["text"].as_str().unwrap();
        assert_eq!(
            text,
            "Countersign: Approval requested: certificate.renew on certificate api.example.com, \
             requested by rita; waiting on carol, dave \
             (https://countersign.example.com/ui/approvals/apr_01hzzzzzzzzzzzzzzzzzzzzzzz)"
        );
    }

    #[test]
    fn each_approval_event_has_its_headline() {
        for (event, state, headline) in [
            ("approval.voted", "pending", "A vote was cast"),
            ("approval.approved", "approved", "Approved"),
            ("approval.rejected", "rejected", "Rejected"),
            ("approval.expired", "expired", "Expired without a decision"),
            ("approval.cancelled", "cancelled", "Request cancelled"),
            (
                "approval.reminder",
                "pending",
                "Reminder: still waiting for approval",
            ),
        ] {
            let waiting: &[&str] = if state == "pending" { &["carol"] } else { &[] };
            let m = message(&approval_body(event, state, waiting));
            let all = check_shape(&m);
            assert!(all.starts_with(&format!("*{headline}*")), "{event}: {all}");
            assert!(m["text"].as_str().unwrap().contains(headline), "{event}");
            assert_eq!(field(&m, "State"), Some(state), "{event}");
            let remaining = if state == "pending" {
                "platform × 2"
            } else {
                "nothing"
            };
            assert_eq!(field(&m, "Remaining"), Some(remaining), "{event}");
            let waiting = if state == "pending" {
                "carol"
            } else {
                "nobody"
            };
            assert_eq!(field(&m, "Waiting on"), Some(waiting), "{event}");
        }
    }

    #[test]
    fn an_escalation_names_the_role_and_its_holders() {
        let mut body = approval_body("approval.escalated", "pending", &["olga", "oscar"]);
        body["data"]["escalated_to"] = json!("oncall");
        let m = message(&body);
        let all = check_shape(&m);
        assert!(all.starts_with("*Escalated to oncall: still waiting for approval*"));
        assert_eq!(field(&m, "Escalated to"), Some("olga, oscar"));
        assert_eq!(field(&m, "Waiting on"), None);
        assert_eq!(
            field(&m, "Remaining"),
            Some("platform × 2"),
            "the quorum is unchanged"
        );
    }

    #[test]
    fn a_completed_job_without_approval_names_its_outcome() {
        let body = json!({
            "type": "job.completed",
            "timestamp": "2026-05-20T10:00:00Z",
            "data": {
                "job": {"id": "job_x", "action": "deploy.run", "status": "failed",
                        "result_message": "exit 3"},
                "subject": {"id": "sub_x", "kind": "service", "name": "billing"},
                "requester": {"id": "prn_x", "name": "rita"},
                "waiting_on": [],
                "console_url": null,
            }
        });
        let m = message(&body);
        let all = check_shape(&m);
        assert!(all.starts_with("*Job failed*: `deploy.run` on service billing"));
        assert!(
            !all.contains("Open in Countersign"),
            "no link without a public URL"
        );
        assert_eq!(field(&m, "Outcome"), Some("failed"));
        assert_eq!(field(&m, "Message"), Some("exit 3"));
        assert_eq!(field(&m, "State"), None);
    }

    #[test]
    fn a_test_message_and_an_unknown_event_still_render() {
        let m = message(&json!({"type": "webhook.test", "timestamp": "x",
            "data": {"webhook_id": "whk_x", "requested_by": "prn_x"}}));
        let all = check_shape(&m);
        assert!(all.starts_with("*Test message: this webhook is wired up*"));
        assert_eq!(m["blocks"].as_array().unwrap().len(), 1);
        let m = message(&json!({"type": "log.tamper_detected", "data": {}}));
        check_shape(&m);
        assert_eq!(m["text"], "Countersign: log.tamper_detected");
    }

    #[test]
    fn values_cannot_forge_links_or_mentions() {
        let mut body = approval_body("approval.requested", "pending", &["<!channel>"]);
        body["data"]["subject"]["name"] = json!("<https://evil.example|click> & co");
        let m = message(&body);
        let all = check_shape(&m);
        assert!(!all.contains("<!channel>") && !all.contains("<https://evil"));
        assert_eq!(
            field(&m, "Subject"),
            Some("certificate &lt;https://evil.example|click&gt; &amp; co")
        );
        assert_eq!(field(&m, "Waiting on"), Some("&lt;!channel&gt;"));
        assert!(!m["text"].as_str().unwrap().contains("<!channel>"));
    }

    #[test]
    fn long_lists_are_cut_to_slacks_limits() {
        let many: Vec<String> = (0..500).map(|i| format!("approver-{i:03}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let mut body = approval_body("approval.requested", "pending", &refs);
        body["data"]["subject"]["name"] = json!("x".repeat(5000));
        let m = message(&body);
        check_shape(&m);
        let waiting = field(&m, "Waiting on").unwrap();
        assert!(waiting.ends_with("approver-019 and 480 more"), "{waiting}");
    }

    #[test]
    fn render_reads_and_writes_json_text() {
        let body = approval_body("approval.approved", "approved", &[]).to_string();
        let out: Value = serde_json::from_str(&render(&body).unwrap()).unwrap();
        assert_eq!(out, message(&serde_json::from_str(&body).unwrap()));
        assert!(render("not json").is_err());
    }
}
