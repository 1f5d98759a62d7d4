//! Bad input, endpoint by endpoint: malformed JSON, missing and unknown fields, unknown enum
//! values, wrong types, out-of-range numbers, bad cursors, unknown ids, wrong methods and
//! oversized bodies. Each gets the contract's status and code, and none changes anything
//! (`app.snapshot()` and the audit trail are the same before and after).
//!
//! Two layers: a table of explicit cases for every route registered today, and generic probes
//! driven by the route table (wrong methods, malformed ids, malformed JSON, oversized
//! bodies), so routes added later are probed too.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{Method, StatusCode};
use countersign_domain::{ApprovalId, EventId, JobId, PolicyId, PrincipalId, SubjectId};
use countersign_http::gate::{Gate, RouteEntry};
use countersign_http::HttpConfig;
use countersign_service::ServiceConfig;
use serde_json::json;

use crate::support::{Db, TestApp};

/// One request that must be refused.
struct Case {
    method: Method,
    /// The registered route this exercises (checked against the route table).
    route: &'static str,
    path: String,
    body: Option<String>,
    headers: Vec<(&'static str, String)>,
    status: StatusCode,
    code: &'static str,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Bodies can be huge (the 413 probes): show their start only.
        let body = self
            .body
            .as_deref()
            .map(|b| match b.char_indices().nth(120) {
                Some((i, _)) => format!("{}… ({} bytes)", &b[..i], b.len()),
                None => b.to_owned(),
            });
        f.debug_struct("Case")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("body", &body)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, v)| (k, v.len()))
                    .collect::<Vec<_>>(),
            )
            .field("expect", &(self.status.as_u16(), self.code))
            .finish()
    }
}

fn case(
    method: Method,
    route: &'static str,
    path: impl Into<String>,
    body: Option<&str>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        method,
        route,
        path: path.into(),
        body: body.map(str::to_owned),
        headers: Vec::new(),
        status: StatusCode::from_u16(status).unwrap(),
        code,
    }
}

fn bad(method: Method, route: &'static str, path: impl Into<String>, body: Option<&str>) -> Case {
    case(method, route, path, body, 400, "invalid_request")
}

fn missing(
    method: Method,
    route: &'static str,
    path: impl Into<String>,
    body: Option<&str>,
) -> Case {
    case(method, route, path, body, 404, "not_found")
}

