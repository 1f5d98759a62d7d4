//! Shared helpers for the HTTP integration tests: a real router over a real, freshly migrated
//! database on either backend ([`Db`]), a bootstrap admin, and request helpers.

#[macro_use]
pub mod backends;
pub mod api;
pub mod db;
pub mod refusals;
pub mod state;

pub use api::Api;
pub use db::Db;
pub use refusals::{assert_refused, call, denial, events_of};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use countersign_domain::PrincipalKind;
use countersign_http::HttpConfig;
use countersign_service::{Service, ServiceConfig};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// A running API (as a router) with an admin key.
#[derive(Clone)]
pub struct TestApp {
    pub router: Router,
    pub service: Service,
    pub db: Db,
    pub admin: String,
}

/// A response: status, headers, and the body parsed as JSON (`Value::Null` when empty or not
/// JSON; the raw text is kept too).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Reply {
    /// The contract error code, if this is an error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

/// A key for a new `admin` principal holding the `admin` role, as the operator's bootstrap
/// command makes it.
pub async fn bootstrap_admin(service: &Service) -> String {
    service
        .bootstrap_key(
            "admin",
            PrincipalKind::User,
            Some(&"admin".parse().unwrap()),
            None,
        )
        .await
        .expect("bootstrap admin")
        .minted
        .token
        .expose()
}

impl TestApp {
    pub async fn new(db: Db) -> Self {
        Self::with_config(db, ServiceConfig::default(), HttpConfig::default()).await
    }

    pub async fn with_config(db: Db, service_config: ServiceConfig, http: HttpConfig) -> Self {
        let service = Service::new(db.store(), service_config);
        Self::routed(db, service, http).await
    }

    /// The real router over `service` (whose store is `db`'s, or wraps it), with a freshly
    /// bootstrapped admin key.
    pub async fn over(db: Db, service: Service) -> Self {
        Self::routed(db, service, HttpConfig::default()).await
    }

    async fn routed(db: Db, service: Service, http: HttpConfig) -> Self {
        let admin = bootstrap_admin(&service).await;
        let router = countersign_http::router(service.clone(), http);
        Self {
            router,
            service,
            db,
            admin,
        }
    }

    /// Send a request through the real router.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Body>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let has_body = body.is_some();
        if has_body {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(body.unwrap_or_else(Body::empty)).unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.send(Method::GET, path, Some(key), None, &[]).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.send(
            Method::POST,
            path,
            Some(key),
            Some(Body::from(body.to_string())),
            &[],
        )
        .await
    }

