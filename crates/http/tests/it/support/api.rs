//! [`Api`]: the real router called as the bootstrap admin.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use countersign_http::HttpConfig;
use countersign_service::{Service, ServiceConfig};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::{bootstrap_admin, Db};

/// The real router called as the bootstrap admin, answering `(status, JSON)`: a smaller client
/// than [`TestApp`] for tests that act only as the admin.
pub struct Api {
    pub router: Router,
    pub service: Service,
    pub admin: String,
}

impl Api {
    pub async fn new(service: Service) -> Self {
        let admin = bootstrap_admin(&service).await;
        Self {
            router: countersign_http::router(service.clone(), HttpConfig::default()),
            service,
            admin,
        }
    }

    /// Over the test database `db`.
    pub async fn over(db: &Db) -> Self {
        Self::new(Service::new(db.store(), ServiceConfig::default())).await
    }

    /// Send as the admin; `body` is `(content type, text)`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.admin));
        let body = match body {
            Some((content_type, text)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                Body::from(text)
            }
            None => Body::empty(),
        };
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            Method::POST,
            path,
            Some(("application/json", body.to_string())),
        )
        .await
    }

    /// Every audit event and job, to prove a refused request wrote nothing.
    pub async fn state(&self) -> (Value, Value) {
        let (_, audit) = self.get("/api/v1/audit?limit=500").await;
        let (_, jobs) = self.get("/api/v1/jobs?limit=500").await;
        (audit["data"].clone(), jobs["data"].clone())
    }
}