/// Real resources to aim the bad requests at, so a 400 is never a 404 in disguise.
struct Fixture {
    principal: String,
    policy: String,
    subject: String,
    job: String,
    approval: String,
    event: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let (principal, _) = app.principal("rita", &["requester"]).await;
    let policy = app
        .policy("prod", json!([{"role": "security", "count": 1}]), None)
        .await;
    let subject = app.subject("api.example.com", &policy).await;
    let r = app.request_job(&app.admin, &subject, json!({"a": 1})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let event = app.audit_events().await.last().unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    Fixture {
        principal,
        policy,
        subject,
        job: r.json["job"]["id"].as_str().unwrap().to_owned(),
        approval: r.json["approval"]["id"].as_str().unwrap().to_owned(),
        event,
    }
}

fn list_cases(route: &'static str, cases: &mut Vec<Case>) {
    for q in [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=ten",
        "cursor=not-a-cursor",
        "cursor=",
        "limit=1&cursor=%00%ff",
    ] {
        cases.push(bad(Method::GET, route, format!("{route}?{q}"), None));
    }
}

fn cases(f: &Fixture) -> Vec<Case> {
    use Method as M;
    let unknown_prn = PrincipalId::new().to_string();
    let unknown_pol = PolicyId::new().to_string();
    let unknown_sub = SubjectId::new().to_string();
    let unknown_job = JobId::new().to_string();
    let unknown_apr = ApprovalId::new().to_string();
    let unknown_evt = EventId::new().to_string();
    let long = |n: usize| "x".repeat(n);
    let mut c = Vec::new();

    // --- auth -------------------------------------------------------------------------------
    let r = "/api/v1/auth/principals";
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"name": "erin", "kind": "user""#),
    ));
    c.push(bad(M::POST, r, r, Some("")));
    c.push(bad(M::POST, r, r, Some("[]")));
    c.push(bad(M::POST, r, r, Some(r#"{"kind": "user"}"#)));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"name": "erin", "kind": "robot"}"#),
    ));
    c.push(bad(M::POST, r, r, Some(r#"{"name": 42, "kind": "user"}"#)));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"name": "erin", "kind": "user", "admin": true}"#),
    ));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "Erin Smith"}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"name": ""}"#)));
    list_cases(r, &mut c);

    let r = "/api/v1/auth/principals/{id}";
    c.push(missing(
        M::GET,
        r,
        format!("/api/v1/auth/principals/{unknown_prn}"),
        None,
    ));
    c.push(missing(M::GET, r, "/api/v1/auth/principals/nope", None));
    c.push(missing(
        M::GET,
        r,
        format!("/api/v1/auth/principals/{}", f.policy),
        None,
    ));

    let r = "/api/v1/auth/principals/{id}/keys";
    let p = format!("/api/v1/auth/principals/{}/keys", f.principal);
    c.push(bad(M::POST, r, &p, Some("{")));
    c.push(bad(M::POST, r, &p, Some(r#"{"expires_at": "tomorrow"}"#)));
    c.push(bad(M::POST, r, &p, Some(r#"{"expires_at": 1767225600}"#)));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(r#"{"expires_at": "2001-01-01T00:00:00Z"}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(r#"{"expires": "2099-01-01T00:00:00Z"}"#),
    ));
    c.push(missing(
        M::POST,
        r,
        format!("/api/v1/auth/principals/{unknown_prn}/keys"),
        Some("{}"),
    ));
    c.push(missing(
        M::POST,
        r,
        "/api/v1/auth/principals/prn_123/keys",
        Some("{}"),
    ));

    let r = "/api/v1/auth/principals/{id}/roles";
    let p = format!("/api/v1/auth/principals/{}/roles", f.principal);
    c.push(bad(M::POST, r, &p, Some(r#"{"role": "admin""#)));
    c.push(bad(M::POST, r, &p, Some("{}")));
    c.push(bad(M::POST, r, &p, None));
    c.push(bad(M::POST, r, &p, Some(r#"{"role": 7}"#)));
    c.push(bad(M::POST, r, &p, Some(r#"{"role": "Not A Role!"}"#)));
    c.push(bad(M::POST, r, &p, Some(r#"{"role": "no-such-role"}"#)));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(r#"{"role": "requester", "expires": 1}"#),
    ));
    c.push(missing(
        M::POST,
        r,
        format!("/api/v1/auth/principals/{unknown_prn}/roles"),
        Some(r#"{"role": "requester"}"#),
    ));

    // --- policies ---------------------------------------------------------------------------
    let r = "/api/v1/policies";
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"name": "x", "requires_approval": tru}"#),
    ));
    c.push(bad(M::POST, r, r, None));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "x"}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"requires_approval": false}"#)));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"name": "x", "requires_approval": "yes"}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"name": "x", "requires_approval": true, "rules": []}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"name": "x", "requires_approval": true}"#),
    ));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "x", "requires_approval": true, "rules": [{"role": "security", "count": 0}]}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "x", "requires_approval": true, "rules": [{"role": "security", "count": -1}]}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "x", "requires_approval": true, "rules": [{"role": "security", "count": 101}]}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "x", "requires_approval": true, "rules": [{"role": "security", "count": "1"}]}"#)));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"name": "x", "requires_approval": true, "rules": [{"role": "security"}]}"#),
    ));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "x", "requires_approval": true, "rules": [{"role": "security", "count": 1, "weight": 2}]}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "x", "requires_approval": true, "rules": [{"role": "ghosts", "count": 1}]}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "x", "requires_approval": true, "rules": [{"role": "security", "count": 1}, {"role": "security", "count": 1}]}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "x", "requires_approval": true, "rules": [{"role": "security", "count": 1}], "approval_timeout_secs": 0}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "x", "requires_approval": true, "rules": [{"role": "security", "count": 1}], "approval_timeout_secs": 99999999999}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"name": "x", "requires_approval": true, "rules": [{"role": "security", "count": 1}], "approval_timeout_secs": "1h"}"#)));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"name": "x", "requires_approval": false, "owner": "me"}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(&format!(
            r#"{{"name": "{}", "requires_approval": false}}"#,
            long(129)
        )),
    ));
    // A name already taken is a conflict.
    c.push(case(
        M::POST,
        r,
        r,
        Some(r#"{"name": "prod", "requires_approval": false}"#),
        409,
        "conflict",
    ));
    list_cases(r, &mut c);

    let r = "/api/v1/policies/{id}";
    c.push(missing(
        M::GET,
        r,
        format!("/api/v1/policies/{unknown_pol}"),
        None,
    ));
    c.push(missing(M::GET, r, "/api/v1/policies/pol_", None));
    c.push(missing(
        M::GET,
        r,
        format!("/api/v1/policies/{}", f.subject),
        None,
    ));
    let p = format!("/api/v1/policies/{}", f.policy);
    let full =
        r#""name": "prod", "requires_approval": true, "rules": [{"role": "security", "count": 1}]"#;
    c.push(bad(
        M::PUT,
        r,
        &p,
        Some(&format!("{{{full}, \"generation\": 1")),
    ));
    c.push(bad(M::PUT, r, &p, Some(&format!("{{{full}}}"))));
    c.push(bad(
        M::PUT,
        r,
        &p,
        Some(&format!("{{{full}, \"generation\": \"1\"}}")),
    ));
    c.push(bad(
        M::PUT,
        r,
        &p,
        Some(&format!(
            "{{{full}, \"generation\": 1, \"id\": \"{}\"}}",
            f.policy
        )),
    ));
    c.push(bad(M::PUT, r, &p, Some(r#"{"name": "prod", "requires_approval": true, "rules": [{"role": "security", "count": 0}], "generation": 1}"#)));
    c.push(case(
        M::PUT,
        r,
        &p,
        Some(&format!("{{{full}, \"generation\": 7}}")),
        409,
        "generation_mismatch",
    ));
    c.push(missing(
        M::PUT,
        r,
        format!("/api/v1/policies/{unknown_pol}"),
        Some(&format!("{{{full}, \"generation\": 1}}")),
    ));

    // --- subjects and job requests ----------------------------------------------------------
    let r = "/api/v1/subjects";
    let pol = &f.policy;
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"kind": "certificate", "name": "x""#),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"kind": "certificate", "name": "x"}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(&format!(r#"{{"name": "x", "policy_id": "{pol}"}}"#)),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"kind": "certificate", "name": "x", "policy_id": "pol_nope"}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(&format!(
            r#"{{"kind": "certificate", "name": "x", "policy_id": "{}"}}"#,
            f.subject
        )),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(&format!(
            r#"{{"kind": "certificate", "name": "x", "policy_id": "{unknown_pol}"}}"#
        )),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(&format!(
            r#"{{"kind": "Certificate!", "name": "x", "policy_id": "{pol}"}}"#
        )),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(&format!(
            r#"{{"kind": "certificate", "name": "", "policy_id": "{pol}"}}"#
        )),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(&format!(
            r#"{{"kind": "certificate", "name": 5, "policy_id": "{pol}"}}"#
        )),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(&format!(
            r#"{{"kind": "certificate", "name": "x", "policy_id": "{pol}", "labels": ["a"]}}"#
        )),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(&format!(
            r#"{{"kind": "certificate", "name": "x", "policy_id": "{pol}", "labels": {{"a": 1}}}}"#
        )),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(&format!(
            r#"{{"kind": "certificate", "name": "x", "policy_id": "{pol}", "owner": "me"}}"#
        )),
    ));
    c.push(case(
        M::POST,
        r,
        r,
        Some(&format!(
            r#"{{"kind": "certificate", "name": "api.example.com", "policy_id": "{pol}"}}"#
        )),
        409,
        "conflict",
    ));
    list_cases(r, &mut c);
    c.push(bad(M::GET, r, "/api/v1/subjects?kind=Not%20A%20Kind", None));
    c.push(bad(M::GET, r, "/api/v1/subjects?policy_id=nope", None));
    c.push(bad(
        M::GET,
        r,
        format!("/api/v1/subjects?policy_id={}", f.job),
        None,
    ));

    let r = "/api/v1/subjects/{id}";
    c.push(missing(
        M::GET,
        r,
        format!("/api/v1/subjects/{unknown_sub}"),
        None,
    ));
    c.push(missing(M::GET, r, "/api/v1/subjects/SUB_01", None));

    let r = "/api/v1/subjects/{id}/jobs";
    let p = format!("/api/v1/subjects/{}/jobs", f.subject);
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(r#"{"action": "certificate.renew", "payload": {"#),
    ));
    c.push(bad(M::POST, r, &p, None));
    c.push(bad(M::POST, r, &p, Some(r#"{"payload": {}}"#)));
    c.push(bad(M::POST, r, &p, Some(r#"{"action": 1}"#)));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(r#"{"action": "Certificate Renew"}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(&format!(r#"{{"action": "a{}"}}"#, long(128))),
    ));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(r#"{"action": "certificate.renew", "payload": [1, 2]}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(r#"{"action": "certificate.renew", "payload": "x"}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(r#"{"action": "certificate.renew", "payload": {}, "status": "pending"}"#),
    ));
    let mut idem = bad(M::POST, r, &p, Some(r#"{"action": "certificate.renew"}"#));
    idem.headers.push(("idempotency-key", long(256)));
    c.push(idem);
    c.push(missing(
        M::POST,
        r,
        format!("/api/v1/subjects/{unknown_sub}/jobs"),
        Some(r#"{"action": "certificate.renew"}"#),
    ));
    c.push(missing(
        M::POST,
        r,
        format!("/api/v1/subjects/{}/jobs", f.policy),
        Some(r#"{"action": "certificate.renew"}"#),
    ));

    // --- jobs ---------------------------------------------------------------------------------
    let r = "/api/v1/jobs";
    list_cases(r, &mut c);
    c.push(bad(M::GET, r, "/api/v1/jobs?status=bogus", None));
    c.push(bad(M::GET, r, "/api/v1/jobs?status=PENDING", None));
    c.push(bad(M::GET, r, "/api/v1/jobs?subject_id=nope", None));

    let r = "/api/v1/jobs/{id}";
    c.push(missing(
        M::GET,
        r,
        format!("/api/v1/jobs/{unknown_job}"),
        None,
    ));
    c.push(missing(
        M::GET,
        r,
        format!("/api/v1/jobs/{}", f.approval),
        None,
    ));

    let r = "/api/v1/jobs/claim";
    c.push(bad(M::POST, r, r, Some("{lease_secs: 5}")));
    c.push(bad(M::POST, r, r, Some(r#"{"lease_secs": 0}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"lease_secs": -5}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"lease_secs": 3601}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"lease_secs": "60"}"#)));
    c.push(bad(M::POST, r, r, Some(r#"{"lease_secs": 1.5}"#)));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"actions": "certificate.renew"}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        r,
        Some(r#"{"actions": ["Not An Action"]}"#),
    ));
    c.push(bad(M::POST, r, r, Some(r#"{"worker": "me"}"#)));

    let r = "/api/v1/jobs/{id}/complete";
    let p = format!("/api/v1/jobs/{}/complete", f.job);
    c.push(bad(M::POST, r, &p, Some(r#"{"outcome": "succeeded""#)));
    c.push(bad(M::POST, r, &p, None));
    c.push(bad(M::POST, r, &p, Some("{}")));
    c.push(bad(M::POST, r, &p, Some(r#"{"outcome": "maybe"}"#)));
    c.push(bad(M::POST, r, &p, Some(r#"{"outcome": "cancelled"}"#)));
    c.push(bad(M::POST, r, &p, Some(r#"{"outcome": true}"#)));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(r#"{"outcome": "succeeded", "message": 5}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(r#"{"outcome": "succeeded", "exit_code": 0}"#),
    ));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(&format!(
            r#"{{"outcome": "succeeded", "message": "{}"}}"#,
            long(4097)
        )),
    ));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(r#"{"outcome": "succeeded", "message": "\u0085"}"#),
    ));
    // Well-formed, but the job is awaiting approval: not a transition.
    c.push(case(
        M::POST,
        r,
        &p,
        Some(r#"{"outcome": "succeeded"}"#),
        409,
        "invalid_transition",
    ));
    c.push(missing(
        M::POST,
        r,
        format!("/api/v1/jobs/{unknown_job}/complete"),
        Some(r#"{"outcome": "succeeded"}"#),
    ));

    let r = "/api/v1/jobs/{id}/cancel";
    let p = format!("/api/v1/jobs/{}/cancel", f.job);
    c.push(bad(M::POST, r, &p, Some(r#"{"reason": "#)));
    c.push(bad(M::POST, r, &p, Some(r#"{"reason": ["x"]}"#)));
    c.push(bad(M::POST, r, &p, Some(r#"{"why": "x"}"#)));
    c.push(bad(
        M::POST,
        r,
        &p,
        Some(&format!(r#"{{"reason": "{}"}}"#, long(4097))),
    ));
    // C1 and C0 control characters other than tabs and line breaks.
    c.push(bad(M::POST, r, &p, Some(r#"{"reason": "\u0084"}"#)));
    c.push(bad(M::POST, r, &p, Some(r#"{"reason": "red\u001b[31m"}"#)));
    c.push(missing(
        M::POST,
        r,
        format!("/api/v1/jobs/{unknown_job}/cancel"),
        Some("{}"),
    ));
    c.push(missing(M::POST, r, "/api/v1/jobs/job_/cancel", Some("{}")));

    // --- approvals ------------------------------------------------------------------------------
    let r = "/api/v1/approvals";
    list_cases(r, &mut c);
    c.push(bad(M::GET, r, "/api/v1/approvals?state=bogus", None));
    c.push(bad(M::GET, r, "/api/v1/approvals?state=canceled", None));
    c.push(bad(M::GET, r, "/api/v1/approvals?subject_id=nope", None));
    c.push(bad(
        M::GET,
        r,
        "/api/v1/approvals?requested_by=sub_01",
        None,
    ));

    let r = "/api/v1/approvals/{id}";
    c.push(missing(
        M::GET,
        r,
        format!("/api/v1/approvals/{unknown_apr}"),
        None,
    ));
    c.push(missing(
        M::GET,
        r,
        format!("/api/v1/approvals/{}", f.job),
        None,
    ));

    for (r, verb) in [
        ("/api/v1/approvals/{id}/approve", "approve"),
        ("/api/v1/approvals/{id}/reject", "reject"),
    ] {
        let p = format!("/api/v1/approvals/{}/{verb}", f.approval);
        c.push(bad(M::POST, r, &p, Some(r#"{"note": "#)));
        c.push(bad(M::POST, r, &p, Some(r#"{"note": 1}"#)));
        c.push(bad(M::POST, r, &p, Some(r#"{"decision": "approve"}"#)));
        c.push(bad(M::POST, r, &p, Some("[]")));
        c.push(bad(
            M::POST,
            r,
            &p,
            Some(&format!(r#"{{"note": "{}"}}"#, long(2001))),
        ));
        c.push(bad(M::POST, r, &p, Some(r#"{"note": "bell\u0007"}"#)));
        c.push(missing(
            M::POST,
            r,
            format!("/api/v1/approvals/{unknown_apr}/{verb}"),
            Some("{}"),
        ));
        c.push(missing(
            M::POST,
            r,
            format!("/api/v1/approvals/apr_zzz/{verb}"),
            Some("{}"),
        ));
        // The admin requested this job: deciding it is a two-person integrity refusal.
        c.push(case(
            M::POST,
            r,
            &p,
            Some("{}"),
            403,
            "two_person_integrity",
        ));
    }

    // --- audit --------------------------------------------------------------------------------
    let r = "/api/v1/audit";
    list_cases(r, &mut c);
    c.push(bad(M::GET, r, "/api/v1/audit?category=misc", None));
    c.push(bad(M::GET, r, "/api/v1/audit?from=yesterday", None));
    c.push(bad(
        M::GET,
        r,
        "/api/v1/audit?to=2026-13-01T00:00:00Z",
        None,
    ));

    let r = "/api/v1/audit/{id}";
    c.push(missing(
        M::GET,
        r,
        format!("/api/v1/audit/{unknown_evt}"),
        None,
    ));
    c.push(missing(M::GET, r, "/api/v1/audit/evt_nope", None));
    c.push(missing(M::GET, r, format!("/api/v1/audit/{}", f.job), None));

    // --- unknown routes -------------------------------------------------------------------------
    c.push(case(M::GET, "", "/api/v1/widgets", None, 404, "not_found"));
    c.push(case(
        M::POST,
        "",
        "/api/v2/jobs/claim",
        Some("{}"),
        404,
        "not_found",
    ));
    c.push(case(
        M::GET,
        "",
        format!("/api/v1/jobs/{}/nothing", f.job),
        None,
        404,
        "not_found",
    ));
    c
}

/// The table, with `(method, path)` pairs and each path's registered methods.
fn route_table(app: &TestApp) -> Vec<RouteEntry> {
    countersign_http::app::router_with_table(app.service.clone(), HttpConfig::default()).1
}

async fn audit_count(app: &TestApp) -> i64 {
    app.db.count("audit_events").await
}

async fn run(app: &TestApp, c: &Case) {
    let before = app.snapshot().await;
    let audit_before = audit_count(app).await;
    let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = app
        .send(
            c.method.clone(),
            &c.path,
            Some(&app.admin),
            c.body.clone().map(Body::from),
            &headers,
        )
        .await;
    assert_eq!(r.status, c.status, "{c:?} answered {}", r.text);
    assert_eq!(r.code(), c.code, "{c:?} answered {}", r.text);
    assert!(
        !r.json["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{c:?}: a message"
    );
    assert!(
        r.json["error"]["request_id"].is_string(),
        "{c:?}: a request id"
    );
    assert_eq!(app.snapshot().await, before, "{c:?} changed something");
    let audit_after = audit_count(app).await;
    if c.status == StatusCode::FORBIDDEN {
        // Refusals are audited; nothing else is written.
        assert_eq!(audit_after, audit_before + 1, "{c:?}: one auth.denied");
    } else {
        assert_eq!(audit_after, audit_before, "{c:?} wrote audit events");
    }
}

both_backends!(every_endpoint_refuses_bad_input_and_changes_nothing);
async fn every_endpoint_refuses_bad_input_and_changes_nothing(db: Db) {
    let app = TestApp::new(db).await;
    let f = fixture(&app).await;
    let table = route_table(&app);
    let registered: BTreeSet<(String, &str)> = table
        .iter()
        .map(|r| (r.method.to_string(), r.path))
        .collect();
    let cases = cases(&f);
    let mut covered = BTreeSet::new();
    for c in &cases {
        if !c.route.is_empty() {
            assert!(
                registered.contains(&(c.method.to_string(), c.route)),
                "case for an unregistered route: {c:?}"
            );
            covered.insert((c.method.to_string(), c.route));
        }
        run(&app, c).await;
    }
    // Every route registered when these cases were written has cases of its own (whoami and
    // the public ops routes take no input).
    for r in &table {
        let exempt = matches!(r.gate, Gate::Public | Gate::Authenticated);
        let known = KNOWN_ROUTES.contains(&(r.method.as_str(), r.path));
        if !exempt && known {
            assert!(
                covered.contains(&(r.method.to_string(), r.path)),
                "no bad-input case for {r:?}"
            );
        }
    }
}

/// The permission routes registered when this file was written; routes added later are
/// covered by the generic probes below.
const KNOWN_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/principals"),
    ("GET", "/api/v1/auth/principals"),
    ("GET", "/api/v1/auth/principals/{id}"),
    ("POST", "/api/v1/auth/principals/{id}/keys"),
    ("POST", "/api/v1/auth/principals/{id}/roles"),
    ("POST", "/api/v1/policies"),
    ("GET", "/api/v1/policies"),
    ("GET", "/api/v1/policies/{id}"),
    ("PUT", "/api/v1/policies/{id}"),
    ("POST", "/api/v1/subjects"),
    ("GET", "/api/v1/subjects"),
    ("GET", "/api/v1/subjects/{id}"),
    ("POST", "/api/v1/subjects/{id}/jobs"),
    ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{id}"),
    ("POST", "/api/v1/jobs/claim"),
    ("POST", "/api/v1/jobs/{id}/complete"),
    ("POST", "/api/v1/jobs/{id}/cancel"),
    ("GET", "/api/v1/approvals"),
    ("GET", "/api/v1/approvals/{id}"),
    ("POST", "/api/v1/approvals/{id}/approve"),
    ("POST", "/api/v1/approvals/{id}/reject"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/{id}"),
];

/// Whether `r` is one of the known routes that read a JSON body.
fn takes_body(r: &RouteEntry) -> bool {
    matches!(r.method, Method::POST | Method::PUT)
        && KNOWN_ROUTES.contains(&(r.method.as_str(), r.path))
}

/// Fill `{…}` segments with the fixture's ids (or, for `{id}` after an unknown collection and
/// for other parameter names, a plausible value).
fn fill(path: &str, f: &Fixture) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        if !(seg.starts_with('{') && seg.ends_with('}')) {
            out.push((*seg).to_owned());
            continue;
        }
        let value = match (*seg, segments[i - 1]) {
            ("{id}", "principals") => f.principal.clone(),
            ("{id}", "policies") => f.policy.clone(),
            ("{id}", "subjects") => f.subject.clone(),
            ("{id}", "jobs") => f.job.clone(),
            ("{id}", "approvals") => f.approval.clone(),
            ("{id}", "audit") | ("{id}", "events") => f.event.clone(),
            ("{id}", "keys") => countersign_domain::KeyId::new().to_string(),
            ("{perm}", _) | ("{permission}", _) => "audit.read".to_owned(),
            _ => "security".to_owned(),
        };
        out.push(value);
    }
    out.join("/")
}

both_backends!(every_route_refuses_wrong_methods_bad_ids_and_bad_json);
async fn every_route_refuses_wrong_methods_bad_ids_and_bad_json(db: Db) {
    let app = TestApp::new(db).await;
    let f = fixture(&app).await;
    let table = route_table(&app);
    let mut methods: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in &table {
        methods
            .entry(r.path)
            .or_default()
            .insert(r.method.to_string());
    }
    let all = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    for (path, registered) in &methods {
        let concrete = fill(path, &f);
        // Wrong methods.
        for m in all.iter().filter(|m| !registered.contains(m.as_str())) {
            let c = case(
                m.clone(),
                "",
                concrete.clone(),
                None,
                405,
                "method_not_allowed",
            );
            run(&app, &c).await;
        }
        // A malformed id names nothing.
        if path.contains("{id}") {
            let malformed = path.replacen("{id}", "not-an-id", 1);
            let malformed = fill(&malformed, &f);
            for m in registered {
                let m: Method = m.parse().unwrap();
                let body = (m == Method::POST || m == Method::PUT).then_some("{}");
                let segments_before_id = path.split("{id}").next().unwrap();
                if segments_before_id.ends_with("/roles/") {
                    continue; // role ids are slugs: "not-an-id" is a well-formed one
                }
                run(
                    &app,
                    &case(m, "", malformed.clone(), body, 404, "not_found"),
                )
                .await;
            }
        }
    }
    // Malformed JSON on every known route that takes a body. (Routes added later may take
    // none, and then rightly ignore one.)
    for r in table.iter().filter(|r| takes_body(r)) {
        let concrete = fill(r.path, &f);
        for body in [r#"{"unterminated": "#, "{'single': 'quotes'}", "\u{0}"] {
            run(
                &app,
                &bad(r.method.clone(), "", concrete.clone(), Some(body)),
            )
            .await;
        }
    }
}

both_backends!(oversized_bodies_are_refused_everywhere);
async fn oversized_bodies_are_refused_everywhere(db: Db) {
    let http = HttpConfig {
        max_body: 1024,
        ..HttpConfig::default()
    };
    let app = TestApp::with_config(db, ServiceConfig::default(), http).await;
    let f = fixture(&app).await;
    // Valid JSON, far over the limit (and over ten times it, for the ingest endpoint).
    let big = json!({"payload": {"blob": "x".repeat(64 * 1024)}}).to_string();
    let table = route_table(&app);
    let mut probed = 0;
    for r in table.iter().filter(|r| takes_body(r)) {
        let c = case(
            r.method.clone(),
            "",
            fill(r.path, &f),
            Some(&big),
            413,
            "payload_too_large",
        );
        run(&app, &c).await;
        probed += 1;
    }
    assert!(probed >= 10, "every body-taking route was probed");

    // A body just under the limit still works.
    let path = format!("/api/v1/subjects/{}/jobs", f.subject);
    let small =
        json!({"action": "certificate.renew", "payload": {"blob": "x".repeat(800)}}).to_string();
    assert!(small.len() < 1024);
    let r = app.post_raw(&path, &app.admin, &small).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}