    pub async fn post_raw(&self, path: &str, key: &str, body: &str) -> Reply {
        self.send(
            Method::POST,
            path,
            Some(key),
            Some(Body::from(body.to_owned())),
            &[],
        )
        .await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> Reply {
        self.send(
            Method::PUT,
            path,
            Some(key),
            Some(Body::from(body.to_string())),
            &[],
        )
        .await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Reply {
        self.send(Method::DELETE, path, Some(key), None, &[]).await
    }

    /// Create a principal through the API, give it `roles` (created as custom roles first when
    /// not built in) and return `(principal id, key)`.
    pub async fn principal(&self, name: &str, roles: &[&str]) -> (String, String) {
        let r = self
            .post(
                "/api/v1/auth/principals",
                &self.admin,
                json!({"name": name, "kind": "user"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let id = r.json["id"].as_str().unwrap().to_owned();
        for role in roles {
            self.ensure_role(role).await;
            let r = self
                .post(
                    &format!("/api/v1/auth/principals/{id}/roles"),
                    &self.admin,
                    json!({"role": role}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
        let r = self
            .post(
                &format!("/api/v1/auth/principals/{id}/keys"),
                &self.admin,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        (id, r.json["key"].as_str().unwrap().to_owned())
    }

    /// Make sure `role` exists. Custom roles get the approver's permissions. Created directly
    /// in the database so these tests do not depend on the role administration API.
    pub async fn ensure_role(&self, role: &str) {
        let exists: i64 = self
            .db
            .scalar("SELECT count(*) FROM roles WHERE id = $1", &[role])
            .await;
        if exists == 0 {
            let now = self.db.now();
            self.db
                .execute(
                    &format!("INSERT INTO roles (id, description, builtin, generation, created_at, updated_at) VALUES ($1, 'test role', false, 1, {now}, {now})"),
                    &[role],
                )
                .await;
            self.db
                .execute(
                    "INSERT INTO role_permissions (role_id, permission) SELECT $1, permission FROM role_permissions WHERE role_id = 'approver'",
                    &[role],
                )
                .await;
        }
    }

    /// A policy (by the admin); returns its id.
    pub async fn policy(&self, name: &str, rules: Value, timeout_secs: Option<i64>) -> String {
        let requires = rules.as_array().is_some_and(|r| !r.is_empty());
        if let Some(rs) = rules.as_array() {
            for r in rs {
                self.ensure_role(r["role"].as_str().unwrap()).await;
            }
        }
        let mut body = json!({"name": name, "requires_approval": requires, "rules": rules});
        if let Some(t) = timeout_secs {
            body["approval_timeout_secs"] = json!(t);
        }
        let r = self.post("/api/v1/policies", &self.admin, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["id"].as_str().unwrap().to_owned()
    }

    /// A subject under `policy` (by the admin); returns its id.
    pub async fn subject(&self, name: &str, policy: &str) -> String {
        let r = self
            .post(
                "/api/v1/subjects",
                &self.admin,
                json!({"kind": "certificate", "name": name, "policy_id": policy}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["id"].as_str().unwrap().to_owned()
    }

    /// Request a job as `key`; returns the whole `{job, approval}` answer.
    pub async fn request_job(&self, key: &str, subject: &str, payload: Value) -> Reply {
        self.post(
            &format!("/api/v1/subjects/{subject}/jobs"),
            key,
            json!({"action": "certificate.renew", "payload": payload}),
        )
        .await
    }

    /// Every audit event, oldest first, read straight from the table.
    pub async fn audit_events(&self) -> Vec<Value> {
        let rows: Vec<String> = self
            .db
            .column(
                "SELECT CAST(body AS TEXT) FROM audit_events ORDER BY ts, event_id",
                &[],
            )
            .await;
        rows.iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect()
    }

    /// The audit events with `action`.
    pub async fn events(&self, action: &str) -> Vec<Value> {
        self.audit_events()
            .await
            .into_iter()
            .filter(|e| e["action"] == action)
            .collect()
    }

    /// The current value of a Prometheus counter line (0 when absent), scraped from /metrics.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let r = self.send(Method::GET, "/metrics", None, None, &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        metric_value(&r.text, name, labels)
    }
}

/// The sum of the `name` samples carrying every one of `labels` in Prometheus text (0 when
/// there is none).
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    countersign_testkit::prometheus::value(text, name, labels).unwrap_or(0.0)
}

/// Audit-trail helpers (seeding, raw bodies, a real listening server).
impl TestApp {
    /// Store `events` straight through the store (one transaction, multi-row inserts).
    pub async fn seed_audit(&self, events: &[countersign_domain::AuditEvent]) {
        let mut tx = self.service.store().begin().await.unwrap();
        for chunk in events.chunks(1000) {
            countersign_store::AuditRepo::append_audit(&mut *tx, chunk)
                .await
                .unwrap();
        }
        countersign_store::Transaction::commit(tx).await.unwrap();
    }

    /// How many audit events are stored.
    pub async fn audit_count(&self) -> i64 {
        self.db.count("audit_events").await
    }

    /// Send raw bytes with an explicit `Content-Type` (or none).
    pub async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        key: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"));
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
        }
    }

    /// Serve the real router on `127.0.0.1:0`; abort the handle to stop it.
    pub async fn spawn_server(&self) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        let handle = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        (addr, handle)
    }
}

/// A JSON string value as an owned `String` (panics on anything else).
pub fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}
