//! The Slack format end to end, and redelivery: a `slack` webhook receives a Slack
//! incoming-webhook body rendered from the same message a standard webhook receives, signed
//! over the body sent (checked by the `standardwebhooks` crate, an independent HMAC and the
//! Python reference verifier when installed); a redelivery starts the retry schedule over,
//! and one to a disabled webhook is refused and changes nothing.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::support::{s, Db};
use crate::webhooks::{
    app_with, config, create_webhook, pass, setup, verify_hmac, verify_with_python, Receiver,
};

/// The text of every block and field of a Slack body, joined.
fn slack_text(body: &Value) -> String {
    let mut all = String::new();
    for b in body["blocks"].as_array().expect("blocks") {
        assert_eq!(b["type"], "section", "{b}");
        if let Some(t) = b["text"]["text"].as_str() {
            assert_eq!(b["text"]["type"], "mrkdwn");
            all.push_str(t);
            all.push('\n');
        }
        for f in b["fields"].as_array().into_iter().flatten() {
            assert_eq!(f["type"], "mrkdwn");
            all.push_str(f["text"].as_str().unwrap());
            all.push('\n');
        }
    }
    all
}

both_backends!(a_slack_webhook_receives_a_signed_slack_body);
async fn a_slack_webhook_receives_a_signed_slack_body(db: Db) {
    let app = app_with(db, config(1)).await;
    let (slack, slack_url) = Receiver::start().await;
    let (standard, standard_url) = Receiver::start().await;
    let r = app
        .post(
            "/api/v1/webhooks",
            &app.admin,
            json!({"url": slack_url, "format": "slack", "events": ["approval.requested"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["format"], "slack");
    let secret = s(&r.json["secret"]);
    let shown = app
        .get(
            &format!("/api/v1/webhooks/{}", s(&r.json["id"])),
            &app.admin,
        )
        .await;
    assert_eq!(shown.json["format"], "slack");
    create_webhook(&app, &standard_url, None).await;
    let (requester, _, subject) = setup(&app).await;
    let job = app.request_job(&requester, &subject, json!({"n": 1})).await;
    let approval = s(&job.json["approval"]["id"]);

    pass(&app.service).await;
    let got = slack.got();
    assert_eq!(got.len(), 1, "{got:?}");
    let d = &got[0];
    // Signed over the Slack body actually sent, with the same headers as a standard one.
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(d.body.as_bytes(), &d.headers)
        .unwrap();
    verify_hmac(&secret, d);
    verify_with_python(&secret, d);
    assert_eq!(d.header("content-type"), "application/json");
    // One message, two formats: the same webhook-id.
    let plain = standard.got();
    assert_eq!(plain.len(), 1);
    assert_eq!(d.header("webhook-id"), plain[0].header("webhook-id"));
    assert_eq!(plain[0].kind(), "approval.requested");

    let body = d.json();
    assert!(body.get("type").is_none(), "not the standard body: {body}");
    let text = body["text"].as_str().expect("fallback text");
    assert!(text.contains("Approval requested"), "{text}");
    assert!(
        text.contains("db.example.com") && text.contains("rita"),
        "{text}"
    );
    let blocks = slack_text(&body);
    let link =
        format!("<https://countersign.example.com/ui/approvals/{approval}|Open in Countersign>");
    for want in [
        "*Approval requested*: `certificate.renew` on certificate db.example.com",
        link.as_str(),
        "*Subject*\ncertificate db.example.com",
        "*Action*\n`certificate.renew`",
        "*Requester*\nrita",
        "*Remaining*\nsecurity × 1",
        "*Waiting on*\nsam",
        "*Expires*\n<!date^",
    ] {
        assert!(blocks.contains(want), "missing {want:?} in {blocks}");
    }
}

both_backends!(a_redelivery_starts_the_retry_schedule_over);
async fn a_redelivery_starts_the_retry_schedule_over(db: Db) {
    // One retry: an attempt and a retry, then `failed`.
    let app = app_with(db, config(1)).await;
    let (rx, url) = Receiver::start().await;
    let (id, _) = create_webhook(&app, &url, None).await;
    let (requester, _, subject) = setup(&app).await;
    rx.answer(&[500, 500, 500]);
    app.request_job(&requester, &subject, json!({})).await;
    for _ in 0..3 {
        pass(&app.service).await;
    }
    let deliveries = format!("/api/v1/webhooks/{id}/deliveries");
    let d = app.get(&deliveries, &app.admin).await.json["data"][0].clone();
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_i64()),
        (Some("failed"), Some(2))
    );

    let before = time::OffsetDateTime::now_utc();
    let r = app
        .post(
            &format!("{deliveries}/{}/redeliver", s(&d["id"])),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "pending");
    let due = time::OffsetDateTime::parse(
        r.json["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(due >= before - time::Duration::seconds(1) && due <= time::OffsetDateTime::now_utc());

    // The third attempt fails too, and is the schedule's first again: a retry follows (the
    // old count would have failed the delivery at once).
    pass(&app.service).await;
    let d = app.get(&deliveries, &app.admin).await.json["data"][0].clone();
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_i64()),
        (Some("pending"), Some(3))
    );
    pass(&app.service).await;
    let d = app.get(&deliveries, &app.admin).await.json["data"][0].clone();
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_i64()),
        (Some("delivered"), Some(4))
    );
    assert_eq!(
        rx.got().iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
}

both_backends!(a_redelivery_to_a_disabled_webhook_is_refused);
async fn a_redelivery_to_a_disabled_webhook_is_refused(db: Db) {
    let app = app_with(db, config(3)).await;
    let (rx, url) = Receiver::start().await;
    let (id, _) = create_webhook(&app, &url, None).await;
    let (requester, _, subject) = setup(&app).await;
    rx.answer(&[410]);
    app.request_job(&requester, &subject, json!({})).await;
    pass(&app.service).await;
    let deliveries = format!("/api/v1/webhooks/{id}/deliveries");
    let d = app.get(&deliveries, &app.admin).await.json["data"][0].clone();
    assert_eq!(d["status"], "failed");

    let audit = app.audit_count().await;
    let r = app
        .post(
            &format!("{deliveries}/{}/redeliver", s(&d["id"])),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "conflict");
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("disabled"));
    assert_eq!(app.audit_count().await, audit, "a refusal changes nothing");
    let after = app.get(&deliveries, &app.admin).await.json["data"][0].clone();
    assert_eq!(after, d);
    pass(&app.service).await;
    assert_eq!(rx.got().len(), 1);
}
